/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The configuration: strict parsing with file:line errors, drop-ins,
 * rhsm.conf fallback, command line precedence, validation, dump, sample. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/conf.h"
#include "util/buf.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/parse.h"

static Config c;
static ConfigErrors errs;

static void setup(void) {
        cr_assert_eq(config_init(&c), 0);
        errs = (ConfigErrors){};
}

static void teardown(void) {
        config_free(&c);
        config_errors_free(&errs);
        log_secret_clear();
}

TestSuite(conf, .init = setup, .fini = teardown);

static int parse(const char *text) {
        return config_parse_text(&c, "/etc/hvmap/hvmap.conf", text, strlen(text), &errs);
}

Test(conf, defaults) {
        cr_expect(c.read_only);
        cr_expect_eq(c.interval_usec, 3600 * USEC_PER_SEC);
        cr_expect_eq(c.debounce_usec, 0, "leading edge: an isolated change goes at once");
        cr_expect_eq(c.min_gap_usec, 5 * USEC_PER_SEC);
        cr_expect_eq(c.mode, REPORT_GUESTIDS);
        cr_expect_eq(c.hypervisor_id, HOST_ID_MODE_UUID);
        cr_expect(!c.report_inactive);
        cr_expect_null(c.uri);
        cr_expect_null(c.hostname, "no server is assumed");
        cr_expect_str_eq(c.prefix, "/subscription");
        cr_expect_eq(c.port, 443);
        cr_expect_eq(c.log_level, LOG_INFO);
}

Test(conf, good_file) {
        cr_assert_eq(parse("# comment\n"
                           "   # indented comment is a comment, not a continuation\n"
                           "; also a comment\n"
                           "[libvirt]\n"
                           "uri = qemu:///system\n"
                           "[report]\n"
                           "interval = 2h\n"
                           "debounce=250ms\r\n"
                           "mode = CheckIn\n"
                           "[host]\n"
                           "include_guests = vm-*, 6695eb01-*  web?\n"
                           "name = \"my host\"\n"
                           "[server]\n"
                           "url = https://sat.example.com/rhsm\n"
                           "insecure = no\n"),
                     0, "%s", errs.n ? errs.lines[0] : "");
        cr_expect_str_eq(c.uri, "qemu:///system");
        cr_expect_eq(c.interval_usec, 2 * USEC_PER_HOUR);
        cr_expect_eq(c.debounce_usec, 250 * USEC_PER_MSEC);
        cr_expect_eq(c.mode, REPORT_CHECKIN);
        cr_expect_str_eq(c.name, "my host");
        cr_assert_not_null(c.include_guests);
        cr_expect_str_eq(c.include_guests[0], "vm-*");
        cr_expect_str_eq(c.include_guests[1], "6695eb01-*");
        cr_expect_str_eq(c.include_guests[2], "web?");
        cr_expect_null(c.include_guests[3]);
}

/* Each bad line must produce exactly one error that names file:line and
 * says what is wrong; and the bad value must not replace the default. */
