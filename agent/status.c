/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `hvmap status`'s verdict and its forms; see status.h. */
#include "agent/status.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include "agent/app.h"
#include "util/cleanup-libs.h"
#include "util/escape.h"
#include "util/parse.h"

#define JSON_SCHEMA 1

static const char *const level_table[] = {
        [STATUS_OK] = "OK",
        [STATUS_WARNING] = "WARNING",
        [STATUS_CRITICAL] = "CRITICAL",
        [STATUS_UNKNOWN] = "UNKNOWN",
};

const char *status_level_to_string(StatusLevel l) {
        return (size_t) l < ELEMENTSOF(level_table) ? level_table[l] : "UNKNOWN";
}

/* Worse first: CRITICAL, then UNKNOWN (something could not be read), then
 * WARNING. */
static int level_rank(StatusLevel l) {
        switch (l) {
        case STATUS_CRITICAL:
                return 3;
        case STATUS_UNKNOWN:
                return 2;
        case STATUS_WARNING:
                return 1;
        case STATUS_OK:
                break;
        }
        return 0;
}

/* "2h 5min", "42s": a span for people, to the second below an hour, to
 * the minute below a day, to the hour above. */
static char *span(uint64_t usec, char *buf, size_t bufsz) {
        uint64_t unit = usec >= USEC_PER_DAY    ? USEC_PER_HOUR
                        : usec >= USEC_PER_HOUR ? USEC_PER_MINUTE
                                                : USEC_PER_SEC;

        if (usec < USEC_PER_SEC) {
                (void) snprintf(buf, bufsz, "under 1s");
                return buf;
        }
        return format_duration(buf, bufsz, usec / unit * unit);
}

/* "5min ago", "just now"; "never" for 0. */
static char *ago(uint64_t when_usec, uint64_t now_usec, char *buf, size_t bufsz) {
        char d[DURATION_STRING_MAX];

        if (when_usec == 0)
                (void) snprintf(buf, bufsz, "never");
        else if (when_usec > now_usec || now_usec - when_usec < USEC_PER_SEC)
                (void) snprintf(buf, bufsz, "just now");
        else
                (void) snprintf(buf, bufsz, "%s ago", span(now_usec - when_usec, d, sizeof d));
        return buf;
}

static const char *plural(uint64_t n) {
        return n == 1 ? "" : "s";
}

_printf_(5, 6) static void add(StatusVerdict *v, StatusLevel level, int exit_status, const char *code,
                               const char *format, ...) {
        StatusProblem *p;
        va_list ap;

        if (v->n >= ELEMENTSOF(v->problems))
                return;
        p = &v->problems[v->n++];
        p->level = level;
        p->exit_status = exit_status;
        p->code = code;
        va_start(ap, format);
        (void) vsnprintf(p->text, sizeof p->text, format, ap);
        va_end(ap);
}

static bool accepted_mine(const StatusView *v) {
        const State *s = v->state;

        return s->accepted_at_usec > 0 && s->accepted_consumer && v->id && v->id->uuid &&
               strcasecmp(s->accepted_consumer, v->id->uuid) == 0;
}

static bool failing(const State *s, const char *result) {
        return s->consecutive_failures > 0 && streq_ptr(s->last_result, result);
}

/* The identity: registered, usable, accepted by the server. true when it
 * is not (nothing else about reporting matters then). */
