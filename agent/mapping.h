/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One host snapshot as the server will see it: the exact request body of
 * the configured report mode (guest update or check-in), built once, and the
 * SHA-256 of exactly those bytes. The daemon's "changed?", `hvmap print`,
 * `hvmap report` and the sender all use this one object, so what is printed,
 * what is compared and what is sent cannot differ. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "agent/conf.h"
#include "host/host.h"
#include "proto/proto.h"
#include "util/cleanup.h"

typedef struct Mapping {
        unsigned n_ref;
        ReportMode mode;
        /* What the body was built from; its strings live in the snapshot,
         * which the mapping keeps a reference to. */
        ProtoMapping m;
        HostSnapshot *snapshot;
        ProtoGuest *guests;
        ProtoFact *facts;
        char *name; /* a copy of [host] name, when set */
        /* The request body of mode, compact and canonical, NUL-terminated. */
        char *body;
        size_t body_len;
        char digest[PROTO_DIGEST_HEX_LEN + 1]; /* of body */
} Mapping;

/* Builds the mapping of snapshot s under configuration c (name: [host] name,
 * else the host name, else the hypervisor id; network.hostname and
 * network.fqdn: the same name). own_identity false: the guest update goes
 * to subscription-manager's consumer and carries no facts. Returns 0 and a
 * mapping with one reference; -ENODATA when s has no hypervisor id yet
 * (errbuf says why), -EINVAL with errbuf when a field breaks a server
 * limit, -ENOMEM, -EIO. Does not log. */
int mapping_build(const Config *c, HostSnapshot *s, bool own_identity, Mapping **ret, char *errbuf,
                  size_t errsz);
Mapping *mapping_ref(Mapping *m);
Mapping *mapping_unref(Mapping *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Mapping *, mapping_unref, mapping_unrefp)

/* true when a and b would send the same bytes. NULL equals only NULL. */
bool mapping_equal(const Mapping *a, const Mapping *b);

/* The registration body (POST /consumers) for this host. Caller frees. */
int mapping_register_body(const Mapping *m, char **ret, size_t *ret_len, char *errbuf, size_t errsz);

/* The body re-indented for people (`hvmap print --pretty`). Caller frees;
 * NULL on ENOMEM. */
char *mapping_pretty(const Mapping *m);