Test(conf, hostile_table) {
        static const struct {
                const char *text;
                const char *expect; /* substring of the one error */
        } t[] = {
                { "[report]\nintervall = 30\n",
                  "hvmap.conf:2: unknown key \"intervall\" in [report] (did you mean \"interval\"?)" },
                { "[report]\ninterval = 0\n", "hvmap.conf:2: interval = 0 is out of range (10s..30d)" },
                { "[report]\ninterval = 5\n", "hvmap.conf:2: interval = 5 is out of range" },
                { "[report]\ninterval = abc\n", "hvmap.conf:2: interval = \"abc\" is not a duration" },
                { "[report]\ninterval = -30\n", "is not a duration" },
                { "[report]\ninterval = 99999999999999999999999\n", "out of range" },
                { "[host]\nname = a\nname = b\n",
                  "hvmap.conf:3: duplicate key \"name\" in [host], first set at line 2" },
                { "interval = 30\n", "hvmap.conf:1: \"interval\" is outside any section" },
                { "[report\n", "hvmap.conf:1: malformed section header" },
                { "[reprot]\ninterval = 30\n",
                  "hvmap.conf:1: unknown section [reprot] (did you mean [report]?)" },
                { "[report]\njust some words\n", "hvmap.conf:2: expected \"key = value\"" },
                { "[libvirt]\nread_only = maybe\n", "hvmap.conf:2: read_only = \"maybe\" is not a boolean" },
                { "[report]\nmode = push\n", "mode = \"push\" is not one of: guestids, checkin" },
                { "[server]\nport = 70000\n", "port = 70000 is out of range (1..65535)" },
                { "[server]\nport = 44x\n", "port = \"44x\" is not a number" },
                { "[daemon]\nlog_level = loud\n", "log_level = \"loud\" is not a log level" },
                { "[report]\nuri = qemu:///system\n",
                  "unknown key \"uri\" in [report] (did you mean \"uri\" in [libvirt]?)" },
                { "[host]\nname = a\x01"
                  "b\n",
                  "hvmap.conf:2: name: value contains control characters" },
        };

        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
                Config x;
                ConfigErrors e = {};
                int r;

                cr_assert_eq(config_init(&x), 0);
                r = config_parse_text(&x, "/etc/hvmap/hvmap.conf", t[i].text, strlen(t[i].text), &e);
                cr_expect_eq(r, 1, "case %zu: %d errors for \"%s\"", i, r, t[i].text);
                cr_expect_eq(e.n, 1);
                if (e.n > 0)
                        cr_expect_not_null(strstr(e.lines[0], t[i].expect),
                                           "case %zu: got \"%s\", want \"%s\"", i, e.lines[0], t[i].expect);
                cr_expect_eq(x.interval_usec, 3600 * USEC_PER_SEC, "case %zu: bad value left the default",
                             i);
                cr_expect_eq(x.port, 443);
                config_free(&x);
                config_errors_free(&e);
        }
}

Test(conf, embedded_nul_is_an_error_with_line) {
        static const char text[] = "[report]\ninterval = 1h\0junk\n";

        cr_expect_eq(config_parse_text(&c, "f.conf", text, sizeof text - 1, &errs), 1);
        cr_assert_eq(errs.n, 1);
        cr_expect_str_eq(errs.lines[0], "f.conf:2: line contains a NUL byte; is this a text file?");
        cr_expect_eq(c.interval_usec, 3600 * USEC_PER_SEC);
}

Test(conf, errors_do_not_stop_the_rest) {
        cr_expect_eq(parse("[report]\nbogus = 1\ninterval = 2h\n[nope]\nx = 1\ny = 2\n[host]\nname = n\n"),
                     2, "one for the key, one for the section, none for keys inside the unknown section");
        cr_expect_eq(c.interval_usec, 2 * USEC_PER_HOUR);
        cr_expect_str_eq(c.name, "n");
}

static char dir[] = "/tmp/hvmap-conf-XXXXXX";

static void write_file(const char *rel, const char *text) {
        char path[512];

        snprintf(path, sizeof path, "%s/%s", dir, rel);
        cr_assert_eq(write_file_atomic(path, text, strlen(text), 0644), 0, "%s", path);
}

