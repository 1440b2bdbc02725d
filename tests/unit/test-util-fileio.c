/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Atomic writes and capped reads, including the failure paths. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fileio.h"

static char dir[] = "/tmp/hvmap-test-fileio-XXXXXX";

static void setup(void) {
        cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void) {
        DIR *d = opendir(dir);
        struct dirent *de;

        if (d) {
                while ((de = readdir(d)))
                        if (de->d_name[0] != '.' || (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")))
                                (void) unlinkat(dirfd(d), de->d_name, 0);
                closedir(d);
        }
        (void) rmdir(dir);
}

static size_t count_entries(void) {
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;

        cr_assert_not_null(d);
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

TestSuite(fileio, .init = setup, .fini = teardown);

Test(fileio, write_then_read_back_with_mode) {
        _cleanup_free_ char *path = NULL, *got = NULL;
        struct stat st;
        size_t len;

        cr_assert_gt(asprintf(&path, "%s/state.json", dir), 0);
        cr_assert_eq(write_file_atomic(path, "{\"a\":1}\n", 8, 0600), 0);
        cr_assert_eq(stat(path, &st), 0);
        cr_expect_eq(st.st_mode & 07777, 0600);
        cr_assert_eq(read_file_capped(path, 1024, &got, &len), 0);
        cr_expect_eq(len, 8);
        cr_expect_str_eq(got, "{\"a\":1}\n");
        cr_expect_eq(count_entries(), 1, "no temporary file left behind");
}

Test(fileio, replace_keeps_other_mode_and_content) {
        _cleanup_free_ char *path = NULL, *got = NULL;
        struct stat st;

        cr_assert_gt(asprintf(&path, "%s/cert.pem", dir), 0);
        cr_assert_eq(write_file_atomic(path, "old", 3, 0644), 0);
        cr_assert_eq(write_file_atomic(path, "new-content", 11, 0640), 0);
        cr_assert_eq(stat(path, &st), 0);
        cr_expect_eq(st.st_mode & 07777, 0640);
        cr_assert_eq(read_file_capped(path, 1024, &got, NULL), 0);
        cr_expect_str_eq(got, "new-content");
        cr_expect_eq(count_entries(), 1);
}

Test(fileio, empty_file) {
        _cleanup_free_ char *path = NULL, *got = NULL;
        size_t len = 5;

        cr_assert_gt(asprintf(&path, "%s/empty", dir), 0);
        cr_assert_eq(write_file_atomic(path, NULL, 0, 0600), 0);
        cr_assert_eq(read_file_capped(path, 10, &got, &len), 0);
        cr_expect_eq(len, 0);
        cr_expect_str_eq(got, "");
}

Test(fileio, failure_leaves_target_untouched) {
        _cleanup_free_ char *path = NULL, *missing = NULL, *got = NULL;

        cr_assert_gt(asprintf(&path, "%s/keep", dir), 0);
        cr_assert_eq(write_file_atomic(path, "precious", 8, 0600), 0);

        /* The target name is a directory: rename must fail, nothing is lost. */
        cr_assert_gt(asprintf(&missing, "%s/sub", dir), 0);
        cr_assert_eq(mkdir(missing, 0700), 0);
        cr_expect_lt(write_file_atomic(missing, "x", 1, 0600), 0);
        cr_expect_eq(count_entries(), 2, "only 'keep' and 'sub', no temp file");
        (void) rmdir(missing);

        free(missing);
        cr_assert_gt(asprintf(&missing, "%s/no/such/dir/file", dir), 0);
        cr_expect_eq(write_file_atomic(missing, "x", 1, 0600), -ENOENT);

        cr_assert_eq(read_file_capped(path, 100, &got, NULL), 0);
        cr_expect_str_eq(got, "precious");
}

Test(fileio, bad_arguments) {
        cr_expect_eq(write_file_atomic("", "x", 1, 0600), -EINVAL);
        cr_expect_eq(write_file_atomic(NULL, "x", 1, 0600), -EINVAL);
        cr_expect_eq(write_file_atomic("/tmp/", "x", 1, 0600), -EISDIR);
        cr_expect_eq(write_file_atomic("/tmp/x", NULL, 1, 0600), -EINVAL);
}

Test(fileio, read_cap_and_non_regular) {
        _cleanup_free_ char *path = NULL, *got = NULL;
        char big[4096];

        memset(big, 'A', sizeof big);
        cr_assert_gt(asprintf(&path, "%s/big", dir), 0);
        cr_assert_eq(write_file_atomic(path, big, sizeof big, 0600), 0);
        cr_expect_eq(read_file_capped(path, 4095, &got, NULL), -EFBIG);
        cr_expect_null(got);
        cr_expect_eq(read_file_capped(path, 4096, &got, NULL), 0);
        cr_expect_eq(strlen(got), 4096);
        free(got);
        got = NULL;
        cr_expect_eq(read_file_capped(dir, 4096, &got, NULL), -EISDIR);
        cr_expect_eq(read_file_capped("/dev/null", 4096, &got, NULL), -EINVAL);
        cr_expect_eq(read_file_capped("/nonexistent/file", 4096, &got, NULL), -ENOENT);
}

Test(fileio, read_does_not_leak_fds) {
        _cleanup_free_ char *path = NULL;
        int before, after;

        cr_assert_gt(asprintf(&path, "%s/f", dir), 0);
        cr_assert_eq(write_file_atomic(path, "x", 1, 0600), 0);
        before = open("/dev/null", O_RDONLY | O_CLOEXEC);
        close(before);
        for (int i = 0; i < 200; i++) {
                char *got = NULL;
                cr_assert_eq(read_file_capped(path, 10, &got, NULL), 0);
                free(got);
                cr_assert_eq(write_file_atomic(path, "y", 1, 0600), 0);
        }
        after = open("/dev/null", O_RDONLY | O_CLOEXEC);
        close(after);
        cr_expect_eq(before, after, "lowest free fd unchanged after 200 rounds");
}
