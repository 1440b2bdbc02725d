/* SPDX-License-Identifier: GPL-2.0-or-later */
/* proto/http.c without a server: CA dir loading, proxy choice, and the loop
 * glue (several transfers failing together all complete, local failures
 * come back through the callback). Real TLS is in the integration test. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/proto-internal.h"
#include "tests/proto/test-certs.h"
#include "util/event-util.h"
#include "util/cleanup.h"
#include "util/fileio.h"

static char dir[] = "/tmp/hvmap-test-http-XXXXXX";

static void rm_dir(const char *path) {
        DIR *d = opendir(path);
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d))) {
                _cleanup_free_ char *p = NULL;
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                cr_assert_gt(asprintf(&p, "%s/%s", path, de->d_name), 0);
                if (unlink(p) < 0)
                        rm_dir(p);
        }
        closedir(d);
        (void) rmdir(path);
}

static void setup(void) {
        cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void) {
        rm_dir(dir);
}

static void put(const char *name, const char *data) {
        _cleanup_free_ char *p = NULL;
        cr_assert_gt(asprintf(&p, "%s/%s", dir, name), 0);
        cr_assert_eq(write_file_atomic(p, data, strlen(data), 0644), 0);
}

TestSuite(ca, .init = setup, .fini = teardown);

Test(ca, missing_empty_garbage_and_good) {
        _cleanup_free_ char *missing = NULL, *bundle = NULL, *err = NULL;
        EVP_PKEY *k = test_key_new();
        _cleanup_free_ char *c1 = test_cert_pem(k, "ca-one", NULL, -1, 10, 1),
                            *c2 = test_cert_pem(k, "ca-two", NULL, -1, 10, 2);
        size_t len;

        cr_assert_gt(asprintf(&missing, "%s/nope", dir), 0);
        cr_expect_eq(proto_ca_bundle_load(missing, &bundle, &len, &err), -ENOENT);
        cr_expect_not_null(strstr(err, "cannot open CA directory"), "%s", err);

        cr_expect_eq(proto_ca_bundle_load(dir, &bundle, &len, &err), -ENOENT);
        cr_expect_not_null(strstr(err, "no CA certificates (*.pem)"), "%s", err);

        put("README", "not a pem, ignored");
        put("a-ca.pem.disabled", "ignored too");
        cr_expect_eq(proto_ca_bundle_load(dir, &bundle, &len, &err), -ENOENT);

        put("b.pem", c2);
        put("a.pem", c1);
        cr_assert_eq(proto_ca_bundle_load(dir, &bundle, &len, &err), 0, "%s", err);
        cr_expect_eq(len, strlen(c1) + strlen(c2) + 2);
        cr_expect_eq(strncmp(bundle, c1, strlen(c1)), 0, "sorted by name: a.pem first");
        bundle = mfree(bundle);

        put("z-broken.pem", "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n");
        cr_expect_eq(proto_ca_bundle_load(dir, &bundle, &len, &err), -EBADMSG);
        cr_expect_not_null(strstr(err, "z-broken.pem holds no PEM certificate"), "%s", err);
        EVP_PKEY_free(k);
}

/* ---- proxy ---- */

static const char *const *fake_env;

static const char *env_get(const char *name) {
        for (const char *const *e = fake_env; e && *e; e += 2)
                if (strcmp(e[0], name) == 0)
                        return e[1];
        return NULL;
}

