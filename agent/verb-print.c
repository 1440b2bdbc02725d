/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `hvmap print [--watch]`: this host's guest mapping as JSON, in the shape
 * of the hypervisor check-in body; with --watch, one line per change. */
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
#include "agent/verbs.h"
#include "host/host.h"
#include "util/cleanup-libs.h"
#include "util/log.h"
#include "util/parse.h"

/* One-shot: how long to wait for libvirt before calling it unreachable.
 * Opening a 10 000-domain test file takes 1.2-1.5 s, a real host far less. */
#define PRINT_TIMEOUT_USEC_DEFAULT (UINT64_C(60) * USEC_PER_SEC)
/* --watch: the host thread turns at least every 5 s; this long without
 * a turn means it is blocked inside libvirt (a hung libvirtd). */
#define PRINT_STALL_USEC (UINT64_C(15) * USEC_PER_SEC)
/* --watch: how often the heartbeat is checked when nothing else happens. */
#define PRINT_POLL_MSEC 250
#define PRINT_GLOBS_MAX 64

typedef struct PrintArgs {
        HostConfig cfg;
        bool watch;
        uint64_t timeout_usec;
        const char *include[PRINT_GLOBS_MAX + 1];
        const char *exclude[PRINT_GLOBS_MAX + 1];
        size_t n_include, n_exclude;
} PrintArgs;

static uint64_t now_usec(clockid_t clock) {
        struct timespec ts;

        (void) clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
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
                "Prints this host's guests as JSON, in the shape of a hypervisor check-in:\n"
                "{\"hypervisors\":[{\"hypervisorId\":{...},\"name\":...,\"guestIds\":[...],\"facts\":{...}}]"
                "}\n"
                "No server is contacted.\n"
                "\n"
                "Options:\n"
                "     --uri=URI                libvirt URI (default: libvirt's default)\n"
                "     --watch                  stay connected; print one JSON line per change,\n"
                "                              and a line when libvirt stops or starts answering\n"
                "     --report-inactive        also report shut-off guests (active \"0\")\n"
                "     --include=GLOB           report only guests whose UUID or name matches (repeatable)\n"
                "     --exclude=GLOB           never report guests whose UUID or name matches (repeatable)\n"
                "     --hypervisor-id=MODE     uuid (default), hostname or hwuuid\n"
                "     --hypervisor-id-override=ID\n"
                "     --flavour=auto|kvm|xen   hypervisor flavour (xen: Domain-0 is never a guest)\n"
                "     --keepalive=SEC,COUNT    keepalive probes (default %d,%u; 0 disables)\n"
                "     --timeout=DURATION       how long to wait for libvirt (default 60s)\n"
                "     --log-level=LEVEL        err (default), warning, notice, info, debug\n"
                "  -h --help                   show this help\n"
                "\n"
                "Exit status: 0 printed, 64 usage, 69 libvirt unreachable or not answering,\n"
                "78 no usable hypervisor id (see hypervisor_id).\n",
                HOST_KEEPALIVE_INTERVAL_SEC_DEFAULT, HOST_KEEPALIVE_COUNT_DEFAULT);
}

static int parse_keepalive(const char *s, HostConfig *cfg) {
        const char *comma = strchr(s, ',');
        char interval[32];
        uint64_t i, c = cfg->keepalive_count;

        if (comma) {
                if ((size_t) (comma - s) >= sizeof interval)
                        return -EINVAL;
                (void) snprintf(interval, sizeof interval, "%.*s", (int) (comma - s), s);
                if (parse_uint64_range(comma + 1, 1, 100, &c) < 0)
                        return -EINVAL;
        } else
                (void) snprintf(interval, sizeof interval, "%s", s);
        if (parse_uint64_range(interval, 0, 3600, &i) < 0)
                return -EINVAL;
        cfg->keepalive_interval_sec = (int) i;
        cfg->keepalive_count = (unsigned) c;
        return 0;
}

