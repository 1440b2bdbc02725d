/* SPDX-License-Identifier: GPL-2.0-or-later */
/* HTTPS on libcurl's multi-socket API driven by the caller's sd-event loop:
 * after systemd's src/import/curl-util.c, with every finished transfer
 * drained and 1 ms timer accuracy (shared/spec/event-loop-findings.md §2). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define HVMAP_PROTO_INTERNAL 1
#include "config.h"
#include "proto/proto-internal.h"
#include "util/event-util.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/cleanup-libs.h"
#include "util/fileio.h"
#include "util/list.h"
#include "util/log.h"
#include "util/strprintf.h"
#include "util/parse.h"

/* Trust anchors are a few KiB each; rhsm's CA dir holds one or two. */
#define CA_FILE_MAX (1024U * 1024U)
#define CA_BUNDLE_MAX (8U * 1024U * 1024U)
/* Header values we keep (request uuid, Retry-After, Content-Type, Location). */
#define HEADER_VALUE_MAX 128

typedef struct Transfer Transfer;
typedef struct IoEntry IoEntry;

struct IoEntry {
        ProtoHttp *h;
        curl_socket_t fd;
        sd_event_source *source;
        LIST_FIELDS(IoEntry, ios);
};

struct Transfer {
        ProtoHttp *h;
        CURL *easy;
        struct curl_slist *headers;
        Buf body;
        bool too_large;
        char *request_uuid;
        char *retry_after;
        char *date;
        char *content_type;
        char *location;
        char errbuf[CURL_ERROR_SIZE];
        /* The CA directory's bundle, for ssl_ctx_add_ca(). */
        char *ca_pem;
        size_t ca_pem_len;
        /* A request that never reached curl (CA dir unusable) completes from a defer source. */
        sd_event_source *defer;
        int local_error;
        char *local_text;
        ProtoHttpCallback cb;
        void *userdata;
        LIST_FIELDS(Transfer, transfers);
};

struct ProtoHttp {
        sd_event *event;
        CURLM *multi;
        sd_event_source *timer;
        IoEntry *ios;
        Transfer *transfers;
        size_t n_transfers;
        unsigned dispatching;
        bool free_pending;

        char *ca_dir;
        bool use_system_ca;
        bool insecure;
        uint64_t connect_timeout_usec;
        uint64_t timeout_usec;
        size_t max_body;
        char *proxy;
        char *no_proxy;
        char *proxy_user;
        char *proxy_password;
        struct curl_slist *resolve;
        char *user_agent;
        char correlation_id[33];
};

int proto_set_error(char **ret_error, int r, const char *format, ...) {
        va_list ap;

        if (ret_error) {
                free(*ret_error);
                va_start(ap, format);
                *ret_error = strdup_vprintf(format, ap);
                va_end(ap);
        }
        return r;
}

/* ---- CA bundle --------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int pem_has_certificate(const char *data, size_t len) {
        _cleanup_(BIO_free_allp) BIO *bio = BIO_new_mem_buf(data, (int) len);
        X509 *x;

        if (!bio)
                return -ENOMEM;
        x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (!x)
                return -EBADMSG;
        X509_free(x);
        return 0;
}

int proto_ca_bundle_load(const char *dir, char **ret, size_t *ret_len, char **ret_error) {
        _cleanup_(buf_free) Buf bundle = BUF_INIT(CA_BUNDLE_MAX);
        _cleanup_strv_free_ char **names = NULL;
        size_t n = 0, alloc = 0;
        struct dirent *de;
        DIR *d;
        int r;

        if (!dir || !*dir)
                return proto_set_error(ret_error, -ENOENT, "no CA directory configured");
        d = opendir(dir);
        if (!d)
                return proto_set_error(ret_error, -errno, "cannot open CA directory %s: %s", dir,
                                       strerror(errno));
        while ((errno = 0, de = readdir(d))) {
                size_t l = strlen(de->d_name);
                struct stat st;

                if (de->d_name[0] == '.' || l < 5 || strcmp(de->d_name + l - 4, ".pem") != 0)
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
                        continue;
                if (n + 2 > alloc) {
                        char **nn = reallocarray(names, alloc * 2 + 8, sizeof(char *));
                        if (!nn) {
                                closedir(d);
                                return -ENOMEM;
                        }
                        names = nn;
                        alloc = alloc * 2 + 8;
                }
                names[n] = strdup(de->d_name);
                if (!names[n]) {
                        closedir(d);
                        return -ENOMEM;
                }
                names[++n] = NULL;
        }
        closedir(d);
        if (n == 0)
                return proto_set_error(ret_error, -ENOENT, "no CA certificates (*.pem) in %s", dir);
        qsort(names, n, sizeof(char *), cmp_str);

        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *path = NULL, *data = NULL;
                size_t len;

                if (asprintf(&path, "%s/%s", dir, names[i]) < 0)
                        return -ENOMEM;
                r = read_file_capped(path, CA_FILE_MAX, &data, &len);
                if (r < 0)
                        return proto_set_error(ret_error, r, "cannot read CA certificate %s: %s", path,
                                               strerror(-r));
                r = pem_has_certificate(data, len);
                if (r == -EBADMSG)
                        return proto_set_error(ret_error, r, "CA file %s holds no PEM certificate", path);
                if (r < 0)
                        return r;
                r = buf_append(&bundle, data, len);
                if (r >= 0)
                        r = buf_append_str(&bundle, "\n");
                if (r == -E2BIG)
                        return proto_set_error(ret_error, r, "CA certificates in %s exceed %u bytes", dir,
                                               CA_BUNDLE_MAX);
                if (r < 0)
                        return r;
        }
        *ret = buf_steal(&bundle, ret_len);
        return *ret ? 0 : -ENOMEM;
}

/* ---- proxy ------------------------------------------------------------- */

