/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Lifecycle event + detail → table action, for every event and detail
 * libvirt 9.0 has, and whole sequences as the test driver and real QEMU
 * send them (QEMU: RESUMED before STARTED, SHUTDOWN before STOPPED). */
#include <criterion/criterion.h>
#include <libvirt/libvirt.h>

#define HVMAP_HOST_INTERNAL
#include "host/host-internal.h"

/* Number of details per event in libvirt 9.0. */
static const int n_details[] = {
        [VIR_DOMAIN_EVENT_DEFINED] = 4,   [VIR_DOMAIN_EVENT_UNDEFINED] = 2,   [VIR_DOMAIN_EVENT_STARTED] = 5,
        [VIR_DOMAIN_EVENT_SUSPENDED] = 9, [VIR_DOMAIN_EVENT_RESUMED] = 5,     [VIR_DOMAIN_EVENT_STOPPED] = 7,
        [VIR_DOMAIN_EVENT_SHUTDOWN] = 3,  [VIR_DOMAIN_EVENT_PMSUSPENDED] = 2, [VIR_DOMAIN_EVENT_CRASHED] = 2,
};

typedef struct Expect {
        GuestEventAction action;
        int state;
        GuestPersist persist;
} Expect;

/* What each event must do to a domain in cur (NULL: unknown). */
static Expect expected(int ev, int det, const GuestEntry *cur) {
        GuestPersist p = cur ? cur->persistent : GUEST_PERSIST_UNKNOWN;

        switch (ev) {
        case VIR_DOMAIN_EVENT_DEFINED:
                return (Expect){ GUEST_EVENT_SET, cur ? cur->state : VIR_DOMAIN_SHUTOFF, GUEST_PERSIST_YES };
        case VIR_DOMAIN_EVENT_UNDEFINED:
                if (det == VIR_DOMAIN_EVENT_UNDEFINED_RENAMED || !cur)
                        return (Expect){ GUEST_EVENT_NONE };
                if (cur->active)
                        return (Expect){ GUEST_EVENT_SET, cur->state, GUEST_PERSIST_NO };
                return (Expect){ GUEST_EVENT_REMOVE };
        case VIR_DOMAIN_EVENT_STARTED:
        case VIR_DOMAIN_EVENT_RESUMED:
                return cur ? (Expect){ GUEST_EVENT_SET, VIR_DOMAIN_RUNNING, p }
                           : (Expect){ GUEST_EVENT_REFRESH };
        case VIR_DOMAIN_EVENT_SUSPENDED:
                return cur ? (Expect){ GUEST_EVENT_SET, VIR_DOMAIN_PAUSED, p }
                           : (Expect){ GUEST_EVENT_REFRESH };
        case VIR_DOMAIN_EVENT_STOPPED:
                if (!cur || p == GUEST_PERSIST_UNKNOWN)
                        return (Expect){ GUEST_EVENT_REFRESH };
                if (p == GUEST_PERSIST_NO)
                        return (Expect){ GUEST_EVENT_REMOVE };
                return (Expect){ GUEST_EVENT_SET, VIR_DOMAIN_SHUTOFF, GUEST_PERSIST_YES };
        case VIR_DOMAIN_EVENT_SHUTDOWN:
                return cur ? (Expect){ GUEST_EVENT_SET, VIR_DOMAIN_SHUTDOWN, p }
                           : (Expect){ GUEST_EVENT_REFRESH };
        case VIR_DOMAIN_EVENT_PMSUSPENDED:
                return cur ? (Expect){ GUEST_EVENT_SET, VIR_DOMAIN_PMSUSPENDED, p }
                           : (Expect){ GUEST_EVENT_REFRESH };
        case VIR_DOMAIN_EVENT_CRASHED:
                if (!cur)
                        return (Expect){ GUEST_EVENT_REFRESH };
                if (det == VIR_DOMAIN_EVENT_CRASHED_CRASHLOADED)
                        return (Expect){ GUEST_EVENT_NONE };
                return (Expect){ GUEST_EVENT_SET, VIR_DOMAIN_CRASHED, p };
        default:
                return (Expect){ GUEST_EVENT_REFRESH };
        }
}

