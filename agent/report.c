/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The reporting engine; see report.h. */
#include "agent/report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/cleanup.h"
#include "util/log.h"
#include "util/message-ids.h"
#include "util/parse.h"
#include "util/random.h"
#include "util/strprintf.h"

/* A slow retry after an authentication failure: the operator must act. */
#define AUTH_RETRY_USEC (30 * USEC_PER_MINUTE)
/* Check-in jobs: polled after 2 s, then doubling up to every 30 s (virt-who
 * waits 15 s, then 30 s), at most 40 times (about 18 min). */
#define JOB_POLL_FIRST_USEC (2 * USEC_PER_SEC)
#define JOB_POLL_MAX_USEC (30 * USEC_PER_SEC)
#define JOB_POLLS_MAX 40
/* Failures lasting this long are logged once more, with their own
 * MESSAGE_ID, for alerting: a temporary failure that stopped being one. */
#define FAILING_LONG_USEC USEC_PER_HOUR

_Static_assert(_PROTO_RESULT_MAX == STATE_REQUEST_KINDS, "state.json counts requests per ProtoResultKind");

struct Reporter {
        ReportConfig cfg;
        char *server_url, *reporter_id, *foreign_uuid; /* cfg's strings point here */
        char *identity_error;
        const ReportOps *ops;
        void *ops_userdata;
        const AppClock *clock;
        uint64_t rng;

        Sched sched;
        State state;
        ProtoIdentity *identity;
        Mapping *current; /* the host now */
        Mapping *sending; /* the report in flight (or whose job is followed) */

        ReportWork in_flight; /* the request whose answer is awaited */
        uint64_t in_flight_started; /* monotonic */
        char *job_id; /* a check-in job being followed */
        unsigned job_polls;
        uint64_t job_poll_at;

        /* A report whose fate is unknown may still land until then
         * (monotonic); an acceptance before it is confirmed at confirm_at. */
        uint64_t unconfirmed_until;
        uint64_t confirm_at;
        uint64_t upkeep_at;

        bool serials_due; /* the upkeep's second request */
        bool failing_long_logged; /* "failing for an hour", once per run of failures */
        bool stopping;
        ReportWork oneshot; /* NONE: the daemon */
        bool oneshot_done;
        ReportOutcome outcome;
        char *outcome_message;
};

static const char *const work_table[_REPORT_WORK_MAX] = {
        [REPORT_WORK_NONE] = "none",
        [REPORT_WORK_REGISTER] = "registration",
        [REPORT_WORK_REPORT] = "report",
        [REPORT_WORK_JOB] = "check-in job poll",
        [REPORT_WORK_REFRESH] = "identity check",
        [REPORT_WORK_UNREGISTER] = "unregistration",
};

const char *report_work_to_string(ReportWork w) {
        return (size_t) w < ELEMENTSOF(work_table) ? work_table[w] : "unknown";
}

void report_config_from(const Config *c, const char *server_url, bool own_identity, ReportConfig *ret) {
        *ret = (ReportConfig){
                .sched = {
                        .debounce_usec = c->debounce_usec,
                        .min_gap_usec = c->min_gap_usec,
                        .interval_usec = c->interval_usec,
                        .splay_usec = c->splay_usec,
                        .backoff_base_usec = c->min_gap_usec > USEC_PER_SEC ? c->min_gap_usec : USEC_PER_SEC,
                        .backoff_max_usec = c->backoff_max_usec,
                        .auth_retry_usec = AUTH_RETRY_USEC < c->backoff_max_usec ? c->backoff_max_usec
                                                                                 : AUTH_RETRY_USEC,
                },
                .timeout_usec = c->timeout_usec,
                .server_url = server_url,
                .reporter_id = c->reporter_id,
                .own_identity = own_identity,
                .can_register = own_identity && c->activation_key_file && c->org,
                .reregister_delay_usec = c->reregister_on_delete ? c->interval_usec : 0,
                .upkeep_interval_usec = c->upkeep_interval_usec,
        };
}

static uint64_t now_mono(const Reporter *r) {
        return app_clock_now(r->clock, CLOCK_MONOTONIC);
}

static uint64_t now_real(const Reporter *r) {
        return app_clock_now(r->clock, CLOCK_REALTIME);
}

static uint64_t rnd(Reporter *r) {
        return splitmix64(&r->rng);
}

static uint64_t fnv1a(const char *s) {
        uint64_t h = UINT64_C(0xcbf29ce484222325);

        for (; s && *s; s++)
                h = (h ^ (unsigned char) *s) * UINT64_C(0x100000001b3);
        return h;
}

static uint64_t min_u64(uint64_t a, uint64_t b) {
        return a < b ? a : b;
}

/* The journal fields of one event (hvmap(8) JOURNAL FIELDS): its
 * MESSAGE_ID (may be NULL), HVMAP_EVENT, and HVMAP_CONSUMER, HVMAP_SERVER,
 * HVMAP_HTTP_STATUS (when > 0), HVMAP_GUESTS (when ≥ 0) where known. */
typedef struct EventFields {
        char event[64], consumer[128], server[512], http[48], guests[48];
        const char *v[8];
} EventFields;

