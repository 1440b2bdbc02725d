/* SPDX-License-Identifier: GPL-2.0-or-later */
/* splitmix64 and its seed; see random.h. */
#include "util/random.h"

#include <sys/random.h>
#include <time.h>
#include <unistd.h>

uint64_t splitmix64(uint64_t *state) {
        uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

uint64_t random_seed(void) {
        uint64_t seed = 0;
        struct timespec ts;

        if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t) sizeof seed)
                return seed;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return ((uint64_t) ts.tv_sec << 32) ^ (uint64_t) ts.tv_nsec ^ ((uint64_t) getpid() << 16);
}
