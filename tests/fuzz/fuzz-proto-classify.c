/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzzes proto_classify(), which turns one HTTP outcome (status, headers,
 * body) into a typed result. Input layout: byte 0 picks the call, bytes 1-2
 * the status (big-endian, mod 1000), then the Retry-After header up to the
 * first '\n', the request uuid header up to the next '\n', the rest is the
 * body. A header line that is exactly "-" is absent. */
#include <string.h>

#define HVMAP_PROTO_INTERNAL 1
#include "proto/proto-internal.h"
#include "tests/fuzz/fuzz.h"
#include "util/cleanup.h"

static const ProtoCall calls[] = {
        PROTO_CALL_STATUS,     PROTO_CALL_OWNERS,     PROTO_CALL_REGISTER,  PROTO_CALL_UPDATE_GUESTS,
        PROTO_CALL_CHECKIN,    PROTO_CALL_JOB,        PROTO_CALL_HEARTBEAT, PROTO_CALL_GET_CONSUMER,
        PROTO_CALL_REGENERATE, PROTO_CALL_UNREGISTER,
};

/* Splits off the text up to '\n' (NULL for "-"); *p and *n advance past it. */
static char *take_line(const uint8_t **p, size_t *n, bool *ok) {
        const uint8_t *nl = memchr(*p, '\n', *n);
        size_t len;
        char *s;

        if (!nl) {
                *ok = false;
                return NULL;
        }
        len = (size_t) (nl - *p);
        s = malloc(len + 1);
        if (s) {
                memcpy(s, *p, len);
                s[len] = 0;
        }
        *p = nl + 1;
        *n -= len + 1;
        if (s && strcmp(s, "-") == 0) {
                free(s);
                return NULL;
        }
        return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *retry_after = NULL, *request_uuid = NULL, *body = NULL;
        ProtoResult res = {};
        ProtoHttpResponse resp = {};
        bool ok = true;
        ProtoCall call;
        int r;

        if (size < 3)
                return 0;
        call = calls[data[0] % ELEMENTSOF(calls)];
        resp.status = ((long) data[1] << 8 | data[2]) % 1000;
        data += 3;
        size -= 3;
        retry_after = take_line(&data, &size, &ok);
        if (!ok)
                return 0;
        request_uuid = take_line(&data, &size, &ok);
        if (!ok)
                return 0;
        /* http.c hands bodies over NUL-terminated; keep that so. */
        body = malloc(size + 1);
        if (!body)
                return 0;
        memcpy(body, data, size);
        body[size] = 0;

        resp.error_text = "";
        resp.body = body;
        resp.body_len = size;
        resp.retry_after = retry_after;
        resp.request_uuid = request_uuid;
        resp.content_type = "application/json";
        if (resp.status == 0) {
                /* No response: a transfer error. */
                resp.curl_code = 28;
                resp.error_text = "Operation timed out";
        }
        r = proto_classify(call, "PUT", "https://cp.example.com/candlepin/consumers/x?y=z", &resp,
                           "0f3eab12-0000-4000-8000-000000000001", 1700000000, &res);
        if (r >= 0) {
                fuzz_assert(res.kind < _PROTO_RESULT_MAX);
                fuzz_assert(proto_result_kind_to_string(res.kind));
                if (res.kind == PROTO_RESULT_RETRY_AFTER)
                        fuzz_assert(res.retry_after_sec <= PROTO_RETRY_AFTER_MAX_SEC);
                if (res.kind != PROTO_RESULT_OK)
                        fuzz_assert(res.message);
                /* The message goes to the log and status as one line. */
                if (res.message)
                        fuzz_assert(!strchr(res.message, '\n'));
        }
        proto_result_done(&res);
        return 0;
}
