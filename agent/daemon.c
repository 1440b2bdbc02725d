/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `hvmap run`: the daemon. One sd-event loop on the main thread wires the
 * host thread's snapshots → the scheduler → proto/'s reports, keeps the
 * identity alive, persists what the server accepted, and tells systemd and
 * `hvmap status` how things stand. */
#include "agent/daemon.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include "agent/app.h"
#include "agent/sched.h"
#include "agent/state.h"
#include "util/event-util.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/fs-check.h"
#include "util/log.h"
#include "util/parse.h"

/* The server renews an identity certificate within 90 days of expiry when it
 * is read; rhsmcertd checks every 4 h. So do we. */
#define UPKEEP_INTERVAL_USEC (4 * USEC_PER_HOUR)
/* The first check comes 10 min after start plus a random part of the
 * interval, so a fleet restarted at once does not ask in the same second
 * (scripts/bench case 6: the peak falls from 34× to 1.6× the mean). */
#define UPKEEP_FIRST_USEC (10 * USEC_PER_MINUTE)
/* Status writes (state.json) are coalesced to at most one per second; the
 * accepted digest is written at once. */
#define SAVE_DELAY_USEC USEC_PER_SEC
/* An in-flight report gets this long to finish after SIGTERM. */
#define STOP_GRACE_USEC (800 * USEC_PER_MSEC)
/* READY=1 waits for the first listing, but not forever: a host whose
 * libvirtd is down must still start (it reconnects by itself). */
#define READY_TIMEOUT_USEC (30 * USEC_PER_SEC)
/* The host thread turns at least every 5 s unless a libvirt call hangs;
 * this long without a turn is reported as "not responding". Checked every
 * 20 s: the check is an idle wakeup, and keepalive notices a hung libvirtd
 * on its own after interval × count. */
#define STALL_USEC (20 * USEC_PER_SEC)
#define STALL_CHECK_USEC (20 * USEC_PER_SEC)
/* Check-in jobs: virt-who polls after 15 s, then every 30 s. */
#define JOB_POLL_FIRST_USEC (2 * USEC_PER_SEC)
#define JOB_POLL_MAX_USEC (30 * USEC_PER_SEC)
#define JOB_POLLS_MAX 40
/* A slow retry after an authentication failure: the operator must act. */
#define AUTH_RETRY_USEC (30 * USEC_PER_MINUTE)
#define ACTIVATION_KEY_FILE_MAX 4096
/* After a reload, a host thread still stuck in a hung libvirtd blocks a new
 * one (libvirt's event loop is per process): retry this often. */
#define HOST_RETRY_USEC (5 * USEC_PER_SEC)

typedef enum Action {
        ACTION_NONE,
        ACTION_REGISTER,
        ACTION_REPORT,
        ACTION_JOB,
        ACTION_REFRESH,
} Action;

typedef struct Daemon {
        GlobalArgs g;
        Config cfg;
        sd_event *event;

        Host *host;
        HostConfig host_cfg;
        sd_event_source *host_source;
        HostSnapshot *snap;
        AppMapping current; /* of snap; current.snapshot NULL when there is none */
        char mapping_error[PROTO_ERROR_MAX];
        uint64_t mapping_seq;

        ProtoClient *client;
        char *server_url;
        ProtoIdentity *identity;

        SchedConfig sc;
        Sched sched;
        Action in_flight;
        AppMapping sending; /* the mapping being reported */
        char *job_id;
        unsigned job_polls;

        sd_event_source *report_timer, *upkeep_timer, *save_timer, *grace_timer, *ready_timer, *stall_timer,
                *job_timer, *host_retry_timer, *confirm_timer;
        /* A report timed out with no answer: the server may still apply it
         * late, over a newer one. The next accepted report is sent once more
         * after that window to be sure (scripts/... test_fault_matrix). */
        bool unconfirmed;

        State state;
        bool ready, stopping;
        char *phase;
        char status_line[512];
        uint64_t rng;
} Daemon;