Test(event, every_event_and_detail) {
        const GuestEntry curs[] = {
                { .state = VIR_DOMAIN_RUNNING, .active = true, .persistent = GUEST_PERSIST_YES },
                { .state = VIR_DOMAIN_RUNNING, .active = true, .persistent = GUEST_PERSIST_NO },
                { .state = VIR_DOMAIN_PAUSED, .active = true, .persistent = GUEST_PERSIST_UNKNOWN },
                { .state = VIR_DOMAIN_SHUTOFF, .active = false, .persistent = GUEST_PERSIST_YES },
        };
        int checked = 0;

        for (int ev = 0; ev < (int) (sizeof n_details / sizeof *n_details); ev++) {
                cr_expect_str_neq(guest_event_to_string(ev), "UNKNOWN", "event %d has no name", ev);
                for (int det = 0; det < n_details[ev]; det++) {
                        cr_expect_str_neq(guest_event_detail_to_string(ev, det), "UNKNOWN",
                                          "no name for %d/%d", ev, det);
                        for (int c = -1; c < (int) (sizeof curs / sizeof *curs); c++) {
                                const GuestEntry *cur = c < 0 ? NULL : &curs[c];
                                Expect want = expected(ev, det, cur);
                                int state = -99;
                                GuestPersist persist = (GuestPersist) 99;
                                GuestEventAction got = guest_event_map(ev, det, cur, &state, &persist);

                                cr_expect_eq(got, want.action, "%s/%s on case %d: action %d, want %d",
                                             guest_event_to_string(ev),
                                             guest_event_detail_to_string(ev, det), c, got, want.action);
                                if (got == GUEST_EVENT_SET && want.action == GUEST_EVENT_SET) {
                                        cr_expect_eq(state, want.state, "%d/%d case %d: state %d want %d",
                                                     ev, det, c, state, want.state);
                                        cr_expect_eq(persist, want.persist, "%d/%d case %d: persist", ev,
                                                     det, c);
                                }
                                checked++;
                        }
                }
                /* A detail from a newer libvirt: ask. */
                cr_expect_eq(guest_event_map(ev, n_details[ev], &curs[0], &(int){ 0 }, &(GuestPersist){ 0 }),
                             GUEST_EVENT_REFRESH);
                cr_expect_str_eq(guest_event_detail_to_string(ev, n_details[ev]), "UNKNOWN");
        }
        /* An event from a newer libvirt. */
        cr_expect_eq(guest_event_map(9, 0, &curs[0], &(int){ 0 }, &(GuestPersist){ 0 }),
                     GUEST_EVENT_REFRESH);
        cr_expect_eq(guest_event_map(-1, 0, NULL, &(int){ 0 }, &(GuestPersist){ 0 }), GUEST_EVENT_REFRESH);
        cr_expect_str_eq(guest_event_to_string(9), "UNKNOWN");
        cr_expect_eq(checked, 39 * 5);
}

Test(event, active_follows_virDomainIsActive) {
        cr_expect(guest_state_is_active(VIR_DOMAIN_RUNNING));
        cr_expect(guest_state_is_active(VIR_DOMAIN_BLOCKED)); /* Xen's idle guest */
        cr_expect(guest_state_is_active(VIR_DOMAIN_PAUSED));
        cr_expect(guest_state_is_active(VIR_DOMAIN_SHUTDOWN));
        cr_expect(guest_state_is_active(VIR_DOMAIN_PMSUSPENDED));
        cr_expect(guest_state_is_active(VIR_DOMAIN_CRASHED));
        cr_expect_not(guest_state_is_active(VIR_DOMAIN_SHUTOFF));
        cr_expect_not(guest_state_is_active(VIR_DOMAIN_NOSTATE));
        cr_expect_not(guest_state_is_active(42));
        cr_expect_str_eq(guest_state_to_string(VIR_DOMAIN_PMSUSPENDED), "pmsuspended");
        cr_expect_str_eq(guest_state_to_string(42), "unknown");
}

