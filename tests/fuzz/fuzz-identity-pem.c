/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzzes proto_cert_info(): the first certificate of a PEM text (cert.pem,
 * a server's idCert.cert, a subscription-manager identity). */
#include <time.h>

#define HVMAP_PROTO_INTERNAL 1
#include "proto/proto-internal.h"
#include "tests/fuzz/fuzz.h"
#include "util/cleanup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *cn = NULL, *o = NULL, *serial = NULL;
        time_t nb = 0, na = 0;

        if (proto_cert_info((const char *) data, size, &cn, &o, &serial, &nb, &na) < 0)
                return 0;
        fuzz_assert(serial);
        return 0;
}
