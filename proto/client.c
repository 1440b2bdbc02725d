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
#include "util/log.h"
#include "util/parse.h"

typedef struct Call Call;

struct ProtoClient {
        ProtoHttp *http;
        char *base_url;
        Call *calls;
};

struct Call {
        ProtoClient *client;
        ProtoCall kind;
        const char *method;
        char *url;
        char *content_type;
        char *body;
        size_t body_len;
        char *cert_path, *key_path;
        char *our_uuid;
        ProtoIdentity *identity; /* refresh/regenerate: updated in place */
        /* registration */
        char *user, *password, *org, *keys, *register_body;
        ProtoCallback cb;
        void *userdata;
        Call *prev, *next;
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
        time_t t;

        ret->retry_after_sec = PROTO_RETRY_AFTER_DEFAULT_SEC;
        ret->retry_after_from_server = false;
        if (!v)
                return;
        if (parse_uint64(v, &sec) >= 0) {
                ret->retry_after_sec = sec > PROTO_RETRY_AFTER_MAX_SEC ? PROTO_RETRY_AFTER_MAX_SEC : sec;
                ret->retry_after_from_server = true;
                return;
        }
        /* RFC 9110 also allows an HTTP-date. */
        t = curl_getdate(v, NULL);
        if (t >= 0 && strchr(v, ',')) {
                sec = t > now ? (uint64_t) (t - now) : 0;
                ret->retry_after_sec = sec > PROTO_RETRY_AFTER_MAX_SEC ? PROTO_RETRY_AFTER_MAX_SEC : sec;
                ret->retry_after_from_server = true;
        }
}

