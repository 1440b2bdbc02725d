/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What `hvmap status` makes of the state directory, pure: one verdict
 * (OK, WARNING, CRITICAL, UNKNOWN, with a sysexits status for plain
 * `status`), and its four forms: text, JSON (schema 1), the Nagios plugin
 * line (--check) and OpenMetrics. agent/verb-status.c gathers the view
 * (configuration, identity, state.json, whether the daemon runs). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "agent/state.h"
#include "proto/proto.h"

/* The Nagios plugin API's return codes, in that order. */
typedef enum StatusLevel {
        STATUS_OK = 0,
        STATUS_WARNING = 1,
        STATUS_CRITICAL = 2,
        STATUS_UNKNOWN = 3,
} StatusLevel;
const char *status_level_to_string(StatusLevel l); /* "OK", "WARNING", ... */

/* A certificate that expires within this is CRITICAL: Candlepin renews one
 * within 90 days of its end at the daemon's identity check, so one this
 * close means the renewal is not happening. */
#define STATUS_CERT_WARN_USEC (30 * UINT64_C(86400) * UINT64_C(1000000))

typedef struct StatusView {
        bool config_error; /* the configuration did not load: nothing else is known */
        const char *url; /* the configured server, NULL if none */
        const ProtoIdentity *id; /* NULL when not loaded */
        int id_r; /* the identity loader's result: 0, -ENOENT (not registered), ... */
        const char *id_err; /* its reason, NULL if none */
        const State *state; /* never NULL; all zero when state_r < 0 */
        int state_r; /* state_load()'s result: 0, -ENOENT (no state yet), else unreadable */
        const char *state_dir;
        bool running; /* a daemon holds the state directory (its pid in pid) */
        bool daemon_unknown; /* whether one does could not be found out */
        int64_t pid;
        const char *daemon_note; /* why it counts as not running / unknown; NULL if nothing to say */
        bool own; /* hvmap's own identity, not subscription-manager's */
        bool can_register; /* the daemon registers by itself (activation key and org configured) */
        uint64_t now_usec; /* CLOCK_REALTIME */
        /* No accepted report for longer than these: WARNING, CRITICAL (0:
         * never). */
        uint64_t warn_age_usec, crit_age_usec;
} StatusView;

#define STATUS_PROBLEMS_MAX 8
typedef struct StatusProblem {
        StatusLevel level;
        int exit_status; /* sysexits status plain `status` returns for it */
        const char *code; /* "not-registered", "daemon-down", ... */
        char text[512];
} StatusProblem;

typedef struct StatusVerdict {
        StatusLevel level; /* the worst problem's, OK without one */
        int exit_status; /* 0, or the first worst problem's */
        size_t n;
        StatusProblem problems[STATUS_PROBLEMS_MAX]; /* worst first */
        char summary[1024]; /* one line: the problems, or what is fine */
        /* What the forms share. */
        bool accepted_mine; /* the last accepted report was for the current identity */
        uint64_t age_usec; /* since that report (UINT64_MAX: none) */
} StatusVerdict;

/* Decides how things stand. Pure. */
void status_evaluate(const StatusView *v, StatusVerdict *ret);

/* `status --json`: the JSON text (caller frees), schema 1: always the same
 * keys, null for what is not known. -ENOMEM. Pure. */
int status_format_json(const StatusView *v, char **ret);
/* `status`: the text to f, one labelled line each. 0 or -ENOMEM. */
int status_print_text(const StatusView *v, FILE *f);
/* `status --check`: the Nagios plugin line with perfdata, to f. */
void status_print_check(const StatusView *v, FILE *f);
/* `status --format=openmetrics`: an OpenMetrics exposition ending in
 * "# EOF", to f; version goes into hvmap_build_info. */
void status_print_openmetrics(const StatusView *v, const char *version, FILE *f);
