/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzzes proto_parse_consumer(): the server's JSON for a consumer DTO (register, GET/PUT /consumers). */
#include <string.h>

#include "proto/proto.h"
#include "tests/fuzz/fuzz.h"

#define CHARS_UUID "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ProtoConsumer v;

        memset(&v, 0xaa, sizeof(v)); /* a parser must not read what it did not set */
        if (proto_parse_consumer((const char *) data, size, &v) < 0)
                return 0;
        /* The uuid goes into URL paths: only [A-Za-z0-9-]. */
        fuzz_assert(v.uuid && *v.uuid);
        fuzz_assert(strspn(v.uuid, CHARS_UUID) == strlen(v.uuid));
        proto_consumer_done(&v);
        return 0;
}
