/* SPDX-License-Identifier: GPL-2.0-or-later */
/* state.json: load, save, parse, format. */
#include "agent/state.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup-libs.h"
#include "util/fileio.h"
#include "util/fs-check.h"
#include "util/log.h"

#define STATE_VERSION 1

void state_done(State *s) {
        free(s->accepted_digest);
        free(s->accepted_server);
        free(s->accepted_consumer);
        free(s->last_result);
        free(s->last_message);
        free(s->phase);
        free(s->libvirt_state);
        free(s->libvirt_error);
        free(s->busy);
        *s = (State){};
}

int state_set_string(char **field, const char *value) {
        char *n = NULL;

        if (value) {
                n = strdup(value);
                if (!n)
                        return -ENOMEM;
        }
        free(*field);
        *field = n;
        return 0;
}

/* Field tables keep parse and format symmetric. */
typedef struct StateString {
        const char *name;
        size_t offset;
} StateString;

typedef struct StateNumber {
        const char *name;
        size_t offset;
        enum { NUM_U64, NUM_I64, NUM_U32, NUM_LONG } kind;
} StateNumber;

static const StateString state_strings[] = {
        { "accepted_digest", offsetof(State, accepted_digest) },
        { "accepted_server", offsetof(State, accepted_server) },
        { "accepted_consumer", offsetof(State, accepted_consumer) },
        { "last_result", offsetof(State, last_result) },
        { "last_message", offsetof(State, last_message) },
        { "phase", offsetof(State, phase) },
        { "libvirt_state", offsetof(State, libvirt_state) },
        { "libvirt_error", offsetof(State, libvirt_error) },
        { "busy", offsetof(State, busy) },
};

static const StateNumber state_numbers[] = {
        { "accepted_at_usec", offsetof(State, accepted_at_usec), NUM_U64 },
        { "accepted_guests", offsetof(State, accepted_guests), NUM_U64 },
        { "last_attempt_usec", offsetof(State, last_attempt_usec), NUM_U64 },
        { "last_http_status", offsetof(State, last_http_status), NUM_LONG },
        { "consecutive_failures", offsetof(State, consecutive_failures), NUM_U32 },
        { "pid", offsetof(State, pid), NUM_I64 },
        { "updated_usec", offsetof(State, updated_usec), NUM_U64 },
        { "libvirt_since_usec", offsetof(State, libvirt_since_usec), NUM_U64 },
        { "guests", offsetof(State, guests), NUM_U64 },
        { "next_report_usec", offsetof(State, next_report_usec), NUM_U64 },
        { "reports_sent", offsetof(State, reports_sent), NUM_U64 },
        { "loop_wakeups", offsetof(State, loop_wakeups), NUM_U64 },
        { "unconfirmed_until_usec", offsetof(State, unconfirmed_until_usec), NUM_U64 },
        { "failing_since_usec", offsetof(State, failing_since_usec), NUM_U64 },
        { "started_usec", offsetof(State, started_usec), NUM_U64 },
        /* In ProtoResultKind order (proto_result_kind_to_string()'s names). */
        { "requests_ok", offsetof(State, requests[0]), NUM_U64 },
        { "requests_retry_after", offsetof(State, requests[1]), NUM_U64 },
        { "requests_temporary", offsetof(State, requests[2]), NUM_U64 },
        { "requests_gone", offsetof(State, requests[3]), NUM_U64 },
        { "requests_auth", offsetof(State, requests[4]), NUM_U64 },
        { "requests_permanent", offsetof(State, requests[5]), NUM_U64 },
        { "requests_local", offsetof(State, requests[6]), NUM_U64 },
};

/* JSON numbers are doubles: exact to 2^53, which holds microseconds since
 * 1970 until the year 2255. Values are written as integers. */
#define JSON_EXACT_MAX 9007199254740992.0

