/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The one pseudo-random generator hvmap uses for jitter and spreading
 * (splitmix64: fast, 64-bit state, good enough for timing; nothing secret
 * depends on it), and its seeding. The daemon, its tests and the fleet
 * benchmark all use these, so the benchmark simulates what ships. */
#pragma once

#include <stdint.h>

/* Advances *state and returns the next number. Pure. */
uint64_t splitmix64(uint64_t *state);

/* A seed from getrandom(), else from the clock and pid. Never fails. */
uint64_t random_seed(void);