static int parse_args(int argc, char *argv[], const HostConfig *base, PrintArgs *a) {
        enum {
                ARG_URI = 0x100,
                ARG_WATCH,
                ARG_REPORT_INACTIVE,
                ARG_INCLUDE,
                ARG_EXCLUDE,
                ARG_ID,
                ARG_ID_OVERRIDE,
                ARG_FLAVOUR,
                ARG_KEEPALIVE,
                ARG_TIMEOUT,
                ARG_LOG_LEVEL,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "uri", required_argument, NULL, ARG_URI },
                { "watch", no_argument, NULL, ARG_WATCH },
                { "report-inactive", no_argument, NULL, ARG_REPORT_INACTIVE },
                { "include", required_argument, NULL, ARG_INCLUDE },
                { "exclude", required_argument, NULL, ARG_EXCLUDE },
                { "hypervisor-id", required_argument, NULL, ARG_ID },
                { "hypervisor-id-override", required_argument, NULL, ARG_ID_OVERRIDE },
                { "flavour", required_argument, NULL, ARG_FLAVOUR },
                { "keepalive", required_argument, NULL, ARG_KEEPALIVE },
                { "timeout", required_argument, NULL, ARG_TIMEOUT },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                {},
        };
        int c, r;

        /* Start from the configuration: print shows what the daemon would. */
        a->cfg = *base;
        a->timeout_usec = PRINT_TIMEOUT_USEC_DEFAULT;
        log_set_max_level(LOG_ERR);

        optind = 0; /* the verb's own argv: restart getopt */
        opterr = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_URI:
                        a->cfg.uri = optarg;
                        break;
                case ARG_WATCH:
                        a->watch = true;
                        break;
                case ARG_REPORT_INACTIVE:
                        a->cfg.report_inactive = true;
                        break;
                case ARG_INCLUDE:
                case ARG_EXCLUDE: {
                        bool inc = c == ARG_INCLUDE;
                        size_t *n = inc ? &a->n_include : &a->n_exclude;

                        if (*n >= PRINT_GLOBS_MAX) {
                                (void) fprintf(stderr, "hvmap print: at most %d --%s globs.\n",
                                               PRINT_GLOBS_MAX, inc ? "include" : "exclude");
                                return -EINVAL;
                        }
                        (inc ? a->include : a->exclude)[(*n)++] = optarg;
                        break;
                }
                case ARG_ID:
                        r = host_id_mode_from_string(optarg);
                        if (r < 0) {
                                (void) fprintf(stderr,
                                               "hvmap print: --hypervisor-id=%s: expected uuid, hostname or "
                                               "hwuuid.\n",
                                               optarg);
                                return -EINVAL;
                        }
                        a->cfg.id_mode = (HostIdMode) r;
                        break;
                case ARG_ID_OVERRIDE:
                        a->cfg.id_override = optarg;
                        break;
                case ARG_FLAVOUR:
                        r = host_flavour_from_string(optarg);
                        if (r < 0) {
                                (void) fprintf(stderr,
                                               "hvmap print: --flavour=%s: expected auto, kvm or xen.\n",
                                               optarg);
                                return -EINVAL;
                        }
                        a->cfg.flavour = (HostFlavour) r;
                        break;
                case ARG_KEEPALIVE:
                        if (parse_keepalive(optarg, &a->cfg) < 0) {
                                (void) fprintf(stderr,
                                               "hvmap print: --keepalive=%s: expected SECONDS[,COUNT], "
                                               "e.g. 5,3.\n",
                                               optarg);
                                return -EINVAL;
                        }
                        break;
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
                        r = log_level_from_string(optarg);
                        if (r < 0) {
                                (void) fprintf(stderr,
                                               "hvmap print: --log-level=%s: expected err, warning, "
                                               "notice, info or debug.\n",
                                               optarg);
                                return -EINVAL;
                        }
                        log_set_max_level(r);
                        break;
                case '?':
                default:
                        (void) fprintf(stderr,
                                       "hvmap print: unknown or incomplete option '%s'; see 'hvmap print "
                                       "--help'.\n",
                                       argv[optind - 1]);
                        return -EINVAL;
                }
        if (optind < argc) {
                (void) fprintf(stderr, "hvmap print: unexpected argument '%s'.\n", argv[optind]);
                return -EINVAL;
        }
        if (a->n_include)
                a->cfg.include = a->include;
        if (a->n_exclude)
                a->cfg.exclude = a->exclude;
        return 1;
}

