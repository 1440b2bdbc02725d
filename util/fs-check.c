/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Ownership, permission and symlink checks for the files hvmap trusts. */
#include "util/fs-check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fileio.h"

/* The directory path is in, as a new string; NULL on ENOMEM. */
static char *parent_of(const char *path) {
        const char *slash = strrchr(path, '/');

        if (!slash)
                return strdup(".");
        if (slash == path)
                return strdup("/");
        return strndup(path, (size_t) (slash - path));
}

/* The owner of the directory path is in, or (uid_t) -1. */
static uid_t parent_owner(const char *path) {
        _cleanup_free_ char *dir = parent_of(path);
        struct stat st;

        if (!dir || stat(dir, &st) < 0)
                return (uid_t) -1;
        return st.st_uid;
}

/* Group write is harmless when the group is root's or our own. */
static bool group_is_ours(gid_t gid) {
        return gid == 0 || gid == getegid();
}

bool fs_mode_readable_by_others(const struct stat *st) {
        return (st->st_mode & S_IROTH) || ((st->st_mode & S_IRGRP) && !group_is_ours(st->st_gid));
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
        if ((st->st_mode & S_IWGRP) && !group_is_ours(st->st_gid)) {
                if (reason)
                        (void) snprintf(reason, reasonsz,
                                        "%s is writable by group %u (mode %04o), so its members could have "
                                        "changed it; run chmod g-w %s",
                                        path, (unsigned) st->st_gid, (unsigned) (st->st_mode & 07777), path);
                return -EPERM;
        }
        return 0;
}

int fs_check_parent(const char *path, char *reason, size_t reasonsz, char *warning, size_t warningsz) {
        _cleanup_free_ char *dir = parent_of(path);
        struct stat st;
        bool others;

        if (warning && warningsz > 0)
                warning[0] = 0;
        if (!dir)
                return -ENOMEM;
        if (stat(dir, &st) < 0)
                return -errno;
        others = !(st.st_mode & S_ISVTX) &&
                 ((st.st_mode & S_IWOTH) || ((st.st_mode & S_IWGRP) && !group_is_ours(st.st_gid)));
        if (!others)
                return 0;
        if (st.st_uid != 0 && st.st_uid != geteuid()) {
                if (reason)
                        (void) snprintf(
                                reason, reasonsz,
                                "%s is in %s, which uid %u owns and %s may write to (mode %04o), so "
                                "they could have replaced it; run chmod o-w,g-w %s, or keep the file "
                                "elsewhere",
                                path, dir, (unsigned) st.st_uid,
                                st.st_mode & S_IWOTH ? "every user" : "its group",
                                (unsigned) (st.st_mode & 07777), dir);
                return -EPERM;
        }
        if (warning)
                (void) snprintf(
                        warning, warningsz,
                        "%s is writable by %s (mode %04o), so they could replace %s; run chmod 0700 %s", dir,
                        st.st_mode & S_IWOTH ? "every user" : "its group", (unsigned) (st.st_mode & 07777),
                        path, dir);
        return 0;
}

int read_file_trusted(const char *path, size_t max_size, FsCheckFlags flags, char **ret, size_t *ret_len,
                      char *reason, size_t reasonsz) {
        _cleanup_close_ int fd = -1;
        char warning[512];
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
        r = fs_check_parent(path, reason, reasonsz, warning, sizeof(warning));
        if (r < 0)
                return r;
        /* Checked on the opened descriptor: the file cannot be swapped in between. */
        r = read_fd_capped_flags(fd, max_size, flags & FS_CHECK_SECRET ? READ_SECRET : 0, ret, ret_len);
        if (r < 0)
                return r;
        if (!reason || reasonsz == 0)
                return 0;
        if ((flags & FS_CHECK_SECRET) && fs_mode_readable_by_others(&st))
                (void) snprintf(reason, reasonsz,
                                "%s holds a secret and is readable by %s (mode %04o); run chmod 0600 %s",
                                path, st.st_mode & S_IROTH ? "every user" : "its group",
                                (unsigned) (st.st_mode & 07777), path);
        else
                (void) snprintf(reason, reasonsz, "%s", warning);
        return 0;
}
