/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The Candlepin API calls: URLs, bodies, authentication per call, and the
 * mapping of every HTTP outcome to a typed result with one line of text. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#define HVMAP_PROTO_INTERNAL 1
#include "proto/proto-internal.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/list.h"
#include "util/log.h"
#include "util/parse.h"
#include "util/strprintf.h"

typedef struct Call Call;

struct ProtoClient {
        ProtoHttp *http;
        char *base_url;
        Call *calls;
};

/* How each endpoint is called: one row per ProtoCall. The path's
 * placeholders are filled from the request, each value URL-escaped:
 * {uuid} the identity's consumer, {owner} its organization (or the
 * registration's), {job} the job id, {user} the user name. */
typedef enum Auth {
        AUTH_NONE,
        AUTH_BASIC, /* user + password (registration without activation keys) */
        AUTH_CERT, /* the identity's certificate and key */
} Auth;

typedef struct Endpoint {
        const char *method;
        const char *path;
        Auth auth;
        const char *content_type; /* of the prebuilt body; NULL: none sent */
        bool reporter_id; /* ?reporter_id= when the request names one */
} Endpoint;

static const Endpoint endpoints[_PROTO_CALL_MAX] = {
        [PROTO_CALL_STATUS] = { "GET", "/status", AUTH_NONE, NULL, false },
        [PROTO_CALL_OWNERS] = { "GET", "/users/{user}/owners", AUTH_BASIC, NULL, false },
        /* Activation keys ride in the query (as subscription-manager sends
         * them); with a user, Basic authentication. */
        [PROTO_CALL_REGISTER] = { "POST", "/consumers?owner={owner}", AUTH_BASIC, "application/json",
                                  false },
        [PROTO_CALL_UPDATE_GUESTS] = { "PUT", "/consumers/{uuid}", AUTH_CERT, "application/json", false },
        [PROTO_CALL_CHECKIN] = { "POST", "/hypervisors/{owner}", AUTH_CERT, "text/plain", true },
        [PROTO_CALL_JOB] = { "GET", "/jobs/{job}", AUTH_CERT, NULL, false },
        [PROTO_CALL_HEARTBEAT] = { "PUT", "/hypervisors/{owner}/heartbeat", AUTH_CERT, NULL, true },
        [PROTO_CALL_GET_CONSUMER] = { "GET", "/consumers/{uuid}", AUTH_CERT, NULL, false },
        /* Like python-rhsm: a POST or PUT says JSON even without a body. */
        [PROTO_CALL_REGENERATE] = { "POST", "/consumers/{uuid}", AUTH_CERT, "application/json", false },
        [PROTO_CALL_UNREGISTER] = { "DELETE", "/consumers/{uuid}", AUTH_CERT, NULL, false },
        [PROTO_CALL_SERIALS] = { "GET", "/consumers/{uuid}/certificates/serials", AUTH_CERT, NULL, false },
};

struct Call {
        ProtoClient *client;
        ProtoCall kind; /* the stage in progress: OWNERS comes before REGISTER */
        char *url;
        const char *body; /* borrowed from the request, see proto_client_start() */
        size_t body_len;
        uint64_t timeout_usec;
        char *cert_path, *key_path;
        char *our_uuid;
        char *our_serial; /* GET_CONSUMER: tells a renewed certificate */
        /* registration */
        char *user, *password, *org, *keys;
        ProtoCallback cb;
        void *userdata;
        LIST_FIELDS(Call, calls);
};

static const char *const result_kind_table[_PROTO_RESULT_MAX] = {
        [PROTO_RESULT_OK] = "ok",
        [PROTO_RESULT_RETRY_AFTER] = "retry-after",
        [PROTO_RESULT_TEMPORARY] = "temporary",
        [PROTO_RESULT_GONE] = "gone",
        [PROTO_RESULT_AUTH] = "auth",
        [PROTO_RESULT_PERMANENT] = "permanent",
        [PROTO_RESULT_LOCAL] = "local",
};

