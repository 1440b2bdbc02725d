/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A main() for the fuzz targets when libFuzzer is not used: runs
 * LLVMFuzzerTestOneInput over every file named on the command line, or every
 * regular file inside a directory named there (not recursive, hidden files
 * skipped), so CI replays the corpus with any compiler. Exits 0 when every
 * input ran; an input that crashes the target aborts the process. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz.h"
#include "util/cleanup.h"
#include "util/fileio.h"

/* libFuzzer's default -max_len is 4096; seeds are allowed to be larger, but
 * nothing in a corpus should approach this. */
#define REPLAY_INPUT_MAX (1024 * 1024)

static int run_file(const char *path) {
        _cleanup_free_ char *buf = NULL;
        uint8_t *copy;
        size_t len;
        int r;

        r = read_file_capped(path, REPLAY_INPUT_MAX, &buf, &len);
        if (r < 0) {
                fprintf(stderr, "cannot read %s: %s\n", path, strerror(-r));
                return r;
        }
        /* An exact-size heap copy, so ASan sees a read one past the end. */
        copy = malloc(len ? len : 1);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, buf, len);
        fprintf(stderr, "running %s (%zu bytes)\n", path, len);
        (void) LLVMFuzzerTestOneInput(copy, len);
        free(copy);
        return 0;
}

static int hidden(const struct dirent *de) {
        return de->d_name[0] != '.';
}

static int run_dir(const char *dir, unsigned *n_run) {
        struct dirent **list = NULL;
        int n, ret = 0;

        n = scandir(dir, &list, hidden, alphasort);
        if (n < 0) {
                fprintf(stderr, "cannot list %s: %s\n", dir, strerror(errno));
                return -errno;
        }
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *path = NULL;
                struct stat st;

                if (asprintf(&path, "%s/%s", dir, list[i]->d_name) < 0) {
                        path = NULL;
                        ret = -ENOMEM;
                } else if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                        int r = run_file(path);
                        if (r < 0)
                                ret = r;
                        else
                                (*n_run)++;
                }
                free(list[i]);
        }
        free(list);
        return ret;
}

int main(int argc, char *argv[]) {
        unsigned n_run = 0;
        int ret = 0;

        if (argc < 2) {
                fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
                return 64;
        }
        for (int i = 1; i < argc; i++) {
                struct stat st;
                int r;

                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "cannot stat %s: %s\n", argv[i], strerror(errno));
                        ret = 1;
                        continue;
                }
                if (S_ISDIR(st.st_mode))
                        r = run_dir(argv[i], &n_run);
                else {
                        r = run_file(argv[i]);
                        if (r >= 0)
                                n_run++;
                }
                if (r < 0)
                        ret = 1;
        }
        /* An empty corpus proves nothing: say so by failing. */
        if (n_run == 0) {
                fprintf(stderr, "no inputs found\n");
                return 1;
        }
        fprintf(stderr, "%u inputs ran\n", n_run);
        return ret;
}
