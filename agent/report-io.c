/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The reporting engine's I/O; see report-io.h. */
#include "agent/report-io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/event-util.h"
#include "util/fileio.h"
#include "util/fs-check.h"
#include "util/log.h"
#include "util/parse.h"
#include "util/strprintf.h"

#define ACTIVATION_KEY_FILE_MAX 4096

struct ReportIo {
        sd_event *event;
        const Config *cfg;
        const AppClock *clock;
        ReportIoHooks hooks;
        ProtoServerConfig server;
        char *server_url;
        ProtoClient *client;
        Reporter *engine;
        sd_event_source *timer;
        const ProtoCredentials *cred; /* register verb */
        /* Whose consumer we report on (identity_source): ours, or
         * subscription-manager's when it is registered with our server. */
        bool own;
        char *rhsm_uuid; /* subscription-manager's consumer here, if any */
        bool rhsm_same_server; /* ... registered with the server we report to */
        char *default_reporter_id;
        /* A registration's body and keys live until its answer. */
        char *register_body;
        char *activation_keys;
        bool oneshot;
};

static int make_client(ReportIo *io) {
        ProtoClient *c = NULL;
        int r;

        r = proto_client_new(io->event, &io->server, &c);
        if (r < 0)
                return r;
        proto_client_free(io->client);
        io->client = c;
        return 0;
}

/* A new client starts with no connections: one made with an old identity
 * certificate must not be reused (libcurl would, for the same file path),
 * and a dropped transfer must not finish. Safe from inside a callback. */
static void renew_client(ReportIo *io) {
        if (make_client(io) < 0)
                log_error("Cannot recreate the server client; reports wait for the next reload");
}

/* Reads the activation key file: comma-separated keys, surrounding space
 * and newlines ignored, registered as secrets. */
static int read_activation_keys(const char *path, char **ret, char *reason, size_t reasonsz) {
        _cleanup_erase_ char *text = NULL;
        size_t len;
        char *s, *e;
        int r;

        /* A key file someone else could have written is not ours to send;
         * one others may read is worth a warning. */
        r = read_file_trusted(path, ACTIVATION_KEY_FILE_MAX, FS_CHECK_SECRET, &text, &len, reason, reasonsz);
        if (r < 0)
                return r;
        if (reason[0])
                log_warning("%s", reason);
        if (memchr(text, '\0', len))
                return -EBADMSG;
        s = text + strspn(text, " \t\r\n");
        e = s + strlen(s);
        while (e > s && strchr(" \t\r\n", e[-1]))
                *--e = '\0';
        if (!*s || strpbrk(s, "\r\n"))
                return -EBADMSG;
        *ret = strdup(s);
        if (!*ret)
                return -ENOMEM;
        app_secret_keys(*ret, true);
        return 0;
}

/* Can the identity (a few KiB) be written into dir? Tries it with a
 * throwaway file of that size. 0 or -errno. */
static int state_dir_writable(const char *dir) {
        _cleanup_free_ char *probe = strdup_printf("%s/.hvmap-write-check", dir);
        static const char zeros[8192];
        int r;

        if (!probe)
                return -ENOMEM;
        r = write_file_atomic(probe, zeros, sizeof zeros, 0600);
        (void) unlink(probe);
        return r;
}

/* The activation keys are needed for one request: afterwards neither the
 * copy nor the log's redaction table keeps them (a core, were one made,
 * would hold them). */
static void forget_keys(ReportIo *io) {
        app_secret_keys(io->activation_keys, false);
        io->activation_keys = erase_and_free(io->activation_keys);
}

static void on_answer(ProtoClient *c, const ProtoResult *res, void *userdata) {
        ReportIo *io = userdata;

        io->register_body = mfree(io->register_body);
        /* Logged and recorded (redacted) first, then forgotten. */
        reporter_answer(io->engine, res);
        forget_keys(io);
        report_io_kick(io);
}

