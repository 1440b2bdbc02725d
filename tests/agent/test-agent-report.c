/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The reporting engine's state machine on a fake clock: each test is a
 * script of (events, server answers, time) and checks the requests made,
 * the status and what state.json would say. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/report.h"
#include "agent/state.h"
#include "util/log.h"
#include "util/parse.h"

#define S USEC_PER_SEC
#define MS USEC_PER_MSEC
/* The fake monotonic clock starts here (0 means "never" to the scheduler);
 * the wall clock is REAL_BASE ahead of it. */
#define T0 (1000 * S)
#define REAL_BASE (UINT64_C(1790000000) * S)
#define MAX_REQS 512

typedef struct Req {
        ReportWork work;
        uint64_t at;
        char digest[PROTO_DIGEST_HEX_LEN + 1];
        char job_id[32];
} Req;

typedef struct Fake {
        uint64_t mono;
        AppClock clock;
        Reporter *r;
        Req reqs[MAX_REQS];
        size_t n_reqs;
        unsigned saves, removes, identity_changes, cancels;
        State saved; /* the last state written */
        unsigned generation; /* of the mapping */
        bool auto_ok; /* advance_to() answers every request with success */
} Fake;

static Fake f;

static uint64_t fake_now(void *userdata, int clock) {
        Fake *x = userdata;
        return clock == CLOCK_REALTIME ? REAL_BASE + x->mono : x->mono;
}

static int op_start(void *userdata, const ReportRequest *req, char **ret_message) {
        Fake *x = userdata;
        Req *q;

        cr_assert_lt(x->n_reqs, MAX_REQS, "request storm");
        q = &x->reqs[x->n_reqs++];
        *q = (Req){ .work = req->work, .at = x->mono };
        if (req->mapping)
                (void) snprintf(q->digest, sizeof q->digest, "%s", req->mapping->digest);
        if (req->job_id)
                (void) snprintf(q->job_id, sizeof q->job_id, "%s", req->job_id);
        return 0;
}

static void op_cancel(void *userdata) {
        ((Fake *) userdata)->cancels++;
}

static void op_save_state(void *userdata, State *s) {
        Fake *x = userdata;
        _cleanup_free_ char *text = NULL;

        x->saves++;
        cr_assert_eq(state_format(s, &text), 0);
        state_done(&x->saved);
        cr_assert_eq(state_parse(text, strlen(text), &x->saved), 0, "state.json round-trips");
}

static ProtoIdentity *identity_new(const char *uuid) {
        ProtoIdentity *id = calloc(1, sizeof(*id));

        cr_assert_not_null(id);
        id->uuid = strdup(uuid);
        id->owner = strdup("ACME");
        id->serial = strdup("1");
        id->not_after = (time_t) ((REAL_BASE + 3650 * 24 * 3600 * S) / S);
        return id;
}

static int op_store_identity(void *userdata, const ProtoConsumer *c, ProtoIdentity **ret, char **ret_error) {
        *ret = identity_new(c->uuid);
        return 0;
}

static int op_remove_identity(void *userdata) {
        ((Fake *) userdata)->removes++;
        return 0;
}

static void op_identity_changed(void *userdata) {
        ((Fake *) userdata)->identity_changes++;
}

static const ReportOps ops = {
        .start = op_start,
        .cancel = op_cancel,
        .save_state = op_save_state,
        .store_identity = op_store_identity,
        .remove_identity = op_remove_identity,
        .identity_changed = op_identity_changed,
};

static ReportConfig config(void) {
        return (ReportConfig){
                .sched = {
                        .debounce_usec = 0,
                        .min_gap_usec = 5 * S,
                        .interval_usec = 3600 * S,
                        .splay_usec = 300 * S,
                        .backoff_base_usec = 5 * S,
                        .backoff_max_usec = 900 * S,
                        .auth_retry_usec = 1800 * S,
                },
                .timeout_usec = 60 * S,
                .server_url = "https://cp.example.com/candlepin",
                .can_register = true,
                .own_identity = true,
        };
}

