/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Host identity (UUID text, bogus SMBIOS UUIDs, the fallback chain, the XML
 * fields it reads), Xen's Domain-0 rule, guest filters, backoff, and what a
 * URI connects to. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>

#define HVMAP_HOST_INTERNAL
#include "host/host-internal.h"

Test(uuid, parse_and_format) {
        static const struct {
                const char *in;
                const char *out; /* NULL: refused */
        } cases[] = {
                { "6695eb01-f6a4-8304-79aa-97f2502e193f", "6695eb01-f6a4-8304-79aa-97f2502e193f" },
                { "6695EB01-F6A4-8304-79AA-97F2502E193F", "6695eb01-f6a4-8304-79aa-97f2502e193f" },
                { "  3d1219c7c4c5404aaa1f6d2a48adfda4\n", "3d1219c7-c4c5-404a-aa1f-6d2a48adfda4" },
                { "", NULL },
                { "6695eb01-f6a4-8304-79aa-97f2502e193", NULL }, /* truncated */
                { "6695eb01-f6a4-8304-79aa-97f2502e193fa", NULL }, /* one too many */
                { "6695eb01f-6a4-8304-79aa-97f2502e193f", NULL }, /* dash misplaced */
                { "6695eb01-f6a4-8304-79aa-97f2502e193g", NULL }, /* not hex */
                { "3d1219c7c4c5404aaa1f6d2a48adfda", NULL },
                { "3d1219c7 c4c5404aaa1f6d2a48adfda4", NULL },
                { "Not Settable", NULL },
        };
        char buf[HOST_UUID_STRING_MAX];
        uint8_t u[HOST_UUID_BYTES];

        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
                int r = uuid_parse(cases[i].in, u);

                if (!cases[i].out) {
                        cr_expect_eq(r, -EINVAL, "accepted \"%s\"", cases[i].in);
                        continue;
                }
                cr_expect_eq(r, 0, "refused \"%s\"", cases[i].in);
                cr_expect_str_eq(uuid_format(u, buf), cases[i].out);
        }
        cr_expect_eq(uuid_parse(NULL, u), -EINVAL);
}

Test(uuid, bogus_smbios_values) {
        static const char *const bogus[] = {
                "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff",
                "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", "03000200-0400-0500-0006-000700080009",
                "02000300-0004-0005-0006-000700080009", "12345678-1234-5678-90ab-cddeefaabbcc",
                "11111111-1111-1111-1111-111111111111",
        };
        static const char *const fine[] = {
                "6695eb01-f6a4-8304-79aa-97f2502e193f",
                "4c4c4544-0042-3510-8044-b2c04f4b3232",
                "03000200-0400-0500-0006-00070008000a",
        };
        uint8_t u[HOST_UUID_BYTES];

        for (size_t i = 0; i < sizeof bogus / sizeof *bogus; i++) {
                cr_assert_eq(uuid_parse(bogus[i], u), 0);
                cr_expect(uuid_is_bogus(u), "%s should be refused", bogus[i]);
        }
        for (size_t i = 0; i < sizeof fine / sizeof *fine; i++) {
                cr_assert_eq(uuid_parse(fine[i], u), 0);
                cr_expect_not(uuid_is_bogus(u), "%s should be accepted", fine[i]);
        }
}

#define GOOD_CAPS "5c0c8a56-6c5d-4b7a-9c1e-1e2f3a4b5c6d"
#define GOOD_SMBIOS "4c4c4544-0042-3510-8044-b2c04f4b3232"
#define AMI "03000200-0400-0500-0006-000700080009"
#define MACHINE_ID "3d1219c7c4c5404aaa1f6d2a48adfda4\n"