static const char *const *event_fields(const Reporter *r, EventFields *f, const char *message_id,
                                       const char *event, const char *consumer, long http_status,
                                       long long guests) {
        size_t n = 0;

        if (message_id)
                f->v[n++] = message_id;
        (void) snprintf(f->event, sizeof f->event, "HVMAP_EVENT=%s", event);
        f->v[n++] = f->event;
        if (!consumer && r->identity)
                consumer = r->identity->uuid;
        if (consumer) {
                (void) snprintf(f->consumer, sizeof f->consumer, "HVMAP_CONSUMER=%s", consumer);
                f->v[n++] = f->consumer;
        }
        if (r->server_url) {
                (void) snprintf(f->server, sizeof f->server, "HVMAP_SERVER=%s", r->server_url);
                f->v[n++] = f->server;
        }
        if (http_status > 0) {
                (void) snprintf(f->http, sizeof f->http, "HVMAP_HTTP_STATUS=%ld", http_status);
                f->v[n++] = f->http;
        }
        if (guests >= 0) {
                (void) snprintf(f->guests, sizeof f->guests, "HVMAP_GUESTS=%lld", guests);
                f->v[n++] = f->guests;
        }
        f->v[n] = NULL;
        return f->v;
}

/* One more request answered (or not started: "local"). */
static void count_request(Reporter *r, ProtoResultKind k) {
        if ((size_t) k < STATE_REQUEST_KINDS)
                r->state.requests[k]++;
}

/* A success ends a run of failures. */
static void failures_cleared(Reporter *r) {
        r->state.consecutive_failures = 0;
        r->state.failing_since_usec = 0;
        r->failing_long_logged = false;
}

Reporter *reporter_new(const ReportConfig *cfg, const ReportOps *ops, void *ops_userdata,
                       const AppClock *clock, uint64_t seed) {
        Reporter *r = calloc(1, sizeof(*r));

        if (!r)
                return NULL;
        r->ops = ops;
        r->ops_userdata = ops_userdata;
        r->clock = clock;
        r->rng = seed;
        r->confirm_at = SCHED_NEVER;
        if (reporter_set_config(r, cfg) < 0)
                return reporter_free(r);
        sched_init(&r->sched, &r->cfg.sched, 0, 0);
        r->upkeep_at = now_mono(r) + sched_upkeep_first_delay(r->cfg.upkeep_interval_usec, rnd(r));
        return r;
}

Reporter *reporter_free(Reporter *r) {
        if (!r)
                return NULL;
        mapping_unref(r->current);
        mapping_unref(r->sending);
        proto_identity_free(r->identity);
        state_done(&r->state);
        free(r->job_id);
        free(r->server_url);
        free(r->reporter_id);
        free(r->foreign_uuid);
        free(r->identity_error);
        free(r->outcome_message);
        free(r);
        return NULL;
}

int reporter_set_config(Reporter *r, const ReportConfig *cfg) {
        char *url = cfg->server_url ? strdup(cfg->server_url) : NULL;
        char *rid = cfg->reporter_id ? strdup(cfg->reporter_id) : NULL;
        char *fu = cfg->foreign_uuid ? strdup(cfg->foreign_uuid) : NULL;

        if ((cfg->server_url && !url) || (cfg->reporter_id && !rid) || (cfg->foreign_uuid && !fu)) {
                free(url);
                free(rid);
                free(fu);
                return -ENOMEM;
        }
        free(r->server_url);
        free(r->reporter_id);
        free(r->foreign_uuid);
        r->server_url = url;
        r->reporter_id = rid;
        r->foreign_uuid = fu;
        r->cfg = *cfg;
        r->cfg.server_url = url;
        r->cfg.reporter_id = rid;
        r->cfg.foreign_uuid = fu;
        if (r->cfg.upkeep_interval_usec == 0)
                r->cfg.upkeep_interval_usec = SCHED_UPKEEP_INTERVAL_USEC;
        if (r->current)
                r->sched.splay_offset = r->cfg.sched.splay_usec > 0 ? fnv1a(r->current->m.hypervisor_id) %
                                                                              r->cfg.sched.splay_usec
                                                                    : 0;
        return 0;
}

/* Realtime ↔ monotonic, for times persisted in state.json. */
static uint64_t real_to_mono(const Reporter *r, uint64_t real) {
        uint64_t nr = now_real(r), nm = now_mono(r);

        if (real >= nr)
                return nm + (real - nr);
        return nm > nr - real ? nm - (nr - real) : 1;
}

static uint64_t mono_to_real(const Reporter *r, uint64_t mono) {
        uint64_t nr = now_real(r), nm = now_mono(r);

        return mono >= nm ? nr + (mono - nm) : nr - min_u64(nr, nm - mono);
}

static void save_now(Reporter *r) {
        r->state.unconfirmed_until_usec =
                r->unconfirmed_until > 0 ? mono_to_real(r, r->unconfirmed_until) : 0;
        if (r->ops->save_state)
                r->ops->save_state(r->ops_userdata, &r->state);
}

/* The one definition of "changed": the bytes the server accepted last are
 * not the bytes we would send now (or were accepted for another consumer
 * or server). */
