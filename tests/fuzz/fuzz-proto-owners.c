/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzzes proto_parse_owners(): GET /users/{user}/owners, an array of owners
 * whose keys hvmap may pick as the organisation. */
#include "proto/proto.h"
#include "tests/fuzz/fuzz.h"
#include "util/cleanup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_strv_free_ char **keys = NULL;

        if (proto_parse_owners((const char *) data, size, &keys) < 0)
                return 0;
        fuzz_assert(keys);
        return 0;
}