static int op_start(void *userdata, const ReportRequest *req, char **ret_message) {
        ReportIo *io = userdata;
        ProtoCredentials cred = { .org = io->cfg->org };
        ProtoRequest preq = { .identity = req->identity };
        char err[PROTO_ERROR_MAX] = "";
        int r;

        if (!io->client) {
                *ret_message = strdup("no usable server client (see the error above)");
                return -ENOTCONN;
        }
        switch (req->work) {
        case REPORT_WORK_REGISTER:
                /* A consumer the server creates must be storable, or it is
                 * left behind on the server: find out before asking. */
                r = state_dir_writable(io->cfg->state_dir);
                if (r < 0) {
                        *ret_message =
                                strdup_printf("the state directory %s is not usable (%s); nothing was "
                                              "registered: make it writable by this user",
                                              io->cfg->state_dir, strerror(-r));
                        return r;
                }
                if (!io->cred) {
                        char reason[512] = "";

                        r = read_activation_keys(io->cfg->activation_key_file, &io->activation_keys, reason,
                                                 sizeof reason);
                        if (r < 0) {
                                *ret_message = strdup_printf(
                                        "cannot read the activation key file %s: %s",
                                        io->cfg->activation_key_file,
                                        r == -EBADMSG ? "it must hold one line of comma-separated keys"
                                        : reason[0]   ? reason
                                                      : strerror(-r));
                                return r;
                        }
                        cred.activation_keys = io->activation_keys;
                }
                r = mapping_register_body(req->mapping, &io->register_body, NULL, err, sizeof err);
                if (r < 0) {
                        *ret_message = strdup(err[0] ? err : "cannot build the registration");
                        return r;
                }
                preq.call = PROTO_CALL_REGISTER;
                preq.cred = io->cred ? io->cred : &cred;
                preq.body = io->register_body;
                preq.timeout_usec = io->cfg->registration_timeout_usec;
                break;
        case REPORT_WORK_REPORT:
                preq.call =
                        req->mapping->mode == REPORT_CHECKIN ? PROTO_CALL_CHECKIN : PROTO_CALL_UPDATE_GUESTS;
                preq.body = req->mapping->body;
                preq.body_len = req->mapping->body_len;
                preq.reporter_id = io->cfg->reporter_id ? io->cfg->reporter_id : io->default_reporter_id;
                break;
        case REPORT_WORK_JOB:
                preq.call = PROTO_CALL_JOB;
                preq.job_id = req->job_id;
                break;
        case REPORT_WORK_REFRESH:
                preq.call = PROTO_CALL_GET_CONSUMER;
                break;
        case REPORT_WORK_UNREGISTER:
                preq.call = PROTO_CALL_UNREGISTER;
                break;
        case REPORT_WORK_SERIALS:
                preq.call = PROTO_CALL_SERIALS;
                break;
        case REPORT_WORK_NONE:
        case _REPORT_WORK_MAX:
                return -EINVAL;
        }
        r = proto_client_start(io->client, &preq, on_answer, io);
        if (r < 0) {
                io->register_body = mfree(io->register_body);
                forget_keys(io);
                if (r == -EINVAL)
                        *ret_message = strdup(preq.call == PROTO_CALL_REGISTER
                                                      ? "the registration needs activation keys with an "
                                                        "organization, or a user name"
                                                      : "the identity lacks what this request needs (its "
                                                        "organization?); register again");
        }
        return r;
}

static void op_cancel(void *userdata) {
        ReportIo *io = userdata;

        io->register_body = mfree(io->register_body);
        forget_keys(io);
        renew_client(io);
}

static void op_save_state(void *userdata, State *s) {
        ReportIo *io = userdata;
        int r;

        if (io->hooks.fill_state)
                io->hooks.fill_state(io->hooks.userdata, s);
        r = state_save(io->cfg->state_dir, s);
        if (r < 0)
                log_warning_errno(r, "Cannot write %s/%s: %m; `hvmap status` may be stale",
                                  io->cfg->state_dir, STATE_FILE);
}

static int op_store_identity(void *userdata, const ProtoConsumer *c, ProtoIdentity **ret, char **ret_error) {
        ReportIo *io = userdata;

        return proto_identity_save(io->cfg->state_dir, c, io->server_url, ret, ret_error);
}

static int op_remove_identity(void *userdata) {
        ReportIo *io = userdata;

        return proto_identity_remove(io->cfg->state_dir);
}

static void op_identity_changed(void *userdata) {
        renew_client(userdata);
}

static const ReportOps report_io_ops = {
        .start = op_start,
        .cancel = op_cancel,
        .save_state = op_save_state,
        .store_identity = op_store_identity,
        .remove_identity = op_remove_identity,
        .identity_changed = op_identity_changed,
};

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        report_io_kick(userdata);
        return 0;
}

