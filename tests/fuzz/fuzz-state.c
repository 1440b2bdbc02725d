/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzzes state.json parsing and checks the round trip: whatever
 * state_parse() accepts, state_format() writes back as text state_parse()
 * accepts again, and formatting that gives the same text. */
#include <string.h>

#include "agent/state.h"
#include "tests/fuzz/fuzz.h"
#include "util/cleanup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text1 = NULL, *text2 = NULL;
        State s1 = {}, s2 = {};
        int r;

        r = state_parse((const char *) data, size, &s1);
        if (r < 0)
                return 0;
        r = state_format(&s1, &text1);
        if (r == -ENOMEM)
                goto out;
        fuzz_assert(r >= 0);
        r = state_parse(text1, strlen(text1), &s2);
        if (r < 0)
                fuzz_fail("state_format() wrote what state_parse() refuses (%d):\n%s", r, text1);
        r = state_format(&s2, &text2);
        fuzz_assert(r >= 0);
        if (strcmp(text1, text2) != 0)
                fuzz_fail("format/parse is not stable:\n%s\n---\n%s", text1, text2);
out:
        state_done(&s1);
        state_done(&s2);
        return 0;
}
