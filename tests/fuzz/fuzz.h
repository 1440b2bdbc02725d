/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The libFuzzer entry point every tests/fuzz/fuzz-*.c defines, and small
 * helpers the targets share. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Runs one input; always returns 0 (libFuzzer's contract). A target that
 * finds an invariant broken calls fuzz_fail(), which aborts. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant the target checks was broken: print it and abort, so both
 * libFuzzer and the replay driver count the input as a crash. */
#define fuzz_fail(...)                                                                   \
        do {                                                                             \
                fprintf(stderr, "fuzz invariant broken at %s:%d: ", __FILE__, __LINE__); \
                fprintf(stderr, __VA_ARGS__);                                            \
                fputc('\n', stderr);                                                     \
                abort();                                                                 \
        } while (0)

#define fuzz_assert(expr)                       \
        do {                                    \
                if (!(expr))                    \
                        fuzz_fail("%s", #expr); \
        } while (0)
