/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `hvmap run`: the daemon. One sd-event loop on the main thread wires the
 * host thread's snapshots into mappings for the reporting engine
 * (agent/report.c through agent/report-io.c), supervises the host thread,
 * answers signals, and tells systemd and `hvmap status` how things stand.
 * No reporting logic lives here. */
#include "agent/daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "agent/app.h"
#include "agent/mapping.h"
#include "agent/report-io.h"
#include "agent/state.h"
#include "util/cleanup.h"
#include "util/event-util.h"
#include "util/log.h"
#include "util/message-ids.h"
#include "util/parse.h"
#include "util/random.h"

/* Status writes (state.json) are coalesced to at most one per second; the
 * engine writes outcomes at once. */
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
/* After a reload, a host thread still stuck in a hung libvirtd blocks a new
 * one (libvirt's event loop is per process): retry this often. */
#define HOST_RETRY_USEC (5 * USEC_PER_SEC)

typedef struct Daemon {
        GlobalArgs g;
        Config cfg;
        const AppClock *clock;
        sd_event *event;

        Host *host;
        HostConfig host_cfg;
        sd_event_source *host_source;
        HostSnapshot *snap;
        Mapping *mapping; /* of snap; NULL when it has none */
        char mapping_error[PROTO_ERROR_MAX];
        uint64_t mapping_seq;

        ReportIo *io;
        int lock_fd; /* the state directory's lock, held for our life */

        sd_event_source *save_timer, *grace_timer, *ready_timer, *stall_timer, *host_retry_timer;
        bool ready, stopping;
        bool stall_logged; /* "libvirt not responding" logged for this stall */
        uint64_t started_usec; /* CLOCK_REALTIME */
        char *phase;
        char status_line[512];
        uint64_t loop_wakeups;
} Daemon;

static uint64_t now_mono(const Daemon *d) {
        return app_clock_now(d->clock, CLOCK_MONOTONIC);
}

static bool host_stalled(const Daemon *d) {
        return d->host && host_heartbeat_usec(d->host) + STALL_USEC < now_mono(d);
}

/* Monotonic deadline → wall clock, for status. */
static uint64_t mono_to_realtime(const Daemon *d, uint64_t mono) {
        uint64_t now_m = now_mono(d), now_r = app_clock_now(d->clock, CLOCK_REALTIME);

        if (mono == SCHED_NEVER)
                return 0;
        return mono >= now_m ? now_r + (mono - now_m) : now_r - (now_m - mono);
}

/* The live fields of state.json: what `hvmap status` shows of this daemon. */
static void fill_state(void *userdata, State *st) {
        Daemon *d = userdata;
        const HostSnapshot *s = d->snap;
        Reporter *e = report_io_engine(d->io);

        st->pid = d->stopping ? 0 : getpid();
        st->updated_usec = app_clock_now(d->clock, CLOCK_REALTIME);
        st->loop_wakeups = d->loop_wakeups;
        (void) state_set_string(&st->phase, d->phase);
        if (s) {
                (void) state_set_string(&st->libvirt_state, host_conn_state_to_string(s->conn_state));
                st->libvirt_since_usec = s->conn_since_usec;
                (void) state_set_string(&st->libvirt_error, s->last_error);
                st->guests = s->n_guests;
        }
        if (host_stalled(d))
                (void) state_set_string(&st->libvirt_state, "not-responding");
        st->started_usec = d->started_usec;
        /* Only a report or registration the engine will start by itself:
         * never an upkeep or a job poll, never one that waits for someone. */
        st->next_report_usec = mono_to_realtime(d, reporter_next_report(e));
        (void) state_set_string(&st->busy, reporter_busy(e) != REPORT_WORK_NONE
                                                   ? report_work_to_string(reporter_busy(e))
                                                   : NULL);
}

static void save_state_now(Daemon *d) {
        State *st = reporter_state(report_io_engine(d->io));
        int r;

        fill_state(d, st);
        r = state_save(d->cfg.state_dir, st);
        if (r < 0)
                log_warning_errno(r, "Cannot write %s/%s: %m; `hvmap status` may be stale", d->cfg.state_dir,
                                  STATE_FILE);
}

static int on_save_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Daemon *d = userdata;

        d->loop_wakeups++;
        save_state_now(d);
        return 0;
}

