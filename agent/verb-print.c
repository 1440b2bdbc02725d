/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `hvmap print [--watch]`: the exact request body this host's reports
 * carry (agent/mapping.c), from hvmap.conf with command-line overrides; with
 * --watch, one line per change. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent/app.h"
#include "agent/mapping.h"
#include "agent/report-io.h"
#include "agent/verbs.h"
#include "host/host.h"
#include "util/buf.h"
#include "util/cleanup-libs.h"
#include "util/log.h"
#include "util/parse.h"
#include "util/strprintf.h"

/* One-shot: how long to wait for libvirt before calling it unreachable.
 * Opening a 10 000-domain test file takes 1.2-1.5 s, a real host far less. */
#define PRINT_TIMEOUT_USEC_DEFAULT (UINT64_C(60) * USEC_PER_SEC)
/* --watch: the host thread turns at least every 5 s; this long without
 * a turn means it is blocked inside libvirt (a hung libvirtd). */
#define PRINT_STALL_USEC (UINT64_C(15) * USEC_PER_SEC)
/* --watch: how often the heartbeat is checked when nothing else happens. */
#define PRINT_POLL_MSEC 250
#define PRINT_OVERRIDES_MAX 16

typedef struct PrintArgs {
        bool watch, pretty;
        uint64_t timeout_usec;
        bool log_level_given;
        ConfigOverride overrides[PRINT_OVERRIDES_MAX];
        size_t n_overrides;
        Buf include, exclude; /* repeated --include/--exclude, joined */
        char keepalive_interval[32], keepalive_count[16];
        Config cfg;
        HostConfig host;
        bool own_identity; /* whose consumer run would report on */
} PrintArgs;

static void print_args_done(PrintArgs *a) {
        buf_free(&a->include);
        buf_free(&a->exclude);
        config_free(&a->cfg);
}

/* "2026-11-22T21:00:00.123Z" */
static char *format_timestamp(uint64_t realtime_usec, char *buf, size_t bufsz) {
        time_t t = (time_t) (realtime_usec / USEC_PER_SEC);
        struct tm tm;

        (void) gmtime_r(&t, &tm);
        (void) snprintf(buf, bufsz, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
                        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                        (unsigned) (realtime_usec % USEC_PER_SEC / 1000));
        return buf;
}

static void help(void) {
        (void) printf(
                "Usage: hvmap print [OPTIONS]\n"
                "\n"
                "Prints the exact request body 'hvmap run' and 'hvmap report' send for this host,\n"
                "in the configured report mode: the guest update ({\"guestIds\":[...],...}) or the\n"
                "hypervisor check-in ({\"hypervisors\":[...]}). No server is contacted. hvmap.conf\n"
                "applies; each option below overrides the hvmap.conf key it names, with the same\n"
                "checks and ranges.\n"
                "\n"
                "Options:\n"
                "     --pretty                 indent the JSON for people (the bytes sent are compact)\n"
                "     --watch                  stay connected; print one JSON line per change (the body's\n"
                "                              keys and a \"timestamp\"), and a line when libvirt stops\n"
                "                              or starts answering\n"
                "     --mode=guestids|checkin  [report] mode\n"
                "     --uri=URI                [libvirt] uri (default: libvirt's default)\n"
                "     --report-inactive        [host] report_inactive = yes (shut-off guests, active "
                "\"0\")\n"
                "     --include=GLOB           [host] include_guests: only guests whose UUID or name\n"
                "                              matches (repeatable)\n"
                "     --exclude=GLOB           [host] exclude_guests (repeatable)\n"
                "     --hypervisor-id=MODE     [host] hypervisor_id: uuid, hostname or hwuuid\n"
                "     --hypervisor-id-override=ID\n"
                "                              [host] hypervisor_id_override\n"
                "     --name=NAME              [host] name\n"
                "     --flavour=auto|kvm|xen   [host] flavour (xen: Domain-0 is never a guest)\n"
                "     --keepalive=DURATION[,COUNT]\n"
                "                              [libvirt] keepalive_interval and keepalive_count\n"
                "     --timeout=DURATION       how long to wait for libvirt (default 60s)\n"
                "     --log-level=LEVEL        [daemon] log_level (print's default: err)\n"
                "  -h --help                   show this help\n"
                "\n"
                "Exit status: 0 printed, 64 usage, 69 libvirt unreachable or not answering,\n"
                "78 configuration error or no usable hypervisor id (see hypervisor_id).\n");
}

