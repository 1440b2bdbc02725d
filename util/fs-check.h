/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Reading files hvmap trusts (configuration, state, identity, secrets) only
 * when nobody else could have written them: owned by root, by the daemon's
 * user or by the directory's owner, writable by nobody else (group write
 * only for root's group or ours), in a directory nobody else can write to,
 * and, where asked, not a symlink. Does not log: the caller names the file
 * and the reason once. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

typedef enum FsCheckFlags {
        FS_CHECK_NOFOLLOW = 1 << 0, /* a symlink at path is refused (-ELOOP), never followed */
        FS_CHECK_SECRET = 1 << 1, /* a key or password: warn when others may read it */
} FsCheckFlags;

/* Whether st (of path, used in the message) may be trusted: a regular file
 * owned by root, by geteuid() or by the owner of the directory it is in,
 * not writable by every user, nor by a group other than root's (gid 0) or
 * ours (getegid()). Returns 0, or -EPERM with one sentence in reason saying
 * what is wrong and how to fix it ("... is writable by every user (mode
 * 0666); run chmod o-w ..."). */
int fs_check_stat(const char *path, const struct stat *st, char *reason, size_t reasonsz);

/* Whether the directory path is in may be trusted with it: one that users
 * other than root and us may write to (mode o+w, or g+w for another group)
 * and is not sticky lets them replace the file. Such a directory owned by
 * someone else is refused (-EPERM, reason says why and what to do); owned by
 * root or us (a state directory left at 0777) it is accepted with a warning
 * sentence in warning. Returns 0 with warning "" when all is well. */
int fs_check_parent(const char *path, char *reason, size_t reasonsz, char *warning, size_t warningsz);

/* Whether users other than root and us may read a file of this mode: the
 * world, or a group other than root's or ours. */
bool fs_mode_readable_by_others(const struct stat *st);

/* read_file_capped() (util/fileio.h) for a file that must pass
 * fs_check_stat() and fs_check_parent(), checked on the opened descriptor
 * so the file cannot be swapped in between. Returns 0 (*ret NUL-terminated,
 * caller frees; a secret's buffer is wiped when it grows or on failure),
 * -ENOENT, -ELOOP (symlink under FS_CHECK_NOFOLLOW), -EPERM (untrusted),
 * -EFBIG, -EISDIR/-EINVAL (not a regular file) or another -errno. reason
 * (may be NULL) gets a sentence for -ELOOP and -EPERM; on success it is ""
 * or a warning the caller logs: a FS_CHECK_SECRET file others may read
 * ("run chmod 0600 ..."), or a directory others may write to. */
int read_file_trusted(const char *path, size_t max_size, FsCheckFlags flags, char **ret, size_t *ret_len,
                      char *reason, size_t reasonsz);
