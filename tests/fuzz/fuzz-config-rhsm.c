/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzzes the rhsm.conf reader: rhsm_conf_apply() (iniparse's parsing,
 * %(var)s interpolation and python-rhsm's recovery, the keys hvmap takes from
 * it) over the built-in defaults; every warning names the file. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/conf.h"
#include "agent/rhsm-conf.h"
#include "tests/fuzz/fuzz.h"
#include "util/cleanup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = NULL;
        _cleanup_strv_free_ char **warnings = NULL;
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
        r = rhsm_conf_apply(&c, "/etc/rhsm/rhsm.conf", text, size, &warnings);
        fuzz_assert(r == 0 || r == -ENOMEM);
        for (char **w = warnings; w && *w; w++)
                fuzz_assert(strncmp(*w, "/etc/rhsm/rhsm.conf", 19) == 0);
        f = fopen("/dev/null", "we");
        if (f) {
                config_dump(&c, f);
                (void) fclose(f);
        }
        config_free(&c);
        return 0;
}
