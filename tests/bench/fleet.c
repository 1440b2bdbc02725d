/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hvmap-bench-fleet: what a fleet of hvmap daemons does to the server. N
 * hosts, each driven by agent/sched.c itself on a simulated clock, live
 * through a day of guest changes; at one moment every daemon restarts. The
 * parts of the daemon around the scheduler that send requests are modelled
 * from agent/daemon.c: one request in flight per host, the identity check
 * (GET /consumers/{uuid}) 10 min after start and then every 4 h plus up to
 * 10 % jitter, the splay slot from a hash of the host's id, and on restart
 * the last success taken from state.json ("warm": the state survived and the
 * guests did not change) or lost ("cold": first start, lost state, or
 * guests that changed while hvmap was down: every host is dirty).
 *
 * usage: hvmap-bench-fleet [--hosts N] [--hours H] [--changes-per-host-hour R]
 *            [--restart-at SEC|-1] [--restart warm|cold] [--restart-skew-ms MS]
 *            [--splay SEC] [--debounce-ms MS] [--min-gap SEC] [--interval SEC]
 *            [--latency-ms MS] [--seed S] [--upkeep-first-spread SEC] [--start-spread SEC]
 * The last two are what-ifs, not what the daemon does today: spread the
 * first identity check after a start over [10 min, 10 min + SEC), and hold
 * the first report after a start for a random [0, SEC).
 * prints one JSON object: totals, requests per hour, per-second and
 * per-minute peaks, and the per-minute histogram of the whole run. */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/sched.h"
#include "util/cleanup.h"
#include "util/parse.h"

/* From agent/daemon.c. */
#define UPKEEP_FIRST_USEC (10 * USEC_PER_MINUTE)
#define UPKEEP_INTERVAL_USEC (4 * USEC_PER_HOUR)
#define UPKEEP_BUSY_USEC USEC_PER_MINUTE

/* Simulated time starts well past 0, which the scheduler reads as "never". */
#define EPOCH (30 * 24 * USEC_PER_HOUR)

typedef enum Kind {
        KIND_NONE,
        KIND_REPORT,
        KIND_UPKEEP,
} Kind;

typedef struct Host {
        Sched sched;
        uint64_t next_change;
        uint64_t upkeep_next;
        uint64_t restart_at; /* SCHED_NEVER once done */
        uint64_t in_flight_end; /* SCHED_NEVER when idle */
        uint64_t hold_until; /* what-if: no report before this after a start */
        Kind in_flight;
        uint64_t version, sending, accepted; /* the mapping's generations */
        uint64_t id_hash;
} Host;

typedef struct Sim {
        SchedConfig sc;
        unsigned n_hosts;
        uint64_t end;
        double change_rate; /* per host, per µs */
        uint64_t latency;
        uint64_t skew;
        uint64_t upkeep_first_spread, start_spread;
        uint64_t rng;
        bool cold;
        Host *hosts;
        uint32_t *per_sec; /* requests started per simulated second */
        uint32_t *per_sec_get;
        uint64_t n_seconds;
} Sim;

