/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzzes what host/ reads out of libvirt's XML: the capabilities' host
 * <uuid> and the sysinfo system "uuid" entry, then the hypervisor-id choice
 * over what they gave (every mode), as the host thread does on connect. */
#include <string.h>

#define HVMAP_HOST_INTERNAL
#include "host/host-internal.h"
#include "tests/fuzz/fuzz.h"
#include "util/cleanup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *xml = NULL, *caps = NULL, *sys = NULL;
        static const HostIdMode modes[] = { HOST_ID_MODE_UUID, HOST_ID_MODE_HOSTNAME, HOST_ID_MODE_HWUUID };

        /* libvirt hands XML over as a C string. */
        xml = malloc(size + 1);
        if (!xml)
                return 0;
        memcpy(xml, data, size);
        xml[size] = 0;
        if (caps_host_uuid(xml, &caps) < 0)
                caps = NULL;
        if (sysinfo_system_uuid(xml, &sys) < 0)
                sys = NULL;

        for (size_t i = 0; i < ELEMENTSOF(modes); i++) {
                HostIdInputs in = {
                        .caps_uuid = caps,
                        .sysinfo_uuid = sys,
                        .machine_id = NULL,
                        .hostname = "kvm1.example.com",
                };
                HostIdResult res = {};
                char buf[512];
                int r;

                r = host_id_choose(modes[i], NULL, &in, &res);
                if (r >= 0) {
                        uint8_t u[HOST_UUID_BYTES];

                        fuzz_assert(res.id[0] && strlen(res.id) < HOST_ID_MAX);
                        /* A UUID-sourced id is a valid, non-bogus UUID. */
                        if (res.source == HOST_ID_SOURCE_CAPABILITIES ||
                            res.source == HOST_ID_SOURCE_SYSINFO)
                                fuzz_assert(uuid_parse(res.id, u) == 0 && !uuid_is_bogus(u));
                } else
                        host_id_explain_failure(modes[i], &res, buf, sizeof(buf));
                fuzz_assert(res.n_steps <= ELEMENTSOF(res.steps));
        }
        return 0;
}
