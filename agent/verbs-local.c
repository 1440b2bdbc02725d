/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The commands that need neither libvirt nor the server: status and
 * config. They read the state directory and the configuration only, so they
 * answer while the daemon runs, whatever libvirt or the server do. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "agent/app.h"
#include "agent/report-io.h"
#include "agent/state.h"
#include "agent/verbs.h"
#include "util/cleanup-libs.h"
#include "util/escape.h"
#include "util/log.h"
#include "util/parse.h"

static bool pid_alive(int64_t pid) {
        return pid > 0 && (kill((pid_t) pid, 0) == 0 || errno == EPERM);
}

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

static char *age(uint64_t realtime_usec, uint64_t now, char *buf, size_t bufsz) {
        if (realtime_usec == 0 || realtime_usec > now)
                (void) snprintf(buf, bufsz, "-");
        else
                format_duration(buf, bufsz, (now - realtime_usec) / USEC_PER_SEC * USEC_PER_SEC);
        return buf;
}

int status_format_json(const StatusView *v, char **ret) {
        _cleanup_(cJSON_Deletep) cJSON *o = cJSON_CreateObject();
        const ProtoIdentity *id = v->id;
        const State st = *v->state;
        bool running = v->running;
        int id_r = v->id_r;
        const char *url = v->url, *id_err = v->id_err;
        cJSON *ident, *rep, *dmn;

        if (!o)
                return -ENOMEM;
        add_str(o, "server", url);
        ident = cJSON_AddObjectToObject(o, "identity");
        if (ident) {
                (void) cJSON_AddBoolToObject(ident, "registered", id_r >= 0);
                add_str(ident, "source", v->own ? "hvmap" : "subscription-manager");
                add_str(ident, "uuid", id ? id->uuid : NULL);
                add_str(ident, "owner", id ? id->owner : NULL);
                add_str(ident, "server", id ? id->server_url : NULL);
                add_time(ident, "expires", id ? (uint64_t) id->not_after * USEC_PER_SEC : 0);
                add_str(ident, "error", id_r < 0 && id_r != -ENOENT ? id_err : NULL);
                add_str(ident, "warning", id ? id->warning : NULL);
        }
        rep = cJSON_AddObjectToObject(o, "report");
        if (rep) {
                add_time(rep, "last_accepted", st.accepted_at_usec);
                if (st.accepted_at_usec)
                        (void) cJSON_AddNumberToObject(rep, "last_accepted_age_sec",
                                                       (double) ((v->now_usec > st.accepted_at_usec
                                                                          ? v->now_usec - st.accepted_at_usec
                                                                          : 0) /
                                                                 USEC_PER_SEC));
                (void) cJSON_AddNumberToObject(rep, "accepted_guests", (double) st.accepted_guests);
                add_time(rep, "last_attempt", st.last_attempt_usec);
                add_str(rep, "last_result", st.last_result);
                (void) cJSON_AddNumberToObject(rep, "last_http_status", (double) st.last_http_status);
                add_str(rep, "last_error", st.last_message);
                (void) cJSON_AddNumberToObject(rep, "consecutive_failures",
                                               (double) st.consecutive_failures);
                add_time(rep, "next", running ? st.next_report_usec : 0);
                (void) cJSON_AddNumberToObject(rep, "reports_sent", (double) st.reports_sent);
        }
        dmn = cJSON_AddObjectToObject(o, "daemon");
        if (dmn) {
                (void) cJSON_AddBoolToObject(dmn, "running", running);
                if (running)
                        (void) cJSON_AddNumberToObject(dmn, "pid", (double) st.pid);
                else
                        (void) cJSON_AddNullToObject(dmn, "pid");
                add_str(dmn, "phase", running ? st.phase : "stopped");
                add_time(dmn, "updated", st.updated_usec);
                add_str(dmn, "libvirt", running ? st.libvirt_state : NULL);
                add_time(dmn, "libvirt_since", running ? st.libvirt_since_usec : 0);
                add_str(dmn, "libvirt_error", running ? st.libvirt_error : NULL);
                (void) cJSON_AddNumberToObject(dmn, "guests", (double) st.guests);
                (void) cJSON_AddNumberToObject(dmn, "loop_wakeups", (double) st.loop_wakeups);
        }
        *ret = cJSON_Print(o);
        return *ret ? 0 : -ENOMEM;
}