Test(conf, dropins_in_order_then_rhsm_then_command_line) {
        char confdir[512], rhsm[512];

        cr_assert_not_null(mkdtemp(dir));
        snprintf(confdir, sizeof confdir, "%s/etc", dir);
        cr_assert_eq(mkdir(confdir, 0755), 0);
        snprintf(rhsm, sizeof rhsm, "%s/rhsm.conf", dir);
        {
                char dropins[600];

                snprintf(dropins, sizeof dropins, "%s/hvmap.conf.d", confdir);
                cr_assert_eq(mkdir(dropins, 0755), 0);
        }
        write_file("etc/hvmap.conf", "[report]\ninterval = 1h\nmin_gap = 10s\n[server]\nport = 8443\n");
        write_file("etc/hvmap.conf.d/20-b.conf", "[report]\ninterval = 3h\n");
        write_file("etc/hvmap.conf.d/10-a.conf", "[report]\ninterval = 2h\n");
        write_file("etc/hvmap.conf.d/30-c.txt", "[report]\ninterval = bogus\n");
        write_file("etc/hvmap.conf.d/.hidden.conf", "[report]\ninterval = bogus\n");
        write_file("rhsm.conf",
                   "[server]\nhostname = sat.example.com\nport = 443\nprefix = /rhsm\n"
                   "insecure = 0\nproxy_hostname =\nproxy_password = pr0xy-s3cret\n"
                   "[rhsm]\nca_cert_dir = /etc/rhsm/ca/\nconsumerCertDir: %(ca_cert_dir)sconsumer\n");

        cr_assert_eq(config_load(&c, confdir, rhsm, &errs), 0, "%s", errs.n ? errs.lines[0] : "");
        cr_expect_eq(c.interval_usec, 3 * USEC_PER_HOUR,
                     "later drop-in wins; .txt and hidden files ignored");
        cr_expect_eq(c.min_gap_usec, 10 * USEC_PER_SEC);
        cr_expect_eq(c.port, 8443, "hvmap.conf beats rhsm.conf");
        cr_expect_str_eq(c.hostname, "sat.example.com");
        cr_expect_str_eq(c.prefix, "/rhsm");
        cr_expect_str_eq(c.ca_dir, "/etc/rhsm/ca/");
        cr_expect_str_eq(c.rhsm_identity_dir, "/etc/rhsm/ca/consumer", "%%(name)s interpolation");
        cr_expect_null(c.proxy_hostname, "empty in rhsm.conf means unset");
        cr_expect_str_eq(c.proxy_password, "pr0xy-s3cret");

        cr_expect_eq(config_set(&c, "report", "interval", "30s", &errs), 0);
        cr_expect_eq(c.interval_usec, 30 * USEC_PER_SEC);
        cr_expect_eq(config_set(&c, "report", "interval", "0", &errs), -ERANGE);
        cr_expect_eq(c.interval_usec, 30 * USEC_PER_SEC);
        cr_expect_eq(config_set(&c, "report", "intervall", "1", &errs), -ENOENT);

        {
                char *out = NULL;
                size_t len = 0;
                FILE *f = open_memstream(&out, &len);
                char expect[600];

                config_dump(&c, f);
                fclose(f);
                cr_expect_null(strstr(out, "pr0xy-s3cret"), "secrets masked");
                cr_expect_not_null(strstr(out, "password = ********"));
                snprintf(expect, sizeof expect, "%s/hvmap.conf.d/20-b.conf", confdir);
                cr_expect_null(strstr(out, "interval = 3h"), "command line value shown, not the file's");
                cr_expect_not_null(strstr(out, "interval = 30s"));
                cr_expect_not_null(strstr(out, "# command line"));
                snprintf(expect, sizeof expect, "port = 8443");
                cr_expect_not_null(strstr(out, expect));
                snprintf(expect, sizeof expect, "prefix = /rhsm");
                cr_expect_not_null(strstr(out, expect));
                snprintf(expect, sizeof expect, "%s:4", rhsm);
                cr_expect_not_null(strstr(out, expect), "prefix comes from rhsm.conf line 4:\n%s", out);
                cr_expect_not_null(strstr(out, "# read "));
                free(out);
        }
        {
                char *url = config_server_url(&c);
                cr_expect_str_eq(url, "https://sat.example.com:8443/rhsm");
                free(url);
        }
}