static uint64_t rnd(Sim *s) {
        /* splitmix64, as in agent/daemon.c */
        uint64_t z = (s->rng += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

static double uniform(Sim *s) {
        return ((double) (rnd(s) >> 11) + 0.5) / 9007199254740992.0;
}

static uint64_t next_change(Sim *s, uint64_t now) {
        if (s->change_rate <= 0)
                return SCHED_NEVER;
        return now + (uint64_t) (-log(uniform(s)) / s->change_rate);
}

static uint64_t fnv1a(const char *p) {
        uint64_t h = UINT64_C(0xcbf29ce484222325);

        for (; *p; p++)
                h = (h ^ (unsigned char) *p) * UINT64_C(0x100000001b3);
        return h;
}

static void record(Sim *s, uint64_t now, Kind k) {
        uint64_t sec = (now - EPOCH) / USEC_PER_SEC;

        if (sec >= s->n_seconds)
                return;
        s->per_sec[sec]++;
        if (k == KIND_UPKEEP)
                s->per_sec_get[sec]++;
}

static uint64_t min_u64(uint64_t a, uint64_t b) {
        return a < b ? a : b;
}

static uint64_t report_due(const Sim *s, const Host *h) {
        uint64_t due = sched_next(&h->sched, &s->sc);

        return due == SCHED_NEVER || due >= h->hold_until ? due : h->hold_until;
}

/* The host's next moment of interest. */
static uint64_t host_next(const Sim *s, const Host *h) {
        uint64_t t = min_u64(h->next_change, min_u64(h->upkeep_next, h->restart_at));

        if (h->in_flight != KIND_NONE)
                return min_u64(t, h->in_flight_end);
        return min_u64(t, report_due(s, h));
}

static void start_upkeep_timer(Sim *s, Host *h, uint64_t now, uint64_t next) {
        h->upkeep_next = now + next + rnd(s) % (next / 10 + 1);
}

/* One step of host h at time now: the earliest of its events. */
static void host_step(Sim *s, Host *h, uint64_t now) {
        if (h->restart_at <= now) {
                /* A new process: what was in flight is gone (the server saw it). */
                uint64_t last_success = s->cold ? 0 : h->sched.last_success;

                h->restart_at = SCHED_NEVER;
                h->in_flight = KIND_NONE;
                h->in_flight_end = SCHED_NEVER;
                sched_init(&h->sched, &s->sc, 0, last_success);
                h->sched.splay_offset = s->sc.splay_usec > 0 ? h->id_hash % s->sc.splay_usec : 0;
                if (s->cold)
                        h->accepted = UINT64_MAX;
                if (h->version != h->accepted)
                        sched_set_dirty(&h->sched, true, now);
                h->upkeep_next = now + UPKEEP_FIRST_USEC +
                                 (s->upkeep_first_spread > 0 ? rnd(s) % s->upkeep_first_spread : 0);
                h->hold_until = now + (s->start_spread > 0 ? rnd(s) % s->start_spread : 0);
                return;
        }
        if (h->in_flight != KIND_NONE && h->in_flight_end <= now) {
                if (h->in_flight == KIND_REPORT) {
                        sched_finished(&h->sched, &s->sc, SCHED_RESULT_OK, 0, now, rnd(s));
                        h->accepted = h->sending;
                        if (h->version != h->accepted)
                                sched_set_dirty(&h->sched, true, now);
                }
                h->in_flight = KIND_NONE;
                h->in_flight_end = SCHED_NEVER;
                return;
        }
        if (h->next_change <= now) {
                h->version++;
                sched_set_dirty(&h->sched, true, now);
                h->next_change = next_change(s, now);
                return;
        }
        if (h->upkeep_next <= now) {
                if (h->in_flight != KIND_NONE)
                        start_upkeep_timer(s, h, now, UPKEEP_BUSY_USEC);
                else {
                        h->in_flight = KIND_UPKEEP;
                        h->in_flight_end = now + s->latency;
                        record(s, now, KIND_UPKEEP);
                        start_upkeep_timer(s, h, now, UPKEEP_INTERVAL_USEC);
                }
                return;
        }
        if (h->in_flight == KIND_NONE && report_due(s, h) <= now) {
                sched_started(&h->sched, now);
                h->sending = h->version;
                h->in_flight = KIND_REPORT;
                h->in_flight_end = now + s->latency;
                record(s, now, KIND_REPORT);
        }
}

static int parse_num(const char *arg, const char *name, double *ret) {
        char *end = NULL;
        double v = strtod(arg, &end);

        if (!end || *end || end == arg || !(v >= -1)) {
                fprintf(stderr, "hvmap-bench-fleet: bad %s: %s\n", name, arg);
                return -1;
        }
        *ret = v;
        return 0;
}

int main(int argc, char *argv[]) {
        static const struct option opts[] = {
                { "hosts", required_argument, NULL, 'n' },
                { "hours", required_argument, NULL, 'H' },
                { "changes-per-host-hour", required_argument, NULL, 'c' },
                { "restart-at", required_argument, NULL, 'r' },
                { "restart", required_argument, NULL, 'R' },
                { "restart-skew-ms", required_argument, NULL, 'k' },
                { "splay", required_argument, NULL, 's' },
                { "debounce-ms", required_argument, NULL, 'd' },
                { "min-gap", required_argument, NULL, 'g' },
                { "interval", required_argument, NULL, 'i' },
                { "latency-ms", required_argument, NULL, 'l' },
                { "seed", required_argument, NULL, 'S' },
                { "upkeep-first-spread", required_argument, NULL, 'U' },
                { "start-spread", required_argument, NULL, 'P' },
                {},
        };
        double hosts = 1000, hours = 24, rate = 1, restart_at = 12 * 3600, skew_ms = 1000, splay = 300,
               debounce_ms = 500, min_gap = 5, interval = 3600, latency_ms = 50, seed = 1, upkeep_spread = 0,
               start_spread = 0;
        _cleanup_free_ Host *hosts_v = NULL;
        _cleanup_free_ uint32_t *per_sec = NULL, *per_sec_get = NULL;
        uint64_t total = 0, gets = 0, peak_sec = 0, peak_sec_at = 0, peak_min = 0, peak_min_at = 0;
        bool cold = false;
        Sim s;
        int c, idx = 0;

        while ((c = getopt_long(argc, argv, "", opts, &idx)) >= 0) {
                double *v = NULL;

                switch (c) {
                case 'n':
                        v = &hosts;
                        break;
                case 'H':
                        v = &hours;
                        break;
                case 'c':
                        v = &rate;
                        break;
                case 'r':
                        v = &restart_at;
                        break;
                case 'k':
                        v = &skew_ms;
                        break;
                case 's':
                        v = &splay;
                        break;
                case 'd':
                        v = &debounce_ms;
                        break;
                case 'g':
                        v = &min_gap;
                        break;
                case 'i':
                        v = &interval;
                        break;
                case 'l':
                        v = &latency_ms;
                        break;
                case 'S':
                        v = &seed;
                        break;
                case 'U':
                        v = &upkeep_spread;
                        break;
                case 'P':
                        v = &start_spread;
                        break;
                case 'R':
                        if (strcmp(optarg, "cold") != 0 && strcmp(optarg, "warm") != 0) {
                                fprintf(stderr, "hvmap-bench-fleet: --restart is warm or cold\n");
                                return 2;
                        }
                        cold = strcmp(optarg, "cold") == 0;
                        break;
                default:
                        return 2;
                }
                if (v && parse_num(optarg, opts[idx].name, v) < 0)
                        return 2;
        }
        if (hosts < 1 || hours <= 0 || hours > 24 * 30 || interval < 1) {
                fprintf(stderr, "hvmap-bench-fleet: bad --hosts, --hours or --interval\n");
                return 2;
        }

        s = (Sim){
                .sc =
                        {
                                .debounce_usec = (uint64_t) (debounce_ms * USEC_PER_MSEC),
                                .min_gap_usec = (uint64_t) (min_gap * USEC_PER_SEC),
                                .interval_usec = (uint64_t) (interval * USEC_PER_SEC),
                                .splay_usec = (uint64_t) (splay * USEC_PER_SEC),
                                /* as agent/daemon.c derives them with the defaults */
                                .backoff_base_usec = (uint64_t) (min_gap * USEC_PER_SEC) > USEC_PER_SEC
                                                             ? (uint64_t) (min_gap * USEC_PER_SEC)
                                                             : USEC_PER_SEC,
                                .backoff_max_usec = USEC_PER_HOUR,
                                .auth_retry_usec = 30 * USEC_PER_MINUTE,
                        },
                .n_hosts = (unsigned) hosts,
                .end = EPOCH + (uint64_t) (hours * USEC_PER_HOUR),
                .change_rate = rate / (double) USEC_PER_HOUR,
                .latency = (uint64_t) (latency_ms * USEC_PER_MSEC),
                .skew = (uint64_t) (skew_ms * USEC_PER_MSEC),
                .upkeep_first_spread = (uint64_t) (upkeep_spread * USEC_PER_SEC),
                .start_spread = (uint64_t) (start_spread * USEC_PER_SEC),
                .rng = (uint64_t) seed,
                .cold = cold,
                .n_seconds = (uint64_t) (hours * 3600),
        };
        hosts_v = calloc(s.n_hosts, sizeof(Host));
        per_sec = calloc(s.n_seconds + 1, sizeof(uint32_t));
        per_sec_get = calloc(s.n_seconds + 1, sizeof(uint32_t));
        if (!hosts_v || !per_sec || !per_sec_get) {
                fprintf(stderr, "hvmap-bench-fleet: out of memory\n");
                return 1;
        }
        s.hosts = hosts_v;
        s.per_sec = per_sec;
        s.per_sec_get = per_sec_get;

        /* Steady state at the start: each host's last success somewhere in
         * the last interval, its identity check somewhere in the next 4 h. */
        for (unsigned i = 0; i < s.n_hosts; i++) {
                Host *h = &s.hosts[i];
                char id[64];

                (void) snprintf(id, sizeof id, "host-%u.example.com", i);
                h->id_hash = fnv1a(id);
                sched_init(&h->sched, &s.sc, 0, EPOCH - 1 - rnd(&s) % s.sc.interval_usec);
                h->sched.splay_offset = s.sc.splay_usec > 0 ? h->id_hash % s.sc.splay_usec : 0;
                h->next_change = next_change(&s, EPOCH);
                h->upkeep_next = EPOCH + rnd(&s) % UPKEEP_INTERVAL_USEC;
                h->restart_at = restart_at < 0 ? SCHED_NEVER
                                               : EPOCH + (uint64_t) (restart_at * USEC_PER_SEC) +
                                                         (s.skew > 0 ? rnd(&s) % s.skew : 0);
                h->in_flight_end = SCHED_NEVER;
        }

        for (;;) {
                uint64_t best = SCHED_NEVER;
                unsigned who = 0;

                for (unsigned i = 0; i < s.n_hosts; i++) {
                        uint64_t t = host_next(&s, &s.hosts[i]);

                        if (t < best) {
                                best = t;
                                who = i;
                        }
                }
                if (best >= s.end)
                        break;
                host_step(&s, &s.hosts[who], best);
        }

        for (uint64_t i = 0; i < s.n_seconds; i++) {
                total += per_sec[i];
                gets += per_sec_get[i];
                if (per_sec[i] > peak_sec) {
                        peak_sec = per_sec[i];
                        peak_sec_at = i;
                }
        }
        for (uint64_t m = 0; m * 60 < s.n_seconds; m++) {
                uint64_t n = 0;

                for (uint64_t i = m * 60; i < (m + 1) * 60 && i < s.n_seconds; i++)
                        n += per_sec[i];
                if (n > peak_min) {
                        peak_min = n;
                        peak_min_at = m;
                }
        }

        printf("{\"hosts\":%u,\"hours\":%g,\"changes_per_host_hour\":%g,\"restart\":\"%s\",\"restart_at\":%"
               "g,"
               "\"splay_s\":%g,\"requests\":%" PRIu64 ",\"reports\":%" PRIu64 ",\"identity_checks\":%" PRIu64
               ",\"mean_per_second\":%.4f,\"peak_per_second\":%" PRIu64 ",\"peak_second_at\":%" PRIu64
               ",\"peak_per_minute\":%" PRIu64 ",\"peak_minute_at\":%" PRIu64,
               s.n_hosts, hours, rate, cold ? "cold" : "warm", restart_at, splay, total, total - gets, gets,
               (double) total / (double) s.n_seconds, peak_sec, peak_sec_at, peak_min, peak_min_at);
        printf(",\"per_hour\":[");
        for (uint64_t hr = 0; hr * 3600 < s.n_seconds; hr++) {
                uint64_t n = 0;

                for (uint64_t i = hr * 3600; i < (hr + 1) * 3600 && i < s.n_seconds; i++)
                        n += per_sec[i];
                printf("%s%" PRIu64, hr ? "," : "", n);
        }
        printf("],\"per_minute\":[");
        for (uint64_t m = 0; m * 60 < s.n_seconds; m++) {
                uint64_t n = 0;

                for (uint64_t i = m * 60; i < (m + 1) * 60 && i < s.n_seconds; i++)
                        n += per_sec[i];
                printf("%s%" PRIu64, m ? "," : "", n);
        }
        printf("],\"per_minute_peak_second\":[");
        for (uint64_t m = 0; m * 60 < s.n_seconds; m++) {
                uint64_t n = 0;

                for (uint64_t i = m * 60; i < (m + 1) * 60 && i < s.n_seconds; i++)
                        if (per_sec[i] > n)
                                n = per_sec[i];
                printf("%s%" PRIu64, m ? "," : "", n);
        }
        printf("]}\n");
        return 0;
}