Test(proxy, precedence) {
        struct {
                ProtoServerConfig cfg;
                const char *env[9];
                const char *want_proxy, *want_no_proxy;
        } cases[] = {
                { {}, {}, NULL, NULL },
                { {},
                  { "HTTPS_PROXY", "http://up:3128", "https_proxy", "http://low:3128" },
                  "http://up:3128",
                  NULL },
                { {},
                  { "https_proxy", "http://low:3128", "HTTP_PROXY", "http://plain:1" },
                  "http://low:3128",
                  NULL },
                /* python-rhsm reads HTTP_PROXY and http_proxy too, after the HTTPS ones. */
                { {},
                  { "HTTP_PROXY", "http://plain:1", "http_proxy", "http://lower:2" },
                  "http://plain:1",
                  NULL },
                { {}, { "http_proxy", "lower" }, "http://lower:3128", NULL },
                { {}, { "HTTPS_PROXY", "http://u:p@env" }, "http://u:p@env:3128", NULL },
                { { .proxy_hostname = "squid.corp", .proxy_port = 8080 },
                  { "HTTPS_PROXY", "http://env:3128" },
                  "http://squid.corp:8080",
                  NULL },
                /* Each part from the configuration, else from the environment. */
                { { .proxy_hostname = "squid.corp" },
                  { "HTTPS_PROXY", "http://env:9" },
                  "http://squid.corp:9",
                  NULL },
                { { .proxy_hostname = "squid.corp" }, {}, NULL, NULL },
                { { .proxy_port = 8080 }, { "HTTPS_PROXY", "http://env:9" }, "http://env:8080", NULL },
                { { .proxy_hostname = "fd00::1", .proxy_port = 3128 }, {}, "http://[fd00::1]:3128", NULL },
                { { .proxy_hostname = "p", .proxy_port = 1, .no_proxy = " *.example.com, .corp ,  *" },
                  { "NO_PROXY", "env.only" },
                  "http://p:1",
                  ".example.com,.corp,*" },
                { {},
                  { "HTTPS_PROXY", "http://e:1", "NO_PROXY", "a.b", "no_proxy", "c.d" },
                  "http://e:1",
                  "c.d" },
                { {}, { "HTTPS_PROXY", "http://e:1", "no_proxy", "c.d" }, "http://e:1", "c.d" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *p = NULL, *np = NULL;

                fake_env = cases[i].env;
                cr_assert_eq(proto_proxy_resolve(&cases[i].cfg, env_get, &p, &np), 0);
                cr_expect(streq_ptr(p, cases[i].want_proxy), "case %zu: proxy %s, want %s", i, strna(p),
                          strna(cases[i].want_proxy));
                cr_expect(streq_ptr(np, cases[i].want_no_proxy), "case %zu: no_proxy %s, want %s", i,
                          strna(np), strna(cases[i].want_no_proxy));
        }
}

/* ---- loop glue ---- */

typedef struct Done {
        sd_event *e;
        unsigned n, want;
        int curl_codes[8];
        int local_errors[8];
        char texts[8][256];
} Done;

static void on_done(ProtoHttp *h, const ProtoHttpResponse *r, void *userdata) {
        Done *d = userdata;

        d->curl_codes[d->n] = r->curl_code;
        d->local_errors[d->n] = r->local_error;
        (void) snprintf(d->texts[d->n], sizeof(d->texts[0]), "%s", r->error_text);
        if (++d->n == d->want)
                (void) sd_event_exit(d->e, 0);
}

static int on_deadline(sd_event_source *source, uint64_t usec, void *userdata) {
        /* sd_event_loop() then returns 1 and the test's assertion names it. */
        return sd_event_exit(userdata, 1);
}

/* A loopback port with nothing listening. */
static int dead_port(void) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t l = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        cr_assert_geq(fd, 0);
        cr_assert_eq(bind(fd, (struct sockaddr *) &a, sizeof(a)), 0);
        cr_assert_eq(getsockname(fd, (struct sockaddr *) &a, &l), 0);
        close(fd);
        return ntohs(a.sin_port);
}

