/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The scheduler under a fake clock: debounce, min gap, interval + splay,
 * backoff with full jitter, Retry-After, auth, gone, bursts. */
#include <criterion/criterion.h>

#include "agent/sched.h"
#include "util/parse.h"
#include "util/random.h"

#define S USEC_PER_SEC
#define MS USEC_PER_MSEC

static const SchedConfig cfg = {
        .debounce_usec = 500 * MS,
        .min_gap_usec = 5 * S,
        .interval_usec = 3600 * S,
        .splay_usec = 300 * S,
        .backoff_base_usec = 5 * S,
        .backoff_max_usec = 900 * S,
        .auth_retry_usec = 1800 * S,
};

/* The agent's own generator, on a fixed seed. */
static uint64_t rng_state = 42;
static uint64_t rnd(void) {
        return splitmix64(&rng_state);
}

Test(sched, leading_edge_with_the_default_debounce) {
        SchedConfig c = cfg;
        Sched s;

        c.debounce_usec = 0;
        sched_init(&s, &c, 0, 1000 * S);
        /* Quiet: nothing sent within min_gap, so the change goes at once. */
        sched_set_dirty(&s, true, 2000 * S);
        cr_expect_eq(sched_next(&s, &c), 2000 * S);
        sched_started(&s, 2000 * S);
        sched_finished(&s, &c, SCHED_RESULT_OK, 0, 2000 * S + 10 * MS, rnd());
        /* The burst's next changes coalesce until min_gap after that send. */
        sched_set_dirty(&s, true, 2000 * S + 20 * MS);
        sched_set_dirty(&s, true, 2000 * S + 600 * MS);
        cr_expect_eq(sched_next(&s, &c), 2005 * S);
}

Test(sched, first_change_is_debounced) {
        Sched s;

        sched_init(&s, &cfg, 0, 1000 * S);
        cr_expect_eq(sched_next(&s, &cfg), 1000 * S + 3600 * S, "idle: periodic at last_success + interval");
        sched_set_dirty(&s, true, 2000 * S);
        cr_expect_eq(sched_next(&s, &cfg), 2000 * S + 500 * MS);
        /* More changes do not push the deadline out. */
        sched_set_dirty(&s, true, 2000 * S + 300 * MS);
        cr_expect_eq(sched_next(&s, &cfg), 2000 * S + 500 * MS);
}

Test(sched, min_gap_between_attempts) {
        Sched s;
        uint64_t t = 100 * S;

        sched_init(&s, &cfg, 0, 1);
        sched_set_dirty(&s, true, t);
        t = sched_next(&s, &cfg);
        sched_started(&s, t);
        cr_expect_eq(sched_next(&s, &cfg), SCHED_NEVER, "nothing while in flight");
        sched_finished(&s, &cfg, SCHED_RESULT_OK, 0, t + 50 * MS, rnd());
        sched_set_dirty(&s, true, t + 100 * MS);
        cr_expect_eq(sched_next(&s, &cfg), t + 5 * S, "min_gap after the last attempt, not debounce");
}

Test(sched, burst_of_any_size_is_bounded) {
        /* 10 000 changes spread over 2 s: count attempts until quiet. */
        Sched s;
        uint64_t t0 = 1000 * S, now = t0, end = t0 + 2 * S;
        unsigned reports = 0, i = 0;

        sched_init(&s, &cfg, 0, 1);
        while (now < end + 60 * S) {
                uint64_t due = sched_next(&s, &cfg);
                uint64_t next_change = i < 10000 ? t0 + (uint64_t) i * (2 * S / 10000) : SCHED_NEVER;

                if (next_change <= due && next_change != SCHED_NEVER) {
                        now = next_change;
                        sched_set_dirty(&s, true, now);
                        i++;
                        continue;
                }
                if (due == SCHED_NEVER || due > end + 60 * S)
                        break;
                now = due;
                sched_started(&s, now);
                reports++;
                sched_finished(&s, &cfg, SCHED_RESULT_OK, 0, now + 20 * MS, rnd());
                now += 20 * MS;
        }
        cr_expect_eq(i, 10000);
        cr_expect(!s.dirty, "the last report covered the last change");
        cr_expect_leq(reports, 2 * S / (5 * S) + 2, "got %u reports", reports);
        cr_expect_geq(reports, 2);
}

