/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Tables of good and hostile inputs for util/parse. */
#include <criterion/criterion.h>
#include <errno.h>

#include "util/cleanup.h"
#include "util/parse.h"

Test(parse, uint64_table) {
        static const struct {
                const char *in;
                int r;
                uint64_t v;
        } t[] = {
                { "0", 0, 0 },
                { "42", 0, 42 },
                { "007", 0, 7 },
                { "18446744073709551615", 0, UINT64_MAX },
                { "18446744073709551616", -ERANGE, 0 },
                { "99999999999999999999999", -ERANGE, 0 },
                { "", -EINVAL, 0 },
                { " 1", -EINVAL, 0 },
                { "1 ", -EINVAL, 0 },
                { "1x", -EINVAL, 0 },
                { "-1", -EINVAL, 0 },
                { "+1", -EINVAL, 0 },
                { "0x10", -EINVAL, 0 },
                { "1e3", -EINVAL, 0 },
                { "1.0", -EINVAL, 0 },
                { "\t5", -EINVAL, 0 },
                { "５", -EINVAL, 0 }, /* fullwidth digit */
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                uint64_t v = 12345;
                int r = parse_uint64(t[i].in, &v);

                cr_expect_eq(r, t[i].r, "parse_uint64(\"%s\") = %d, want %d", t[i].in, r, t[i].r);
                cr_expect_eq(v, t[i].r == 0 ? t[i].v : 12345, "value for \"%s\"", t[i].in);
        }
        cr_expect_eq(parse_uint64(NULL, &(uint64_t){ 0 }), -EINVAL);
}

Test(parse, embedded_nul_stops_at_nul) {
        /* A C string ends at NUL: "12\0junk" is "12". Callers that hold
         * lengths (config lines) must reject NUL themselves. */
        uint64_t v;
        cr_expect_eq(parse_uint64("12\0junk", &v), 0);
        cr_expect_eq(v, 12);
}

Test(parse, uint32_and_range_and_port) {
        uint32_t u;
        uint64_t v;
        uint16_t p;

        cr_expect_eq(parse_uint32("4294967295", &u), 0);
        cr_expect_eq(u, UINT32_MAX);
        cr_expect_eq(parse_uint32("4294967296", &u), -ERANGE);
        cr_expect_eq(parse_uint64_range("5", 1, 10, &v), 0);
        cr_expect_eq(v, 5);
        cr_expect_eq(parse_uint64_range("0", 1, 10, &v), -ERANGE);
        cr_expect_eq(parse_uint64_range("11", 1, 10, &v), -ERANGE);
        cr_expect_eq(parse_port("443", &p), 0);
        cr_expect_eq(p, 443);
        cr_expect_eq(parse_port("0", &p), -ERANGE);
        cr_expect_eq(parse_port("65536", &p), -ERANGE);
        cr_expect_eq(parse_port("-1", &p), -EINVAL);
}

Test(parse, int64_table) {
        static const struct {
                const char *in;
                int r;
                int64_t v;
        } t[] = {
                { "0", 0, 0 },
                { "-0", 0, 0 },
                { "-42", 0, -42 },
                { "9223372036854775807", 0, INT64_MAX },
                { "-9223372036854775808", 0, INT64_MIN },
                { "9223372036854775808", -ERANGE, 0 },
                { "-9223372036854775809", -ERANGE, 0 },
                { "--1", -EINVAL, 0 },
                { "-", -EINVAL, 0 },
                { "- 1", -EINVAL, 0 },
                { "1-", -EINVAL, 0 },
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                int64_t v = 7;
                int r = parse_int64(t[i].in, &v);

                cr_expect_eq(r, t[i].r, "parse_int64(\"%s\") = %d, want %d", t[i].in, r, t[i].r);
                if (t[i].r == 0)
                        cr_expect_eq(v, t[i].v, "value for \"%s\"", t[i].in);
                else
                        cr_expect_eq(v, 7, "untouched on failure for \"%s\"", t[i].in);
        }
}