static const char *env_nonempty(ProtoGetenv env, const char *name) {
        const char *v = env(name);
        return v && *v ? v : NULL;
}

/* rhsm.conf's no_proxy: "*.example.com, .corp" → "example.com,.corp"; "*" stays "*". */
static char *no_proxy_normalize(const char *s) {
        _cleanup_(buf_free) Buf b = BUF_INIT(4096);
        const char *p = s;

        while (*p) {
                size_t l = strcspn(p, ",");
                const char *e = p;
                size_t k;

                while (e < p + l && (*e == ' ' || *e == '\t'))
                        e++;
                k = (size_t) (p + l - e);
                while (k > 0 && (e[k - 1] == ' ' || e[k - 1] == '\t'))
                        k--;
                if (!(k == 1 && e[0] == '*'))
                        while (k > 0 && *e == '*') {
                                e++;
                                k--;
                        }
                if (k > 0) {
                        if ((b.len > 0 && buf_append(&b, ",", 1) < 0) || buf_append(&b, e, k) < 0)
                                return NULL;
                }
                p += l;
                if (*p == ',')
                        p++;
        }
        return buf_steal(&b, NULL);
}

static const char *getenv_const(const char *name) {
        return getenv(name);
}

/* python-rhsm's get_env_proxy_info(): the first set of HTTPS_PROXY,
 * https_proxy, HTTP_PROXY, http_proxy, split into [user[:password]@]host
 * and port (3128 when it names none). Each part is NULL/0 when absent. */
typedef struct EnvProxy {
        char *userinfo; /* "user[:password]", as written */
        char *host; /* an IPv6 address keeps its brackets */
        unsigned port;
} EnvProxy;

static void env_proxy_done(EnvProxy *p) {
        erase_and_free(p->userinfo);
        free(p->host);
}

#define PROXY_DEFAULT_PORT 3128

static int env_proxy_parse(ProtoGetenv env, EnvProxy *ret) {
        static const char *const names[] = { "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy" };
        const char *v = NULL, *s, *at, *end, *colon;

        for (size_t i = 0; i < ELEMENTSOF(names) && !v; i++)
                v = env_nonempty(env, names[i]);
        if (!v)
                return 0;
        s = strstr(v, "://");
        s = s ? s + 3 : v;
        end = s + strcspn(s, "/?#");
        at = memrchr(s, '@', (size_t) (end - s));
        if (at && !(ret->userinfo = strndup(s, (size_t) (at - s))))
                return -ENOMEM;
        s = at ? at + 1 : s;
        colon = s[0] == '[' ? memchr(s, ']', (size_t) (end - s)) : s;
        colon = colon ? memchr(colon, ':', (size_t) (end - colon)) : NULL;
        ret->port = PROXY_DEFAULT_PORT;
        if (colon && colon + 1 < end) {
                char digits[8];
                uint64_t port;

                (void) snprintf(digits, sizeof digits, "%.*s", (int) (end - colon - 1), colon + 1);
                ret->port = parse_uint64_range(digits, 1, 65535, &port) >= 0 ? (unsigned) port : 0;
        }
        if ((colon ? colon : end) > s && !(ret->host = strndup(s, (size_t) ((colon ? colon : end) - s))))
                return -ENOMEM;
        return 0;
}