Test(sched, periodic_with_splay_is_stable_per_host) {
        Sched a, b, a2;

        sched_init(&a, &cfg, 12345, 10 * S);
        sched_init(&b, &cfg, 99999, 10 * S);
        sched_init(&a2, &cfg, 12345, 10 * S);
        cr_expect_eq(a.splay_offset, 12345 % (300 * S));
        cr_expect_eq(sched_next(&a, &cfg), sched_next(&a2, &cfg), "same seed, same slot after a restart");
        cr_expect_neq(sched_next(&a, &cfg), sched_next(&b, &cfg));
        cr_expect_lt(a.splay_offset, cfg.splay_usec);
}

Test(sched, zero_splay) {
        SchedConfig c = cfg;
        Sched s;

        c.splay_usec = 0;
        sched_init(&s, &c, 777, 10 * S);
        cr_expect_eq(s.splay_offset, 0);
        cr_expect_eq(sched_next(&s, &c), 10 * S + 3600 * S);
}

Test(sched, backoff_window_doubles_to_cap) {
        cr_expect_eq(sched_backoff_window(&cfg, 0), 0);
        cr_expect_eq(sched_backoff_window(&cfg, 1), 5 * S);
        cr_expect_eq(sched_backoff_window(&cfg, 2), 10 * S);
        cr_expect_eq(sched_backoff_window(&cfg, 5), 80 * S);
        cr_expect_eq(sched_backoff_window(&cfg, 9), 900 * S);
        cr_expect_eq(sched_backoff_window(&cfg, 10000), 900 * S, "no overflow on long outages");
}

Test(sched, failures_back_off_with_full_jitter_and_never_storm) {
        Sched s;
        uint64_t now = 100 * S, prev = 0;
        unsigned attempts = 0;

        sched_init(&s, &cfg, 0, 1);
        sched_set_dirty(&s, true, now);
        /* The server is down for one hour. */
        while (now < 100 * S + 3600 * S) {
                uint64_t due = sched_next(&s, &cfg);

                cr_assert_neq(due, SCHED_NEVER);
                now = due > now ? due : now;
                if (prev)
                        cr_assert_geq(now - prev, cfg.min_gap_usec, "attempts at least min_gap apart");
                prev = now;
                sched_started(&s, now);
                attempts++;
                sched_finished(&s, &cfg, SCHED_RESULT_TEMPORARY, 0, now + 1 * S, rnd());
                cr_assert_leq(s.not_before, now + 1 * S + cfg.backoff_max_usec, "capped");
        }
        /* Full jitter up to a 15 min cap: far fewer than one per min_gap. */
        cr_expect_lt(attempts, 60, "%u attempts in an hour of outage", attempts);
        cr_expect_gt(attempts, 4);
        /* The server returns: the change is delivered, the counters reset. */
        now = sched_next(&s, &cfg);
        sched_started(&s, now);
        sched_finished(&s, &cfg, SCHED_RESULT_OK, 0, now, rnd());
        cr_expect_eq(s.failures, 0);
        cr_expect(!s.dirty);
        cr_expect_eq(sched_next(&s, &cfg), now + 3600 * S);
}

