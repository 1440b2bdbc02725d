/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Trusted-file reads: foreign owner, world-writable and symlinks refused
 * with a sentence naming the file and the fix; the cap still applies. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/fs-check.h"

static char dir[] = "/tmp/hvmap-test-fs-check-XXXXXX";

static void setup(void) {
        cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void) {
        DIR *d = opendir(dir);
        struct dirent *de;

        if (d) {
                while ((de = readdir(d)))
                        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                                (void) unlinkat(dirfd(d), de->d_name, 0);
                closedir(d);
        }
        (void) rmdir(dir);
}

static char *make(const char *name, const char *text, mode_t mode) {
        char *p = NULL;

        cr_assert_geq(asprintf(&p, "%s/%s", dir, name), 0);
        cr_assert_eq(write_file_atomic(p, text, strlen(text), mode), 0);
        cr_assert_eq(chmod(p, mode), 0); /* whatever the umask */
        return p;
}

TestSuite(fs_check, .init = setup, .fini = teardown);

Test(fs_check, own_file_is_read) {
        _cleanup_free_ char *p = make("ok.conf", "[report]\n", 0644), *buf = NULL;
        char reason[256] = "x";
        size_t len = 0;

        cr_assert_eq(read_file_trusted(p, 1024, FS_CHECK_NOFOLLOW, &buf, &len, reason, sizeof(reason)), 0);
        cr_expect_str_eq(buf, "[report]\n");
        cr_expect_eq(len, 9);
        cr_expect_str_eq(reason, "");
}

Test(fs_check, world_writable_is_refused_with_the_fix) {
        _cleanup_free_ char *p = make("ww.conf", "x", 0666), *buf = NULL;
        char reason[512];

        cr_assert_eq(read_file_trusted(p, 1024, 0, &buf, NULL, reason, sizeof(reason)), -EPERM);
        cr_expect_null(buf);
        cr_expect_not_null(strstr(reason, p), "%s", reason);
        cr_expect_not_null(strstr(reason, "writable by every user (mode 0666)"), "%s", reason);
        cr_expect_not_null(strstr(reason, "chmod o-w"), "%s", reason);
}

Test(fs_check, foreign_owner_is_refused_with_the_fix) {
        _cleanup_free_ char *p = make("foreign.conf", "x", 0644), *buf = NULL;
        char reason[512];
        uid_t other = geteuid() == 0 ? 65534 : 0;

        if (geteuid() != 0)
                cr_skip_test("needs root to give a file away");
        cr_assert_eq(chown(p, other, (gid_t) -1), 0);
        cr_assert_eq(read_file_trusted(p, 1024, 0, &buf, NULL, reason, sizeof(reason)), -EPERM);
        cr_expect_not_null(strstr(reason, "owned by uid 65534"), "%s", reason);
        cr_expect_not_null(strstr(reason, "chown"), "%s", reason);
        /* The directory's owner may own it: it could replace it anyway. */
        cr_assert_eq(chown(dir, other, (gid_t) -1), 0);
        cr_expect_eq(read_file_trusted(p, 1024, 0, &buf, NULL, reason, sizeof(reason)), 0);
        free(buf);
        buf = NULL;
        cr_assert_eq(chown(dir, 0, (gid_t) -1), 0);
        /* Root-owned is always fine. */
        cr_assert_eq(chown(p, 0, (gid_t) -1), 0);
        cr_expect_eq(read_file_trusted(p, 1024, 0, &buf, NULL, reason, sizeof(reason)), 0);
}

Test(fs_check, symlink_is_refused_only_when_asked) {
        _cleanup_free_ char *target = make("target", "secret", 0600), *link = NULL, *buf = NULL;
        char reason[512];

        cr_assert_geq(asprintf(&link, "%s/state.json", dir), 0);
        cr_assert_eq(symlink(target, link), 0);
        cr_assert_eq(read_file_trusted(link, 1024, FS_CHECK_NOFOLLOW, &buf, NULL, reason, sizeof(reason)),
                     -ELOOP);
        cr_expect_null(buf);
        cr_expect_not_null(strstr(reason, "symbolic link"), "%s", reason);
        cr_expect_not_null(strstr(reason, link), "%s", reason);
        cr_expect_eq(read_file_trusted(link, 1024, 0, &buf, NULL, NULL, 0), 0);
        cr_expect_str_eq(buf, "secret");
}