static int add_override(PrintArgs *a, const char *section, const char *key, const char *value) {
        if (a->n_overrides >= PRINT_OVERRIDES_MAX)
                return -E2BIG;
        a->overrides[a->n_overrides++] = (ConfigOverride){ section, key, value };
        return 0;
}

static int parse_args(int argc, char *argv[], PrintArgs *a) {
        enum {
                ARG_URI = 0x100,
                ARG_WATCH,
                ARG_PRETTY,
                ARG_MODE,
                ARG_REPORT_INACTIVE,
                ARG_INCLUDE,
                ARG_EXCLUDE,
                ARG_ID,
                ARG_ID_OVERRIDE,
                ARG_NAME,
                ARG_FLAVOUR,
                ARG_KEEPALIVE,
                ARG_TIMEOUT,
                ARG_LOG_LEVEL,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "uri", required_argument, NULL, ARG_URI },
                { "watch", no_argument, NULL, ARG_WATCH },
                { "pretty", no_argument, NULL, ARG_PRETTY },
                { "mode", required_argument, NULL, ARG_MODE },
                { "report-inactive", no_argument, NULL, ARG_REPORT_INACTIVE },
                { "include", required_argument, NULL, ARG_INCLUDE },
                { "exclude", required_argument, NULL, ARG_EXCLUDE },
                { "hypervisor-id", required_argument, NULL, ARG_ID },
                { "hypervisor-id-override", required_argument, NULL, ARG_ID_OVERRIDE },
                { "name", required_argument, NULL, ARG_NAME },
                { "flavour", required_argument, NULL, ARG_FLAVOUR },
                { "keepalive", required_argument, NULL, ARG_KEEPALIVE },
                { "timeout", required_argument, NULL, ARG_TIMEOUT },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                {},
        };
        int c, r = 0;

        a->timeout_usec = PRINT_TIMEOUT_USEC_DEFAULT;
        buf_init(&a->include, 64 * 1024);
        buf_init(&a->exclude, 64 * 1024);
        optind = 0; /* the verb's own argv: restart getopt */
        opterr = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_URI:
                        r = add_override(a, "libvirt", "uri", optarg);
                        break;
                case ARG_WATCH:
                        a->watch = true;
                        break;
                case ARG_PRETTY:
                        a->pretty = true;
                        break;
                case ARG_MODE:
                        r = add_override(a, "report", "mode", optarg);
                        break;
                case ARG_REPORT_INACTIVE:
                        r = add_override(a, "host", "report_inactive", "yes");
                        break;
                case ARG_INCLUDE:
                case ARG_EXCLUDE: {
                        Buf *b = c == ARG_INCLUDE ? &a->include : &a->exclude;

                        if (!*optarg || strpbrk(optarg, ", \t")) {
                                (void) fprintf(
                                        stderr,
                                        "hvmap print: --%s=%s: a glob is not empty and holds no comma "
                                        "or blank (hvmap.conf separates globs so).\n",
                                        c == ARG_INCLUDE ? "include" : "exclude", optarg);
                                return -EINVAL;
                        }
                        r = buf_printf(b, "%s%s", b->len ? "," : "", optarg);
                        break;
                }
                case ARG_ID:
                        r = add_override(a, "host", "hypervisor_id", optarg);
                        break;
                case ARG_ID_OVERRIDE:
                        r = add_override(a, "host", "hypervisor_id_override", optarg);
                        break;
                case ARG_NAME:
                        r = add_override(a, "host", "name", optarg);
                        break;
                case ARG_FLAVOUR:
                        r = add_override(a, "host", "flavour", optarg);
                        break;
                case ARG_KEEPALIVE: {
                        size_t n = strcspn(optarg, ",");

                        /* A bare number is seconds, as it always was. */
                        (void) snprintf(a->keepalive_interval, sizeof a->keepalive_interval, "%.*s%s",
                                        (int) n, optarg,
                                        n > 0 && strspn(optarg, "0123456789") == n ? "s" : "");
                        r = add_override(a, "libvirt", "keepalive_interval", a->keepalive_interval);
                        if (r >= 0 && optarg[n] == ',') {
                                (void) snprintf(a->keepalive_count, sizeof a->keepalive_count, "%s",
                                                optarg + n + 1);
                                r = add_override(a, "libvirt", "keepalive_count", a->keepalive_count);
                        }
                        break;
                }
                case ARG_TIMEOUT:
                        if (parse_duration(optarg, USEC_PER_SEC, &a->timeout_usec) < 0 ||
                            a->timeout_usec == 0) {
                                (void) fprintf(stderr,
                                               "hvmap print: --timeout=%s: expected a duration such as "
                                               "30s.\n",
                                               optarg);
                                return -EINVAL;
                        }
                        break;
                case ARG_LOG_LEVEL:
                        a->log_level_given = true;
                        r = add_override(a, "daemon", "log_level", optarg);
                        break;
                case '?':
                default:
                        (void) fprintf(stderr,
                                       "hvmap print: unknown or incomplete option '%s'; see 'hvmap print "
                                       "--help'.\n",
                                       argv[optind - 1]);
                        return -EINVAL;
                }
                if (r < 0) {
                        (void) fprintf(stderr, "hvmap print: too many options.\n");
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                (void) fprintf(stderr, "hvmap print: unexpected argument '%s'.\n", argv[optind]);
                return -EINVAL;
        }
        if ((a->include.len && add_override(a, "host", "include_guests", buf_str(&a->include)) < 0) ||
            (a->exclude.len && add_override(a, "host", "exclude_guests", buf_str(&a->exclude)) < 0)) {
                (void) fprintf(stderr, "hvmap print: too many options.\n");
                return -EINVAL;
        }
        return 1;
}

