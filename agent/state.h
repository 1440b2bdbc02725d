/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daemon's persisted state (state.json in the state dir): what the
 * server last accepted, the last outcome, and the live status `hvmap status`
 * shows. Written atomically; parsing is pure and fuzzable. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATE_FILE "state.json"
/* A state file is a few hundred bytes; anything past this is not ours. */
#define STATE_FILE_MAX (64 * 1024)
/* The request counters: one per ProtoResultKind (report.c checks). */
#define STATE_REQUEST_KINDS 7

typedef struct State {
        /* The server's view: the digest of the last mapping it accepted. */
        char *accepted_digest; /* NULL: nothing accepted yet */
        uint64_t accepted_at_usec; /* CLOCK_REALTIME */
        uint64_t accepted_guests;
        char *accepted_server; /* base URL it was accepted by */
        char *accepted_consumer; /* consumer uuid it was accepted for */

        /* A report whose fate is unknown (timed out, dropped by a reload
         * or stop, a gateway error) may still be applied by the server until
         * this time (CLOCK_REALTIME, 0 = none): a report accepted before it
         * is sent once more after it. */
        uint64_t unconfirmed_until_usec;

        /* The last attempt and its outcome. */
        uint64_t last_attempt_usec; /* CLOCK_REALTIME, 0 = never */
        char *last_result; /* "ok", "retry-after", "temporary", "gone", "auth", "permanent", "local" */
        long last_http_status;
        char *last_message; /* one line; NULL when the last attempt was accepted */
        uint32_t consecutive_failures;
        /* CLOCK_REALTIME of the first of those failures (0: none): "failing
         * for an hour" and `status` tell from it how long it has lasted. */
        uint64_t failing_since_usec;

        /* Every answer (and every request that could not start: "local"),
         * by result, in ProtoResultKind order; they only grow. */
        uint64_t requests[STATE_REQUEST_KINDS];

        /* Live status, refreshed by the running daemon. */
        int64_t pid; /* 0 when no daemon wrote it */
        uint64_t updated_usec; /* CLOCK_REALTIME of this write */
        char *phase; /* "watching", "backing-off", "rate-limited", "auth-failed", "consumer-deleted", ... */
        char *libvirt_state; /* "connected", "connecting", "not-responding" */
        uint64_t libvirt_since_usec;
        char *libvirt_error;
        uint64_t guests; /* guests reported (after filters) */
        /* CLOCK_REALTIME of the next report or registration the daemon will
         * start by itself; 0 = none scheduled (nothing to send, or waiting
         * for an operator: not registered, consumer deleted). */
        uint64_t next_report_usec;
        char *busy; /* the work in flight ("report", "registration", ...), NULL = none */
        uint64_t started_usec; /* CLOCK_REALTIME the daemon started */
        uint64_t reports_sent; /* reports the server accepted, the daemon's and `hvmap report`'s */
        uint64_t loop_wakeups;
} State;

void state_done(State *s);

/* Parses state.json text (exactly len bytes). Unknown keys are ignored, a
 * wrong type or a missing version is -EBADMSG. Pure. */
int state_parse(const char *buf, size_t len, State *ret);
/* Formats s as JSON (caller frees). Pure. */
int state_format(const State *s, char **ret);

/* Loads dir/state.json: -ENOENT when there is none. Does not log. */
int state_load(const char *dir, State *ret);
/* Writes dir/state.json atomically (0600). Does not log. */
int state_save(const char *dir, const State *s);

/* Replaces *field with a copy of value (NULL clears); -ENOMEM. */
int state_set_string(char **field, const char *value);
