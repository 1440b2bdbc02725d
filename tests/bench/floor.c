/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hvmap-bench-floor: the least a program can do to learn a host's guests
 * through libvirt — open the URI read-only, list every domain with its UUID
 * and state, print how many are active. scripts/bench compares `hvmap print`
 * with it, so hvmap's cost is seen apart from libvirt's own.
 *
 * usage: hvmap-bench-floor URI */
#include <stdio.h>
#include <stdlib.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "util/cleanup.h"
#include "util/cleanup-libs.h"

int main(int argc, char *argv[]) {
        _cleanup_(virConnectClosep) virConnectPtr conn = NULL;
        virDomainPtr *doms = NULL;
        unsigned long active = 0;
        int n;

        if (argc != 2) {
                fprintf(stderr, "usage: hvmap-bench-floor URI\n");
                return 2;
        }
        conn = virConnectOpenReadOnly(argv[1]);
        if (!conn) {
                fprintf(stderr, "cannot open %s: %s\n", argv[1], virGetLastErrorMessage());
                return 1;
        }
        n = virConnectListAllDomains(conn, &doms, 0);
        if (n < 0) {
                fprintf(stderr, "cannot list domains: %s\n", virGetLastErrorMessage());
                return 1;
        }
        for (int i = 0; i < n; i++) {
                char uuid[VIR_UUID_STRING_BUFLEN];
                int state = 0, reason = 0;

                if (virDomainGetUUIDString(doms[i], uuid) == 0 &&
                    virDomainGetState(doms[i], &state, &reason, 0) == 0 && state != VIR_DOMAIN_SHUTOFF)
                        active++;
                (void) virDomainFree(doms[i]);
        }
        free(doms);
        printf("%d domains, %lu active\n", n, active);
        return 0;
}
