/* SPDX-License-Identifier: GPL-2.0-or-later */
/* state.json: round trip, atomic save, hostile inputs. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/state.h"

Test(state, round_trip) {
        State a = {
                .accepted_at_usec = UINT64_C(1763850000123456),
                .accepted_guests = 37,
                .last_attempt_usec = UINT64_C(1763850000999999),
                .last_http_status = 429,
                .consecutive_failures = 3,
                .pid = 4242,
                .next_report_usec = 17,
        }, b = {};
        char *text = NULL;

        cr_assert_eq(state_set_string(&a.accepted_digest, "ab12"), 0);
        cr_assert_eq(state_set_string(&a.last_result, "retry-after"), 0);
        cr_assert_eq(state_set_string(&a.last_message, "PUT https://h/c: 429 \"slow down\""), 0);
        cr_assert_eq(state_format(&a, &text), 0);
        cr_assert_eq(state_parse(text, strlen(text), &b), 0, "%s", text);
        cr_expect_str_eq(b.accepted_digest, "ab12");
        cr_expect_eq(b.accepted_at_usec, a.accepted_at_usec);
        cr_expect_eq(b.accepted_guests, 37);
        cr_expect_eq(b.last_attempt_usec, a.last_attempt_usec);
        cr_expect_eq(b.last_http_status, 429);
        cr_expect_eq(b.consecutive_failures, 3);
        cr_expect_eq(b.pid, 4242);
        cr_expect_str_eq(b.last_result, "retry-after");
        cr_expect_str_eq(b.last_message, a.last_message);
        cr_expect_null(b.phase);
        free(text);
        state_done(&a);
        state_done(&b);
}

Test(state, hostile_inputs) {
        static const char *const bad[] = {
                "",
                "null",
                "[]",
                "{}",
                "{\"version\":2}",
                "{\"version\":\"1\"}",
                "{\"version\":1,\"accepted_digest\":5}",
                "{\"version\":1,\"accepted_at_usec\":-1}",
                "{\"version\":1,\"accepted_at_usec\":1.5}",
                "{\"version\":1,\"accepted_at_usec\":1e300}",
                "{\"version\":1,\"consecutive_failures\":4294967296}",
                "{\"version\":1,\"pid\":\"x\"}",
                "{\"version\":1",
                "{\"version\":1}garbage",
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                State s = {};
                cr_expect_eq(state_parse(bad[i], strlen(bad[i]), &s), -EBADMSG, "accepted: %s", bad[i]);
        }
        {
                static const char nul[] = "{\"version\":1}\0{}";
                State s = {};
                cr_expect_eq(state_parse(nul, sizeof nul - 1, &s), -EBADMSG);
        }
        {
                static const char ok[] = "{\"version\":1,\"unknown\":{\"x\":[1]},\"guests\":null}";
                State s = {};
                cr_expect_eq(state_parse(ok, sizeof ok - 1, &s), 0, "unknown keys and nulls are fine");
                state_done(&s);
        }
}

Test(state, save_and_load) {
        char dir[] = "/tmp/hvmap-state-XXXXXX", path[600];
        State a = { .accepted_guests = 5 }, b = {};
        struct stat st;

        cr_assert_not_null(mkdtemp(dir));
        cr_expect_eq(state_load(dir, &b), -ENOENT);
        cr_assert_eq(state_set_string(&a.accepted_digest, "ff"), 0);
        cr_assert_eq(state_save(dir, &a), 0);
        cr_assert_eq(state_load(dir, &b), 0);
        cr_expect_str_eq(b.accepted_digest, "ff");
        cr_expect_eq(b.accepted_guests, 5);
        snprintf(path, sizeof path, "%s/state.json", dir);
        cr_assert_eq(stat(path, &st), 0);
        cr_expect_eq(st.st_mode & 0777, 0600);
        unlink(path);
        rmdir(dir);
        state_done(&a);
        state_done(&b);
}
