/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Snapshots: what a build reports, mapping equality, and the hand-over
 * between a fast writer and slow readers (run it under helgrind or TSan:
 * see tests/host/README.md). */
#include <criterion/criterion.h>
#include <libvirt/libvirt.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#define HVMAP_HOST_INTERNAL
#include "host/host-internal.h"

static GuestTable *table3(void) {
        GuestTable *t = guest_table_new(0);
        uint8_t u[HOST_UUID_BYTES] = {};

        u[0] = 0x30;
        (void) guest_table_set(t, u, VIR_DOMAIN_RUNNING, true, GUEST_PERSIST_YES, "web-1");
        u[0] = 0x10;
        (void) guest_table_set(t, u, VIR_DOMAIN_SHUTOFF, false, GUEST_PERSIST_YES, "db-1");
        u[0] = 0x20;
        (void) guest_table_set(t, u, VIR_DOMAIN_PAUSED, true, GUEST_PERSIST_NO, NULL);
        return t;
}

static const HostFact facts[] = {
        { "virt.is_guest", "false" },
        { "hypervisor.type", "QEMU" },
        { "cpu.cpu_socket(s)", "2" },
};

Test(snapshot, build_filters_sorts_and_copies) {
        GuestTable *t = table3();
        SnapshotMeta m = { .hypervisor_id = "hv-1",
                           .hostname = "kvm1",
                           .facts = facts,
                           .n_facts = 3,
                           .conn_state = HOST_CONN_CONNECTED,
                           .uri = "qemu:///system",
                           .synced = true };
        HostSnapshot *s = snapshot_build(t, &(GuestFilter){}, &m), *all;

        cr_assert(s);
        guest_table_free(t); /* the snapshot owns copies of everything */
        cr_expect_eq(s->n_domains, 3);
        cr_expect_eq(s->n_guests, 2, "the shut-off one is not reported by default");
        cr_expect_str_eq(s->guests[0].uuid, "20000000-0000-0000-0000-000000000000");
        cr_expect_str_eq(s->guests[0].name, "");
        cr_expect_eq(s->guests[0].state, VIR_DOMAIN_PAUSED);
        cr_expect_str_eq(s->guests[1].name, "web-1");
        cr_expect_str_eq(s->hypervisor_id, "hv-1");
        cr_expect_str_eq(s->uri, "qemu:///system");
        cr_expect_null(s->last_error);
        cr_expect_str_eq(s->facts[0].key, "cpu.cpu_socket(s)");
        cr_expect_str_eq(s->facts[2].key, "virt.is_guest");
        cr_expect(s->synced);

        t = table3();
        all = snapshot_build(t, &(GuestFilter){ .report_inactive = true }, &m);
        cr_expect_eq(all->n_guests, 3);
        cr_expect_not(all->guests[0].active);
        cr_expect_not(snapshot_mapping_equal(s, all));
        cr_expect(snapshot_mapping_equal(s, s));
        cr_expect_not(snapshot_mapping_equal(s, NULL));
        cr_expect(snapshot_mapping_equal(NULL, NULL));
        guest_table_free(t);
        host_snapshot_unref(s);
        host_snapshot_unref(all);
        cr_expect_eq(snapshot_live_count(), 0);
}

Test(snapshot, mapping_equality_ignores_connection_state) {
        GuestTable *t = table3();
        SnapshotMeta m = { .hypervisor_id = "hv-1", .facts = facts, .n_facts = 3 };
        HostSnapshot *a = snapshot_build(t, &(GuestFilter){}, &m), *b, *c, *d;

        m.conn_state = HOST_CONN_NOT_RESPONDING;
        m.last_error = "keepalive";
        b = snapshot_build(t, &(GuestFilter){}, &m);
        cr_expect(snapshot_mapping_equal(a, b));
        m.hypervisor_id = "hv-2";
        c = snapshot_build(t, &(GuestFilter){}, &m);
        cr_expect_not(snapshot_mapping_equal(a, c));
        m.hypervisor_id = "hv-1";
        m.n_facts = 2;
        d = snapshot_build(t, &(GuestFilter){}, &m);
        cr_expect_not(snapshot_mapping_equal(a, d));
        host_snapshot_unref(a);
        host_snapshot_unref(b);
        host_snapshot_unref(c);
        host_snapshot_unref(d);
        guest_table_free(t);
}