int proto_proxy_resolve(const ProtoServerConfig *cfg, ProtoGetenv env, char **ret_proxy,
                        char **ret_no_proxy) {
        _cleanup_free_ char *proxy = NULL, *no_proxy = NULL;
        _cleanup_(env_proxy_done) EnvProxy ep = {};
        const char *host, *np;
        unsigned port;
        int r;

        if (!env)
                env = getenv_const;
        /* As python-rhsm: each part from rhsm.conf/hvmap.conf, else from the
         * environment; a proxy only with both a host and a port. */
        r = env_proxy_parse(env, &ep);
        if (r < 0)
                return r;
        host = cfg->proxy_hostname && *cfg->proxy_hostname ? cfg->proxy_hostname : ep.host;
        port = cfg->proxy_port > 0 ? cfg->proxy_port : ep.port;
        if (host && *host && port > 0) {
                bool v6 = strchr(host, ':') && host[0] != '[';
                /* Credentials from the environment ride in the URL; configured
                 * ones are set apart (CURLOPT_PROXYUSERNAME). */
                bool env_user = !cfg->proxy_user && ep.userinfo && host == ep.host;

                proxy = strdup_printf("http://%s%s%s%s%s:%u", env_user ? ep.userinfo : "",
                                      env_user ? "@" : "", v6 ? "[" : "", host, v6 ? "]" : "", port);
                if (!proxy)
                        return -ENOMEM;
        }
        /* python-rhsm's fix_no_proxy(): no_proxy before NO_PROXY. */
        np = cfg->no_proxy && *cfg->no_proxy ? cfg->no_proxy : env_nonempty(env, "no_proxy");
        if (!np)
                np = env_nonempty(env, "NO_PROXY");
        if (np) {
                no_proxy = no_proxy_normalize(np);
                if (!no_proxy)
                        return -ENOMEM;
                if (!*no_proxy)
                        no_proxy = mfree(no_proxy);
        }
        *ret_proxy = TAKE_PTR(proxy);
        *ret_no_proxy = TAKE_PTR(no_proxy);
        return 0;
}

/* The proxy URL without any user:password@ part, for the log. */
static char *proxy_for_log(const char *proxy) {
        const char *at = strrchr(proxy, '@'), *scheme = strstr(proxy, "://");
        char *r;

        if (!at)
                return strdup(proxy);
        if (scheme && scheme < at) {
                if (asprintf(&r, "%.*s://%s", (int) (scheme - proxy), proxy, at + 1) < 0)
                        return NULL;
                return r;
        }
        return strdup(at + 1);
}

/* ---- transfers --------------------------------------------------------- */

static void transfer_unlink(Transfer *t) {
        ProtoHttp *h = t->h;

        LIST_REMOVE(transfers, h->transfers, t);
        h->n_transfers--;
}

static Transfer *transfer_free(Transfer *t) {
        if (!t)
                return NULL;
        if (t->easy) {
                (void) curl_multi_remove_handle(t->h->multi, t->easy);
                curl_easy_cleanup(t->easy);
        }
        event_source_disable_unref(t->defer);
        curl_slist_free_all(t->headers);
        free(t->ca_pem);
        buf_free(&t->body);
        free(t->request_uuid);
        free(t->retry_after);
        free(t->date);
        free(t->content_type);
        free(t->location);
        free(t->local_text);
        free(t);
        return NULL;
}

static void transfer_complete(Transfer *t, CURLcode code) {
        ProtoHttp *h = t->h;
        ProtoHttpResponse resp = {
                .curl_code = (int) code,
                .local_error = t->local_error,
                .too_large = t->too_large || code == CURLE_FILESIZE_EXCEEDED,
                .body_cap = h->max_body,
                .body = buf_str(&t->body),
                .body_len = t->body.len,
                .request_uuid = t->request_uuid,
                .retry_after = t->retry_after,
                .date = t->date,
                .content_type = t->content_type,
                .location = t->location,
        };

        if (t->local_error < 0)
                resp.error_text = t->local_text ? t->local_text : strerror(-t->local_error);
        else if (code != CURLE_OK)
                resp.error_text = t->errbuf[0] ? t->errbuf : curl_easy_strerror(code);
        else
                resp.error_text = "";
        if (t->easy) {
                (void) curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &resp.status);
                (void) curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME, &resp.total_sec);
        }
        transfer_unlink(t);
        h->dispatching++;
        t->cb(h, &resp, t->userdata);
        h->dispatching--;
        transfer_free(t);
}

static void http_really_free(ProtoHttp *h);

/* After curl_multi_socket_action: hand every finished transfer to its owner,
 * not just the first (fix 1 to curl-util.c). */
