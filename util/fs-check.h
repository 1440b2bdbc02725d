/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Reading files hvmap trusts (configuration, state, identity) only when
 * nobody else could have written them: owned by root, by the daemon's user
 * or by the directory's owner, not writable by everyone, and, where asked, not a symlink. Does not
 * log: the caller names the file and the reason once. */
#pragma once

#include <stddef.h>
#include <sys/stat.h>

typedef enum FsCheckFlags {
        FS_CHECK_NOFOLLOW = 1 << 0, /* a symlink at path is refused (-ELOOP), never followed */
} FsCheckFlags;

/* Whether st (of path, used in the message) may be trusted: a regular file
 * owned by root, by geteuid() or by the owner of the directory it is in,
 * without the world-writable bit. Returns 0,
 * or -EPERM with one sentence in reason saying what is wrong and how to fix
 * it ("... is writable by every user (mode 0666); run chmod o-w ..."). */
int fs_check_stat(const char *path, const struct stat *st, char *reason, size_t reasonsz);

/* read_file_capped() (util/fileio.h) for a file that must pass
 * fs_check_stat(), checked on the opened descriptor so the file cannot be
 * swapped in between. Returns 0 (*ret NUL-terminated, caller frees), -ENOENT,
 * -ELOOP (symlink under FS_CHECK_NOFOLLOW), -EPERM (untrusted), -EFBIG,
 * -EISDIR/-EINVAL (not a regular file) or another -errno; reason (may be
 * NULL) gets a sentence for -ELOOP and -EPERM, "" otherwise. */
int read_file_trusted(const char *path, size_t max_size, FsCheckFlags flags, char **ret, size_t *ret_len,
                      char *reason, size_t reasonsz);