Test(identity, uuid_chain) {
        HostIdResult r;

        /* Capabilities first. */
        cr_assert_eq(host_id_choose(HOST_ID_MODE_UUID, NULL,
                                    &(HostIdInputs){ GOOD_CAPS, GOOD_SMBIOS, MACHINE_ID, "vm" }, &r),
                     0);
        cr_expect_str_eq(r.id, GOOD_CAPS);
        cr_expect_eq(r.source, HOST_ID_SOURCE_CAPABILITIES);
        cr_expect_eq(r.n_steps, 1);

        /* A bogus capabilities UUID (libvirt copies SMBIOS) → sysinfo. */
        cr_assert_eq(host_id_choose(HOST_ID_MODE_UUID, NULL,
                                    &(HostIdInputs){ AMI, GOOD_SMBIOS, MACHINE_ID, "vm" }, &r),
                     0);
        cr_expect_str_eq(r.id, GOOD_SMBIOS);
        cr_expect_eq(r.n_steps, 2);
        cr_expect_eq(r.steps[0].verdict, HOST_ID_BOGUS);
        cr_expect_eq(r.steps[1].verdict, HOST_ID_USED);

        /* The test driver: no host UUID, no system UUID → machine-id. */
        cr_assert_eq(
                host_id_choose(HOST_ID_MODE_UUID, NULL, &(HostIdInputs){ NULL, NULL, MACHINE_ID, "vm" }, &r),
                0);
        cr_expect_str_eq(r.id, "3d1219c7-c4c5-404a-aa1f-6d2a48adfda4");
        cr_expect_eq(r.source, HOST_ID_SOURCE_MACHINE_ID);
        cr_expect_eq(r.steps[0].verdict, HOST_ID_ABSENT);
        cr_expect_eq(r.steps[1].verdict, HOST_ID_ABSENT);

        /* Malformed values are skipped too. */
        cr_assert_eq(host_id_choose(HOST_ID_MODE_UUID, NULL,
                                    &(HostIdInputs){ "garbage", "Not Settable", MACHINE_ID, "vm" }, &r),
                     0);
        cr_expect_eq(r.steps[0].verdict, HOST_ID_MALFORMED);
        cr_expect_eq(r.source, HOST_ID_SOURCE_MACHINE_ID);
}

Test(identity, nothing_usable_names_the_hostname_option) {
        HostIdResult r;
        char msg[1024];

        cr_assert_eq(host_id_choose(HOST_ID_MODE_UUID, NULL,
                                    &(HostIdInputs){ AMI, "ffffffff-ffff-ffff-ffff-ffffffffffff",
                                                     "00000000000000000000000000000000", "vm" },
                                    &r),
                     -ENOENT);
        cr_expect_str_eq(r.id, "");
        cr_expect_eq(r.n_steps, 3);
        host_id_explain_failure(HOST_ID_MODE_UUID, &r, msg, sizeof msg);
        cr_expect(strstr(msg, "hypervisor_id = hostname"), "%s", msg);
        cr_expect(strstr(msg, "bogus"), "%s", msg);

        /* hwuuid: SMBIOS only, and the bogus one is refused. */
        cr_assert_eq(host_id_choose(HOST_ID_MODE_HWUUID, NULL,
                                    &(HostIdInputs){ GOOD_CAPS, AMI, MACHINE_ID, "vm" }, &r),
                     -ENOENT);
        host_id_explain_failure(HOST_ID_MODE_HWUUID, &r, msg, sizeof msg);
        cr_expect(strstr(msg, "hypervisor_id = hostname"), "%s", msg);
        cr_expect(strstr(msg, "hwuuid"), "%s", msg);
        cr_assert_eq(host_id_choose(HOST_ID_MODE_HWUUID, NULL,
                                    &(HostIdInputs){ GOOD_CAPS, GOOD_SMBIOS, MACHINE_ID, "vm" }, &r),
                     0);
        cr_expect_str_eq(r.id, GOOD_SMBIOS);
}

Test(identity, hostname_mode_and_override) {
        HostIdResult r;

        cr_assert_eq(host_id_choose(HOST_ID_MODE_HOSTNAME, NULL,
                                    &(HostIdInputs){ GOOD_CAPS, NULL, NULL, "kvm01.example.com" }, &r),
                     0);
        cr_expect_str_eq(r.id, "kvm01.example.com");
        cr_expect_eq(
                host_id_choose(HOST_ID_MODE_HOSTNAME, NULL, &(HostIdInputs){ .hostname = "localhost" }, &r),
                -ENOENT);
        cr_expect_eq(r.steps[0].verdict, HOST_ID_BOGUS);
        cr_expect_eq(host_id_choose(HOST_ID_MODE_HOSTNAME, NULL, &(HostIdInputs){ .hostname = NULL }, &r),
                     -ENOENT);
        cr_expect_eq(host_id_choose(HOST_ID_MODE_HOSTNAME, NULL, &(HostIdInputs){ .hostname = "a b" }, &r),
                     -ENOENT);
        cr_expect_eq(r.steps[0].verdict, HOST_ID_MALFORMED);

        /* The override wins over every mode, as it is. */
        cr_assert_eq(host_id_choose(HOST_ID_MODE_UUID, "My-Host-7", &(HostIdInputs){ GOOD_CAPS }, &r), 0);
        cr_expect_str_eq(r.id, "My-Host-7");
        cr_expect_eq(r.source, HOST_ID_SOURCE_OVERRIDE);
        cr_expect_eq(host_id_choose(HOST_ID_MODE_UUID, "", &(HostIdInputs){}, &r), -EINVAL);
        cr_expect_eq(host_id_choose(HOST_ID_MODE_UUID, "two words", &(HostIdInputs){}, &r), -EINVAL);
        cr_expect_eq(host_id_choose(HOST_ID_MODE_UUID, "tab\there", &(HostIdInputs){}, &r), -EINVAL);
}