/* An option's value that hvmap.conf would refuse is a usage error, named
 * as the option it came from. */
static int check_overrides(const PrintArgs *a) {
        _cleanup_(config_free) Config c = {};
        int r;

        r = config_init(&c);
        if (r < 0)
                return log_error_errno(r, "Cannot initialise the configuration: %m"), EX_OSERR;
        for (size_t i = 0; i < a->n_overrides; i++) {
                _cleanup_(config_errors_free) ConfigErrors errors = {};
                const ConfigOverride *o = &a->overrides[i];

                if (config_set(&c, o->section, o->key, o->value, &errors) < 0) {
                        const char *msg = errors.n > 0 ? errors.lines[0] : "invalid value";

                        if (strncmp(msg, "command line: ", 14) == 0)
                                msg += 14;
                        (void) fprintf(stderr, "hvmap print: [%s] %s from the command line: %s\n",
                                       o->section, o->key, msg);
                        return EX_USAGE;
                }
        }
        return 0;
}

/* Writes text and a newline to stdout and flushes; -EIO when stdout is gone. */
static int emit(const char *text) {
        if (fputs(text, stdout) < 0 || fputc('\n', stdout) < 0 || fflush(stdout) != 0)
                return -EIO;
        return 0;
}

/* The snapshot's mapping, as the daemon would build it. */
static int build(const PrintArgs *a, HostSnapshot *s, Mapping **ret) {
        char err[PROTO_ERROR_MAX];
        int r;

        r = mapping_build(&a->cfg, s, a->own_identity, ret, err, sizeof err);
        if (r < 0)
                (void) fprintf(stderr, "hvmap print: %s\n", r == -ENOMEM ? "out of memory" : err);
        return r;
}

