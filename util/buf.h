/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A growable byte buffer with a hard cap, after curl's dynbuf: appending past
 * the cap fails with -E2BIG and leaves the buffer as it was. The contents are
 * always NUL-terminated (the NUL is not counted in len or the cap). No
 * logging. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/cleanup.h"

typedef struct Buf {
        char *data; /* NULL until the first append */
        size_t len;
        size_t alloc;
        size_t max;
        bool secret; /* may hold a secret: outgrown and freed memory is wiped */
} Buf;

#define BUF_INIT(cap) ((Buf){ .max = (cap) })

void buf_init(Buf *b, size_t max);
/* Frees the contents (wiped first when b->secret); the buffer can be used
 * again with the same cap. */
void buf_free(Buf *b);
/* Empties the buffer, keeping its memory. */
void buf_reset(Buf *b);
/* Appends n bytes: 0, -E2BIG past the cap, -ENOMEM. */
int buf_append(Buf *b, const void *p, size_t n);
int buf_append_str(Buf *b, const char *s);
int buf_printf(Buf *b, const char *format, ...) _printf_(2, 3);
int buf_vprintf(Buf *b, const char *format, va_list ap) _printf_(2, 0);
/* Hands the NUL-terminated contents to the caller (never NULL on success:
 * an empty buffer gives ""), leaving the buffer empty. NULL on ENOMEM. */
char *buf_steal(Buf *b, size_t *ret_len);

static inline const char *buf_str(const Buf *b) {
        return b->data ? b->data : "";
}
