/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Atomic file replacement and capped whole-file reads. */
#include "util/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"

static int write_all(int fd, const void *data, size_t len) {
        const char *p = data;

        while (len > 0) {
                ssize_t k = write(fd, p, len);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                len -= (size_t) k;
        }
        return 0;
}

static int fsync_parent_dir(const char *path) {
        _cleanup_free_ char *dir = strdup(path);
        _cleanup_close_ int fd = -1;
        char *slash;

        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (!slash)
                fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        else {
                slash[slash == dir ? 1 : 0] = '\0';
                fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        }
        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                return -errno;
        return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -1;
        const char *base;
        size_t dirlen;
        int r;

        if (!path || !*path || (!data && len > 0))
                return -EINVAL;
        base = strrchr(path, '/');
        base = base ? base + 1 : path;
        if (!*base)
                return -EISDIR;
        dirlen = (size_t) (base - path);

        /* "<dir>/.<name>.XXXXXX": hidden, same file system as the target. */
        if (asprintf(&tmp, "%.*s.%s.XXXXXX", (int) dirlen, path, base) < 0) {
                tmp = NULL;
                return -ENOMEM;
        }

        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, mode) < 0) {
                r = -errno;
                goto fail;
        }
        r = write_all(fd, data, len);
        if (r < 0)
                goto fail;
        if (fsync(fd) < 0) {
                r = -errno;
                goto fail;
        }
        fd = safe_close(fd);
        if (rename(tmp, path) < 0) {
                r = -errno;
                goto fail;
        }
        /* The new name is in place; a failed directory sync only weakens
         * durability across a power loss, which the caller should hear of. */
        return fsync_parent_dir(path);

fail:
        (void) unlink(tmp);
        return r;
}

/* Grows *buf (holding len bytes) to alloc + 1 bytes; a secret's old copy
 * is wiped, where realloc() would leave it in freed memory. */
static int grow(char **buf, size_t len, size_t alloc, ReadFlags flags) {
        char *n;

        if (!(flags & READ_SECRET)) {
                n = realloc(*buf, alloc + 1);
                if (!n)
                        return -ENOMEM;
                *buf = n;
                return 0;
        }
        n = malloc(alloc + 1);
        if (!n)
                return -ENOMEM;
        memcpy(n, *buf, len);
        *buf = erase_and_free_sized(*buf, len);
        *buf = n;
        return 0;
}

int read_fd_capped_flags(int fd, size_t max_size, ReadFlags flags, char **ret, size_t *ret_len) {
        char *buf = NULL;
        size_t len = 0, alloc;
        struct stat st;
        int r;

        if (fd < 0 || !ret)
                return -EINVAL;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if ((uint64_t) st.st_size > max_size)
                return -EFBIG;

        /* The size may change under us: read until EOF, never past the cap. */
        alloc = (size_t) st.st_size + 1;
        buf = malloc(alloc + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k;

                if (len == alloc) {
                        if (alloc > max_size) {
                                r = -EFBIG;
                                goto fail;
                        }
                        alloc = alloc * 2 > max_size + 1 ? max_size + 1 : alloc * 2;
                        r = grow(&buf, len, alloc, flags);
                        if (r < 0)
                                goto fail;
                }
                k = read(fd, buf + len, alloc - len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        goto fail;
                }
                if (k == 0)
                        break;
                len += (size_t) k;
        }
        if (len > max_size) {
                r = -EFBIG;
                goto fail;
        }
        buf[len] = '\0';
        if (ret_len)
                *ret_len = len;
        *ret = buf;
        return 0;

fail:
        if (flags & READ_SECRET)
                explicit_bzero(buf, len);
        free(buf);
        return r;
}

int read_fd_capped(int fd, size_t max_size, char **ret, size_t *ret_len) {
        return read_fd_capped_flags(fd, max_size, 0, ret, ret_len);
}

int read_file_capped(const char *path, size_t max_size, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = -1;

        if (!path || !ret)
                return -EINVAL;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        return read_fd_capped(fd, max_size, ret, ret_len);
}