Test(identity, capabilities_and_sysinfo_xml) {
        static const char caps[] = "<capabilities>\n\n  <host>\n    <uuid>" GOOD_CAPS "</uuid>\n    <cpu>\n"
                                   "      <arch>x86_64</arch>\n    </cpu>\n  </host>\n  <guest>\n"
                                   "    <os_type>hvm</os_type>\n  </guest>\n</capabilities>\n";
        static const char caps_test[] = "<capabilities>\n  <host>\n    <cpu>\n      <arch>i686</arch>\n"
                                        "    </cpu>\n  </host>\n  <guest><uuid>not-this-one</uuid></guest>\n"
                                        "</capabilities>\n";
        static const char sysinfo[] =
                "<sysinfo type='smbios'>\n  <bios>\n    <entry name='vendor'>LENOVO</entry>\n  </bios>\n"
                "  <system>\n    <entry name='manufacturer'>Dell Inc.</entry>\n"
                "    <entry name='uuid'> " GOOD_SMBIOS " </entry>\n  </system>\n</sysinfo>\n";
        static const char sysinfo_test[] =
                "<sysinfo type='smbios'>\n  <bios>\n"
                "    <entry name='uuid'>not-here</entry>\n  </bios>\n  <system>\n"
                "    <entry name='manufacturer'>Fake</entry>\n  </system>\n</sysinfo>";
        char *s = NULL;

        cr_assert_eq(caps_host_uuid(caps, &s), 0);
        cr_expect_str_eq(s, GOOD_CAPS);
        free(s);
        cr_expect_eq(caps_host_uuid(caps_test, &s), -ENOENT);
        cr_expect_eq(caps_host_uuid(NULL, &s), -ENOENT);
        cr_expect_eq(caps_host_uuid("<host><uuid>", &s), -ENOENT); /* truncated */
        cr_assert_eq(sysinfo_system_uuid(sysinfo, &s), 0);
        cr_expect_str_eq(s, GOOD_SMBIOS);
        free(s);
        cr_expect_eq(sysinfo_system_uuid(sysinfo_test, &s), -ENOENT);
        cr_expect_eq(sysinfo_system_uuid("<system><entry name='uuid'></entry></system>", &s), -ENOENT);
}

Test(identity, version_and_flavour) {
        char buf[32];

        cr_expect_str_eq(host_version_format(7002022, buf, sizeof buf), "7.2.22");
        cr_expect_str_eq(host_version_format(2, buf, sizeof buf), "0.0.2");
        cr_expect_str_eq(host_version_format(4017000, buf, sizeof buf), "4.17.0");
        cr_expect_eq(host_flavour_from_type("Xen"), HOST_FLAVOUR_XEN);
        cr_expect_eq(host_flavour_from_type("QEMU"), HOST_FLAVOUR_KVM);
        cr_expect_eq(host_flavour_from_type("TEST"), HOST_FLAVOUR_KVM);
        cr_expect_eq(host_flavour_from_type(NULL), HOST_FLAVOUR_KVM);
        cr_expect_eq(host_flavour_from_string("xen"), HOST_FLAVOUR_XEN);
        cr_expect_eq(host_flavour_from_string("Xen"), -EINVAL);
        cr_expect_eq(host_id_mode_from_string("hwuuid"), HOST_ID_MODE_HWUUID);
        cr_expect_eq(host_id_mode_from_string("uuid "), -EINVAL);
}