Test(parse, bool_table) {
        static const char *const yes[] = { "1", "yes", "YES", "y", "true", "True", "on", "t" };
        static const char *const no[] = { "0", "no", "No", "n", "false", "off", "OFF", "f" };
        static const char *const bad[] = { "", " yes", "yes ", "2", "enable", "nope", "truee", "-1" };
        bool b;

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                b = false;
                cr_expect_eq(parse_bool(yes[i], &b), 0, "%s", yes[i]);
                cr_expect(b, "%s", yes[i]);
        }
        for (size_t i = 0; i < ELEMENTSOF(no); i++) {
                b = true;
                cr_expect_eq(parse_bool(no[i], &b), 0, "%s", no[i]);
                cr_expect(!b, "%s", no[i]);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                cr_expect_eq(parse_bool(bad[i], &b), -EINVAL, "\"%s\"", bad[i]);
        cr_expect_eq(parse_bool(NULL, &b), -EINVAL);
}

Test(parse, duration_table) {
        static const struct {
                const char *in;
                int r;
                uint64_t usec;
        } t[] = {
                { "0", 0, 0 },
                { "30", 0, 30 * USEC_PER_SEC },
                { "500ms", 0, 500 * USEC_PER_MSEC },
                { "5s", 0, 5 * USEC_PER_SEC },
                { "5sec", 0, 5 * USEC_PER_SEC },
                { "2min", 0, 2 * USEC_PER_MINUTE },
                { "1h", 0, USEC_PER_HOUR },
                { "1h 30min", 0, USEC_PER_HOUR + 30 * USEC_PER_MINUTE },
                { "1h30min", 0, USEC_PER_HOUR + 30 * USEC_PER_MINUTE },
                { "2d", 0, 2 * USEC_PER_DAY },
                { "10us", 0, 10 },
                { "18446744073709551615us", 0, UINT64_MAX },
                { "18446744073709551616us", -ERANGE, 0 },
                { "213503982335d", -ERANGE, 0 },
                { "18446744073709551615us 1us", -ERANGE, 0 },
                { "", -EINVAL, 0 },
                { " 5s", -EINVAL, 0 },
                { "5s ", -EINVAL, 0 },
                { "5  s", -EINVAL, 0 },
                { "5 s", -EINVAL, 0 },
                { "-5s", -EINVAL, 0 },
                { "5x", -EINVAL, 0 },
                { "1.5s", -EINVAL, 0 },
                { "s", -EINVAL, 0 },
                { "5S", -EINVAL, 0 },
                { "1h  1s", -EINVAL, 0 },
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                uint64_t v = 99;
                int r = parse_duration(t[i].in, USEC_PER_SEC, &v);

                cr_expect_eq(r, t[i].r, "parse_duration(\"%s\") = %d, want %d", t[i].in, r, t[i].r);
                cr_expect_eq(v, t[i].r == 0 ? t[i].usec : 99, "value for \"%s\"", t[i].in);
        }
}

Test(parse, duration_default_unit) {
        uint64_t v;

        cr_expect_eq(parse_duration("250", USEC_PER_MSEC, &v), 0);
        cr_expect_eq(v, 250 * USEC_PER_MSEC);
        cr_expect_eq(parse_duration("250", 0, &v), -EINVAL);
}

Test(parse, duration_format_roundtrip) {
        static const uint64_t values[] = { 0,
                                           1,
                                           999,
                                           USEC_PER_SEC,
                                           90 * USEC_PER_MINUTE,
                                           3 * USEC_PER_DAY + 5 * USEC_PER_SEC + 7,
                                           UINT64_MAX };
        char buf[DURATION_STRING_MAX];

        cr_expect_str_eq(format_duration(buf, sizeof buf, 90 * USEC_PER_MINUTE), "1h 30min");
        cr_expect_str_eq(format_duration(buf, sizeof buf, 500 * USEC_PER_MSEC), "500ms");
        for (size_t i = 0; i < ELEMENTSOF(values); i++) {
                uint64_t back = 0;

                format_duration(buf, sizeof buf, values[i]);
                cr_expect_eq(parse_duration(buf, USEC_PER_SEC, &back), 0, "%s", buf);
                cr_expect_eq(back, values[i], "%s", buf);
        }
}