static int print_once(const PrintArgs *a, Host *h, int sfd) {
        uint64_t deadline = app_now_usec(CLOCK_MONOTONIC) + a->timeout_usec;
        char sock[512];
        const char *uri = a->cfg.uri ? a->cfg.uri : "libvirt's default URI";

        (void) host_uri_describe_socket(a->cfg.uri, a->cfg.read_only, sock, sizeof sock);
        for (;;) {
                struct pollfd p[2] = { { host_fd(h), POLLIN, 0 }, { sfd, POLLIN, 0 } };
                _cleanup_(host_snapshot_unrefp) HostSnapshot *s = NULL;
                uint64_t now = app_now_usec(CLOCK_MONOTONIC);
                int ms = now >= deadline ? 0 : (int) ((deadline - now + 999) / 1000);

                if (poll(p, 2, ms > 1000 ? 1000 : ms) < 0 && errno != EINTR)
                        return log_error_errno(errno, "poll failed: %m"), EX_OSERR;
                if (p[1].revents & POLLIN)
                        return EX_TEMPFAIL;
                host_fd_clear(h);
                s = host_snapshot(h);

                if (s->conn_state == HOST_CONN_CONNECTED && s->synced) {
                        _cleanup_(mapping_unrefp) Mapping *m = NULL;
                        _cleanup_free_ char *pretty = NULL;
                        int r = build(a, s, &m);

                        if (r < 0)
                                return r == -ENOMEM ? EX_OSERR : r == -EINVAL ? EX_DATAERR : EX_CONFIG;
                        if (a->pretty && !(pretty = mapping_pretty(m)))
                                return log_error("out of memory"), EX_OSERR;
                        return emit(pretty ? pretty : m->body) < 0 ? EX_IOERR : EX_OK;
                }
                if (s->conn_state == HOST_CONN_CONNECTED && s->last_error) {
                        (void) fprintf(stderr, "hvmap print: connected to libvirt at %s, but %s\n", uri,
                                       s->last_error);
                        return EX_UNAVAILABLE;
                }
                if (s->connect_failures > 0 || s->conn_state == HOST_CONN_NOT_RESPONDING) {
                        (void) fprintf(stderr, "hvmap print: cannot connect to libvirt at %s (%s): %s\n",
                                       uri, sock, strna(s->last_error));
                        return EX_UNAVAILABLE;
                }
                if (app_now_usec(CLOCK_MONOTONIC) >= deadline) {
                        (void) fprintf(stderr,
                                       "hvmap print: libvirt at %s (%s) did not answer within %" PRIu64
                                       " s; is libvirtd hung?\n",
                                       uri, sock, a->timeout_usec / USEC_PER_SEC);
                        return EX_UNAVAILABLE;
                }
        }
}

static int emit_state(const HostSnapshot *s, HostConnState state, uint64_t since_usec, const char *error) {
        _cleanup_(cJSON_Deletep) cJSON *j = cJSON_CreateObject();
        _cleanup_free_ char *text = NULL;
        char now[64], since[64];

        if (!j ||
            !cJSON_AddStringToObject(j, "timestamp",
                                     format_timestamp(app_now_usec(CLOCK_REALTIME), now, sizeof now)) ||
            !cJSON_AddStringToObject(j, "libvirt", host_conn_state_to_string(state)) ||
            !cJSON_AddStringToObject(j, "since", format_timestamp(since_usec, since, sizeof since)) ||
            (s->uri && !cJSON_AddStringToObject(j, "uri", s->uri)) ||
            (error && !cJSON_AddStringToObject(j, "error", error)))
                return -ENOMEM;
        text = cJSON_PrintUnformatted(j);
        return text ? emit(text) : -ENOMEM;
}

/* {"timestamp":"…",<the body's own keys>}: the exact body, spliced. */
static int emit_mapping(const PrintArgs *a, HostSnapshot *s) {
        _cleanup_(mapping_unrefp) Mapping *m = NULL;
        _cleanup_free_ char *line = NULL;
        char now[64];
        int r = build(a, s, &m);

        if (r < 0)
                return r == -ENOMEM ? r : 0;
        line = strdup_printf("{\"timestamp\":\"%s\",%s",
                             format_timestamp(app_now_usec(CLOCK_REALTIME), now, sizeof now), m->body + 1);
        return line ? emit(line) : -ENOMEM;
}