void report_io_kick(ReportIo *io) {
        uint64_t due;

        reporter_run(io->engine);
        due = reporter_next(io->engine);
        if (io->oneshot && reporter_done(io->engine))
                (void) sd_event_exit(io->event, 0);
        else if (due == SCHED_NEVER)
                (void) sd_event_source_set_enabled(io->timer, SD_EVENT_OFF);
        else {
                (void) sd_event_source_set_time(io->timer, due ? due : 1);
                (void) sd_event_source_set_enabled(io->timer, SD_EVENT_ONESHOT);
        }
        if (io->hooks.changed)
                io->hooks.changed(io->hooks.userdata);
}

/* Whose consumer hvmap reports on. subscription-manager's, when
 * identity_source says so, or (auto) when it is registered with the server
 * hvmap reports to; hvmap's own otherwise. */
bool report_identity_own(const Config *cfg, const char *server_url, char **ret_rhsm_uuid, bool *ret_same) {
        _cleanup_free_ char *err = NULL, *rhsm_url = NULL;
        ProtoIdentity *id = NULL;
        bool same = false, rhsm = false;

        if (proto_identity_load_rhsm(cfg->rhsm_identity_dir, &id, &err) >= 0) {
                rhsm = true;
                rhsm_url = app_rhsm_server_url(cfg->rhsm_conf);
                same = server_url && app_same_server(rhsm_url, server_url);
                if (ret_rhsm_uuid)
                        *ret_rhsm_uuid = strdup(id->uuid);
                proto_identity_free(id);
        }
        if (ret_same)
                *ret_same = rhsm && same;
        switch (cfg->identity_source) {
        case IDENTITY_HVMAP:
                return true;
        case IDENTITY_RHSM:
                return false;
        case IDENTITY_AUTO:
                break;
        }
        return !(rhsm && same);
}

static void resolve_identity(ReportIo *io) {
        io->rhsm_uuid = mfree(io->rhsm_uuid);
        io->own = report_identity_own(io->cfg, io->server_url, &io->rhsm_uuid, &io->rhsm_same_server);
}

static void engine_config(ReportIo *io, ReportConfig *ret) {
        report_config_from(io->cfg, io->server_url, io->own, ret);
        ret->foreign_uuid = io->rhsm_uuid;
        if (!ret->reporter_id)
                ret->reporter_id = io->default_reporter_id;
}

static int server_setup(ReportIo *io, const Config *cfg) {
        char *url = NULL;
        int r;

        r = app_server_config(cfg, &io->server, &url);
        if (r < 0)
                return log_error_errno(r, "No server configured: %m");
        free(io->server_url);
        io->server_url = url;
        io->cfg = cfg;
        return make_client(io);
}

int report_io_new(sd_event *e, const Config *cfg, const AppClock *clock, uint64_t seed,
                  const ReportIoHooks *hooks, ReportIo **ret) {
        _cleanup_(report_io_freep) ReportIo *io = calloc(1, sizeof(ReportIo));
        ReportConfig rc;
        State st = {};
        int r;

        if (!io)
                return log_error_errno(ENOMEM, "Out of memory");
        io->event = sd_event_ref(e);
        io->clock = clock;
        if (hooks)
                io->hooks = *hooks;
        r = server_setup(io, cfg);
        if (r < 0)
                return r;
        io->default_reporter_id = app_default_reporter_id("/etc/machine-id");
        resolve_identity(io);
        engine_config(io, &rc);
        io->engine = reporter_new(&rc, &report_io_ops, io, clock, seed);
        if (!io->engine)
                return log_error_errno(ENOMEM, "Out of memory");
        r = state_load(cfg->state_dir, &st);
        if (r >= 0)
                reporter_restore(io->engine, &st);
        else if (r != -ENOENT)
                log_warning_errno(r, "Ignoring unreadable %s/%s: %m; the next report is sent in full",
                                  cfg->state_dir, STATE_FILE);
        state_done(&st);
        r = event_add_time_relative(e, &io->timer, CLOCK_MONOTONIC, 0, USEC_PER_MSEC, on_timer, io);
        if (r >= 0)
                r = sd_event_source_set_enabled(io->timer, SD_EVENT_OFF);
        if (r < 0)
                return log_error_errno(r, "Cannot create the report timer: %m");
        *ret = TAKE_PTR(io);
        return 0;
}

ReportIo *report_io_free(ReportIo *io) {
        if (!io)
                return NULL;
        /* The client first: no answer may reach a freed engine. */
        io->client = proto_client_free(io->client);
        io->engine = reporter_free(io->engine);
        io->timer = event_source_disable_unref(io->timer);
        free(io->server_url);
        free(io->rhsm_uuid);
        free(io->default_reporter_id);
        free(io->register_body);
        forget_keys(io);
        sd_event_unref(io->event);
        free(io);
        return NULL;
}