static uint64_t rnd(Daemon *d) {
        /* splitmix64, seeded from getrandom(): jitter needs no more. */
        uint64_t z = (d->rng += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

static uint64_t fnv1a(const char *s) {
        uint64_t h = UINT64_C(0xcbf29ce484222325);

        for (; s && *s; s++)
                h = (h ^ (unsigned char) *s) * UINT64_C(0x100000001b3);
        return h;
}

static void sched_config_from(const Config *c, SchedConfig *ret) {
        *ret = (SchedConfig){
                .debounce_usec = c->debounce_usec,
                .min_gap_usec = c->min_gap_usec,
                .interval_usec = c->interval_usec,
                .splay_usec = c->splay_usec,
                .backoff_base_usec = c->min_gap_usec > USEC_PER_SEC ? c->min_gap_usec : USEC_PER_SEC,
                .backoff_max_usec = c->backoff_max_usec,
                .auth_retry_usec =
                        AUTH_RETRY_USEC < c->backoff_max_usec ? c->backoff_max_usec : AUTH_RETRY_USEC,
        };
}

static bool can_register(const Daemon *d) {
        return d->cfg.identity_source == IDENTITY_HVMAP && d->cfg.activation_key_file && d->cfg.org;
}

static const char *identity_dir(const Daemon *d) {
        return d->cfg.identity_source == IDENTITY_RHSM ? d->cfg.rhsm_identity_dir : d->cfg.state_dir;
}

/* Monotonic deadline → wall clock, for status. */
static uint64_t mono_to_realtime(uint64_t mono) {
        uint64_t now_m = app_now_usec(CLOCK_MONOTONIC), now_r = app_now_usec(CLOCK_REALTIME);

        if (mono == SCHED_NEVER)
                return 0;
        return mono >= now_m ? now_r + (mono - now_m) : now_r - (now_m - mono);
}

static int save_state_now(Daemon *d) {
        const HostSnapshot *s = d->snap;
        uint64_t next = sched_next(&d->sched, &d->sc);
        int r;

        d->state.pid = d->stopping ? 0 : getpid();
        d->state.updated_usec = app_now_usec(CLOCK_REALTIME);
        (void) state_set_string(&d->state.phase, d->phase);
        if (s) {
                (void) state_set_string(&d->state.libvirt_state, host_conn_state_to_string(s->conn_state));
                d->state.libvirt_since_usec = s->conn_since_usec;
                (void) state_set_string(&d->state.libvirt_error, s->last_error);
                d->state.guests = s->n_guests;
        }
        if (host_heartbeat_usec(d->host) + STALL_USEC < app_now_usec(CLOCK_MONOTONIC) && d->host)
                (void) state_set_string(&d->state.libvirt_state, "not-responding");
        d->state.next_report_usec = d->in_flight != ACTION_NONE ? 0 : mono_to_realtime(next);
        r = state_save(d->cfg.state_dir, &d->state);
        if (r < 0)
                log_warning_errno(r, "Cannot write %s/%s: %m; `hvmap status` may be stale", d->cfg.state_dir,
                                  STATE_FILE);
        return r;
}

static int on_save_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Daemon *d = userdata;

        d->state.loop_wakeups++;
        (void) save_state_now(d);
        return 0;
}

/* Status writes are coalesced: at most one per SAVE_DELAY_USEC. */
static void save_state_later(Daemon *d) {
        int enabled = 0;

        if (!d->save_timer)
                return;
        (void) sd_event_source_get_enabled(d->save_timer, &enabled);
        if (enabled != SD_EVENT_OFF)
                return;
        (void) event_source_set_time_relative(d->save_timer, SAVE_DELAY_USEC);
        (void) sd_event_source_set_enabled(d->save_timer, SD_EVENT_ONESHOT);
}

/* Recomputes the phase and the one-line status; tells systemd and the log
 * when it changes. */
static void update_status(Daemon *d) {
        char line[512], when[64], libvirt[256] = "";
        const char *phase;
        const HostSnapshot *s = d->snap;
        uint64_t next = sched_next(&d->sched, &d->sc), now = app_now_usec(CLOCK_MONOTONIC);
        uint64_t wait_s =
                next != SCHED_NEVER && next > now ? (next - now + USEC_PER_SEC - 1) / USEC_PER_SEC : 0;

        if (d->host && host_heartbeat_usec(d->host) + STALL_USEC < now)
                (void) snprintf(
                        libvirt, sizeof libvirt, "libvirt not responding since %s; ",
                        app_format_time(mono_to_realtime(host_heartbeat_usec(d->host)), when, sizeof when));
        else if (s && s->conn_state != HOST_CONN_CONNECTED)
                (void) snprintf(libvirt, sizeof libvirt, "libvirt %s since %s%s%s; ",
                                s->conn_state == HOST_CONN_NOT_RESPONDING ? "not responding" : "unreachable",
                                app_format_time(s->conn_since_usec, when, sizeof when),
                                s->last_error ? ": " : "", strempty(s->last_error));

        if (!s || !s->synced) {
                phase = "starting";
                (void) snprintf(line, sizeof line, "%swaiting for the first guest listing", libvirt);
        } else if (!d->current.snapshot) {
                phase = "no-hypervisor-id";
                (void) snprintf(line, sizeof line, "%scannot report: %s", libvirt, d->mapping_error);
        } else if (d->sched.gone) {
                phase = "consumer-deleted";
                (void) snprintf(line, sizeof line,
                                "%swatching %zu guests; consumer deleted on server; run hvmap register",
                                libvirt, s->n_guests);
        } else if (!d->identity && !can_register(d)) {
                phase = "not-registered";
                (void) snprintf(line, sizeof line,
                                "%swatching %zu guests; not registered: run hvmap register, or set "
                                "activation_key_file and org",
                                libvirt, s->n_guests);
        } else if (d->state.consecutive_failures > 0 && streq_ptr(d->state.last_result, "auth")) {
                phase = "auth-failed";
                (void) snprintf(
                        line, sizeof line,
                        "%swatching %zu guests; server refused our credentials (HTTP %ld); retry in %llu s",
                        libvirt, s->n_guests, d->state.last_http_status, (unsigned long long) wait_s);
        } else if (d->state.consecutive_failures > 0 && streq_ptr(d->state.last_result, "retry-after")) {
                phase = "rate-limited";
                (void) snprintf(line, sizeof line,
                                "%swatching %zu guests; rate limited by the server, retry in %llu s",
                                libvirt, s->n_guests, (unsigned long long) wait_s);
        } else if (d->state.consecutive_failures > 0) {
                phase = "backing-off";
                (void) snprintf(line, sizeof line, "%swatching %zu guests; server %s (%s), retry in %llu s",
                                libvirt, s->n_guests,
                                d->state.last_http_status == 0 ? "unreachable" : "failing",
                                strna(d->state.last_result), (unsigned long long) wait_s);
        } else {
                phase = "watching";
                if (d->state.accepted_at_usec > 0)
                        (void) snprintf(line, sizeof line, "%swatching %zu guests; last report accepted %s",
                                        libvirt, s->n_guests,
                                        app_format_time(d->state.accepted_at_usec, when, sizeof when));
                else
                        (void) snprintf(line, sizeof line, "%swatching %zu guests; nothing reported yet",
                                        libvirt, s->n_guests);
        }

        if (!streq_ptr(phase, d->phase)) {
                free(d->phase);
                d->phase = strdup(phase);
        }
        /* state.json is rewritten only when what it says changes: an idle
         * daemon writes nothing (the counters ride along with real changes). */
        if (strcmp(line, d->status_line) != 0) {
                (void) snprintf(d->status_line, sizeof d->status_line, "%s", line);
                (void) sd_notifyf(false, "STATUS=%s", line);
                log_debug("status: %s", line);
                save_state_later(d);
        }
}

static void rearm(Daemon *d) {
        uint64_t due = SCHED_NEVER;

        if (!d->stopping && d->in_flight == ACTION_NONE && d->current.snapshot && d->snap &&
            d->snap->synced && (d->identity || can_register(d)))
                due = sched_next(&d->sched, &d->sc);

        if (due == SCHED_NEVER)
                (void) sd_event_source_set_enabled(d->report_timer, SD_EVENT_OFF);
        else {
                uint64_t now = app_now_usec(CLOCK_MONOTONIC);

                (void) sd_event_source_set_time(d->report_timer, due > now ? due : now);
                (void) sd_event_source_set_enabled(d->report_timer, SD_EVENT_ONESHOT);
        }
        update_status(d);
}

/* Compares the current mapping with what the server accepted. */
static void refresh_dirty(Daemon *d) {
        bool dirty;

        if (!d->current.snapshot)
                return;
        dirty = !d->state.accepted_digest || strcmp(d->state.accepted_digest, d->current.digest) != 0 ||
                !d->identity || !streq_ptr(d->state.accepted_consumer, d->identity->uuid) ||
                !streq_ptr(d->state.accepted_server, d->server_url);
        sched_set_dirty(&d->sched, dirty, app_now_usec(CLOCK_MONOTONIC));
}

static void rebuild_mapping(Daemon *d) {
        AppMapping m;
        int r;

        r = app_mapping_build(&d->cfg, d->snap, &m, d->mapping_error, sizeof d->mapping_error);
        if (r < 0) {
                if (r == -ENOMEM)
                        (void) snprintf(d->mapping_error, sizeof d->mapping_error, "out of memory");
                if (d->current.snapshot || r != -ENODATA)
                        log_error("Cannot build this host's report: %s", d->mapping_error);
                app_mapping_done(&d->current);
                return;
        }
        app_mapping_done(&d->current);
        d->current = m;
        /* The splay slot follows the hypervisor id: stable across restarts,
         * spread across a fleet. */
        d->sched.splay_offset = d->sc.splay_usec > 0 ? fnv1a(m.m.hypervisor_id) % d->sc.splay_usec : 0;
        refresh_dirty(d);
}

static void notify_ready(Daemon *d) {
        if (d->ready)
                return;
        d->ready = true;
        (void) sd_notify(false, "READY=1");
        (void) sd_event_source_set_enabled(d->ready_timer, SD_EVENT_OFF);
}

static int on_host(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Daemon *d = userdata;
        HostSnapshot *snap;
        bool was_synced = d->snap && d->snap->synced;

        d->state.loop_wakeups++;
        host_fd_clear(d->host);
        snap = host_snapshot(d->host);
        if (!snap)
                return 0;
        host_snapshot_unref(d->snap);
        d->snap = snap;

        if (snap->synced && snap->mapping_seq != d->mapping_seq) {
                d->mapping_seq = snap->mapping_seq;
                rebuild_mapping(d);
        }
        if (snap->synced && !was_synced) {
                log_full_errno_fields(LOG_INFO, 0, ((const char *[]){ "HVMAP_EVENT=synced", NULL }),
                                      "Listed %zu guests (%zu domains) on %s", snap->n_guests,
                                      snap->n_domains, strna(snap->uri));
                notify_ready(d);
        }
        rearm(d);
        return 0;
}

static void record_attempt(Daemon *d) {
        d->state.last_attempt_usec = app_now_usec(CLOCK_REALTIME);
}

static SchedResult sched_result_of(ProtoResultKind k) {
        switch (k) {
        case PROTO_RESULT_OK:
                return SCHED_RESULT_OK;
        case PROTO_RESULT_RETRY_AFTER:
                return SCHED_RESULT_RETRY_AFTER;
        case PROTO_RESULT_GONE:
                return SCHED_RESULT_GONE;
        case PROTO_RESULT_AUTH:
                return SCHED_RESULT_AUTH;
        case PROTO_RESULT_PERMANENT:
                return SCHED_RESULT_PERMANENT;
        case PROTO_RESULT_TEMPORARY:
        case PROTO_RESULT_LOCAL:
        case _PROTO_RESULT_MAX:
                break;
        }
        return SCHED_RESULT_TEMPORARY;
}

/* A failed attempt: logged once here (the layer that decides), counted,
 * persisted, and handed to the scheduler for the next try. */
static void attempt_failed(Daemon *d, const ProtoResult *r, const char *what) {
        uint64_t now = app_now_usec(CLOCK_MONOTONIC);
        char wait[DURATION_STRING_MAX];

        d->state.consecutive_failures++;
        if (r->kind == PROTO_RESULT_TEMPORARY && r->http_status == 0)
                d->unconfirmed = true;
        (void) state_set_string(&d->state.last_result, proto_result_kind_to_string(r->kind));
        d->state.last_http_status = r->http_status;
        (void) state_set_string(&d->state.last_message, r->message);
        sched_finished(&d->sched, &d->sc, sched_result_of(r->kind), r->retry_after_sec * USEC_PER_SEC, now,
                       rnd(d));
        {
                uint64_t next = sched_next(&d->sched, &d->sc);
                format_duration(wait, sizeof wait,
                                next == SCHED_NEVER ? 0
                                : next > now        ? (next - now) / USEC_PER_SEC * USEC_PER_SEC
                                                    : 0);
        }
        log_full_errno_fields(
                r->kind == PROTO_RESULT_AUTH || r->kind == PROTO_RESULT_PERMANENT ? LOG_ERR : LOG_WARNING, 0,
                ((const char *[]){ "HVMAP_EVENT=report-failed", NULL }),
                "%s failed (%s, attempt %u): %s; next attempt in %s", what,
                proto_result_kind_to_string(r->kind), d->state.consecutive_failures, strna(r->message),
                d->sched.gone ? "never (consumer deleted)" : wait);
        (void) save_state_now(d);
}

static void start_action(Daemon *d);
static int make_client(Daemon *d);

/* A new identity certificate must not ride on a TLS connection made with
 * the old one: libcurl would reuse it (same cert file path), and the server
 * would still see the old consumer. A new client starts with no
 * connections. Safe from inside a proto/ callback. */
static void reconnect_with_new_identity(Daemon *d) {
        if (make_client(d) < 0)
                log_error("Cannot recreate the server client after the identity changed");
}

static void identity_lost(Daemon *d, const ProtoResult *r) {
        int k;

        log_error("The server says consumer %s was deleted (%s). %s", d->identity ? d->identity->uuid : "?",
                  strna(r->message),
                  can_register(d) ? "Registering again with the configured activation key."
                                  : "Guests are still tracked; run 'hvmap register' to report them again.");
        if (d->cfg.identity_source == IDENTITY_HVMAP) {
                k = proto_identity_remove(d->cfg.state_dir);
                if (k < 0)
                        log_warning_errno(k, "Cannot remove the deleted identity from %s: %m",
                                          d->cfg.state_dir);
        }
        d->identity = proto_identity_free(d->identity);
        d->state.accepted_digest = mfree(d->state.accepted_digest);
        d->state.accepted_consumer = mfree(d->state.accepted_consumer);
        attempt_failed(d, r, "report");
        if (can_register(d)) {
                sched_identity_restored(&d->sched);
                sched_force(&d->sched);
        }
}

static void report_accepted(Daemon *d) {
        uint64_t now = app_now_usec(CLOCK_MONOTONIC);
        char guests[32];

        (void) state_set_string(&d->state.accepted_digest, d->sending.digest);
        (void) state_set_string(&d->state.accepted_server, d->server_url);
        (void) state_set_string(&d->state.accepted_consumer, d->identity ? d->identity->uuid : NULL);
        d->state.accepted_at_usec = app_now_usec(CLOCK_REALTIME);
        d->state.accepted_guests = d->sending.m.n_guests;
        d->state.consecutive_failures = 0;
        d->state.last_http_status = 200;
        (void) state_set_string(&d->state.last_result, "ok");
        d->state.last_message = mfree(d->state.last_message);
        d->state.reports_sent++;
        (void) snprintf(guests, sizeof guests, "HVMAP_GUESTS=%zu", d->sending.m.n_guests);
        log_full_errno_fields(LOG_INFO, 0, ((const char *[]){ "HVMAP_EVENT=report-accepted", guests, NULL }),
                              "Report accepted by %s: %zu guests", d->server_url, d->sending.m.n_guests);
        sched_finished(&d->sched, &d->sc, SCHED_RESULT_OK, 0, now, rnd(d));
        app_mapping_done(&d->sending);
        refresh_dirty(d);
        (void) save_state_now(d);
        if (d->unconfirmed) {
                /* An earlier attempt timed out; if the server applies it
                 * late, it overwrites this one. Send again after that window. */
                d->unconfirmed = false;
                log_info("An earlier report timed out; confirming this one in %llu s",
                         (unsigned long long) (2 * d->cfg.timeout_usec / USEC_PER_SEC));
                (void) event_source_set_time_relative(d->confirm_timer, 2 * d->cfg.timeout_usec);
                (void) sd_event_source_set_enabled(d->confirm_timer, SD_EVENT_ONESHOT);
        }
}

static int on_confirm_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Daemon *d = userdata;

        d->state.loop_wakeups++;
        sched_force(&d->sched);
        rearm(d);
        return 0;
}