static bool evaluate_identity(const StatusView *v, StatusVerdict *ret) {
        const State *s = v->state;
        char t[64], d[DURATION_STRING_MAX];
        size_t n0 = ret->n;

        if (v->id_r == -ENOENT) {
                if (streq_ptr(s->last_result, "gone"))
                        add(ret, STATUS_CRITICAL, EX_NOPERM, "consumer-deleted",
                            "this host's consumer was deleted on the server by an administrator (%s); "
                            "reporting "
                            "stopped: run 'hvmap register' to report again",
                            strna(s->last_message));
                else if (!v->own)
                        add(ret, STATUS_CRITICAL, EX_NOPERM, "not-registered",
                            "subscription-manager's consumer is gone (identity_source = rhsm): register the "
                            "host with subscription-manager");
                else if (v->running && v->can_register)
                        add(ret, STATUS_CRITICAL, EX_NOPERM, "not-registered",
                            "not registered yet; the daemon registers with the configured activation "
                            "key%s%s",
                            s->consecutive_failures > 0 ? ", and failed: " : "",
                            s->consecutive_failures > 0 ? strna(s->last_message) : "");
                else
                        add(ret, STATUS_CRITICAL, EX_NOPERM, "not-registered",
                            "not registered: run 'hvmap register' (or set activation_key_file and org)");
                return true;
        }
        if (v->id_r < 0 || !v->id) {
                add(ret, STATUS_CRITICAL, EX_NOPERM, "identity-error", "the identity is unusable: %s",
                    strna(v->id_err));
                return true;
        }
        if (v->own && v->id->server_url && v->url && !app_same_server(v->id->server_url, v->url))
                add(ret, STATUS_CRITICAL, EX_NOPERM, "identity-error",
                    "registered with %s, but the configured server is %s: run 'hvmap register --force'",
                    v->id->server_url, v->url);
        else if (v->running && streq_ptr(s->phase, "identity-error"))
                add(ret, STATUS_CRITICAL, EX_NOPERM, "identity-error",
                    "the daemon cannot use the identity (journalctl -u hvmap says why)");
        {
                uint64_t end = (uint64_t) (v->id->not_after > 0 ? v->id->not_after : 0) * USEC_PER_SEC;

                if (end <= v->now_usec)
                        add(ret, STATUS_CRITICAL, EX_NOPERM, "certificate-expired",
                            "the identity certificate of consumer %s expired at %s: the server refuses it; "
                            "%s",
                            v->id->uuid, app_format_time(end, t, sizeof t),
                            v->own ? "run 'hvmap register --force'" : "renew it with subscription-manager");
                else if (end - v->now_usec < STATUS_CERT_WARN_USEC)
                        add(ret, STATUS_CRITICAL, EX_NOPERM, "certificate-expiring",
                            "the identity certificate of consumer %s expires in %s (%s): %s", v->id->uuid,
                            span(end - v->now_usec, d, sizeof d), app_format_time(end, t, sizeof t),
                            v->own ? "the daemon's identity check renews it; if it has not by then, run "
                                     "'hvmap register --force'"
                                   : "subscription-manager (rhsmcertd) renews it");
        }
        if (failing(s, "auth"))
                add(ret, STATUS_CRITICAL, EX_NOPERM, "auth-failed",
                    "the server refuses our credentials (HTTP %ld, %u attempt%s since %s): %s",
                    s->last_http_status, s->consecutive_failures, plural(s->consecutive_failures),
                    app_format_time(s->failing_since_usec, t, sizeof t), strna(s->last_message));
        return ret->n > n0;
}

