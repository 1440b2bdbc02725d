/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The guest table: order, updates, removals, the change counter, the cap,
 * whole-table replacement with its diff, and 10 000 entries. */
#include <criterion/criterion.h>
#include <errno.h>
#include <libvirt/libvirt.h>
#include <stdlib.h>

#define HVMAP_HOST_INTERNAL
#include "host/host-internal.h"

static void mkuuid(uint32_t i, uint8_t u[HOST_UUID_BYTES]) {
        /* Spread the keys so inserts land all over the array. */
        uint32_t h = i * 2654435761u;

        memset(u, 0, HOST_UUID_BYTES);
        memcpy(u, &h, sizeof h);
        memcpy(u + 4, &i, sizeof i);
        u[15] = 1;
}

Test(table, insert_update_remove_and_counter) {
        GuestTable *t = guest_table_new(0);
        uint8_t a[16], b[16];

        cr_assert(t);
        cr_expect_eq(guest_table_cap(t), HOST_GUEST_CAP_DEFAULT);
        mkuuid(1, a);
        mkuuid(2, b);
        cr_expect_eq(guest_table_set(t, a, VIR_DOMAIN_RUNNING, true, GUEST_PERSIST_YES, "a"), 1);
        cr_expect_eq(guest_table_set(t, b, VIR_DOMAIN_SHUTOFF, false, GUEST_PERSIST_YES, "b"), 1);
        cr_expect_eq(guest_table_changes(t), 2);
        /* The same again is no change, and does not count. */
        cr_expect_eq(guest_table_set(t, a, VIR_DOMAIN_RUNNING, true, GUEST_PERSIST_YES, "a"), 0);
        cr_expect_eq(guest_table_set(t, a, VIR_DOMAIN_RUNNING, true, GUEST_PERSIST_YES, NULL), 0);
        cr_expect_eq(guest_table_changes(t), 2);
        /* A state change and a rename each count. */
        cr_expect_eq(guest_table_set(t, a, VIR_DOMAIN_PAUSED, true, GUEST_PERSIST_YES, NULL), 1);
        cr_expect_eq(guest_table_set(t, a, VIR_DOMAIN_PAUSED, true, GUEST_PERSIST_YES, "a2"), 1);
        cr_expect_str_eq(guest_table_get(t, a)->name, "a2");
        cr_expect_eq(guest_table_get(t, a)->state, VIR_DOMAIN_PAUSED);
        cr_expect_eq(guest_table_changes(t), 4);
        cr_expect_eq(guest_table_size(t), 2);

        cr_expect_eq(guest_table_remove(t, a), 1);
        cr_expect_null(guest_table_get(t, a));
        cr_expect_eq(guest_table_changes(t), 5);
        guest_table_free(t);
}

Test(table, hostile_removals_and_duplicates) {
        GuestTable *t = guest_table_new(0);
        uint8_t a[16], unknown[16];

        mkuuid(7, a);
        mkuuid(8, unknown);
        /* Undefine of an unknown UUID: nothing happens, nothing counts. */
        cr_expect_eq(guest_table_remove(t, unknown), 0);
        cr_expect_eq(guest_table_changes(t), 0);
        /* Duplicate define. */
        cr_expect_eq(guest_table_set(t, a, VIR_DOMAIN_SHUTOFF, false, GUEST_PERSIST_YES, "x"), 1);
        cr_expect_eq(guest_table_set(t, a, VIR_DOMAIN_SHUTOFF, false, GUEST_PERSIST_YES, "x"), 0);
        cr_expect_eq(guest_table_size(t), 1);
        cr_expect_eq(guest_table_remove(t, a), 1);
        cr_expect_eq(guest_table_remove(t, a), 0);
        cr_expect_eq(guest_table_size(t), 0);
        cr_expect_null(guest_table_at(t, 0));
        guest_table_free(t);
}

Test(table, cap_is_hard_but_updates_still_work) {
        GuestTable *t = guest_table_new(3);
        uint8_t u[16];

        for (uint32_t i = 0; i < 3; i++) {
                mkuuid(i, u);
                cr_assert_eq(guest_table_set(t, u, VIR_DOMAIN_RUNNING, true, GUEST_PERSIST_YES, "g"), 1);
        }
        mkuuid(99, u);
        cr_expect_eq(guest_table_set(t, u, VIR_DOMAIN_RUNNING, true, GUEST_PERSIST_YES, "g"), -E2BIG);
        cr_expect_eq(guest_table_size(t), 3);
        mkuuid(1, u);
        cr_expect_eq(guest_table_set(t, u, VIR_DOMAIN_PAUSED, true, GUEST_PERSIST_YES, NULL), 1);
        guest_table_free(t);
}

static bool table_sorted(const GuestTable *t) {
        for (size_t i = 1; i < guest_table_size(t); i++)
                if (memcmp(guest_table_at(t, i - 1)->uuid, guest_table_at(t, i)->uuid, 16) >= 0)
                        return false;
        return true;
}

