/* SPDX-License-Identifier: GPL-2.0-or-later */
/* File helpers: an atomic, durable writer and a reader with a size cap.
 * Neither logs; both return a negative errno on failure. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Replaces path with exactly len bytes of data, atomically and durably: a
 * temporary file in the same directory (O_CLOEXEC, created with mode), write,
 * fsync, rename over path, fsync the directory. On any failure path is left
 * as it was and the temporary file is removed. Returns 0 or -errno. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Reads the whole regular file at path into a NUL-terminated buffer the
 * caller frees. -EFBIG when it is larger than max_size bytes; -EISDIR or
 * -EINVAL when it is not a regular file. ret_len may be NULL. */
int read_file_capped(const char *path, size_t max_size, char **ret, size_t *ret_len);
/* The same for an open descriptor (read from its current offset). */
int read_fd_capped(int fd, size_t max_size, char **ret, size_t *ret_len);

typedef enum ReadFlags {
        READ_SECRET = 1 << 0, /* the text is a secret: no copy is left behind unwiped */
} ReadFlags;
/* read_fd_capped() with flags: under READ_SECRET a buffer outgrown while
 * reading, and the buffer on any failure, are wiped before they are freed
 * (the caller wipes the result, e.g. with erase_and_free_sized()). */
int read_fd_capped_flags(int fd, size_t max_size, ReadFlags flags, char **ret, size_t *ret_len);