static void evaluate_daemon(const StatusView *v, StatusVerdict *ret) {
        const State *s = v->state;
        char t[64], d[DURATION_STRING_MAX];

        if (v->daemon_unknown) {
                add(ret, STATUS_UNKNOWN, EX_NOINPUT, "daemon-unknown",
                    "cannot tell whether the daemon runs: %s", strna(v->daemon_note));
                return;
        }
        if (!v->running) {
                add(ret, STATUS_CRITICAL, EX_UNAVAILABLE, "daemon-down",
                    "the daemon is not running%s%s (systemctl start hvmap; journalctl -u hvmap)",
                    v->daemon_note ? ": " : "", strempty(v->daemon_note));
                return;
        }
        if (streq_ptr(s->phase, "no-hypervisor-id"))
                add(ret, STATUS_CRITICAL, EX_CONFIG, "no-hypervisor-id",
                    "no usable hypervisor id, nothing is reported: 'hvmap doctor' says why");
        if (failing(s, "permanent"))
                add(ret, STATUS_CRITICAL, EX_DATAERR, "report-refused",
                    "the server refuses the reports for good (HTTP %ld, since %s): %s", s->last_http_status,
                    app_format_time(s->failing_since_usec, t, sizeof t), strna(s->last_message));
        else if (failing(s, "local"))
                add(ret, STATUS_CRITICAL, EX_CONFIG, "report-local",
                    "reports cannot be sent (since %s): %s; 'hvmap doctor' checks the set-up",
                    app_format_time(s->failing_since_usec, t, sizeof t), strna(s->last_message));
        else if (failing(s, "temporary") || failing(s, "retry-after")) {
                uint64_t lasted = s->failing_since_usec > 0 && s->failing_since_usec < v->now_usec
                                          ? v->now_usec - s->failing_since_usec
                                          : 0;

                add(ret,
                    v->crit_age_usec > 0 && lasted >= v->crit_age_usec ? STATUS_CRITICAL : STATUS_WARNING,
                    EX_TEMPFAIL, "report-failing", "reports failing for %s (%u attempt%s, %s): %s",
                    span(lasted, d, sizeof d), s->consecutive_failures, plural(s->consecutive_failures),
                    s->last_http_status > 0 ? "the server answers with an error"
                                            : "the server is unreachable",
                    strna(s->last_message));
        }
        if (s->libvirt_state && !streq_ptr(s->libvirt_state, "connected"))
                add(ret, STATUS_WARNING, EX_UNAVAILABLE, "libvirt",
                    "libvirt %s since %s%s%s: guest changes are not seen until it is back", s->libvirt_state,
                    app_format_time(s->libvirt_since_usec, t, sizeof t), s->libvirt_error ? ": " : "",
                    strempty(s->libvirt_error));
}

static void evaluate_age(const StatusView *v, StatusVerdict *ret) {
        const State *s = v->state;
        uint64_t ref = ret->accepted_mine ? s->accepted_at_usec : v->running ? s->started_usec : 0, age;
        char t[64], d[DURATION_STRING_MAX];
        StatusLevel l;

        if (ref == 0 || ref > v->now_usec)
                return;
        age = v->now_usec - ref;
        if (v->crit_age_usec > 0 && age >= v->crit_age_usec)
                l = STATUS_CRITICAL;
        else if (v->warn_age_usec > 0 && age >= v->warn_age_usec)
                l = STATUS_WARNING;
        else
                return;
        if (ret->accepted_mine)
                add(ret, l, EX_TEMPFAIL, "stale", "no report accepted for %s (the last at %s)",
                    span(age, d, sizeof d), app_format_time(ref, t, sizeof t));
        else
                add(ret, l, EX_TEMPFAIL, "stale", "no report accepted since the daemon started %s ago",
                    span(age, d, sizeof d));
}

void status_evaluate(const StatusView *v, StatusVerdict *ret) {
        const State *s = v->state;
        char a[64];
        size_t len = 0;

        *ret = (StatusVerdict){ .age_usec = UINT64_MAX };
        if (v->config_error) {
                add(ret, STATUS_UNKNOWN, EX_CONFIG, "config-error",
                    "the configuration does not load ('hvmap config --check' says why)");
                goto done;
        }
        if (v->state_r < 0 && v->state_r != -ENOENT) {
                add(ret, STATUS_UNKNOWN, EX_NOINPUT, "state-unreadable", "cannot read %s/%s: %s%s",
                    strna(v->state_dir), STATE_FILE, strerror(-v->state_r),
                    v->state_r == -EACCES ? " (run as root or as the service's user)" : "");
                goto done;
        }
        if (v->id_r == -EACCES) {
                add(ret, STATUS_UNKNOWN, EX_NOINPUT, "identity-unreadable",
                    "cannot read the identity: %s (run as root or as the service's user)", strna(v->id_err));
                goto done;
        }
        ret->accepted_mine = accepted_mine(v);
        if (ret->accepted_mine && s->accepted_at_usec <= v->now_usec)
                ret->age_usec = v->now_usec - s->accepted_at_usec;

        if (!evaluate_identity(v, ret)) {
                evaluate_daemon(v, ret);
                evaluate_age(v, ret);
        } else
                evaluate_daemon(v, ret);
done:
        /* Worst first, in the order found otherwise (insertion sort: stable). */
        for (size_t i = 1; i < ret->n; i++)
                for (size_t j = i;
                     j > 0 && level_rank(ret->problems[j].level) > level_rank(ret->problems[j - 1].level);
                     j--) {
                        StatusProblem tmp = ret->problems[j];

                        ret->problems[j] = ret->problems[j - 1];
                        ret->problems[j - 1] = tmp;
                }
        if (ret->n > 0) {
                ret->level = ret->problems[0].level;
                ret->exit_status = ret->problems[0].exit_status;
        }
        for (size_t i = 0; i < ret->n && len < sizeof ret->summary; i++) {
                int k = snprintf(ret->summary + len, sizeof ret->summary - len, "%s%s", i ? "; " : "",
                                 ret->problems[i].text);
                if (k < 0)
                        break;
                len += (size_t) k;
        }
        if (ret->n > 0)
                return;
        if (streq_ptr(s->phase, "starting"))
                (void) snprintf(ret->summary, sizeof ret->summary,
                                "starting: waiting for libvirt's first guest list");
        else if (ret->accepted_mine)
                (void) snprintf(ret->summary, sizeof ret->summary,
                                "watching %llu guest%s; last report accepted %s, %llu guest%s",
                                (unsigned long long) s->guests, plural(s->guests),
                                ago(s->accepted_at_usec, v->now_usec, a, sizeof a),
                                (unsigned long long) s->accepted_guests, plural(s->accepted_guests));
        else
                (void) snprintf(ret->summary, sizeof ret->summary,
                                "watching %llu guest%s; nothing reported yet",
                                (unsigned long long) s->guests, plural(s->guests));
}