/* ---- hand-over ---------------------------------------------------------- */

#define PUBLISHES 5000

typedef struct Shared {
        SnapshotSlot slot;
        atomic_bool done;
        atomic_int errors;
        atomic_int reads;
} Shared;

static void *writer(void *p) {
        Shared *sh = p;
        GuestTable *t = guest_table_new(0);
        uint8_t u[HOST_UUID_BYTES] = { 0xab };

        for (uint64_t i = 1; i <= PUBLISHES; i++) {
                HostSnapshot *s;

                /* Each snapshot carries its number in the table too. */
                (void) guest_table_set(t, u, (int) (i % 8), true, GUEST_PERSIST_YES, "g");
                s = snapshot_build(t, &(GuestFilter){ .report_inactive = true },
                                   &(SnapshotMeta){ .hypervisor_id = "hv", .uri = "test:///default" });
                if (!s) {
                        atomic_fetch_add(&sh->errors, 1);
                        continue;
                }
                snapshot_set_seq(s, i, i);
                snapshot_slot_publish(&sh->slot, s);
        }
        guest_table_free(t);
        atomic_store(&sh->done, true);
        return NULL;
}

static void *slow_reader(void *p) {
        Shared *sh = p;
        uint64_t last = 0;

        for (;;) {
                struct pollfd pfd = { sh->slot.efd, POLLIN, 0 };
                bool done = atomic_load(&sh->done);
                HostSnapshot *s;
                uint64_t v;

                (void) poll(&pfd, 1, 10);
                (void) !read(sh->slot.efd, &v, sizeof v);
                s = snapshot_slot_get(&sh->slot);
                if (s) {
                        /* Never older than what was seen, always whole. */
                        if (s->seq < last || s->n_guests != 1 || s->guests[0].state != (int) (s->seq % 8) ||
                            strcmp(s->hypervisor_id, "hv") != 0)
                                atomic_fetch_add(&sh->errors, 1);
                        last = s->seq;
                        atomic_fetch_add(&sh->reads, 1);
                        /* Slow: hold the snapshot while the writer races on. */
                        (void) nanosleep(&(struct timespec){ 0, 2 * 1000 * 1000 }, NULL);
                        host_snapshot_unref(s);
                }
                if (done) {
                        /* After the writer is done, the latest is the last. */
                        s = snapshot_slot_get(&sh->slot);
                        if (!s || s->seq != PUBLISHES)
                                atomic_fetch_add(&sh->errors, 1);
                        host_snapshot_unref(s);
                        return NULL;
                }
        }
}

Test(snapshot, slow_readers_always_get_the_latest_and_nothing_leaks) {
        Shared sh = {};
        pthread_t w, r1, r2;

        cr_assert_eq(snapshot_slot_init(&sh.slot), 0);
        cr_assert_null(snapshot_slot_get(&sh.slot));
        cr_assert_eq(pthread_create(&r1, NULL, slow_reader, &sh), 0);
        cr_assert_eq(pthread_create(&r2, NULL, slow_reader, &sh), 0);
        cr_assert_eq(pthread_create(&w, NULL, writer, &sh), 0);
        pthread_join(w, NULL);
        pthread_join(r1, NULL);
        pthread_join(r2, NULL);
        cr_expect_eq(atomic_load(&sh.errors), 0);
        cr_expect_gt(atomic_load(&sh.reads), 2);
        cr_expect_eq(snapshot_live_count(), 1, "only the latest is alive");
        snapshot_slot_done(&sh.slot);
        cr_expect_eq(snapshot_live_count(), 0);
}
