/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Logging: levels, errno returns, secret redaction, log-line injection. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>

#include "util/log.h"

static void setup(void) {
        log_set_target(LOG_TARGET_STDERR);
        log_set_timestamps(false);
        log_set_max_level(LOG_INFO);
        log_secret_clear();
        cr_redirect_stderr();
}

static void teardown(void) {
        log_secret_clear();
}

TestSuite(log, .init = setup, .fini = teardown);

Test(log, levels_filter_and_prefix) {
        log_debug("not shown %d", 1);
        log_info("shown %d", 2);
        log_warning("careful");
        log_error("broken");
        fflush(stderr);
        cr_assert_stderr_eq_str("shown 2\nwarning: careful\nerror: broken\n");
}

Test(log, errno_return_and_percent_m) {
        int r;

        r = log_error_errno(ENOENT, "cannot open /x: %m");
        cr_expect_eq(r, -ENOENT);
        r = log_error_errno(-EACCES, "cannot read /y: %m");
        cr_expect_eq(r, -EACCES);
        /* Filtered messages still return the error. */
        r = log_debug_errno(EIO, "hidden");
        cr_expect_eq(r, -EIO);
        fflush(stderr);
        cr_assert_stderr_eq_str("error: cannot open /x: No such file or directory\n"
                                "error: cannot read /y: Permission denied\n");
}

Test(log, errno_preserved) {
        errno = EBUSY;
        log_info("x");
        cr_expect_eq(errno, EBUSY);
}

Test(log, secrets_are_redacted_everywhere) {
        cr_assert_eq(log_secret_register("s3cr3t-p4ss"), 0);
        cr_assert_eq(log_secret_register("ak-123"), 0);
        log_info("password=s3cr3t-p4ss key=ak-123 again s3cr3t-p4ss");
        log_info("https://user:s3cr3t-p4ss@proxy:3128/");
        log_secret_unregister("ak-123");
        log_info("after unregister ak-123");
        fflush(stderr);
        cr_assert_stderr_eq_str("password=******** key=******** again ********\n"
                                "https://user:********@proxy:3128/\n"
                                "after unregister ak-123\n");
}

Test(log, scrub_handles_tight_buffers) {
        char buf[16];

        cr_assert_eq(log_secret_register("abcdef"), 0);
        /* Growing replacement must not overflow or leave a prefix of the secret. */
        memcpy(buf, "xxxxxxxxxabcdef", 16); /* 15 chars + NUL: exactly full */
        log_scrub(buf, sizeof buf);
        cr_expect_null(strstr(buf, "abc"), "got \"%s\"", buf);
        cr_expect_lt(strlen(buf), sizeof buf);

        snprintf(buf, sizeof buf, "%s", "abcdef");
        log_scrub(buf, sizeof buf);
        cr_expect_str_eq(buf, "********");
}

Test(log, secret_table_is_bounded) {
        char s[32];
        int r = 0;

        for (int i = 0; i < 100 && r == 0; i++) {
                snprintf(s, sizeof s, "secret-%d", i);
                r = log_secret_register(s);
        }
        cr_expect_eq(r, -ENOSPC);
        /* Registering the same secret twice takes no slot. */
        cr_expect_eq(log_secret_register("secret-0"), 0);
        cr_expect_eq(log_secret_register(""), 0);
        cr_expect_eq(log_secret_register(NULL), 0);
}

Test(log, control_characters_cannot_forge_lines) {
        log_info("server said: %s", "ok\nerror: forged line\r\x1b[31m");
        fflush(stderr);
        cr_assert_stderr_eq_str("server said: ok error: forged line  [31m\n");
}

Test(log, long_messages_are_cut_not_overflowed) {
        char big[10000];

        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        log_info("%s", big);
        /* No crash, and the line is bounded: ASan/valgrind runs check the rest. */
}

Test(log, level_names) {
        cr_expect_eq(log_level_from_string("debug"), LOG_DEBUG);
        cr_expect_eq(log_level_from_string("INFO"), LOG_INFO);
        cr_expect_eq(log_level_from_string("warning"), LOG_WARNING);
        cr_expect_eq(log_level_from_string("warn"), LOG_WARNING);
        cr_expect_eq(log_level_from_string("error"), LOG_ERR);
        cr_expect_eq(log_level_from_string("err"), LOG_ERR);
        cr_expect_eq(log_level_from_string("7"), LOG_DEBUG);
        cr_expect_eq(log_level_from_string("8"), -EINVAL);
        cr_expect_eq(log_level_from_string("verbose"), -EINVAL);
        cr_expect_eq(log_level_from_string(""), -EINVAL);
        cr_expect_eq(log_level_from_string(NULL), -EINVAL);
        cr_expect_str_eq(log_level_to_string(LOG_NOTICE), "notice");
        cr_expect_str_eq(log_level_to_string(99), "unknown");
}

/* Issue 16: the log's redaction as a function for every other output
 * (stdout, --json, state.json): secrets out, the text's shape kept. */
Test(log, redact_for_other_outputs) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL;

        cr_assert_eq(log_secret_register("AK-1234"), 0);
        cr_assert_eq(log_secret_register("pw"), 0);
        a = log_redact("{\n  \"error\": \"Couldn't find activation key 'AK-1234'\"\n}\n");
        cr_assert_not_null(a);
        cr_expect_str_eq(a, "{\n  \"error\": \"Couldn't find activation key '********'\"\n}\n");
        /* Shorter and longer than the marker, repeated, adjacent. */
        b = log_redact("pwpw AK-1234AK-1234 pw");
        cr_expect_str_eq(b, "**************** **************** ********");
        c = log_redact("nothing secret");
        cr_expect_str_eq(c, "nothing secret");
        cr_expect(log_has_secret("x AK-1234 y"));
        cr_expect_not(log_has_secret("x AK-123 y"));
        log_secret_unregister("AK-1234");
        d = log_redact("AK-1234");
        cr_expect_str_eq(d, "AK-1234");
        cr_expect_not(log_has_secret("AK-1234"));
        free(log_redact(NULL));
}

/* A long text is redacted whole, not cut at the log's message size. */
Test(log, redact_long_text) {
        size_t n = 100000;
        _cleanup_free_ char *text = malloc(n + 16), *out = NULL;

        cr_assert_eq(log_secret_register("S3CR3T"), 0);
        memset(text, 'x', n);
        memcpy(text + n - 6, "S3CR3T", 7);
        out = log_redact(text);
        cr_assert_not_null(out);
        cr_expect_eq(strlen(out), n - 6 + 8);
        cr_expect_null(strstr(out, "S3CR3T"));
}