static int on_job_timer(sd_event_source *s, uint64_t usec, void *userdata);

static void on_job_done(ProtoClient *c, const ProtoResult *r, void *userdata);

static void poll_job_later(Daemon *d) {
        uint64_t delay = JOB_POLL_FIRST_USEC << (d->job_polls < 4 ? d->job_polls : 4);

        if (delay > JOB_POLL_MAX_USEC)
                delay = JOB_POLL_MAX_USEC;
        d->in_flight = ACTION_JOB;
        (void) event_source_set_time_relative(d->job_timer, delay);
        (void) sd_event_source_set_enabled(d->job_timer, SD_EVENT_ONESHOT);
}

/* Check-in mode: the POST only queues a job; its state decides. */
static void handle_job(Daemon *d, const ProtoResult *r) {
        const ProtoJob *j = r->job;
        ProtoResult failed = *r;

        if (!j || j->state == PROTO_JOB_FINISHED) {
                d->in_flight = ACTION_NONE;
                d->job_id = mfree(d->job_id);
                report_accepted(d);
                return;
        }
        if (j->state == PROTO_JOB_FAILED || j->state == PROTO_JOB_CANCELED ||
            d->job_polls >= JOB_POLLS_MAX) {
                char msg[600];

                (void) snprintf(msg, sizeof msg, "check-in job %s %s: %s", strna(j->id),
                                proto_job_state_to_string(j->state), strna(j->result_text));
                failed.kind = PROTO_RESULT_TEMPORARY;
                failed.message = msg;
                d->in_flight = ACTION_NONE;
                d->job_id = mfree(d->job_id);
                app_mapping_done(&d->sending);
                attempt_failed(d, &failed, "check-in");
                return;
        }
        if (!d->job_id || strcmp(d->job_id, j->id) != 0) {
                free(d->job_id);
                d->job_id = strdup(j->id);
        }
        d->job_polls++;
        poll_job_later(d);
}

