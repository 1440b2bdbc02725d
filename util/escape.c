/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Control-character escaping for output of strings others chose. */
#include "util/escape.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the well-formed UTF-8 sequence at p (at most n bytes), or 0
 * (overlong, surrogate, past U+10FFFF, cut short); *ret_cp its code point. */
static size_t utf8_seq(const unsigned char *p, size_t n, uint32_t *ret_cp) {
        uint32_t cp;
        size_t k;

        if (p[0] >= 0xc2 && p[0] <= 0xdf) {
                k = 1;
                cp = p[0] & 0x1f;
        } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
                k = 2;
                cp = p[0] & 0x0f;
        } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
                k = 3;
                cp = p[0] & 0x07;
        } else
                return 0;
        if (n <= k)
                return 0;
        for (size_t j = 1; j <= k; j++) {
                if ((p[j] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (p[j] & 0x3f);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        *ret_cp = cp;
        return k + 1;
}

bool utf8_valid(const char *s, size_t n) {
        const unsigned char *p = (const unsigned char *) s;
        uint32_t cp;

        for (size_t i = 0, k; i < n; i += k) {
                k = p[i] < 0x80 ? 1 : utf8_seq(p + i, n - i, &cp);
                if (k == 0)
                        return false;
        }
        return true;
}

char *escape_control(const char *s, size_t max) {
        const unsigned char *p = (const unsigned char *) (s ? s : "");
        size_t n = strlen((const char *) p), o = 0, cap;
        char *out;

        /* Each input byte becomes at most 4 output bytes, and no more than max are written. */
        cap = n > (SIZE_MAX - 1) / 4 ? SIZE_MAX - 1 : n * 4;
        if (cap > max)
                cap = max;
        out = malloc(cap + 1);
        if (!out)
                return NULL;
        for (size_t i = 0; i < n;) {
                unsigned char c = p[i];
                char unit[8];
                uint32_t cp = 0;
                size_t k, len;

                if (c >= 0x20 && c < 0x7f) {
                        unit[0] = (char) c;
                        len = k = 1;
                } else if (c == '\n' || c == '\r' || c == '\t') {
                        unit[0] = '\\';
                        unit[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
                        len = 2;
                        k = 1;
                } else if (c >= 0x80 && (k = utf8_seq(p + i, n - i, &cp)) > 0 &&
                           !(cp >= 0x80 && cp <= 0x9f)) {
                        memcpy(unit, p + i, k);
                        len = k;
                } else {
                        /* A control character, or a byte that is not UTF-8 (a C1
                         * control's two bytes each get their own escape). */
                        (void) snprintf(unit, sizeof unit, "\\x%02x", c);
                        len = 4;
                        k = 1;
                }
                /* Never half an escape or half a character at the cut. */
                if (o + len > cap)
                        break;
                memcpy(out + o, unit, len);
                o += len;
                i += k;
        }
        out[o] = '\0';
        return out;
}
