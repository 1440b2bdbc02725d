/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzzes proto_parse_identity_json(): consumer.json in the state dir. */
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ProtoIdentity *id = calloc(1, sizeof(*id));

        if (!id)
                return 0;
        if (proto_parse_identity_json((const char *) data, size, id) >= 0)
                /* The uuid names the consumer in URL paths. */
                fuzz_assert(id->uuid && *id->uuid &&
                            strspn(id->uuid,
                                   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-") ==
                                    strlen(id->uuid));
        (void) proto_identity_free(id);
        return 0;
}
