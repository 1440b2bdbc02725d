/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Printing strings someone else chose (a server's answer, a certificate's
 * fields, libvirt's errors): control characters are escaped, so that an
 * owner key with a newline cannot forge an output line, nor an escape
 * sequence drive the terminal. Pure; does not log. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Returns a new string of at most max bytes (SIZE_MAX: no limit; a cut
 * never splits an escape or a UTF-8 sequence): s with newline, carriage
 * return and tab as "\n", "\r", "\t", every other C0 control character,
 * DEL, the C1 controls (U+0080..U+009F) and each byte that is not part of
 * valid UTF-8 as "\xNN"; everything else, backslash included, as is. So
 * escaping twice changes nothing more, and the result is one line of valid
 * UTF-8. s NULL gives "". NULL only on ENOMEM; the caller frees. */
char *escape_control(const char *s, size_t max);

/* Whether the n bytes are well-formed UTF-8 (no overlongs, surrogates or
 * code points past U+10FFFF). Pure. */
bool utf8_valid(const char *s, size_t n);