/* A mapping whose body is "{"g":N}" in mode. */
static Mapping *mapping_new(ReportMode mode, unsigned generation) {
        Mapping *m = calloc(1, sizeof(*m));

        cr_assert_not_null(m);
        m->n_ref = 1;
        m->mode = mode;
        cr_assert_geq(asprintf(&m->body, "{\"g\":%u}", generation), 0);
        m->body_len = strlen(m->body);
        m->m.hypervisor_id = "host-1";
        m->m.n_guests = generation;
        cr_assert_eq(proto_body_digest(m->body, m->body_len, m->digest), 0);
        return m;
}

/* The host changed: a new mapping generation. */
static void change(ReportMode mode) {
        Mapping *m = mapping_new(mode, ++f.generation);

        reporter_set_mapping(f.r, m);
        mapping_unref(m);
        reporter_run(f.r);
}

static const char *digest_of(unsigned generation) {
        static char d[PROTO_DIGEST_HEX_LEN + 1];
        char body[32];

        (void) snprintf(body, sizeof body, "{\"g\":%u}", generation);
        cr_assert_eq(proto_body_digest(body, strlen(body), d), 0);
        return d;
}

static void answer(ProtoResultKind kind, long http, bool maybe_applied) {
        ProtoResult res = { .kind = kind, .http_status = http, .maybe_applied = maybe_applied };
        char msg[64];

        (void) snprintf(msg, sizeof msg, "HTTP %ld", http);
        res.message = kind == PROTO_RESULT_OK ? NULL : msg;
        if (kind == PROTO_RESULT_RETRY_AFTER)
                res.retry_after_sec = 120;
        reporter_answer(f.r, &res);
        reporter_run(f.r);
}

static void answer_job(ProtoJobState state, const char *id) {
        ProtoJob job = { .id = (char *) id, .state = state, .result_text = (char *) "done" };
        ProtoResult res = { .kind = PROTO_RESULT_OK, .http_status = 200, .job = &job };

        reporter_answer(f.r, &res);
        reporter_run(f.r);
}

static void answer_register(const char *uuid) {
        ProtoConsumer c = { .uuid = (char *) uuid, .type_label = (char *) "hypervisor" };
        ProtoResult res = { .kind = PROTO_RESULT_OK, .http_status = 200, .consumer = &c };

        reporter_answer(f.r, &res);
        reporter_run(f.r);
}

/* Runs everything due up to `to` in time order; the upkeep's identity
 * check is answered at once ("still current"). */
static void advance_to(uint64_t to) {
        for (;;) {
                uint64_t next = reporter_next(f.r);

                if (reporter_busy(f.r) == REPORT_WORK_REFRESH || reporter_busy(f.r) == REPORT_WORK_SERIALS ||
                    (f.auto_ok && reporter_busy(f.r) == REPORT_WORK_REPORT)) {
                        answer(PROTO_RESULT_OK, 200, false);
                        continue;
                }
                if (next > to)
                        break;
                if (next > f.mono)
                        f.mono = next;
                reporter_run(f.r);
                if (reporter_next(f.r) <= f.mono && reporter_busy(f.r) == REPORT_WORK_NONE)
                        cr_assert_fail("the engine is due but starts nothing");
        }
        if (to > f.mono)
                f.mono = to;
}

static void advance(uint64_t usec) {
        advance_to(f.mono + usec);
}

static size_t count(ReportWork w) {
        size_t n = 0;

        for (size_t i = 0; i < f.n_reqs; i++)
                n += f.reqs[i].work == w;
        return n;
}

static const Req *last(ReportWork w) {
        static const Req none = { .work = REPORT_WORK_NONE };

        for (size_t i = f.n_reqs; i > 0; i--)
                if (f.reqs[i - 1].work == w)
                        return &f.reqs[i - 1];
        cr_expect_fail("no %s request was made", report_work_to_string(w));
        return &none;
}

static const char *phase(void) {
        char text[256];
        return reporter_describe(f.r, text, sizeof text);
}