/* ---- JSON ---------------------------------------------------------------- */

static void add_time(cJSON *o, const char *key, uint64_t realtime_usec) {
        char buf[64];

        if (realtime_usec == 0)
                (void) cJSON_AddNullToObject(o, key);
        else
                (void) cJSON_AddStringToObject(o, key, app_format_time(realtime_usec, buf, sizeof buf));
}

static void add_str(cJSON *o, const char *key, const char *v) {
        if (v)
                (void) cJSON_AddStringToObject(o, key, v);
        else
                (void) cJSON_AddNullToObject(o, key);
}

static void add_num(cJSON *o, const char *key, bool known, double v) {
        if (known)
                (void) cJSON_AddNumberToObject(o, key, v);
        else
                (void) cJSON_AddNullToObject(o, key);
}

static void add_bool(cJSON *o, const char *key, bool known, bool v) {
        if (known)
                (void) cJSON_AddBoolToObject(o, key, v);
        else
                (void) cJSON_AddNullToObject(o, key);
}

static const char *const request_names[STATE_REQUEST_KINDS] = {
        "ok", "retry-after", "temporary", "gone", "auth", "permanent", "local",
};

static const char *const level_lower[] = {
        [STATUS_OK] = "ok",
        [STATUS_WARNING] = "warning",
        [STATUS_CRITICAL] = "critical",
        [STATUS_UNKNOWN] = "unknown",
};