const char *proto_result_kind_to_string(ProtoResultKind k) {
        if ((size_t) k >= ELEMENTSOF(result_kind_table))
                return "unknown";
        return result_kind_table[k];
}

void proto_result_done(ProtoResult *r) {
        if (!r)
                return;
        free(r->message);
        free(r->request_uuid);
        if (r->consumer) {
                proto_consumer_done(r->consumer);
                free(r->consumer);
        }
        if (r->status) {
                proto_status_done(r->status);
                free(r->status);
        }
        if (r->job) {
                proto_job_done(r->job);
                free(r->job);
        }
        *r = (ProtoResult){};
}

/* ---- classification (pure) --------------------------------------------- */

static void parse_retry_after(const char *v, time_t now, ProtoResult *ret) {
        uint64_t sec;

        ret->retry_after_from_server = proto_retry_after_parse(v, now, &sec) >= 0;
        ret->retry_after_sec = ret->retry_after_from_server ? sec : PROTO_RETRY_AFTER_DEFAULT_SEC;
}

static bool retry_after_usable(const char *v) {
        uint64_t sec;
        return proto_retry_after_parse(v, 0, &sec) >= 0;
}

static ProtoResultKind classify_curl(int code, int *ret_error) {
        switch (code) { /* an int: curl adds codes, and every other one is TEMPORARY */
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ENGINE_NOTFOUND:
        case CURLE_SSL_ENGINE_SETFAILED:
        case CURLE_SSL_CRL_BADFILE:
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
                *ret_error = -ENOKEY;
                if (code == CURLE_UNSUPPORTED_PROTOCOL || code == CURLE_URL_MALFORMAT)
                        *ret_error = -EINVAL;
                return PROTO_RESULT_LOCAL;
        case CURLE_OPERATION_TIMEDOUT:
                *ret_error = -ETIMEDOUT;
                return PROTO_RESULT_TEMPORARY;
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
                *ret_error = -ECONNRESET;
                return PROTO_RESULT_TEMPORARY;
        case CURLE_COULDNT_CONNECT:
                *ret_error = -ECONNREFUSED;
                return PROTO_RESULT_TEMPORARY;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                *ret_error = -EHOSTUNREACH;
                return PROTO_RESULT_TEMPORARY;
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CONNECT_ERROR:
                *ret_error = -EPERM;
                return PROTO_RESULT_TEMPORARY;
        default:
                *ret_error = -EIO;
                return PROTO_RESULT_TEMPORARY;
        }
}

/* A short, safe description of a body that is not a Candlepin error. */
static void describe_body(Buf *b, const ProtoHttpResponse *r) {
        if (r->body_len == 0) {
                (void) buf_append_str(b, " (empty body)");
                return;
        }
        if (r->content_type && strncasecmp(r->content_type, "text/html", 9) == 0) {
                (void) buf_append_str(b,
                                      " (an HTML page, not Candlepin JSON: a proxy or front end answered)");
                return;
        }
        (void) buf_printf(b, " (%zu-byte %s body that is not a Candlepin error)", r->body_len,
                          r->content_type ? r->content_type : "untyped");
}

