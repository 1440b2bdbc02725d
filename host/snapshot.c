/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Immutable, reference-counted snapshots of the host (one allocation each)
 * and the slot that hands the latest one from the host thread to readers. */
#define HVMAP_HOST_INTERNAL
#include "host/host-internal.h"

#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/cleanup.h"

typedef struct SnapshotImpl {
        HostSnapshot pub; /* first: the public pointer is the allocation */
        atomic_uint n_ref;
} SnapshotImpl;

static atomic_long live_snapshots;

long snapshot_live_count(void) {
        return atomic_load(&live_snapshots);
}

/* Carves pieces out of one allocation. */
typedef struct Arena {
        char *p, *end;
} Arena;

static size_t align_up(size_t n, size_t a) {
        return (n + a - 1) / a * a;
}

static const char *arena_str(Arena *a, const char *s) {
        size_t n;
        char *d;

        if (!s)
                return NULL;
        n = strlen(s) + 1;
        d = a->p;
        memcpy(d, s, n);
        a->p += n;
        return d;
}

static size_t str_size(const char *s) {
        return s ? strlen(s) + 1 : 0;
}

static int fact_cmp(const void *a, const void *b) {
        const HostFact *x = a, *y = b;

        return strcmp(x->key, y->key);
}

HostSnapshot *snapshot_build(const GuestTable *t, const GuestFilter *f, const SnapshotMeta *m) {
        size_t n_table = t ? guest_table_size(t) : 0, n_guests = 0, names = 0, strings, size;
        char uuid[HOST_UUID_STRING_MAX];
        SnapshotImpl *impl;
        HostGuest *guests;
        HostFact *facts;
        Arena a;

        /* Pass 1: what is reported, and how much text it needs. */
        for (size_t i = 0; i < n_table; i++) {
                const GuestEntry *e = guest_table_at(t, i);

                if (!guest_filter_match(f, uuid_format(e->uuid, uuid), e->name, e->active))
                        continue;
                n_guests++;
                names += str_size(e->name ? e->name : "");
        }
        strings = names + str_size(m->hypervisor_id) + str_size(m->identity_error) + str_size(m->hostname) +
                  str_size(m->uri) + str_size(m->last_error);
        for (size_t i = 0; i < m->n_facts; i++)
                strings += str_size(m->facts[i].key) + str_size(m->facts[i].value);

        size = align_up(sizeof(SnapshotImpl), alignof(HostGuest));
        size += align_up(n_guests * sizeof(HostGuest), alignof(HostFact));
        size += m->n_facts * sizeof(HostFact) + strings;
        impl = calloc(1, size);
        if (!impl)
                return NULL;
        /* align_up() above aligns both; the (void *) step says so to -Wcast-align. */
        guests = (HostGuest *) (void *) ((char *) impl + align_up(sizeof(SnapshotImpl), alignof(HostGuest)));
        facts = (HostFact *) (void *) ((char *) guests +
                                       align_up(n_guests * sizeof(HostGuest), alignof(HostFact)));
        a = (Arena){ (char *) (facts + m->n_facts), (char *) impl + size };

        /* Pass 2: fill. */
        for (size_t i = 0, k = 0; i < n_table && k < n_guests; i++) {
                const GuestEntry *e = guest_table_at(t, i);

                if (!guest_filter_match(f, uuid_format(e->uuid, uuid), e->name, e->active))
                        continue;
                memcpy(guests[k].uuid, uuid, sizeof uuid);
                guests[k].state = e->state;
                guests[k].active = e->active;
                guests[k].name = arena_str(&a, e->name ? e->name : "");
                k++;
        }
        for (size_t i = 0; i < m->n_facts; i++) {
                facts[i].key = arena_str(&a, m->facts[i].key);
                facts[i].value = arena_str(&a, m->facts[i].value);
        }
        qsort(facts, m->n_facts, sizeof *facts, fact_cmp);

        impl->pub = (HostSnapshot){
                .table_changes = t ? guest_table_changes(t) : 0,
                .guests = guests,
                .n_guests = n_guests,
                .n_domains = n_table,
                .synced = m->synced,
                .hypervisor_id = arena_str(&a, m->hypervisor_id),
                .identity_error = arena_str(&a, m->identity_error),
                .hostname = arena_str(&a, m->hostname),
                .facts = facts,
                .n_facts = m->n_facts,
                .conn_state = m->conn_state,
                .conn_since_usec = m->conn_since_usec,
                .uri = arena_str(&a, m->uri),
                .last_error = arena_str(&a, m->last_error),
                .connect_failures = m->connect_failures,
        };
        atomic_init(&impl->n_ref, 1);
        atomic_fetch_add(&live_snapshots, 1);
        return &impl->pub;
}