static void on_report_done(ProtoClient *c, const ProtoResult *r, void *userdata) {
        Daemon *d = userdata;

        d->state.loop_wakeups++;
        d->in_flight = ACTION_NONE;
        if (r->kind == PROTO_RESULT_OK && d->cfg.mode == REPORT_CHECKIN) {
                d->job_polls = 0;
                handle_job(d, r);
        } else if (r->kind == PROTO_RESULT_OK)
                report_accepted(d);
        else {
                app_mapping_done(&d->sending);
                if (r->kind == PROTO_RESULT_GONE)
                        identity_lost(d, r);
                else
                        attempt_failed(d, r, "report");
        }
        if (d->stopping && d->in_flight == ACTION_NONE)
                (void) sd_event_exit(d->event, 0);
        rearm(d);
}

static void on_job_done(ProtoClient *c, const ProtoResult *r, void *userdata) {
        Daemon *d = userdata;

        d->state.loop_wakeups++;
        d->in_flight = ACTION_NONE;
        if (r->kind == PROTO_RESULT_OK)
                handle_job(d, r);
        else {
                d->job_id = mfree(d->job_id);
                app_mapping_done(&d->sending);
                if (r->kind == PROTO_RESULT_GONE)
                        identity_lost(d, r);
                else
                        attempt_failed(d, r, "check-in job poll");
        }
        if (d->stopping && d->in_flight == ACTION_NONE)
                (void) sd_event_exit(d->event, 0);
        rearm(d);
}