Reporter *report_io_engine(ReportIo *io) {
        return io->engine;
}

const char *report_io_server_url(const ReportIo *io) {
        return io->server_url;
}

const char *report_io_identity_dir(const ReportIo *io) {
        return io->own ? io->cfg->state_dir : io->cfg->rhsm_identity_dir;
}

bool report_io_own_identity(const ReportIo *io) {
        return io->own;
}

const char *report_io_rhsm_uuid(const ReportIo *io) {
        return io->rhsm_uuid;
}

bool report_io_rhsm_same_server(const ReportIo *io) {
        return io->rhsm_same_server;
}

int report_io_load_identity(ReportIo *io, bool log, char **ret_error) {
        _cleanup_free_ char *err = NULL;
        ProtoIdentity *id = NULL;
        int r;

        if (io->own)
                r = proto_identity_load(io->cfg->state_dir, &id, &err);
        else
                r = proto_identity_load_rhsm(io->cfg->rhsm_identity_dir, &id, &err);
        /* Registered with another server: presenting that identity here
         * would fail (or worse, succeed somewhere unexpected). */
        if (r >= 0 && io->own && id->server_url && !app_same_server(id->server_url, io->server_url)) {
                err = strdup_printf("it was registered with %s, but the configured server is %s; run 'hvmap "
                                    "register --force' to register with the new one",
                                    id->server_url, io->server_url);
                id = proto_identity_free(id);
                r = -EXDEV;
        }
        reporter_set_identity(io->engine, r >= 0 ? id : NULL);
        reporter_set_identity_error(io->engine, r < 0 && r != -ENOENT ? strna(err) : NULL);
        if (r == -ENOENT) {
                if (log)
                        log_info("No identity in %s yet%s", report_io_identity_dir(io),
                                 io->own && io->cfg->activation_key_file && io->cfg->org
                                         ? "; registering with the configured activation key"
                                         : "; run 'hvmap register' to report guests");
                return r;
        }
        if (r < 0) {
                if (log)
                        log_error("Cannot use the identity in %s: %s%s", report_io_identity_dir(io),
                                  strna(err), io->own ? "; nothing is registered over it" : "");
                if (ret_error)
                        *ret_error = TAKE_PTR(err);
                return r;
        }
        if (log) {
                if (id->warning)
                        log_warning("%s", id->warning);
                if (proto_identity_expired(
                            id, (time_t) (app_clock_now(io->clock, CLOCK_REALTIME) / USEC_PER_SEC)))
                        log_error("The identity certificate of consumer %s expired; run 'hvmap register "
                                  "--force'",
                                  id->uuid);
                if (io->own)
                        log_info("Identity: consumer %s in organization %s", id->uuid, strna(id->owner));
                else
                        log_info("Reporting guests on subscription-manager's consumer %s in organization %s "
                                 "(identity_source = %s): guests and hypervisor id only, never facts; "
                                 "subscription-manager keeps owning it",
                                 id->uuid, strna(id->owner),
                                 io->cfg->identity_source == IDENTITY_AUTO
                                         ? "auto, registered with the same server"
                                         : "rhsm");
        }
        return 0;
}

void report_io_set_credentials(ReportIo *io, const ProtoCredentials *cred) {
        io->cred = cred;
}

int report_io_reload(ReportIo *io, const Config *cfg) {
        ReportConfig rc;
        int r;

        reporter_drop(io->engine);
        r = server_setup(io, cfg);
        if (r < 0)
                return r;
        resolve_identity(io);
        engine_config(io, &rc);
        r = reporter_set_config(io->engine, &rc);
        if (r < 0)
                return log_error_errno(ENOMEM, "Out of memory");
        (void) report_io_load_identity(io, true, NULL);
        return 0;
}

int report_io_run_once(ReportIo *io, ReportWork work, const ReportOutcome **ret) {
        int r;

        io->oneshot = true;
        reporter_oneshot(io->engine, work);
        report_io_kick(io);
        if (!reporter_done(io->engine)) {
                r = sd_event_loop(io->event);
                if (r < 0)
                        return log_error_errno(r, "Event loop failed: %m");
        }
        *ret = reporter_outcome(io->engine);
        return 0;
}