int status_format_json(const StatusView *v, char **ret) {
        _cleanup_(cJSON_Deletep) cJSON *o = cJSON_CreateObject();
        const State *s = v->state;
        const ProtoIdentity *id = v->id;
        /* What is known: the state when it was read, the live part only from
         * a running daemon. */
        bool st = !v->config_error && v->state_r >= 0, live = st && v->running,
             dmn_known = !v->config_error && !v->daemon_unknown;
        StatusVerdict vd;
        cJSON *h, *ps, *ident, *rep, *req, *dmn;

        if (!o)
                return -ENOMEM;
        status_evaluate(v, &vd);
        (void) cJSON_AddNumberToObject(o, "schema", JSON_SCHEMA);
        h = cJSON_AddObjectToObject(o, "health");
        if (h) {
                (void) cJSON_AddStringToObject(h, "status", level_lower[vd.level]);
                (void) cJSON_AddNumberToObject(h, "check_exit_status", vd.level);
                (void) cJSON_AddNumberToObject(h, "exit_status", vd.exit_status);
                (void) cJSON_AddStringToObject(h, "summary", vd.summary);
                ps = cJSON_AddArrayToObject(h, "problems");
                for (size_t i = 0; ps && i < vd.n; i++) {
                        cJSON *p = cJSON_CreateObject();

                        if (!p || !cJSON_AddItemToArray(ps, p)) {
                                cJSON_Delete(p);
                                return -ENOMEM;
                        }
                        (void) cJSON_AddStringToObject(p, "level",
                                                       status_level_to_string(vd.problems[i].level));
                        (void) cJSON_AddStringToObject(p, "code", vd.problems[i].code);
                        (void) cJSON_AddStringToObject(p, "text", vd.problems[i].text);
                }
        }
        add_str(o, "server", v->url);
        ident = cJSON_AddObjectToObject(o, "identity");
        if (ident) {
                add_bool(ident, "registered", !v->config_error && v->id_r != -EACCES, v->id_r >= 0 && id);
                add_str(ident, "source", v->config_error ? NULL : v->own ? "hvmap" : "subscription-manager");
                add_str(ident, "uuid", id ? id->uuid : NULL);
                add_str(ident, "owner", id ? id->owner : NULL);
                add_str(ident, "server", id ? id->server_url : NULL);
                add_time(ident, "expires", id ? (uint64_t) id->not_after * USEC_PER_SEC : 0);
                add_num(ident, "expires_in_sec", id != NULL,
                        id ? (double) ((int64_t) id->not_after - (int64_t) (v->now_usec / USEC_PER_SEC))
                           : 0);
                add_str(ident, "error", v->id_r < 0 && v->id_r != -ENOENT ? v->id_err : NULL);
                add_str(ident, "warning", id ? id->warning : NULL);
        }
        rep = cJSON_AddObjectToObject(o, "report");
        if (rep) {
                add_time(rep, "last_accepted", vd.accepted_mine ? s->accepted_at_usec : 0);
                add_num(rep, "last_accepted_age_sec", vd.age_usec != UINT64_MAX,
                        (double) (vd.age_usec / USEC_PER_SEC));
                add_num(rep, "accepted_guests", vd.accepted_mine, (double) s->accepted_guests);
                add_time(rep, "last_attempt", st ? s->last_attempt_usec : 0);
                add_str(rep, "last_result", st ? s->last_result : NULL);
                add_num(rep, "last_http_status", st && s->last_attempt_usec && s->last_http_status > 0,
                        (double) s->last_http_status);
                add_str(rep, "last_error", st ? s->last_message : NULL);
                add_num(rep, "consecutive_failures", st, (double) s->consecutive_failures);
                add_time(rep, "failing_since", st && s->consecutive_failures ? s->failing_since_usec : 0);
                add_time(rep, "next", live ? s->next_report_usec : 0);
                add_str(rep, "busy", live ? s->busy : NULL);
                add_num(rep, "reports_sent", st, (double) s->reports_sent);
                req = cJSON_AddObjectToObject(rep, "requests");
                for (size_t i = 0; req && i < STATE_REQUEST_KINDS; i++)
                        add_num(req, request_names[i], st, (double) s->requests[i]);
        }
        dmn = cJSON_AddObjectToObject(o, "daemon");
        if (dmn) {
                add_bool(dmn, "running", dmn_known, v->running);
                add_num(dmn, "pid", v->running, (double) v->pid);
                add_str(dmn, "phase", live ? s->phase : dmn_known && !v->running ? "stopped" : NULL);
                add_str(dmn, "note", v->daemon_note);
                add_time(dmn, "started", live ? s->started_usec : 0);
                add_time(dmn, "updated", st ? s->updated_usec : 0);
                add_str(dmn, "libvirt", live ? s->libvirt_state : NULL);
                add_time(dmn, "libvirt_since", live ? s->libvirt_since_usec : 0);
                add_str(dmn, "libvirt_error", live ? s->libvirt_error : NULL);
                add_num(dmn, "guests", live, (double) s->guests);
                add_num(dmn, "loop_wakeups", live, (double) s->loop_wakeups);
        }
        *ret = cJSON_Print(o);
        return *ret ? 0 : -ENOMEM;
}

/* ---- text ---------------------------------------------------------------- */

/* The strings status prints that others chose (the server, a certificate,
 * libvirt, a process's name), escaped onto one line each. */