static void setup_with(const ReportConfig *c, bool registered) {
        f = (Fake){ .mono = T0 };
        f.clock = (AppClock){ .now = fake_now, .userdata = &f };
        f.r = reporter_new(c, &ops, &f, &f.clock, 42);
        cr_assert_not_null(f.r);
        if (registered)
                reporter_set_identity(f.r, identity_new("11111111-2222-3333-4444-555555555555"));
}

static void setup(void) {
        ReportConfig c = config();
        setup_with(&c, true);
}

static void teardown(void) {
        f.r = reporter_free(f.r);
        state_done(&f.saved);
}

TestSuite(report, .init = setup, .fini = teardown);

Test(report, isolated_change_goes_at_once_and_is_recorded) {
        change(REPORT_GUESTIDS);
        cr_assert_eq(f.n_reqs, 1, "leading edge: sent at once");
        cr_expect_eq(f.reqs[0].at, T0);
        cr_expect_str_eq(phase(), "watching");
        answer(PROTO_RESULT_OK, 204, false);
        cr_expect_str_eq(f.saved.accepted_digest, digest_of(1));
        cr_expect_str_eq(f.saved.accepted_consumer, "11111111-2222-3333-4444-555555555555");
        cr_expect_eq(f.saved.last_http_status, 204, "the server's real status");
        cr_expect_eq(f.saved.reports_sent, 1);
        cr_expect_str_eq(f.saved.last_result, "ok");
        advance(3000 * S);
        cr_expect_eq(count(REPORT_WORK_REPORT), 1, "nothing changed: nothing sent before the interval");
}

Test(report, burst_coalesces_behind_min_gap_and_ends_exact) {
        change(REPORT_GUESTIDS);
        answer(PROTO_RESULT_OK, 200, false);
        /* 1 000 changes within 650 ms. */
        for (int i = 0; i < 1000; i++) {
                f.mono += 650;
                change(REPORT_GUESTIDS);
        }
        advance(10 * S);
        cr_assert_eq(count(REPORT_WORK_REPORT), 2, "first change at once, the rest together after min_gap");
        cr_expect_eq(last(REPORT_WORK_REPORT)->at, T0 + 5 * S);
        cr_expect_str_eq(last(REPORT_WORK_REPORT)->digest, digest_of(1001), "the last report is exact");
        answer(PROTO_RESULT_OK, 200, false);
        cr_expect_str_eq(f.saved.accepted_digest, digest_of(1001));
}

Test(report, min_gap_between_isolated_changes) {
        change(REPORT_GUESTIDS);
        answer(PROTO_RESULT_OK, 200, false);
        advance(1 * S);
        change(REPORT_GUESTIDS);
        cr_expect_eq(count(REPORT_WORK_REPORT), 1);
        advance(10 * S);
        cr_expect_eq(count(REPORT_WORK_REPORT), 2);
        cr_expect_eq(last(REPORT_WORK_REPORT)->at, T0 + 5 * S);
}

Test(report, retry_after_is_never_beaten_even_by_sigusr1) {
        change(REPORT_GUESTIDS);
        answer(PROTO_RESULT_RETRY_AFTER, 429, false);
        cr_expect_str_eq(phase(), "rate-limited");
        reporter_force(f.r);
        advance(119 * S);
        cr_expect_eq(count(REPORT_WORK_REPORT), 1, "no request inside Retry-After");
        advance(2 * S);
        cr_expect_eq(count(REPORT_WORK_REPORT), 2);
        cr_expect_geq(last(REPORT_WORK_REPORT)->at, T0 + 120 * S);
}

