/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The one-shot commands that talk to the server: register, unregister,
 * report. Argument parsing and printing only: each runs the reporting
 * engine (agent/report.c) on a loop of its own until the outcome is known;
 * the engine logs the outcome and writes state.json. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent/app.h"
#include "agent/mapping.h"
#include "agent/report-io.h"
#include "agent/verbs.h"
#include "util/event-util.h"
#include "util/buf.h"
#include "util/cleanup-libs.h"
#include "util/escape.h"
#include "util/fileio.h"
#include "util/fs-check.h"
#include "util/log.h"
#include "util/parse.h"
#include "util/random.h"

/* How long one-shot commands wait for libvirt's first listing. */
#define ONESHOT_LIBVIRT_TIMEOUT_USEC (60 * USEC_PER_SEC)
#define SECRET_MAX 4096

typedef struct OneShot {
        int lock_fd;
        sd_event *event;
        Config cfg;
        ReportIo *io;
        Host *host;
        Mapping *mapping;
} OneShot;

/* Takes the state directory's lock for verb; a running daemon holds it.
 * what_to_do completes "the hvmap daemon (pid N) reports from DIR; ...";
 * another one-shot command holding it is told as such: wait for it. */
static int oneshot_lock(OneShot *o, const char *verb, const char *what_to_do) {
        AppLockHolder holder = {};
        int fd = app_state_lock(o->cfg.state_dir, verb, &holder);

        if (fd == -EBUSY) {
                if (app_lock_holder_is_oneshot(&holder))
                        log_error("'hvmap %s' (pid %d) is using %s; "
                                  "wait for it to finish, then run 'hvmap %s' again",
                                  holder.verb, (int) holder.pid, o->cfg.state_dir, verb);
                else
                        log_error("The hvmap daemon (pid %d) reports from %s; %s", (int) holder.pid,
                                  o->cfg.state_dir, what_to_do);
                return EX_TEMPFAIL;
        }
        if (fd < 0)
                return log_error_errno(fd, "Cannot lock the state directory %s: %m", o->cfg.state_dir),
                       EX_CANTCREAT;
        o->lock_fd = fd;
        return 0;
}

static void oneshot_done(OneShot *o) {
        o->io = report_io_free(o->io);
        host_stop(o->host);
        mapping_unref(o->mapping);
        o->event = sd_event_unref(o->event);
        config_free(&o->cfg);
        o->lock_fd = safe_close(o->lock_fd);
}