/* Status writes are coalesced: at most one per SAVE_DELAY_USEC. */
static void save_state_later(Daemon *d) {
        int enabled = 0;

        (void) sd_event_source_get_enabled(d->save_timer, &enabled);
        if (enabled != SD_EVENT_OFF)
                return;
        (void) event_source_set_time_relative(d->save_timer, SAVE_DELAY_USEC);
        (void) sd_event_source_set_enabled(d->save_timer, SD_EVENT_ONESHOT);
}

/* Recomputes the phase and the one-line status; tells systemd and the log
 * when it changes. */
static void update_status(Daemon *d) {
        char line[512], when[64], libvirt[256] = "", text[384];
        const HostSnapshot *s = d->snap;
        const char *phase;

        if (!host_stalled(d))
                d->stall_logged = false;

        if (host_stalled(d)) {
                (void) snprintf(libvirt, sizeof libvirt, "libvirt not responding since %s; ",
                                app_format_time(mono_to_realtime(d, host_heartbeat_usec(d->host)), when,
                                                sizeof when));
                /* The host thread is stuck inside a libvirt call: it cannot
                 * say so itself. */
                if (!d->stall_logged)
                        log_full_errno_fields(
                                LOG_WARNING, 0,
                                ((const char *[]){ HVMAP_MESSAGE_LIBVIRT_LOST,
                                                   "HVMAP_EVENT=libvirt-not-responding", NULL }),
                                "libvirt has not answered since %s; guest changes are not seen "
                                "until it does",
                                when);
                d->stall_logged = true;
        } else if (s && s->conn_state != HOST_CONN_CONNECTED)
                (void) snprintf(libvirt, sizeof libvirt, "libvirt %s since %s%s%s; ",
                                s->conn_state == HOST_CONN_NOT_RESPONDING ? "not responding" : "unreachable",
                                app_format_time(s->conn_since_usec, when, sizeof when),
                                s->last_error ? ": " : "", strempty(s->last_error));

        if (!s || !s->synced) {
                phase = "starting";
                (void) snprintf(line, sizeof line, "%swaiting for the first guest listing", libvirt);
        } else if (!d->mapping) {
                phase = "no-hypervisor-id";
                (void) snprintf(line, sizeof line, "%scannot report: %s", libvirt, d->mapping_error);
        } else {
                phase = reporter_describe(report_io_engine(d->io), text, sizeof text);
                (void) snprintf(line, sizeof line, "%swatching %zu guest%s; %s", libvirt, s->n_guests,
                                s->n_guests == 1 ? "" : "s", text);
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

static void on_report_changed(void *userdata) {
        Daemon *d = userdata;

        d->loop_wakeups++;
        if (d->stopping && reporter_busy(report_io_engine(d->io)) == REPORT_WORK_NONE)
                (void) sd_event_exit(d->event, 0);
        update_status(d);
}

/* A new snapshot or configuration: the mapping the engine reports. */
static void rebuild_mapping(Daemon *d) {
        Mapping *m = NULL;
        int r;

        r = mapping_build(&d->cfg, d->snap, report_io_own_identity(d->io), &m, d->mapping_error,
                          sizeof d->mapping_error);
        if (r < 0) {
                if (r == -ENOMEM)
                        (void) snprintf(d->mapping_error, sizeof d->mapping_error, "out of memory");
                if (d->mapping || r != -ENODATA)
                        log_error("Cannot build this host's report: %s", d->mapping_error);
                d->mapping = mapping_unref(d->mapping);
        } else {
                mapping_unref(d->mapping);
                d->mapping = m;
        }
        reporter_set_mapping(report_io_engine(d->io), d->mapping);
        report_io_kick(d->io);
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

        d->loop_wakeups++;
        host_fd_clear(d->host);
        snap = host_snapshot(d->host);
        if (!snap)
                return 0;
        host_snapshot_unref(d->snap);
        d->snap = snap;

        /* mapping_seq moves when anything a body carries may have changed;
         * whether it did is decided by the bytes (mapping.h). */
        if (snap->synced && snap->mapping_seq != d->mapping_seq) {
                d->mapping_seq = snap->mapping_seq;
                rebuild_mapping(d);
        }
        if (snap->synced && !was_synced) {
                log_full_errno_fields(LOG_INFO, 0, ((const char *[]){ "HVMAP_EVENT=synced", NULL }),
                                      "Listed %zu guest%s (%zu domain%s) on %s", snap->n_guests,
                                      snap->n_guests == 1 ? "" : "s", snap->n_domains,
                                      snap->n_domains == 1 ? "" : "s", strna(snap->uri));
                notify_ready(d);
        }
        update_status(d);
        return 0;
}

static int on_stall_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Daemon *d = userdata;

        d->loop_wakeups++;
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

        log_warning("Stopping with a report still in flight; it is sent again at the next start");
        reporter_drop(report_io_engine(d->io));
        return sd_event_exit(d->event, 0);
}

static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Daemon *d = userdata;
        Reporter *e = report_io_engine(d->io);
        ReportWork busy = reporter_busy(e);

        if (d->stopping)
                return sd_event_exit(d->event, 0);
        d->stopping = true;
        log_info("Received %s, stopping", si->ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
        (void) sd_notify(false, "STOPPING=1");
        reporter_stop(e);
        /* A request on the wire gets a short grace; a check-in job merely
         * being followed does not (it is confirmed at the next start). */
        if (busy == REPORT_WORK_NONE || busy == REPORT_WORK_JOB || busy == REPORT_WORK_REFRESH) {
                reporter_drop(e);
                return sd_event_exit(d->event, 0);
        }
        (void) event_add_time_relative(d->event, &d->grace_timer, CLOCK_MONOTONIC, STOP_GRACE_USEC,
                                       USEC_PER_MSEC, on_grace_timer, d);
        return 0;
}

static int on_sigusr1(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Daemon *d = userdata;

        log_info("Received SIGUSR1: reporting now");
        reporter_force(report_io_engine(d->io));
        report_io_kick(d->io);
        return 0;
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

static int on_host_retry_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Daemon *d = userdata;

        d->loop_wakeups++;
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
        HostConfig hc;
        Config n, old;
        int r;

        log_info("Received SIGHUP: reloading the configuration and the identity");
        r = app_load_config(&d->g, true, &n);
        if (r != 0) {
                log_error("Reload failed; the running configuration stays in force");
                return 0;
        }
        old = d->cfg;
        d->cfg = n;
        r = report_io_reload(d->io, &d->cfg);
        if (r < 0)
                log_error("Reports are not sent until the server settings are fixed and reloaded");

        app_host_config(&d->cfg, &hc);
        if (!d->host || !host_config_equal(&hc, &d->host_cfg)) {
                log_info("libvirt settings changed: reconnecting");
                stop_host(d);
                d->snap = host_snapshot_unref(d->snap);
                d->mapping = mapping_unref(d->mapping);
                reporter_set_mapping(report_io_engine(d->io), NULL);
                d->mapping_seq = 0;
                if (start_host(d) < 0) {
                        /* -EBUSY: the old host thread is still stuck inside
                         * libvirt; try again until it has gone. */
                        log_warning("Trying again to follow libvirt in %llu s",
                                    (unsigned long long) (HOST_RETRY_USEC / USEC_PER_SEC));
                        (void) event_source_set_time_relative(d->host_retry_timer, HOST_RETRY_USEC);
                        (void) sd_event_source_set_enabled(d->host_retry_timer, SD_EVENT_ONESHOT);
                }
        }
        /* host/ copied what it needs; host_cfg pointed into the old one. */
        d->host_cfg = hc;
        config_free(&old);
        if (d->snap && d->snap->synced)
                rebuild_mapping(d);
        else
                report_io_kick(d->io);
        return 0;
}

static void daemon_free(Daemon *d) {
        d->save_timer = event_source_disable_unref(d->save_timer);
        d->grace_timer = event_source_disable_unref(d->grace_timer);
        d->ready_timer = event_source_disable_unref(d->ready_timer);
        d->stall_timer = event_source_disable_unref(d->stall_timer);
        d->host_retry_timer = event_source_disable_unref(d->host_retry_timer);
        d->io = report_io_free(d->io);
        stop_host(d);
        d->mapping = mapping_unref(d->mapping);
        host_snapshot_unref(d->snap);
        free(d->phase);
        config_free(&d->cfg);
        d->event = sd_event_unref(d->event);
        d->lock_fd = safe_close(d->lock_fd);
}

static int add_timer(Daemon *d, sd_event_source **ret, sd_event_time_handler_t cb, uint64_t first) {
        int r;

        r = event_add_time_relative(d->event, ret, CLOCK_MONOTONIC, first == SCHED_NEVER ? 0 : first,
                                    USEC_PER_MSEC, cb, d);
        if (r >= 0 && first == SCHED_NEVER)
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

/* A Satellite's /rhsm prefix. */
static bool endswith_rhsm(const char *url) {
        size_t n = url ? strlen(url) : 0;

        while (n > 0 && url[n - 1] == '/')
                n--;
        return n >= 5 && strncmp(url + n - 5, "/rhsm", 5) == 0;
}

int daemon_run(const GlobalArgs *g) {
        _cleanup_(daemon_free) Daemon d = { .g = *g, .clock = &app_clock_system, .lock_fd = -1 };
        AppLockHolder holder = {};
        ReportIoHooks hooks = { .changed = on_report_changed, .fill_state = fill_state, .userdata = &d };
        sigset_t mask;
        int r;

        r = app_load_config(g, true, &d.cfg);
        if (r != 0)
                return r;
        log_set_timestamps(true);
        d.started_usec = app_clock_now(d.clock, CLOCK_REALTIME);

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
        /* Two reporters on one state directory would both register and
         * overwrite each other's state: the second one refuses. */
        d.lock_fd = app_state_lock(d.cfg.state_dir, "run", &holder);
        if (d.lock_fd == -EBUSY) {
                d.lock_fd = -1;
                if (app_lock_holder_is_oneshot(&holder))
                        log_error("'hvmap %s' (pid %d) is using %s; start the daemon when it has finished",
                                  holder.verb, (int) holder.pid, d.cfg.state_dir);
                else
                        log_error("Another hvmap daemon (pid %d) already reports from %s; only one may run "
                                  "per state directory (is the service running? systemctl status hvmap)",
                                  (int) holder.pid, d.cfg.state_dir);
                return EX_TEMPFAIL;
        }
        if (d.lock_fd < 0) {
                r = d.lock_fd;
                d.lock_fd = -1;
                return log_error_errno(r, "Cannot lock the state directory %s: %m", d.cfg.state_dir),
                       EX_CANTCREAT;
        }
        /* No core dump of a process that holds keys and passwords. */
        (void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        remove_stale_temporaries(d.cfg.state_dir);

        r = sd_event_default(&d.event);
        if (r < 0)
                return log_error_errno(r, "Cannot create the event loop: %m"), EX_OSERR;
        if (sd_event_add_signal(d.event, NULL, SIGTERM, on_sigterm, &d) < 0 ||
            sd_event_add_signal(d.event, NULL, SIGINT, on_sigterm, &d) < 0 ||
            sd_event_add_signal(d.event, NULL, SIGHUP, on_sighup, &d) < 0 ||
            sd_event_add_signal(d.event, NULL, SIGUSR1, on_sigusr1, &d) < 0)
                return log_error_errno(errno, "Cannot watch signals"), EX_OSERR;
        (void) sd_event_set_watchdog(d.event, true);

        if (add_timer(&d, &d.save_timer, on_save_timer, SCHED_NEVER) < 0 ||
            add_timer(&d, &d.host_retry_timer, on_host_retry_timer, SCHED_NEVER) < 0 ||
            add_timer(&d, &d.ready_timer, on_ready_timer, READY_TIMEOUT_USEC) < 0 ||
            add_timer(&d, &d.stall_timer, on_stall_timer, STALL_CHECK_USEC) < 0)
                return log_error_errno(ENOMEM, "Cannot create timers: %m"), EX_OSERR;
        (void) sd_event_source_set_enabled(d.stall_timer, SD_EVENT_ON);

        r = report_io_new(d.event, &d.cfg, d.clock, random_seed(), &hooks, &d.io);
        if (r < 0)
                return EX_CONFIG;
        (void) report_io_load_identity(d.io, true, NULL);
        if (d.cfg.mode == REPORT_CHECKIN && endswith_rhsm(report_io_server_url(d.io)))
                log_warning(
                        "mode = checkin through Satellite (%s): after each check-in Satellite renames this "
                        "host virt-who-<hypervisor id>-<org id>, and a later registration under its real "
                        "name fails Satellite's DMI check; mode = guestids has neither problem",
                        report_io_server_url(d.io));

        r = start_host(&d);
        if (r < 0)
                return EX_UNAVAILABLE;
        log_info("hvmap started: reporting to %s every %s when unchanged, state in %s",
                 report_io_server_url(d.io),
                 format_duration((char[DURATION_STRING_MAX]){}, DURATION_STRING_MAX, d.cfg.interval_usec),
                 d.cfg.state_dir);
        report_io_kick(d.io);

        r = sd_event_loop(d.event);
        d.stopping = true;
        free(d.phase);
        d.phase = strdup("stopped");
        save_state_now(&d);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m"), EX_SOFTWARE;
        return EX_OK;
}