static int print_watch(const PrintArgs *a, Host *h, int sfd) {
        HostConnState printed = HOST_CONN_CONNECTING;
        uint64_t printed_mapping = 0;
        bool stalled_printed = false;

        for (;;) {
                struct pollfd p[2] = { { host_fd(h), POLLIN, 0 }, { sfd, POLLIN, 0 } };
                _cleanup_(host_snapshot_unrefp) HostSnapshot *s = NULL;
                uint64_t now, hb;
                bool stalled;
                int r = 0;

                if (poll(p, 2, PRINT_POLL_MSEC) < 0 && errno != EINTR)
                        return log_error_errno(errno, "poll failed: %m"), EX_OSERR;
                if (p[1].revents & POLLIN)
                        return EX_OK;
                host_fd_clear(h);
                s = host_snapshot(h);

                /* A thread blocked in libvirt publishes nothing: its
                 * heartbeat tells. */
                now = app_now_usec(CLOCK_MONOTONIC);
                hb = host_heartbeat_usec(h);
                stalled = now > hb + PRINT_STALL_USEC;
                if (stalled && !stalled_printed && printed != HOST_CONN_NOT_RESPONDING) {
                        r = emit_state(s, HOST_CONN_NOT_RESPONDING,
                                       app_now_usec(CLOCK_REALTIME) - (now - hb),
                                       "blocked in a libvirt call: libvirtd does not answer");
                        stalled_printed = true;
                        printed = HOST_CONN_NOT_RESPONDING;
                } else if (!stalled) {
                        stalled_printed = false;
                        if (s->conn_state != printed) {
                                r = emit_state(s, s->conn_state, s->conn_since_usec,
                                               s->conn_state == HOST_CONN_CONNECTED ? NULL : s->last_error);
                                printed = s->conn_state;
                        }
                }
                if (r >= 0 && s->synced && s->mapping_seq != printed_mapping) {
                        r = emit_mapping(a, s);
                        printed_mapping = s->mapping_seq;
                }
                if (r == -EIO)
                        return EX_IOERR;
                if (r < 0)
                        return log_error("out of memory"), EX_OSERR;
        }
}

int verb_print(const GlobalArgs *g, int argc, char *argv[]) {
        _cleanup_(print_args_done) PrintArgs a = {};
        _cleanup_close_ int sfd = -1;
        Host *h = NULL;
        sigset_t mask;
        int r;

        r = parse_args(argc, argv, &a);
        if (r <= 0)
                return r < 0 ? EX_USAGE : EX_OK;
        /* hvmap.conf applies, overridden by the options; no server is needed. */
        r = check_overrides(&a);
        if (r != 0)
                return r;
        r = app_load_config_with(g, false, a.overrides, a.n_overrides, &a.cfg);
        if (r != 0)
                return r;
        /* print's output is the JSON: only errors go to stderr unless asked. */
        if (!g->debug && !a.log_level_given)
                log_set_max_level(a.watch ? LOG_NOTICE : LOG_ERR);
        app_host_config(&a.cfg, &a.host);
        {
                _cleanup_free_ char *url = config_server_url(&a.cfg);
                a.own_identity = report_identity_own(&a.cfg, url, NULL, NULL);
        }

        (void) signal(SIGPIPE, SIG_IGN);
        (void) sigemptyset(&mask);
        (void) sigaddset(&mask, SIGINT);
        (void) sigaddset(&mask, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
            (sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
                return log_error_errno(errno, "cannot set up signal handling: %m"), EX_OSERR;

        r = host_start(&a.host, &h);
        if (r < 0)
                return log_error_errno(r, "cannot start following libvirt: %m"), EX_OSERR;
        r = a.watch ? print_watch(&a, h, sfd) : print_once(&a, h, sfd);
        host_stop(h);
        return r;
}
