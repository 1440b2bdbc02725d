/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The report scheduler's policy; see sched.h. */
#include "agent/sched.h"

static uint64_t max_u64(uint64_t a, uint64_t b) {
        return a > b ? a : b;
}

static uint64_t add_sat(uint64_t a, uint64_t b) {
        return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

void sched_init(Sched *s, const SchedConfig *c, uint64_t splay_seed, uint64_t last_success) {
        *s = (Sched){
                .last_success = last_success,
                .splay_offset = c->splay_usec > 0 ? splay_seed % c->splay_usec : 0,
        };
}

void sched_set_dirty(Sched *s, bool dirty, uint64_t now) {
        if (dirty && !s->dirty)
                s->dirty_since = now;
        s->dirty = dirty;
}

void sched_force(Sched *s) {
        s->forced = true;
}

void sched_identity_restored(Sched *s) {
        s->gone = false;
        s->failures = 0;
        s->not_before = 0;
        s->retry_after_until = 0;
}

uint64_t sched_backoff_window(const SchedConfig *c, unsigned failures) {
        uint64_t w = c->backoff_base_usec;

        if (failures == 0)
                return 0;
        for (unsigned i = 1; i < failures && w < c->backoff_max_usec; i++)
                w = add_sat(w, w);
        return w < c->backoff_max_usec ? w : c->backoff_max_usec;
}

uint64_t sched_next(const Sched *s, const SchedConfig *c) {
        uint64_t due;

        if (s->in_flight || s->gone)
                return SCHED_NEVER;

        if (s->forced) {
                due = s->retry_after_until;
                if (s->last_attempt > 0)
                        due = max_u64(due, add_sat(s->last_attempt, c->min_gap_usec));
                return due;
        }

        if (s->dirty)
                due = add_sat(s->dirty_since, c->debounce_usec);
        else
                due = add_sat(add_sat(s->last_success, c->interval_usec), s->splay_offset);

        /* Whatever the reason, two attempts are at least min_gap apart: a
         * burst of changes or a run of zero-jitter retries cannot storm. */
        if (s->last_attempt > 0)
                due = max_u64(due, add_sat(s->last_attempt, c->min_gap_usec));
        return max_u64(due, s->not_before);
}

void sched_started(Sched *s, uint64_t now) {
        s->in_flight = true;
        s->forced = false;
        s->last_attempt = now;
}

void sched_finished(Sched *s, const SchedConfig *c, SchedResult result, uint64_t retry_after_usec,
                    uint64_t now, uint64_t rnd) {
        uint64_t window, delay;

        s->in_flight = false;

        switch (result) {
        case SCHED_RESULT_OK:
                s->failures = 0;
                s->not_before = 0;
                s->retry_after_until = 0;
                s->last_success = now;
                s->dirty = false;
                return;
        case SCHED_RESULT_GONE:
                s->gone = true;
                return;
        case SCHED_RESULT_RETRY_AFTER:
        case SCHED_RESULT_TEMPORARY:
        case SCHED_RESULT_AUTH:
        case SCHED_RESULT_PERMANENT:
                break;
        }

        if (s->failures < UINT32_MAX)
                s->failures++;
        /* Full jitter: uniform in [0, window]. */
        window = sched_backoff_window(c, s->failures);
        delay = window == UINT64_MAX ? rnd : rnd % (window + 1);

        switch (result) {
        case SCHED_RESULT_RETRY_AFTER:
                delay = max_u64(delay, retry_after_usec);
                s->retry_after_until = add_sat(now, retry_after_usec);
                break;
        case SCHED_RESULT_AUTH:
                delay = max_u64(delay, c->auth_retry_usec);
                break;
        case SCHED_RESULT_OK:
        case SCHED_RESULT_GONE:
        case SCHED_RESULT_TEMPORARY:
        case SCHED_RESULT_PERMANENT:
                break;
        }
        s->not_before = add_sat(now, delay);
}

uint64_t sched_upkeep_first_delay(uint64_t interval_usec, uint64_t rnd) {
        if (interval_usec == 0)
                interval_usec = SCHED_UPKEEP_INTERVAL_USEC;
        return interval_usec / 24 + rnd % interval_usec;
}

uint64_t sched_upkeep_next_delay(uint64_t interval_usec, uint64_t rnd) {
        if (interval_usec == 0)
                interval_usec = SCHED_UPKEEP_INTERVAL_USEC;
        return interval_usec + rnd % (interval_usec / 10 + 1);
}
