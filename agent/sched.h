/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The report scheduler: a pure timing policy. Given what happened (changes,
 * sends, results) and the clock values the caller passes in, it says when the
 * next report is due. No I/O, no logging, no clock of its own, no randomness
 * of its own: jitter comes in as a number, so tests are exact. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define SCHED_NEVER UINT64_MAX

typedef struct SchedConfig {
        uint64_t debounce_usec; /* after the first change of a quiet period */
        uint64_t min_gap_usec; /* between two report attempts, always */
        uint64_t interval_usec; /* re-send an unchanged mapping */
        uint64_t splay_usec; /* per-host offset range for periodic reports */
        uint64_t backoff_base_usec; /* first retry window after a failure */
        uint64_t backoff_max_usec; /* cap of the retry window */
        uint64_t auth_retry_usec; /* at least this long after an authentication failure */
} SchedConfig;

typedef enum SchedResult {
        SCHED_RESULT_OK,
        SCHED_RESULT_RETRY_AFTER, /* 429: never before the given delay */
        SCHED_RESULT_TEMPORARY, /* 5xx, timeout, connection error, malformed answer */
        SCHED_RESULT_AUTH, /* 401/403: slow retry */
        SCHED_RESULT_PERMANENT, /* 4xx the server will repeat: back off to the cap */
        SCHED_RESULT_GONE, /* our consumer was deleted: stop until the identity is back */
} SchedResult;

typedef struct Sched {
        bool dirty; /* the mapping differs from what the server last accepted */
        uint64_t dirty_since; /* when it became so */
        bool in_flight; /* a report is being sent */
        bool forced; /* report now (SIGUSR1), whatever changed */
        bool gone; /* identity lost: nothing is due */
        uint64_t last_attempt; /* start of the last send; 0 = never */
        uint64_t last_success; /* when the server last accepted; 0 = never */
        unsigned failures; /* consecutive failed attempts */
        uint64_t not_before; /* backoff or Retry-After deadline */
        uint64_t retry_after_until; /* the server's own Retry-After deadline: even a forced report waits */
        uint64_t splay_offset; /* this host's fixed offset in [0, splay) */
} Sched;

/* Starts the policy. splay_seed should be stable per host (e.g. a hash of
 * the hypervisor id) so a restart keeps the host's place in the fleet;
 * last_success comes from the state file (0 = never). */
void sched_init(Sched *s, const SchedConfig *c, uint64_t splay_seed, uint64_t last_success);

/* The caller compared the current mapping with the accepted one. */
void sched_set_dirty(Sched *s, bool dirty, uint64_t now);

/* Report now, once (SIGUSR1, a confirmation): bypasses the debounce, the
 * interval and our own backoff (an operator who fixed the credentials
 * should not wait out the slow authentication retry), but never min_gap
 * after the last attempt and never the server's Retry-After. Repeated
 * calls before the report starts coalesce into one. */
void sched_force(Sched *s);

/* The identity is usable again (registered anew): reports may resume. */
void sched_identity_restored(Sched *s);

/* Absolute time the next report is due, or SCHED_NEVER. Due when now ≥ it. */
uint64_t sched_next(const Sched *s, const SchedConfig *c);

void sched_started(Sched *s, uint64_t now);

/* Records the outcome of the report started last. retry_after_usec is used
 * for SCHED_RESULT_RETRY_AFTER; rnd is a uniformly random 64-bit number for
 * the full-jitter backoff. On OK the mapping counts as accepted (dirty is
 * cleared); the caller then calls sched_set_dirty() if it changed meanwhile. */
void sched_finished(Sched *s, const SchedConfig *c, SchedResult result, uint64_t retry_after_usec,
                    uint64_t now, uint64_t rnd);

/* The retry window after n consecutive failures: base·2^(n−1), capped. */
uint64_t sched_backoff_window(const SchedConfig *c, unsigned failures);

/* Identity upkeep (GET /consumers/{uuid}, which lets the server renew a
 * certificate within 90 days of expiry, then the certificate serials,
 * which count as a check-in; rhsmcertd does both every 4 h). The first
 * comes interval/24 (10 min for 4 h) after start plus a random part of the
 * interval, so a fleet restarted at once does not ask in the same second
 * (scripts/bench case 6); then every interval plus up to 10 % jitter; an
 * upkeep that finds another request in flight waits a minute. rnd is a
 * uniformly random number. Pure. */
#define SCHED_UPKEEP_INTERVAL_USEC (4 * UINT64_C(3600) * UINT64_C(1000000))
#define SCHED_UPKEEP_BUSY_USEC (UINT64_C(60) * UINT64_C(1000000))
uint64_t sched_upkeep_first_delay(uint64_t interval_usec, uint64_t rnd);
uint64_t sched_upkeep_next_delay(uint64_t interval_usec, uint64_t rnd);
