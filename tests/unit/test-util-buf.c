/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The capped buffer: growth, the cap, NUL termination, ownership. */
#include <criterion/criterion.h>
#include <errno.h>

#include "util/buf.h"

Test(buf, append_and_terminate) {
        Buf b = BUF_INIT(64);

        cr_expect_str_eq(buf_str(&b), "");
        cr_assert_eq(buf_append_str(&b, "hello"), 0);
        cr_assert_eq(buf_append(&b, ", ", 2), 0);
        cr_assert_eq(buf_printf(&b, "%s %d", "world", 42), 0);
        cr_expect_eq(b.len, strlen("hello, world 42"));
        cr_expect_str_eq(b.data, "hello, world 42");
        buf_free(&b);
        cr_expect_null(b.data);
}

Test(buf, cap_is_hard_and_leaves_buffer_intact) {
        Buf b = BUF_INIT(8);

        cr_assert_eq(buf_append_str(&b, "12345678"), 0);
        cr_expect_eq(buf_append(&b, "9", 1), -E2BIG);
        cr_expect_eq(b.len, 8);
        cr_expect_str_eq(b.data, "12345678");
        cr_expect_eq(buf_printf(&b, "%d", 1), -E2BIG);
        cr_expect_str_eq(b.data, "12345678");
        /* Zero bytes always fit. */
        cr_expect_eq(buf_append(&b, "", 0), 0);
        buf_free(&b);
}

Test(buf, huge_append_does_not_overflow) {
        Buf b = BUF_INIT(16);

        cr_assert_eq(buf_append_str(&b, "abc"), 0);
        cr_expect_eq(buf_append(&b, "x", SIZE_MAX), -E2BIG);
        cr_expect_eq(buf_append(&b, "x", SIZE_MAX - 2), -E2BIG);
        cr_expect_str_eq(b.data, "abc");
        buf_free(&b);
}

Test(buf, growth_across_many_appends) {
        Buf b = BUF_INIT(1 << 20);

        int failures = 0;

        /* One assertion at the end: Criterion's per-assert IPC is slow. */
        for (int i = 0; i < 100000; i++)
                failures += buf_append(&b, "0123456789", 10) != 0;
        cr_assert_eq(failures, 0);
        cr_expect_eq(b.len, 1000000);
        cr_expect_eq(b.data[b.len], '\0');
        cr_expect_eq(buf_append(&b, "0123456789", 100000), -E2BIG);
        buf_free(&b);
}

Test(buf, binary_with_nul) {
        Buf b = BUF_INIT(16);
        static const char bin[] = { 'a', '\0', 'b' };

        cr_assert_eq(buf_append(&b, bin, sizeof bin), 0);
        cr_expect_eq(b.len, 3);
        cr_expect_eq(memcmp(b.data, bin, 3), 0);
        buf_free(&b);
}

Test(buf, steal_and_reset) {
        Buf b = BUF_INIT(32);
        _cleanup_free_ char *empty = NULL, *s = NULL;
        size_t len = 99;

        empty = buf_steal(&b, &len);
        cr_assert_not_null(empty);
        cr_expect_str_eq(empty, "");
        cr_expect_eq(len, 0);

        cr_assert_eq(buf_append_str(&b, "data"), 0);
        buf_reset(&b);
        cr_expect_eq(b.len, 0);
        cr_expect_str_eq(buf_str(&b), "");
        cr_assert_eq(buf_append_str(&b, "kept"), 0);
        s = buf_steal(&b, &len);
        cr_expect_str_eq(s, "kept");
        cr_expect_eq(len, 4);
        cr_expect_null(b.data);
        cr_expect_eq(b.max, 32);
}

Test(buf, zero_cap) {
        Buf b = BUF_INIT(0);

        cr_expect_eq(buf_append(&b, "a", 1), -E2BIG);
        cr_expect_eq(buf_append(&b, "", 0), 0);
        cr_expect_str_eq(buf_str(&b), "");
        buf_free(&b);
}

/* A secret buffer grows by copy-and-wipe instead of realloc(): the contents
 * must come through every growth intact. */
Test(buf, secret_buffer_grows_intact) {
        Buf b = BUF_INIT(1 << 20);
        char chunk[97];

        b.secret = true;
        for (int i = 0; i < 300; i++) {
                memset(chunk, 'a' + i % 26, sizeof chunk);
                cr_assert_eq(buf_append(&b, chunk, sizeof chunk), 0);
        }
        cr_assert_eq(b.len, 300 * sizeof chunk);
        for (size_t i = 0; i < b.len; i++)
                cr_assert_eq(b.data[i], 'a' + (int) (i / sizeof chunk) % 26, "byte %zu", i);
        cr_expect_eq(b.data[b.len], '\0');
        cr_assert_eq(buf_printf(&b, "%s", "tail"), 0);
        cr_expect_str_eq(b.data + 300 * sizeof chunk, "tail");
        buf_free(&b);
        cr_expect_null(b.data);
}
