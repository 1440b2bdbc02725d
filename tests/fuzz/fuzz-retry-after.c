/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzzes proto_retry_after_parse(): any header value either is refused or
 * gives a wait within [0, PROTO_RETRY_AFTER_MAX_SEC]; all digits always
 * parse to their value clamped to the cap (never wrapped), and more
 * digits never wait less. */
#include <errno.h>
#include <string.h>

#define HVMAP_PROTO_INTERNAL 1
#include "proto/proto-internal.h"
#include "tests/fuzz/fuzz.h"
#include "util/cleanup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *v = NULL, *longer = NULL;
        const time_t now = 1800000000;
        uint64_t sec = UINT64_MAX, sec2 = UINT64_MAX;
        size_t n;
        int r;

        /* A header value: no NUL (curl stops there), at most a few KiB. Not
         * strndup(): ASan's strict_string_checks would read past size. */
        n = size > 4096 ? 4096 : size;
        v = malloc(n + 1);
        if (!v)
                return 0;
        memcpy(v, data, n);
        v[n] = '\0';
        n = strlen(v);
        r = proto_retry_after_parse(v, now, &sec);
        if (r < 0) {
                fuzz_assert(r == -EINVAL);
                fuzz_assert(n == 0 || strspn(v, "0123456789") != n);
                return 0;
        }
        fuzz_assert(r == 0);
        fuzz_assert(sec <= PROTO_RETRY_AFTER_MAX_SEC);
        if (n > 0 && strspn(v, "0123456789") == n) {
                /* An oracle: more than five significant digits is past a day. */
                const char *d = v + strspn(v, "0");
                uint64_t want = strlen(d) > 5 ? PROTO_RETRY_AFTER_MAX_SEC : strtoull(d, NULL, 10);

                if (want > PROTO_RETRY_AFTER_MAX_SEC)
                        want = PROTO_RETRY_AFTER_MAX_SEC;
                if (sec != want)
                        fuzz_fail("\"%s\" waits %llu s, not %llu s", v, (unsigned long long) sec,
                                  (unsigned long long) want);
                /* Appending a digit multiplies by ten, clamped: never less. */
                longer = malloc(n + 2);
                if (!longer)
                        return 0;
                memcpy(longer, v, n);
                memcpy(longer + n, "7", 2);
                fuzz_assert(proto_retry_after_parse(longer, now, &sec2) == 0);
                fuzz_assert(sec2 >= sec);
                fuzz_assert(sec2 <= PROTO_RETRY_AFTER_MAX_SEC);
        }
        return 0;
}
