/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzzes the rhsm.conf reader: config_parse_rhsm_text() (sections, %(var)s
 * interpolation, the keys hvmap takes from it) over the built-in defaults. */
#include <stdio.h>
#include <string.h>

#include "agent/conf.h"
#include "tests/fuzz/fuzz.h"
#include "util/cleanup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = NULL;
        ConfigErrors errors = {};
        Config c;
        FILE *f;
        int r;

        /* load_one() hands over read_file_capped()'s buffer, which has a NUL
         * after the len bytes, and ASan's strict_string_checks flags the line
         * splitter's strndup() on text without one. */
        text = malloc(size + 1);
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = 0;
        if (config_init(&c) < 0)
                return 0;
        r = config_parse_rhsm_text(&c, "/etc/rhsm/rhsm.conf", text, size, &errors);
        fuzz_assert(r < 0 || (size_t) r <= errors.n);
        f = fopen("/dev/null", "we");
        if (f) {
                config_dump(&c, f);
                (void) fclose(f);
        }
        config_errors_free(&errors);
        config_free(&c);
        return 0;
}