int state_parse(const char *buf, size_t len, State *ret) {
        _cleanup_(cJSON_Deletep) cJSON *root = NULL;
        const cJSON *v;
        State s = {};

        if (!buf || len == 0 || memchr(buf, '\0', len))
                return -EBADMSG;
        {
                const char *end = NULL;

                root = cJSON_ParseWithLengthOpts(buf, len, &end, false);
                if (!cJSON_IsObject(root) || !end)
                        return -EBADMSG;
                /* Nothing but whitespace may follow the object. */
                for (; end < buf + len; end++)
                        if (!strchr(" \t\r\n", *end))
                                return -EBADMSG;
        }
        v = cJSON_GetObjectItemCaseSensitive(root, "version");
        if (!cJSON_IsNumber(v) || v->valuedouble != STATE_VERSION)
                return -EBADMSG;

        for (size_t i = 0; i < sizeof state_strings / sizeof state_strings[0]; i++) {
                /* An offsetof() into State: aligned (the (void *) tells -Wcast-align). */
                char **f = (char **) (void *) ((char *) &s + state_strings[i].offset);

                v = cJSON_GetObjectItemCaseSensitive(root, state_strings[i].name);
                if (!v || cJSON_IsNull(v))
                        continue;
                if (!cJSON_IsString(v) || strlen(v->valuestring) > 4096)
                        goto bad;
                *f = strdup(v->valuestring);
                if (!*f) {
                        state_done(&s);
                        return -ENOMEM;
                }
        }
        for (size_t i = 0; i < sizeof state_numbers / sizeof state_numbers[0]; i++) {
                void *f = (char *) &s + state_numbers[i].offset;
                double d;

                v = cJSON_GetObjectItemCaseSensitive(root, state_numbers[i].name);
                if (!v || cJSON_IsNull(v))
                        continue;
                if (!cJSON_IsNumber(v))
                        goto bad;
                d = v->valuedouble;
                if (d != d || d > JSON_EXACT_MAX || d < -JSON_EXACT_MAX || d != (double) (int64_t) d)
                        goto bad;
                switch (state_numbers[i].kind) {
                case NUM_U64:
                        if (d < 0)
                                goto bad;
                        *(uint64_t *) f = (uint64_t) d;
                        break;
                case NUM_I64:
                        *(int64_t *) f = (int64_t) d;
                        break;
                case NUM_U32:
                        if (d < 0 || d > UINT32_MAX)
                                goto bad;
                        *(uint32_t *) f = (uint32_t) d;
                        break;
                case NUM_LONG:
                        if (d < -1e9 || d > 1e9)
                                goto bad;
                        *(long *) f = (long) d;
                        break;
                }
        }
        *ret = s;
        return 0;
bad:
        state_done(&s);
        return -EBADMSG;
}

int state_format(const State *s, char **ret) {
        _cleanup_(cJSON_Deletep) cJSON *root = cJSON_CreateObject();
        char *text;

        if (!root || !cJSON_AddNumberToObject(root, "version", STATE_VERSION))
                return -ENOMEM;
        for (size_t i = 0; i < sizeof state_strings / sizeof state_strings[0]; i++) {
                char *const *f = (char *const *) (const void *) ((const char *) s + state_strings[i].offset);

                if (*f && !cJSON_AddStringToObject(root, state_strings[i].name, *f))
                        return -ENOMEM;
        }
        for (size_t i = 0; i < sizeof state_numbers / sizeof state_numbers[0]; i++) {
                const void *f = (const char *) s + state_numbers[i].offset;
                double d = 0;

                switch (state_numbers[i].kind) {
                case NUM_U64:
                        d = (double) *(const uint64_t *) f;
                        break;
                case NUM_I64:
                        d = (double) *(const int64_t *) f;
                        break;
                case NUM_U32:
                        d = (double) *(const uint32_t *) f;
                        break;
                case NUM_LONG:
                        d = (double) *(const long *) f;
                        break;
                }
                if (!cJSON_AddNumberToObject(root, state_numbers[i].name, d))
                        return -ENOMEM;
        }
        text = cJSON_Print(root);
        if (!text)
                return -ENOMEM;
        *ret = text;
        return 0;
}

static char *state_path(const char *dir) {
        char *p = NULL;

        if (asprintf(&p, "%s/%s", dir, STATE_FILE) < 0)
                return NULL;
        return p;
}

int state_load(const char *dir, State *ret) {
        _cleanup_free_ char *path = state_path(dir), *text = NULL;
        size_t len;
        int r;

        if (!path)
                return -ENOMEM;
        /* Never follow a symlink planted in the state dir, and never trust a
         * state file someone else could have written (-ELOOP, -EPERM). */
        r = read_file_trusted(path, STATE_FILE_MAX, FS_CHECK_NOFOLLOW, &text, &len, NULL, 0);
        if (r < 0)
                return r;
        return state_parse(text, len, ret);
}

int state_save(const char *dir, const State *s) {
        _cleanup_free_ char *path = state_path(dir), *text = NULL, *clean = NULL;
        int r;

        if (!path)
                return -ENOMEM;
        r = state_format(s, &text);
        if (r < 0)
                return r;
        /* A server's message may quote a secret (Satellite: "Couldn't find
         * activation key 'X'"): never on disk. */
        clean = log_redact(text);
        if (!clean)
                return -ENOMEM;
        return write_file_atomic(path, clean, strlen(clean), 0600);
}