Test(report, backoff_grows_with_full_jitter_up_to_the_cap) {
        uint64_t prev = T0;

        change(REPORT_GUESTIDS);
        for (unsigned n = 1; n <= 12; n++) {
                uint64_t window = n >= 8 ? 900 * S : (5 * S) << (n - 1);
                const Req *q;

                answer(PROTO_RESULT_TEMPORARY, 500, false);
                cr_expect_str_eq(phase(), "backing-off");
                cr_expect_eq(f.saved.consecutive_failures, n);
                advance(window + 1);
                q = last(REPORT_WORK_REPORT);
                cr_assert_eq(count(REPORT_WORK_REPORT), n + 1, "attempt %u within its window", n + 1);
                cr_expect_leq(q->at - prev, window, "attempt %u: window %llu s", n + 1,
                              (unsigned long long) (window / S));
                cr_expect_geq(q->at - prev, 5 * S, "never inside min_gap");
                prev = q->at;
                f.mono = q->at;
        }
        answer(PROTO_RESULT_OK, 200, false);
        cr_expect_eq(f.saved.consecutive_failures, 0);
}

/* stderr into a file from now on (the engine logs there outside systemd);
 * returns its fd for captured(). */
static int capture_stderr(void) {
        char path[] = "/tmp/hvmap-test-log-XXXXXX";
        int fd = mkostemp(path, O_CLOEXEC);

        cr_assert_geq(fd, 0);
        (void) unlink(path);
        log_set_target(LOG_TARGET_STDERR);
        cr_assert_geq(dup2(fd, STDERR_FILENO), 0);
        return fd;
}

/* How often needle occurs in what was written to fd. */
static unsigned captured(int fd, const char *needle) {
        static char buf[1 << 20];
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        unsigned k = 0;

        cr_assert_geq(n, 0);
        buf[n] = '\0';
        for (const char *p = buf; (p = strstr(p, needle)); p++)
                k++;
        return k;
}

Test(report, failing_for_an_hour_is_logged_once_per_run_of_failures) {
        int fd = capture_stderr();
        uint64_t start;

        change(REPORT_GUESTIDS);
        start = f.mono;
        for (int round = 1; round <= 2; round++) {
                /* Every attempt fails until an hour has passed, and longer. */
                while (f.mono < start + 2 * 3600 * S) {
                        answer(PROTO_RESULT_TEMPORARY, 503, true);
                        cr_expect_eq(f.saved.failing_since_usec, REAL_BASE + start,
                                     "since the first failure");
                        advance(900 * S + 1);
                        cr_assert_neq(reporter_busy(f.r), REPORT_WORK_NONE,
                                      "retried within the backoff cap");
                }
                cr_expect_eq(captured(fd, "has failed ("), (unsigned) round,
                             "logged once per run of failures (round %d)", round);
                cr_expect_geq(f.saved.requests[PROTO_RESULT_TEMPORARY], 8);
                /* A success ends the run; the next one is logged again. */
                answer(PROTO_RESULT_OK, 204, false);
                cr_expect_eq(f.saved.failing_since_usec, 0);
                cr_expect_geq(f.saved.requests[PROTO_RESULT_OK], (uint64_t) round,
                              "counted with the upkeep's");
                change(REPORT_GUESTIDS);
                start = f.mono;
        }
        /* Short failures are not worth it. */
        answer(PROTO_RESULT_TEMPORARY, 503, true);
        advance(600 * S);
        answer(PROTO_RESULT_TEMPORARY, 503, true);
        cr_expect_eq(captured(fd, "has failed ("), 2);
        close(fd);
}

Test(report, register_after_a_respected_deletion_starts_at_once) {
        ReportConfig c = config();
        State st = {};

        /* The daemon saw the consumer deleted and removed the identity;
         * then the operator runs hvmap register. */
        reporter_free(f.r);
        setup_with(&c, false);
        st.last_result = strdup("gone");
        st.consecutive_failures = 1;
        reporter_restore(f.r, &st);
        state_done(&st);
        cr_expect_str_eq(phase(), "consumer-deleted");
        reporter_oneshot(f.r, REPORT_WORK_REGISTER);
        change(REPORT_GUESTIDS);
        cr_assert_eq(reporter_busy(f.r), REPORT_WORK_REGISTER, "registering, not waiting forever");
        answer_register("99999999-2222-3333-4444-555555555555");
        cr_expect(reporter_done(f.r));
        cr_expect_str_eq(reporter_identity(f.r)->uuid, "99999999-2222-3333-4444-555555555555");
}

