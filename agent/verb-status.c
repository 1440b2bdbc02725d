/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `hvmap status`: gathers what the state directory says (configuration,
 * identity, state.json, whether a daemon holds the directory) and prints it
 * in the form asked for (agent/status.c decides and formats). It reads
 * files only, so it answers whatever libvirt or the server do, and it never
 * locks, writes or signals anything: a running daemon, or one starting at
 * that moment, is not disturbed. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sysexits.h>
#include <time.h>

#include "agent/app.h"
#include "agent/report-io.h"
#include "agent/state.h"
#include "agent/status.h"
#include "agent/verbs.h"
#include "config.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/parse.h"
#include "util/strprintf.h"

typedef enum StatusFormat {
        FORMAT_TEXT,
        FORMAT_JSON,
        FORMAT_OPENMETRICS,
        FORMAT_CHECK,
} StatusFormat;

/* Who holds STATE_DIR/lock, from /proc/locks: reading it takes no lock, so
 * nothing is disturbed (a flock attempt, even a shared one, would make a
 * daemon starting at that instant refuse to run). 1 held (*ret_pid, 0 when
 * the holder is outside our pid namespace), 0 not held or no lock file,
 * -errno when it cannot be told. */
static int lock_holder(const char *state_dir, pid_t *ret_pid) {
        _cleanup_free_ char *path = strdup_printf("%s/lock", state_dir), *line = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t n = 0;
        struct stat st;

        if (!path)
                return -ENOMEM;
        if (stat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        f = fopen("/proc/locks", "re");
        if (!f)
                return -errno;
        /* "1: FLOCK  ADVISORY  WRITE 1234 fd:01:1234567 0 EOF"; a waiter's
         * line has "->" after the number. */
        while (getline(&line, &n, f) > 0) {
                char type[16];
                unsigned maj, min;
                unsigned long long ino;
                int pid;

                if (sscanf(line, "%*u: %15s %*s %*s %d %x:%x:%llu", type, &pid, &maj, &min, &ino) != 5 ||
                    strcmp(type, "FLOCK") != 0)
                        continue;
                if (makedev(maj, min) == st.st_dev && ino == (unsigned long long) st.st_ino) {
                        *ret_pid = pid > 0 ? (pid_t) pid : 0;
                        return 1;
                }
        }
        return 0;
}

/* The command name of a live pid ("" when it cannot be read). */
static void pid_comm(int64_t pid, char *buf, size_t bufsz) {
        char path[64];
        _cleanup_fclose_ FILE *f = NULL;

        buf[0] = '\0';
        (void) snprintf(path, sizeof path, "/proc/%lld/comm", (long long) pid);
        f = fopen(path, "re");
        if (f && fgets(buf, (int) bufsz, f))
                buf[strcspn(buf, "\n")] = '\0';
}

static bool pid_alive(int64_t pid) {
        return pid > 0 && pid <= INT32_MAX && (kill((pid_t) pid, 0) == 0 || errno == EPERM);
}

/* Whether a daemon reports from state_dir: the one holding its lock. A
 * pid in state.json alone proves nothing (a crashed daemon's pid is soon
 * another process's). note gets why it counts as stopped or unknown. */
static void probe_daemon(const char *state_dir, const State *st, int st_r, StatusView *v, char *note,
                         size_t notesz) {
        pid_t holder = 0;
        char comm[64];
        int r;

        r = lock_holder(state_dir, &holder);
        if (r > 0) {
                AppLockHolder h = {};

                /* The holder wrote "PID VERB": a one-shot command is not the daemon. */
                (void) app_lock_holder_read(state_dir, &h);
                if (app_lock_holder_is_oneshot(&h)) {
                        (void) snprintf(note, notesz, "'hvmap %s' (pid %lld) holds %s/lock; no daemon runs",
                                        h.verb, (long long) (holder ? holder : h.pid), state_dir);
                        v->daemon_note = note;
                        return;
                }
                v->running = true;
                v->pid = holder ? holder : st->pid;
                return;
        }
        if (r == 0) {
                if (st_r >= 0 && pid_alive(st->pid)) {
                        pid_comm(st->pid, comm, sizeof comm);
                        (void) snprintf(
                                note, notesz,
                                "pid %lld in %s/%s is %s%s%s, which does not hold %s/lock: the daemon "
                                "ended without stopping cleanly",
                                (long long) st->pid, state_dir, STATE_FILE, comm[0] ? "now \"" : "alive",
                                comm, comm[0] ? "\"" : "", state_dir);
                } else if (st_r >= 0 && st->pid > 0)
                        (void) snprintf(note, notesz, "pid %lld ended without stopping cleanly",
                                        (long long) st->pid);
                else if (st_r >= 0 && st->updated_usec > 0)
                        (void) snprintf(note, notesz, "stopped");
                else
                        (void) snprintf(note, notesz, "it has not run yet");
                v->daemon_note = note;
                return;
        }
        /* The lock cannot be looked at (not allowed to see into the state
         * directory, or no /proc/locks): the pid then, and what runs under it. */
        if (st_r < 0 && st_r != -ENOENT) {
                v->daemon_unknown = true;
                (void) snprintf(note, notesz, "cannot look at %s/lock: %s", state_dir, strerror(-r));
        } else if (st->pid == 0 || !pid_alive(st->pid)) {
                (void) snprintf(note, notesz, st->pid ? "pid %lld ended" : "stopped", (long long) st->pid);
        } else {
                pid_comm(st->pid, comm, sizeof comm);
                if (streq_ptr(comm, "hvmap")) {
                        v->running = true;
                        v->pid = st->pid;
                        return;
                }
                if (comm[0])
                        (void) snprintf(note, notesz, "pid %lld in %s/%s is now \"%s\", not hvmap",
                                        (long long) st->pid, state_dir, STATE_FILE, comm);
                else {
                        v->daemon_unknown = true;
                        (void) snprintf(note, notesz, "cannot look at %s/lock (%s) nor at pid %lld",
                                        state_dir, strerror(-r), (long long) st->pid);
                }
        }
        v->daemon_note = note;
}

static void status_help(void) {
        (void) printf(
                "Usage: hvmap status [--json | --format=text|json|openmetrics | --check]\n"
                "                    [--warn-age DURATION] [--crit-age DURATION]\n"
                "\n"
                "Shows the identity, the server, the daemon, the last accepted report and the\n"
                "last error, from the state directory; it does not disturb a running daemon.\n"
                "  --json                 the same as JSON (schema 1: always the same keys)\n"
                "  --format=openmetrics   metrics for Prometheus (node_exporter's textfile collector)\n"
                "  --check                one line for Nagios/Icinga: HVMAP OK|WARNING|CRITICAL|UNKNOWN\n"
                "                         and perfdata; exit 0, 1, 2 or 3 as the plugin API says\n"
                "  --warn-age DURATION    no report accepted for this long is a warning\n"
                "                         (default 2 x interval + splay)\n"
                "  --crit-age DURATION    ... and critical (default 4 x interval + splay)\n"
                "\n"
                "Exit status (but --check): 0 healthy, 65 the server refuses the reports, 66 the\n"
                "state cannot be read, 69 the daemon or libvirt is down, 75 reports failing or\n"
                "none accepted for --warn-age, 77 not registered, consumer deleted, credentials\n"
                "refused or certificate expiring, 78 configuration error or no hypervisor id.\n");
}

int verb_status(const GlobalArgs *g, int argc, char *argv[]) {
        enum { ARG_JSON = 0x100, ARG_FORMAT, ARG_CHECK, ARG_WARN_AGE, ARG_CRIT_AGE };
        static const struct option options[] = {
                { "json", no_argument, NULL, ARG_JSON },
                { "format", required_argument, NULL, ARG_FORMAT },
                { "check", no_argument, NULL, ARG_CHECK },
                { "warn-age", required_argument, NULL, ARG_WARN_AGE },
                { "crit-age", required_argument, NULL, ARG_CRIT_AGE },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_free_ char *id_err = NULL, *url = NULL, *text = NULL;
        StatusFormat format = FORMAT_TEXT;
        bool formats = false, check_asked = false;
        uint64_t warn_age = UINT64_MAX, crit_age = UINT64_MAX;
        ProtoIdentity *id = NULL;
        char note[512] = "";
        StatusVerdict vd;
        StatusView v = {};
        Config c = {};
        State st = {};
        int c_r, r = 0;

        /* The plugin API wants 3 for a usage error, too. */
        for (int i = 1; i < argc; i++)
                check_asked = check_asked || streq_ptr(argv[i], "--check");
        optind = 0;
        opterr = 0;
        while ((r = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                StatusFormat f = FORMAT_TEXT;
                const char *bad = NULL;

                switch (r) {
                case 'h':
                        status_help();
                        return EX_OK;
                case ARG_JSON:
                        f = FORMAT_JSON;
                        break;
                case ARG_CHECK:
                        f = FORMAT_CHECK;
                        break;
                case ARG_FORMAT:
                        if (streq_ptr(optarg, "text"))
                                f = FORMAT_TEXT;
                        else if (streq_ptr(optarg, "json"))
                                f = FORMAT_JSON;
                        else if (streq_ptr(optarg, "openmetrics"))
                                f = FORMAT_OPENMETRICS;
                        else
                                bad = "--format: expected text, json or openmetrics";
                        break;
                case ARG_WARN_AGE:
                case ARG_CRIT_AGE: {
                        uint64_t *age = r == ARG_WARN_AGE ? &warn_age : &crit_age;

                        if (parse_duration(optarg, USEC_PER_SEC, age) < 0)
                                bad = r == ARG_WARN_AGE ? "--warn-age: expected a duration (90s, 2h, 1d)"
                                                        : "--crit-age: expected a duration (90s, 2h, 1d)";
                        break;
                }
                default:
                        bad = "unknown option or missing value";
                        break;
                }
                if (!bad && r != ARG_WARN_AGE && r != ARG_CRIT_AGE) {
                        if (formats && f != format)
                                bad = "give one of --json, --format, --check";
                        formats = true;
                        format = f;
                }
                if (bad) {
                        (void) fprintf(stderr, "hvmap status: %s: %s; see 'hvmap status --help'\n",
                                       argv[optind - 1 > 0 ? optind - 1 : 1], bad);
                        return check_asked ? STATUS_UNKNOWN : EX_USAGE;
                }
        }
        if (optind < argc) {
                (void) fprintf(stderr, "hvmap status: unexpected argument '%s'\n", argv[optind]);
                return check_asked ? STATUS_UNKNOWN : EX_USAGE;
        }
        r = 0;

        v.now_usec = app_now_usec(CLOCK_REALTIME);
        v.state = &st;
        c_r = app_load_config(g, false, &c);
        if (c_r != 0)
                v.config_error = true;
        else {
                url = config_server_url(&c);
                v.url = url;
                v.own = report_identity_own(&c, url, NULL, NULL);
                v.id_r = v.own ? proto_identity_load(c.state_dir, &id, &id_err)
                               : proto_identity_load_rhsm(c.rhsm_identity_dir, &id, &id_err);
                v.id = id;
                v.id_err = id_err;
                v.state_dir = c.state_dir;
                v.state_r = state_load(c.state_dir, &st);
                if (v.state_r < 0)
                        state_done(&st);
                probe_daemon(c.state_dir, &st, v.state_r, &v, note, sizeof note);
                v.can_register = v.own && c.activation_key_file && c.org;
                v.warn_age_usec = warn_age != UINT64_MAX ? warn_age : 2 * c.interval_usec + c.splay_usec;
                v.crit_age_usec = crit_age != UINT64_MAX ? crit_age : 4 * c.interval_usec + c.splay_usec;
        }

        switch (format) {
        case FORMAT_TEXT:
                r = status_print_text(&v, stdout);
                break;
        case FORMAT_JSON:
                r = status_format_json(&v, &text);
                if (r >= 0)
                        (void) printf("%s\n", text);
                break;
        case FORMAT_CHECK:
                status_print_check(&v, stdout);
                break;
        case FORMAT_OPENMETRICS:
                status_print_openmetrics(&v, HVMAP_VERSION, stdout);
                break;
        }
        status_evaluate(&v, &vd);
        proto_identity_free(id);
        state_done(&st);
        if (!v.config_error)
                config_free(&c);
        if (fflush(stdout) != 0 || ferror(stdout))
                return log_error_errno(errno ?: EIO, "Cannot write the status: %m"),
                       format == FORMAT_CHECK ? STATUS_UNKNOWN : EX_IOERR;
        if (r < 0)
                return log_error_errno(r, "Cannot format the status: %m"),
                       format == FORMAT_CHECK ? STATUS_UNKNOWN : EX_OSERR;
        if (format == FORMAT_CHECK)
                return (int) vd.level;
        return vd.exit_status;
}