Test(sched, retry_after_is_a_floor) {
        Sched s;

        sched_init(&s, &cfg, 0, 1);
        sched_set_dirty(&s, true, 10 * S);
        sched_started(&s, 11 * S);
        /* rnd = 0 gives zero jitter: Retry-After alone decides. */
        sched_finished(&s, &cfg, SCHED_RESULT_RETRY_AFTER, 3 * S, 11 * S, 0);
        cr_expect_eq(sched_next(&s, &cfg), 11 * S + 5 * S, "min_gap (5 s) > Retry-After (3 s)");

        sched_started(&s, 16 * S);
        sched_finished(&s, &cfg, SCHED_RESULT_RETRY_AFTER, 120 * S, 16 * S, 0);
        cr_expect_eq(sched_next(&s, &cfg), 16 * S + 120 * S);
        /* Even a forced report waits for Retry-After. */
        sched_force(&s);
        cr_expect_eq(sched_next(&s, &cfg), 16 * S + 120 * S);
}

Test(sched, auth_failure_retries_slowly) {
        Sched s;

        sched_init(&s, &cfg, 0, 1);
        sched_set_dirty(&s, true, 10 * S);
        sched_started(&s, 11 * S);
        sched_finished(&s, &cfg, SCHED_RESULT_AUTH, 0, 11 * S, 0);
        cr_expect_eq(sched_next(&s, &cfg), 11 * S + 1800 * S);
        /* An operator who fixed the credentials may ask for a report now. */
        sched_force(&s);
        cr_expect_eq(sched_next(&s, &cfg), 11 * S + 5 * S,
                     "a forced report skips our own backoff, not min_gap");
}

Test(sched, gone_stops_until_identity_restored) {
        Sched s;

        sched_init(&s, &cfg, 0, 1);
        sched_set_dirty(&s, true, 10 * S);
        sched_started(&s, 11 * S);
        sched_finished(&s, &cfg, SCHED_RESULT_GONE, 0, 11 * S, rnd());
        cr_expect_eq(sched_next(&s, &cfg), SCHED_NEVER);
        sched_force(&s);
        cr_expect_eq(sched_next(&s, &cfg), SCHED_NEVER, "nothing can be sent without an identity");
        sched_identity_restored(&s);
        cr_expect_eq(s.dirty, true, "the unsent change is still owed");
        cr_expect_eq(sched_next(&s, &cfg), 11 * S + 5 * S, "forced: due once min_gap has passed");
}

Test(sched, force_bypasses_debounce_and_interval_not_gap) {
        Sched s;

        sched_init(&s, &cfg, 0, 100 * S);
        sched_force(&s);
        cr_expect_eq(sched_next(&s, &cfg), 0, "nothing sent yet: at once");
        sched_started(&s, 100 * S);
        sched_finished(&s, &cfg, SCHED_RESULT_OK, 0, 100 * S, rnd());
        sched_force(&s);
        sched_force(&s);
        cr_expect_eq(sched_next(&s, &cfg), 105 * S, "forced reports coalesce and keep min_gap");
        sched_started(&s, 105 * S);
        cr_expect(!s.forced, "a start consumes the force");
}

Test(sched, change_during_flight_is_sent_after) {
        Sched s;

        sched_init(&s, &cfg, 0, 1);
        sched_set_dirty(&s, true, 10 * S);
        sched_started(&s, 11 * S);
        /* The agent sees a change while the report is in flight ... */
        sched_finished(&s, &cfg, SCHED_RESULT_OK, 0, 11 * S + 200 * MS, rnd());
        /* ... and, comparing digests after the result, marks dirty again. */
        sched_set_dirty(&s, true, 11 * S + 200 * MS);
        cr_expect_eq(sched_next(&s, &cfg), 16 * S);
}

Test(sched, unchanged_after_restart_sends_nothing_early) {
        /* State says the server accepted this mapping 10 minutes ago. */
        Sched s;
        uint64_t now = 5000 * S;

        sched_init(&s, &cfg, 0, now - 600 * S);
        sched_set_dirty(&s, false, now);
        cr_expect_eq(sched_next(&s, &cfg), now - 600 * S + 3600 * S);
}