Test(xen, domain0_is_never_a_guest) {
        uint8_t zero[HOST_UUID_BYTES] = {}, some[HOST_UUID_BYTES] = { 1, 2, 3 };

        /* Xen: id 0, the name, or the zero UUID. */
        cr_expect(host_is_control_domain(HOST_FLAVOUR_XEN, 0, "anything", some));
        cr_expect(
                host_is_control_domain(HOST_FLAVOUR_XEN, 1, "Domain-0", some)); /* the test driver's dom0 */
        cr_expect(host_is_control_domain(HOST_FLAVOUR_XEN, -1, "x", zero));
        cr_expect_not(host_is_control_domain(HOST_FLAVOUR_XEN, 5, "guest", some));
        cr_expect_not(host_is_control_domain(HOST_FLAVOUR_XEN, -1, "domain-0", some)); /* names are exact */
        /* KVM: a guest may be id 0-less and named anything; only the zero
         * UUID is refused. */
        cr_expect_not(host_is_control_domain(HOST_FLAVOUR_KVM, 0, "Domain-0", some));
        cr_expect(host_is_control_domain(HOST_FLAVOUR_KVM, 3, "x", zero));
}

Test(filter, include_exclude_and_inactive) {
        static const char *const inc[] = { "web-*", "6695EB01-*", NULL };
        static const char *const exc[] = { "web-test*", NULL };
        GuestFilter none = {}, all = { .report_inactive = true }, f = { inc, exc, false };
        const char *u1 = "6695eb01-f6a4-8304-79aa-97f2502e193f",
                   *u2 = "11111111-0000-4000-8000-000000000001";

        cr_expect(guest_filter_match(&none, u1, "a", true));
        cr_expect_not(guest_filter_match(&none, u1, "a", false), "inactive not reported by default");
        cr_expect(guest_filter_match(&all, u1, "a", false));
        cr_expect(guest_filter_match(&f, u1, "db", true), "UUID glob, case-insensitive");
        cr_expect(guest_filter_match(&f, u2, "web-01", true));
        cr_expect_not(guest_filter_match(&f, u2, "web-test-01", true), "exclude wins");
        cr_expect_not(guest_filter_match(&f, u2, "db", true), "no include matched");
        cr_expect_not(guest_filter_match(&f, u2, "web-01", false));
        cr_expect_not(guest_filter_match(&f, u2, NULL, true));
        cr_expect(guest_filter_match(&(GuestFilter){ (const char *const[]){ NULL }, NULL, false }, u2, "x",
                                     true),
                  "an empty include list means all");
}

Test(backoff, fast_first_capped_and_bounded) {
        uint64_t prev = 0;

        for (uint32_t rnd = 0; rnd < 4096; rnd += 97) {
                uint64_t d = host_backoff_usec(1, rnd);

                cr_expect(d >= 75000 && d <= 100000, "first retry %lu", (unsigned long) d);
        }
        for (unsigned a = 1; a < 40; a++) {
                uint64_t d = host_backoff_usec(a, 0);

                cr_expect_geq(d, prev);
                cr_expect_leq(d, HOST_BACKOFF_CAP_USEC);
                prev = d;
        }
        cr_expect_eq(host_backoff_usec(1000000, 0), HOST_BACKOFF_CAP_USEC);
        cr_expect_geq(host_backoff_usec(1000000, UINT32_MAX), HOST_BACKOFF_CAP_USEC * 3 / 4);
        cr_expect_geq(host_backoff_usec(0, 1024), 50000, "never more than 20 attempts a second");
}

Test(uri, describe_socket) {
        char buf[512];

        cr_expect_str_eq(host_uri_describe_socket("test+unix:///default?socket=/tmp/x/libvirt-sock", true,
                                                  buf, sizeof buf),
                         "socket /tmp/x/libvirt-sock");
        cr_expect_str_eq(host_uri_describe_socket("qemu+unix:///system?mode=legacy&socket=/run/s&x=1", true,
                                                  buf, sizeof buf),
                         "socket /run/s");
        cr_expect(strstr(host_uri_describe_socket("qemu:///system", true, buf, sizeof buf),
                         "/run/libvirt/virtqemud-sock-ro"));
        cr_expect(strstr(host_uri_describe_socket("xen:///system", false, buf, sizeof buf),
                         "/run/libvirt/libvirt-sock"));
        cr_expect(strstr(host_uri_describe_socket("qemu+ssh://root@kvm1/system", true, buf, sizeof buf),
                         "ssh"));
        cr_expect(
                strstr(host_uri_describe_socket("test:///tmp/n.xml", true, buf, sizeof buf), "in-process"));
        cr_expect(strstr(host_uri_describe_socket("bogus", true, buf, sizeof buf), "does not parse"));
        cr_expect(strstr(host_uri_describe_socket(NULL, true, buf, sizeof buf), "default"));
}
