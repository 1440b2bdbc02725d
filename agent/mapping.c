/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A snapshot as the server sees it; see mapping.h. */
#include "agent/mapping.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "util/cleanup-libs.h"

Mapping *mapping_ref(Mapping *m) {
        if (m)
                m->n_ref++;
        return m;
}

Mapping *mapping_unref(Mapping *m) {
        if (!m || --m->n_ref > 0)
                return NULL;
        free(m->body);
        free(m->guests);
        free(m->facts);
        free(m->name);
        host_snapshot_unref(m->snapshot);
        free(m);
        return NULL;
}

int mapping_build(const Config *c, HostSnapshot *s, bool own_identity, Mapping **ret, char *errbuf,
                  size_t errsz) {
        _cleanup_(mapping_unrefp) Mapping *m = NULL;
        int r;

        if (!s->hypervisor_id) {
                (void) snprintf(errbuf, errsz, "%s",
                                s->identity_error ? s->identity_error : "no hypervisor id yet");
                return -ENODATA;
        }
        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->n_ref = 1;
        m->mode = c->mode;
        m->snapshot = host_snapshot_ref(s);
        m->guests = calloc(s->n_guests ? s->n_guests : 1, sizeof(ProtoGuest));
        m->facts = calloc(s->n_facts ? s->n_facts : 1, sizeof(ProtoFact));
        if (!m->guests || !m->facts)
                return -ENOMEM;
        for (size_t i = 0; i < s->n_guests; i++)
                m->guests[i] = (ProtoGuest){
                        .uuid = s->guests[i].uuid,
                        .state = s->guests[i].state,
                        .active = s->guests[i].active,
                };
        for (size_t i = 0; i < s->n_facts; i++)
                m->facts[i] = (ProtoFact){ .key = s->facts[i].key, .value = s->facts[i].value };
        m->m = (ProtoMapping){
                .hypervisor_id = s->hypervisor_id,
                .name = c->name       ? c->name
                        : s->hostname ? s->hostname
                                      : s->hypervisor_id,
                .facts = m->facts,
                .n_facts = s->n_facts,
                .guests = m->guests,
                .n_guests = s->n_guests,
                .no_facts = !own_identity && c->mode == REPORT_GUESTIDS,
        };
        /* A reload may free c while this mapping is still being sent. */
        if (c->name) {
                char *copy = strdup(c->name);
                if (!copy)
                        return -ENOMEM;
                m->name = copy;
                m->m.name = copy;
        }
        /* Satellite names the host from network.fqdn/network.hostname and
         * refuses a registration without the latter. */
        m->m.fqdn = c->name ? m->name : s->hostname;
        if (m->mode == REPORT_CHECKIN)
                r = proto_build_checkin(&m->m, 1, &m->body, &m->body_len, errbuf, errsz);
        else
                r = proto_build_guest_update(&m->m, &m->body, &m->body_len, errbuf, errsz);
        if (r < 0)
                return r;
        r = proto_body_digest(m->body, m->body_len, m->digest);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

bool mapping_equal(const Mapping *a, const Mapping *b) {
        if (!a || !b)
                return a == b;
        return a->body_len == b->body_len && strcmp(a->digest, b->digest) == 0 &&
               memcmp(a->body, b->body, a->body_len) == 0;
}

int mapping_register_body(const Mapping *m, char **ret, size_t *ret_len, char *errbuf, size_t errsz) {
        return proto_build_register(&m->m, ret, ret_len, errbuf, errsz);
}

char *mapping_pretty(const Mapping *m) {
        _cleanup_(cJSON_Deletep) cJSON *j = cJSON_Parse(m->body);

        return j ? cJSON_Print(j) : NULL;
}