Test(table, ten_thousand_entries) {
        GuestTable *t = guest_table_new(0);
        uint8_t u[16];
        int bad = 0;

        for (uint32_t i = 0; i < 10000; i++) {
                mkuuid(i, u);
                bad += guest_table_set(t, u, i % 3 ? VIR_DOMAIN_RUNNING : VIR_DOMAIN_SHUTOFF, i % 3 != 0,
                                       GUEST_PERSIST_YES, "vm") != 1;
        }
        cr_assert_eq(bad, 0);
        cr_expect_eq(guest_table_size(t), 10000);
        cr_expect(table_sorted(t));
        for (uint32_t i = 0; i < 10000; i++) {
                const GuestEntry *e;

                mkuuid(i, u);
                e = guest_table_get(t, u);
                bad += !e || e->active != (i % 3 != 0);
        }
        cr_expect_eq(bad, 0);
        /* Remove every other one. */
        for (uint32_t i = 0; i < 10000; i += 2) {
                mkuuid(i, u);
                bad += guest_table_remove(t, u) != 1;
        }
        cr_expect_eq(bad, 0);
        cr_expect_eq(guest_table_size(t), 5000);
        cr_expect(table_sorted(t));
        cr_expect_eq(guest_table_changes(t), 15000);
        guest_table_free(t);
}

static GuestEntry entry(uint32_t i, int state, const char *name) {
        GuestEntry e = { .state = state,
                         .active = state != VIR_DOMAIN_SHUTOFF,
                         .persistent = GUEST_PERSIST_YES };

        mkuuid(i, e.uuid);
        e.name = name ? strdup(name) : NULL;
        return e;
}

static void entries_free(GuestEntry *e, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(e[i].name);
}

Test(table, replace_reports_the_drift) {
        GuestTable *t = guest_table_new(0);
        GuestEntry e[4];
        GuestTableDiff d;
        uint8_t u[16];

        for (uint32_t i = 0; i < 3; i++) {
                mkuuid(i, u);
                (void) guest_table_set(t, u, VIR_DOMAIN_RUNNING, true, GUEST_PERSIST_YES, "same");
        }
        /* 0 unchanged, 1 now shut off, 2 gone, 3 new; 3 listed twice: the
         * last one wins. */
        e[0] = entry(0, VIR_DOMAIN_RUNNING, "same");
        e[1] = entry(1, VIR_DOMAIN_SHUTOFF, "same");
        e[2] = entry(3, VIR_DOMAIN_PAUSED, "first");
        e[3] = entry(3, VIR_DOMAIN_RUNNING, "last");
        cr_assert_eq(guest_table_replace(t, e, 4, &d), 0);
        cr_expect_eq(d.added, 1);
        cr_expect_eq(d.removed, 1);
        cr_expect_eq(d.changed, 1);
        cr_expect(d.have_example);
        cr_expect_eq(guest_table_size(t), 3);
        mkuuid(3, u);
        cr_expect_str_eq(guest_table_get(t, u)->name, "last");
        cr_expect_eq(guest_table_get(t, u)->state, VIR_DOMAIN_RUNNING);
        cr_expect(table_sorted(t));
        entries_free(e, 4); /* the names not taken */

        /* The same listing again changes nothing and does not count. */
        uint64_t changes = guest_table_changes(t);
        e[0] = entry(0, VIR_DOMAIN_RUNNING, "same");
        e[1] = entry(1, VIR_DOMAIN_SHUTOFF, "same");
        e[2] = entry(3, VIR_DOMAIN_RUNNING, "last");
        cr_assert_eq(guest_table_replace(t, e, 3, &d), 0);
        cr_expect_eq(d.added + d.removed + d.changed, 0);
        cr_expect_eq(guest_table_changes(t), changes);
        entries_free(e, 3);

        /* An empty listing empties the table. */
        cr_assert_eq(guest_table_replace(t, NULL, 0, &d), 0);
        cr_expect_eq(d.removed, 3);
        cr_expect_eq(guest_table_size(t), 0);
        guest_table_free(t);
}

Test(table, replace_over_the_cap_leaves_the_table) {
        GuestTable *t = guest_table_new(2);
        GuestEntry e[3];
        uint8_t u[16];

        mkuuid(9, u);
        (void) guest_table_set(t, u, VIR_DOMAIN_RUNNING, true, GUEST_PERSIST_YES, "keep");
        for (uint32_t i = 0; i < 3; i++)
                e[i] = entry(i, VIR_DOMAIN_RUNNING, "x");
        cr_expect_eq(guest_table_replace(t, e, 3, NULL), -E2BIG);
        cr_expect_eq(guest_table_size(t), 1);
        cr_expect_str_eq(guest_table_get(t, u)->name, "keep");
        for (uint32_t i = 0; i < 3; i++)
                cr_expect_not_null(e[i].name); /* still the caller's */
        entries_free(e, 3);
        /* Duplicates count once against the cap. */
        e[0] = entry(1, VIR_DOMAIN_RUNNING, "x");
        e[1] = entry(1, VIR_DOMAIN_PAUSED, "x");
        e[2] = entry(2, VIR_DOMAIN_RUNNING, "x");
        cr_expect_eq(guest_table_replace(t, e, 3, NULL), 0);
        cr_expect_eq(guest_table_size(t), 2);
        entries_free(e, 3);
        guest_table_free(t);
}

Test(table, replace_ten_thousand_in_reverse) {
        GuestTable *t = guest_table_new(0);
        GuestEntry *e = calloc(10000, sizeof *e);
        GuestTableDiff d;

        cr_assert(e);
        for (uint32_t i = 0; i < 10000; i++)
                e[i] = entry(9999 - i, VIR_DOMAIN_RUNNING, "vm");
        cr_assert_eq(guest_table_replace(t, e, 10000, &d), 0);
        cr_expect_eq(d.added, 10000);
        cr_expect_eq(guest_table_size(t), 10000);
        cr_expect(table_sorted(t));
        entries_free(e, 10000);
        free(e);
        guest_table_free(t);
}