static int on_job_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Daemon *d = userdata;
        int r;

        d->state.loop_wakeups++;
        if (d->stopping || !d->identity || !d->job_id) {
                d->in_flight = ACTION_NONE;
                sched_finished(&d->sched, &d->sc, SCHED_RESULT_TEMPORARY, 0, app_now_usec(CLOCK_MONOTONIC),
                               rnd(d));
                rearm(d);
                return 0;
        }
        r = proto_client_job(d->client, d->identity, d->job_id, on_job_done, d);
        if (r < 0) {
                ProtoResult fake = { .kind = PROTO_RESULT_LOCAL,
                                     .error = r,
                                     .message = (char *) "cannot poll the job" };
                d->in_flight = ACTION_NONE;
                attempt_failed(d, &fake, "check-in job poll");
                rearm(d);
        }
        return 0;
}

static void on_register_done(ProtoClient *c, const ProtoResult *r, void *userdata) {
        Daemon *d = userdata;
        _cleanup_free_ char *err = NULL;
        ProtoIdentity *id = NULL;
        int k;

        d->state.loop_wakeups++;
        d->in_flight = ACTION_NONE;
        app_mapping_done(&d->sending);
        if (r->kind != PROTO_RESULT_OK) {
                attempt_failed(d, r, "registration");
                rearm(d);
                return;
        }
        k = proto_identity_save(d->cfg.state_dir, r->consumer, d->server_url, &id, &err);
        if (k < 0) {
                ProtoResult local = { .kind = PROTO_RESULT_LOCAL, .error = k, .message = err };
                attempt_failed(d, &local, "saving the new identity");
                rearm(d);
                return;
        }
        d->identity = proto_identity_free(d->identity);
        d->identity = id;
        reconnect_with_new_identity(d);
        log_full_errno_fields(LOG_NOTICE, 0, ((const char *[]){ "HVMAP_EVENT=registered", NULL }),
                              "Registered with %s as consumer %s in organization %s", d->server_url,
                              id->uuid, strna(id->owner));
        /* Registration carries no guests: report them right away. */
        sched_finished(&d->sched, &d->sc, SCHED_RESULT_OK, 0, app_now_usec(CLOCK_MONOTONIC), rnd(d));
        d->state.consecutive_failures = 0;
        refresh_dirty(d);
        sched_force(&d->sched);
        if (d->stopping)
                (void) sd_event_exit(d->event, 0);
        rearm(d);
}

/* Reads the activation key file: comma-separated keys, surrounding space
 * and newlines ignored. The keys are registered as secrets. */
static int read_activation_keys(const char *path, char **ret) {
        _cleanup_erase_ char *text = NULL;
        size_t len;
        char *s, *e;
        int r;

        /* A key file someone else could have written is not ours to send. */
        r = read_file_trusted(path, ACTIVATION_KEY_FILE_MAX, 0, &text, &len, NULL, 0);
        if (r < 0)
                return r;
        if (memchr(text, '\0', len))
                return -EBADMSG;
        s = text + strspn(text, " \t\r\n");
        e = s + strlen(s);
        while (e > s && strchr(" \t\r\n", e[-1]))
                *--e = '\0';
        if (!*s || strpbrk(s, "\r\n"))
                return -EBADMSG;
        *ret = strdup(s);
        if (!*ret)
                return -ENOMEM;
        (void) log_secret_register(*ret);
        return 0;
}

static void start_register(Daemon *d) {
        _cleanup_erase_ char *keys = NULL;
        ProtoCredentials cred = { .org = d->cfg.org };
        int r;

        r = read_activation_keys(d->cfg.activation_key_file, &keys);
        if (r < 0) {
                ProtoResult local = { .kind = PROTO_RESULT_LOCAL, .error = r };
                char msg[512];

                (void) snprintf(msg, sizeof msg, "cannot read the activation key file %s: %s",
                                d->cfg.activation_key_file,
                                r == -EBADMSG ? "it must hold one line of comma-separated keys"
                                              : strerror(-r));
                local.message = msg;
                sched_started(&d->sched, app_now_usec(CLOCK_MONOTONIC));
                attempt_failed(d, &local, "registration");
                return;
        }
        cred.activation_keys = keys;
        r = app_mapping_copy(&d->current, &d->sending);
        if (r < 0)
                return;
        sched_started(&d->sched, app_now_usec(CLOCK_MONOTONIC));
        record_attempt(d);
        r = proto_client_register(d->client, &cred, &d->sending.m, on_register_done, d);
        if (r < 0) {
                ProtoResult local = { .kind = PROTO_RESULT_LOCAL,
                                      .error = r,
                                      .message = (char *) "cannot start the request" };
                app_mapping_done(&d->sending);
                attempt_failed(d, &local, "registration");
                return;
        }
        log_info("Registering with %s in organization %s", d->server_url, d->cfg.org);
        d->in_flight = ACTION_REGISTER;
}