void snapshot_set_seq(HostSnapshot *s, uint64_t seq, uint64_t mapping_seq) {
        s->seq = seq;
        s->mapping_seq = mapping_seq;
}

bool snapshot_mapping_equal(const HostSnapshot *a, const HostSnapshot *b) {
        if (!a || !b)
                return a == b;
        if (a->n_guests != b->n_guests || a->n_facts != b->n_facts)
                return false;
        if (!streq_ptr(a->hypervisor_id, b->hypervisor_id) || !streq_ptr(a->hostname, b->hostname))
                return false;
        for (size_t i = 0; i < a->n_guests; i++)
                if (a->guests[i].state != b->guests[i].state || a->guests[i].active != b->guests[i].active ||
                    memcmp(a->guests[i].uuid, b->guests[i].uuid, HOST_UUID_STRING_MAX) != 0)
                        return false;
        for (size_t i = 0; i < a->n_facts; i++)
                if (strcmp(a->facts[i].key, b->facts[i].key) != 0 ||
                    strcmp(a->facts[i].value, b->facts[i].value) != 0)
                        return false;
        return true;
}

HostSnapshot *host_snapshot_ref(HostSnapshot *s) {
        if (s)
                atomic_fetch_add(&((SnapshotImpl *) s)->n_ref, 1);
        return s;
}

HostSnapshot *host_snapshot_unref(HostSnapshot *s) {
        SnapshotImpl *impl = (SnapshotImpl *) s;

        if (!impl)
                return NULL;
        if (atomic_fetch_sub(&impl->n_ref, 1) == 1) {
                atomic_fetch_sub(&live_snapshots, 1);
                free(impl);
        }
        return NULL;
}

int snapshot_slot_init(SnapshotSlot *slot) {
        *slot = (SnapshotSlot){ .efd = -1 };
        slot->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (slot->efd < 0)
                return -errno;
        (void) pthread_mutex_init(&slot->lock, NULL);
        return 0;
}

void snapshot_slot_done(SnapshotSlot *slot) {
        if (slot->efd < 0)
                return;
        slot->latest = host_snapshot_unref(slot->latest);
        slot->efd = safe_close(slot->efd);
        (void) pthread_mutex_destroy(&slot->lock);
}

void snapshot_slot_publish(SnapshotSlot *slot, HostSnapshot *s) {
        HostSnapshot *old;
        uint64_t one = 1;

        pthread_mutex_lock(&slot->lock);
        old = slot->latest;
        slot->latest = s;
        pthread_mutex_unlock(&slot->lock);
        (void) host_snapshot_unref(old);
        /* Only EAGAIN can fail here (counter at its maximum): then the fd
         * is readable anyway, which is all a reader needs. */
        (void) !write(slot->efd, &one, sizeof one);
}

HostSnapshot *snapshot_slot_get(SnapshotSlot *slot) {
        HostSnapshot *s;

        pthread_mutex_lock(&slot->lock);
        s = host_snapshot_ref(slot->latest);
        pthread_mutex_unlock(&slot->lock);
        return s;
}