int proto_classify(ProtoCall call, const char *method, const char *url, const ProtoHttpResponse *r,
                   const char *our_uuid, time_t now, ProtoResult *ret) {
        _cleanup_(proto_error_body_done) ProtoErrorBody eb = {};
        _cleanup_(buf_free) Buf msg = BUF_INIT(2048);
        ProtoResult res = {};
        bool have_eb = false;
        long s = r->status;

        /* Never the query: it may carry activation keys. */
        (void) buf_printf(&msg, "%s %.*s: ", method, (int) strcspn(url, "?"), url);

        if (r->local_error < 0) {
                res.kind = PROTO_RESULT_LOCAL;
                res.error = r->local_error;
                (void) buf_printf(&msg, "%s", r->error_text);
                goto done;
        }
        if (r->curl_code != 0) {
                if (r->too_large) {
                        res.kind = PROTO_RESULT_TEMPORARY;
                        res.error = -E2BIG;
                        (void) buf_printf(&msg, "response too large (more than %zu bytes), giving up on it",
                                          r->body_cap);
                } else {
                        res.kind = classify_curl(r->curl_code, &res.error);
                        (void) buf_printf(&msg, "%s (curl error %d)", r->error_text, r->curl_code);
                }
                /* Nothing proves the request did not reach the server but a
                 * refused connection, a failed lookup or TLS handshake. */
                res.maybe_applied = res.kind == PROTO_RESULT_TEMPORARY && res.error != -ECONNREFUSED &&
                                    res.error != -EHOSTUNREACH && res.error != -EPERM;
                res.http_status = s;
                goto done;
        }

        res.http_status = s;
        if (r->date) {
                time_t d = curl_getdate(r->date, NULL);

                res.server_date = d > 0 ? d : 0;
        }
        if (r->body_len > 0 && proto_parse_error(r->body, r->body_len, &eb) >= 0)
                have_eb = true;
        (void) buf_printf(&msg, "HTTP %ld", s);

        if (s >= 200 && s < 300) {
                res.kind = PROTO_RESULT_OK;
        } else if (s == 429 || (s == 503 && retry_after_usable(r->retry_after))) {
                res.kind = PROTO_RESULT_RETRY_AFTER;
                res.error = -EBUSY;
                res.maybe_applied = s == 503;
                parse_retry_after(r->retry_after, now, &res);
        } else if (s == 401 || s == 403 || s == 407) {
                res.kind = PROTO_RESULT_AUTH;
                res.error = -EACCES;
        } else if (s == 410) {
                if (have_eb && eb.deleted_id && our_uuid && strcasecmp(eb.deleted_id, our_uuid) == 0) {
                        /* Deleting what is gone already: done. */
                        res.kind = call == PROTO_CALL_UNREGISTER ? PROTO_RESULT_OK : PROTO_RESULT_GONE;
                        res.error = call == PROTO_CALL_UNREGISTER ? 0 : -EIDRM;
                } else {
                        /* Dropping an identity is irreversible: only our own deletedId proves it. */
                        res.kind = PROTO_RESULT_TEMPORARY;
                        res.error = -EREMOTEIO;
                }
        } else if (s == 404 && call == PROTO_CALL_UNREGISTER && have_eb && eb.display_message && our_uuid &&
                   strcasestr(eb.display_message, our_uuid)) {
                /* Candlepin's own "Unit with ID '<uuid>' could not be found":
                 * nothing left to delete. A proxy's 404 page proves nothing. */
                res.kind = PROTO_RESULT_OK;
        } else if (s >= 500 && s < 600) {
                res.kind = PROTO_RESULT_TEMPORARY;
                res.error = -EREMOTEIO;
                /* A gateway's answer says nothing of what the server behind
                 * it did with the request. */
                res.maybe_applied = s == 502 || s == 503 || s == 504;
        } else {
                res.kind = PROTO_RESULT_PERMANENT;
                res.error = s == 404 ? -ENOENT : -EPROTO;
        }

        if (res.kind != PROTO_RESULT_OK) {
                if (have_eb && eb.display_message)
                        (void) buf_printf(&msg, ": \"%s\"", eb.display_message);
                else if (!have_eb)
                        describe_body(&msg, r);
                if (res.kind == PROTO_RESULT_RETRY_AFTER)
                        (void) buf_printf(
                                &msg, ", retry after %" PRIu64 " s%s", res.retry_after_sec,
                                res.retry_after_from_server ? "" : " (server gave no usable Retry-After)");
                if (s == 410 && res.kind == PROTO_RESULT_TEMPORARY)
                        (void) buf_printf(&msg, ", %s",
                                          have_eb && eb.deleted_id
                                                  ? "deletedId is not our consumer, not treated as deletion"
                                                  : "without deletedId, not treated as deletion");
                if (s == 407)
                        (void) buf_append_str(&msg, " (proxy authentication failed)");
                if (s >= 300 && s < 400)
                        (void) buf_printf(&msg,
                                          ", redirected to %s (not followed: if that is the server, set "
                                          "[server] url to it)",
                                          r->location ? r->location : "nowhere (no Location header)");
        }
        if (r->request_uuid || (have_eb && eb.request_uuid)) {
                res.request_uuid = strdup(r->request_uuid ? r->request_uuid : eb.request_uuid);
                if (!res.request_uuid)
                        return -ENOMEM;
        }
done:
        if (res.request_uuid)
                (void) buf_printf(&msg, " (request %s)", res.request_uuid);
        res.message = proto_sanitize_text(buf_str(&msg), 2048);
        if (!res.message) {
                free(res.request_uuid);
                return -ENOMEM;
        }
        *ret = res;
        return 0;
}

