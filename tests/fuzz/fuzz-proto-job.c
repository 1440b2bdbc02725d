/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzzes proto_parse_job(): the server's JSON for an async job status (check-in, GET /jobs). */
#include <string.h>

#include "proto/proto.h"
#include "tests/fuzz/fuzz.h"

#define CHARS_UUID "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ProtoJob v;

        memset(&v, 0xaa, sizeof(v)); /* a parser must not read what it did not set */
        if (proto_parse_job((const char *) data, size, &v) < 0)
                return 0;
        /* The id goes into a URL path: only [A-Za-z0-9_-]. */
        fuzz_assert(v.id && *v.id);
        fuzz_assert(strspn(v.id, CHARS_UUID "_") == strlen(v.id));
        fuzz_assert(proto_job_state_to_string(v.state));
        (void) proto_job_state_is_terminal(v.state);
        proto_job_done(&v);
        return 0;
}
