/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The reporting engine: registration, reports, check-in job polling,
 * identity upkeep and re-registration, and what each answer does to the
 * persisted State. The daemon and the one-shot commands (register, report,
 * unregister) run this same engine.
 *
 * It does no I/O of its own and reads no clock of its own: it asks for
 * requests through ReportOps and learns their answers through
 * reporter_answer(); time comes from the AppClock it is given. So its whole
 * state machine runs on a fake clock in tests (tests/agent/test-agent-
 * report.c), and agent/report-io.c wires it to proto/, sd-event and the
 * state directory. It logs each outcome once: it is the layer that decides
 * what a failure means. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "agent/app.h"
#include "agent/mapping.h"
#include "agent/sched.h"
#include "agent/state.h"
#include "proto/proto.h"

typedef enum ReportWork {
        REPORT_WORK_NONE,
        REPORT_WORK_REGISTER, /* POST /consumers with the mapping's registration body */
        REPORT_WORK_REPORT, /* the mapping's body: PUT guest update or POST check-in */
        REPORT_WORK_JOB, /* GET /jobs/{id}: a check-in's job */
        REPORT_WORK_REFRESH, /* GET /consumers/{uuid}: identity upkeep */
        REPORT_WORK_UNREGISTER, /* DELETE /consumers/{uuid} */
        REPORT_WORK_SERIALS, /* GET /consumers/{uuid}/certificates/serials: "I am alive" (upkeep) */
        _REPORT_WORK_MAX,
} ReportWork;
const char *report_work_to_string(ReportWork w);

typedef struct ReportRequest {
        ReportWork work;
        Mapping *mapping; /* REGISTER, REPORT: valid until the answer or cancel */
        const ProtoIdentity *identity; /* every work but REGISTER */
        const char *job_id; /* JOB */
} ReportRequest;

typedef struct ReportOps {
        /* Starts req; its answer comes back through reporter_answer(), never
         * from inside this call. 0, or -errno with *ret_message (may stay
         * NULL) when nothing was sent. */
        int (*start)(void *userdata, const ReportRequest *req, char **ret_message);
        /* Drops the request in flight without an answer. */
        void (*cancel)(void *userdata);
        /* Persists the state now (state.json). */
        void (*save_state)(void *userdata, State *s);
        /* Stores a consumer's certificate and key as our identity
         * (registration, renewal) and returns it loaded. 0 or -errno with
         * *ret_error. */
        int (*store_identity)(void *userdata, const ProtoConsumer *c, ProtoIdentity **ret, char **ret_error);
        /* Removes our stored identity; 0 or -errno. */
        int (*remove_identity)(void *userdata);
        /* The identity changed: connections made with the old one must not
         * be reused. May be NULL. */
        void (*identity_changed)(void *userdata);
} ReportOps;

typedef struct ReportConfig {
        SchedConfig sched;
        /* The server's request timeout: a report whose fate is unknown may
         * still be applied until 2× this after it was sent. */
        uint64_t timeout_usec;
        const char *server_url; /* copied */
        const char *reporter_id; /* check-in; copied, may be NULL */
        bool can_register; /* own identity and activation key + org configured */
        bool own_identity; /* our own consumer (not subscription-manager's): upkeep, removal */
        /* After an administrator deleted our consumer: register again, once
         * this long has passed (0: never; stop and say so). */
        uint64_t reregister_delay_usec;
        uint64_t upkeep_interval_usec; /* identity check + serials */
        /* subscription-manager's consumer uuid on this host (copied; NULL:
         * none): a registration that hands it back is never stored. */
        const char *foreign_uuid;
} ReportConfig;

/* Derives the engine's settings from the configuration, for reporting on
 * our own consumer or (own_identity false) on subscription-manager's. The
 * strings point into c. */
void report_config_from(const Config *c, const char *server_url, bool own_identity, ReportConfig *ret);

typedef struct Reporter Reporter;

/* A new engine with nothing to do until it has a mapping (and an identity,
 * or can register). ops and clock must outlive it; seed feeds its jitter
 * (splitmix64). NULL on ENOMEM. */
Reporter *reporter_new(const ReportConfig *cfg, const ReportOps *ops, void *ops_userdata,
                       const AppClock *clock, uint64_t seed);
Reporter *reporter_free(Reporter *r);

/* Takes over what state.json said at start (s is moved from): the accepted
 * digest decides whether the first mapping needs a report, and an
 * unconfirmed report of an earlier run is still confirmed. Failure counts
 * start afresh. */
void reporter_restore(Reporter *r, State *s);
/* New settings (reload). A request in flight must have been dropped first. */
int reporter_set_config(Reporter *r, const ReportConfig *cfg);
/* The identity to report with (taken; NULL: none). Resumes reporting after
 * a deletion. */
void reporter_set_identity(Reporter *r, ProtoIdentity *id);
/* An identity exists but cannot be used (message copied; NULL clears):
 * nothing is registered over it, and status says why. */
void reporter_set_identity_error(Reporter *r, const char *message);
const ProtoIdentity *reporter_identity(const Reporter *r);
/* The current mapping (a reference is taken; NULL: none yet). A mapping
 * whose bytes differ from what the server accepted makes a report due. */
void reporter_set_mapping(Reporter *r, Mapping *m);
/* Report now, once (SIGUSR1): coalesces, honours min_gap, never beats a
 * Retry-After. */
void reporter_force(Reporter *r);
/* Drops the request in flight (reload, stop): its outcome is unknown, so
 * the mapping stays unaccepted and the next accepted report is confirmed
 * once it can no longer be overtaken. */
void reporter_drop(Reporter *r);
/* Stops starting new work (the daemon is stopping). */
void reporter_stop(Reporter *r);

/* One-shot commands: do work once and then nothing more (no retry, no
 * upkeep). reporter_done() tells when its outcome is known. */
void reporter_oneshot(Reporter *r, ReportWork work);
bool reporter_done(const Reporter *r);

/* The monotonic time the engine next wants to run (SCHED_NEVER: only an
 * answer or new input can give it work). */
uint64_t reporter_next(const Reporter *r);
/* The monotonic time of the next report or registration the engine starts
 * by itself (SCHED_NEVER: none: in flight, nothing to send, or waiting for
 * an operator). Unlike reporter_next(), never an upkeep or a job poll. */
uint64_t reporter_next_report(const Reporter *r);
/* Starts whatever is due now. */
void reporter_run(Reporter *r);
/* The answer to the request started last. */
void reporter_answer(Reporter *r, const ProtoResult *res);

/* Work in flight (a check-in job being followed counts). */
ReportWork reporter_busy(const Reporter *r);
/* The state as it would be saved; the caller may fill the live fields. */
State *reporter_state(Reporter *r);

/* The last outcome of a one-shot's work. */
typedef struct ReportOutcome {
        ReportWork work;
        ProtoResultKind kind;
        long http_status;
        const char *message; /* NULL on success */
        ProtoJobState job_state; /* check-in */
} ReportOutcome;
const ReportOutcome *reporter_outcome(const Reporter *r);

/* How reporting stands: a phase for status and monitoring ("watching",
 * "not-registered", "identity-error", "consumer-deleted", "auth-failed",
 * "rate-limited", "backing-off") and, in text, what follows "watching N
 * guests; ". */
const char *reporter_describe(const Reporter *r, char *text, size_t textsz);