Test(report, auth_failure_waits_long_but_sigusr1_retries_after_min_gap) {
        change(REPORT_GUESTIDS);
        answer(PROTO_RESULT_AUTH, 401, false);
        cr_expect_str_eq(phase(), "auth-failed");
        advance(600 * S);
        cr_expect_eq(count(REPORT_WORK_REPORT), 1, "no retry within 10 min of a 401");
        reporter_force(f.r);
        advance(1 * MS);
        cr_expect_eq(count(REPORT_WORK_REPORT), 2, "an operator's SIGUSR1 retries at once (min_gap passed)");
        answer(PROTO_RESULT_AUTH, 403, false);
        advance(1799 * S);
        cr_expect_eq(count(REPORT_WORK_REPORT), 2);
        advance(2 * S);
        cr_expect_eq(count(REPORT_WORK_REPORT), 3, "the slow retry after 30 min");
}

Test(report, consumer_deleted_stops_and_says_so) {
        change(REPORT_GUESTIDS);
        answer(PROTO_RESULT_GONE, 410, false);
        cr_expect_eq(f.removes, 1, "the deleted identity is removed");
        cr_expect_null(reporter_identity(f.r));
        cr_expect_null(f.saved.accepted_digest);
        cr_expect_str_eq(f.saved.last_result, "gone");
        cr_expect_str_eq(phase(), "consumer-deleted");
        f.auto_ok = true;
        advance(7200 * S);
        cr_expect_eq(f.n_reqs, 1, "an administrator's deletion is respected: nothing more is sent");
}

Test(report, consumer_deleted_registers_again_once_after_the_delay_when_configured) {
        ReportConfig c = config();

        teardown();
        c.reregister_delay_usec = 3600 * S;
        setup_with(&c, true);
        change(REPORT_GUESTIDS);
        answer(PROTO_RESULT_GONE, 410, false);
        advance(3600 * S - 1);
        cr_expect_eq(count(REPORT_WORK_REGISTER), 0, "not before the delay");
        advance(2);
        cr_assert_eq(count(REPORT_WORK_REGISTER), 1, "exactly one registration after the delay");
        answer_register("99999999-2222-3333-4444-555555555555");
        cr_expect_eq(f.identity_changes, 1, "a new client for the new certificate");
        advance(10 * S);
        cr_assert_eq(count(REPORT_WORK_REPORT), 2, "the guests go to the new consumer");
        /* Deleted again at once: no loop, one more attempt an hour later. */
        answer(PROTO_RESULT_GONE, 410, false);
        advance(3000 * S);
        cr_expect_eq(count(REPORT_WORK_REGISTER), 1);
}

Test(report, a_registration_answered_with_subscription_managers_consumer_is_not_stored) {
        ReportConfig c = config();
        ProtoConsumer sys = { .uuid = (char *) "5a5a5a5a-2222-3333-4444-555555555555",
                              .type_label = (char *) "system" };
        ProtoResult res = { .kind = PROTO_RESULT_OK, .http_status = 200, .consumer = &sys };

        teardown();
        c.foreign_uuid = "5a5a5a5a-2222-3333-4444-555555555555";
        setup_with(&c, false);
        change(REPORT_GUESTIDS);
        cr_assert_eq(count(REPORT_WORK_REGISTER), 1);
        reporter_answer(f.r, &res);
        cr_expect_null(reporter_identity(f.r), "never stored, never used");
        cr_expect_eq(f.identity_changes, 0);
        cr_expect_not_null(strstr(f.saved.last_message, "subscription-manager"), "%s", f.saved.last_message);
        /* The same uuid claiming to be a hypervisor is refused too. */
        sys.type_label = (char *) "hypervisor";
        advance(3600 * S);
        cr_assert_eq(count(REPORT_WORK_REGISTER), 2);
        reporter_answer(f.r, &res);
        cr_expect_null(reporter_identity(f.r));
}

