/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Ownership, permission and symlink checks for the files hvmap trusts. */
#include "util/fs-check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"

/* The owner of the directory path is in, or (uid_t) -1. */
static uid_t parent_owner(const char *path) {
        _cleanup_free_ char *dir = NULL;
        const char *slash = strrchr(path, '/');
        struct stat st;

        if (!slash)
                dir = strdup(".");
        else if (slash == path)
                dir = strdup("/");
        else
                dir = strndup(path, (size_t) (slash - path));
        if (!dir || stat(dir, &st) < 0)
                return (uid_t) -1;
        return st.st_uid;
}

int fs_check_stat(const char *path, const struct stat *st, char *reason, size_t reasonsz) {
        uid_t me = geteuid();

        /* Whoever owns the directory can replace the file anyway: a state
         * dir owned by the service's user holds that user's files, which
         * root (register, status) reads too. */
        if (st->st_uid != 0 && st->st_uid != me && st->st_uid != parent_owner(path)) {
                if (reason)
                        (void) snprintf(
                                reason, reasonsz,
                                "%s is owned by uid %u, not by root, by hvmap's user (uid %u) or by its "
                                "directory's owner, so someone else could have written it; run chown %u %s "
                                "if it is yours",
                                path, (unsigned) st->st_uid, (unsigned) me, (unsigned) me, path);
                return -EPERM;
        }
        if (st->st_mode & S_IWOTH) {
                if (reason)
                        (void) snprintf(reason, reasonsz,
                                        "%s is writable by every user (mode %04o), so anyone could have "
                                        "changed it; run chmod o-w %s",
                                        path, (unsigned) (st->st_mode & 07777), path);
                return -EPERM;
        }
        return 0;
}

int read_file_trusted(const char *path, size_t max_size, FsCheckFlags flags, char **ret, size_t *ret_len,
                      char *reason, size_t reasonsz) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, alloc;
        struct stat st;
        int r;

        if (reason && reasonsz > 0)
                reason[0] = 0;
        if (!path || !ret)
                return -EINVAL;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
                                (flags & FS_CHECK_NOFOLLOW ? O_NOFOLLOW : 0));
        if (fd < 0) {
                r = -errno;
                if (r == -ELOOP && reason)
                        (void) snprintf(reason, reasonsz,
                                        "%s is a symbolic link, which hvmap never follows there; "
                                        "replace it with the file itself",
                                        path);
                return r;
        }
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        r = fs_check_stat(path, &st, reason, reasonsz);
        if (r < 0)
                return r;
        if ((uint64_t) st.st_size > max_size)
                return -EFBIG;

        /* Read to EOF, never past the cap: the size may change under us. */
        alloc = (size_t) st.st_size + 1;
        buf = malloc(alloc + 1);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k;

                if (len == alloc) {
                        char *n;

                        if (alloc > max_size)
                                return -EFBIG;
                        alloc = alloc * 2 > max_size + 1 ? max_size + 1 : alloc * 2;
                        n = realloc(buf, alloc + 1);
                        if (!n)
                                return -ENOMEM;
                        buf = n;
                }
                k = read(fd, buf + len, alloc - len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                len += (size_t) k;
        }
        if (len > max_size)
                return -EFBIG;
        buf[len] = 0;
        if (ret_len)
                *ret_len = len;
        *ret = TAKE_PTR(buf);
        return 0;
}
