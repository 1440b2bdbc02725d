/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Logging: levels, stderr or the journal with structured fields, and
 * redaction of registered secrets from every message before it is written. */
#pragma once

#include <stdbool.h>
#include <syslog.h>

#include "util/cleanup.h"

typedef enum LogTarget {
        LOG_TARGET_AUTO, /* journal when stderr is connected to it (JOURNAL_STREAM), else stderr */
        LOG_TARGET_STDERR,
        LOG_TARGET_JOURNAL,
} LogTarget;

void log_set_max_level(int level);
int log_get_max_level(void);
void log_set_target(LogTarget target);
/* Prefix each stderr line with a wall-clock timestamp (for the daemon). */
void log_set_timestamps(bool on);

/* "err", "warning", "notice", "info", "debug" (and the syslog numbers 3..7)
 * → level; -EINVAL for anything else. Pure. */
int log_level_from_string(const char *s);
const char *log_level_to_string(int level);

/* Registers a secret (password, activation key, key material): from now on
 * every occurrence of it in a log message is written as "********". The
 * string is copied; returns 0, -ENOMEM, or -ENOSPC when the table is full.
 * Thread-safe. */
int log_secret_register(const char *secret);
/* Forgets a secret registered earlier (the copy is wiped). */
void log_secret_unregister(const char *secret);
void log_secret_clear(void);

/* Redacts registered secrets in place from a NUL-terminated buffer of size
 * bufsz and replaces control characters by spaces (a hostile server cannot
 * forge log lines). Exposed for tests. */
void log_scrub(char *buf, size_t bufsz);

/* The scrubber for every text that leaves the process other than the log
 * (stdout, --json, state.json, `status`): returns a copy of text with every
 * registered secret written as "********", whatever its length; nothing else
 * changes (a JSON document keeps its newlines; use escape_control() from
 * util/escape.h for a single server string on a line). Call it on the whole
 * text just before it is written; a secret with a quote, backslash or
 * control character is escaped inside JSON, so redact such values before
 * they are serialised. text NULL gives NULL; NULL also on ENOMEM (write
 * nothing then). The caller frees. Thread-safe. */
char *log_redact(const char *text);
/* Whether text holds a registered secret. Thread-safe. */
bool log_has_secret(const char *text);

/* Writes one message. fields is NULL or a NULL-terminated array of
 * "KEY=value" journal fields (also scrubbed). error is an errno value (sign
 * ignored) whose text %m prints. Returns -abs(error), so callers can write
 * "return log_error_errno(r, ...)". Thread-safe. */
int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *const *fields, const char *format, ...) _printf_(7, 8);

#define log_full_errno_fields(level, error, fields, ...)                                                  \
        ({                                                                                                \
                int _level_ = (level), _e_ = (error);                                                     \
                (log_get_max_level() >= _level_)                                                          \
                        ? log_internal(_level_, _e_, __FILE__, __LINE__, __func__, (fields), __VA_ARGS__) \
                        : -abs(_e_);                                                                      \
        })

#define log_full_errno(level, error, ...) log_full_errno_fields(level, error, NULL, __VA_ARGS__)
#define log_full(level, ...) (void) log_full_errno(level, 0, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(error, ...) log_full_errno(LOG_DEBUG, error, __VA_ARGS__)
#define log_info_errno(error, ...) log_full_errno(LOG_INFO, error, __VA_ARGS__)
#define log_notice_errno(error, ...) log_full_errno(LOG_NOTICE, error, __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, error, __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_ERR, error, __VA_ARGS__)