Test(report, checkin_finished_with_our_host_failed_is_a_failure) {
        char *failed[] = { (char *) "host-1: Unable to find hypervisor with id host-1 in org acme", NULL };
        ProtoJob job = { .id = (char *) "j2", .state = PROTO_JOB_FINISHED, .failed_update = failed };
        ProtoResult res = { .kind = PROTO_RESULT_OK, .http_status = 200, .job = &job };

        reporter_oneshot(f.r, REPORT_WORK_REPORT);
        change(REPORT_CHECKIN);
        reporter_answer(f.r, &res);
        cr_expect(reporter_done(f.r));
        cr_expect_neq(reporter_outcome(f.r)->kind, PROTO_RESULT_OK);
        cr_expect_not_null(strstr(reporter_outcome(f.r)->message, "Unable to find hypervisor"));
        cr_expect_null(f.saved.accepted_digest);
}

Test(report, consumer_deleted_without_credentials_stops) {
        ReportConfig c = config();

        teardown();
        c.can_register = false;
        setup_with(&c, true);
        change(REPORT_GUESTIDS);
        answer(PROTO_RESULT_GONE, 410, false);
        cr_expect_str_eq(phase(), "consumer-deleted");
        advance(7200 * S);
        cr_expect_eq(f.n_reqs, 1, "nothing more is sent");
}

Test(report, timeout_then_acceptance_is_confirmed_after_two_timeouts) {
        change(REPORT_GUESTIDS);
        f.mono += 60 * S;
        answer(PROTO_RESULT_TEMPORARY, 0, true); /* client timeout */
        cr_expect_neq(f.saved.unconfirmed_until_usec, 0);
        advance(30 * S);
        cr_assert_eq(count(REPORT_WORK_REPORT), 2, "retried");
        answer(PROTO_RESULT_OK, 200, false);
        cr_expect_str_eq(f.saved.last_result, "ok");
        /* The first PUT may still land until T0 + 120 s: confirm after. */
        advance_to(T0 + 120 * S - 1);
        cr_expect_eq(count(REPORT_WORK_REPORT), 2);
        advance_to(T0 + 121 * S);
        cr_assert_eq(count(REPORT_WORK_REPORT), 3, "confirmed once");
        cr_expect_str_eq(last(REPORT_WORK_REPORT)->digest, digest_of(1));
        answer(PROTO_RESULT_OK, 200, false);
        cr_expect_eq(f.saved.unconfirmed_until_usec, 0, "nothing left to confirm");
        advance(3000 * S);
        cr_expect_eq(count(REPORT_WORK_REPORT), 3, "and no more");
}

Test(report, gateway_error_counts_as_unknown_outcome) {
        change(REPORT_GUESTIDS);
        answer(PROTO_RESULT_TEMPORARY, 504, true);
        advance(60 * S);
        answer(PROTO_RESULT_OK, 200, false);
        advance(200 * S);
        cr_expect_eq(count(REPORT_WORK_REPORT), 3, "a 504's report is confirmed like a timeout's");
}

Test(report, refused_connection_needs_no_confirmation) {
        change(REPORT_GUESTIDS);
        answer(PROTO_RESULT_TEMPORARY, 0, false); /* connection refused */
        advance(60 * S);
        answer(PROTO_RESULT_OK, 200, false);
        advance(600 * S);
        cr_expect_eq(count(REPORT_WORK_REPORT), 2);
}

Test(report, reload_drops_report_in_flight_which_is_never_accepted_and_confirmed) {
        change(REPORT_GUESTIDS);
        answer(PROTO_RESULT_OK, 200, false);
        advance(10 * S);
        change(REPORT_GUESTIDS); /* generation 2, in flight */
        cr_assert_eq(count(REPORT_WORK_REPORT), 2);
        reporter_drop(f.r); /* SIGHUP */
        cr_expect_eq(f.cancels, 1);
        cr_expect_str_eq(f.saved.accepted_digest, digest_of(1), "the dropped report is not accepted");
        change(REPORT_GUESTIDS); /* generation 3 */
        advance(10 * S);
        cr_assert_eq(count(REPORT_WORK_REPORT), 3);
        answer(PROTO_RESULT_OK, 200, false);
        cr_expect_str_eq(f.saved.accepted_digest, digest_of(3));
        /* Generation 2's PUT may land until its start + 120 s. */
        advance_to(T0 + 10 * S + 121 * S);
        cr_assert_eq(count(REPORT_WORK_REPORT), 4, "confirmed after the dropped one could land");
        cr_expect_str_eq(last(REPORT_WORK_REPORT)->digest, digest_of(3));
}