static void start_report(Daemon *d) {
        int r;

        /* The current mapping and its digest are what gets sent: no rebuild. */
        r = app_mapping_copy(&d->current, &d->sending);
        if (r < 0)
                return;
        sched_started(&d->sched, app_now_usec(CLOCK_MONOTONIC));
        record_attempt(d);
        if (d->cfg.mode == REPORT_CHECKIN)
                r = proto_client_checkin(d->client, d->identity, &d->sending.m, d->cfg.reporter_id,
                                         on_report_done, d);
        else
                r = proto_client_update_guests(d->client, d->identity, &d->sending.m, on_report_done, d);
        if (r < 0) {
                ProtoResult local = { .kind = PROTO_RESULT_LOCAL,
                                      .error = r,
                                      .message = (char *) "cannot start the request" };
                app_mapping_done(&d->sending);
                attempt_failed(d, &local, "report");
                return;
        }
        log_debug("Reporting %zu guests to %s", d->sending.m.n_guests, d->server_url);
        d->in_flight = ACTION_REPORT;
}

static void start_action(Daemon *d) {
        if (d->in_flight != ACTION_NONE || d->stopping || !d->current.snapshot)
                return;
        if (!d->identity) {
                if (can_register(d))
                        start_register(d);
                return;
        }
        start_report(d);
}

static int on_report_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Daemon *d = userdata;

        d->state.loop_wakeups++;
        start_action(d);
        rearm(d);
        return 0;
}

static void on_refresh_done(ProtoClient *c, const ProtoResult *r, void *userdata) {
        Daemon *d = userdata;

        d->state.loop_wakeups++;
        d->in_flight = ACTION_NONE;
        if (r->kind == PROTO_RESULT_OK) {
                if (r->identity_renewed)
                        reconnect_with_new_identity(d);
                if (r->identity_renewed)
                        log_notice("Identity certificate renewed by the server (serial %s, valid until %s)",
                                   strna(d->identity ? d->identity->serial : NULL),
                                   d->identity ? app_format_time((uint64_t) d->identity->not_after *
                                                                         USEC_PER_SEC,
                                                                 (char[64]){}, 64)
                                               : "?");
                else
                        log_debug("Identity certificate is current");
        } else if (r->kind == PROTO_RESULT_GONE)
                identity_lost(d, r);
        else
                log_warning("Identity check failed (%s): %s; trying again in %s",
                            proto_result_kind_to_string(r->kind), strna(r->message), "4h");
        if (d->stopping)
                (void) sd_event_exit(d->event, 0);
        rearm(d);
}

static int on_upkeep_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Daemon *d = userdata;
        uint64_t next = UPKEEP_INTERVAL_USEC;
        int r;

        d->state.loop_wakeups++;
        if (d->identity && proto_identity_expired(d->identity, time(NULL)))
                log_error("The identity certificate in %s expired; the server will refuse it: run 'hvmap "
                          "register --force'",
                          identity_dir(d));
        if (d->in_flight != ACTION_NONE || !d->identity || d->cfg.identity_source != IDENTITY_HVMAP)
                next = d->in_flight != ACTION_NONE ? USEC_PER_MINUTE : UPKEEP_INTERVAL_USEC;
        else {
                r = proto_client_refresh_identity(d->client, d->identity, on_refresh_done, d);
                if (r >= 0)
                        d->in_flight = ACTION_REFRESH;
        }
        (void) event_source_set_time_relative(s, next + rnd(d) % (next / 10 + 1));
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        rearm(d);
        return 0;
}

static int on_stall_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Daemon *d = userdata;

        d->state.loop_wakeups++;
        update_status(d);
        (void) event_source_set_time_relative(s, STALL_CHECK_USEC);
        return 0;
}

static int on_ready_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Daemon *d = userdata;

        log_warning("No guest listing from libvirt after %llu s; starting anyway, reconnecting in the "
                    "background",
                    (unsigned long long) (READY_TIMEOUT_USEC / USEC_PER_SEC));
        notify_ready(d);
        return 0;
}

static int on_grace_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Daemon *d = userdata;

        log_warning("Stopping with a report still in flight; it will be sent again at the next start");
        return sd_event_exit(d->event, 0);
}

static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Daemon *d = userdata;

        if (d->stopping)
                return sd_event_exit(d->event, 0);
        d->stopping = true;
        log_info("Received %s, stopping", si->ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
        (void) sd_notify(false, "STOPPING=1");
        if (d->in_flight == ACTION_NONE || d->in_flight == ACTION_JOB)
                return sd_event_exit(d->event, 0);
        (void) event_add_time_relative(d->event, &d->grace_timer, CLOCK_MONOTONIC, STOP_GRACE_USEC,
                                       USEC_PER_MSEC, on_grace_timer, d);
        return 0;
}

static int on_sigusr1(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Daemon *d = userdata;

        log_info("Received SIGUSR1: reporting now");
        sched_force(&d->sched);
        rearm(d);
        return 0;
}

static bool strv_equal(char *const *a, char *const *b) {
        size_t i = 0;

        for (; a && b && a[i] && b[i]; i++)
                if (strcmp(a[i], b[i]) != 0)
                        return false;
        return (!a || !a[i]) && (!b || !b[i]);
}

static bool host_settings_changed(const Config *a, const Config *b) {
        return !streq_ptr(a->uri, b->uri) || a->read_only != b->read_only ||
               a->keepalive_interval_usec != b->keepalive_interval_usec ||
               a->keepalive_count != b->keepalive_count || a->resync_usec != b->resync_usec ||
               a->hypervisor_id != b->hypervisor_id ||
               !streq_ptr(a->hypervisor_id_override, b->hypervisor_id_override) ||
               a->flavour != b->flavour || !strv_equal(a->include_guests, b->include_guests) ||
               !strv_equal(a->exclude_guests, b->exclude_guests) ||
               a->report_inactive != b->report_inactive || a->max_guests != b->max_guests;
}