static bool retry_after_usable(const char *v) {
        uint64_t sec;
        return v && (parse_uint64(v, &sec) >= 0 || (strchr(v, ',') && curl_getdate(v, NULL) >= 0));
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
                                          r->body_len);
                } else {
                        res.kind = classify_curl(r->curl_code, &res.error);
                        (void) buf_printf(&msg, "%s (curl error %d)", r->error_text, r->curl_code);
                }
                res.http_status = s;
                goto done;
        }

        res.http_status = s;
        if (r->body_len > 0 && proto_parse_error(r->body, r->body_len, &eb) >= 0)
                have_eb = true;
        (void) buf_printf(&msg, "HTTP %ld", s);

        if (s >= 200 && s < 300) {
                res.kind = PROTO_RESULT_OK;
        } else if (s == 429 || (s == 503 && retry_after_usable(r->retry_after))) {
                res.kind = PROTO_RESULT_RETRY_AFTER;
                res.error = -EBUSY;
                parse_retry_after(r->retry_after, now, &res);
        } else if (s == 401 || s == 403 || s == 407) {
                res.kind = PROTO_RESULT_AUTH;
                res.error = -EACCES;
        } else if (s == 410) {
                if (call == PROTO_CALL_UNREGISTER)
                        res.kind = PROTO_RESULT_OK; /* already deleted */
                else if (have_eb && eb.deleted_id && our_uuid && strcasecmp(eb.deleted_id, our_uuid) == 0) {
                        res.kind = PROTO_RESULT_GONE;
                        res.error = -EIDRM;
                } else {
                        /* Dropping an identity is irreversible: only our own deletedId proves it. */
                        res.kind = PROTO_RESULT_TEMPORARY;
                        res.error = -EREMOTEIO;
                }
        } else if (s == 404 && call == PROTO_CALL_UNREGISTER) {
                res.kind = PROTO_RESULT_OK;
        } else if (s >= 500 && s < 600) {
                res.kind = PROTO_RESULT_TEMPORARY;
                res.error = -EREMOTEIO;
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
        free(call->content_type);
        free(call->body);
        free(call->cert_path);
        free(call->key_path);
        free(call->our_uuid);
        free(call->user);
        erase_and_free(call->password);
        free(call->org);
        erase_and_free(call->keys);
        free(call->register_body);
        free(call);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(Call *, call_free, call_freep)

static void call_unlink(Call *call) {
        ProtoClient *c = call->client;

        if (call->prev)
                call->prev->next = call->next;
        else if (c->calls == call)
                c->calls = call->next;
        if (call->next)
                call->next->prev = call->prev;
        call->prev = call->next = NULL;
}

static void on_http_done(ProtoHttp *h, const ProtoHttpResponse *resp, void *userdata);

static int call_send(Call *call) {
        ProtoHttpRequest req = {
                .method = call->method,
                .url = call->url,
                .content_type = call->content_type,
                .body = call->body,
                .body_len = call->body_len,
                .client_cert = call->cert_path,
                .client_key = call->key_path,
        };

        if (call->kind == PROTO_CALL_OWNERS || (call->kind == PROTO_CALL_REGISTER && call->user)) {
                req.basic_user = call->user;
                req.basic_password = call->password;
        }
        return proto_http_start(call->client->http, &req, on_http_done, call);
}

static int call_new(ProtoClient *c, ProtoCall kind, const char *method, ProtoCallback cb, void *userdata,
                    Call **ret) {
        Call *call;

        if (!c || !cb)
                return -EINVAL;
        call = calloc(1, sizeof(*call));
        if (!call)
                return -ENOMEM;
        call->client = c;
        call->kind = kind;
        call->method = method;
        call->cb = cb;
        call->userdata = userdata;
        *ret = call;
        return 0;
}

/* Sends and links the call; on failure the caller still owns it. */
static int call_start(Call *call) {
        ProtoClient *c = call->client;
        int r;

        if ((strcmp(call->method, "POST") == 0 || strcmp(call->method, "PUT") == 0) && !call->content_type) {
                /* Like python-rhsm: JSON even without a body. */
                call->content_type = strdup("application/json");
                if (!call->content_type)
                        return -ENOMEM;
        }
        r = call_send(call);
        if (r < 0)
                return r;
        call->next = c->calls;
        if (c->calls)
                c->calls->prev = call;
        c->calls = call;
        return 0;
}

static int call_set_url(Call *call, const char *format, ...) _printf_(2, 3);
static int call_set_url(Call *call, const char *format, ...) {
        _cleanup_free_ char *path = NULL;
        va_list ap;
        int r;

        va_start(ap, format);
        r = vasprintf(&path, format, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        free(call->url);
        if (asprintf(&call->url, "%s%s", call->client->base_url, path) < 0) {
                call->url = NULL;
                return -ENOMEM;
        }
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
        return 0;
}

static void result_replace_message(ProtoResult *res, ProtoResultKind kind, int error, const Call *call,
                                   const char *what) {
        char *m = NULL;

        res->kind = kind;
        res->error = error;
        if (asprintf(&m, "%s %.*s: HTTP %ld, %s%s%s%s", call->method, (int) strcspn(call->url, "?"),
                     call->url, res->http_status, what, res->request_uuid ? " (request " : "",
                     strempty(res->request_uuid), res->request_uuid ? ")" : "") >= 0) {
                free(res->message);
                res->message = m;
        }
}

static int start_register(Call *call);

static void call_finish(Call *call, ProtoResult *res) {
        ProtoClient *c = call->client;

        call_unlink(call);
        /* The callback may free the client: nothing of c is touched after it. */
        call->cb(c, res, call->userdata);
        proto_result_done(res);
        call_free(call);
}

/* Owners answer: pick the only org or say why not; on success the same call goes on to register. */
static bool owners_continue(Call *call, const ProtoHttpResponse *resp, ProtoResult *res) {
        _cleanup_strv_free_ char **keys = NULL;
        _cleanup_(buf_free) Buf list = BUF_INIT(1024);
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
                _cleanup_free_ char *what = NULL;
                if (asprintf(&what, "user %s %s; name the organization to register with", call->user,
                             n == 0 ? "belongs to no organization" : "belongs to several organizations") < 0)
                        what = NULL;
                if (n > 1) {
                        free(what);
                        if (asprintf(&what,
                                     "user %s belongs to %zu organizations (%s); name one to register with",
                                     call->user, n, buf_str(&list)) < 0)
                                what = NULL;
                }
                result_replace_message(res, PROTO_RESULT_PERMANENT, -EINVAL, call, strempty(what));
                return false;
        }
        call->org = strdup(keys[0]);
        if (!call->org) {
                result_replace_message(res, PROTO_RESULT_LOCAL, -ENOMEM, call, "out of memory");
                return false;
        }
        r = start_register(call);
        if (r < 0) {
                result_replace_message(res, PROTO_RESULT_LOCAL, r, call, "cannot start the registration");
                return false;
        }
        return true;
}

static void handle_consumer(Call *call, const ProtoHttpResponse *resp, ProtoResult *res) {
        _cleanup_free_ ProtoConsumer *cons = calloc(1, sizeof(ProtoConsumer));
        _cleanup_free_ char *error = NULL, *local_serial = NULL, *remote_serial = NULL;
        ProtoIdentity *fresh = NULL;
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
        if (!call->identity)
                return;

        /* Refresh: compare serials exactly, from the certificates themselves. */
        if (call->kind == PROTO_CALL_GET_CONSUMER) {
                if (!res->consumer->cert_pem)
                        return;
                r = proto_cert_info(res->consumer->cert_pem, strlen(res->consumer->cert_pem), NULL, NULL,
                                    &remote_serial, NULL, NULL);
                if (r < 0) {
                        result_replace_message(res, PROTO_RESULT_TEMPORARY, r, call,
                                               "the identity certificate in the answer does not parse");
                        return;
                }
                if (streq_ptr(remote_serial, call->identity->serial))
                        return;
                if (!res->consumer->key_pem) {
                        result_replace_message(res, PROTO_RESULT_TEMPORARY, -EBADMSG, call,
                                               "a new certificate came without its key");
                        return;
                }
        }
        r = proto_identity_save(call->identity->dir, res->consumer, call->identity->server_url, &fresh,
                                &error);
        if (r < 0) {
                _cleanup_free_ char *what = NULL;
                if (asprintf(&what, "cannot store the new identity: %s", strna(error)) < 0)
                        what = NULL;
                result_replace_message(res, PROTO_RESULT_LOCAL, r, call, strna(what));
                return;
        }
        /* Swap the contents so the caller's pointer now sees the new identity. */
        {
                ProtoIdentity tmp = *call->identity;
                *call->identity = *fresh;
                *fresh = tmp;
                proto_identity_free(fresh);
        }
        res->identity_renewed = true;
}

static void on_http_done(ProtoHttp *h, const ProtoHttpResponse *resp, void *userdata) {
        Call *call = userdata;
        ProtoResult res = {};
        int r;

        r = proto_classify(call->kind, call->method, call->url, resp, call->our_uuid, time(NULL), &res);
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
                call_unlink(call);
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

int proto_client_status(ProtoClient *c, ProtoCallback cb, void *userdata) {
        _cleanup_(call_freep) Call *call = NULL;
        int r;

        r = call_new(c, PROTO_CALL_STATUS, "GET", cb, userdata, &call);
        if (r < 0)
                return r;
        r = call_set_url(call, "/status");
        if (r < 0)
                return r;
        r = call_start(call);
        if (r < 0)
                return r;
        TAKE_PTR(call);
        return 0;
}

static int start_register(Call *call) {
        _cleanup_free_ char *org = url_escape(call->org);
        int r;

        if (!org)
                return -ENOMEM;
        call->kind = PROTO_CALL_REGISTER;
        call->method = "POST";
        if (!call->content_type && !(call->content_type = strdup("application/json")))
                return -ENOMEM;
        free(call->body);
        call->body = strdup(call->register_body);
        if (!call->body)
                return -ENOMEM;
        call->body_len = strlen(call->body);
        if (call->keys) {
                _cleanup_(buf_free) Buf keys = BUF_INIT(64 * 1024);
                const char *p = call->keys;

                /* Each key escaped on its own, joined by ',' (subscription-manager does the same). */
                while (*p) {
                        size_t l = strcspn(p, ",");
                        _cleanup_free_ char *one = strndup(p, l), *esc = NULL;
                        if (!one)
                                return -ENOMEM;
                        /* Trim spaces around each key. */
                        char *s = one, *e = one + strlen(one);
                        while (*s == ' ')
                                s++;
                        while (e > s && e[-1] == ' ')
                                *--e = 0;
                        if (*s) {
                                esc = url_escape(s);
                                if (!esc || (keys.len > 0 && buf_append_str(&keys, ",") < 0) ||
                                    buf_append_str(&keys, esc) < 0)
                                        return -ENOMEM;
                        }
                        p += l;
                        if (*p == ',')
                                p++;
                }
                r = call_set_url(call, "/consumers?owner=%s&activation_keys=%s", org, buf_str(&keys));
        } else
                r = call_set_url(call, "/consumers?owner=%s", org);
        if (r < 0)
                return r;
        return call_send(call);
}

int proto_client_register(ProtoClient *c, const ProtoCredentials *cred, const ProtoMapping *m,
                          ProtoCallback cb, void *userdata) {
        _cleanup_(call_freep) Call *call = NULL;
        char err[PROTO_ERROR_MAX] = "";
        bool keys = false;
        int r;

        if (!cred || !m)
                return -EINVAL;
        for (const char *p = cred->activation_keys; p && *p; p++)
                if (*p != ',' && *p != ' ')
                        keys = true;
        if (keys == !!cred->user)
                return log_error_errno(EINVAL,
                                       "register needs either activation keys or a user name, not %s",
                                       keys ? "both" : "neither");
        if (keys && (!cred->org || !*cred->org))
                return log_error_errno(EINVAL, "registering with activation keys needs the organization");

        /* Secrets never print, whatever logs them later. */
        if (cred->password)
                (void) log_secret_register(cred->password);
        if (keys) {
                (void) log_secret_register(cred->activation_keys);
                for (const char *p = cred->activation_keys; *p;) {
                        size_t l = strcspn(p, ",");
                        _cleanup_(erase_and_freep) char *one = strndup(p, l);
                        if (one) {
                                char *s = one;
                                while (*s == ' ')
                                        s++;
                                for (char *e = s + strlen(s); e > s && e[-1] == ' ';)
                                        *--e = 0;
                                if (*s)
                                        (void) log_secret_register(s);
                        }
                        p += l;
                        if (*p == ',')
                                p++;
                }
        }

        r = call_new(c, PROTO_CALL_REGISTER, "POST", cb, userdata, &call);
        if (r < 0)
                return r;
        r = proto_build_register(m, &call->register_body, NULL, err, sizeof(err));
        if (r < 0)
                return r == -EINVAL ? log_error_errno(r, "cannot register: %s", err) : r;
        if (cred->org && *cred->org && !(call->org = strdup(cred->org)))
                return -ENOMEM;
        if (keys && !(call->keys = strdup(cred->activation_keys)))
                return -ENOMEM;
        if (cred->user) {
                call->user = strdup(cred->user);
                call->password = strdup(strempty(cred->password));
                if (!call->user || !call->password)
                        return -ENOMEM;
        }

        if (!call->org) {
                _cleanup_free_ char *u = url_escape(call->user);
                if (!u)
                        return -ENOMEM;
                call->kind = PROTO_CALL_OWNERS;
                call->method = "GET";
                r = call_set_url(call, "/users/%s/owners", u);
                if (r < 0)
                        return r;
                r = call_start(call);
        } else {
                r = start_register(call);
                if (r >= 0) {
                        call->next = c->calls;
                        if (c->calls)
                                c->calls->prev = call;
                        c->calls = call;
                }
        }
        if (r < 0)
                return r;
        TAKE_PTR(call);
        return 0;
}

int proto_client_update_guests(ProtoClient *c, const ProtoIdentity *id, const ProtoMapping *m,
                               ProtoCallback cb, void *userdata) {
        _cleanup_(call_freep) Call *call = NULL;
        char err[PROTO_ERROR_MAX] = "";
        int r;

        if (!m)
                return -EINVAL;
        r = call_new(c, PROTO_CALL_UPDATE_GUESTS, "PUT", cb, userdata, &call);
        if (r < 0)
                return r;
        r = call_set_identity(call, id);
        if (r < 0)
                return r;
        r = proto_build_guest_update(m, &call->body, &call->body_len, err, sizeof(err));
        if (r < 0)
                return r == -EINVAL ? log_error_errno(r, "cannot report guests: %s", err) : r;
        r = call_set_url(call, "/consumers/%s", id->uuid);
        if (r < 0)
                return r;
        r = call_start(call);
        if (r < 0)
                return r;
        TAKE_PTR(call);
        return 0;
}

static int owner_path(const ProtoIdentity *id, char **ret) {
        if (!id || !id->owner || !*id->owner)
                return log_error_errno(EINVAL, "the identity has no organization; register again");
        *ret = url_escape(id->owner);
        return *ret ? 0 : -ENOMEM;
}

int proto_client_checkin(ProtoClient *c, const ProtoIdentity *id, const ProtoMapping *m,
                         const char *reporter_id, ProtoCallback cb, void *userdata) {
        _cleanup_(call_freep) Call *call = NULL;
        _cleanup_free_ char *owner = NULL, *rid = NULL;
        char err[PROTO_ERROR_MAX] = "";
        int r;

        if (!m)
                return -EINVAL;
        r = call_new(c, PROTO_CALL_CHECKIN, "POST", cb, userdata, &call);
        if (r < 0)
                return r;
        r = call_set_identity(call, id);
        if (r < 0)
                return r;
        r = owner_path(id, &owner);
        if (r < 0)
                return r;
        r = proto_build_checkin(m, 1, &call->body, &call->body_len, err, sizeof(err));
        if (r < 0)
                return r == -EINVAL ? log_error_errno(r, "cannot check in: %s", err) : r;
        call->content_type = strdup("text/plain");
        if (!call->content_type)
                return -ENOMEM;
        if (reporter_id && *reporter_id) {
                rid = url_escape(reporter_id);
                if (!rid)
                        return -ENOMEM;
                r = call_set_url(call, "/hypervisors/%s?reporter_id=%s", owner, rid);
        } else
                r = call_set_url(call, "/hypervisors/%s", owner);
        if (r < 0)
                return r;
        r = call_start(call);
        if (r < 0)
                return r;
        TAKE_PTR(call);
        return 0;
}

int proto_client_job(ProtoClient *c, const ProtoIdentity *id, const char *job_id, ProtoCallback cb,
                     void *userdata) {
        _cleanup_(call_freep) Call *call = NULL;
        int r;

        if (!proto_job_id_valid(job_id))
                return -EINVAL;
        r = call_new(c, PROTO_CALL_JOB, "GET", cb, userdata, &call);
        if (r < 0)
                return r;
        r = call_set_identity(call, id);
        if (r < 0)
                return r;
        r = call_set_url(call, "/jobs/%s", job_id);
        if (r < 0)
                return r;
        r = call_start(call);
        if (r < 0)
                return r;
        TAKE_PTR(call);
        return 0;
}

int proto_client_heartbeat(ProtoClient *c, const ProtoIdentity *id, const char *reporter_id,
                           ProtoCallback cb, void *userdata) {
        _cleanup_(call_freep) Call *call = NULL;
        _cleanup_free_ char *owner = NULL, *rid = NULL;
        int r;

        if (!reporter_id || !*reporter_id)
                return -EINVAL;
        r = call_new(c, PROTO_CALL_HEARTBEAT, "PUT", cb, userdata, &call);
        if (r < 0)
                return r;
        r = call_set_identity(call, id);
        if (r < 0)
                return r;
        r = owner_path(id, &owner);
        if (r < 0)
                return r;
        rid = url_escape(reporter_id);
        if (!rid)
                return -ENOMEM;
        r = call_set_url(call, "/hypervisors/%s/heartbeat?reporter_id=%s", owner, rid);
        if (r < 0)
                return r;
        r = call_start(call);
        if (r < 0)
                return r;
        TAKE_PTR(call);
        return 0;
}

static int consumer_call(ProtoClient *c, ProtoCall kind, const char *method, const ProtoIdentity *id,
                         ProtoIdentity *update, ProtoCallback cb, void *userdata) {
        _cleanup_(call_freep) Call *call = NULL;
        int r;

        r = call_new(c, kind, method, cb, userdata, &call);
        if (r < 0)
                return r;
        r = call_set_identity(call, id);
        if (r < 0)
                return r;
        if (update && !update->dir)
                return -EINVAL;
        call->identity = update;
        r = call_set_url(call, "/consumers/%s", id->uuid);
        if (r < 0)
                return r;
        r = call_start(call);
        if (r < 0)
                return r;
        TAKE_PTR(call);
        return 0;
}

int proto_client_get_consumer(ProtoClient *c, const ProtoIdentity *id, ProtoCallback cb, void *userdata) {
        return consumer_call(c, PROTO_CALL_GET_CONSUMER, "GET", id, NULL, cb, userdata);
}

int proto_client_refresh_identity(ProtoClient *c, ProtoIdentity *id, ProtoCallback cb, void *userdata) {
        return consumer_call(c, PROTO_CALL_GET_CONSUMER, "GET", id, id, cb, userdata);
}

int proto_client_regenerate_identity(ProtoClient *c, ProtoIdentity *id, ProtoCallback cb, void *userdata) {
        return consumer_call(c, PROTO_CALL_REGENERATE, "POST", id, id, cb, userdata);
}

int proto_client_unregister(ProtoClient *c, const ProtoIdentity *id, ProtoCallback cb, void *userdata) {
        return consumer_call(c, PROTO_CALL_UNREGISTER, "DELETE", id, NULL, cb, userdata);
}
