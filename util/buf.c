/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The capped byte buffer. */
#include "util/buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* First allocation; small bodies (status, errors) fit without a realloc. */
#define BUF_MIN_ALLOC 256

void buf_init(Buf *b, size_t max) {
        *b = BUF_INIT(max);
}

void buf_free(Buf *b) {
        if (b->secret && b->data)
                explicit_bzero(b->data, b->alloc);
        free(b->data);
        b->data = NULL;
        b->len = b->alloc = 0;
}

void buf_reset(Buf *b) {
        b->len = 0;
        if (b->data)
                b->data[0] = '\0';
}

/* Makes room for n more bytes plus the NUL. */
static int buf_reserve(Buf *b, size_t n) {
        size_t need, a;
        char *p;

        if (n > b->max || b->len > b->max - n)
                return -E2BIG;
        need = b->len + n + 1;
        if (need <= b->alloc)
                return 0;
        a = b->alloc ? b->alloc : BUF_MIN_ALLOC;
        while (a < need)
                a = a > SIZE_MAX / 2 ? need : a * 2;
        if (a > b->max + 1)
                a = b->max + 1;
        if (b->secret) {
                /* realloc() would leave the old copy in freed memory. */
                p = malloc(a);
                if (!p)
                        return -ENOMEM;
                if (b->data) {
                        memcpy(p, b->data, b->len + 1);
                        explicit_bzero(b->data, b->alloc);
                        free(b->data);
                }
        } else
                p = realloc(b->data, a);
        if (!p)
                return -ENOMEM;
        b->data = p;
        b->alloc = a;
        return 0;
}

int buf_append(Buf *b, const void *p, size_t n) {
        int r;

        if (n == 0 && b->data)
                return 0;
        r = buf_reserve(b, n);
        if (r < 0)
                return r;
        if (n > 0)
                memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
}

int buf_append_str(Buf *b, const char *s) {
        return buf_append(b, s, strlen(s));
}

int buf_vprintf(Buf *b, const char *format, va_list ap) {
        va_list aq;
        int k, r;

        va_copy(aq, ap);
        k = vsnprintf(NULL, 0, format, aq);
        va_end(aq);
        if (k < 0)
                return -EINVAL;
        r = buf_reserve(b, (size_t) k);
        if (r < 0)
                return r;
        (void) vsnprintf(b->data + b->len, (size_t) k + 1, format, ap);
        b->len += (size_t) k;
        return 0;
}

int buf_printf(Buf *b, const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = buf_vprintf(b, format, ap);
        va_end(ap);
        return r;
}

char *buf_steal(Buf *b, size_t *ret_len) {
        char *p;

        /* An empty buffer still hands out "" (reserving 0 bytes cannot hit the cap). */
        if (!b->data && buf_reserve(b, 0) < 0)
                return NULL;
        b->data[b->len] = '\0';
        p = b->data;
        if (ret_len)
                *ret_len = b->len;
        b->data = NULL;
        b->len = b->alloc = 0;
        return p;
}
