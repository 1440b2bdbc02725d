/* SPDX-License-Identifier: GPL-2.0-or-later */
/* strdup_printf(); see strprintf.h. */
#include "util/strprintf.h"

#include <stdio.h>

char *strdup_vprintf(const char *format, va_list ap) {
        char *s = NULL;

        if (vasprintf(&s, format, ap) < 0)
                return NULL;
        return s;
}

char *strdup_printf(const char *format, ...) {
        va_list ap;
        char *s;

        va_start(ap, format);
        s = strdup_vprintf(format, ap);
        va_end(ap);
        return s;
}
