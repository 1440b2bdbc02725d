/* SPDX-License-Identifier: GPL-2.0-or-later */
/* proto/http.c without a server: CA dir loading, proxy choice, and the loop
 * glue (several transfers failing together all complete, local failures
 * come back through the callback). Real TLS is in the integration test. */
#include <criterion/criterion.h>
#include <dirent.h>
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