static int oneshot_setup(OneShot *o, const GlobalArgs *g) {
        int r;

        r = app_load_config(g, true, &o->cfg);
        if (r != 0)
                return r;
        /* Whatever the server answers is recorded there (0700, as run makes it). */
        if (mkdir(o->cfg.state_dir, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Cannot create the state directory %s: %m", o->cfg.state_dir),
                       EX_CANTCREAT;
        r = sd_event_new(&o->event);
        if (r < 0)
                return log_error_errno(r, "Cannot create an event loop: %m"), EX_OSERR;
        r = report_io_new(o->event, &o->cfg, &app_clock_system, random_seed(), NULL, &o->io);
        if (r < 0)
                return EX_CONFIG;
        return 0;
}

/* sysexits status for a typed result, as the CLI documents. */
static int exit_status_of(ProtoResultKind k, long http_status) {
        switch (k) {
        case PROTO_RESULT_OK:
                return EX_OK;
        case PROTO_RESULT_AUTH:
                return EX_NOPERM;
        case PROTO_RESULT_RETRY_AFTER:
                return EX_TEMPFAIL;
        case PROTO_RESULT_TEMPORARY:
                return http_status == 0 ? EX_UNAVAILABLE : EX_TEMPFAIL;
        case PROTO_RESULT_GONE:
                return EX_NOPERM;
        case PROTO_RESULT_PERMANENT:
                return EX_DATAERR;
        case PROTO_RESULT_LOCAL:
        case _PROTO_RESULT_MAX:
                break;
        }
        return EX_CONFIG;
}

/* Waits for libvirt and hands this host's mapping to the engine. */
static int oneshot_mapping(OneShot *o) {
        HostConfig hc;
        HostSnapshot *snap = NULL;
        char err[PROTO_ERROR_MAX], sock[512];
        int r;

        app_host_config(&o->cfg, &hc);
        r = app_host_wait_synced(&hc, ONESHOT_LIBVIRT_TIMEOUT_USEC, &o->host, &snap);
        if (r < 0) {
                if (r == -EINTR)
                        return EX_TEMPFAIL;
                log_error("Cannot list the guests through libvirt at %s (%s): %s",
                          o->cfg.uri ? o->cfg.uri : "libvirt's default URI",
                          host_uri_describe_socket(o->cfg.uri, o->cfg.read_only, sock, sizeof sock),
                          snap && snap->last_error ? snap->last_error : strerror(-r));
                host_snapshot_unref(snap);
                return EX_UNAVAILABLE;
        }
        r = mapping_build(&o->cfg, snap, report_io_own_identity(o->io), &o->mapping, err, sizeof err);
        host_snapshot_unref(snap);
        if (r < 0) {
                log_error("Cannot build this host's report: %s", err);
                return r == -ENODATA ? EX_CONFIG : EX_DATAERR;
        }
        reporter_set_mapping(report_io_engine(o->io), o->mapping);
        return 0;
}

/* Reads a secret from a file ("-" = stdin) or an environment variable:
 * surrounding whitespace dropped, registered as a secret. */
static int read_secret(const char *file, const char *env, const char *what, char **ret) {
        _cleanup_erase_ char *text = NULL;
        char *s, *e;
        size_t len = 0;
        int r;

        if (env) {
                const char *v = getenv(env);

                if (!v || !*v)
                        return log_error_errno(
                                ENOENT, "The environment variable %s holding the %s is not set", env, what);
                text = strdup(v);
                if (!text)
                        return -ENOMEM;
                len = strlen(text);
        } else if (streq_ptr(file, "-")) {
                Buf b = BUF_INIT(SECRET_MAX);
                char chunk[512];
                size_t n;

                while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
                        if (buf_append(&b, chunk, n) < 0) {
                                explicit_bzero(chunk, sizeof chunk);
                                buf_free(&b);
                                return log_error_errno(E2BIG, "The %s on standard input is too long", what);
                        }
                explicit_bzero(chunk, sizeof chunk);
                text = buf_steal(&b, &len);
                if (!text)
                        return -ENOMEM;
        } else {
                char reason[512] = "";

                /* A secret file someone else could have written is not ours. */
                r = read_file_trusted(file, SECRET_MAX, FS_CHECK_SECRET, &text, &len, reason, sizeof reason);
                if (r < 0 && reason[0])
                        return log_error_errno(r, "Refusing the %s file: %s", what, reason);
                if (r < 0)
                        return log_error_errno(r, "Cannot read the %s from %s: %m", what, file);
                if (reason[0])
                        log_warning("%s", reason);
        }
        if (memchr(text, '\0', len))
                return log_error_errno(EBADMSG, "The %s contains a NUL byte", what);
        s = text + strspn(text, " \t\r\n");
        e = s + strlen(s);
        while (e > s && strchr(" \t\r\n", e[-1]))
                *--e = '\0';
        if (!*s)
                return log_error_errno(EINVAL, "The %s is empty", what);
        *ret = strdup(s);
        if (!*ret)
                return -ENOMEM;
        if (streq_ptr(what, "activation key"))
                app_secret_keys(*ret, true); /* each key of the list too */
        else
                (void) log_secret_register(*ret);
        return 0;
}

static void print_json_result(bool changed, const char *uuid, const char *owner, const char *server,
                              const char *message) {
        _cleanup_(cJSON_Deletep) cJSON *o = cJSON_CreateObject();
        _cleanup_free_ char *text = NULL, *clean = NULL;

        if (!o)
                return;
        (void) cJSON_AddBoolToObject(o, "changed", changed);
        if (uuid)
                (void) cJSON_AddStringToObject(o, "uuid", uuid);
        if (owner)
                (void) cJSON_AddStringToObject(o, "owner", owner);
        if (server)
                (void) cJSON_AddStringToObject(o, "server", server);
        if (message)
                (void) cJSON_AddStringToObject(o, "message", message);
        text = cJSON_PrintUnformatted(o);
        /* Configuration management logs this: no secret in it, ever. */
        clean = text ? log_redact(text) : NULL;
        if (clean)
                (void) printf("%s\n", clean);
}

static void register_help(void) {
        (void) printf(
                "Usage: hvmap register [--org ORG] [--activation-key-file FILE | --activation-key-env "
                "VAR |\n"
                "                      --username USER (--password-file FILE | --password-env VAR)]\n"
                "                      [--name NAME] [--identity-source auto|hvmap] [--force] [--json]\n"
                "\n"
                "Registers this host as a consumer of type hypervisor. Secrets are never taken\n"
                "from the command line: FILE may be - for standard input. Already registered to\n"
                "the same server: exit 0 and say so (--json: \"changed\": false).\n"
                "A host that subscription-manager registered with the same server needs no\n"
                "registration: hvmap reports on that consumer (exit 0, \"changed\": false);\n"
                "--identity-source hvmap refuses then (see hvmap(8)).\n");
}

int verb_register(const GlobalArgs *g, int argc, char *argv[]) {
        enum {
                ARG_ORG = 0x100,
                ARG_KEY_FILE,
                ARG_KEY_ENV,
                ARG_USER,
                ARG_PW_FILE,
                ARG_PW_ENV,
                ARG_NAME,
                ARG_FORCE,
                ARG_JSON,
                ARG_IDENTITY_SOURCE,
        };
        static const struct option options[] = {
                { "org", required_argument, NULL, ARG_ORG },
                { "activation-key-file", required_argument, NULL, ARG_KEY_FILE },
                { "activation-key-env", required_argument, NULL, ARG_KEY_ENV },
                { "username", required_argument, NULL, ARG_USER },
                { "password-file", required_argument, NULL, ARG_PW_FILE },
                { "password-env", required_argument, NULL, ARG_PW_ENV },
                { "name", required_argument, NULL, ARG_NAME },
                { "force", no_argument, NULL, ARG_FORCE },
                { "json", no_argument, NULL, ARG_JSON },
                { "identity-source", required_argument, NULL, ARG_IDENTITY_SOURCE },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *org = NULL, *key_file = NULL, *key_env = NULL, *user = NULL, *pw_file = NULL,
                   *pw_env = NULL, *name = NULL, *source = NULL;
        _cleanup_erase_ char *keys = NULL, *password = NULL;
        _cleanup_(oneshot_done) OneShot o = { .lock_fd = -1 };
        _cleanup_free_ char *err = NULL;
        ProtoIdentity *existing = NULL;
        const ProtoIdentity *id;
        const ReportOutcome *out;
        bool force = false, json = false;
        ProtoCredentials cred = {};
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        register_help();
                        return EX_OK;
                case ARG_ORG:
                        org = optarg;
                        break;
                case ARG_KEY_FILE:
                        key_file = optarg;
                        break;
                case ARG_KEY_ENV:
                        key_env = optarg;
                        break;
                case ARG_USER:
                        user = optarg;
                        break;
                case ARG_PW_FILE:
                        pw_file = optarg;
                        break;
                case ARG_PW_ENV:
                        pw_env = optarg;
                        break;
                case ARG_NAME:
                        name = optarg;
                        break;
                case ARG_FORCE:
                        force = true;
                        break;
                case ARG_JSON:
                        json = true;
                        break;
                case ARG_IDENTITY_SOURCE:
                        if (!streq_ptr(optarg, "auto") && !streq_ptr(optarg, "hvmap")) {
                                (void) fprintf(
                                        stderr,
                                        "hvmap register: --identity-source=%s: expected auto or hvmap\n",
                                        optarg);
                                return EX_USAGE;
                        }
                        source = optarg;
                        break;
                default:
                        (void) fprintf(stderr,
                                       "hvmap register: unknown option '%s'; see 'hvmap register --help'\n",
                                       argv[optind - 1]);
                        return EX_USAGE;
                }
        if (optind < argc) {
                (void) fprintf(stderr, "hvmap register: unexpected argument '%s'\n", argv[optind]);
                return EX_USAGE;
        }
        if ((key_file || key_env) && user) {
                (void) fprintf(stderr, "hvmap register: use activation keys or a user name, not both\n");
                return EX_USAGE;
        }
        if (user && !pw_file && !pw_env) {
                (void) fprintf(stderr,
                               "hvmap register: --username needs --password-file FILE (- for stdin) or "
                               "--password-env VAR; passwords are never taken from the command line\n");
                return EX_USAGE;
        }

        r = oneshot_setup(&o, g);
        if (r != 0)
                return r;
        /* subscription-manager's consumer serves (identity_source): hvmap
         * registers nothing next to it (candlepin-protocol.md §9.1). */
        if (!report_io_own_identity(o.io) || report_io_rhsm_same_server(o.io)) {
                const char *why = o.cfg.identity_source == IDENTITY_RHSM
                                          ? "identity_source = rhsm"
                                          : "subscription-manager registered this host with the same server";

                if (streq_ptr(source, "hvmap") || o.cfg.identity_source == IDENTITY_HVMAP) {
                        log_error("Not registering: %s (consumer %s); a second consumer for the same host "
                                  "would "
                                  "fight it over the guests. Report on it (identity_source = auto), or "
                                  "unregister subscription-manager first.",
                                  why, strna(report_io_rhsm_uuid(o.io)));
                        return EX_USAGE;
                }
                if (json)
                        print_json_result(false, report_io_rhsm_uuid(o.io), NULL, report_io_server_url(o.io),
                                          "subscription-manager's consumer is used; nothing to register");
                else
                        (void) printf("not registering: %s; hvmap reports this host's guests on "
                                      "subscription-manager's consumer %s (guests only, never facts)\n",
                                      why, strna(report_io_rhsm_uuid(o.io)));
                return EX_OK;
        }
        if (!org)
                org = o.cfg.org;
        if (name) {
                free(o.cfg.name);
                o.cfg.name = strdup(name);
        }
        if (!user && !key_file && !key_env)
                key_file = o.cfg.activation_key_file;
        if (!user && !key_file && !key_env) {
                (void) fprintf(stderr, "hvmap register: give --activation-key-file (or set [registration] "
                                       "activation_key_file) with --org, or --username with a password\n");
                return EX_USAGE;
        }
        if (!user && !org) {
                (void) fprintf(stderr, "hvmap register: activation keys need an organization: --org ORG or "
                                       "[registration] org\n");
                return EX_USAGE;
        }

        r = proto_identity_load(o.cfg.state_dir, &existing, &err);
        if (r < 0 && r != -ENOENT && !force) {
                /* Never silently replaced: it may be the only key to a live consumer. */
                log_error("Cannot use the identity in %s: %s; fix it, or run 'hvmap register --force' to "
                          "replace "
                          "it with a new registration",
                          o.cfg.state_dir, strna(err));
                return EX_CONFIG;
        }
        if (r >= 0 && !force) {
                bool same = streq_ptr(existing->server_url, report_io_server_url(o.io)) &&
                            (!org || streq_ptr(existing->owner, org));

                if (same) {
                        if (json)
                                print_json_result(false, existing->uuid, existing->owner,
                                                  existing->server_url, "already registered");
                        else {
                                /* The owner key is the server's word: one line, whatever it holds. */
                                _cleanup_free_ char *owner =
                                        escape_control(strna(existing->owner), SIZE_MAX);

                                (void) printf("already registered as %s in organization %s with %s\n",
                                              existing->uuid, strna(owner), strna(existing->server_url));
                        }
                        proto_identity_free(existing);
                        return EX_OK;
                }
                log_error(
                        "This host is registered as %s in organization %s with %s; use --force to register "
                        "with %s%s%s instead",
                        existing->uuid, strna(existing->owner), strna(existing->server_url),
                        report_io_server_url(o.io), org ? " in organization " : "", strempty(org));
                proto_identity_free(existing);
                return EX_USAGE;
        }
        existing = proto_identity_free(existing);
        r = oneshot_lock(&o, "register",
                         "stop it first (systemctl stop hvmap), register, then start it again");
        if (r != 0)
                return r;

        if (user)
                r = read_secret(pw_file, pw_env, "password", &password);
        else
                r = read_secret(key_env ? NULL : key_file, key_env, "activation key", &keys);
        if (r < 0)
                return r == -ENOMEM ? EX_OSERR : EX_NOINPUT;
        cred = (ProtoCredentials){ .org = org, .activation_keys = keys, .user = user, .password = password };
        report_io_set_credentials(o.io, &cred);

        r = oneshot_mapping(&o);
        if (r != 0)
                return r;
        r = report_io_run_once(o.io, REPORT_WORK_REGISTER, &out);
        if (r < 0)
                return EX_SOFTWARE;
        app_state_dir_give_back(o.cfg.state_dir);
        if (out->kind != PROTO_RESULT_OK) {
                if (json)
                        print_json_result(false, NULL, NULL, report_io_server_url(o.io), out->message);
                return exit_status_of(out->kind, out->http_status);
        }
        id = reporter_identity(report_io_engine(o.io));
        if (json)
                print_json_result(true, id->uuid, id->owner, id->server_url, "registered");
        else {
                _cleanup_free_ char *owner = escape_control(strna(id->owner), SIZE_MAX);

                (void) printf("registered as %s in organization %s with %s\n", id->uuid, strna(owner),
                              report_io_server_url(o.io));
        }
        return EX_OK;
}

int verb_unregister(const GlobalArgs *g, int argc, char *argv[]) {
        _cleanup_(oneshot_done) OneShot o = { .lock_fd = -1 };
        _cleanup_free_ char *err = NULL, *uuid = NULL, *owner = NULL;
        const ReportOutcome *out;
        const ProtoIdentity *id;
        bool json = argc > 1 && streq_ptr(argv[1], "--json");
        int r;

        if (argc > (json ? 2 : 1)) {
                (void) fprintf(stderr, "Usage: hvmap unregister [--json]\n");
                return streq_ptr(argv[1], "--help") ? EX_OK : EX_USAGE;
        }
        r = oneshot_setup(&o, g);
        if (r != 0)
                return r;
        if (!report_io_own_identity(o.io)) {
                log_error(
                        "Not unregistering: this host reports on subscription-manager's consumer %s, which "
                        "hvmap did not create and never deletes; 'subscription-manager unregister' does",
                        strna(report_io_rhsm_uuid(o.io)));
                return EX_USAGE;
        }
        r = report_io_load_identity(o.io, false, &err);
        if (r == -ENOENT) {
                if (json)
                        print_json_result(false, NULL, NULL, NULL, "not registered");
                else
                        (void) printf("not registered\n");
                return EX_OK;
        }
        if (r < 0) {
                log_error("Cannot use the identity in %s: %s", o.cfg.state_dir, strna(err));
                return EX_CONFIG;
        }
        r = oneshot_lock(&o, "unregister", "stop it first (systemctl stop hvmap), then unregister");
        if (r != 0)
                return r;
        id = reporter_identity(report_io_engine(o.io));
        uuid = strdup(id->uuid);
        owner = id->owner ? strdup(id->owner) : NULL;
        if (!uuid || (id->owner && !owner))
                return log_error_errno(ENOMEM, "Out of memory"), EX_OSERR;
        r = report_io_run_once(o.io, REPORT_WORK_UNREGISTER, &out);
        if (r < 0)
                return EX_SOFTWARE;
        if (out->kind != PROTO_RESULT_OK)
                return exit_status_of(out->kind, out->http_status);
        if (json)
                print_json_result(true, uuid, owner, report_io_server_url(o.io), "unregistered");
        else
                (void) printf("unregistered %s from %s\n", uuid, report_io_server_url(o.io));
        return EX_OK;
}

int verb_report(const GlobalArgs *g, int argc, char *argv[]) {
        _cleanup_(oneshot_done) OneShot o = { .lock_fd = -1 };
        _cleanup_free_ char *err = NULL;
        const ReportOutcome *out;
        int r;

        if (argc > 1) {
                (void) fprintf(stderr,
                               "Usage: hvmap report\n"
                               "Sends one report now. Exit 0: accepted; 75: temporary failure; 69: server "
                               "or libvirt unreachable; 77: refused (authentication, consumer deleted).\n");
                return streq_ptr(argv[1], "--help") ? EX_OK : EX_USAGE;
        }
        r = oneshot_setup(&o, g);
        if (r != 0)
                return r;
        r = oneshot_lock(&o, "report",
                         "it reports every change by itself; to report now, send it SIGUSR1 (kill -USR1 "
                         "<pid>)");
        if (r != 0)
                return r;
        r = report_io_load_identity(o.io, false, &err);
        if (r == -ENOENT) {
                log_error("Not registered: run 'hvmap register' first");
                return EX_NOPERM;
        }
        if (r < 0) {
                log_error("Cannot use the identity in %s: %s", report_io_identity_dir(o.io), strna(err));
                return EX_CONFIG;
        }
        r = oneshot_mapping(&o);
        if (r != 0)
                return r;
        r = report_io_run_once(o.io, REPORT_WORK_REPORT, &out);
        if (r < 0)
                return EX_SOFTWARE;
        app_state_dir_give_back(o.cfg.state_dir);
        if (out->kind != PROTO_RESULT_OK)
                return exit_status_of(out->kind, out->http_status);
        (void) printf("report accepted: %zu guest%s sent to %s as consumer %s\n", o.mapping->m.n_guests,
                      o.mapping->m.n_guests == 1 ? "" : "s", report_io_server_url(o.io),
                      reporter_identity(report_io_engine(o.io))->uuid);
        return EX_OK;
}
