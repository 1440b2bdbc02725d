/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Checked string → number/duration/bool parsing. Pure: no logging, no
 * locale, no leading or trailing junk (whitespace included), no sign where
 * the type is unsigned. Each returns 0 and sets *ret, or a negative errno:
 * -EINVAL for malformed input, -ERANGE when the value does not fit; *ret is
 * untouched on failure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define USEC_PER_MSEC UINT64_C(1000)
#define USEC_PER_SEC UINT64_C(1000000)
#define USEC_PER_MINUTE (UINT64_C(60) * USEC_PER_SEC)
#define USEC_PER_HOUR (UINT64_C(60) * USEC_PER_MINUTE)
#define USEC_PER_DAY (UINT64_C(24) * USEC_PER_HOUR)

/* Decimal digits only, at most UINT64_MAX. */
int parse_uint64(const char *s, uint64_t *ret);
int parse_uint32(const char *s, uint32_t *ret);
/* Optional leading '-', then decimal digits. */
int parse_int64(const char *s, int64_t *ret);
/* Unsigned value that must lie in [min, max] (-ERANGE otherwise). */
int parse_uint64_range(const char *s, uint64_t min, uint64_t max, uint64_t *ret);
/* TCP port 1..65535. */
int parse_port(const char *s, uint16_t *ret);

/* yes/no, true/false, on/off, 1/0 (case-insensitive) → true/false. */
int parse_bool(const char *s, bool *ret);

/* A duration: one or more "<number>[unit]" terms, optionally separated by
 * spaces ("90", "500ms", "1h 30min", "2d"). Units: us, ms, s/sec/second(s),
 * m/min/minute(s), h/hour(s), d/day(s). A bare number counts in
 * default_unit_usec (e.g. USEC_PER_SEC for keys documented in seconds). The
 * total must fit in uint64_t microseconds. */
int parse_duration(const char *s, uint64_t default_unit_usec, uint64_t *ret_usec);

/* Formats usec as the shortest exact duration string parse_duration()
 * accepts ("1h 30min", "500ms", "0"). Returns buf. */
char *format_duration(char *buf, size_t bufsz, uint64_t usec);
#define DURATION_STRING_MAX 64