typedef struct Escaped {
        char *summary, *url, *uuid, *owner, *id_err, *warning, *note, *phase, *lv, *lv_err, *busy, *result,
                *message;
} Escaped;

static void escaped_done(Escaped *e) {
        char **f = (char **) e;

        for (size_t i = 0; i < sizeof(*e) / sizeof(char *); i++)
                free(f[i]);
}

int status_print_text(const StatusView *v, FILE *f) {
        const State *s = v->state;
        const ProtoIdentity *id = v->id;
        char t1[64], t2[64];
        _cleanup_(escaped_done) Escaped e = {};
        StatusVerdict vd;

        status_evaluate(v, &vd);
        e = (Escaped){
                .summary = escape_control(vd.summary, SIZE_MAX),
                .url = escape_control(v->url, SIZE_MAX),
                .uuid = escape_control(id ? id->uuid : NULL, SIZE_MAX),
                .owner = escape_control(id ? strna(id->owner) : NULL, SIZE_MAX),
                .id_err = escape_control(strna(v->id_err), SIZE_MAX),
                .warning = escape_control(id ? id->warning : NULL, SIZE_MAX),
                .note = escape_control(strna(v->daemon_note), SIZE_MAX),
                .phase = escape_control(strna(s->phase), SIZE_MAX),
                .lv = escape_control(strna(s->libvirt_state), SIZE_MAX),
                .lv_err = escape_control(s->libvirt_error, SIZE_MAX),
                .busy = escape_control(s->busy, SIZE_MAX),
                .result = escape_control(strna(s->last_result), SIZE_MAX),
                .message = escape_control(s->last_message, SIZE_MAX),
        };
        for (size_t i = 0; i < sizeof e / sizeof(char *); i++)
                if (!((char **) &e)[i])
                        return -ENOMEM;

        (void) fprintf(f, "health:      %s - %s\n", status_level_to_string(vd.level), e.summary);
        if (v->config_error)
                return 0;
        (void) fprintf(f, "server:      %s\n", v->url ? e.url : "(none configured)");
        if (id)
                (void) fprintf(
                        f, "identity:    %sconsumer %s in organization %s (certificate valid until %s)\n",
                        v->own ? "" : "subscription-manager's ", e.uuid, e.owner,
                        app_format_time((uint64_t) id->not_after * USEC_PER_SEC, t1, sizeof t1));
        else if (v->id_r == -ENOENT)
                (void) fprintf(f, "identity:    not registered\n");
        else
                (void) fprintf(f, "identity:    unusable: %s\n", e.id_err);
        if (id && id->warning)
                (void) fprintf(f, "warning:     %s\n", e.warning);
        if (v->daemon_unknown)
                (void) fprintf(f, "daemon:      unknown: %s\n", e.note);
        else if (!v->running)
                (void) fprintf(f, "daemon:      not running%s%s%s\n", v->daemon_note ? " (" : "",
                               v->daemon_note ? e.note : "", v->daemon_note ? ")" : "");
        if (v->state_r < 0 && v->state_r != -ENOENT) {
                (void) fprintf(f, "state:       cannot be read: %s\n", strerror(-v->state_r));
                return 0;
        }
        if (v->running) {
                (void) fprintf(f, "daemon:      running, pid %lld, since %s\n", (long long) v->pid,
                               app_format_time(s->started_usec, t1, sizeof t1));
                (void) fprintf(f, "phase:       %s\n", e.phase);
                if (s->libvirt_state)
                        (void) fprintf(f, "libvirt:     %s since %s%s%s\n", e.lv,
                                       app_format_time(s->libvirt_since_usec, t1, sizeof t1),
                                       s->libvirt_error ? ": " : "", e.lv_err);
                (void) fprintf(f, "guests:      %llu\n", (unsigned long long) s->guests);
                if (s->busy)
                        (void) fprintf(f, "next report: %s in progress\n", e.busy);
                else if (s->next_report_usec == 0)
                        (void) fprintf(f, "next report: none scheduled\n");
                else if (s->next_report_usec <= v->now_usec)
                        (void) fprintf(f, "next report: due now\n");
                else
                        (void) fprintf(f, "next report: %s (in %s)\n",
                                       app_format_time(s->next_report_usec, t1, sizeof t1),
                                       span(s->next_report_usec - v->now_usec, t2, sizeof t2));
        }
        if (vd.accepted_mine)
                (void) fprintf(f, "last accepted report: %s (%s), %llu guest%s\n",
                               app_format_time(s->accepted_at_usec, t1, sizeof t1),
                               ago(s->accepted_at_usec, v->now_usec, t2, sizeof t2),
                               (unsigned long long) s->accepted_guests, plural(s->accepted_guests));
        else
                (void) fprintf(f, "last accepted report: none%s\n", id ? " for this consumer" : "");
        if (s->last_attempt_usec)
                (void) fprintf(f, "last attempt:         %s: %s%s%s\n",
                               app_format_time(s->last_attempt_usec, t1, sizeof t1), e.result,
                               s->last_message ? ": " : "", e.message);
        if (s->consecutive_failures)
                (void) fprintf(f, "failures in a row:    %u since %s\n", s->consecutive_failures,
                               app_format_time(s->failing_since_usec, t1, sizeof t1));
        return 0;
}