static void drain(ProtoHttp *h) {
        CURLMsg *msg;
        int left;

        h->dispatching++;
        while (!h->free_pending && (msg = curl_multi_info_read(h->multi, &left))) {
                Transfer *t = NULL;
                CURLcode code;

                if (msg->msg != CURLMSG_DONE)
                        continue;
                code = msg->data.result;
                if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &t) != CURLE_OK || !t) {
                        log_error("curl finished a transfer hvmap does not know, ignoring");
                        (void) curl_multi_remove_handle(h->multi, msg->easy_handle);
                        continue;
                }
                (void) curl_multi_remove_handle(h->multi, t->easy);
                transfer_complete(t, code);
        }
        h->dispatching--;
        if (h->dispatching == 0 && h->free_pending)
                http_really_free(h);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        IoEntry *io = userdata;
        ProtoHttp *h = io->h;
        int action = 0, running;

        if (revents & EPOLLIN)
                action |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                action |= CURL_CSELECT_OUT;
        if (revents & (EPOLLERR | EPOLLHUP))
                action |= CURL_CSELECT_ERR;
        h->dispatching++;
        (void) curl_multi_socket_action(h->multi, fd, action, &running);
        h->dispatching--;
        drain(h);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        ProtoHttp *h = userdata;
        int running;

        h->dispatching++;
        (void) curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        h->dispatching--;
        drain(h);
        return 0;
}

static void io_entry_free(IoEntry *io) {
        ProtoHttp *h = io->h;

        LIST_REMOVE(ios, h->ios, io);
        /* Synchronously: curl closes the fd right after, and the number may be reused. */
        event_source_disable_unref(io->source);
        free(io);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
        ProtoHttp *h = userp;
        IoEntry *io = socketp;
        uint32_t events = 0;
        int r;

        if (what == CURL_POLL_REMOVE) {
                if (io) {
                        (void) curl_multi_assign(h->multi, fd, NULL);
                        io_entry_free(io);
                }
                return 0;
        }
        if (what & CURL_POLL_IN)
                events |= EPOLLIN;
        if (what & CURL_POLL_OUT)
                events |= EPOLLOUT;
        if (io) {
                r = sd_event_source_set_io_events(io->source, events);
                if (r >= 0)
                        r = sd_event_source_set_enabled(io->source, SD_EVENT_ON);
                if (r < 0) {
                        log_error_errno(r, "cannot update the event source of curl socket %d: %m", (int) fd);
                        return -1;
                }
                return 0;
        }
        io = calloc(1, sizeof(*io));
        if (!io)
                return -1;
        io->h = h;
        io->fd = fd;
        r = sd_event_add_io(h->event, &io->source, fd, events, on_io, io);
        if (r < 0) {
                log_error_errno(r, "cannot watch curl socket %d: %m", (int) fd);
                free(io);
                return -1;
        }
        (void) sd_event_source_set_description(io->source, "curl-io");
        LIST_PREPEND(ios, h->ios, io);
        if (curl_multi_assign(h->multi, fd, io) != CURLM_OK) {
                io_entry_free(io);
                return -1;
        }
        return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp) {
        ProtoHttp *h = userp;
        struct timespec ts;
        uint64_t when;
        int r;

        /* Only (re)arm here; curl is called from on_timer, never from inside its own callback. */
        if (timeout_ms < 0) {
                if (h->timer)
                        (void) sd_event_source_set_enabled(h->timer, SD_EVENT_OFF);
                return 0;
        }
        if (timeout_ms == 0)
                when = 1; /* already elapsed: due on the next iteration */
        else {
                /* Real now, not the iteration's cached time (pitfall P4). */
                (void) clock_gettime(CLOCK_MONOTONIC, &ts);
                when = (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000 +
                       (uint64_t) timeout_ms * USEC_PER_MSEC;
        }
        if (h->timer) {
                r = sd_event_source_set_time(h->timer, when);
                if (r >= 0)
                        r = sd_event_source_set_enabled(h->timer, SD_EVENT_ONESHOT);
        } else {
                /* 1 ms accuracy, not sd-event's default 250 ms (fix 2, pitfall P2). */
                r = sd_event_add_time(h->event, &h->timer, CLOCK_MONOTONIC, when, USEC_PER_MSEC, on_timer,
                                      h);
                if (r >= 0)
                        (void) sd_event_source_set_description(h->timer, "curl-timer");
        }
        if (r < 0) {
                log_error_errno(r, "cannot arm the curl timer: %m");
                return -1;
        }
        return 0;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata) {
        Transfer *t = userdata;
        size_t n = size * nmemb;
        int r;

        r = buf_append(&t->body, ptr, n);
        if (r == -E2BIG)
                t->too_large = true;
        if (r < 0)
                return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
        return n;
}

static void header_keep(char **slot, const char *v, size_t n) {
        free(*slot);
        *slot = NULL;
        if (n > HEADER_VALUE_MAX)
                n = HEADER_VALUE_MAX;
        *slot = strndup(v, n);
        if (*slot)
                for (char *p = *slot; *p; p++)
                        if ((unsigned char) *p < 0x20 || (unsigned char) *p >= 0x7f)
                                *p = '?';
}

static size_t header_cb(char *ptr, size_t size, size_t nitems, void *userdata) {
        static const struct {
                const char *name;
                size_t offset;
        } keep[] = {
                { "x-candlepin-request-uuid", offsetof(Transfer, request_uuid) },
                { "retry-after", offsetof(Transfer, retry_after) },
                { "content-type", offsetof(Transfer, content_type) },
                { "location", offsetof(Transfer, location) },
                { "date", offsetof(Transfer, date) },
        };
        Transfer *t = userdata;
        size_t n = size * nitems;

        /* A new status line (after a proxy's CONNECT answer or a 100) starts over. */
        if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
                t->request_uuid = mfree(t->request_uuid);
                t->retry_after = mfree(t->retry_after);
                t->content_type = mfree(t->content_type);
                t->location = mfree(t->location);
                t->date = mfree(t->date);
                return n;
        }
        for (size_t i = 0; i < ELEMENTSOF(keep); i++) {
                size_t l = strlen(keep[i].name);
                const char *v, *e;

                if (n <= l || ptr[l] != ':' || strncasecmp(ptr, keep[i].name, l) != 0)
                        continue;
                v = ptr + l + 1;
                e = ptr + n;
                while (v < e && (*v == ' ' || *v == '\t'))
                        v++;
                while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
                        e--;
                header_keep((char **) (void *) ((char *) t + keep[i].offset), v, (size_t) (e - v));
        }
        return n;
}