/* {"hypervisors":[{"hypervisorId":{"hypervisorId":ID},"name":NAME,
 *   "guestIds":[{"guestId":UUID,"state":N,"attributes":{"virtWhoType":"libvirt","active":"0|1"}}],
 *   "facts":{...}}]}, or NULL on ENOMEM. */
static cJSON *mapping_json(const HostSnapshot *s) {
        _cleanup_(cJSON_Deletep) cJSON *root = cJSON_CreateObject();
        cJSON *hvs, *hv, *id, *guests, *facts;

        if (!root || !(hvs = cJSON_AddArrayToObject(root, "hypervisors")) || !(hv = cJSON_CreateObject()))
                return NULL;
        cJSON_AddItemToArray(hvs, hv);
        if (!(id = cJSON_AddObjectToObject(hv, "hypervisorId")) ||
            !cJSON_AddStringToObject(id, "hypervisorId", strempty(s->hypervisor_id)))
                return NULL;
        if (s->hostname && !cJSON_AddStringToObject(hv, "name", s->hostname))
                return NULL;
        if (!(guests = cJSON_AddArrayToObject(hv, "guestIds")))
                return NULL;
        for (size_t i = 0; i < s->n_guests; i++) {
                cJSON *g = cJSON_CreateObject(), *attrs;

                if (!g)
                        return NULL;
                cJSON_AddItemToArray(guests, g);
                if (!cJSON_AddStringToObject(g, "guestId", s->guests[i].uuid) ||
                    !cJSON_AddNumberToObject(g, "state", s->guests[i].state) ||
                    !(attrs = cJSON_AddObjectToObject(g, "attributes")) ||
                    !cJSON_AddStringToObject(attrs, "virtWhoType", "libvirt") ||
                    !cJSON_AddStringToObject(attrs, "active", s->guests[i].active ? "1" : "0"))
                        return NULL;
        }
        if (!(facts = cJSON_AddObjectToObject(hv, "facts")))
                return NULL;
        for (size_t i = 0; i < s->n_facts; i++)
                if (!cJSON_AddStringToObject(facts, s->facts[i].key, s->facts[i].value))
                        return NULL;
        return TAKE_PTR(root);
}

/* Writes text and a newline to stdout and flushes; -EIO when stdout is gone. */
static int emit(const char *text) {
        if (fputs(text, stdout) < 0 || fputc('\n', stdout) < 0 || fflush(stdout) != 0)
                return -EIO;
        return 0;
}

static void describe_socket(const PrintArgs *a, char *buf, size_t bufsz) {
        (void) host_uri_describe_socket(a->cfg.uri, a->cfg.read_only, buf, bufsz);
}

