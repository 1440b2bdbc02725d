/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Scope-bound ownership: _cleanup_ attributes, TAKE_PTR/TAKE_FD and the
 * trivial destructor generator, after systemd's cleanup-fundamental.h. */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _warn_unused_result_ __attribute__((warn_unused_result))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Hand ownership out of a _cleanup_ variable: returns the value, leaves NULL. */
#define TAKE_PTR(p)                       \
        ({                                \
                __typeof__(p) _tp_ = (p); \
                (p) = NULL;               \
                _tp_;                     \
        })

/* Same for file descriptors: returns the fd, leaves -1. */
#define TAKE_FD(fd)              \
        ({                       \
                int _tf_ = (fd); \
                (fd) = -1;       \
                _tf_;            \
        })

/* Defines static inline void NAME(TYPE *p) that calls FUNC(*p) when *p is
 * not NULL, for use with _cleanup_(NAME). */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func, name) \
        static inline void name(type *p) {            \
                if (*p)                               \
                        func(*p);                     \
        }

/* free() that returns NULL, for "p = mfree(p)". */
static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

/* Closes fd when >= 0, preserving errno; returns -1 for "fd = safe_close(fd)". */
static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                (void) close(fd);
                errno = saved;
        }
        return -1;
}

static inline void closep(int *fd) {
        *fd = safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

DEFINE_TRIVIAL_CLEANUP_FUNC(FILE *, fclose, fclosep)
DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir, closedirp)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Frees a NULL-terminated array of strings and the array itself; NULL is fine. */
static inline char **strv_free(char **l) {
        if (l) {
                for (char **s = l; *s; s++)
                        free(*s);
                free(l);
        }
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free, strv_freep)
#define _cleanup_strv_free_ _cleanup_(strv_freep)

/* Wipes and frees a secret (password, key material); NULL is fine. */
static inline char *erase_and_free(char *s) {
        if (s) {
                explicit_bzero(s, strlen(s));
                free(s);
        }
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(char *, erase_and_free, erase_and_freep)
#define _cleanup_erase_ _cleanup_(erase_and_freep)

/* Wipes n bytes of p and frees it, for secrets that are not strings (or may
 * hold a NUL before their end); NULL is fine. Returns NULL. */
static inline void *erase_and_free_sized(void *p, size_t n) {
        if (p) {
                explicit_bzero(p, n);
                free(p);
        }
        return NULL;
}

static inline const char *strempty(const char *s) {
        return s ? s : "";
}

static inline const char *strna(const char *s) {
        return s ? s : "n/a";
}

static inline int streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}