Test(loop, three_refused_transfers_all_complete, .init = setup, .fini = teardown) {
        _cleanup_free_ char *url = NULL;
        EVP_PKEY *k = test_key_new();
        _cleanup_free_ char *ca = test_cert_pem(k, "ca", NULL, -1, 10, 1);
        sd_event *e = NULL;
        ProtoHttp *h = NULL;
        Done d = { .want = 3 };

        put("ca.pem", ca);
        cr_assert_eq(sd_event_new(&e), 0);
        d.e = e;
        cr_assert_eq(event_add_time_relative(e, NULL, CLOCK_MONOTONIC, 10 * 1000000, 1000, on_deadline, e),
                     0);
        ProtoServerConfig cfg = { .ca_dir = dir, .connect_timeout_usec = 3000000, .timeout_usec = 5000000 };
        cr_assert_eq(proto_http_new(e, &cfg, &h), 0);
        cr_expect_eq(strlen(proto_http_correlation_id(h)), 32);
        cr_assert_gt(asprintf(&url, "https://127.0.0.1:%d/candlepin/status", dead_port()), 0);
        for (int i = 0; i < 3; i++)
                cr_assert_eq(
                        proto_http_start(h, &(ProtoHttpRequest){ .method = "GET", .url = url }, on_done, &d),
                        0);
        cr_expect_eq(proto_http_pending(h), 3);
        cr_assert_eq(sd_event_loop(e), 0);
        cr_expect_eq(d.n, 3);
        for (int i = 0; i < 3; i++)
                cr_expect_eq(d.curl_codes[i], 7 /* CURLE_COULDNT_CONNECT */, "transfer %d: %d %s", i,
                             d.curl_codes[i], d.texts[i]);
        cr_expect_eq(proto_http_pending(h), 0);
        proto_http_free(h);
        sd_event_unref(e);
        EVP_PKEY_free(k);
}

Test(loop, missing_ca_dir_fails_through_the_callback, .init = setup, .fini = teardown) {
        _cleanup_free_ char *missing = NULL;
        sd_event *e = NULL;
        ProtoHttp *h = NULL;
        Done d = { .want = 1 };

        cr_assert_gt(asprintf(&missing, "%s/no-such-dir", dir), 0);
        cr_assert_eq(sd_event_new(&e), 0);
        d.e = e;
        cr_assert_eq(event_add_time_relative(e, NULL, CLOCK_MONOTONIC, 10 * 1000000, 1000, on_deadline, e),
                     0);
        cr_assert_eq(proto_http_new(e, &(ProtoServerConfig){ .ca_dir = missing }, &h), 0);
        cr_assert_eq(proto_http_start(h,
                                      &(ProtoHttpRequest){ .method = "GET", .url = "https://127.0.0.1:1/x" },
                                      on_done, &d),
                     0);
        cr_assert_eq(sd_event_loop(e), 0);
        cr_expect_eq(d.local_errors[0], -ENOENT);
        cr_expect_not_null(strstr(d.texts[0], "no-such-dir"), "%s", d.texts[0]);
        proto_http_free(h);
        sd_event_unref(e);
}

Test(loop, free_with_transfers_in_flight, .init = setup, .fini = teardown) {
        sd_event *e = NULL;
        ProtoHttp *h = NULL;
        Done d = { .want = 1 };

        cr_assert_eq(sd_event_new(&e), 0);
        cr_assert_eq(proto_http_new(e, &(ProtoServerConfig){ .insecure = true }, &h), 0);
        cr_assert_eq(proto_http_start(h,
                                      &(ProtoHttpRequest){ .method = "GET", .url = "https://127.0.0.1:1/x" },
                                      on_done, &d),
                     0);
        proto_http_free(h); /* no callback, no leak (valgrind/ASan) */
        cr_expect_eq(d.n, 0);
        sd_event_unref(e);
}

/* Issue 16: Retry-After clamps to its documented cap however large it is
 * (a value past 2^64 fell back to the 60 s default), dates included. */
