/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The host thread against libvirt's in-process test driver: listing,
 * events, file URIs of mixed states, Xen's Domain-0, the guest cap,
 * identity failures, an unreachable URI, and a bounded stop. */
#include <criterion/criterion.h>
#include <errno.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define HVMAP_HOST_INTERNAL
#include "host/host-internal.h"

#define DEFAULT_UUID "6695eb01-f6a4-8304-79aa-97f2502e193f"

static char tmpdir[] = "/tmp/hvmap-host-XXXXXX";
static char machine_id[256];

static void setup(void) {
        FILE *f;

        cr_assert_not_null(mkdtemp(tmpdir));
        (void) snprintf(machine_id, sizeof machine_id, "%s/machine-id", tmpdir);
        f = fopen(machine_id, "we");
        cr_assert_not_null(f);
        (void) fputs("0123456789abcdef0123456789abcdef\n", f);
        (void) fclose(f);
}

static void teardown(void) {
        char cmd[512];

        (void) snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
        cr_expect_eq(system(cmd), 0); /* lint-allow: system */
}

TestSuite(thread, .init = setup, .fini = teardown, .timeout = 180);

static uint64_t mono_ms(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static HostConfig config(const char *uri) {
        HostConfig c;

        host_config_init(&c);
        c.uri = uri;
        c.machine_id_path = machine_id;
        return c;
}

typedef bool (*Pred)(const HostSnapshot *s, const void *arg);

/* Waits up to ms for a snapshot satisfying pred; returns it (a reference),
 * or NULL on timeout. */
static HostSnapshot *wait_for(Host *h, Pred pred, const void *arg, int ms) {
        uint64_t end = mono_ms() + (uint64_t) ms;

        for (;;) {
                HostSnapshot *s = host_snapshot(h);
                uint64_t now = mono_ms();

                if (pred(s, arg))
                        return s;
                host_snapshot_unref(s);
                if (now >= end)
                        return NULL;
                (void) poll(&(struct pollfd){ host_fd(h), POLLIN, 0 }, 1, (int) (end - now));
                host_fd_clear(h);
        }
}

static bool is_synced(const HostSnapshot *s, const void *arg) {
        return s->conn_state == HOST_CONN_CONNECTED && s->synced;
}

static const HostGuest *find(const HostSnapshot *s, const char *uuid) {
        for (size_t i = 0; i < s->n_guests; i++)
                if (strcmp(s->guests[i].uuid, uuid) == 0)
                        return &s->guests[i];
        return NULL;
}

typedef struct Want {
        const char *uuid;
        int state; /* -1: absent */
} Want;

static bool has_state(const HostSnapshot *s, const void *arg) {
        const Want *w = arg;
        const HostGuest *g = find(s, w->uuid);

        return w->state < 0 ? !g : g && g->state == w->state;
}

/* Writes a test-driver node file: n domains, 6:1:3 running:paused:shutoff,
 * plus a Domain-0 first when dom0 is set (its UUID given). */
static void write_node(const char *path, int n, const char *dom0_uuid) {
        FILE *f = fopen(path, "we");

        cr_assert_not_null(f);
        (void) fprintf(f,
                       "<node><cpu><mhz>2400</mhz><model>x86_64</model><nodes>1</nodes><sockets>2</sockets>"
                       "<cores>4</cores><threads>2</threads></cpu><memory>67108864</memory>\n");
        if (dom0_uuid)
                (void) fprintf(f,
                               "<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
                               "<name>Domain-0</name><uuid>%s</uuid><memory unit='MiB'>256</memory>"
                               "<vcpu>1</vcpu><os><type>xen</type></os><test:runstate>1</test:runstate>"
                               "</domain>\n",
                               dom0_uuid);
        for (int i = 0; i < n; i++) {
                static const int cycle[] = { 1, 1, 1, 1, 1, 1, 3, 5, 5, 5 };

                (void) fprintf(f,
                               "<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
                               "<name>vm%05d</name><uuid>aaaaaaaa-0000-4000-8000-%012d</uuid>"
                               "<memory unit='MiB'>256</memory><vcpu>1</vcpu><os><type>hvm</type></os>"
                               "<test:runstate>%d</test:runstate></domain>\n",
                               i, i, cycle[i % 10]);
        }
        (void) fputs("</node>\n", f);
        (void) fclose(f);
}

Test(thread, default_host_identity_and_facts) {
        HostConfig c = config("test:///default");
        HostSnapshot *s;
        Host *h;

        cr_assert_eq(host_start(&c, &h), 0);
        s = wait_for(h, is_synced, NULL, 5000);
        cr_assert_not_null(s, "never connected");
        cr_expect_eq(s->n_guests, 1);
        cr_expect_str_eq(s->guests[0].uuid, DEFAULT_UUID);
        cr_expect_eq(s->guests[0].state, VIR_DOMAIN_RUNNING);
        cr_expect(s->guests[0].active);
        cr_expect_str_eq(s->guests[0].name, "test");
        /* The test driver has neither a host UUID nor SMBIOS: machine-id. */
        cr_expect_str_eq(s->hypervisor_id, "01234567-89ab-cdef-0123-456789abcdef");
        cr_expect_null(s->identity_error);
        cr_expect_not_null(s->hostname);
        cr_expect_str_eq(s->uri, "test:///default");
        cr_expect_eq(s->n_facts, 4, "no dmi.system.uuid: the test driver has none");
        cr_expect_str_eq(s->facts[1].key, "hypervisor.type");
        cr_expect_str_eq(s->facts[1].value, "TEST");
        cr_expect_str_eq(s->facts[2].key, "hypervisor.version");
        cr_expect_str_eq(s->facts[2].value, "2");
        cr_expect_str_eq(s->facts[0].key, "cpu.cpu_socket(s)");
        cr_expect_str_eq(s->facts[0].value, "4", "sockets x nodes of the default node (2 x 2)");
        cr_expect_gt(s->mapping_seq, 0);
        cr_expect_lt((int64_t) (mono_ms() * 1000) - (int64_t) host_heartbeat_usec(h), 2000 * 1000,
                     "the heartbeat is fresh");
        host_snapshot_unref(s);

        /* One libvirt event loop per process: a second Host is refused. */
        Host *h2 = NULL;
        cr_expect_eq(host_start(&c, &h2), -EBUSY);
        host_stop(h);
        cr_expect_eq(snapshot_live_count(), 0);
}

Test(thread, events_from_another_connection) {
        static const char xml[] =
                "<domain type='test'><name>ev1</name><uuid>bbbbbbbb-0000-4000-8000-000000000001"
                "</uuid><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type>hvm</type></os>"
                "</domain>";
        static const char txml[] =
                "<domain type='test'><name>tr1</name><uuid>bbbbbbbb-0000-4000-8000-0000000000"
                "02</uuid><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type>hvm</type>"
                "</os></domain>";
        const char *u = "bbbbbbbb-0000-4000-8000-000000000001", *tu = "bbbbbbbb-0000-4000-8000-000000000002";
        HostConfig c = config("test:///default");
        HostSnapshot *s;
        virConnectPtr conn;
        virDomainPtr d, t;
        Host *h;

        c.report_inactive = true;
        cr_assert_eq(host_start(&c, &h), 0);
        s = wait_for(h, is_synced, NULL, 5000);
        cr_assert_not_null(s);
        host_snapshot_unref(s);
        /* The in-process test:///default is one instance per process. */
        conn = virConnectOpen("test:///default");
        cr_assert_not_null(conn);

#define STEP(call, uuid, st)                                             \
        do {                                                             \
                uint64_t t0 = mono_ms();                                 \
                cr_assert(call);                                         \
                s = wait_for(h, has_state, &(Want){ uuid, st }, 1000);   \
                cr_assert_not_null(s, "%s: not seen within 1 s", #call); \
                cr_expect_lt(mono_ms() - t0, 1000);                      \
                host_snapshot_unref(s);                                  \
        } while (0)
        STEP((d = virDomainDefineXML(conn, xml)) != NULL, u, VIR_DOMAIN_SHUTOFF);
        STEP(virDomainCreate(d) == 0, u, VIR_DOMAIN_RUNNING);
        STEP(virDomainSuspend(d) == 0, u, VIR_DOMAIN_PAUSED);
        STEP(virDomainResume(d) == 0, u, VIR_DOMAIN_RUNNING);
        STEP(virDomainDestroy(d) == 0, u, VIR_DOMAIN_SHUTOFF);
        STEP(virDomainUndefine(d) == 0, u, -1);
        /* A transient domain appears when created and vanishes when stopped. */
        STEP((t = virDomainCreateXML(conn, txml, 0)) != NULL, tu, VIR_DOMAIN_RUNNING);
        STEP(virDomainDestroy(t) == 0, tu, -1);
        /* Undefining a running domain keeps it, until it stops. */
        virDomainFree(d);
        STEP((d = virDomainDefineXML(conn, xml)) != NULL, u, VIR_DOMAIN_SHUTOFF);
        STEP(virDomainCreate(d) == 0, u, VIR_DOMAIN_RUNNING);
        cr_assert_eq(virDomainUndefine(d), 0);
        STEP(virDomainDestroy(d) == 0, u, -1);
#undef STEP
        virDomainFree(d);
        virDomainFree(t);
        (void) virConnectClose(conn);
        host_stop(h);
}

static bool n_guests_is(const HostSnapshot *s, const void *arg) {
        return is_synced(s, NULL) && s->n_domains == *(const size_t *) arg;
}

Test(thread, file_uri_mixed_states_both_listings) {
        char path[512], uri[600];
        HostSnapshot *a, *b;
        size_t want = 1000, running = 0, paused = 0;
        Host *h;

        (void) snprintf(path, sizeof path, "%s/n1000.xml", tmpdir);
        (void) snprintf(uri, sizeof uri, "test://%s", path);
        write_node(path, 1000, NULL);

        HostConfig c = config(uri);
        c.report_inactive = true;
        cr_assert_eq(host_start(&c, &h), 0);
        a = wait_for(h, n_guests_is, &want, 60000);
        cr_assert_not_null(a);
        host_stop(h);
        cr_expect_eq(a->n_guests, 1000);
        for (size_t i = 0; i < a->n_guests; i++) {
                running += a->guests[i].state == VIR_DOMAIN_RUNNING && a->guests[i].active;
                paused += a->guests[i].state == VIR_DOMAIN_PAUSED && a->guests[i].active;
                cr_assert_eq(a->guests[i].active, a->guests[i].state != VIR_DOMAIN_SHUTOFF);
        }
        cr_expect_eq(running, 600);
        cr_expect_eq(paused, 100);
        cr_expect_str_eq(a->facts[0].value, "2");

        /* Listing by state (as above 16 384 domains) gives the same. */
        c.list_per_state = true;
        cr_assert_eq(host_start(&c, &h), 0);
        b = wait_for(h, n_guests_is, &want, 60000);
        cr_assert_not_null(b);
        host_stop(h);
        cr_expect(snapshot_mapping_equal(a, b));
        host_snapshot_unref(a);
        host_snapshot_unref(b);

        /* Default: only active guests are reported. */
        c.list_per_state = false;
        c.report_inactive = false;
        cr_assert_eq(host_start(&c, &h), 0);
        a = wait_for(h, n_guests_is, &want, 60000);
        cr_assert_not_null(a);
        cr_expect_eq(a->n_guests, 700);
        host_snapshot_unref(a);
        host_stop(h);
}

Test(thread, xen_domain0_is_not_a_guest) {
        char path[512], uri[600];
        HostSnapshot *s;
        Host *h;
        size_t three = 3, four = 4;

        (void) snprintf(path, sizeof path, "%s/xen.xml", tmpdir);
        (void) snprintf(uri, sizeof uri, "test://%s", path);
        /* The test driver gives Domain-0 id 1, so the name must do. */
        write_node(path, 3, "d0d0d0d0-0000-4000-8000-000000000000");

        HostConfig c = config(uri);
        c.flavour = HOST_FLAVOUR_XEN;
        cr_assert_eq(host_start(&c, &h), 0);
        s = wait_for(h, n_guests_is, &three, 5000);
        cr_assert_not_null(s, "Domain-0 was counted");
        cr_expect_null(find(s, "d0d0d0d0-0000-4000-8000-000000000000"));
        host_snapshot_unref(s);
        host_stop(h);

        /* On KVM a guest may be called Domain-0. */
        c.flavour = HOST_FLAVOUR_KVM;
        cr_assert_eq(host_start(&c, &h), 0);
        s = wait_for(h, n_guests_is, &four, 5000);
        cr_assert_not_null(s);
        cr_expect_not_null(find(s, "d0d0d0d0-0000-4000-8000-000000000000"));
        host_snapshot_unref(s);
        host_stop(h);

        /* The all-zero UUID never is, whatever the flavour. */
        write_node(path, 3, "00000000-0000-0000-0000-000000000000");
        cr_assert_eq(host_start(&c, &h), 0);
        s = wait_for(h, n_guests_is, &three, 5000);
        cr_assert_not_null(s);
        host_snapshot_unref(s);
        host_stop(h);
}

static bool has_error(const HostSnapshot *s, const void *arg) {
        return s->last_error && strstr(s->last_error, arg);
}

Test(thread, guest_cap_is_a_clear_error) {
        char path[512], uri[600];
        HostSnapshot *s;
        Host *h;

        (void) snprintf(path, sizeof path, "%s/n50.xml", tmpdir);
        (void) snprintf(uri, sizeof uri, "test://%s", path);
        write_node(path, 50, NULL);
        HostConfig c = config(uri);
        c.guest_cap = 10;
        cr_assert_eq(host_start(&c, &h), 0);
        s = wait_for(h, has_error, "max_guests", 5000);
        cr_assert_not_null(s);
        cr_expect(strstr(s->last_error, "50 domains"), "%s", s->last_error);
        cr_expect_eq(s->n_domains, 0);
        host_snapshot_unref(s);
        host_stop(h);
}

static bool has_identity_error(const HostSnapshot *s, const void *arg) {
        return is_synced(s, NULL) && s->identity_error;
}

Test(thread, no_smbios_for_hwuuid) {
        HostConfig c = config("test:///default");
        HostSnapshot *s;
        Host *h;

        c.id_mode = HOST_ID_MODE_HWUUID;
        cr_assert_eq(host_start(&c, &h), 0);
        s = wait_for(h, has_identity_error, NULL, 5000);
        cr_assert_not_null(s);
        cr_expect_null(s->hypervisor_id);
        cr_expect(strstr(s->identity_error, "hypervisor_id = hostname"), "%s", s->identity_error);
        cr_expect_eq(s->n_guests, 1, "the guests are still followed");
        host_snapshot_unref(s);
        host_stop(h);
}

static bool failed_once(const HostSnapshot *s, const void *arg) {
        return s->connect_failures >= 1;
}

Test(thread, unreachable_uri_retries_and_stops_promptly) {
        HostConfig c = config("test+unix:///default?socket=/nonexistent/hvmap/libvirt-sock");
        HostSnapshot *s;
        uint64_t t0;
        Host *h;

        cr_assert_eq(host_start(&c, &h), 0);
        s = wait_for(h, failed_once, NULL, 3000);
        cr_assert_not_null(s);
        cr_expect_eq(s->conn_state, HOST_CONN_CONNECTING);
        cr_expect(strstr(s->last_error, "/nonexistent/hvmap/libvirt-sock"), "%s", s->last_error);
        cr_expect_not(s->synced);
        host_snapshot_unref(s);
        /* Retries: a few within 1.5 s (100 ms, 200 ms, 400 ms, ...). */
        (void) poll(NULL, 0, 1500);
        s = host_snapshot(h);
        cr_expect_geq(s->connect_failures, 3);
        cr_expect_leq(s->connect_failures, 8);
        host_snapshot_unref(s);
        t0 = mono_ms();
        host_stop(h);
        cr_expect_lt(mono_ms() - t0, 500);
}

Test(thread, bad_config_is_refused) {
        HostConfig c = config(NULL);
        Host *h = NULL;

        c.guest_cap = 0;
        cr_expect_eq(host_start(&c, &h), -EINVAL);
        c = config(NULL);
        c.keepalive_count = 0;
        cr_expect_eq(host_start(&c, &h), -EINVAL);
        cr_expect_null(h);
        host_stop(NULL);
}
