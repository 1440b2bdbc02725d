/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzzes proto_parse_status(): the server's JSON for GET /status. */
#include <string.h>

#include "proto/proto.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ProtoStatus v;

        memset(&v, 0xaa, sizeof(v)); /* a parser must not read what it did not set */
        if (proto_parse_status((const char *) data, size, &v) < 0)
                return 0;
        fuzz_assert(v.capabilities);
        for (char **c = v.capabilities; *c; c++)
                (void) proto_status_has_capability(&v, *c);
        proto_status_done(&v);
        return 0;
}
