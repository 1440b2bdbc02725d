/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The one-shot commands that talk to the server: register, unregister,
 * report. Each runs a short sd-event loop around one proto/ call. */
#include <errno.h>
#include <getopt.h>
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
#include "agent/state.h"
#include "agent/verbs.h"
#include "util/event-util.h"
#include "util/buf.h"
#include "util/cleanup-libs.h"
#include "util/fileio.h"
#include "util/fs-check.h"
#include "util/log.h"
#include "util/parse.h"

/* How long one-shot commands wait for libvirt's first listing. */
#define ONESHOT_LIBVIRT_TIMEOUT_USEC (60 * USEC_PER_SEC)
#define SECRET_MAX 4096
/* Check-in mode: how long `report` waits for the job. */
#define ONESHOT_JOB_TIMEOUT_USEC (120 * USEC_PER_SEC)

typedef struct OneShot {
        sd_event *event;
        ProtoClient *client;
        char *server_url;
        Config cfg;
        ProtoIdentity *identity;
        /* Outcome, copied out of the callback. */
        bool done;
        ProtoResultKind kind;
        long http_status;
        char *message;
        ProtoConsumer consumer; /* register */
        char *job_id;
        ProtoJobState job_state;
        char *job_text;
} OneShot;

static void oneshot_done(OneShot *o) {
        o->client = proto_client_free(o->client);
        o->event = sd_event_unref(o->event);
        free(o->server_url);
        free(o->message);
        free(o->job_id);
        free(o->job_text);
        proto_consumer_done(&o->consumer);
        proto_identity_free(o->identity);
        config_free(&o->cfg);
}

static int oneshot_setup(OneShot *o, const GlobalArgs *g) {
        ProtoServerConfig sc;
        int r;

        r = app_load_config(g, true, &o->cfg);
        if (r != 0)
                return r;
        r = sd_event_new(&o->event);
        if (r < 0)
                return log_error_errno(r, "Cannot create an event loop: %m"), EX_OSERR;
        r = app_server_config(&o->cfg, &sc, &o->server_url);
        if (r < 0)
                return log_error_errno(r, "No server configured: %m"), EX_CONFIG;
        r = proto_client_new(o->event, &sc, &o->client);
        if (r < 0)
                return EX_CONFIG;
        return 0;
}

static void on_result(ProtoClient *c, const ProtoResult *r, void *userdata) {
        OneShot *o = userdata;

        o->done = true;
        o->kind = r->kind;
        o->http_status = r->http_status;
        free(o->message);
        o->message = r->message ? strdup(r->message) : NULL;
        if (r->job) {
                free(o->job_id);
                o->job_id = r->job->id ? strdup(r->job->id) : NULL;
                o->job_state = r->job->state;
                free(o->job_text);
                o->job_text = r->job->result_text ? strdup(r->job->result_text) : NULL;
        }
        if (r->consumer && r->kind == PROTO_RESULT_OK) {
                ProtoConsumer *src = r->consumer;

                proto_consumer_done(&o->consumer);
                /* Take copies: the result dies with the callback. */
                o->consumer = (ProtoConsumer){
                        .uuid = src->uuid ? strdup(src->uuid) : NULL,
                        .owner_key = src->owner_key ? strdup(src->owner_key) : NULL,
                        .name = src->name ? strdup(src->name) : NULL,
                        .type_label = src->type_label ? strdup(src->type_label) : NULL,
                        .hypervisor_id = src->hypervisor_id ? strdup(src->hypervisor_id) : NULL,
                        .cert_pem = src->cert_pem ? strdup(src->cert_pem) : NULL,
                        .key_pem = src->key_pem ? strdup(src->key_pem) : NULL,
                        .serial = src->serial ? strdup(src->serial) : NULL,
                        .expiration = src->expiration ? strdup(src->expiration) : NULL,
                };
        }
        (void) sd_event_exit(o->event, 0);
}

