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
#include "util/fileio.h"

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
        /* Checked on the opened descriptor: the file cannot be swapped in between. */
        return read_fd_capped(fd, max_size, ret, ret_len);
}
