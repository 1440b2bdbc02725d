/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hvmap-bench-fleet: what a fleet of hvmap daemons does to the server. N
 * hosts live through a day of guest changes on a simulated clock, and at
 * one moment every daemon restarts. Each host is the daemon's own
 * reporting engine (agent/report.c: reporter_new() with the settings
 * report_config_from() derives from a Config, the scheduler of
 * agent/sched.c, the identity upkeep of sched_upkeep_*_delay() (GET
 * /consumers/{uuid}, then its certificate serials), jitter from
 * util/random.h's splitmix64 seeded per process), driven as agent/daemon.c
 * and agent/report-io.c drive it: a request started through ReportOps is
 * answered `--latency-ms` later, state.json is kept in its real format
 * between processes, and a stop gives a report in flight the daemon's
 * grace before dropping it. Only the server (it accepts everything), the
 * guests (Poisson changes) and the body (a small stand-in per generation of
 * the mapping: the engine compares digests, never sizes) are simulated.
 *
 * Restarts: "warm" — state.json survived (a package update, a reboot with
 * the guests unchanged); "cold" — no state.json (first start, lost state),
 * so every host reports at once.
 *
 * usage: hvmap-bench-fleet [--hosts N] [--hours H] [--changes-per-host-hour R]
 *            [--restart-at SEC|-1] [--restart warm|cold] [--restart-skew-ms MS]
 *            [--latency-ms MS] [--seed S] [--set SECTION.KEY=VALUE]...
 * --set changes a setting exactly as hvmap.conf would (same parser, same
 * ranges), e.g. --set report.splay=0; without it every setting is the
 * shipped default. Prints one JSON object: the settings, totals, requests
 * per hour, per-second and per-minute peaks, and the per-minute histogram
 * of the counted window (which starts after an 8 h warm-up, so hosts that
 * booted at different times have settled). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/conf.h"
#include "agent/report.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/parse.h"
#include "util/random.h"

/* agent/daemon.c's STOP_GRACE_USEC: a report in flight at SIGTERM gets
 * this long before it is dropped. */
#define STOP_GRACE_USEC (800 * USEC_PER_MSEC)
/* The monotonic clock starts here (0 is "never" to the scheduler); the
 * wall clock is REAL_BASE ahead of it. */
#define T0 (30 * 24 * USEC_PER_HOUR)
#define REAL_BASE (UINT64_C(1790000000) * USEC_PER_SEC)
/* Hosts boot at random times in the first upkeep interval; counting starts
 * after two of them. */
#define BOOT_SPREAD_USEC SCHED_UPKEEP_INTERVAL_USEC
#define WARMUP_USEC (2 * SCHED_UPKEEP_INTERVAL_USEC)
#define SERVER_URL "https://candlepin.example.com/candlepin"

typedef struct Fleet Fleet;

typedef struct Host {
        Fleet *fleet;
        char id[64]; /* hypervisor id: the splay slot's seed */
        char uuid[40]; /* consumer uuid */
        Reporter *r; /* NULL between two processes */
        uint64_t start_at; /* r == NULL: when the next process starts */
        unsigned generation; /* of the host's mapping */
        Mapping *mapping;
        uint64_t next_change;
        uint64_t restart_at; /* SIGTERM; SCHED_NEVER once done */
        bool stopping;
        uint64_t grace_until; /* stopping with a report in flight */
        uint64_t answer_at; /* the request in flight is answered then */
        char *state_json; /* what the state directory holds */
        uint64_t next; /* cached host_next() */
} Host;

struct Fleet {
        Config conf;
        ReportConfig rc;
        AppClock clock;
        uint64_t now; /* monotonic, µs */
        uint64_t rng; /* splitmix64: changes, boot times, per-process seeds */
        unsigned n_hosts;
        Host *hosts;
        double change_rate; /* per host, per µs */
        uint64_t latency, skew, count_from, end;
        bool cold;
        uint64_t n_seconds;
        uint32_t *per_sec, *per_sec_get; /* requests started per counted second */
        uint64_t processes, drops;
};

static uint64_t fleet_now(void *userdata, int clock) {
        const Fleet *f = userdata;

        return clock == CLOCK_REALTIME ? REAL_BASE + f->now : f->now;
}

static uint64_t min_u64(uint64_t a, uint64_t b) {
        return a < b ? a : b;
}

static void die(const char *what, int r) {
        fprintf(stderr, "hvmap-bench-fleet: %s: %s\n", what, strerror(r < 0 ? -r : r));
        abort();
}

/* A uniform number in (0, 1). */
static double uniform(Fleet *f) {
        return ((double) (splitmix64(&f->rng) >> 11) + 0.5) / 9007199254740992.0;
}

static uint64_t next_change(Fleet *f, uint64_t now) {
        if (f->change_rate <= 0)
                return SCHED_NEVER;
        return now + (uint64_t) (-log(uniform(f)) / f->change_rate);
}

/* ---- the host's mapping: one stand-in body per generation ------------- */

static Mapping *mapping_make(const Fleet *f, const Host *h) {
        Mapping *m = calloc(1, sizeof(*m));
        int r;

        if (!m)
                die("mapping", -ENOMEM);
        m->n_ref = 1;
        m->mode = f->conf.mode;
        if (asprintf(&m->body, "{\"hypervisorId\":\"%s\",\"generation\":%u}", h->id, h->generation) < 0)
                die("mapping", -ENOMEM);
        m->body_len = strlen(m->body);
        m->m.hypervisor_id = h->id;
        m->m.name = h->id;
        r = proto_body_digest(m->body, m->body_len, m->digest);
        if (r < 0)
                die("digest", r);
        return m;
}

static ProtoIdentity *identity_make(const Host *h) {
        ProtoIdentity *id = calloc(1, sizeof(*id));

        if (!id || !(id->uuid = strdup(h->uuid)) || !(id->owner = strdup("ACME")) ||
            !(id->serial = strdup("1")))
                die("identity", -ENOMEM);
        id->not_after = (time_t) ((REAL_BASE + T0) / USEC_PER_SEC + 3650 * 24 * 3600);
        return id;
}

/* ---- ReportOps: the server side ------------------------------------------ */

static void record(Fleet *f, ReportWork w) {
        uint64_t sec;

        if (f->now < f->count_from)
                return;
        sec = (f->now - f->count_from) / USEC_PER_SEC;
        if (sec >= f->n_seconds)
                return;
        f->per_sec[sec]++;
        if (w != REPORT_WORK_REPORT && w != REPORT_WORK_JOB)
                f->per_sec_get[sec]++;
}

static int op_start(void *userdata, const ReportRequest *req, char **ret_message) {
        Host *h = userdata;

        record(h->fleet, req->work);
        h->answer_at = h->fleet->now + h->fleet->latency;
        return 0;
}

static void op_cancel(void *userdata) {
        ((Host *) userdata)->answer_at = SCHED_NEVER;
}

static void op_save_state(void *userdata, State *s) {
        Host *h = userdata;
        char *text = NULL;
        int r;

        r = state_format(s, &text);
        if (r < 0)
                die("state_format", r);
        free(h->state_json);
        h->state_json = text;
}

static int op_store_identity(void *userdata, const ProtoConsumer *c, ProtoIdentity **ret, char **ret_error) {
        *ret = identity_make(userdata);
        return 0;
}

static const ReportOps ops = {
        .start = op_start,
        .cancel = op_cancel,
        .save_state = op_save_state,
        .store_identity = op_store_identity,
};

/* ---- one host's processes -------------------------------------------------- */

/* What a host that has run for a while left in state.json when it boots
 * at monotonic time `boot`: its mapping accepted `ago` before that. */
static void state_steady(Host *h, uint64_t boot, uint64_t ago) {
        State s = {};

        if (state_set_string(&s.accepted_digest, h->mapping->digest) < 0 ||
            state_set_string(&s.accepted_server, SERVER_URL) < 0 ||
            state_set_string(&s.accepted_consumer, h->uuid) < 0 ||
            state_set_string(&s.last_result, "ok") < 0)
                die("state", -ENOMEM);
        s.accepted_at_usec = REAL_BASE + boot - ago;
        op_save_state(h, &s);
        state_done(&s);
}

/* `hvmap run` starts: the engine restores state.json, loads the identity,
 * and gets the first mapping once the host thread has listed the guests. */
static void process_start(Fleet *f, Host *h) {
        h->r = reporter_new(&f->rc, &ops, h, &f->clock, splitmix64(&f->rng));
        if (!h->r)
                die("reporter_new", -ENOMEM);
        f->processes++;
        if (h->state_json) {
                State s = {};
                int r = state_parse(h->state_json, strlen(h->state_json), &s);

                if (r < 0)
                        die("state_parse", r);
                reporter_restore(h->r, &s);
                state_done(&s);
        }
        h->stopping = false;
        h->answer_at = SCHED_NEVER;
        h->grace_until = SCHED_NEVER;
        reporter_set_identity(h->r, identity_make(h));
        reporter_set_mapping(h->r, h->mapping);
        reporter_run(h->r);
}

/* The process ends; the next one starts at once (systemctl restart). */
static void process_exit(Fleet *f, Host *h) {
        op_save_state(h, reporter_state(h->r));
        h->r = reporter_free(h->r);
        if (f->cold)
                h->state_json = mfree(h->state_json);
        h->start_at = f->now;
}

/* SIGTERM, as agent/daemon.c's on_sigterm(). */
static void process_stop(Fleet *f, Host *h) {
        ReportWork busy = reporter_busy(h->r);

        h->restart_at = SCHED_NEVER;
        h->stopping = true;
        reporter_stop(h->r);
        if (busy == REPORT_WORK_NONE || busy == REPORT_WORK_JOB || busy == REPORT_WORK_REFRESH) {
                reporter_drop(h->r);
                process_exit(f, h);
                return;
        }
        h->grace_until = f->now + STOP_GRACE_USEC;
}

static uint64_t host_next(const Host *h) {
        uint64_t t = h->next_change;

        if (!h->r)
                return min_u64(t, h->start_at);
        t = min_u64(t, h->answer_at);
        if (h->stopping)
                return min_u64(t, h->grace_until);
        return min_u64(t, min_u64(h->restart_at, reporter_next(h->r)));
}

/* The earliest thing host h has to do, at f->now. */
static void host_step(Fleet *f, Host *h) {
        uint64_t now = f->now;

        if (!h->r && h->start_at <= now) {
                process_start(f, h);
                return;
        }
        if (h->next_change <= now) {
                Mapping *old = h->mapping;

                h->generation++;
                h->mapping = mapping_make(f, h);
                mapping_unref(old);
                h->next_change = next_change(f, now);
                if (h->r) {
                        reporter_set_mapping(h->r, h->mapping);
                        reporter_run(h->r);
                }
                return;
        }
        if (h->answer_at <= now) {
                ProtoResult ok = { .kind = PROTO_RESULT_OK, .http_status = 200 };

                h->answer_at = SCHED_NEVER;
                reporter_answer(h->r, &ok);
                if (h->stopping) {
                        if (reporter_busy(h->r) == REPORT_WORK_NONE)
                                process_exit(f, h);
                } else
                        reporter_run(h->r);
                return;
        }
        if (h->stopping) {
                if (h->grace_until <= now) {
                        f->drops++;
                        reporter_drop(h->r);
                        process_exit(f, h);
                }
                return;
        }
        if (h->restart_at <= now) {
                process_stop(f, h);
                return;
        }
        reporter_run(h->r);
        if (reporter_busy(h->r) == REPORT_WORK_NONE && reporter_next(h->r) <= now) {
                fprintf(stderr, "hvmap-bench-fleet: host %s: the engine is due but starts nothing\n", h->id);
                abort();
        }
}

/* ---- the command line ----------------------------------------------------- */

static int parse_num(const char *arg, const char *name, double lo, double hi, double *ret) {
        char *end = NULL;
        double v;

        errno = 0;
        v = strtod(arg, &end);
        if (errno != 0 || !end || *end || end == arg || !(v >= lo && v <= hi)) {
                fprintf(stderr, "hvmap-bench-fleet: --%s %s: want a number in [%g, %g]\n", name, arg, lo,
                        hi);
                return -1;
        }
        *ret = v;
        return 0;
}

/* --set SECTION.KEY=VALUE through the configuration's own parser. */
static int parse_set(Config *c, const char *arg) {
        _cleanup_free_ char *copy = strdup(arg);
        ConfigErrors errors = {};
        char *dot, *eq;
        int r;

        if (!copy)
                return -ENOMEM;
        dot = strchr(copy, '.');
        eq = strchr(copy, '=');
        if (!dot || !eq || eq < dot) {
                fprintf(stderr, "hvmap-bench-fleet: --set %s: want SECTION.KEY=VALUE, e.g. report.splay=0\n",
                        arg);
                return -EINVAL;
        }
        *dot = *eq = '\0';
        r = config_set(c, copy, dot + 1, eq + 1, &errors);
        if (r < 0) {
                for (size_t i = 0; i < errors.n; i++)
                        fprintf(stderr, "hvmap-bench-fleet: --set %s: %s\n", arg, errors.lines[i]);
                if (errors.n == 0)
                        fprintf(stderr, "hvmap-bench-fleet: --set %s: %s\n", arg, strerror(-r));
        }
        config_errors_free(&errors);
        return r < 0 ? r : 0;
}

static void print_series(const char *name, const uint32_t *per_sec, uint64_t n_seconds, uint64_t bin,
                         bool peak) {
        printf(",\"%s\":[", name);
        for (uint64_t b = 0; b * bin < n_seconds; b++) {
                uint64_t n = 0;

                for (uint64_t i = b * bin; i < (b + 1) * bin && i < n_seconds; i++)
                        n = peak ? (per_sec[i] > n ? per_sec[i] : n) : n + per_sec[i];
                printf("%s%" PRIu64, b ? "," : "", n);
        }
        printf("]");
}

int main(int argc, char *argv[]) {
        static const struct option opts[] = {
                { "hosts", required_argument, NULL, 'n' },
                { "hours", required_argument, NULL, 'H' },
                { "changes-per-host-hour", required_argument, NULL, 'c' },
                { "restart-at", required_argument, NULL, 'r' },
                { "restart", required_argument, NULL, 'R' },
                { "restart-skew-ms", required_argument, NULL, 'k' },
                { "latency-ms", required_argument, NULL, 'l' },
                { "seed", required_argument, NULL, 'S' },
                { "set", required_argument, NULL, 'C' },
                {},
        };
        double hosts = 1000, hours = 24, rate = 1, restart_at = 12 * 3600, skew_ms = 1000, latency_ms = 50,
               seed = 1;
        _cleanup_free_ Host *hosts_v = NULL;
        _cleanup_free_ uint32_t *per_sec = NULL, *per_sec_get = NULL;
        uint64_t total = 0, gets = 0, peak_sec = 0, peak_sec_at = 0, peak_min = 0, peak_min_at = 0;
        static Fleet f;
        int c, idx = 0, r;

        log_set_max_level(LOG_WARNING); /* the engine logs every accepted report at INFO */
        r = config_init(&f.conf);
        if (r < 0)
                die("config_init", r);
        while ((c = getopt_long(argc, argv, "", opts, &idx)) >= 0) {
                switch (c) {
                case 'n':
                        r = parse_num(optarg, "hosts", 1, 1000000, &hosts);
                        break;
                case 'H':
                        r = parse_num(optarg, "hours", 1.0 / 60, 24 * 30, &hours);
                        break;
                case 'c':
                        r = parse_num(optarg, "changes-per-host-hour", 0, 3600, &rate);
                        break;
                case 'r':
                        r = parse_num(optarg, "restart-at", -1, 24 * 30 * 3600, &restart_at);
                        break;
                case 'k':
                        r = parse_num(optarg, "restart-skew-ms", 0, 3600 * 1000, &skew_ms);
                        break;
                case 'l':
                        r = parse_num(optarg, "latency-ms", 0, 3600 * 1000, &latency_ms);
                        break;
                case 'S':
                        r = parse_num(optarg, "seed", 0, 9007199254740992.0, &seed);
                        break;
                case 'C':
                        r = parse_set(&f.conf, optarg);
                        break;
                case 'R':
                        r = 0;
                        if (strcmp(optarg, "cold") != 0 && strcmp(optarg, "warm") != 0) {
                                fprintf(stderr, "hvmap-bench-fleet: --restart %s: want warm or cold\n",
                                        optarg);
                                r = -1;
                        }
                        f.cold = strcmp(optarg, "cold") == 0;
                        break;
                default:
                        return 2;
                }
                if (r < 0)
                        return 2;
        }
        if (optind < argc) {
                fprintf(stderr, "hvmap-bench-fleet: unexpected argument %s\n", argv[optind]);
                return 2;
        }
        if (f.conf.splay_usec > f.conf.interval_usec) {
                fprintf(stderr, "hvmap-bench-fleet: report.splay must not exceed report.interval\n");
                return 2;
        }

        /* hvmap's own consumer: the engine does the identity upkeep (a host
         * that subscription-manager registered leaves it to rhsmcertd). */
        report_config_from(&f.conf, SERVER_URL, true, &f.rc);
        f.clock = (AppClock){ .now = fleet_now, .userdata = &f };
        f.now = T0;
        f.rng = (uint64_t) seed;
        f.n_hosts = (unsigned) hosts;
        f.change_rate = rate / (double) USEC_PER_HOUR;
        f.latency = (uint64_t) (latency_ms * USEC_PER_MSEC);
        f.skew = (uint64_t) (skew_ms * USEC_PER_MSEC);
        f.count_from = T0 + WARMUP_USEC;
        f.n_seconds = (uint64_t) (hours * 3600);
        f.end = f.count_from + f.n_seconds * USEC_PER_SEC;
        hosts_v = calloc(f.n_hosts, sizeof(Host));
        per_sec = calloc(f.n_seconds + 1, sizeof(uint32_t));
        per_sec_get = calloc(f.n_seconds + 1, sizeof(uint32_t));
        if (!hosts_v || !per_sec || !per_sec_get)
                die("allocation", -ENOMEM);
        f.hosts = hosts_v;
        f.per_sec = per_sec;
        f.per_sec_get = per_sec_get;

        /* Each host boots at a random time of the first upkeep interval,
         * with what a steady run left in state.json: its mapping accepted
         * somewhere in the last report interval. */
        for (unsigned i = 0; i < f.n_hosts; i++) {
                Host *h = &f.hosts[i];

                *h = (Host){ .fleet = &f, .answer_at = SCHED_NEVER, .grace_until = SCHED_NEVER };
                (void) snprintf(h->id, sizeof h->id, "host-%u.example.com", i);
                (void) snprintf(h->uuid, sizeof h->uuid, "00000000-0000-4000-8000-%012u", i);
                h->mapping = mapping_make(&f, h);
                h->start_at = T0 + splitmix64(&f.rng) % BOOT_SPREAD_USEC;
                state_steady(h, h->start_at, splitmix64(&f.rng) % f.conf.interval_usec);
                h->next_change = next_change(&f, h->start_at);
                h->restart_at = restart_at < 0 ? SCHED_NEVER
                                               : f.count_from + (uint64_t) (restart_at * USEC_PER_SEC) +
                                                         (f.skew > 0 ? splitmix64(&f.rng) % f.skew : 0);
                h->next = host_next(h);
        }

        for (;;) {
                uint64_t best = SCHED_NEVER;
                Host *h = NULL;

                for (unsigned i = 0; i < f.n_hosts; i++)
                        if (f.hosts[i].next < best) {
                                best = f.hosts[i].next;
                                h = &f.hosts[i];
                        }
                if (!h || best >= f.end)
                        break;
                if (best > f.now)
                        f.now = best;
                host_step(&f, h);
                h->next = host_next(h);
        }

        for (uint64_t i = 0; i < f.n_seconds; i++) {
                total += per_sec[i];
                gets += per_sec_get[i];
                if (per_sec[i] > peak_sec) {
                        peak_sec = per_sec[i];
                        peak_sec_at = i;
                }
        }
        for (uint64_t m = 0; m * 60 < f.n_seconds; m++) {
                uint64_t n = 0;

                for (uint64_t i = m * 60; i < (m + 1) * 60 && i < f.n_seconds; i++)
                        n += per_sec[i];
                if (n > peak_min) {
                        peak_min = n;
                        peak_min_at = m;
                }
        }

        printf("{\"hosts\":%u,\"hours\":%g,\"changes_per_host_hour\":%g,\"restart\":\"%s\",\"restart_at\":%"
               "g,"
               "\"latency_ms\":%g,\"debounce_ms\":%" PRIu64 ",\"min_gap_s\":%g,\"interval_s\":%" PRIu64
               ",\"splay_s\":%" PRIu64 ",\"processes\":%" PRIu64 ",\"dropped_at_stop\":%" PRIu64
               ",\"requests\":%" PRIu64 ",\"reports\":%" PRIu64 ",\"upkeep_requests\":%" PRIu64
               ",\"mean_per_second\":%.4f,\"peak_per_second\":%" PRIu64 ",\"peak_second_at\":%" PRIu64
               ",\"peak_per_minute\":%" PRIu64 ",\"peak_minute_at\":%" PRIu64,
               f.n_hosts, hours, rate, f.cold ? "cold" : "warm", restart_at, latency_ms,
               f.rc.sched.debounce_usec / USEC_PER_MSEC, (double) f.rc.sched.min_gap_usec / USEC_PER_SEC,
               f.rc.sched.interval_usec / USEC_PER_SEC, f.rc.sched.splay_usec / USEC_PER_SEC, f.processes,
               f.drops, total, total - gets, gets, (double) total / (double) f.n_seconds, peak_sec,
               peak_sec_at, peak_min, peak_min_at);
        print_series("per_hour", per_sec, f.n_seconds, 3600, false);
        print_series("per_minute", per_sec, f.n_seconds, 60, false);
        print_series("per_minute_peak_second", per_sec, f.n_seconds, 60, true);
        printf("}\n");

        for (unsigned i = 0; i < f.n_hosts; i++) {
                reporter_free(f.hosts[i].r);
                mapping_unref(f.hosts[i].mapping);
                free(f.hosts[i].state_json);
        }
        config_free(&f.conf);
        return 0;
}