Test(retry_after, clamps_to_the_cap) {
        static const struct {
                const char *v;
                int r;
                uint64_t sec;
        } t[] = {
                { "0", 0, 0 },
                { "120", 0, 120 },
                { "86400", 0, PROTO_RETRY_AFTER_MAX_SEC },
                { "86401", 0, PROTO_RETRY_AFTER_MAX_SEC },
                { "18446744073709551615", 0, PROTO_RETRY_AFTER_MAX_SEC },
                { "18446744073709551616", 0, PROTO_RETRY_AFTER_MAX_SEC },
                { "99999999999999999999999999999999999999999999", 0, PROTO_RETRY_AFTER_MAX_SEC },
                { "007", 0, 7 },
                { "", -EINVAL, 0 },
                { "-1", -EINVAL, 0 },
                { "+5", -EINVAL, 0 },
                { "1.5", -EINVAL, 0 },
                { "5 s", -EINVAL, 0 },
                { "soon", -EINVAL, 0 },
                { "Sun, 06 Nov 1994 08:49:37 GMT", 0, 0 }, /* in the past: now */
                { "Wed, 21 Oct 2015 07:28:00 GMT", 0, 60 }, /* now + 60 s, see below */
                { "Fri, 31 Dec 9999 23:59:59 GMT", 0, PROTO_RETRY_AFTER_MAX_SEC },
        };
        const time_t now = 1445412420; /* Wed, 21 Oct 2015 07:27:00 GMT */

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                uint64_t sec = 12345;
                int r = proto_retry_after_parse(t[i].v, now, &sec);

                cr_expect_eq(r, t[i].r, "\"%s\": %d", t[i].v, r);
                if (r == 0)
                        cr_expect_eq(sec, t[i].sec, "\"%s\": %" PRIu64 " s", t[i].v, sec);
        }
        cr_expect_eq(proto_retry_after_parse(NULL, now, &(uint64_t){ 0 }), -EINVAL);
}

/* ---- one canned answer over TLS from a thread of this test --------------- */
#include <openssl/ssl.h>
#include <pthread.h>

typedef struct Canned {
        SSL_CTX *ctx;
        int listen_fd;
        const char *answer;
} Canned;

static void *canned_serve(void *userdata) {
        Canned *c = userdata;
        int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        SSL *ssl;
        char req[4096];
        size_t got = 0;

        if (fd < 0)
                return NULL;
        ssl = SSL_new(c->ctx);
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) == 1) {
                /* Read the request head, then answer and close. */
                while (got < sizeof req - 1) {
                        int k = SSL_read(ssl, req + got, (int) (sizeof req - 1 - got));
                        if (k <= 0)
                                break;
                        got += (size_t) k;
                        req[got] = 0;
                        if (strstr(req, "\r\n\r\n"))
                                break;
                }
                (void) SSL_write(ssl, c->answer, (int) strlen(c->answer));
                (void) SSL_shutdown(ssl);
        }
        SSL_free(ssl);
        close(fd);
        return NULL;
}

typedef struct Got {
        sd_event *e;
        long status;
        bool too_large;
        size_t body_cap;
        char location[256];
        int curl_code;
} Got;

static void on_got(ProtoHttp *h, const ProtoHttpResponse *r, void *userdata) {
        Got *g = userdata;

        g->status = r->status;
        g->too_large = r->too_large;
        g->body_cap = r->body_cap;
        g->curl_code = r->curl_code;
        (void) snprintf(g->location, sizeof g->location, "%s", r->location ? r->location : "(none)");
        (void) sd_event_exit(g->e, 0);
}