static int start_host(Daemon *d) {
        int r;

        app_host_config(&d->cfg, &d->host_cfg);
        r = host_start(&d->host_cfg, &d->host);
        if (r < 0)
                return log_error_errno(r, "Cannot start following libvirt: %m");
        r = sd_event_add_io(d->event, &d->host_source, host_fd(d->host), EPOLLIN, on_host, d);
        if (r < 0)
                return log_error_errno(r, "Cannot watch the host thread: %m");
        return 0;
}

static void stop_host(Daemon *d) {
        d->host_source = event_source_disable_unref(d->host_source);
        host_stop(d->host);
        d->host = NULL;
}

/* Loads the identity from its directory; a missing one is fine. */
static void load_identity(Daemon *d) {
        _cleanup_free_ char *err = NULL;
        ProtoIdentity *id = NULL;
        int r;

        if (d->cfg.identity_source == IDENTITY_RHSM)
                r = proto_identity_load_rhsm(d->cfg.rhsm_identity_dir, &id, &err);
        else
                r = proto_identity_load(d->cfg.state_dir, &id, &err);
        d->identity = proto_identity_free(d->identity);
        if (r == -ENOENT) {
                log_info("No identity in %s yet%s", identity_dir(d),
                         can_register(d) ? "; registering with the configured activation key"
                                         : "; run 'hvmap register' to report guests");
                return;
        }
        if (r < 0) {
                log_error("Cannot use the identity in %s: %s", identity_dir(d), strna(err));
                return;
        }
        d->identity = id;
        if (proto_identity_expired(id, time(NULL)))
                log_error("The identity certificate of consumer %s expired; run 'hvmap register --force'",
                          id->uuid);
        log_info("Identity: consumer %s in organization %s", id->uuid, strna(id->owner));
}

static int make_client(Daemon *d) {
        ProtoServerConfig sc;
        char *url = NULL;
        int r;

        r = app_server_config(&d->cfg, &sc, &url);
        if (r < 0)
                return log_error_errno(r, "No server configured: %m");
        d->client = proto_client_free(d->client);
        free(d->server_url);
        d->server_url = url;
        return proto_client_new(d->event, &sc, &d->client);
}

static int on_host_retry_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Daemon *d = userdata;

        d->state.loop_wakeups++;
        if (d->host)
                return 0;
        if (start_host(d) < 0) {
                (void) event_source_set_time_relative(s, HOST_RETRY_USEC);
                (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        }
        return 0;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Daemon *d = userdata;
        Config n;
        int r;

        log_info("Received SIGHUP: reloading the configuration and the identity");
        r = app_load_config(&d->g, true, &n);
        if (r != 0) {
                log_error("Reload failed; the running configuration stays in force");
                return 0;
        }
        /* A transfer in flight belongs to the old client: drop it without
         * penalty; the scheduler sends again under the new settings. */
        if (d->in_flight != ACTION_NONE) {
                d->in_flight = ACTION_NONE;
                d->sched.in_flight = false;
                app_mapping_done(&d->sending);
                d->job_id = mfree(d->job_id);
                (void) sd_event_source_set_enabled(d->job_timer, SD_EVENT_OFF);
        }
        if (host_settings_changed(&d->cfg, &n)) {
                Config old = d->cfg;

                log_info("libvirt settings changed: reconnecting");
                stop_host(d);
                d->cfg = n;
                config_free(&old);
                host_snapshot_unref(d->snap);
                d->snap = NULL;
                app_mapping_done(&d->current);
                d->mapping_seq = 0;
                if (start_host(d) < 0) {
                        /* -EBUSY: the old host thread is still stuck inside
                         * libvirt; try again until it has gone. */
                        log_warning("Trying again to follow libvirt in %llu s",
                                    (unsigned long long) (HOST_RETRY_USEC / USEC_PER_SEC));
                        (void) event_source_set_time_relative(d->host_retry_timer, HOST_RETRY_USEC);
                        (void) sd_event_source_set_enabled(d->host_retry_timer, SD_EVENT_ONESHOT);
                }
        } else {
                config_free(&d->cfg);
                d->cfg = n;
        }
        sched_config_from(&d->cfg, &d->sc);
        if (make_client(d) < 0)
                log_error("Reports are not sent until the server settings are fixed and reloaded");
        load_identity(d);
        if (d->identity)
                sched_identity_restored(&d->sched);
        if (d->snap && d->snap->synced)
                rebuild_mapping(d);
        rearm(d);
        return 0;
}

static void daemon_free(Daemon *d) {
        d->report_timer = event_source_disable_unref(d->report_timer);
        d->upkeep_timer = event_source_disable_unref(d->upkeep_timer);
        d->save_timer = event_source_disable_unref(d->save_timer);
        d->grace_timer = event_source_disable_unref(d->grace_timer);
        d->ready_timer = event_source_disable_unref(d->ready_timer);
        d->stall_timer = event_source_disable_unref(d->stall_timer);
        d->job_timer = event_source_disable_unref(d->job_timer);
        d->host_retry_timer = event_source_disable_unref(d->host_retry_timer);
        d->confirm_timer = event_source_disable_unref(d->confirm_timer);
        d->client = proto_client_free(d->client);
        stop_host(d);
        app_mapping_done(&d->current);
        app_mapping_done(&d->sending);
        host_snapshot_unref(d->snap);
        d->identity = proto_identity_free(d->identity);
        free(d->server_url);
        free(d->job_id);
        free(d->phase);
        state_done(&d->state);
        config_free(&d->cfg);
        d->event = sd_event_unref(d->event);
}

static int add_timer(Daemon *d, sd_event_source **ret, sd_event_time_handler_t cb, uint64_t first) {
        int r;

        r = event_add_time_relative(d->event, ret, CLOCK_MONOTONIC, first == SCHED_NEVER ? 0 : first,
                                    USEC_PER_MSEC, cb, d);
        if (r < 0)
                return r;
        if (first == SCHED_NEVER)
                r = sd_event_source_set_enabled(*ret, SD_EVENT_OFF);
        return r;
}