int proto_retry_after_parse(const char *v, time_t now, uint64_t *ret_sec) {
        size_t n = v ? strspn(v, "0123456789") : 0;
        uint64_t sec = 0;
        time_t t;

        if (!v || !*v)
                return -EINVAL;
        if (v[n] == '\0') {
                /* Digit by digit: past the cap it stays the cap, so a number
                 * too large for 64 bits is a day, not "unusable". */
                for (size_t i = 0; i < n && sec <= PROTO_RETRY_AFTER_MAX_SEC; i++)
                        sec = sec * 10 + (uint64_t) (v[i] - '0');
                *ret_sec = sec > PROTO_RETRY_AFTER_MAX_SEC ? PROTO_RETRY_AFTER_MAX_SEC : sec;
                return 0;
        }
        /* An HTTP-date has a comma ("Sun, 06 Nov 1994 08:49:37 GMT");
         * curl_getdate() alone would take "5 s" or a bare year. */
        t = strchr(v, ',') ? curl_getdate(v, NULL) : -1;
        if (t < 0)
                return -EINVAL;
        sec = t > now ? (uint64_t) (t - now) : 0;
        *ret_sec = sec > PROTO_RETRY_AFTER_MAX_SEC ? PROTO_RETRY_AFTER_MAX_SEC : sec;
        return 0;
}

static int on_defer(sd_event_source *s, void *userdata) {
        Transfer *t = userdata;
        ProtoHttp *h = t->h;

        h->dispatching++;
        transfer_complete(t, CURLE_OK);
        h->dispatching--;
        if (h->dispatching == 0 && h->free_pending)
                http_really_free(h);
        return 0;
}

static int transfer_fail_later(Transfer *t, int error, char *text) {
        int r;

        t->local_error = error;
        t->local_text = text;
        r = sd_event_add_defer(t->h->event, &t->defer, on_defer, t);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(t->defer, "curl-local-failure");
        return 0;
}

/* Adds the CA directory's certificates (and CRLs) to each new connection's
 * OpenSSL store, next to whatever CAINFO/CAPATH loaded. Not CURLOPT_CAINFO_BLOB:
 * it is curl 7.77 (RHEL 8 has 7.61, RHEL 9 7.76), and it replaces CAINFO,
 * which would drop the system bundle that use_system_ca asks for. */
static CURLcode ssl_ctx_add_ca(CURL *easy, void *ssl_ctx, void *userdata) {
        Transfer *t = userdata;
        X509_STORE *store = SSL_CTX_get_cert_store(ssl_ctx);
        _cleanup_(BIO_free_allp) BIO *bio = NULL;
        STACK_OF(X509_INFO) * infos;
        int added = 0;

        if (!store || !t->ca_pem || t->ca_pem_len > INT_MAX)
                return CURLE_SSL_CACERT_BADFILE;
        bio = BIO_new_mem_buf(t->ca_pem, (int) t->ca_pem_len);
        if (!bio)
                return CURLE_OUT_OF_MEMORY;
        infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
        if (!infos)
                return CURLE_SSL_CACERT_BADFILE;
        for (int i = 0; i < sk_X509_INFO_num(infos); i++) {
                X509_INFO *info = sk_X509_INFO_value(infos, i);

                if (info->x509 && X509_STORE_add_cert(store, info->x509) == 1)
                        added++;
                if (info->crl)
                        (void) X509_STORE_add_crl(store, info->crl);
        }
        sk_X509_INFO_pop_free(infos, X509_INFO_free);
        return added > 0 ? CURLE_OK : CURLE_SSL_CACERT_BADFILE;
}

