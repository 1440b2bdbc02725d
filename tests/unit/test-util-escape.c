/* SPDX-License-Identifier: GPL-2.0-or-later */
/* escape_control(): a server's string cannot forge an output line or drive
 * the terminal, valid UTF-8 passes, escaping twice changes nothing. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/escape.h"

static void expect(const char *in, size_t max, const char *want) {
        _cleanup_free_ char *got = escape_control(in, max), *again = NULL;

        cr_assert_not_null(got);
        cr_expect_str_eq(got, want, "escape(\"%s\")", in ? in : "(null)");
        again = escape_control(got, SIZE_MAX);
        cr_assert_not_null(again);
        cr_expect_str_eq(again, got, "escaping twice changed \"%s\"", got);
}

Test(escape, table) {
        expect("acme", SIZE_MAX, "acme");
        expect(NULL, SIZE_MAX, "");
        /* The case: an owner key with a newline forging a line. */
        expect("acme\nidentity:    consumer evil", SIZE_MAX, "acme\\nidentity:    consumer evil");
        expect("a\r\tb", SIZE_MAX, "a\\r\\tb");
        expect("\x1b[2J\x07\x7f", SIZE_MAX, "\\x1b[2J\\x07\\x7f");
        expect("back\\slash", SIZE_MAX, "back\\slash");
        expect("Organisation \xc3\xa9t\xc3\xa9 \xe2\x82\xac", SIZE_MAX,
               "Organisation \xc3\xa9t\xc3\xa9 \xe2\x82\xac");
        /* C1 controls (CSI is U+009B) and bytes that are not UTF-8. */
        expect("x\xc2\x9b"
               "31m",
               SIZE_MAX, "x\\xc2\\x9b31m");
        expect("\xff\xfe", SIZE_MAX, "\\xff\\xfe");
        expect("\xc0\xaf", SIZE_MAX, "\\xc0\\xaf"); /* overlong '/' */
        expect("\xed\xa0\x80", SIZE_MAX, "\\xed\\xa0\\x80"); /* a surrogate */
        /* At most max bytes out; a cut never splits a UTF-8 sequence or an escape. */
        expect("ab\xe2\x82\xac", 4, "ab");
        expect("ab\xe2\x82\xac", 5, "ab\xe2\x82\xac");
        expect("abcdef", 3, "abc");
        expect("ab\ncd", 3, "ab");
        expect("ab\ncd", 4, "ab\\n");
        expect("a\x01", 4, "a");
        expect("a\x01", 5, "a\\x01");
}

Test(escape, result_is_one_line) {
        char in[256];
        _cleanup_free_ char *out = NULL;

        for (int i = 1; i < 256; i++)
                in[i - 1] = (char) i;
        in[255] = 0;
        out = escape_control(in, SIZE_MAX);
        cr_assert_not_null(out);
        for (const unsigned char *p = (const unsigned char *) out; *p; p++)
                cr_expect(*p >= 0x20 && *p != 0x7f, "control byte 0x%02x left at %td", *p,
                          (const char *) p - out);
}

Test(escape, utf8_valid) {
        cr_expect(utf8_valid("", 0));
        cr_expect(utf8_valid("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10));
        cr_expect_not(utf8_valid("\xc0\xaf", 2));
        cr_expect_not(utf8_valid("\xed\xa0\x80", 3));
        cr_expect_not(utf8_valid("\xf4\x90\x80\x80", 4));
        cr_expect_not(utf8_valid("\xe2\x82", 2));
        cr_expect_not(utf8_valid("\xff", 1));
}