/* ---- sequences, with a fake libvirt answering refreshes --------------- */

typedef struct Truth {
        bool exists;
        int state;
        bool persistent;
} Truth;

static void apply(GuestTable *t, const uint8_t *u, const Truth *truth, int ev, int det) {
        const GuestEntry *cur = guest_table_get(t, u);
        int state = 0;
        GuestPersist persist = GUEST_PERSIST_UNKNOWN;

        switch (guest_event_map(ev, det, cur, &state, &persist)) {
        case GUEST_EVENT_NONE:
                break;
        case GUEST_EVENT_SET:
                cr_assert_geq(guest_table_set(t, u, state, guest_state_is_active(state), persist, NULL), 0);
                break;
        case GUEST_EVENT_REMOVE:
                (void) guest_table_remove(t, u);
                break;
        case GUEST_EVENT_REFRESH:
                if (!truth->exists)
                        (void) guest_table_remove(t, u);
                else
                        (void) guest_table_set(t, u, truth->state, guest_state_is_active(truth->state),
                                               truth->persistent ? GUEST_PERSIST_YES : GUEST_PERSIST_NO,
                                               NULL);
                break;
        }
}

#define EV(e, d) VIR_DOMAIN_EVENT_##e, VIR_DOMAIN_EVENT_##e##_##d

static const uint8_t U[HOST_UUID_BYTES] = { 0xcc, 1, 2, 3 };

static int state_of(GuestTable *t) {
        const GuestEntry *e = guest_table_get(t, U);

        return e ? e->state : -1;
}

Test(event, qemu_transient_create_and_destroy) {
        GuestTable *t = guest_table_new(0);
        Truth running_transient = { true, VIR_DOMAIN_RUNNING, false }, gone = { false };

        /* QEMU: RESUMED/UNPAUSED, then STARTED/BOOTED. */
        apply(t, U, &running_transient, EV(RESUMED, UNPAUSED));
        cr_expect_eq(state_of(t), VIR_DOMAIN_RUNNING);
        apply(t, U, &running_transient, EV(STARTED, BOOTED));
        cr_expect_eq(state_of(t), VIR_DOMAIN_RUNNING);
        cr_expect_eq(guest_table_get(t, U)->persistent, GUEST_PERSIST_NO);
        /* SHUTDOWN/HOST, then STOPPED/DESTROYED: a transient vanishes. */
        apply(t, U, &gone, EV(SHUTDOWN, HOST));
        cr_expect_eq(state_of(t), VIR_DOMAIN_SHUTDOWN);
        cr_expect(guest_table_get(t, U)->active);
        apply(t, U, &gone, EV(STOPPED, DESTROYED));
        cr_expect_eq(state_of(t), -1);
        guest_table_free(t);
}

Test(event, test_driver_full_cycle) {
        GuestTable *t = guest_table_new(0);
        Truth unused = { false };

        apply(t, U, &unused, EV(DEFINED, ADDED));
        cr_expect_eq(state_of(t), VIR_DOMAIN_SHUTOFF);
        cr_expect_not(guest_table_get(t, U)->active);
        apply(t, U, &unused, EV(DEFINED, ADDED)); /* duplicate define */
        cr_expect_eq(state_of(t), VIR_DOMAIN_SHUTOFF);
        apply(t, U, &unused, EV(STARTED, BOOTED));
        cr_expect_eq(state_of(t), VIR_DOMAIN_RUNNING);
        apply(t, U, &unused, EV(SUSPENDED, PAUSED));
        cr_expect_eq(state_of(t), VIR_DOMAIN_PAUSED);
        cr_expect(guest_table_get(t, U)->active);
        apply(t, U, &unused, EV(RESUMED, UNPAUSED));
        cr_expect_eq(state_of(t), VIR_DOMAIN_RUNNING);
        apply(t, U, &unused, EV(STOPPED, SHUTDOWN));
        cr_expect_eq(state_of(t), VIR_DOMAIN_SHUTOFF);
        apply(t, U, &unused, EV(UNDEFINED, REMOVED));
        cr_expect_eq(state_of(t), -1);
        apply(t, U, &unused, EV(UNDEFINED, REMOVED)); /* undefine of an unknown UUID */
        cr_expect_eq(guest_table_size(t), 0);
        guest_table_free(t);
}

