/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Checked parsing of numbers, booleans and durations. */
#include "util/parse.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/cleanup.h"

/* Parses the leading digits of s into *ret; sets *end past them. -EINVAL
 * when there is no digit, -ERANGE on overflow. */
static int parse_digits(const char *s, const char **end, uint64_t *ret) {
        uint64_t v = 0;
        const char *p = s;

        if (*p < '0' || *p > '9')
                return -EINVAL;
        for (; *p >= '0' && *p <= '9'; p++) {
                unsigned d = (unsigned) (*p - '0');

                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *end = p;
        *ret = v;
        return 0;
}

int parse_uint64(const char *s, uint64_t *ret) {
        const char *end;
        uint64_t v;
        int r;

        if (!s)
                return -EINVAL;
        r = parse_digits(s, &end, &v);
        if (r < 0)
                return r;
        if (*end)
                return -EINVAL;
        *ret = v;
        return 0;
}

int parse_uint64_range(const char *s, uint64_t min, uint64_t max, uint64_t *ret) {
        uint64_t v;
        int r;

        r = parse_uint64(s, &v);
        if (r < 0)
                return r;
        if (v < min || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

int parse_uint32(const char *s, uint32_t *ret) {
        uint64_t v;
        int r;

        r = parse_uint64_range(s, 0, UINT32_MAX, &v);
        if (r < 0)
                return r;
        *ret = (uint32_t) v;
        return 0;
}

int parse_port(const char *s, uint16_t *ret) {
        uint64_t v;
        int r;

        r = parse_uint64_range(s, 1, UINT16_MAX, &v);
        if (r < 0)
                return r;
        *ret = (uint16_t) v;
        return 0;
}

int parse_int64(const char *s, int64_t *ret) {
        bool neg = false;
        uint64_t v;
        int r;

        if (!s)
                return -EINVAL;
        if (*s == '-') {
                neg = true;
                s++;
        }
        r = parse_uint64(s, &v);
        if (r < 0)
                return r;
        if (neg) {
                if (v > (uint64_t) INT64_MAX + 1)
                        return -ERANGE;
                *ret = v == (uint64_t) INT64_MAX + 1 ? INT64_MIN : -(int64_t) v;
        } else {
                if (v > (uint64_t) INT64_MAX)
                        return -ERANGE;
                *ret = (int64_t) v;
        }
        return 0;
}

int parse_bool(const char *s, bool *ret) {
        static const char *const yes[] = { "1", "yes", "y", "true", "t", "on" };
        static const char *const no[] = { "0", "no", "n", "false", "f", "off" };

        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                if (strcasecmp(s, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                if (strcasecmp(s, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        return -EINVAL;
}

static const struct {
        const char *suffix;
        uint64_t usec;
} duration_units[] = {
        { "us", 1 },
        { "usec", 1 },
        { "ms", USEC_PER_MSEC },
        { "msec", USEC_PER_MSEC },
        { "s", USEC_PER_SEC },
        { "sec", USEC_PER_SEC },
        { "second", USEC_PER_SEC },
        { "seconds", USEC_PER_SEC },
        { "m", USEC_PER_MINUTE },
        { "min", USEC_PER_MINUTE },
        { "minute", USEC_PER_MINUTE },
        { "minutes", USEC_PER_MINUTE },
        { "h", USEC_PER_HOUR },
        { "hr", USEC_PER_HOUR },
        { "hour", USEC_PER_HOUR },
        { "hours", USEC_PER_HOUR },
        { "d", USEC_PER_DAY },
        { "day", USEC_PER_DAY },
        { "days", USEC_PER_DAY },
};

int parse_duration(const char *s, uint64_t default_unit_usec, uint64_t *ret_usec) {
        uint64_t total = 0;
        const char *p = s;

        if (!s || !*s || default_unit_usec == 0)
                return -EINVAL;

        while (*p) {
                const char *end, *unit;
                uint64_t n, mult = 0;
                size_t ulen;
                int r;

                r = parse_digits(p, &end, &n);
                if (r < 0)
                        return r;
                unit = end;
                while (*end >= 'a' && *end <= 'z')
                        end++;
                ulen = (size_t) (end - unit);
                if (ulen == 0)
                        mult = default_unit_usec;
                else
                        for (size_t i = 0; i < ELEMENTSOF(duration_units); i++)
                                if (strlen(duration_units[i].suffix) == ulen &&
                                    strncmp(unit, duration_units[i].suffix, ulen) == 0) {
                                        mult = duration_units[i].usec;
                                        break;
                                }
                if (mult == 0)
                        return -EINVAL;
                if (n > UINT64_MAX / mult || total > UINT64_MAX - n * mult)
                        return -ERANGE;
                total += n * mult;

                /* Terms may be separated by single spaces, never trailing. */
                if (*end == ' ') {
                        end++;
                        if (*end < '0' || *end > '9')
                                return -EINVAL;
                }
                p = end;
        }
        *ret_usec = total;
        return 0;
}

char *format_duration(char *buf, size_t bufsz, uint64_t usec) {
        static const struct {
                const char *suffix;
                uint64_t usec;
        } units[] = {
                { "d", USEC_PER_DAY }, { "h", USEC_PER_HOUR },  { "min", USEC_PER_MINUTE },
                { "s", USEC_PER_SEC }, { "ms", USEC_PER_MSEC }, { "us", 1 },
        };
        size_t off = 0;

        if (bufsz == 0)
                return buf;
        buf[0] = '\0';
        if (usec == 0) {
                (void) snprintf(buf, bufsz, "0");
                return buf;
        }
        for (size_t i = 0; i < ELEMENTSOF(units) && usec > 0; i++) {
                uint64_t n = usec / units[i].usec;
                int k;

                if (n == 0)
                        continue;
                usec -= n * units[i].usec;
                k = snprintf(buf + off, bufsz - off, "%s%llu%s", off ? " " : "", (unsigned long long) n,
                             units[i].suffix);
                if (k < 0 || (size_t) k >= bufsz - off)
                        break;
                off += (size_t) k;
        }
        return buf;
}