Test(conf, validate_needs_a_server_and_a_ca_dir) {
        char ca[600];

        cr_expect_eq(config_validate(&c, false, &errs), 0, "print needs no server");
        cr_expect_geq(config_validate(&c, true, &errs), 1);
        cr_assert_geq(errs.n, 1);
        cr_expect_not_null(strstr(errs.lines[0], "no server configured"));
        config_errors_free(&errs);

        cr_assert_not_null(mkdtemp(dir));
        snprintf(ca, sizeof ca, "%s/ca", dir);
        cr_assert_eq(mkdir(ca, 0755), 0);
        cr_assert_eq(parse("[server]\nurl = https://cp.example.com:8443/candlepin/\n"), 0);
        cr_assert_eq(config_set(&c, "server", "ca_dir", ca, &errs), 0);
        cr_expect_eq(config_validate(&c, true, &errs), 1, "empty CA dir");
        cr_expect_not_null(strstr(errs.lines[0], "holds no *.pem file"), "%s", errs.lines[0]);
        config_errors_free(&errs);

        write_file("ca/server-ca.pem", "-----BEGIN CERTIFICATE-----\n");
        cr_expect_eq(config_validate(&c, true, &errs), 0, "%s", errs.n ? errs.lines[0] : "");
        {
                char *url = config_server_url(&c);
                cr_expect_str_eq(url, "https://cp.example.com:8443/candlepin");
                free(url);
        }

        cr_assert_eq(config_set(&c, "server", "ca_dir", "/nonexistent/ca", &errs), 0);
        cr_expect_eq(config_validate(&c, true, &errs), 1);
        cr_expect_not_null(
                strstr(errs.lines[0], "command line: CA directory \"/nonexistent/ca\" cannot be read"), "%s",
                errs.lines[0]);
}

Test(conf, validate_urls) {
        static const struct {
                const char *url;
                bool ok;
        } t[] = {
                { "https://h/candlepin", true },
                { "https://h:8443/candlepin", true },
                { "https://[::1]:8443/candlepin", true },
                { "https://h", true },
                { "http://h/candlepin", false },
                { "ftp://h/x", false },
                { "https://", false },
                { "https://h:0/x", false },
                { "https://h:99999/x", false },
                { "https://h:abc/x", false },
                { "https://h x/y", false },
                { "https://[]/x", false },
        };
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
                Config x;
                ConfigErrors e = {};

                cr_assert_eq(config_init(&x), 0);
                cr_assert_eq(config_set(&x, "server", "url", t[i].url, &e), 0);
                cr_assert_eq(config_set(&x, "server", "insecure", "yes", &e), 0); /* skip the CA check */
                /* insecure allows http://, so test http separately below */
                if (strncmp(t[i].url, "http://", 7) == 0)
                        cr_assert_eq(config_set(&x, "server", "insecure", "no", &e), 0);
                if (strncmp(t[i].url, "http://", 7) == 0)
                        cr_assert_eq(config_set(&x, "server", "ca_dir", "/", &e), 0);
                config_validate(&x, true, &e);
                if (t[i].ok)
                        cr_expect_eq(e.n, 0, "%s: %s", t[i].url, e.n ? e.lines[0] : "");
                else {
                        bool named = false;

                        for (size_t j = 0; j < e.n; j++)
                                named = named || strstr(e.lines[j], "is not a valid https://") != NULL;
                        cr_expect(named, "%s accepted", t[i].url);
                }
                config_free(&x);
                config_errors_free(&e);
        }
}

Test(conf, splay_must_not_exceed_interval) {
        cr_assert_eq(parse("[report]\ninterval = 1min\nsplay = 2min\n"), 0);
        cr_expect_eq(config_validate(&c, false, &errs), 1);
        cr_expect_not_null(strstr(errs.lines[0], "hvmap.conf:3: splay must not exceed interval"), "%s",
                           errs.lines[0]);
}

Test(conf, secrets_never_print) {
        cr_assert_eq(parse("[proxy]\npassword = hunter2-proxy\n"), 0);
        cr_expect_str_eq(c.proxy_password, "hunter2-proxy");
        cr_redirect_stderr();
        log_set_target(LOG_TARGET_STDERR);
        log_error("proxy said: hunter2-proxy rejected");
        fflush(stderr);
        cr_expect_stderr_eq_str("error: proxy said: ******** rejected\n");
}

