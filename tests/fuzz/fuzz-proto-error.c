/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzzes proto_parse_error(): the server's JSON for Candlepin's error body (displayMessage, requestUuid,
 * deletedId). */
#include <string.h>

#include "proto/proto.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ProtoErrorBody v;

        memset(&v, 0xaa, sizeof(v)); /* a parser must not read what it did not set */
        if (proto_parse_error((const char *) data, size, &v) < 0)
                return 0;
        /* displayMessage ends up in logs and status: bounded, one line. */
        if (v.display_message) {
                fuzz_assert(strlen(v.display_message) <= 512);
                for (const char *p = v.display_message; *p; p++)
                        fuzz_assert((unsigned char) *p >= 0x20 && *p != 0x7f);
        }
        proto_error_body_done(&v);
        return 0;
}