/* ---- Nagios -------------------------------------------------------------- */

void status_print_check(const StatusView *v, FILE *f) {
        const State *s = v->state;
        bool st = !v->config_error && v->state_r >= 0, live = st && v->running;
        StatusVerdict vd;

        _cleanup_free_ char *text = NULL;

        status_evaluate(v, &vd);
        /* The plugin API: one line "SERVICE STATUS - text | perfdata"; a
         * '|' in the text would start the perfdata. */
        for (char *p = vd.summary; *p; p++)
                if (*p == '|')
                        *p = '/';
        text = escape_control(vd.summary, SIZE_MAX);
        (void) fprintf(f, "HVMAP %s - %s |", status_level_to_string(vd.level),
                       text ? text : "(out of memory)");
        if (live)
                (void) fprintf(f, " guests=%llu;;;0", (unsigned long long) s->guests);
        else
                (void) fprintf(f, " guests=U;;;0");
        if (vd.age_usec != UINT64_MAX)
                (void) fprintf(f, " last_accepted_age=%llus",
                               (unsigned long long) (vd.age_usec / USEC_PER_SEC));
        else
                (void) fprintf(f, " last_accepted_age=U");
        (void) fprintf(f, ";%llu;%llu;0", (unsigned long long) (v->warn_age_usec / USEC_PER_SEC),
                       (unsigned long long) (v->crit_age_usec / USEC_PER_SEC));
        if (st)
                (void) fprintf(f, " consecutive_failures=%u;;;0 reports_sent=%lluc;;;0",
                               s->consecutive_failures, (unsigned long long) s->reports_sent);
        else
                (void) fprintf(f, " consecutive_failures=U;;;0 reports_sent=U;;;0");
        if (v->id)
                /* Critical below the threshold: the range "N:" (plugin API). */
                (void) fprintf(f, " certificate_days_left=%lld;;%llu:;",
                               ((long long) v->id->not_after - (long long) (v->now_usec / USEC_PER_SEC)) /
                                       86400,
                               (unsigned long long) (STATUS_CERT_WARN_USEC / USEC_PER_DAY));
        (void) fprintf(f, "\n");
}

/* ---- OpenMetrics --------------------------------------------------------- */

/* A label value: backslash, double quote and newline escaped; other
 * control characters (never in a value we chose) dropped. */
static void om_label(FILE *f, const char *s) {
        for (; s && *s; s++) {
                if (*s == '\\' || *s == '"')
                        (void) fprintf(f, "\\%c", *s);
                else if (*s == '\n')
                        (void) fputs("\\n", f);
                else if ((unsigned char) *s >= 0x20 && *s != 0x7f)
                        (void) fputc(*s, f);
        }
}

static void om_family(FILE *f, const char *name, const char *type, const char *unit, const char *help) {
        (void) fprintf(f, "# TYPE %s %s\n", name, type);
        if (unit)
                (void) fprintf(f, "# UNIT %s %s\n", name, unit);
        (void) fprintf(f, "# HELP %s %s\n", name, help);
}