int status_print_text(const StatusView *v, FILE *f) {
        const ProtoIdentity *id = v->id;
        const State st = *v->state;
        bool running = v->running;
        int id_r = v->id_r;
        const char *url = v->url, *id_err = v->id_err;

        /* Every string here may come from the server, a certificate
         * or libvirt: one escaped line each, so none can forge another. */
        _cleanup_free_ char *e_url = escape_control(url, SIZE_MAX),
                            *e_uuid = escape_control(id ? id->uuid : NULL, SIZE_MAX),
                            *e_owner = escape_control(id ? strna(id->owner) : NULL, SIZE_MAX),
                            *e_err = escape_control(strna(id_err), SIZE_MAX),
                            *e_warn = escape_control(id ? id->warning : NULL, SIZE_MAX),
                            *e_phase = escape_control(strna(st.phase), SIZE_MAX),
                            *e_lv = escape_control(strna(st.libvirt_state), SIZE_MAX),
                            *e_lverr = escape_control(st.libvirt_error, SIZE_MAX),
                            *e_result = escape_control(strna(st.last_result), SIZE_MAX),
                            *e_msg = escape_control(st.last_message, SIZE_MAX);
        char t1[64], t2[64];

        if (!e_url || !e_uuid || !e_owner || !e_err || !e_warn || !e_phase || !e_lv || !e_lverr ||
            !e_result || !e_msg)
                return -ENOMEM;
        (void) fprintf(f, "server:      %s\n", url ? e_url : "(none configured)");
        if (id)
                (void) fprintf(
                        f, "identity:    %sconsumer %s in organization %s (certificate valid until %s)\n",
                        v->own ? "" : "subscription-manager's ", e_uuid, e_owner,
                        app_format_time((uint64_t) id->not_after * USEC_PER_SEC, t1, sizeof t1));
        else if (id_r == -ENOENT)
                (void) fprintf(f, "identity:    not registered (run 'hvmap register')\n");
        else
                (void) fprintf(f, "identity:    unusable: %s\n", e_err);
        if (id && id->warning)
                (void) fprintf(f, "warning:     %s\n", e_warn);
        (void) fprintf(f, "daemon:      %s\n", running ? "running" : "not running");
        if (running) {
                (void) fprintf(f, "pid:         %lld\n", (long long) st.pid);
                (void) fprintf(f, "phase:       %s\n", e_phase);
                (void) fprintf(f, "libvirt:     %s since %s%s%s\n", e_lv,
                               app_format_time(st.libvirt_since_usec, t1, sizeof t1),
                               st.libvirt_error ? ": " : "", e_lverr);
                (void) fprintf(f, "guests:      %llu\n", (unsigned long long) st.guests);
                (void) fprintf(f, "next report: %s\n", app_format_time(st.next_report_usec, t1, sizeof t1));
        }
        (void) fprintf(f, "last accepted report: %s (%s ago), %llu guests\n",
                       app_format_time(st.accepted_at_usec, t1, sizeof t1),
                       age(st.accepted_at_usec, v->now_usec, t2, sizeof t2),
                       (unsigned long long) st.accepted_guests);
        if (st.last_attempt_usec)
                (void) fprintf(f, "last attempt:         %s: %s%s%s\n",
                               app_format_time(st.last_attempt_usec, t1, sizeof t1), e_result,
                               st.last_message ? ": " : "", e_msg);
        if (st.consecutive_failures)
                (void) fprintf(f, "failures in a row:    %u\n", st.consecutive_failures);
        return 0;
}

int verb_status(const GlobalArgs *g, int argc, char *argv[]) {
        _cleanup_free_ char *id_err = NULL, *url = NULL;
        ProtoIdentity *id = NULL;
        bool json = false, running, own;
        Config c;
        State st = {};
        int r, id_r, st_r;

        for (int i = 1; i < argc; i++) {
                if (streq_ptr(argv[i], "--json"))
                        json = true;
                else {
                        (void) fprintf(stderr, "Usage: hvmap status [--json]\n");
                        return streq_ptr(argv[i], "--help") ? EX_OK : EX_USAGE;
                }
        }
        r = app_load_config(g, false, &c);
        if (r != 0)
                return r;
        url = config_server_url(&c);
        own = report_identity_own(&c, url, NULL, NULL);
        id_r = own ? proto_identity_load(c.state_dir, &id, &id_err)
                   : proto_identity_load_rhsm(c.rhsm_identity_dir, &id, &id_err);
        st_r = state_load(c.state_dir, &st);
        running = st_r >= 0 && pid_alive(st.pid);

        {
                StatusView v = {
                        .url = url,
                        .id = id,
                        .id_r = id_r,
                        .id_err = id_err,
                        .state = &st,
                        .running = running,
                        .own = own,
                        .now_usec = app_now_usec(CLOCK_REALTIME),
                };
                _cleanup_free_ char *text = NULL;

                r = json ? status_format_json(&v, &text) : status_print_text(&v, stdout);
                if (r >= 0 && text)
                        (void) printf("%s\n", text);
        }
        proto_identity_free(id);
        state_done(&st);
        config_free(&c);
        if (r < 0)
                return log_error_errno(r, "Cannot format the status: %m"), EX_OSERR;
        return EX_OK;
}

int verb_config(const GlobalArgs *g, int argc, char *argv[]) {
        GlobalArgs ga = *g;
        bool check = false, sample = false;
        Config c;
        int r;

        for (int i = 1; i < argc; i++) {
                if (streq_ptr(argv[i], "--check"))
                        check = true;
                else if (streq_ptr(argv[i], "--sample"))
                        sample = true;
                else if (streq_ptr(argv[i], "--config-file") && i + 1 < argc)
                        ga.config_file = argv[++i];
                else if (strncmp(argv[i], "--config-file=", 14) == 0 && argv[i][14])
                        ga.config_file = argv[i] + 14;
                else {
                        (void) fprintf(stderr,
                                       "Usage: hvmap config --check [--config-file FILE] | --sample\n"
                                       "  --check   validate the configuration and print the effective "
                                       "values and where each came from\n"
                                       "  --config-file FILE\n"
                                       "            with --check: FILE in place of CONFIG_DIR/hvmap.conf, "
                                       "with the drop-ins and\n"
                                       "            rhsm.conf it would live with (a candidate before it is "
                                       "installed)\n"
                                       "  --sample  print a sample hvmap.conf listing every key\n");
                        return streq_ptr(argv[i], "--help") ? EX_OK : EX_USAGE;
                }
        }
        if (sample == check || (sample && ga.config_file)) {
                (void) fprintf(stderr, "hvmap config: give exactly one of --check (optionally with "
                                       "--config-file) or --sample\n");
                return EX_USAGE;
        }
        if (sample) {
                config_write_sample(stdout);
                return EX_OK;
        }
        r = app_load_config(&ga, true, &c);
        if (r != 0)
                return r;
        config_dump(&c, stdout);
        config_free(&c);
        return EX_OK;
}
