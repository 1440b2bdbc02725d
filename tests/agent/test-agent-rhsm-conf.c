/* SPDX-License-Identifier: GPL-2.0-or-later */
/* rhsm.conf read as subscription-manager reads it (iniparse + python-rhsm):
 * the reader's table of hostile and real-world input, and how the values
 * become hvmap's configuration (insecure, clamping, proxy). The whole-file
 * comparison with Python is tests/agent/test_rhsm_conf_differential.py. */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "agent/conf.h"
#include "agent/rhsm-conf.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/parse.h"

static Config c;
static char **warnings;

static void setup(void) {
        cr_assert_eq(config_init(&c), 0);
        warnings = NULL;
}

static void teardown(void) {
        config_free(&c);
        warnings = strv_free(warnings);
        log_secret_clear();
}

TestSuite(rhsm, .init = setup, .fini = teardown);

static size_t n_warnings(void) {
        size_t n = 0;

        while (warnings && warnings[n])
                n++;
        return n;
}

static bool warned(const char *needle) {
        for (size_t i = 0; i < n_warnings(); i++)
                if (strstr(warnings[i], needle))
                        return true;
        return false;
}

static void apply(const char *text) {
        warnings = strv_free(warnings);
        cr_assert_eq(rhsm_conf_apply(&c, "/etc/rhsm/rhsm.conf", text, strlen(text), &warnings), 0);
}