Test(conf, sample_lists_every_key_with_its_default) {
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        Config from_sample;
        ConfigErrors e = {};
        Buf uncommented = BUF_INIT(1 << 20);

        config_write_sample(f);
        fclose(f);
        for (size_t i = 0; i < config_keys_count; i++) {
                char line[256];

                snprintf(line, sizeof line, "\n#%s = %s\n", config_keys[i].key,
                         config_keys[i].default_value ? config_keys[i].default_value : "");
                cr_expect_not_null(strstr(out, line), "sample lacks %s", line);
        }
        free(out);
        /* Every default, written out as a user would, must parse cleanly. */
        cr_assert_eq(config_init(&from_sample), 0);
        for (size_t i = 0; i < config_keys_count; i++) {
                if (i == 0 || strcmp(config_keys[i].section, config_keys[i - 1].section) != 0)
                        buf_printf(&uncommented, "[%s]\n", config_keys[i].section);
                if (config_keys[i].default_value)
                        buf_printf(&uncommented, "%s = %s\n", config_keys[i].key,
                                   config_keys[i].default_value);
        }
        cr_expect_eq(config_parse_text(&from_sample, "sample", uncommented.data, uncommented.len, &e), 0,
                     "%s", e.n ? e.lines[0] : "");
        config_free(&from_sample);
        config_errors_free(&e);
        buf_free(&uncommented);
}

/* Issue 16: an error never shows what may be a secret: a line without "="
 * (rhsm.conf's "password: x" habit) or a malformed section header. */
Test(conf, errors_never_echo_a_value) {
        static const char *const texts[] = {
                "[proxy]\npassword: S3cret-1\n",
                "[proxy]\nS3cret-1\n",
                "[S3cret-1\n",
                "[proxy] S3cret-1\n",
        };

        for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
                Config x;
                ConfigErrors e = {};

                cr_assert_eq(config_init(&x), 0);
                cr_expect_eq(config_parse_text(&x, "hvmap.conf", texts[i], strlen(texts[i]), &e), 1,
                             "case %zu", i);
                cr_assert_eq(e.n, 1);
                cr_expect_null(strstr(e.lines[0], "S3cret"), "case %zu: %s", i, e.lines[0]);
                config_free(&x);
                config_errors_free(&e);
        }
        /* A known key written the rhsm.conf way gets the fix, without its value. */
        cr_expect_eq(parse("[proxy]\npassword: S3cret-1\n"), 1);
        cr_expect_not_null(strstr(errs.lines[0], "hvmap.conf:2: expected \"key = value\""), "%s",
                           errs.lines[0]);
        cr_expect_not_null(strstr(errs.lines[0], "write \"password = ...\""), "%s", errs.lines[0]);
}

/* What `run` refuses, config_validate() refuses (so `config --check` does). */
Test(conf, validate_refuses_what_run_refuses) {
        static const struct {
                const char *text;
                const char *expect;
        } t[] = {
                { "[server]\nurl = http://cp.example.com/candlepin\ninsecure = yes\n",
                  "hvmap.conf:2: url = \"http://cp.example.com/candlepin\" is not a valid "
                  "https://HOST[:PORT]/PREFIX URL "
                  "(hvmap speaks only https" },
                { "[server]\nurl = https://h/c\ninsecure = yes\n[host]\nname = #bad\n",
                  "hvmap.conf:5: name = \"#bad\" starts with '#'" },
                { "[server]\nurl = https://h/c\ninsecure = yes\n[host]\nname = \xff\xfe\n",
                  "hvmap.conf:5: name is not valid UTF-8" },
                { "[server]\nurl = https://h/c\ninsecure = yes\n[host]\nhypervisor_id_override = \xc3\n",
                  "hvmap.conf:5: hypervisor_id_override is not valid UTF-8" },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                Config x;
                ConfigErrors e = {};

                cr_assert_eq(config_init(&x), 0);
                cr_assert_eq(config_parse_text(&x, "hvmap.conf", t[i].text, strlen(t[i].text), &e), 0,
                             "case %zu: %s", i, e.n ? e.lines[0] : "");
                cr_expect_eq(config_validate(&x, true, &e), 1, "case %zu", i);
                /* print needs no server, but a name the server would refuse is no mapping. */
                cr_expect_eq(config_validate(&x, false, &e), i == 0 ? 0 : 1, "case %zu (print)", i);
                if (e.n > 0)
                        cr_expect_not_null(strstr(e.lines[0], t[i].expect),
                                           "case %zu: got \"%s\", want \"%s\"", i, e.lines[0], t[i].expect);
                config_free(&x);
                config_errors_free(&e);
        }
        {
                _cleanup_free_ char *text = NULL;
                Config x;
                ConfigErrors e = {};

                cr_assert_gt(asprintf(&text, "[host]\nname = %0251d\n", 7), 0);
                cr_assert_eq(config_init(&x), 0);
                cr_assert_eq(config_parse_text(&x, "hvmap.conf", text, strlen(text), &e), 0);
                cr_expect_eq(config_validate(&x, false, &e), 1);
                if (e.n > 0)
                        cr_expect_not_null(strstr(e.lines[0],
                                                  "hvmap.conf:2: name is 251 bytes long, the server "
                                                  "accepts at most 250"),
                                           "%s", e.lines[0]);
                config_free(&x);
                config_errors_free(&e);
        }
}