/* Runs the loop until the call completes. */
static int oneshot_wait(OneShot *o) {
        o->done = false;
        return sd_event_loop(o->event);
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

/* Waits for libvirt and builds this host's mapping. */
static int oneshot_mapping(OneShot *o, Host **ret_host, AppMapping *ret) {
        HostConfig hc;
        HostSnapshot *snap = NULL;
        char err[PROTO_ERROR_MAX], sock[512];
        int r;

        app_host_config(&o->cfg, &hc);
        r = app_host_wait_synced(&hc, ONESHOT_LIBVIRT_TIMEOUT_USEC, ret_host, &snap);
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
        r = app_mapping_build(&o->cfg, snap, ret, err, sizeof err);
        host_snapshot_unref(snap);
        if (r < 0) {
                log_error("Cannot build this host's report: %s", err);
                return r == -ENODATA ? EX_CONFIG : EX_DATAERR;
        }
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
                r = read_file_trusted(file, SECRET_MAX, 0, &text, &len, reason, sizeof reason);
                if (r < 0 && reason[0])
                        return log_error_errno(r, "Refusing the %s file: %s", what, reason);
                if (r < 0)
                        return log_error_errno(r, "Cannot read the %s from %s: %m", what, file);
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
        (void) log_secret_register(*ret);
        return 0;
}

/* The identity changed: what the old consumer had accepted no longer counts,
 * so the next report is sent in full. */
static void forget_accepted(const char *state_dir) {
        State st = {};

        if (state_load(state_dir, &st) >= 0) {
                st.accepted_digest = mfree(st.accepted_digest);
                st.accepted_consumer = mfree(st.accepted_consumer);
                (void) state_save(state_dir, &st);
        }
        state_done(&st);
}

static void print_json_result(bool changed, const char *uuid, const char *owner, const char *server,
                              const char *message) {
        _cleanup_(cJSON_Deletep) cJSON *o = cJSON_CreateObject();
        _cleanup_free_ char *text = NULL;

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
        if (text)
                (void) printf("%s\n", text);
}

static void register_help(void) {
        (void) printf("Usage: hvmap register [--org ORG] [--activation-key-file FILE | --activation-key-env "
                      "VAR |\n"
                      "                      --username USER (--password-file FILE | --password-env VAR)]\n"
                      "                      [--name NAME] [--force] [--json]\n"
                      "\n"
                      "Registers this host as a consumer of type hypervisor. Secrets are never taken\n"
                      "from the command line: FILE may be - for standard input. Already registered to\n"
                      "the same server: exit 0 and say so (--json: \"changed\": false).\n");
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
                ARG_JSON
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
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *org = NULL, *key_file = NULL, *key_env = NULL, *user = NULL, *pw_file = NULL,
                   *pw_env = NULL, *name = NULL;
        _cleanup_erase_ char *keys = NULL, *password = NULL;
        _cleanup_(oneshot_done) OneShot o = {};
        _cleanup_free_ char *err = NULL;
        ProtoIdentity *existing = NULL, *saved = NULL;
        bool force = false, json = false;
        AppMapping m = {};
        Host *host = NULL;
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
        if (r >= 0 && !force) {
                bool same = streq_ptr(existing->server_url, o.server_url) &&
                            (!org || streq_ptr(existing->owner, org));

                if (same) {
                        if (json)
                                print_json_result(false, existing->uuid, existing->owner,
                                                  existing->server_url, "already registered");
                        else
                                (void) printf("already registered as %s in organization %s with %s\n",
                                              existing->uuid, strna(existing->owner),
                                              strna(existing->server_url));
                        proto_identity_free(existing);
                        return EX_OK;
                }
                log_error(
                        "This host is registered as %s in organization %s with %s; use --force to register "
                        "with %s%s%s instead",
                        existing->uuid, strna(existing->owner), strna(existing->server_url), o.server_url,
                        org ? " in organization " : "", strempty(org));
                proto_identity_free(existing);
                return EX_USAGE;
        }
        existing = proto_identity_free(existing);

        if (user)
                r = read_secret(pw_file, pw_env, "password", &password);
        else
                r = read_secret(key_env ? NULL : key_file, key_env, "activation key", &keys);
        if (r < 0)
                return r == -ENOMEM ? EX_OSERR : EX_NOINPUT;
        cred = (ProtoCredentials){ .org = org, .activation_keys = keys, .user = user, .password = password };

        r = oneshot_mapping(&o, &host, &m);
        if (r != 0) {
                host_stop(host);
                return r;
        }
        r = proto_client_register(o.client, &cred, &m.m, on_result, &o);
        if (r >= 0)
                r = oneshot_wait(&o);
        host_stop(host);
        app_mapping_done(&m);
        if (r < 0)
                return log_error_errno(r, "Cannot send the registration: %m"), EX_SOFTWARE;

        if (o.kind != PROTO_RESULT_OK) {
                log_error("Registration failed: %s", strna(o.message));
                if (json)
                        print_json_result(false, NULL, NULL, o.server_url, o.message);
                return exit_status_of(o.kind, o.http_status);
        }
        r = proto_identity_save(o.cfg.state_dir, &o.consumer, o.server_url, &saved, &err);
        if (r < 0) {
                log_error("Registered as %s, but cannot store the identity in %s: %s",
                          strna(o.consumer.uuid), o.cfg.state_dir, strna(err));
                return EX_CANTCREAT;
        }
        /* The server has no report from this consumer yet. */
        forget_accepted(o.cfg.state_dir);
        app_state_dir_give_back(o.cfg.state_dir);
        if (json)
                print_json_result(true, saved->uuid, saved->owner, saved->server_url, "registered");
        else
                (void) printf("registered as %s in organization %s with %s\n", saved->uuid,
                              strna(saved->owner), o.server_url);
        proto_identity_free(saved);
        return EX_OK;
}

int verb_unregister(const GlobalArgs *g, int argc, char *argv[]) {
        _cleanup_(oneshot_done) OneShot o = {};
        _cleanup_free_ char *err = NULL;
        bool json = argc > 1 && streq_ptr(argv[1], "--json");
        int r;

        if (argc > (json ? 2 : 1)) {
                (void) fprintf(stderr, "Usage: hvmap unregister [--json]\n");
                return streq_ptr(argv[1], "--help") ? EX_OK : EX_USAGE;
        }
        r = oneshot_setup(&o, g);
        if (r != 0)
                return r;
        r = proto_identity_load(o.cfg.state_dir, &o.identity, &err);
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
        r = proto_client_unregister(o.client, o.identity, on_result, &o);
        if (r >= 0)
                r = oneshot_wait(&o);
        if (r < 0)
                return log_error_errno(r, "Cannot send the request: %m"), EX_SOFTWARE;
        if (o.kind != PROTO_RESULT_OK) {
                log_error("Unregistering failed: %s", strna(o.message));
                return exit_status_of(o.kind, o.http_status);
        }
        r = proto_identity_remove(o.cfg.state_dir);
        if (r < 0)
                return log_error_errno(r, "Deleted on the server, but cannot remove the identity in %s: %m",
                                       o.cfg.state_dir),
                       EX_CANTCREAT;
        forget_accepted(o.cfg.state_dir);
        if (json)
                print_json_result(true, o.identity->uuid, o.identity->owner, o.server_url, "unregistered");
        else
                (void) printf("unregistered %s from %s\n", o.identity->uuid, o.server_url);
        return EX_OK;
}

static int on_job_poll_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        OneShot *o = userdata;
        int r;

        r = proto_client_job(o->client, o->identity, o->job_id, on_result, o);
        if (r < 0)
                return sd_event_exit(o->event, r);
        return 0;
}