#define SETOPT(easy, opt, val)                                          \
        do {                                                            \
                if (curl_easy_setopt((easy), (opt), (val)) != CURLE_OK) \
                        return -EIO;                                    \
        } while (0)

static int transfer_setup(ProtoHttp *h, Transfer *t, const ProtoHttpRequest *req) {
        _cleanup_free_ char *ca = NULL, *ca_error = NULL;
        size_t ca_len = 0;
        CURL *e;
        int r;

        if (!h->insecure && h->ca_dir) {
                r = proto_ca_bundle_load(h->ca_dir, &ca, &ca_len, &ca_error);
                if (r < 0) {
                        if (r == -ENOMEM)
                                return r;
                        return transfer_fail_later(t, r, TAKE_PTR(ca_error));
                }
        }

        t->easy = e = curl_easy_init();
        if (!e)
                return -ENOMEM;
        SETOPT(e, CURLOPT_PRIVATE, t);
        SETOPT(e, CURLOPT_URL, req->url);
        SETOPT(e, CURLOPT_NOSIGNAL, 1L);
        SETOPT(e, CURLOPT_ERRORBUFFER, t->errbuf);
        SETOPT(e, CURLOPT_WRITEFUNCTION, write_cb);
        SETOPT(e, CURLOPT_WRITEDATA, t);
        SETOPT(e, CURLOPT_HEADERFUNCTION, header_cb);
        SETOPT(e, CURLOPT_HEADERDATA, t);
        /* HTTPS only, and no redirect anywhere else. */
#if CURL_AT_LEAST_VERSION(7, 85, 0)
        SETOPT(e, CURLOPT_PROTOCOLS_STR, "https");
        SETOPT(e, CURLOPT_REDIR_PROTOCOLS_STR, "https");
#else
        SETOPT(e, CURLOPT_PROTOCOLS, (long) CURLPROTO_HTTPS);
        SETOPT(e, CURLOPT_REDIR_PROTOCOLS, (long) CURLPROTO_HTTPS);
#endif
        SETOPT(e, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
        SETOPT(e, CURLOPT_SSLVERSION, (long) CURL_SSLVERSION_TLSv1_2);
        SETOPT(e, CURLOPT_CONNECTTIMEOUT_MS, (long) (h->connect_timeout_usec / USEC_PER_MSEC));
        SETOPT(e, CURLOPT_TIMEOUT_MS, (long) ((req->timeout_usec ?: h->timeout_usec) / USEC_PER_MSEC));
        SETOPT(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) h->max_body);
        SETOPT(e, CURLOPT_USERAGENT, h->user_agent);
        if (h->insecure) {
                SETOPT(e, CURLOPT_SSL_VERIFYPEER, 0L);
                SETOPT(e, CURLOPT_SSL_VERIFYHOST, 0L);
        } else {
                SETOPT(e, CURLOPT_SSL_VERIFYPEER, 1L);
                SETOPT(e, CURLOPT_SSL_VERIFYHOST, 2L);
                if (!h->use_system_ca) {
                        /* Only the configured CA dir: no built-in bundle or path. */
                        SETOPT(e, CURLOPT_CAINFO, NULL);
                        SETOPT(e, CURLOPT_CAPATH, NULL);
                }
                if (ca) {
                        t->ca_pem = TAKE_PTR(ca);
                        t->ca_pem_len = ca_len;
                        SETOPT(e, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_add_ca);
                        SETOPT(e, CURLOPT_SSL_CTX_DATA, t);
                }
        }
        if (req->client_cert && req->client_key) {
                SETOPT(e, CURLOPT_SSLCERT, req->client_cert);
                SETOPT(e, CURLOPT_SSLCERTTYPE, "PEM");
                SETOPT(e, CURLOPT_SSLKEY, req->client_key);
                SETOPT(e, CURLOPT_SSLKEYTYPE, "PEM");
        }
        if (req->basic_user) {
                SETOPT(e, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
                SETOPT(e, CURLOPT_USERNAME, req->basic_user);
                SETOPT(e, CURLOPT_PASSWORD, strempty(req->basic_password));
        }
        /* "" = no proxy, and curl reads no environment of its own. */
        SETOPT(e, CURLOPT_PROXY, h->proxy ? h->proxy : "");
        if (h->no_proxy)
                SETOPT(e, CURLOPT_NOPROXY, h->no_proxy);
        if (h->proxy && h->proxy_user) {
                SETOPT(e, CURLOPT_PROXYUSERNAME, h->proxy_user);
                SETOPT(e, CURLOPT_PROXYPASSWORD, strempty(h->proxy_password));
        }
        if (h->resolve)
                SETOPT(e, CURLOPT_RESOLVE, h->resolve);

        {
                char cid[64];
                struct curl_slist *l;

                (void) snprintf(cid, sizeof(cid), "X-Correlation-ID: %s", h->correlation_id);
                const char *hdrs[] = { "Accept: application/json", cid, "Expect:" };
                for (size_t i = 0; i < ELEMENTSOF(hdrs); i++) {
                        l = curl_slist_append(t->headers, hdrs[i]);
                        if (!l)
                                return -ENOMEM;
                        t->headers = l;
                }
                if (req->content_type) {
                        _cleanup_free_ char *ct = NULL;
                        if (asprintf(&ct, "Content-Type: %s", req->content_type) < 0)
                                return -ENOMEM;
                        l = curl_slist_append(t->headers, ct);
                        if (!l)
                                return -ENOMEM;
                        t->headers = l;
                }
        }
        SETOPT(e, CURLOPT_HTTPHEADER, t->headers);

        if (strcmp(req->method, "GET") == 0)
                SETOPT(e, CURLOPT_HTTPGET, 1L);
        else if (strcmp(req->method, "DELETE") == 0)
                SETOPT(e, CURLOPT_CUSTOMREQUEST, "DELETE");
        else if (strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0) {
                /* Borrowed, not copied: the caller keeps it alive (proto_http_start). */
                SETOPT(e, CURLOPT_POST, 1L);
                SETOPT(e, CURLOPT_POSTFIELDS, req->body ? req->body : "");
                SETOPT(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_len);
                if (strcmp(req->method, "PUT") == 0)
                        SETOPT(e, CURLOPT_CUSTOMREQUEST, "PUT");
        } else
                return -EINVAL;

        if (curl_multi_add_handle(h->multi, e) != CURLM_OK)
                return -EIO;
        return 0;
}

int proto_http_start(ProtoHttp *h, const ProtoHttpRequest *req, ProtoHttpCallback cb, void *userdata) {
        Transfer *t;
        int r;

        if (!h || !req || !req->url || !req->method || !cb || h->free_pending)
                return -EINVAL;
        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->h = h;
        t->cb = cb;
        t->userdata = userdata;
        buf_init(&t->body, h->max_body);
        t->body.secret = true; /* a consumer's body holds its private key */
        LIST_PREPEND(transfers, h->transfers, t);
        h->n_transfers++;

        r = transfer_setup(h, t, req);
        if (r < 0) {
                transfer_unlink(t);
                transfer_free(t);
                return r;
        }
        return 0;
}

/* ---- the object -------------------------------------------------------- */

static void http_really_free(ProtoHttp *h) {
        while (h->transfers) {
                Transfer *t = h->transfers;
                transfer_unlink(t);
                transfer_free(t);
        }
        if (h->multi)
                curl_multi_cleanup(h->multi);
        while (h->ios)
                io_entry_free(h->ios);
        event_source_disable_unref(h->timer);
        sd_event_unref(h->event);
        free(h->ca_dir);
        free(h->proxy);
        free(h->no_proxy);
        free(h->proxy_user);
        if (h->proxy_password) {
                log_secret_unregister(h->proxy_password);
                erase_and_free(h->proxy_password);
        }
        curl_slist_free_all(h->resolve);
        free(h->user_agent);
        free(h);
        curl_global_cleanup();
}

ProtoHttp *proto_http_free(ProtoHttp *h) {
        if (!h)
                return NULL;
        if (h->dispatching > 0) {
                /* Inside one of our callbacks: cancel the rest now, free on the way out. */
                h->free_pending = true;
                while (h->transfers) {
                        Transfer *t = h->transfers;
                        transfer_unlink(t);
                        transfer_free(t);
                }
                return NULL;
        }
        http_really_free(h);
        return NULL;
}

/* curl counts milliseconds and reads 0 as "no timeout": less than 1 ms is
 * 1 ms, and more than PROTO_TIMEOUT_MAX_USEC is that. */
static uint64_t clamp_timeout(uint64_t usec) {
        if (usec < USEC_PER_MSEC)
                return USEC_PER_MSEC;
        return usec > PROTO_TIMEOUT_MAX_USEC ? PROTO_TIMEOUT_MAX_USEC : usec;
}

int proto_http_new(sd_event *e, const ProtoServerConfig *cfg, ProtoHttp **ret) {
        ProtoHttp *h;
        uint8_t rnd[16];
        const curl_version_info_data *vi;
        int r;

        if (!e || !cfg)
                return -EINVAL;
        if (!cfg->insecure && !cfg->use_system_ca && (!cfg->ca_dir || !*cfg->ca_dir))
                return log_error_errno(EINVAL, "no CA directory configured for the subscription server");
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return log_error_errno(EIO, "cannot initialise libcurl");
        h = calloc(1, sizeof(*h));
        if (!h) {
                curl_global_cleanup();
                return -ENOMEM;
        }
        h->event = sd_event_ref(e);

        h->insecure = cfg->insecure;
        h->use_system_ca = cfg->use_system_ca;
        h->connect_timeout_usec =
                clamp_timeout(cfg->connect_timeout_usec ?: PROTO_DEFAULT_CONNECT_TIMEOUT_USEC);
        h->timeout_usec = clamp_timeout(cfg->timeout_usec ?: PROTO_DEFAULT_TIMEOUT_USEC);
        h->max_body = cfg->max_body ?: PROTO_DEFAULT_MAX_BODY;
        if (cfg->ca_dir && !(h->ca_dir = strdup(cfg->ca_dir)))
                goto oom;
        r = proto_proxy_resolve(cfg, NULL, &h->proxy, &h->no_proxy);
        if (r < 0)
                goto fail;
        if (cfg->proxy_user && !(h->proxy_user = strdup(cfg->proxy_user)))
                goto oom;
        if (cfg->proxy_password) {
                if (!(h->proxy_password = strdup(cfg->proxy_password)))
                        goto oom;
                (void) log_secret_register(h->proxy_password);
        }
        for (const char *const *p = cfg->resolve; p && *p; p++) {
                struct curl_slist *l = curl_slist_append(h->resolve, *p);
                if (!l)
                        goto oom;
                h->resolve = l;
        }
        vi = curl_version_info(CURLVERSION_NOW);
        /* ssl_ctx_add_ca() hands curl's SSL_CTX to OpenSSL. */
        if (h->ca_dir && !h->insecure &&
            (!vi || !vi->ssl_version || strncmp(vi->ssl_version, "OpenSSL/", 8) != 0)) {
                r = log_error_errno(EOPNOTSUPP,
                                    "libcurl %s does TLS with %s, not OpenSSL: hvmap cannot add the CA "
                                    "directory's certificates; install libcurl built with OpenSSL "
                                    "(Debian: libcurl4, not libcurl3-gnutls)",
                                    vi ? vi->version : "?",
                                    vi && vi->ssl_version ? vi->ssl_version : "no TLS");
                goto fail;
        }
        if (asprintf(&h->user_agent, "hvmap/%s (libcurl/%s)", HVMAP_VERSION, vi ? vi->version : "?") < 0) {
                h->user_agent = NULL;
                goto oom;
        }
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd)) {
                r = log_error_errno(errno ?: EIO, "cannot get random bytes for the correlation id: %m");
                goto fail;
        }
        for (size_t i = 0; i < sizeof(rnd); i++)
                (void) snprintf(h->correlation_id + 2 * i, 3, "%02x", rnd[i]);

        h->multi = curl_multi_init();
        if (!h->multi)
                goto oom;
        if (curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb) != CURLM_OK ||
            curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h) != CURLM_OK ||
            curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb) != CURLM_OK ||
            curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h) != CURLM_OK) {
                r = log_error_errno(EIO, "cannot set up the curl multi handle");
                goto fail;
        }

        if (h->insecure)
                log_warning("TLS verification of the subscription server is OFF (insecure = 1): anyone on "
                            "the path "
                            "can impersonate it; install its CA in the CA directory instead");
        if (h->proxy) {
                _cleanup_free_ char *p = proxy_for_log(h->proxy);
                log_info("using proxy %s%s%s%s", strna(p), h->no_proxy ? " (not for: " : "",
                         strempty(h->no_proxy), h->no_proxy ? ")" : "");
        } else
                log_debug("no proxy configured");
        *ret = h;
        return 0;
oom:
        r = log_error_errno(ENOMEM, "out of memory");
fail:
        http_really_free(h);
        return r;
}

const char *proto_http_correlation_id(const ProtoHttp *h) {
        return h->correlation_id;
}

size_t proto_http_pending(const ProtoHttp *h) {
        return h ? h->n_transfers : 0;
}

size_t proto_http_max_body(const ProtoHttp *h) {
        return h->max_body;
}