static void refresh_dirty(Reporter *r) {
        bool dirty;

        if (!r->current)
                return;
        dirty = !streq_ptr(r->state.accepted_digest, r->current->digest) || !r->identity ||
                !streq_ptr(r->state.accepted_consumer, r->identity->uuid) ||
                !streq_ptr(r->state.accepted_server, r->server_url);
        sched_set_dirty(&r->sched, dirty, now_mono(r));
}

void reporter_restore(Reporter *r, State *s) {
        uint64_t last_success = 0;

        state_done(&r->state);
        r->state = *s;
        *s = (State){};
        /* The scheduler runs on the monotonic clock: place the last success
         * as far in the past as the wall clock says it is. */
        if (r->state.accepted_at_usec > 0)
                last_success = real_to_mono(r, min_u64(r->state.accepted_at_usec, now_real(r)));
        sched_init(&r->sched, &r->cfg.sched, 0, last_success);
        if (r->state.unconfirmed_until_usec > now_real(r)) {
                r->unconfirmed_until = real_to_mono(r, r->state.unconfirmed_until_usec);
                /* What was accepted before the restart may be overtaken:
                 * send it once more when that can no longer happen. */
                r->confirm_at = r->unconfirmed_until;
        }
        failures_cleared(r);
        /* Deleted by an administrator before this start: still respected. */
        if (streq_ptr(r->state.last_result, "gone") && r->cfg.reregister_delay_usec == 0)
                r->sched.gone = true;
        refresh_dirty(r);
}

void reporter_set_identity(Reporter *r, ProtoIdentity *id) {
        proto_identity_free(r->identity);
        r->identity = id;
        if (id)
                sched_identity_restored(&r->sched);
        refresh_dirty(r);
}

void reporter_set_identity_error(Reporter *r, const char *message) {
        free(r->identity_error);
        r->identity_error = message ? strdup(message) : NULL;
        if (message && !r->identity_error)
                r->identity_error = strdup("out of memory");
}

const ProtoIdentity *reporter_identity(const Reporter *r) {
        return r->identity;
}

void reporter_set_mapping(Reporter *r, Mapping *m) {
        Mapping *old = r->current;

        r->current = mapping_ref(m);
        mapping_unref(old);
        if (!m)
                return;
        /* The splay slot follows the hypervisor id: stable across restarts,
         * spread across a fleet. */
        r->sched.splay_offset =
                r->cfg.sched.splay_usec > 0 ? fnv1a(m->m.hypervisor_id) % r->cfg.sched.splay_usec : 0;
        refresh_dirty(r);
}

void reporter_force(Reporter *r) {
        sched_force(&r->sched);
}

void reporter_stop(Reporter *r) {
        r->stopping = true;
}

void reporter_oneshot(Reporter *r, ReportWork work) {
        r->oneshot = work;
        r->oneshot_done = false;
        r->upkeep_at = SCHED_NEVER;
        /* `hvmap register` is the operator's answer to a deletion the
         * daemon respected (state.json's "gone"): it must not wait for it. */
        if (work == REPORT_WORK_REGISTER)
                sched_identity_restored(&r->sched);
        if (work == REPORT_WORK_REPORT || work == REPORT_WORK_REGISTER)
                sched_force(&r->sched);
}

bool reporter_done(const Reporter *r) {
        return r->oneshot_done;
}

ReportWork reporter_busy(const Reporter *r) {
        if (r->in_flight != REPORT_WORK_NONE)
                return r->in_flight;
        return r->job_id ? REPORT_WORK_JOB : REPORT_WORK_NONE;
}

State *reporter_state(Reporter *r) {
        return &r->state;
}

const ReportOutcome *reporter_outcome(const Reporter *r) {
        return &r->outcome;
}

/* ---- outcomes ---------------------------------------------------------- */