static int print_once(const PrintArgs *a, Host *h, int sfd) {
        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + a->timeout_usec;
        char sock[512];
        const char *uri = a->cfg.uri ? a->cfg.uri : "libvirt's default URI";

        describe_socket(a, sock, sizeof sock);
        for (;;) {
                struct pollfd p[2] = { { host_fd(h), POLLIN, 0 }, { sfd, POLLIN, 0 } };
                _cleanup_(host_snapshot_unrefp) HostSnapshot *s = NULL;
                uint64_t now = now_usec(CLOCK_MONOTONIC);
                int ms = now >= deadline ? 0 : (int) ((deadline - now + 999) / 1000);

                if (poll(p, 2, ms > 1000 ? 1000 : ms) < 0 && errno != EINTR)
                        return log_error_errno(errno, "poll failed: %m"), EX_OSERR;
                if (p[1].revents & POLLIN)
                        return EX_TEMPFAIL;
                host_fd_clear(h);
                s = host_snapshot(h);

                if (s->conn_state == HOST_CONN_CONNECTED && s->synced) {
                        _cleanup_(cJSON_Deletep) cJSON *j = NULL;
                        _cleanup_free_ char *text = NULL;

                        if (!s->hypervisor_id) {
                                (void) fprintf(stderr, "hvmap print: %s\n", strna(s->identity_error));
                                return EX_CONFIG;
                        }
                        j = mapping_json(s);
                        text = j ? cJSON_Print(j) : NULL;
                        if (!text)
                                return log_error("out of memory"), EX_OSERR;
                        return emit(text) < 0 ? EX_IOERR : EX_OK;
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
                if (now_usec(CLOCK_MONOTONIC) >= deadline) {
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
                                     format_timestamp(now_usec(CLOCK_REALTIME), now, sizeof now)) ||
            !cJSON_AddStringToObject(j, "libvirt", host_conn_state_to_string(state)) ||
            !cJSON_AddStringToObject(j, "since", format_timestamp(since_usec, since, sizeof since)) ||
            (s->uri && !cJSON_AddStringToObject(j, "uri", s->uri)) ||
            (error && !cJSON_AddStringToObject(j, "error", error)))
                return -ENOMEM;
        text = cJSON_PrintUnformatted(j);
        return text ? emit(text) : -ENOMEM;
}

static int emit_mapping(const HostSnapshot *s) {
        _cleanup_(cJSON_Deletep) cJSON *j = cJSON_CreateObject(), *m = mapping_json(s);
        _cleanup_free_ char *text = NULL;
        char now[64];
        cJSON *hvs;

        if (!j || !m ||
            !cJSON_AddStringToObject(j, "timestamp",
                                     format_timestamp(now_usec(CLOCK_REALTIME), now, sizeof now)))
                return -ENOMEM;
        hvs = cJSON_DetachItemFromObject(m, "hypervisors");
        if (!hvs)
                return -ENOMEM;
        cJSON_AddItemToObject(j, "hypervisors", hvs);
        text = cJSON_PrintUnformatted(j);
        return text ? emit(text) : -ENOMEM;
}

static int print_watch(Host *h, int sfd) {
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
                now = now_usec(CLOCK_MONOTONIC);
                hb = host_heartbeat_usec(h);
                stalled = now > hb + PRINT_STALL_USEC;
                if (stalled && !stalled_printed && printed != HOST_CONN_NOT_RESPONDING) {
                        r = emit_state(s, HOST_CONN_NOT_RESPONDING, now_usec(CLOCK_REALTIME) - (now - hb),
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
                        r = emit_mapping(s);
                        printed_mapping = s->mapping_seq;
                }
                if (r == -EIO)
                        return EX_IOERR;
                if (r < 0)
                        return log_error("out of memory"), EX_OSERR;
        }
}

int verb_print(const GlobalArgs *g, int argc, char *argv[]) {
        _cleanup_(config_free) Config conf = {};
        HostConfig base;
        PrintArgs a = {};
        _cleanup_close_ int sfd = -1;
        Host *h = NULL;
        sigset_t mask;
        int r;

        /* hvmap.conf's [libvirt] and [host] keys apply; no server is needed. */
        r = app_load_config(g, false, &conf);
        if (r != 0)
                return r;
        app_host_config(&conf, &base);
        r = parse_args(argc, argv, &base, &a);
        if (r <= 0)
                return r < 0 ? EX_USAGE : EX_OK;
        if (a.watch && log_get_max_level() < LOG_NOTICE)
                log_set_max_level(LOG_NOTICE);

        (void) signal(SIGPIPE, SIG_IGN);
        (void) sigemptyset(&mask);
        (void) sigaddset(&mask, SIGINT);
        (void) sigaddset(&mask, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
            (sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
                return log_error_errno(errno, "cannot set up signal handling: %m"), EX_OSERR;

        r = host_start(&a.cfg, &h);
        if (r < 0)
                return log_error_errno(r, "cannot start following libvirt: %m"), EX_OSERR;
        r = a.watch ? print_watch(h, sfd) : print_once(&a, h, sfd);
        host_stop(h);
        return r;
}