Test(event, undefine_while_running_then_stop) {
        GuestTable *t = guest_table_new(0);
        Truth unused = { false };

        apply(t, U, &unused, EV(DEFINED, ADDED));
        apply(t, U, &unused, EV(STARTED, BOOTED));
        apply(t, U, &unused, EV(UNDEFINED, REMOVED));
        cr_expect_eq(state_of(t), VIR_DOMAIN_RUNNING, "a running domain survives its undefine");
        cr_expect_eq(guest_table_get(t, U)->persistent, GUEST_PERSIST_NO);
        apply(t, U, &unused, EV(STOPPED, DESTROYED));
        cr_expect_eq(state_of(t), -1, "then vanishes when it stops");
        guest_table_free(t);
}

Test(event, migration_in_and_out) {
        GuestTable *t = guest_table_new(0);
        Truth incoming = { true, VIR_DOMAIN_RUNNING, true }, unused = { false };

        /* Incoming: the guest appears. */
        apply(t, U, &incoming, EV(STARTED, MIGRATED));
        cr_expect_eq(state_of(t), VIR_DOMAIN_RUNNING);
        apply(t, U, &incoming, EV(RESUMED, MIGRATED));
        cr_expect_eq(state_of(t), VIR_DOMAIN_RUNNING);
        /* Outgoing, definition kept: shut off, so not reported by default. */
        apply(t, U, &unused, EV(SUSPENDED, MIGRATED));
        apply(t, U, &unused, EV(STOPPED, MIGRATED));
        cr_expect_eq(state_of(t), VIR_DOMAIN_SHUTOFF);
        cr_expect_not(guest_table_get(t, U)->active);
        /* --undefinesource: gone. */
        apply(t, U, &unused, EV(UNDEFINED, REMOVED));
        cr_expect_eq(state_of(t), -1);
        guest_table_free(t);
}

Test(event, stop_of_a_domain_never_seen) {
        GuestTable *t = guest_table_new(0);
        Truth gone = { false }, shutoff = { true, VIR_DOMAIN_SHUTOFF, true };

        apply(t, U, &gone, EV(STOPPED, DESTROYED)); /* a transient we missed */
        cr_expect_eq(guest_table_size(t), 0);
        apply(t, U, &shutoff, EV(STOPPED, DESTROYED)); /* a persistent one we missed */
        cr_expect_eq(state_of(t), VIR_DOMAIN_SHUTOFF);
        guest_table_free(t);
}

Test(event, managedsave_and_restore) {
        GuestTable *t = guest_table_new(0);
        Truth unused = { false };

        apply(t, U, &unused, EV(DEFINED, ADDED));
        apply(t, U, &unused, EV(STARTED, BOOTED));
        apply(t, U, &unused, EV(SUSPENDED, PAUSED));
        apply(t, U, &unused, EV(STOPPED, SAVED));
        cr_expect_eq(state_of(t), VIR_DOMAIN_SHUTOFF);
        apply(t, U, &unused, EV(STARTED, RESTORED));
        apply(t, U, &unused, EV(RESUMED, FROM_SNAPSHOT));
        cr_expect_eq(state_of(t), VIR_DOMAIN_RUNNING);
        apply(t, U, &unused, EV(CRASHED, PANICKED));
        cr_expect_eq(state_of(t), VIR_DOMAIN_CRASHED);
        cr_expect(guest_table_get(t, U)->active);
        apply(t, U, &unused, EV(STOPPED, CRASHED));
        cr_expect_eq(state_of(t), VIR_DOMAIN_SHUTOFF);
        guest_table_free(t);
}