Test(rhsm, reader_table) {
        /* want: the value, or NULL with want_r 0 (unknown) / -EINVAL (python-rhsm raises) */
        static const struct {
                const char *text, *section, *key, *want;
                int want_r;
                RhsmSource want_source;
        } cases[] = {
                { "[server]\nhostname = a.example.com\n", "server", "hostname", "a.example.com", 1 },
                { "[server]\nHostName: a\n", "server", "hostname", "a", 1 },
                { "[server]\nhostname = a\n", "server", "port", "443", 1, RHSM_SOURCE_BUILTIN },
                { "[server]\nhostname = a\n", "server", "nope", NULL, 0 },
                { "[rhsm]\nx = 1\n", "server", "hostname", "subscription.rhsm.redhat.com", 1,
                  RHSM_SOURCE_BUILTIN },
                /* a BOM does not hide [server] */
                { "\xef\xbb\xbf[server]\nhostname = bom\n", "server", "hostname", "bom", 1 },
                /* [DEFAULT] applies to the file's sections, not to missing ones */
                { "[DEFAULT]\nhostname = d\n[server]\nport = 1\n", "server", "hostname", "d", 1 },
                { "[DEFAULT]\nca_cert_dir = /d/\n[server]\n", "rhsm", "ca_cert_dir", "/etc/rhsm/ca/", 1,
                  RHSM_SOURCE_BUILTIN },
                { "[default]\nhostname = d\n[server]\nport = 1\n", "server", "hostname",
                  "subscription.rhsm.redhat.com", 1, RHSM_SOURCE_BUILTIN },
                /* %% and %(name)s */
                { "[server]\nhostname = 50%%\n", "server", "hostname", "50%", 1 },
                { "[server]\nhostname = 50%\n", "server", "hostname", NULL, -EINVAL },
                { "[server]\nhostname = %x\n", "server", "hostname", NULL, -EINVAL },
                { "[server]\nH = h\nhostname = %(H)s.example\n", "server", "hostname", "h.example", 1 },
                { "[DEFAULT]\nd = x\n[server]\nhostname = %(d)s\n", "server", "hostname", "x", 1 },
                { "[server]\na = %(b)s\nb = %(c)s\nc = x%%\nhostname = %(a)s\n", "server", "hostname", "x%",
                  1 },
                { "[server]\nhostname = %(hostname)s\n", "server", "hostname", NULL, -EINVAL },
                { "[rhsm]\nca_cert_dir = /c/\n[server]\nhostname = %(ca_cert_dir)s\n", "server", "hostname",
                  NULL, -EINVAL },
                /* python-rhsm's recovery bakes in its own defaults */
                { "[server]\nhostname = h%(port)s\n", "server", "hostname", "h443", 1 },
                { "[rhsm]\nconsumerCertDir = %(ca_cert_dir)sc\n", "rhsm", "consumercertdir",
                  "/etc/rhsm/ca/c", 1 },
                { "[server]\nhostname = %(nothere)s\n", "server", "hostname", NULL, -EINVAL },
                /* ... but a value with a lone % it would store is refused */
                { "[server]\na = 5%%%%\nhostname = %(a)s%(port)s\n", "server", "hostname", NULL, -EINVAL },
                /* continuation lines, inline comments, comment lines */
                { "[server]\nhostname = a\n  b\n\n\tc\nport=1\n", "server", "hostname", "a\nb\nc", 1 },
                { "[server]\nhostname = a\n  # c\n  b\n", "server", "hostname", "a\n# c\nb", 1 },
                { "[server]\nhostname = a\n# c\n  b\n", "server", "hostname", "a\nb", 1 },
                { "[server]\nhostname = a.example.com ; c\n", "server", "hostname", "a.example.com", 1 },
                { "[server]\nhostname = a\t;c\n", "server", "hostname", "a", 1 },
                { "[server]\nhostname = a;b ;c\n", "server", "hostname", "a;b ;c", 1 },
                { "[server]\nhostname = a # c\n", "server", "hostname", "a # c", 1 },
                { "[server]\nhostname = \"q\"\n", "server", "hostname", "\"q\"", 1 },
                { "[server]\nremote = x\nhostname = h\n", "server", "remote", NULL, 0 },
                /* the last one wins; repeated sections merge */
                { "[server]\nhostname = a\nhostname = b\n", "server", "hostname", "b", 1 },
                { "[server]\nhostname = a\n[rhsm]\n[server]\nport = 2\n", "server", "hostname", "a", 1 },
                /* sections are case-sensitive and not trimmed */
                { "[Server]\nhostname = a\n", "server", "hostname", "subscription.rhsm.redhat.com", 1,
                  RHSM_SOURCE_BUILTIN },
                { "[ server ]\nhostname = a\n", "server", "hostname", "subscription.rhsm.redhat.com", 1,
                  RHSM_SOURCE_BUILTIN },
                /* \r\n and a lone \r end lines; Unicode spaces are spaces */
                { "[server]\r\nhostname = a\r\n", "server", "hostname", "a", 1 },
                { "[server]\rhostname = a\rport = 1\r", "server", "hostname", "a", 1 },
                { "[server]\nhostname =\xc2\xa0h\xe3\x80\x80\n", "server", "hostname", "h", 1 },
                { "[server]\nhostname =\n", "server", "hostname", "", 1 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(rhsm_conf_freep) RhsmConf *rc = NULL;
                _cleanup_free_ char *v = NULL;
                RhsmSource src = RHSM_SOURCE_FILE;
                unsigned line = 0;
                size_t n = 0;
                int r;

                cr_assert_eq(rhsm_conf_parse(cases[i].text, strlen(cases[i].text), &rc, &line), 0,
                             "case %zu: parse error at line %u", i, line);
                r = rhsm_conf_get(rc, cases[i].section, cases[i].key, &v, &n, &src, &line);
                cr_expect_eq(r, cases[i].want_r, "case %zu: r=%d want %d (value %s)", i, r, cases[i].want_r,
                             strna(v));
                cr_expect(streq_ptr(v, cases[i].want), "case %zu: \"%s\", want \"%s\"", i, strna(v),
                          strna(cases[i].want));
                if (r > 0)
                        cr_expect_eq(src, cases[i].want_source, "case %zu: source", i);
        }
}

Test(rhsm, unparsable_files) {
        static const struct {
                const char *text;
                unsigned line;
        } cases[] = {
                { "hostname = a\n[server]\n", 1 }, /* MissingSectionHeaderError */
                { "  [server]\nhostname = a\n", 1 }, /* not a section when indented */
                { "[server]\nhostname = a\nport\n", 3 },
                { "[server]\nhostname = a\n[x] y\nport\n", 3 },
                { "[server]\n  b\n", 2 }, /* a continuation of nothing */
                { "[server]\n[]\n", 2 },
                { "[server]\nhostname = \xff\n", 0 }, /* not UTF-8 */
                { "[server]\nhostname = \xed\xa0\x80\n", 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(rhsm_conf_freep) RhsmConf *rc = NULL;
                unsigned line = 99;

                cr_expect_eq(rhsm_conf_parse(cases[i].text, strlen(cases[i].text), &rc, &line), -EBADMSG,
                             "case %zu", i);
                cr_expect_eq(line, cases[i].line, "case %zu: line %u", i, line);
        }
        apply("[server]\nhostname = a\nport\n");
        cr_expect_null(c.hostname, "subscription-manager cannot read the file: hvmap ignores it");
        cr_expect(warned("/etc/rhsm/rhsm.conf:3: subscription-manager cannot parse this line"), "%s",
                  n_warnings() ? warnings[0] : "");
}

Test(rhsm, python_int) {
        static const struct {
                const char *s;
                int r;
                long long v;
        } cases[] = {
                { "0", 0, 0 },        { "1", 0, 1 },          { " 2 ", 0, 2 },
                { "-1", 0, -1 },      { "+7", 0, 7 },         { "007", 0, 7 },
                { "1_000", 0, 1000 }, { "True", -EINVAL, 0 }, { "yes", -EINVAL },
                { "", -EINVAL },      { "1__0", -EINVAL },    { "_1", -EINVAL },
                { "1_", -EINVAL },    { "0x1", -EINVAL },     { "1.0", -EINVAL },
                { "- 1", -EINVAL },   { "\t3\n", 0, 3 },      { "99999999999999999999", 0, LLONG_MAX },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                long long v = -42;

                cr_expect_eq(rhsm_python_int(cases[i].s, &v), cases[i].r, "case %zu (%s)", i, cases[i].s);
                if (cases[i].r == 0)
                        cr_expect_eq(v, cases[i].v, "case %zu (%s): %lld", i, cases[i].s, v);
        }
}

Test(rhsm, insecure_true_keeps_verification_on) {
        static const struct {
                const char *value;
                bool want, warns;
        } cases[] = {
                { "True", false, true }, { "yes", false, true }, { "on", false, true },
                { "0", false, false },   { "1", true, false },   { "-1", true, false },
                { " 2 ", true, false },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char text[64];

                config_free(&c);
                cr_assert_eq(config_init(&c), 0);
                (void) snprintf(text, sizeof text, "[server]\ninsecure = %s\n", cases[i].value);
                apply(text);
                cr_expect_eq(c.insecure, cases[i].want, "insecure = %s", cases[i].value);
                cr_expect_eq(warned("keeps verifying the server's certificate"), cases[i].warns,
                             "insecure = %s", cases[i].value);
        }
}

Test(rhsm, values_hvmap_would_refuse_are_clamped_or_ignored) {
        apply("[server]\nhostname = h\nport = eighty\nserver_timeout = 1800\n");
        cr_expect_str_eq(c.hostname, "h");
        cr_expect_eq(c.port, 443, "a port that is no number keeps the default");
        cr_expect(warned("/etc/rhsm/rhsm.conf:3: [server] port = \"eighty\" is not a number"), "%s",
                  n_warnings() ? warnings[0] : "");
        cr_expect_eq(c.timeout_usec, 15 * USEC_PER_MINUTE, "1800 s is clamped to hvmap's maximum");
        cr_expect(warned("rhsm.conf:4: [server] server_timeout = 1800 is outside"));

        config_free(&c);
        cr_assert_eq(config_init(&c), 0);
        apply("[server]\nserver_timeout = 0\nport = 70000\n");
        cr_expect_eq(c.timeout_usec, USEC_PER_SEC);
        cr_expect_eq(c.port, 443);
        cr_expect_eq(n_warnings(), 2);

        config_free(&c);
        cr_assert_eq(config_init(&c), 0);
        apply("[server]\nserver_timeout = 120\nhostname = a\n  b\nprefix = %(nope)s\n");
        cr_expect_eq(c.timeout_usec, 120 * USEC_PER_SEC);
        cr_expect_null(c.hostname, "a value over two lines is no host name");
        cr_expect(warned("rhsm.conf:3: [server] hostname: the value contains control characters"));
        cr_expect(warned("[server] prefix: subscription-manager cannot read this value"));
        cr_expect_str_eq(c.prefix, "/subscription");
}

Test(rhsm, proxy_host_without_port_is_no_proxy) {
        apply("[server]\nproxy_hostname = squid.corp\n");
        cr_expect_str_eq(c.proxy_hostname, "squid.corp");
        cr_expect_eq(c.proxy_port, 0, "no port: the environment's, else no proxy");
        cr_expect(warned("rhsm.conf:2: [server] proxy_hostname is set but proxy_port is not"));

        config_free(&c);
        cr_assert_eq(config_init(&c), 0);
        apply("[server]\nproxy_hostname = squid.corp\nproxy_port = 8080\nproxy_user = u\n");
        cr_expect_eq(c.proxy_port, 8080);
        cr_expect_str_eq(c.proxy_user, "u");
        cr_expect_eq(n_warnings(), 0);

        /* hvmap.conf's [proxy] port wins over both */
        config_free(&c);
        cr_assert_eq(config_init(&c), 0);
        {
                ConfigErrors e = {};
                const char *h = "[proxy]\nport = 3130\n";

                cr_assert_eq(config_parse_text(&c, "/etc/hvmap/hvmap.conf", h, strlen(h), &e), 0);
                config_errors_free(&e);
        }
        apply("[server]\nproxy_hostname = squid.corp\n");
        cr_expect_eq(c.proxy_port, 3130);
}

Test(rhsm, real_world_samples) {
        /* katello-ca-consumer's rhsm.conf edits, as on a Satellite client */
        apply("[server]\nhostname = satellite.example.com\nprefix = /rhsm\nport = 443\ninsecure = 0\n"
              "[rhsm]\nbaseurl = https://satellite.example.com/pulp/content/\nca_cert_dir = /etc/rhsm/ca/\n"
              "repo_ca_cert = %(ca_cert_dir)skatello-server-ca.pem\n");
        cr_expect_str_eq(c.hostname, "satellite.example.com");
        cr_expect_str_eq(c.prefix, "/rhsm");
        cr_expect_not(c.insecure);
        cr_expect_str_eq(c.ca_dir, "/etc/rhsm/ca/");
        cr_expect_eq(n_warnings(), 0, "%s", n_warnings() ? warnings[0] : "");
}