Test(report, stop_with_report_in_flight_is_confirmed_after_restart) {
        State st = {};
        ReportConfig c = config();

        change(REPORT_GUESTIDS);
        reporter_stop(f.r);
        reporter_drop(f.r); /* SIGTERM's grace ran out */
        cr_expect_null(f.saved.accepted_digest);
        cr_assert_neq(f.saved.unconfirmed_until_usec, 0);
        st = f.saved;
        f.saved = (State){};
        reporter_free(f.r);

        /* The next start, 30 s later, with the state file. */
        f.mono += 30 * S;
        f.r = reporter_new(&c, &ops, &f, &f.clock, 7);
        reporter_restore(f.r, &st);
        state_done(&st);
        reporter_set_identity(f.r, identity_new("11111111-2222-3333-4444-555555555555"));
        f.n_reqs = 0;
        change(REPORT_GUESTIDS);
        cr_assert_eq(count(REPORT_WORK_REPORT), 1);
        answer(PROTO_RESULT_OK, 200, false);
        advance_to(T0 + 121 * S);
        cr_expect_eq(count(REPORT_WORK_REPORT), 2, "confirmed once the old one cannot land any more");
}

Test(report, unchanged_mapping_after_restart_sends_nothing) {
        State st = {};
        ReportConfig c = config();

        change(REPORT_GUESTIDS);
        answer(PROTO_RESULT_OK, 200, false);
        st = f.saved;
        f.saved = (State){};
        reporter_free(f.r);
        f.mono += 60 * S;
        f.r = reporter_new(&c, &ops, &f, &f.clock, 7);
        reporter_restore(f.r, &st);
        state_done(&st);
        reporter_set_identity(f.r, identity_new("11111111-2222-3333-4444-555555555555"));
        f.n_reqs = 0;
        f.generation = 0;
        change(REPORT_GUESTIDS); /* generation 1 again: the same bytes */
        advance(1000 * S);
        cr_expect_eq(f.n_reqs, 0);
}

Test(report, checkin_job_created_running_finished) {
        change(REPORT_CHECKIN);
        answer_job(PROTO_JOB_CREATED, "hypervisor_update_1");
        cr_expect_null(f.saved.accepted_digest, "a queued job is not an accepted report");
        cr_expect_eq(reporter_busy(f.r), REPORT_WORK_JOB);
        advance(2 * S);
        cr_assert_eq(count(REPORT_WORK_JOB), 1);
        cr_expect_str_eq(last(REPORT_WORK_JOB)->job_id, "hypervisor_update_1");
        answer_job(PROTO_JOB_RUNNING, "hypervisor_update_1");
        change(REPORT_CHECKIN); /* a change while the job runs waits for it */
        advance(4 * S);
        cr_assert_eq(count(REPORT_WORK_JOB), 2);
        cr_expect_eq(count(REPORT_WORK_REPORT), 1);
        answer_job(PROTO_JOB_FINISHED, "hypervisor_update_1");
        cr_expect_str_eq(f.saved.accepted_digest, digest_of(1));
        advance(10 * S);
        cr_expect_eq(count(REPORT_WORK_REPORT), 2, "then the change is checked in");
}

Test(report, checkin_job_failed_is_a_failure_with_the_servers_text) {
        change(REPORT_CHECKIN);
        answer_job(PROTO_JOB_CREATED, "j1");
        advance(2 * S);
        answer_job(PROTO_JOB_FAILED, "j1");
        cr_expect_str_eq(phase(), "backing-off");
        cr_expect_null(f.saved.accepted_digest);
        cr_expect_not_null(strstr(f.saved.last_message, "FAILED"), "%s", f.saved.last_message);
}