static void om_gauge(FILE *f, const char *name, const char *unit, const char *help, bool known,
                     unsigned long long value) {
        om_family(f, name, "gauge", unit, help);
        if (known)
                (void) fprintf(f, "%s %llu\n", name, value);
}

/* The phases the daemon reports (daemon.c, report.c), as a stateset. */
static const char *const phases[] = {
        "starting",    "watching",     "not-registered", "identity-error",   "consumer-deleted",
        "auth-failed", "rate-limited", "backing-off",    "no-hypervisor-id", "stopped",
};

void status_print_openmetrics(const StatusView *v, const char *version, FILE *f) {
        const State *s = v->state;
        bool st = !v->config_error && v->state_r >= 0, live = st && v->running,
             dmn_known = !v->config_error && !v->daemon_unknown;
        const char *phase = live ? s->phase : dmn_known ? "stopped" : NULL;
        StatusVerdict vd;

        status_evaluate(v, &vd);
        om_family(f, "hvmap_build", "info", NULL,
                  "The hvmap that wrote this, and the server it reports to.");
        (void) fprintf(f, "hvmap_build_info{version=\"");
        om_label(f, version);
        (void) fprintf(f, "\",server=\"");
        om_label(f, v->url);
        (void) fprintf(f, "\",consumer=\"");
        om_label(f, v->id ? v->id->uuid : NULL);
        (void) fprintf(f, "\"} 1\n");
        om_gauge(f, "hvmap_health", NULL,
                 "What 'hvmap status --check' says: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.", true,
                 vd.level);
        om_gauge(f, "hvmap_up", NULL, "1 while the hvmap daemon runs (holds the state directory's lock).",
                 dmn_known, v->running);
        om_gauge(f, "hvmap_registered", NULL, "1 when this host has a usable identity (consumer).",
                 !v->config_error && v->id_r != -EACCES, v->id_r >= 0 && v->id);
        om_family(f, "hvmap_phase", "stateset", NULL, "The daemon's phase (stopped when it does not run).");
        for (size_t i = 0; phase && i < ELEMENTSOF(phases); i++)
                (void) fprintf(f, "hvmap_phase{hvmap_phase=\"%s\"} %d\n", phases[i],
                               streq_ptr(phase, phases[i]));
        om_gauge(f, "hvmap_guests", NULL, "Guests the daemon reports (after filters).", live, s->guests);
        om_gauge(f, "hvmap_libvirt_connected", NULL, "1 while the daemon's libvirt connection works.",
                 live && s->libvirt_state, streq_ptr(s->libvirt_state, "connected"));
        om_gauge(f, "hvmap_last_accepted_report_timestamp_seconds", "seconds",
                 "When the server last accepted a report for this consumer (Unix time).", vd.accepted_mine,
                 s->accepted_at_usec / USEC_PER_SEC);
        om_gauge(f, "hvmap_last_accepted_report_guests", NULL, "Guests in the last accepted report.",
                 vd.accepted_mine, s->accepted_guests);
        om_gauge(f, "hvmap_consecutive_failures", NULL, "Failed attempts since the last success.", st,
                 s->consecutive_failures);
        om_family(f, "hvmap_reports_accepted", "counter", NULL,
                  "Reports the server accepted (the daemon's and 'hvmap report''s).");
        if (st)
                (void) fprintf(f, "hvmap_reports_accepted_total %llu\n",
                               (unsigned long long) s->reports_sent);
        om_family(f, "hvmap_requests", "counter", NULL,
                  "Requests to the server by result (local: could not be sent).");
        for (size_t i = 0; st && i < STATE_REQUEST_KINDS; i++)
                (void) fprintf(f, "hvmap_requests_total{result=\"%s\"} %llu\n", request_names[i],
                               (unsigned long long) s->requests[i]);
        om_gauge(f, "hvmap_certificate_expiry_timestamp_seconds", "seconds",
                 "When the identity certificate expires (Unix time).", v->id && v->id->not_after > 0,
                 v->id && v->id->not_after > 0 ? (unsigned long long) v->id->not_after : 0);
        (void) fprintf(f, "# EOF\n");
}
