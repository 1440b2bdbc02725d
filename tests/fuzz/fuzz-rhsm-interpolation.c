/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzzes rhsm.conf's %(name)s interpolation and python-rhsm's recovery from a
 * missing name: the input is one [server] section of "key = value" lines;
 * every key hvmap reads and every key the input names is read twice (the
 * recovery may change later reads, never make a read fail that worked). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/rhsm-conf.h"
#include "tests/fuzz/fuzz.h"
#include "util/cleanup.h"

static void read_key(RhsmConf *rc, const char *key) {
        _cleanup_free_ char *a = NULL, *b = NULL;
        RhsmSource sa, sb;
        unsigned la, lb;
        size_t na = 0, nb = 0;
        int ra, rb;

        ra = rhsm_conf_get(rc, "server", key, &a, &na, &sa, &la);
        rb = rhsm_conf_get(rc, "server", key, &b, &nb, &sb, &lb);
        if (ra == -ENOMEM || rb == -ENOMEM)
                return;
        fuzz_assert(ra >= -EINVAL && ra <= 1);
        if (ra > 0) {
                fuzz_assert(rb > 0);
                fuzz_assert(a[na] == '\0');
                fuzz_assert(na <= 1024 * 1024);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char *const keys[] = { "hostname",   "port",           "prefix",
                                            "insecure",   "server_timeout", "proxy_hostname",
                                            "proxy_port", "no_proxy",       "a",
                                            "b" };
        _cleanup_(rhsm_conf_freep) RhsmConf *rc = NULL;
        _cleanup_free_ char *text = NULL;
        unsigned line;

        text = malloc(size + sizeof "[server]\n");
        if (!text)
                return 0;
        memcpy(text, "[server]\n", 9);
        memcpy(text + 9, data, size);
        text[9 + size] = '\0';
        if (rhsm_conf_parse(text, 9 + size, &rc, &line) < 0)
                return 0;
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
                read_key(rc, keys[i]);
        return 0;
}