static void outcome_set(Reporter *r, ReportWork work, ProtoResultKind kind, long http_status,
                        const char *message) {
        free(r->outcome_message);
        r->outcome_message = message ? strdup(message) : NULL;
        r->outcome = (ReportOutcome){
                .work = work,
                .kind = kind,
                .http_status = http_status,
                .message = r->outcome_message,
                .job_state = r->outcome.job_state,
        };
        if (r->oneshot != REPORT_WORK_NONE && !r->job_id)
                r->oneshot_done = true;
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

/* The report sent at started may still be applied by the server: any
 * acceptance before started + 2× timeout is confirmed after it. */
static void mark_unknown(Reporter *r, uint64_t started) {
        uint64_t until = started + 2 * r->cfg.timeout_usec;

        if (until > r->unconfirmed_until)
                r->unconfirmed_until = until;
}

static void drop_sending(Reporter *r) {
        r->sending = mapping_unref(r->sending);
        r->job_id = mfree(r->job_id);
        r->job_polls = 0;
}

static void identity_lost(Reporter *r, const char *message);

/* A failed attempt: logged once here, counted, persisted, and handed to
 * the scheduler for the next try. */
static void attempt_failed(Reporter *r, ReportWork work, const ProtoResult *res) {
        _cleanup_free_ char *clean = NULL;
        uint64_t now = now_mono(r), next;
        char wait[DURATION_STRING_MAX];
        EventFields ef = {};
        bool sched_work =
                work == REPORT_WORK_REPORT || work == REPORT_WORK_JOB || work == REPORT_WORK_REGISTER;

        if ((work == REPORT_WORK_REPORT || work == REPORT_WORK_JOB) && res->maybe_applied)
                mark_unknown(r, r->in_flight_started);
        drop_sending(r);
        /* What leaves the process never carries a secret. */
        clean = log_redact(res->message);
        r->state.consecutive_failures++;
        if (r->state.consecutive_failures == 1 || r->state.failing_since_usec == 0)
                r->state.failing_since_usec = now_real(r);
        (void) state_set_string(&r->state.last_result, proto_result_kind_to_string(res->kind));
        r->state.last_http_status = res->http_status;
        (void) state_set_string(&r->state.last_message, clean          ? clean
                                                        : res->message ? "(message withheld)"
                                                                       : NULL);
        if (sched_work)
                sched_finished(&r->sched, &r->cfg.sched, sched_result_of(res->kind),
                               res->retry_after_sec * USEC_PER_SEC, now, rnd(r));
        outcome_set(r, work, res->kind, res->http_status, r->state.last_message);

        next = sched_next(&r->sched, &r->cfg.sched);
        format_duration(wait, sizeof wait,
                        next == SCHED_NEVER ? 0
                        : next > now        ? (next - now) / USEC_PER_SEC * USEC_PER_SEC
                                            : 0);
        log_full_errno_fields(
                res->kind == PROTO_RESULT_AUTH || res->kind == PROTO_RESULT_PERMANENT ||
                                res->kind == PROTO_RESULT_GONE
                        ? LOG_ERR
                        : LOG_WARNING,
                0,
                event_fields(r, &ef, res->kind == PROTO_RESULT_AUTH ? HVMAP_MESSAGE_AUTH_FAILED : NULL,
                             res->kind == PROTO_RESULT_AUTH ? "auth-failed" : "report-failed", NULL,
                             res->http_status, -1),
                "%s failed (%s, attempt %u): %s%s%s", report_work_to_string(work),
                proto_result_kind_to_string(res->kind), r->state.consecutive_failures, strna(res->message),
                r->oneshot != REPORT_WORK_NONE || !sched_work ? "" : "; next attempt in ",
                r->oneshot != REPORT_WORK_NONE || !sched_work ? ""
                : r->sched.gone                               ? "never (consumer deleted)"
                                                              : wait);
        if (sched_work && r->oneshot == REPORT_WORK_NONE && !r->failing_long_logged &&
            now_real(r) >= r->state.failing_since_usec + FAILING_LONG_USEC) {
                char since[64];

                r->failing_long_logged = true;
                log_full_errno_fields(
                        LOG_ERR, 0,
                        event_fields(r, &ef, HVMAP_MESSAGE_REPORT_FAILING, "report-failing", NULL,
                                     res->http_status, -1),
                        "Every %s since %s has failed (%u attempts); the server's view of this host's "
                        "guests is getting old: %s",
                        work == REPORT_WORK_REGISTER ? "registration" : "report",
                        app_format_time(r->state.failing_since_usec, since, sizeof since),
                        r->state.consecutive_failures, strna(res->message));
        }
        if (res->kind == PROTO_RESULT_GONE)
                identity_lost(r, res->message);
        save_now(r);
}

static void identity_lost(Reporter *r, const char *message) {
        bool again =
                r->cfg.can_register && r->cfg.reregister_delay_usec > 0 && r->oneshot == REPORT_WORK_NONE;
        char delay[DURATION_STRING_MAX];
        EventFields ef = {};
        int k;

        format_duration(delay, sizeof delay, r->cfg.reregister_delay_usec);
        log_full_errno_fields(
                LOG_ERR, 0,
                event_fields(r, &ef, HVMAP_MESSAGE_CONSUMER_DELETED, "consumer-deleted", NULL, 410, -1),
                "The server says consumer %s was deleted (%s): an administrator removed this "
                "host. Reporting stops; guests are still tracked. %s%s%s",
                r->identity ? r->identity->uuid : "?", strna(message),
                again ? "Registering again (reregister_on_delete = yes) in " : "", again ? delay : "",
                again ? "." : "Run 'hvmap register' to report them again.");
        if (r->cfg.own_identity && r->ops->remove_identity) {
                k = r->ops->remove_identity(r->ops_userdata);
                if (k < 0)
                        log_warning_errno(k, "Cannot remove the deleted identity: %m");
        }
        r->identity = proto_identity_free(r->identity);
        r->state.accepted_digest = mfree(r->state.accepted_digest);
        r->state.accepted_consumer = mfree(r->state.accepted_consumer);
        if (again) {
                /* Not at once (an administrator's decision first), and never
                 * a loop: one attempt per delay at most. */
                sched_identity_restored(&r->sched);
                r->sched.not_before = now_mono(r) + r->cfg.reregister_delay_usec;
                log_notice("Registering again no earlier than %s from now (reregister_on_delete = yes)",
                           delay);
        }
        refresh_dirty(r);
}

static void report_accepted(Reporter *r, long http_status) {
        uint64_t now = now_mono(r);
        EventFields ef = {};

        (void) state_set_string(&r->state.accepted_digest, r->sending->digest);
        (void) state_set_string(&r->state.accepted_server, r->server_url);
        (void) state_set_string(&r->state.accepted_consumer, r->identity ? r->identity->uuid : NULL);
        r->state.accepted_at_usec = now_real(r);
        r->state.accepted_guests = r->sending->m.n_guests;
        failures_cleared(r);
        r->state.last_http_status = http_status;
        (void) state_set_string(&r->state.last_result, "ok");
        r->state.last_message = mfree(r->state.last_message);
        r->state.reports_sent++;
        log_full_errno_fields(LOG_INFO, 0,
                              event_fields(r, &ef, HVMAP_MESSAGE_REPORT_ACCEPTED, "report-accepted", NULL,
                                           http_status, (long long) r->sending->m.n_guests),
                              "Report accepted by %s: %zu guest%s", r->server_url, r->sending->m.n_guests,
                              r->sending->m.n_guests == 1 ? "" : "s");
        sched_finished(&r->sched, &r->cfg.sched, SCHED_RESULT_OK, 0, now, rnd(r));

        /* Sent after every report of unknown fate could have landed: it
         * cannot be overtaken, nothing is left to confirm. */
        if (r->in_flight_started >= r->unconfirmed_until) {
                r->unconfirmed_until = 0;
                r->confirm_at = SCHED_NEVER;
        } else if (r->oneshot == REPORT_WORK_NONE) {
                r->confirm_at = r->unconfirmed_until;
                log_info("An earlier report's fate is unknown; confirming this one in %llu s",
                         (unsigned long long) ((r->unconfirmed_until - now + USEC_PER_SEC - 1) /
                                               USEC_PER_SEC));
        }
        drop_sending(r);
        outcome_set(r, REPORT_WORK_REPORT, PROTO_RESULT_OK, http_status, NULL);
        refresh_dirty(r);
        save_now(r);
}

/* Check-in mode: the POST only queues a job; its state decides. */
static void handle_job(Reporter *r, const ProtoResult *res) {
        const ProtoJob *j = res->job;
        ProtoResult failed = *res;
        char msg[600];

        r->outcome.job_state = j ? j->state : PROTO_JOB_FINISHED;
        /* FINISHED can still list our host under failedUpdate. */
        if (j && j->state == PROTO_JOB_FINISHED && r->sending) {
                for (char **f = j->failed_update; f && *f; f++)
                        if (strstr(*f, r->sending->m.hypervisor_id)) {
                                (void) snprintf(msg, sizeof msg,
                                                "check-in job %s finished, but not for this host: %s",
                                                strna(j->id), *f);
                                failed.kind = PROTO_RESULT_PERMANENT;
                                failed.message = msg;
                                r->job_id = mfree(r->job_id);
                                attempt_failed(r, REPORT_WORK_REPORT, &failed);
                                return;
                        }
        }
        if (!j || j->state == PROTO_JOB_FINISHED) {
                r->job_id = mfree(r->job_id);
                report_accepted(r, res->http_status);
                return;
        }
        if (j->state == PROTO_JOB_FAILED || j->state == PROTO_JOB_CANCELED ||
            r->job_polls >= JOB_POLLS_MAX) {
                (void) snprintf(msg, sizeof msg, "check-in job %s %s%s: %s", strna(j->id),
                                proto_job_state_to_string(j->state),
                                r->job_polls >= JOB_POLLS_MAX ? " after the last poll" : "",
                                strna(j->result_text));
                failed.kind = PROTO_RESULT_TEMPORARY;
                failed.message = msg;
                /* A job still queued may yet run. */
                failed.maybe_applied = !proto_job_state_is_terminal(j->state);
                r->job_id = mfree(r->job_id);
                attempt_failed(r, REPORT_WORK_REPORT, &failed);
                return;
        }
        if (!streq_ptr(r->job_id, j->id)) {
                free(r->job_id);
                r->job_id = strdup(j->id);
                if (!r->job_id) {
                        failed.kind = PROTO_RESULT_LOCAL;
                        failed.message = (char *) "out of memory";
                        attempt_failed(r, REPORT_WORK_REPORT, &failed);
                        return;
                }
        }
        r->job_poll_at = now_mono(r) + min_u64(JOB_POLL_FIRST_USEC << (r->job_polls < 4 ? r->job_polls : 4),
                                               JOB_POLL_MAX_USEC);
        r->job_polls++;
}

static void registered(Reporter *r, const ProtoResult *res) {
        _cleanup_free_ char *err = NULL;
        ProtoIdentity *id = NULL;
        EventFields ef = {};
        int k;

        /* Candlepin hands back an existing consumer whose hypervisor id
         * matches (candlepin-protocol.md §9.1): subscription-manager's own
         * "system" consumer must never become ours. */
        if (!streq_ptr(res->consumer->type_label, "hypervisor") ||
            (r->foreign_uuid && strcasecmp(res->consumer->uuid, r->foreign_uuid) == 0)) {
                _cleanup_free_ char *msg = strdup_printf(
                        "the server answered with consumer %s of type %s%s, not a hypervisor consumer of "
                        "our "
                        "own; it was not stored (see \"hvmap and subscription-manager\" in hvmap(8))",
                        res->consumer->uuid, strna(res->consumer->type_label),
                        r->foreign_uuid && strcasecmp(res->consumer->uuid, r->foreign_uuid) == 0
                                ? ", subscription-manager's own"
                                : "");
                ProtoResult refused = { .kind = PROTO_RESULT_PERMANENT, .error = -EEXIST, .message = msg };

                attempt_failed(r, REPORT_WORK_REGISTER, &refused);
                return;
        }
        k = r->ops->store_identity(r->ops_userdata, res->consumer, &id, &err);
        if (k < 0) {
                ProtoResult local = { .kind = PROTO_RESULT_LOCAL, .error = k };
                _cleanup_free_ char *msg = NULL;

                msg = strdup_printf("registered as %s, but cannot store the identity: %s",
                                    strna(res->consumer ? res->consumer->uuid : NULL), strna(err));
                local.message = msg;
                attempt_failed(r, REPORT_WORK_REGISTER, &local);
                return;
        }
        drop_sending(r);
        proto_identity_free(r->identity);
        r->identity = id;
        if (r->ops->identity_changed)
                r->ops->identity_changed(r->ops_userdata);
        log_full_errno_fields(
                LOG_NOTICE, 0,
                event_fields(r, &ef, HVMAP_MESSAGE_REGISTERED, "registered", NULL, res->http_status, -1),
                "Registered with %s as consumer %s in organization %s", r->server_url, id->uuid,
                strna(id->owner));
        /* Registration carries no guests: report them right away. */
        sched_finished(&r->sched, &r->cfg.sched, SCHED_RESULT_OK, 0, now_mono(r), rnd(r));
        sched_identity_restored(&r->sched);
        failures_cleared(r);
        r->state.accepted_digest = mfree(r->state.accepted_digest);
        r->state.accepted_consumer = mfree(r->state.accepted_consumer);
        r->state.last_result = mfree(r->state.last_result);
        r->state.last_message = mfree(r->state.last_message);
        outcome_set(r, REPORT_WORK_REGISTER, PROTO_RESULT_OK, res->http_status, NULL);
        refresh_dirty(r);
        sched_force(&r->sched);
        save_now(r);
}

static void refreshed(Reporter *r, const ProtoResult *res) {
        _cleanup_free_ char *err = NULL;
        ProtoIdentity *id = NULL;
        char until[64];
        int k;

        outcome_set(r, REPORT_WORK_REFRESH, res->kind, res->http_status, res->message);
        if (res->kind == PROTO_RESULT_GONE) {
                identity_lost(r, res->message);
                save_now(r);
                return;
        }
        if (res->kind != PROTO_RESULT_OK) {
                EventFields ef = {};

                log_full_errno_fields(
                        res->kind == PROTO_RESULT_AUTH ? LOG_ERR : LOG_WARNING, 0,
                        event_fields(
                                r, &ef, res->kind == PROTO_RESULT_AUTH ? HVMAP_MESSAGE_AUTH_FAILED : NULL,
                                res->kind == PROTO_RESULT_AUTH ? "auth-failed" : "identity-check-failed",
                                NULL, res->http_status, -1),
                        "Identity check failed (%s): %s; trying again at the next upkeep",
                        proto_result_kind_to_string(res->kind), strna(res->message));
                return;
        }
        if (!res->cert_changed) {
                log_debug("Identity certificate is current");
                return;
        }
        k = r->ops->store_identity(r->ops_userdata, res->consumer, &id, &err);
        if (k < 0) {
                log_error(
                        "The server renewed the identity certificate, but it cannot be stored: %s; the old "
                        "one stays in use",
                        strna(err));
                return;
        }
        proto_identity_free(r->identity);
        r->identity = id;
        if (r->ops->identity_changed)
                r->ops->identity_changed(r->ops_userdata);
        log_notice("Identity certificate renewed by the server (serial %s, valid until %s)",
                   strna(id->serial),
                   app_format_time((uint64_t) id->not_after * USEC_PER_SEC, until, sizeof until));
}

static void serials_done(Reporter *r, const ProtoResult *res) {
        if (res->kind == PROTO_RESULT_GONE) {
                identity_lost(r, res->message);
                save_now(r);
        } else if (res->kind != PROTO_RESULT_OK)
                log_warning(
                        "Check-in (certificate serials) failed (%s): %s; trying again at the next upkeep",
                        proto_result_kind_to_string(res->kind), strna(res->message));
        else
                log_debug("Checked in with %s", r->server_url);
}

static void unregistered(Reporter *r, const ProtoResult *res) {
        int k;

        if (res->kind != PROTO_RESULT_OK) {
                attempt_failed(r, REPORT_WORK_UNREGISTER, res);
                return;
        }
        k = r->ops->remove_identity ? r->ops->remove_identity(r->ops_userdata) : 0;
        if (k < 0) {
                ProtoResult local = { .kind = PROTO_RESULT_LOCAL, .error = k };
                char msg[256];

                (void) snprintf(msg, sizeof msg, "deleted on the server, but cannot remove the identity: %s",
                                strerror(-k));
                local.message = msg;
                attempt_failed(r, REPORT_WORK_UNREGISTER, &local);
                return;
        }
        r->identity = proto_identity_free(r->identity);
        r->state.accepted_digest = mfree(r->state.accepted_digest);
        r->state.accepted_consumer = mfree(r->state.accepted_consumer);
        outcome_set(r, REPORT_WORK_UNREGISTER, PROTO_RESULT_OK, res->http_status, NULL);
        save_now(r);
}

void reporter_answer(Reporter *r, const ProtoResult *res) {
        ReportWork work = r->in_flight;

        r->in_flight = REPORT_WORK_NONE;
        count_request(r, res->kind);
        switch (work) {
        case REPORT_WORK_REPORT:
        case REPORT_WORK_JOB:
                if (res->kind != PROTO_RESULT_OK)
                        attempt_failed(r, work, res);
                else if (r->sending && r->sending->mode == REPORT_CHECKIN)
                        handle_job(r, res);
                else if (r->sending)
                        report_accepted(r, res->http_status);
                break;
        case REPORT_WORK_REGISTER:
                if (res->kind != PROTO_RESULT_OK || !res->consumer)
                        attempt_failed(r, work, res);
                else
                        registered(r, res);
                break;
        case REPORT_WORK_REFRESH:
                refreshed(r, res);
                break;
        case REPORT_WORK_UNREGISTER:
                unregistered(r, res);
                break;
        case REPORT_WORK_SERIALS:
                serials_done(r, res);
                break;
        case REPORT_WORK_NONE:
        case _REPORT_WORK_MAX:
                break;
        }
}

void reporter_drop(Reporter *r) {
        ReportWork w = reporter_busy(r);

        if (w == REPORT_WORK_NONE)
                return;
        if (r->in_flight != REPORT_WORK_NONE && r->ops->cancel)
                r->ops->cancel(r->ops_userdata);
        if (w == REPORT_WORK_REPORT || w == REPORT_WORK_JOB) {
                /* Sent, never answered: the server may apply it still. */
                mark_unknown(r, r->in_flight_started);
                log_info("Dropped a report in flight; it is sent again and confirmed once it can no longer "
                         "be overtaken");
        }
        if (w == REPORT_WORK_REPORT || w == REPORT_WORK_JOB || w == REPORT_WORK_REGISTER)
                r->sched.in_flight = false; /* no penalty: nothing failed */
        r->in_flight = REPORT_WORK_NONE;
        drop_sending(r);
        refresh_dirty(r);
        save_now(r);
}

/* ---- starting work ----------------------------------------------------- */

static bool start(Reporter *r, ReportWork work) {
        ReportRequest req = { .work = work, .identity = r->identity };
        _cleanup_free_ char *msg = NULL;
        int k;

        if (work == REPORT_WORK_REPORT || work == REPORT_WORK_REGISTER) {
                mapping_unref(r->sending);
                r->sending = mapping_ref(r->current);
                req.mapping = r->sending;
                sched_started(&r->sched, now_mono(r));
                r->state.last_attempt_usec = now_real(r);
        } else if (work == REPORT_WORK_JOB) {
                req.mapping = r->sending;
                req.job_id = r->job_id;
        }
        if (work != REPORT_WORK_JOB)
                r->in_flight_started = now_mono(r);
        r->in_flight = work;
        k = r->ops->start(r->ops_userdata, &req, &msg);
        if (k < 0) {
                ProtoResult local = { .kind = PROTO_RESULT_LOCAL, .error = k };
                char fallback[256];

                (void) snprintf(fallback, sizeof fallback, "cannot start the request: %s", strerror(-k));
                local.message = msg ? msg : fallback;
                r->in_flight = REPORT_WORK_NONE;
                count_request(r, PROTO_RESULT_LOCAL);
                if (work == REPORT_WORK_REFRESH)
                        log_warning("Identity check not started: %s", local.message);
                else
                        attempt_failed(r, work, &local);
                return false;
        }
        if (work == REPORT_WORK_REGISTER)
                log_info("Registering with %s", r->server_url);
        else if (work == REPORT_WORK_REPORT)
                log_debug("Reporting %zu guests to %s", r->sending->m.n_guests, r->server_url);
        return true;
}

static uint64_t report_due(const Reporter *r) {
        if (!r->current || r->stopping || r->job_id || r->in_flight != REPORT_WORK_NONE)
                return SCHED_NEVER;
        if (r->oneshot != REPORT_WORK_NONE &&
            (r->oneshot_done || (r->oneshot != REPORT_WORK_REPORT && r->oneshot != REPORT_WORK_REGISTER)))
                return SCHED_NEVER;
        /* A registration needs credentials and no unusable identity in the
         * way (never silently replaced), a report an identity. */
        if (r->oneshot != REPORT_WORK_REGISTER && !r->identity &&
            (r->oneshot != REPORT_WORK_NONE || !r->cfg.can_register || r->identity_error))
                return SCHED_NEVER;
        return sched_next(&r->sched, &r->cfg.sched);
}

uint64_t reporter_next_report(const Reporter *r) {
        return report_due(r);
}

uint64_t reporter_next(const Reporter *r) {
        uint64_t next = report_due(r);

        if (r->stopping || r->in_flight != REPORT_WORK_NONE)
                return SCHED_NEVER;
        if (r->serials_due && !r->job_id && r->identity)
                return 0;
        if (r->oneshot == REPORT_WORK_UNREGISTER && !r->oneshot_done)
                return 0;
        if (r->job_id)
                next = min_u64(next, r->job_poll_at);
        if (r->oneshot == REPORT_WORK_NONE && r->current && (r->identity || r->cfg.can_register))
                next = min_u64(next, r->confirm_at);
        if (r->oneshot == REPORT_WORK_NONE)
                next = min_u64(next, r->upkeep_at);
        return next;
}

void reporter_run(Reporter *r) {
        uint64_t now = now_mono(r);

        if (r->stopping || r->in_flight != REPORT_WORK_NONE)
                return;
        if (r->oneshot == REPORT_WORK_UNREGISTER && !r->oneshot_done) {
                if (r->identity)
                        (void) start(r, REPORT_WORK_UNREGISTER);
                return;
        }
        if (r->job_id) {
                if (now >= r->job_poll_at)
                        (void) start(r, REPORT_WORK_JOB);
        } else {
                if (r->oneshot == REPORT_WORK_NONE && r->confirm_at != SCHED_NEVER && now >= r->confirm_at) {
                        r->confirm_at = SCHED_NEVER;
                        sched_force(&r->sched);
                }
                if (report_due(r) <= now)
                        (void) start(r, r->oneshot == REPORT_WORK_REGISTER || !r->identity
                                                ? REPORT_WORK_REGISTER
                                                : REPORT_WORK_REPORT);
        }
        if (r->oneshot == REPORT_WORK_NONE && r->serials_due && r->in_flight == REPORT_WORK_NONE &&
            !r->job_id && r->identity) {
                r->serials_due = false;
                (void) start(r, REPORT_WORK_SERIALS);
        }
        if (r->oneshot == REPORT_WORK_NONE && now >= r->upkeep_at) {
                if (r->in_flight != REPORT_WORK_NONE || r->job_id)
                        r->upkeep_at = now + SCHED_UPKEEP_BUSY_USEC;
                else {
                        r->upkeep_at = now + sched_upkeep_next_delay(r->cfg.upkeep_interval_usec, rnd(r));
                        if (r->identity &&
                            proto_identity_expired(r->identity, (time_t) (now_real(r) / USEC_PER_SEC)))
                                log_error("The identity certificate of consumer %s expired; the server will "
                                          "refuse it: run 'hvmap register --force'",
                                          r->identity->uuid);
                        /* Renewal first, then "I am alive" (Satellite's last
                         * check-in moves with it, as rhsmcertd's does). */
                        if (r->identity && r->cfg.own_identity && start(r, REPORT_WORK_REFRESH))
                                r->serials_due = true;
                }
        }
}

/* ---- status ------------------------------------------------------------ */

const char *reporter_describe(const Reporter *r, char *text, size_t textsz) {
        uint64_t next = sched_next(&r->sched, &r->cfg.sched), now = now_mono(r);
        unsigned long long wait_s =
                next != SCHED_NEVER && next > now ? (next - now + USEC_PER_SEC - 1) / USEC_PER_SEC : 0;
        const State *s = &r->state;
        char when[64];

        if (r->sched.gone || (!r->identity && streq_ptr(r->state.last_result, "gone"))) {
                (void) snprintf(text, textsz, "consumer deleted on the server by an administrator; %s",
                                r->cfg.can_register && r->cfg.reregister_delay_usec > 0
                                        ? "registering again after the configured delay"
                                        : "run hvmap register to report again");
                return "consumer-deleted";
        }
        if (!r->identity && r->identity_error) {
                (void) snprintf(text, textsz, "identity unusable: %s", r->identity_error);
                return "identity-error";
        }
        if (!r->identity && !r->cfg.can_register) {
                (void) snprintf(text, textsz,
                                "not registered: run hvmap register, or set activation_key_file and org");
                return "not-registered";
        }
        if (s->consecutive_failures > 0 && streq_ptr(s->last_result, "auth")) {
                (void) snprintf(text, textsz, "server refused our credentials (HTTP %ld); retry in %llu s",
                                s->last_http_status, wait_s);
                return "auth-failed";
        }
        if (s->consecutive_failures > 0 && streq_ptr(s->last_result, "retry-after")) {
                (void) snprintf(text, textsz, "rate limited by the server, retry in %llu s", wait_s);
                return "rate-limited";
        }
        if (s->consecutive_failures > 0) {
                (void) snprintf(text, textsz, "server %s (%s), retry in %llu s",
                                s->last_http_status == 0 ? "unreachable" : "failing", strna(s->last_result),
                                wait_s);
                return "backing-off";
        }
        if (s->accepted_at_usec > 0)
                (void) snprintf(text, textsz, "last report accepted %s%s",
                                app_format_time(s->accepted_at_usec, when, sizeof when),
                                r->sched.dirty || reporter_busy(r) != REPORT_WORK_NONE ? "; changes pending"
                                                                                       : "");
        else
                (void) snprintf(text, textsz, "nothing reported yet");
        return "watching";
}
