/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The host's rhsm.conf, read the way subscription-manager reads it:
 * python-rhsm's RhsmConfigParser (rhsm/config.py) on iniparse's
 * SafeConfigParser, the parser RHEL's subscription-manager uses. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "agent/conf.h"
#include "util/cleanup.h"

typedef struct RhsmConf RhsmConf;

/* Parses rhsm.conf text as iniparse does (INIConfig._readfp): UTF-8 (a BOM
 * on the first line is skipped), lines end at \n, \r\n or \r; "[name]"
 * sections (names case-sensitive, [DEFAULT] applies to the sections the file
 * has); "key = value" or "key: value" with keys lower-cased; a value's
 * indented continuation lines are joined with \n; ";" after whitespace starts
 * an inline comment, "#" does not; lines starting with ";", "#" or "rem" are
 * comments. A line it cannot parse, text before the first section or text
 * that is not UTF-8 makes subscription-manager refuse the whole file:
 * -EBADMSG, with the 1-based line in *ret_line (0: not UTF-8). Returns 0 and
 * the parsed file in *ret (caller frees), or -ENOMEM. Pure. */
int rhsm_conf_parse(const char *text, size_t len, RhsmConf **ret, unsigned *ret_line);

RhsmConf *rhsm_conf_free(RhsmConf *rc);
DEFINE_TRIVIAL_CLEANUP_FUNC(RhsmConf *, rhsm_conf_free, rhsm_conf_freep)

/* Where a value rhsm_conf_get() returns came from. */
typedef enum RhsmSource {
        RHSM_SOURCE_FILE, /* the file's section (or its [DEFAULT]) */
        RHSM_SOURCE_BUILTIN, /* python-rhsm's DEFAULTS: the file does not set it */
} RhsmSource;

/* section.key as RhsmConfigParser.get() returns it: %(name)s interpolation
 * from the section and [DEFAULT] (10 levels), "%%" for "%", and python-rhsm's
 * recovery from a missing name (RhsmConfigParser.get bakes in DEFAULTS, which
 * can change what later calls see, as it does in python-rhsm). Returns 1 and
 * the value (*ret, caller frees; *ret_len bytes, NUL-terminated, may contain
 * NUL bytes), its source and its line (0 for a built-in); 0 when neither the
 * file nor python-rhsm's defaults know the key; -EINVAL when python-rhsm
 * raises instead (bad interpolation); -ENOMEM. */
int rhsm_conf_get(RhsmConf *rc, const char *section, const char *key, char **ret, size_t *ret_len,
                  RhsmSource *ret_source, unsigned *ret_line);

/* Python's int() of a string (safe_int in python-rhsm's connection.py):
 * surrounding whitespace, a sign, ASCII digits with single "_" between them.
 * Returns 0 and the value saturated to [INT64_MIN, INT64_MAX], or -EINVAL. */
int rhsm_python_int(const char *s, long long *ret);

/* Applies rhsm.conf to the keys of c that hvmap.conf and the command line left
 * at their defaults, as python-rhsm would use them: `insecure` is on only for
 * a non-zero integer; a port, timeout or proxy port that hvmap.conf would
 * refuse is clamped to hvmap's range, or ignored, and a proxy host without a
 * port gives no proxy port (proxy.port = 0: the environment's, else none).
 * Nothing in rhsm.conf is an error: each problem becomes a warning
 * ("FILE:LINE: ...", added to *warnings, a NULL-terminated list the caller
 * frees with strv_free) and the key keeps its default. Returns 0 or -ENOMEM.
 * Pure. */
int rhsm_conf_apply(Config *c, const char *file, const char *text, size_t len, char ***warnings);