Test(fs_check, cap_missing_and_directories) {
        _cleanup_free_ char *p = make("big", "0123456789", 0644), *buf = NULL, *missing = NULL;

        cr_expect_eq(read_file_trusted(p, 9, 0, &buf, NULL, NULL, 0), -EFBIG);
        cr_expect_eq(read_file_trusted(p, 10, 0, &buf, NULL, NULL, 0), 0);
        cr_assert_geq(asprintf(&missing, "%s/none", dir), 0);
        cr_expect_eq(read_file_trusted(missing, 10, 0, &buf, NULL, NULL, 0), -ENOENT);
        cr_expect_eq(read_file_trusted(dir, 10, 0, &buf, NULL, NULL, 0), -EISDIR);
        cr_expect_eq(read_file_trusted("/dev/null", 10, 0, &buf, NULL, NULL, 0), -EINVAL);
}

/* Issue 16: group write is refused too, unless the group is root's or ours
 * (0664 root:nogroup was accepted). */
Test(fs_check, group_writable_by_another_group_is_refused) {
        _cleanup_free_ char *p = make("gw.conf", "x", 0664), *buf = NULL;
        char reason[512];

        if (geteuid() != 0)
                cr_skip_test("needs root to give the file to another group");
        cr_assert_eq(chown(p, 0, 65534), 0);
        cr_assert_eq(read_file_trusted(p, 1024, 0, &buf, NULL, reason, sizeof(reason)), -EPERM);
        cr_expect_not_null(strstr(reason, p), "%s", reason);
        cr_expect_not_null(strstr(reason, "group 65534"), "%s", reason);
        cr_expect_not_null(strstr(reason, "chmod g-w"), "%s", reason);
        /* The same mode with root's group is root's business. */
        cr_assert_eq(chown(p, 0, 0), 0);
        cr_expect_eq(read_file_trusted(p, 1024, 0, &buf, NULL, reason, sizeof(reason)), 0, "%s", reason);
}

/* A directory others may write lets them replace the file in it. */
Test(fs_check, writable_directory_of_another_user_is_refused) {
        _cleanup_free_ char *sub = NULL, *p = NULL, *buf = NULL;
        char reason[512];

        if (geteuid() != 0)
                cr_skip_test("needs root to give the directory away");
        cr_assert_geq(asprintf(&sub, "%s/d", dir), 0);
        cr_assert_eq(mkdir(sub, 0700), 0);
        cr_assert_geq(asprintf(&p, "%s/d/hvmap.conf", dir), 0);
        cr_assert_eq(write_file_atomic(p, "x", 1, 0644), 0);
        cr_assert_eq(chown(sub, 65534, 65534), 0);
        cr_assert_eq(chmod(sub, 0777), 0);
        cr_assert_eq(read_file_trusted(p, 1024, 0, &buf, NULL, reason, sizeof(reason)), -EPERM);
        cr_expect_not_null(strstr(reason, sub), "%s", reason);
        cr_expect_not_null(strstr(reason, "chmod o-w"), "%s", reason);
        /* Sticky (like /tmp): only the file's owner may replace it. */
        cr_assert_eq(chmod(sub, 01777), 0);
        cr_expect_eq(read_file_trusted(p, 1024, 0, &buf, NULL, reason, sizeof(reason)), 0, "%s", reason);
        buf = mfree(buf);
        /* Ours (the state dir at 0777): read, with a warning. */
        cr_assert_eq(chown(sub, 0, 0), 0);
        cr_assert_eq(chmod(sub, 0777), 0);
        cr_expect_eq(read_file_trusted(p, 1024, 0, &buf, NULL, reason, sizeof(reason)), 0, "%s", reason);
        cr_expect_not_null(strstr(reason, sub), "no warning: \"%s\"", reason);
        cr_expect_not_null(strstr(reason, "chmod 0700"), "%s", reason);
        (void) unlink(p);
        (void) rmdir(sub);
}

/* A secret others can read is read, with a warning saying how to fix it. */
Test(fs_check, readable_secret_warns) {
        _cleanup_free_ char *p = make("key.pem", "secret", 0644), *q = make("own.pem", "secret", 0600),
                            *buf = NULL;
        char reason[512] = "x";

        cr_assert_eq(read_file_trusted(p, 1024, FS_CHECK_SECRET, &buf, NULL, reason, sizeof(reason)), 0);
        cr_expect_not_null(strstr(reason, p), "no warning: \"%s\"", reason);
        cr_expect_not_null(strstr(reason, "readable by"), "%s", reason);
        cr_expect_not_null(strstr(reason, "chmod 0600"), "%s", reason);
        buf = mfree(buf);
        cr_assert_eq(read_file_trusted(q, 1024, FS_CHECK_SECRET, &buf, NULL, reason, sizeof(reason)), 0);
        cr_expect_str_eq(reason, "");
        buf = mfree(buf);
        /* Not a secret: no warning. */
        cr_assert_eq(read_file_trusted(p, 1024, 0, &buf, NULL, reason, sizeof(reason)), 0);
        cr_expect_str_eq(reason, "");
}