Test(report, sigusr1_storm_coalesces) {
        change(REPORT_GUESTIDS);
        answer(PROTO_RESULT_OK, 200, false);
        advance(60 * S);
        f.n_reqs = 0;
        for (int i = 0; i < 200; i++) {
                reporter_force(f.r);
                reporter_run(f.r);
                if (reporter_busy(f.r) == REPORT_WORK_REPORT)
                        answer(PROTO_RESULT_OK, 200, false);
                advance(10 * MS);
        }
        advance(30 * S);
        cr_expect_leq(count(REPORT_WORK_REPORT), 2, "200 × SIGUSR1 in 2 s: %zu reports",
                      count(REPORT_WORK_REPORT));
        cr_expect_geq(count(REPORT_WORK_REPORT), 1);
}

Test(report, registers_when_it_can_and_reports_at_once) {
        ReportConfig c = config();

        teardown();
        setup_with(&c, false);
        cr_expect_str_eq(phase(), "watching");
        change(REPORT_GUESTIDS);
        cr_assert_eq(count(REPORT_WORK_REGISTER), 1);
        answer_register("abcdef00-2222-3333-4444-555555555555");
        advance(10 * S);
        cr_assert_eq(count(REPORT_WORK_REPORT), 1);
        answer(PROTO_RESULT_OK, 200, false);
        cr_expect_str_eq(f.saved.accepted_consumer, "abcdef00-2222-3333-4444-555555555555");
}

Test(report, not_registered_and_no_credentials_sends_nothing) {
        ReportConfig c = config();

        teardown();
        c.can_register = false;
        setup_with(&c, false);
        change(REPORT_GUESTIDS);
        advance(7200 * S);
        cr_expect_eq(f.n_reqs, 0);
        cr_expect_str_eq(phase(), "not-registered");
}

Test(report, identity_upkeep_spread_then_every_four_hours) {
        f.auto_ok = true; /* the hourly re-sends succeed */
        change(REPORT_GUESTIDS);
        answer(PROTO_RESULT_OK, 200, false);
        advance(10 * 60 * S - 1);
        cr_expect_eq(count(REPORT_WORK_REFRESH), 0, "never in the first 10 minutes");
        advance(4 * 3600 * S + 1);
        cr_expect_eq(count(REPORT_WORK_REFRESH), 1, "once in the first 10 min + 4 h");
        cr_expect_eq(count(REPORT_WORK_SERIALS), 1, "and a check-in (certificate serials) with it");
        advance(2 * 4 * 3600 * S);
        cr_expect_geq(count(REPORT_WORK_REFRESH), 2);
        cr_expect_leq(count(REPORT_WORK_REFRESH), 3);
}

Test(report, oneshot_report_polls_its_job_and_stops) {
        reporter_oneshot(f.r, REPORT_WORK_REPORT);
        change(REPORT_CHECKIN);
        cr_assert_eq(count(REPORT_WORK_REPORT), 1);
        answer_job(PROTO_JOB_CREATED, "j9");
        cr_expect(!reporter_done(f.r));
        advance(2 * S);
        answer_job(PROTO_JOB_FINISHED, "j9");
        cr_expect(reporter_done(f.r));
        cr_expect_eq(reporter_outcome(f.r)->kind, PROTO_RESULT_OK);
        cr_expect_str_eq(f.saved.accepted_digest, digest_of(1));
        advance(7200 * S);
        cr_expect_eq(f.n_reqs, 2, "a one-shot does one thing");
}

Test(report, oneshot_failure_does_not_retry) {
        reporter_oneshot(f.r, REPORT_WORK_REPORT);
        change(REPORT_GUESTIDS);
        answer(PROTO_RESULT_TEMPORARY, 503, true);
        cr_expect(reporter_done(f.r));
        cr_expect_eq(reporter_outcome(f.r)->http_status, 503);
        advance(7200 * S);
        cr_expect_eq(f.n_reqs, 1);
}