/* Removes the hidden temporaries an interrupted atomic write leaves
 * (".key.pem.XXXXXX" ...): complete, private, but nobody else cleans them. */
static void remove_stale_temporaries(const char *dir) {
        static const char *const bases[] = { ".cert.pem.", ".key.pem.", ".consumer.json.", ".state.json." };
        _cleanup_(closedirp) DIR *dd = opendir(dir);
        struct dirent *de;

        if (!dd)
                return;
        while ((de = readdir(dd)))
                for (size_t i = 0; i < ELEMENTSOF(bases); i++) {
                        size_t n = strlen(bases[i]);

                        if (strncmp(de->d_name, bases[i], n) != 0 || strlen(de->d_name) != n + 6)
                                continue;
                        if (unlinkat(dirfd(dd), de->d_name, 0) < 0)
                                log_warning_errno(errno, "Cannot remove the leftover %s/%s: %m", dir,
                                                  de->d_name);
                        else
                                log_info("Removed %s/%s, left by an interrupted write", dir, de->d_name);
                }
}

static void restore_state(Daemon *d) {
        uint64_t last_success = 0;
        int r;

        r = state_load(d->cfg.state_dir, &d->state);
        if (r == -ENOENT)
                return;
        if (r < 0) {
                log_warning_errno(r, "Ignoring unreadable %s/%s: %m; the next report is sent in full",
                                  d->cfg.state_dir, STATE_FILE);
                d->state = (State){};
                return;
        }
        /* The scheduler runs on the monotonic clock: place the last success
         * as far in the past as the wall clock says it is. */
        if (d->state.accepted_at_usec > 0) {
                uint64_t now_r = app_now_usec(CLOCK_REALTIME), now_m = app_now_usec(CLOCK_MONOTONIC);
                uint64_t age = now_r > d->state.accepted_at_usec ? now_r - d->state.accepted_at_usec : 0;

                last_success = now_m > age ? now_m - age : 1;
        }
        sched_init(&d->sched, &d->sc, 0, last_success);
        d->state.consecutive_failures = 0;
}

int daemon_run(const GlobalArgs *g) {
        _cleanup_(daemon_free) Daemon d = { .g = *g };
        sigset_t mask;
        uint64_t seed = 0;
        int r;

        r = app_load_config(g, true, &d.cfg);
        if (r != 0)
                return r;
        log_set_timestamps(true);

        /* Block the signals before the host thread exists, so only the
         * loop's signal sources ever see them. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGUSR1);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "Cannot block signals: %m"), EX_OSERR;
        (void) signal(SIGPIPE, SIG_IGN);

        if (mkdir(d.cfg.state_dir, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Cannot create the state directory %s: %m", d.cfg.state_dir),
                       EX_CANTCREAT;
        if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != sizeof seed)
                seed = app_now_usec(CLOCK_REALTIME) ^ (uint64_t) getpid();
        d.rng = seed;

        sched_config_from(&d.cfg, &d.sc);
        sched_init(&d.sched, &d.sc, 0, 0);
        remove_stale_temporaries(d.cfg.state_dir);
        restore_state(&d);

        r = sd_event_default(&d.event);
        if (r < 0)
                return log_error_errno(r, "Cannot create the event loop: %m"), EX_OSERR;
        if (sd_event_add_signal(d.event, NULL, SIGTERM, on_sigterm, &d) < 0 ||
            sd_event_add_signal(d.event, NULL, SIGINT, on_sigterm, &d) < 0 ||
            sd_event_add_signal(d.event, NULL, SIGHUP, on_sighup, &d) < 0 ||
            sd_event_add_signal(d.event, NULL, SIGUSR1, on_sigusr1, &d) < 0)
                return log_error_errno(errno, "Cannot watch signals"), EX_OSERR;
        (void) sd_event_set_watchdog(d.event, true);

        if (add_timer(&d, &d.report_timer, on_report_timer, SCHED_NEVER) < 0 ||
            add_timer(&d, &d.save_timer, on_save_timer, SCHED_NEVER) < 0 ||
            add_timer(&d, &d.job_timer, on_job_timer, SCHED_NEVER) < 0 ||
            add_timer(&d, &d.host_retry_timer, on_host_retry_timer, SCHED_NEVER) < 0 ||
            add_timer(&d, &d.confirm_timer, on_confirm_timer, SCHED_NEVER) < 0 ||
            add_timer(&d, &d.upkeep_timer, on_upkeep_timer,
                      UPKEEP_FIRST_USEC + rnd(&d) % UPKEEP_INTERVAL_USEC) < 0 ||
            add_timer(&d, &d.ready_timer, on_ready_timer, READY_TIMEOUT_USEC) < 0 ||
            add_timer(&d, &d.stall_timer, on_stall_timer, STALL_CHECK_USEC) < 0)
                return log_error_errno(ENOMEM, "Cannot create timers: %m"), EX_OSERR;
        (void) sd_event_source_set_enabled(d.stall_timer, SD_EVENT_ON);

        if (make_client(&d) < 0)
                return EX_CONFIG;
        load_identity(&d);

        r = start_host(&d);
        if (r < 0)
                return EX_UNAVAILABLE;
        log_info("hvmap started: reporting to %s every %s when unchanged, state in %s", d.server_url,
                 format_duration((char[DURATION_STRING_MAX]){}, DURATION_STRING_MAX, d.cfg.interval_usec),
                 d.cfg.state_dir);
        update_status(&d);

        r = sd_event_loop(d.event);
        d.stopping = true;
        app_mapping_done(&d.sending);
        free(d.phase);
        d.phase = strdup("stopped");
        (void) save_state_now(&d);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m"), EX_SOFTWARE;
        return EX_OK;
}