int verb_report(const GlobalArgs *g, int argc, char *argv[]) {
        _cleanup_(oneshot_done) OneShot o = {};
        _cleanup_free_ char *err = NULL;
        AppMapping m = {};
        Host *host = NULL;
        State st = {};
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
        r = o.cfg.identity_source == IDENTITY_RHSM
                    ? proto_identity_load_rhsm(o.cfg.rhsm_identity_dir, &o.identity, &err)
                    : proto_identity_load(o.cfg.state_dir, &o.identity, &err);
        if (r == -ENOENT) {
                log_error("Not registered: run 'hvmap register' first");
                return EX_NOPERM;
        }
        if (r < 0) {
                log_error("Cannot use the identity: %s", strna(err));
                return EX_CONFIG;
        }
        r = oneshot_mapping(&o, &host, &m);
        if (r != 0) {
                host_stop(host);
                return r;
        }
        if (o.cfg.mode == REPORT_CHECKIN)
                r = proto_client_checkin(o.client, o.identity, &m.m, o.cfg.reporter_id, on_result, &o);
        else
                r = proto_client_update_guests(o.client, o.identity, &m.m, on_result, &o);
        if (r >= 0)
                r = oneshot_wait(&o);
        /* Check-in: follow the job to its end, bounded. */
        if (r >= 0 && o.cfg.mode == REPORT_CHECKIN && o.kind == PROTO_RESULT_OK && o.job_id &&
            !proto_job_state_is_terminal(o.job_state)) {
                uint64_t deadline = app_now_usec(CLOCK_MONOTONIC) + ONESHOT_JOB_TIMEOUT_USEC;

                while (r >= 0 && o.kind == PROTO_RESULT_OK && !proto_job_state_is_terminal(o.job_state) &&
                       app_now_usec(CLOCK_MONOTONIC) < deadline) {
                        sd_event_source *t = NULL;

                        r = event_add_time_relative(o.event, &t, CLOCK_MONOTONIC, 2 * USEC_PER_SEC,
                                                    USEC_PER_MSEC, on_job_poll_timer, &o);
                        if (r >= 0)
                                r = oneshot_wait(&o);
                        sd_event_source_unref(t);
                }
        }
        host_stop(host);
        if (r < 0) {
                app_mapping_done(&m);
                return log_error_errno(r, "Cannot send the report: %m"), EX_SOFTWARE;
        }
        if (o.kind == PROTO_RESULT_OK && o.cfg.mode == REPORT_CHECKIN && o.job_state != PROTO_JOB_FINISHED) {
                log_error("The check-in job %s ended %s: %s", strna(o.job_id),
                          proto_job_state_to_string(o.job_state), strna(o.job_text));
                app_mapping_done(&m);
                return EX_TEMPFAIL;
        }

        (void) state_load(o.cfg.state_dir, &st);
        st.last_attempt_usec = app_now_usec(CLOCK_REALTIME);
        st.last_http_status = o.http_status;
        (void) state_set_string(&st.last_result, proto_result_kind_to_string(o.kind));
        if (o.kind == PROTO_RESULT_OK) {
                (void) state_set_string(&st.accepted_digest, m.digest);
                (void) state_set_string(&st.accepted_server, o.server_url);
                (void) state_set_string(&st.accepted_consumer, o.identity->uuid);
                st.accepted_at_usec = st.last_attempt_usec;
                st.accepted_guests = m.m.n_guests;
                st.last_message = mfree(st.last_message);
                st.consecutive_failures = 0;
        } else {
                (void) state_set_string(&st.last_message, o.message);
                st.consecutive_failures++;
        }
        r = state_save(o.cfg.state_dir, &st);
        if (r < 0)
                log_warning_errno(r, "Cannot update %s/%s: %m", o.cfg.state_dir, STATE_FILE);
        app_state_dir_give_back(o.cfg.state_dir);
        state_done(&st);

        if (o.kind != PROTO_RESULT_OK) {
                log_error("Report failed: %s", strna(o.message));
                app_mapping_done(&m);
                return exit_status_of(o.kind, o.http_status);
        }
        (void) printf("report accepted: %zu guests sent to %s as consumer %s\n", m.m.n_guests, o.server_url,
                      o.identity->uuid);
        app_mapping_done(&m);
        return EX_OK;
}