/* Runs one GET against a server that answers `answer`; max_body 0 = default. */
static void fetch_canned(const char *answer, size_t max_body, Got *g) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t l = sizeof(a);
        EVP_PKEY *k = test_server_key_new();
        _cleanup_free_ char *cert = test_cert_pem(k, "127.0.0.1", NULL, -1, 10, 1), *url = NULL;
        BIO *b = BIO_new_mem_buf(cert, -1);
        X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
        Canned c = { .answer = answer };
        pthread_t thread;
        sd_event *e = NULL;
        ProtoHttp *h = NULL;

        c.ctx = SSL_CTX_new(TLS_server_method());
        cr_assert_not_null(c.ctx);
        cr_assert_eq(SSL_CTX_use_certificate(c.ctx, x), 1);
        cr_assert_eq(SSL_CTX_use_PrivateKey(c.ctx, k), 1);
        c.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cr_assert_geq(c.listen_fd, 0);
        cr_assert_eq(bind(c.listen_fd, (struct sockaddr *) &a, sizeof(a)), 0);
        cr_assert_eq(listen(c.listen_fd, 1), 0);
        cr_assert_eq(getsockname(c.listen_fd, (struct sockaddr *) &a, &l), 0);
        cr_assert_eq(pthread_create(&thread, NULL, canned_serve, &c), 0);

        cr_assert_eq(sd_event_new(&e), 0);
        g->e = e;
        cr_assert_eq(event_add_time_relative(e, NULL, CLOCK_MONOTONIC, 10 * 1000000, 1000, on_deadline, e),
                     0);
        /* insecure: the test's certificate names no host; TLS is still spoken. */
        cr_assert_eq(proto_http_new(e, &(ProtoServerConfig){ .insecure = true, .max_body = max_body }, &h),
                     0);
        cr_assert_gt(asprintf(&url, "https://127.0.0.1:%d/candlepin/status", ntohs(a.sin_port)), 0);
        cr_assert_eq(proto_http_start(h, &(ProtoHttpRequest){ .method = "GET", .url = url }, on_got, g), 0);
        cr_assert_eq(sd_event_loop(e), 0, "no answer in 10 s");
        proto_http_free(h);
        sd_event_unref(e);
        cr_assert_eq(pthread_join(thread, NULL), 0);
        close(c.listen_fd);
        SSL_CTX_free(c.ctx);
        X509_free(x);
        BIO_free(b);
        EVP_PKEY_free(k);
}

/* Issue 16: a 3xx is never followed, and its Location reaches the caller,
 * which puts it in the error ("redirected to ..."). */
Test(response, redirect_location_is_kept) {
        Got g = {};

        fetch_canned("HTTP/1.1 302 Found\r\nLocation: https://satellite.example.com/rhsm/status\r\n"
                     "Content-Length: 0\r\nConnection: close\r\n\r\n",
                     0, &g);
        cr_expect_eq(g.curl_code, 0);
        cr_expect_eq(g.status, 302);
        cr_expect_str_eq(g.location, "https://satellite.example.com/rhsm/status");
}

/* Issue 16: "response too large (more than 0 bytes)": the cap travels with
 * the response when curl refuses the body from its Content-Length. */
Test(response, too_large_says_the_cap) {
        Got g = {};

        fetch_canned("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n"
                     "Connection: close\r\n\r\n"
                     "[0000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
                     "000000000"
                     "00]",
                     16, &g);
        cr_expect(g.too_large);
        cr_expect_eq(g.body_cap, 16);
}

/* Issue 16: a timeout below a millisecond was 0 ms for curl, which means
 * "no timeout at all"; it is clamped to 1 ms. */
Test(response, tiny_timeout_is_not_no_timeout) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t l = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        _cleanup_free_ char *url = NULL;
        sd_event *e = NULL;
        ProtoHttp *h = NULL;
        Got g = {};

        /* Listens, never answers: only the transfer timeout can end it. */
        cr_assert_geq(fd, 0);
        cr_assert_eq(bind(fd, (struct sockaddr *) &a, sizeof(a)), 0);
        cr_assert_eq(listen(fd, 4), 0);
        cr_assert_eq(getsockname(fd, (struct sockaddr *) &a, &l), 0);
        cr_assert_eq(sd_event_new(&e), 0);
        g.e = e;
        cr_assert_eq(event_add_time_relative(e, NULL, CLOCK_MONOTONIC, 5 * 1000000, 1000, on_deadline, e),
                     0);
        cr_assert_eq(proto_http_new(e, &(ProtoServerConfig){ .insecure = true, .timeout_usec = 1 }, &h), 0);
        cr_assert_gt(asprintf(&url, "https://127.0.0.1:%d/x", ntohs(a.sin_port)), 0);
        cr_assert_eq(proto_http_start(h, &(ProtoHttpRequest){ .method = "GET", .url = url }, on_got, &g), 0);
        cr_expect_eq(sd_event_loop(e), 0, "a 1 us timeout never fired");
        cr_expect_eq(g.curl_code, 28 /* CURLE_OPERATION_TIMEDOUT */);
        proto_http_free(h);
        sd_event_unref(e);
        close(fd);
}