/* Everything a Criterion redirect captured, as a string the caller frees. */
static char *captured(FILE *f) {
        char *text = NULL;
        size_t n = 0;
        FILE *m = open_memstream(&text, &n);
        char buf[4096];
        size_t k;

        cr_assert_not_null(m);
        fflush(stderr);
        while ((k = fread(buf, 1, sizeof buf, f)) > 0)
                fwrite(buf, 1, k, m);
        fclose(m);
        return text;
}

static void rm_dropins(const char *d) {
        DIR *dd = opendir(d);
        struct dirent *de;

        if (dd) {
                while ((de = readdir(dd)))
                        (void) unlinkat(dirfd(dd), de->d_name, 0);
                closedir(dd);
        }
        (void) rmdir(d);
}

/* Drop-ins past the 256th are an error, not silently ignored; a dangling
 * symlink among them is named (a warning), not skipped silently. */
Test(conf, dropin_limit_and_dangling_symlinks, .init = cr_redirect_stderr) {
        _cleanup_free_ char *d = NULL, *link = NULL, *out = NULL;

        log_set_target(LOG_TARGET_STDERR);
        cr_assert_not_null(mkdtemp(dir));
        cr_assert_gt(asprintf(&d, "%s/hvmap.conf.d", dir), 0);
        cr_assert_eq(mkdir(d, 0755), 0);
        cr_assert_gt(asprintf(&link, "%s/10-gone.conf", d), 0);
        cr_assert_eq(symlink("/nonexistent/hvmap-dropin.conf", link), 0);
        cr_expect_eq(config_load(&c, dir, "", &errs), 0, "%s", errs.n ? errs.lines[0] : "");
        cr_expect_null(c.files_read);
        out = captured(cr_get_redirected_stderr());
        cr_expect_not_null(strstr(out, link), "the dangling link was not named: \"%s\"", out);
        cr_expect_not_null(strstr(out, "/nonexistent/hvmap-dropin.conf"), "%s", out);
        for (int i = 0; i < 257; i++) {
                _cleanup_free_ char *rel = NULL;

                cr_assert_gt(asprintf(&rel, "hvmap.conf.d/%03d.conf", i), 0);
                write_file(rel, "");
        }
        config_free(&c);
        cr_assert_eq(config_init(&c), 0);
        config_errors_free(&errs);
        cr_expect_eq(config_load(&c, dir, "", &errs), 1);
        cr_assert_eq(errs.n, 1);
        cr_expect_not_null(strstr(errs.lines[0], "more than 256"), "%s", errs.lines[0]);
        cr_expect_not_null(strstr(errs.lines[0], d), "%s", errs.lines[0]);
        rm_dropins(d);
        (void) rmdir(dir);
}