/* ---- calls ------------------------------------------------------------- */

static char *url_escape(const char *s) {
        static const char hex[] = "0123456789ABCDEF";
        _cleanup_(buf_free) Buf b = BUF_INIT(64 * 1024);

        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                int r;
                if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                    strchr("-._~", *p))
                        r = buf_append(&b, p, 1);
                else {
                        char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };
                        r = buf_append(&b, e, 3);
                }
                if (r < 0)
                        return NULL;
        }
        return buf_steal(&b, NULL);
}

static Call *call_free(Call *call) {
        if (!call)
                return NULL;
        free(call->url);
        free(call->cert_path);
        free(call->key_path);
        free(call->our_uuid);
        free(call->our_serial);
        free(call->user);
        erase_and_free(call->password);
        free(call->org);
        erase_and_free(call->keys);
        free(call);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(Call *, call_free, call_freep)

/* Appends s URL-escaped; -ENOMEM. */
static int buf_append_escaped(Buf *b, const char *s) {
        _cleanup_free_ char *e = url_escape(s);

        return e ? buf_append_str(b, e) : -ENOMEM;
}

/* Calls fn on each key of a comma-separated list, trimmed of spaces, empty
 * ones skipped; stops at fn's first error. The copies are wiped. */
static int keys_foreach(const char *keys, int (*fn)(const char *key, void *userdata), void *userdata) {
        for (const char *p = keys; *p;) {
                size_t l = strcspn(p, ",");
                const char *s = p, *e = p + l;

                while (s < e && *s == ' ')
                        s++;
                while (e > s && e[-1] == ' ')
                        e--;
                if (e > s) {
                        _cleanup_(erase_and_freep) char *one = strndup(s, (size_t) (e - s));
                        int r = one ? fn(one, userdata) : -ENOMEM;

                        if (r < 0)
                                return r;
                }
                p += l;
                if (*p == ',')
                        p++;
        }
        return 0;
}

typedef struct KeyQuery {
        Buf *b;
        bool first;
} KeyQuery;

static int append_key(const char *key, void *userdata) {
        KeyQuery *q = userdata;

        if (buf_append_str(q->b, q->first ? "&activation_keys=" : ",") < 0 ||
            buf_append_escaped(q->b, key) < 0)
                return -ENOMEM;
        q->first = false;
        return 0;
}

/* The full URL of call's current stage, from its endpoint row. */
static int call_build_url(Call *call, const ProtoRequest *req) {
        const Endpoint *ep = &endpoints[call->kind];
        _cleanup_(buf_free) Buf b = BUF_INIT(64 * 1024);
        const char *owner = call->org ? call->org : req->identity ? req->identity->owner : NULL;
        int r = buf_append_str(&b, call->client->base_url);

        for (const char *p = ep->path; r >= 0 && *p;) {
                const char *value = NULL;
                size_t l;

                if (*p != '{') {
                        l = strcspn(p, "{");
                        r = buf_append(&b, p, l);
                        p += l;
                        continue;
                }
                l = strcspn(p, "}") + 1;
                if (strncmp(p, "{uuid}", l) == 0)
                        value = call->our_uuid;
                else if (strncmp(p, "{owner}", l) == 0)
                        value = owner;
                else if (strncmp(p, "{job}", l) == 0)
                        value = req->job_id;
                else if (strncmp(p, "{user}", l) == 0)
                        value = call->user;
                if (!value || !*value)
                        return -EINVAL;
                r = buf_append_escaped(&b, value);
                p += l;
        }
        /* Activation keys ride in the query, each escaped on its own and
         * joined by ',' (subscription-manager does the same). */
        if (r >= 0 && call->kind == PROTO_CALL_REGISTER && call->keys)
                r = keys_foreach(call->keys, append_key, &(KeyQuery){ .b = &b, .first = true });
        if (r >= 0 && ep->reporter_id && req->reporter_id && *req->reporter_id)
                r = buf_append_str(&b, strchr(ep->path, '?') ? "&reporter_id=" : "?reporter_id=") < 0
                            ? -ENOMEM
                            : buf_append_escaped(&b, req->reporter_id);
        if (r < 0)
                return r;
        free(call->url);
        call->url = buf_steal(&b, NULL);
        return call->url ? 0 : -ENOMEM;
}

static void on_http_done(ProtoHttp *h, const ProtoHttpResponse *resp, void *userdata);

/* Hands call's current stage to HTTP. */
static int call_send(Call *call) {
        const Endpoint *ep = &endpoints[call->kind];
        ProtoHttpRequest req = {
                .method = ep->method,
                .url = call->url,
                .content_type = ep->content_type,
                .body = ep->content_type ? call->body : NULL,
                .body_len = ep->content_type ? call->body_len : 0,
                .timeout_usec = call->timeout_usec,
        };

        if (ep->auth == AUTH_CERT) {
                req.client_cert = call->cert_path;
                req.client_key = call->key_path;
        } else if (ep->auth == AUTH_BASIC && call->user) {
                req.basic_user = call->user;
                req.basic_password = call->password;
        }
        return proto_http_start(call->client->http, &req, on_http_done, call);
}

static void result_replace_message(ProtoResult *res, ProtoResultKind kind, int error, const Call *call,
                                   const char *what) {
        char *m;

        res->kind = kind;
        res->error = error;
        m = strdup_printf("%s %.*s: HTTP %ld, %s%s%s%s", endpoints[call->kind].method,
                          (int) strcspn(call->url, "?"), call->url, res->http_status, what,
                          res->request_uuid ? " (request " : "", strempty(res->request_uuid),
                          res->request_uuid ? ")" : "");
        if (m) {
                free(res->message);
                res->message = m;
        }
}

static void call_finish(Call *call, ProtoResult *res) {
        ProtoClient *c = call->client;

        LIST_REMOVE(calls, c->calls, call);
        /* The callback may free the client: nothing of c is touched after it. */
        call->cb(c, res, call->userdata);
        proto_result_done(res);
        call_free(call);
}

/* Owners answer: pick the only org or say why not; on success the same call
 * goes on to register. */
static bool owners_continue(Call *call, const ProtoHttpResponse *resp, ProtoResult *res) {
        _cleanup_strv_free_ char **keys = NULL;
        _cleanup_(buf_free) Buf list = BUF_INIT(1024);
        _cleanup_free_ char *what = NULL;
        size_t n = 0;
        int r;

        r = proto_parse_owners(resp->body, resp->body_len, &keys);
        if (r < 0) {
                result_replace_message(res, PROTO_RESULT_TEMPORARY, r, call,
                                       "malformed list of organizations");
                return false;
        }
        for (; keys[n]; n++)
                (void) buf_printf(&list, "%s%s", n ? ", " : "", keys[n]);
        if (n != 1) {
                what = n == 0 ? strdup_printf("user %s belongs to no organization; name the organization to "
                                              "register with",
                                              call->user)
                              : strdup_printf("user %s belongs to %zu organizations (%s); name one to "
                                              "register with",
                                              call->user, n, buf_str(&list));
                result_replace_message(res, PROTO_RESULT_PERMANENT, -EINVAL, call, strna(what));
                return false;
        }
        call->org = strdup(keys[0]);
        call->kind = PROTO_CALL_REGISTER;
        r = call->org ? call_build_url(call, &(ProtoRequest){}) : -ENOMEM;
        if (r >= 0)
                r = call_send(call);
        if (r < 0) {
                call->kind = PROTO_CALL_OWNERS;
                result_replace_message(res, PROTO_RESULT_LOCAL, r, call, "cannot start the registration");
                return false;
        }
        return true;
}

/* A consumer in the answer: parsed, checked to be ours, and compared with
 * the certificate we hold (cert_changed). Nothing is stored here: the
 * caller decides (proto_identity_save()). */
static void handle_consumer(Call *call, const ProtoHttpResponse *resp, ProtoResult *res) {
        _cleanup_free_ ProtoConsumer *cons = calloc(1, sizeof(ProtoConsumer));
        _cleanup_free_ char *remote_serial = NULL;
        int r;

        if (!cons) {
                result_replace_message(res, PROTO_RESULT_LOCAL, -ENOMEM, call, "out of memory");
                return;
        }
        r = proto_parse_consumer(resp->body, resp->body_len, cons);
        if (r < 0) {
                result_replace_message(res, PROTO_RESULT_TEMPORARY, r, call,
                                       "malformed consumer in the answer");
                return;
        }
        res->consumer = TAKE_PTR(cons);
        if ((call->kind == PROTO_CALL_REGISTER || call->kind == PROTO_CALL_REGENERATE) &&
            (!res->consumer->cert_pem || !res->consumer->key_pem)) {
                result_replace_message(res, PROTO_RESULT_TEMPORARY, -EBADMSG, call,
                                       "the answer carries no identity certificate and key");
                return;
        }
        if (call->our_uuid && strcasecmp(res->consumer->uuid, call->our_uuid) != 0) {
                result_replace_message(res, PROTO_RESULT_TEMPORARY, -EBADMSG, call,
                                       "the answer is about another consumer");
                return;
        }
        if (call->kind == PROTO_CALL_REGENERATE) {
                res->cert_changed = true;
                return;
        }
        if (call->kind != PROTO_CALL_GET_CONSUMER || !res->consumer->cert_pem)
                return;
        /* Compare serials exactly, from the certificates themselves. */
        r = proto_cert_info(res->consumer->cert_pem, strlen(res->consumer->cert_pem), NULL, NULL,
                            &remote_serial, NULL, NULL);
        if (r < 0) {
                result_replace_message(res, PROTO_RESULT_TEMPORARY, r, call,
                                       "the identity certificate in the answer does not parse");
                return;
        }
        if (streq_ptr(remote_serial, call->our_serial))
                return;
        if (!res->consumer->key_pem) {
                result_replace_message(res, PROTO_RESULT_TEMPORARY, -EBADMSG, call,
                                       "a new certificate came without its key");
                return;
        }
        res->cert_changed = true;
}

static void on_http_done(ProtoHttp *h, const ProtoHttpResponse *resp, void *userdata) {
        Call *call = userdata;
        ProtoResult res = {};
        int r;

        r = proto_classify(call->kind, endpoints[call->kind].method, call->url, resp, call->our_uuid,
                           time(NULL), &res);
        if (r < 0) {
                res = (ProtoResult){ .kind = PROTO_RESULT_LOCAL, .error = r, .message = NULL };
                call_finish(call, &res);
                return;
        }
        if (res.kind == PROTO_RESULT_OK) {
                switch (call->kind) {
                case PROTO_CALL_STATUS:
                        res.status = calloc(1, sizeof(ProtoStatus));
                        if (!res.status || proto_parse_status(resp->body, resp->body_len, res.status) < 0)
                                result_replace_message(&res, PROTO_RESULT_TEMPORARY, -EBADMSG, call,
                                                       "malformed status in the answer");
                        break;
                case PROTO_CALL_OWNERS:
                        if (owners_continue(call, resp, &res)) {
                                proto_result_done(&res);
                                return; /* the same call now registers */
                        }
                        break;
                case PROTO_CALL_REGISTER:
                case PROTO_CALL_GET_CONSUMER:
                case PROTO_CALL_REGENERATE:
                        handle_consumer(call, resp, &res);
                        break;
                case PROTO_CALL_CHECKIN:
                case PROTO_CALL_HEARTBEAT:
                case PROTO_CALL_JOB:
                        res.job = calloc(1, sizeof(ProtoJob));
                        if (!res.job || proto_parse_job(resp->body, resp->body_len, res.job) < 0)
                                result_replace_message(&res, PROTO_RESULT_TEMPORARY, -EBADMSG, call,
                                                       "malformed job status in the answer");
                        break;
                case PROTO_CALL_UPDATE_GUESTS:
                case PROTO_CALL_UNREGISTER:
                case PROTO_CALL_SERIALS:
                case _PROTO_CALL_MAX:
                        /* Any 2xx; Satellite answers {"content":"Facts successfully updated."}. */
                        break;
                }
        }
        call_finish(call, &res);
}

/* ---- public ------------------------------------------------------------ */

int proto_client_new(sd_event *e, const ProtoServerConfig *cfg, ProtoClient **ret) {
        _cleanup_free_ ProtoClient *c = NULL;
        size_t n;
        int r;

        if (!cfg || !cfg->base_url || strncasecmp(cfg->base_url, "https://", 8) != 0)
                return log_error_errno(EINVAL, "the subscription server URL \"%s\" is not an https:// URL",
                                       cfg && cfg->base_url ? cfg->base_url : "");
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        n = strlen(cfg->base_url);
        while (n > 8 && cfg->base_url[n - 1] == '/')
                n--;
        c->base_url = strndup(cfg->base_url, n);
        if (!c->base_url)
                return -ENOMEM;
        r = proto_http_new(e, cfg, &c->http);
        if (r < 0) {
                free(c->base_url);
                return r;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

ProtoClient *proto_client_free(ProtoClient *c) {
        if (!c)
                return NULL;
        /* Cancels every transfer (no callbacks), even from inside one. */
        c->http = proto_http_free(c->http);
        while (c->calls) {
                Call *call = c->calls;
                LIST_REMOVE(calls, c->calls, call);
                call_free(call);
        }
        free(c->base_url);
        free(c);
        return NULL;
}

const char *proto_client_correlation_id(const ProtoClient *c) {
        return proto_http_correlation_id(c->http);
}

size_t proto_client_pending(const ProtoClient *c) {
        return c ? proto_http_pending(c->http) : 0;
}

const char *proto_call_to_string(ProtoCall k) {
        static const char *const table[_PROTO_CALL_MAX] = {
                [PROTO_CALL_STATUS] = "status",         [PROTO_CALL_OWNERS] = "owners",
                [PROTO_CALL_REGISTER] = "register",     [PROTO_CALL_UPDATE_GUESTS] = "update-guests",
                [PROTO_CALL_CHECKIN] = "checkin",       [PROTO_CALL_JOB] = "job",
                [PROTO_CALL_HEARTBEAT] = "heartbeat",   [PROTO_CALL_GET_CONSUMER] = "get-consumer",
                [PROTO_CALL_REGENERATE] = "regenerate", [PROTO_CALL_UNREGISTER] = "unregister",
                [PROTO_CALL_SERIALS] = "serials",
        };
        return (size_t) k < ELEMENTSOF(table) ? table[k] : "unknown";
}

/* Takes the registration's credentials into call; the secrets are
 * registered for redaction. -EINVAL when they are unusable. */
static int call_set_credentials(Call *call, const ProtoCredentials *cred) {
        bool keys = false;

        if (!cred)
                return -EINVAL;
        for (const char *p = cred->activation_keys; p && *p; p++)
                if (*p != ',' && *p != ' ')
                        keys = true;
        /* Either activation keys with their organization, or a user. */
        if (keys == !!cred->user || (keys && (!cred->org || !*cred->org)))
                return -EINVAL;
        /* The caller registered the secrets for redaction; nothing here
         * prints them (URLs are never shown with their query). */
        if (keys) {
                call->keys = strdup(cred->activation_keys);
                if (!call->keys)
                        return -ENOMEM;
        }
        if (cred->org && *cred->org && !(call->org = strdup(cred->org)))
                return -ENOMEM;
        if (cred->user) {
                call->user = strdup(cred->user);
                call->password = strdup(strempty(cred->password));
                if (!call->user || !call->password)
                        return -ENOMEM;
        }
        /* A user without an organization: ask which ones the user has first. */
        call->kind = call->org ? PROTO_CALL_REGISTER : PROTO_CALL_OWNERS;
        return 0;
}

static int call_set_identity(Call *call, const ProtoIdentity *id) {
        if (!id || !id->uuid || !proto_uuid_valid(id->uuid) || !id->cert_path || !id->key_path)
                return -EINVAL;
        call->cert_path = strdup(id->cert_path);
        call->key_path = strdup(id->key_path);
        call->our_uuid = strdup(id->uuid);
        if (!call->cert_path || !call->key_path || !call->our_uuid)
                return -ENOMEM;
        if (id->serial && !(call->our_serial = strdup(id->serial)))
                return -ENOMEM;
        return 0;
}

int proto_client_start(ProtoClient *c, const ProtoRequest *req, ProtoCallback cb, void *userdata) {
        _cleanup_(call_freep) Call *call = NULL;
        const Endpoint *ep;
        int r;

        if (!c || !req || !cb || (size_t) req->call >= ELEMENTSOF(endpoints) ||
            req->call == PROTO_CALL_OWNERS)
                return -EINVAL;
        ep = &endpoints[req->call];
        if (ep->content_type && strcmp(ep->content_type, "application/json") != 0 && !req->body)
                return -EINVAL;
        if (req->call == PROTO_CALL_REGISTER && !req->body)
                return -EINVAL;
        if (req->call == PROTO_CALL_HEARTBEAT && (!req->reporter_id || !*req->reporter_id))
                return -EINVAL;
        if (req->call == PROTO_CALL_JOB && !proto_job_id_valid(req->job_id))
                return -EINVAL;

        call = calloc(1, sizeof(*call));
        if (!call)
                return -ENOMEM;
        call->client = c;
        call->kind = req->call;
        call->cb = cb;
        call->userdata = userdata;
        call->body = req->body;
        call->timeout_usec = req->timeout_usec;
        call->body_len = req->body ? (req->body_len ?: strlen(req->body)) : 0;
        if (ep->auth == AUTH_CERT)
                r = call_set_identity(call, req->identity);
        else if (req->call == PROTO_CALL_REGISTER)
                r = call_set_credentials(call, req->cred);
        else
                r = 0;
        if (r < 0)
                return r;
        r = call_build_url(call, req);
        if (r < 0)
                return r;
        r = call_send(call);
        if (r < 0)
                return r;
        LIST_PREPEND(calls, c->calls, call);
        TAKE_PTR(call);
        return 0;
}
