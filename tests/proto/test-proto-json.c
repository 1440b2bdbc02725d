/* SPDX-License-Identifier: GPL-2.0-or-later */
/* proto/json.c: golden bodies, field limits, the digest, hostile parser tables. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "proto/proto-internal.h"
#include "util/cleanup.h"
#include "util/fileio.h"

static const ProtoFact facts[] = {
        { "hypervisor.version", "7002000" },
        { "cpu.cpu_socket(s)", "2" },
        { "hypervisor.type", "QEMU" },
        { "dmi.system.uuid", "overridden-by-hypervisor-id" },
};

/* Unsorted, mixed case, with a duplicate that differs only in case. */
static const ProtoGuest guests[] = {
        { "C2F0AB33-5E2E-4F3A-9C7E-000000000003", 1, true },
        { "0a1b2c3d-0000-4000-8000-000000000001", 3, true },
        { "b7e1d9a0-1111-4111-8111-000000000002", 5, false },
        { "c2f0ab33-5e2e-4f3a-9c7e-000000000003", 5, false },
};

static const ProtoMapping mapping = {
        .hypervisor_id = "4c4c4544-0042-3910-8053-b4c04f4e3132",
        .name = "kvm-01.example.com",
        .facts = facts,
        .n_facts = ELEMENTSOF(facts),
        .guests = guests,
        .n_guests = ELEMENTSOF(guests),
        .fqdn = "kvm-01.example.com",
};

static void golden(const char *name, const char *got) {
        _cleanup_free_ char *path = NULL, *want = NULL, *with_nl = NULL;
        const char *dir = getenv("HVMAP_PROTO_DATA");
        size_t len;

        cr_assert_not_null(dir, "HVMAP_PROTO_DATA not set (run through meson test)");
        cr_assert_gt(asprintf(&path, "%s/%s", dir, name), 0);
        cr_assert_gt(asprintf(&with_nl, "%s\n", got), 0);
        if (getenv("HVMAP_UPDATE_GOLDEN")) {
                cr_assert_eq(write_file_atomic(path, with_nl, strlen(with_nl), 0644), 0);
                return;
        }
        cr_assert_eq(read_file_capped(path, 1 << 20, &want, &len), 0,
                     "missing %s: regenerate with HVMAP_UPDATE_GOLDEN=1 and review the diff", path);
        cr_expect_str_eq(with_nl, want, "%s differs from the golden file", name);
}

Test(build, register_golden) {
        _cleanup_free_ char *s = NULL;
        size_t len = 0;

        cr_assert_eq(proto_build_register(&mapping, &s, &len, NULL, 0), 0);
        cr_expect_eq(len, strlen(s));
        golden("register.json", s);
        cr_expect_not_null(strstr(s, "\"type\":{\"label\":\"hypervisor\"}"));
        cr_expect_not_null(strstr(s, "\"dmi.system.uuid\":\"4c4c4544-0042-3910-8053-b4c04f4e3132\""));
        cr_expect_not_null(strstr(s, "\"virt.is_guest\":\"false\""));
        cr_expect_null(strstr(s, "overridden"));
}

Test(build, guest_update_golden) {
        _cleanup_free_ char *s = NULL;

        cr_assert_eq(proto_build_guest_update(&mapping, &s, NULL, NULL, 0), 0);
        golden("guest-update.json", s);
        /* Sorted, lower-cased, duplicate folded with active winning. */
        cr_expect_null(strstr(s, "C2F0"));
        cr_expect_not_null(strstr(s, "{\"guestId\":\"c2f0ab33-5e2e-4f3a-9c7e-000000000003\",\"attributes\":{"
                                     "\"virtWhoType\":\"libvirt\",\"active\":\"1\"}}]"));
        cr_expect_lt(strstr(s, "0a1b2c3d"), strstr(s, "b7e1d9a0"));
        cr_expect_null(strstr(s, "\"state\""));
}

Test(build, satellite_facts_and_hypervisor_id) {
        _cleanup_free_ char *reg = NULL, *put = NULL;

        cr_assert_eq(proto_build_register(&mapping, &reg, NULL, NULL, 0), 0);
        cr_expect_not_null(strstr(reg, "\"network.hostname\":\"kvm-01.example.com\""),
                           "Katello's registration needs network.hostname: %s", reg);
        cr_expect_not_null(strstr(reg, "\"network.fqdn\":\"kvm-01.example.com\""));
        cr_assert_eq(proto_build_guest_update(&mapping, &put, NULL, NULL, 0), 0);
        cr_expect_not_null(
                strstr(put, "\"hypervisorId\":{\"hypervisorId\":\"4c4c4544-0042-3910-8053-b4c04f4e3132\"}"),
                "a changed hypervisor id reaches the server: %s", put);
        cr_expect_not_null(strstr(put, "\"network.hostname\""));
}

Test(build, dmi_uuid_is_replaced_only_by_a_uuid) {
        _cleanup_free_ char *s = NULL;
        static const ProtoFact f[] = { { "dmi.system.uuid", "4c4c4544-0042-3910-8053-b4c04f4e3132" } };
        ProtoMapping m = {
                .hypervisor_id = "kvm-01.example.com", .name = "kvm-01", .facts = f, .n_facts = 1
        };

        cr_assert_eq(proto_build_register(&m, &s, NULL, NULL, 0), 0);
        cr_expect_not_null(strstr(s, "\"dmi.system.uuid\":\"4c4c4544-0042-3910-8053-b4c04f4e3132\""),
                           "a host-name hypervisor id leaves the SMBIOS UUID alone: %s", s);
}

Test(build, no_facts_on_a_consumer_not_ours) {
        _cleanup_free_ char *s = NULL;
        ProtoMapping m = mapping;

        m.no_facts = true;
        cr_assert_eq(proto_build_guest_update(&m, &s, NULL, NULL, 0), 0);
        cr_expect_null(strstr(s, "\"facts\""), "Candlepin would replace subscription-manager's facts: %s",
                       s);
        cr_expect_not_null(strstr(s, "\"guestIds\""));
        cr_expect_not_null(strstr(s, "\"hypervisorId\""));
}

Test(build, guest_update_empty_golden) {
        _cleanup_free_ char *s = NULL;
        ProtoMapping m = { .hypervisor_id = "hv-1" };

        cr_assert_eq(proto_build_guest_update(&m, &s, NULL, NULL, 0), 0);
        golden("guest-update-empty.json", s);
        cr_expect_not_null(strstr(s, "\"guestIds\":[]"),
                           "an empty list removes all guests: it must be sent");
}

Test(build, checkin_golden) {
        _cleanup_free_ char *s = NULL;

        cr_assert_eq(proto_build_checkin(&mapping, 1, &s, NULL, NULL, 0), 0);
        golden("checkin.json", s);
        cr_expect_not_null(strstr(s, "\"state\":1"));
}

/* The guest list, the hypervisor id and the name are written by hand, the
 * rest by cJSON: a body must be exactly what cJSON prints for the same
 * document, whatever bytes the strings hold (the digest of a body must not
 * change with the writer). */
static void expect_cjson_bytes(const char *what, const char *body) {
        cJSON *doc = cJSON_Parse(body);
        char *again;

        cr_assert_not_null(doc, "%s is not JSON: %s", what, body);
        again = cJSON_PrintUnformatted(doc);
        cr_assert_not_null(again);
        cr_expect_str_eq(body, again, "%s differs from what cJSON prints for it", what);
        free(again);
        cJSON_Delete(doc);
}

Test(build, hostile_strings_written_as_cjson_prints_them) {
        char quotes[PROTO_FIELD_MAX + 1], ctl[PROTO_FIELD_MAX + 1], name[PROTO_NAME_MAX + 1];
        ProtoGuest g[] = {
                { "Mixed\"Quote\\Back\b\f\n\r\t\x01\x1f\x7f"
                  "\xc3\x89"
                  "END",
                  1, true },
                { quotes, 3, true },
                { ctl, 5, false },
                { "0A1B2C3D-0000-4000-8000-00000000000F", 1, true },
        };
        ProtoMapping m = mapping;
        _cleanup_free_ char *update = NULL, *checkin = NULL;
        cJSON *doc;

        memset(quotes, '"', PROTO_FIELD_MAX);
        quotes[PROTO_FIELD_MAX] = '\0';
        for (size_t i = 0; i < PROTO_FIELD_MAX; i++)
                ctl[i] = (char) (1 + i % 31); /* every control byte, escaped to 6 bytes each */
        ctl[PROTO_FIELD_MAX] = '\0';
        memset(name, '\\', PROTO_NAME_MAX);
        name[PROTO_NAME_MAX] = '\0';
        m.guests = g;
        m.n_guests = ELEMENTSOF(g);
        m.hypervisor_id = "hv\t\"1\"\x02";
        m.name = name;

        cr_assert_eq(proto_build_guest_update(&m, &update, NULL, NULL, 0), 0);
        expect_cjson_bytes("the guest update", update);
        cr_assert_eq(proto_build_checkin(&m, 1, &checkin, NULL, NULL, 0), 0);
        expect_cjson_bytes("the check-in", checkin);

        /* The ids arrive lower-cased (ASCII only), sorted, not otherwise changed. */
        doc = cJSON_Parse(update);
        cr_assert_not_null(doc);
        {
                const cJSON *ids = cJSON_GetObjectItemCaseSensitive(doc, "guestIds");
                const char *want[] = { ctl, quotes, "0a1b2c3d-0000-4000-8000-00000000000f",
                                       "mixed\"quote\\back\b\f\n\r\t\x01\x1f\x7f"
                                       "\xc3\x89"
                                       "end" };
                size_t i = 0;
                const cJSON *e;

                cr_assert_eq(cJSON_GetArraySize(ids), (int) ELEMENTSOF(want));
                cJSON_ArrayForEach(e, ids) {
                        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "guestId");

                        cr_assert(cJSON_IsString(id));
                        cr_expect_str_eq(id->valuestring, want[i], "guest %zu", i);
                        i++;
                }
        }
        cJSON_Delete(doc);
}

/* The digest the agent keeps: SHA-256 of the exact guest-update body. */
static int update_digest(const ProtoMapping *m, char ret[PROTO_DIGEST_HEX_LEN + 1]) {
        _cleanup_free_ char *body = NULL;
        size_t len;
        int r = proto_build_guest_update(m, &body, &len, NULL, 0);

        return r < 0 ? r : proto_body_digest(body, len, ret);
}

Test(digest, known_answer) {
        char d[PROTO_DIGEST_HEX_LEN + 1];

        cr_assert_eq(proto_body_digest("abc", 3, d), 0);
        cr_expect_str_eq(d, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        cr_assert_eq(proto_body_digest("", 0, d), 0);
        cr_expect_str_eq(d, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

Test(digest, order_independent_and_sensitive) {
        char a[PROTO_DIGEST_HEX_LEN + 1], b[PROTO_DIGEST_HEX_LEN + 1], c[PROTO_DIGEST_HEX_LEN + 1];
        ProtoGuest rev[ELEMENTSOF(guests)];
        ProtoMapping m = mapping;

        for (size_t i = 0; i < ELEMENTSOF(guests); i++)
                rev[i] = guests[ELEMENTSOF(guests) - 1 - i];
        cr_assert_eq(update_digest(&mapping, a), 0);
        cr_expect_eq(strlen(a), 64);
        m.guests = rev;
        cr_assert_eq(update_digest(&m, b), 0);
        cr_expect_str_eq(a, b, "guest order must not change the digest");
        /* Both spellings of the duplicated guest inactive now. */
        rev[0].active = false;
        rev[3].active = false;
        cr_assert_eq(update_digest(&m, c), 0);
        cr_expect_str_neq(a, c, "an active flag change must change the digest");
        /* A state change alone is not sent in the update body. */
        m.guests = guests;
        m.n_guests = 1;
        cr_assert_eq(update_digest(&m, a), 0);
        rev[0] = guests[0];
        rev[0].state = 3;
        m.guests = rev;
        cr_assert_eq(update_digest(&m, b), 0);
        cr_expect_str_eq(a, b);
}

Test(build, limits) {
        char long256[257], long251[252], err[PROTO_ERROR_MAX];
        _cleanup_free_ char *s = NULL;

        memset(long256, 'a', 256);
        long256[256] = 0;
        memset(long251, 'n', 251);
        long251[251] = 0;
        struct {
                ProtoMapping m;
                const char *want;
        } bad[] = {
                { { .hypervisor_id = NULL, .name = "x" }, "hypervisor id is missing" },
                { { .hypervisor_id = "", .name = "x" }, "hypervisor id is empty" },
                { { .hypervisor_id = long256, .name = "x" }, "at most 255" },
                { { .hypervisor_id = "h", .name = long251 }, "at most 250" },
                { { .hypervisor_id = "h", .name = "#hash" }, "starts with '#'" },
                { { .hypervisor_id = "h", .name = "" }, "consumer name is empty" },
                { { .hypervisor_id = "h", .name = "bad\xff" }, "not valid UTF-8" },
                { { .hypervisor_id = "h", .name = "x", .guests = (ProtoGuest[]){ { "" } }, .n_guests = 1 },
                  "guest id is empty" },
                { { .hypervisor_id = "h",
                    .name = "x",
                    .guests = (ProtoGuest[]){ { long256 } },
                    .n_guests = 1 },
                  "guest id is 256 bytes" },
                { { .hypervisor_id = "h",
                    .name = "x",
                    .facts = (ProtoFact[]){ { "k", long256 } },
                    .n_facts = 1 },
                  "(fact \"k\")" },
                { { .hypervisor_id = "h",
                    .name = "x",
                    .facts = (ProtoFact[]){ { long256, "v" } },
                    .n_facts = 1 },
                  "fact key is 256" },
                { { .hypervisor_id = "h",
                    .name = "x",
                    .facts = (ProtoFact[]){ { "a", "1" }, { "A", "2" } },
                    .n_facts = 2 },
                  "given twice" },
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                err[0] = 0;
                cr_expect_eq(proto_build_register(&bad[i].m, &s, NULL, err, sizeof(err)), -EINVAL,
                             "case %zu", i);
                cr_expect_not_null(strstr(err, bad[i].want), "case %zu: got \"%s\", want \"%s\"", i, err,
                                   bad[i].want);
        }
        /* Exactly at the limits is fine. */
        long256[255] = 0;
        long251[250] = 0;
        ProtoMapping ok = { .hypervisor_id = long256, .name = long251 };
        cr_expect_eq(proto_build_register(&ok, &s, NULL, err, sizeof(err)), 0, "%s", err);
}

/* ---- parsers ---- */

#define P(s) s, sizeof(s) - 1

Test(parse, consumer_good) {
        static const char body[] =
                "{\"uuid\":\"0f3e-AB12\",\"name\":\"kvm\",\"type\":{\"label\":\"hypervisor\",\"id\":"
                "\"1004\"},"
                "\"owner\":{\"key\":\"acme\",\"id\":\"x\"},\"hypervisorId\":{\"hypervisorId\":\"hv\"},"
                "\"idCert\":{\"cert\":\"C\",\"key\":\"K\",\"serial\":{\"serial\":9007199254740993,"
                "\"expiration\":\"2031-01-01T00:00:00+0000\"}},\"unknown\":[1,2,{\"x\":null}]}";
        ProtoConsumer c = {};

        cr_assert_eq(proto_parse_consumer(P(body), &c), 0);
        cr_expect_str_eq(c.uuid, "0f3e-AB12");
        cr_expect_str_eq(c.owner_key, "acme");
        cr_expect_str_eq(c.type_label, "hypervisor");
        cr_expect_str_eq(c.hypervisor_id, "hv");
        cr_expect_str_eq(c.cert_pem, "C");
        cr_expect_str_eq(c.key_pem, "K");
        cr_expect_not_null(c.serial);
        cr_expect_str_eq(c.expiration, "2031-01-01T00:00:00+0000");
        proto_consumer_done(&c);

        cr_assert_eq(
                proto_parse_consumer(P("{\"uuid\":\"u1\",\"type\":\"hypervisor\",\"idCert\":null}"), &c), 0);
        cr_expect_str_eq(c.type_label, "hypervisor");
        cr_expect_null(c.cert_pem);
        proto_consumer_done(&c);
        cr_assert_eq(proto_parse_consumer(
                             P("{\"uuid\":\"u1\",\"idCert\":{\"serial\":{\"serial\":\"123\"}}}"), &c),
                     0);
        cr_expect_str_eq(c.serial, "123");
        proto_consumer_done(&c);
}

static char *deep(size_t n) {
        char *s = malloc(2 * n + 1);
        memset(s, '[', n);
        memset(s + n, ']', n);
        s[2 * n] = 0;
        return s;
}

Test(parse, consumer_hostile) {
        static const struct {
                const char *s;
                size_t len;
        } bad[] = {
                { P("") },
                { P("   ") },
                { P("null") },
                { P("[]") },
                { P("\"uuid\"") },
                { P("{\"uuid\":\"abc\"") }, /* truncated */
                { P("{\"uuid\":\"ab") }, /* truncated in a string */
                { P("{\"uuid\":12}") }, /* wrong type */
                { P("{\"uuid\":\"\"}") }, /* empty */
                { P("{\"uuid\":\"../../etc\"}") }, /* not for a URL path */
                { P("{\"uuid\":\"a b\"}") },
                { P("{\"name\":\"x\"}") }, /* missing uuid */
                { P("{\"uuid\":\"u\",\"owner\":\"acme\"}") },
                { P("{\"uuid\":\"u\",\"owner\":{\"key\":5}}") },
                { P("{\"uuid\":\"u\",\"idCert\":[]}") },
                { P("{\"uuid\":\"u\",\"idCert\":{\"cert\":{}}}") },
                { P("{\"uuid\":\"u\",\"idCert\":{\"serial\":{\"serial\":-1}}}") },
                { P("{\"uuid\":\"u\",\"idCert\":{\"serial\":{\"serial\":1.5}}}") },
                { P("{\"uuid\":\"u\",\"idCert\":{\"serial\":{\"serial\":1e400}}}") },
                { P("{\"uuid\":\"u\",\"idCert\":{\"serial\":{\"serial\":99999999999999999999999}}}") },
                { P("{\"uuid\":\"u\",\"idCert\":{\"serial\":{\"serial\":\"12x\"}}}") },
                { P("{\"uuid\":\"u\"} trailing") },
                { P("{\"uuid\":\"u\"}{}") },
                { P("{\"uuid\":\"u\"}\0") }, /* embedded NUL via length */
                { P("{\"uuid\":\"u\0v\"}") },
                { P("{\"uuid\":\"u\",\"name\":\"\xc3\"}") }, /* truncated UTF-8 */
                { P("{\"uuid\":\"u\",\"name\":\"\xed\xa0\x80\"}") }, /* surrogate */
                { P("{\"uuid\":\"u\",\"name\":\"\xc0\xaf\"}") }, /* overlong */
                { P("<html><body>502</body></html>") },
        };
        _cleanup_free_ char *d = deep(100000);
        ProtoConsumer c = {};

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                /* An exact-size heap copy, so ASan sees any read past len. */
                _cleanup_free_ char *copy = malloc(bad[i].len ? bad[i].len : 1);
                memcpy(copy, bad[i].s, bad[i].len);
                cr_expect_eq(proto_parse_consumer(copy, bad[i].len, &c), -EBADMSG, "case %zu", i);
                cr_expect_null(c.uuid, "case %zu: output touched on failure", i);
        }
        cr_expect_eq(proto_parse_consumer(d, strlen(d), &c), -EBADMSG, "deep nesting");
        cr_expect_eq(proto_parse_consumer(NULL, 0, &c), -EBADMSG);
}

Test(parse, truncation_of_a_good_body_never_succeeds_but_the_whole_does) {
        static const char body[] =
                "{\"uuid\":\"u-1\",\"owner\":{\"key\":\"acme\"},\"idCert\":{\"cert\":\"C\","
                "\"key\":\"K\",\"serial\":{\"serial\":42}}}";
        ProtoConsumer c = {};

        for (size_t n = 0; n < sizeof(body) - 1; n++) {
                _cleanup_free_ char *copy = malloc(n ? n : 1);
                memcpy(copy, body, n);
                cr_expect_lt(proto_parse_consumer(copy, n, &c), 0, "prefix of %zu bytes accepted", n);
        }
        cr_assert_eq(proto_parse_consumer(P(body), &c), 0);
        cr_expect_str_eq(c.serial, "42");
        proto_consumer_done(&c);
}

Test(parse, status) {
        ProtoStatus s = {};

        cr_assert_eq(
                proto_parse_status(P("{\"result\":true,\"version\":\"5.0.3\",\"mode\":\"NORMAL\","
                                     "\"managerCapabilities\":[\"cores\",7,null,\"hypervisors_async\"]}"),
                                   &s),
                0);
        cr_expect(s.result);
        cr_expect_str_eq(s.mode, "NORMAL");
        cr_expect(proto_status_has_capability(&s, "hypervisors_async"));
        cr_expect_not(proto_status_has_capability(&s, "guestids"));
        proto_status_done(&s);
        cr_assert_eq(proto_parse_status(P("{}"), &s), 0);
        cr_expect_not_null(s.capabilities);
        cr_expect_null(s.capabilities[0]);
        proto_status_done(&s);
        cr_expect_eq(proto_parse_status(P("{\"managerCapabilities\":\"cores\"}"), &s), -EBADMSG);
        cr_expect_eq(proto_parse_status(P("{\"result\":\"yes\"}"), &s), -EBADMSG);
        cr_expect_eq(proto_parse_status(P("{\"mode\":[]}"), &s), -EBADMSG);
        cr_expect_eq(proto_parse_status(P("[1]"), &s), -EBADMSG);
}

Test(parse, job) {
        ProtoJob j = {};

        cr_assert_eq(
                proto_parse_job(
                        P("{\"id\":\"8a8d-01_x\",\"state\":\"FINISHED\",\"resultData\":{\"created\":[{}],"
                          "\"updated\":[],\"unchanged\":[{},{}],\"failedUpdate\":[\"h: no\"]}}"),
                        &j),
                0);
        cr_expect_eq(j.state, PROTO_JOB_FINISHED);
        cr_expect(proto_job_state_is_terminal(j.state));
        cr_expect(j.has_result_object);
        cr_expect_eq(j.n_created, 1);
        cr_expect_eq(j.n_unchanged, 2);
        cr_expect_eq(j.n_failed, 1);
        proto_job_done(&j);

        cr_assert_eq(
                proto_parse_job(P("{\"id\":\"j\",\"state\":\"FAILED\",\"resultData\":\"Job blocked by the "
                                  "following existing jobs: j0\\n\"}"),
                                &j),
                0);
        cr_expect_eq(j.state, PROTO_JOB_FAILED);
        cr_expect_str_eq(j.result_text, "Job blocked by the following existing jobs: j0\\n");
        proto_job_done(&j);

        cr_assert_eq(proto_parse_job(P("{\"id\":\"j\",\"state\":\"PAUSED\"}"), &j), 0);
        cr_expect_eq(j.state, PROTO_JOB_UNKNOWN);
        cr_expect_not(proto_job_state_is_terminal(j.state));
        proto_job_done(&j);

        cr_expect_eq(proto_parse_job(P("{\"id\":\"j\"}"), &j), -EBADMSG);
        cr_expect_eq(proto_parse_job(P("{\"id\":\"../x\",\"state\":\"RUNNING\"}"), &j), -EBADMSG);
        cr_expect_eq(proto_parse_job(P("{\"id\":\"j\",\"state\":1}"), &j), -EBADMSG);
        cr_expect_eq(proto_parse_job(P("{\"id\":\"j\",\"state\":\"RUNNING\",\"resultData\":5}"), &j),
                     -EBADMSG);
}

Test(parse, error_body) {
        ProtoErrorBody e = {};

        cr_assert_eq(proto_parse_error(P("{\"displayMessage\":\"Unit abc has been deleted\",\"requestUuid\":"
                                         "\"0a-1\",\"deletedId\":\"abc\"}"),
                                       &e),
                     0);
        cr_expect_str_eq(e.display_message, "Unit abc has been deleted");
        cr_expect_str_eq(e.request_uuid, "0a-1");
        cr_expect_str_eq(e.deleted_id, "abc");
        proto_error_body_done(&e);

        /* A hostile server cannot forge log lines or flood them. */
        cr_assert_eq(proto_parse_error(P("{\"displayMessage\":\"a\\nFAKE LOG LINE\\u0007\"}"), &e), 0);
        cr_expect_str_eq(e.display_message, "a\\nFAKE LOG LINE\\x07");
        proto_error_body_done(&e);
        {
                size_t n = 100000;
                _cleanup_free_ char *big = malloc(n + 40);
                int k = snprintf(big, n + 40, "{\"displayMessage\":\"");
                memset(big + k, 'x', n);
                memcpy(big + k + n, "\"}", 3);
                cr_assert_eq(proto_parse_error(big, strlen(big), &e), 0);
                cr_expect_leq(strlen(e.display_message), 512);
                proto_error_body_done(&e);
        }
        cr_assert_eq(proto_parse_error(P("{\"requestUuid\":\"not a uuid\"}"), &e), 0);
        cr_expect_null(e.request_uuid);
        proto_error_body_done(&e);
        cr_expect_eq(proto_parse_error(P("{\"displayMessage\":7}"), &e), -EBADMSG);
        cr_expect_eq(proto_parse_error(P("\"Invalid Credentials\""), &e), -EBADMSG);
}

Test(parse, owners) {
        _cleanup_strv_free_ char **k = NULL;

        cr_assert_eq(proto_parse_owners(P("[{\"key\":\"acme\",\"id\":\"1\"},{\"key\":\"other\"}]"), &k), 0);
        cr_expect_str_eq(k[0], "acme");
        cr_expect_str_eq(k[1], "other");
        cr_expect_null(k[2]);
        k = strv_free(k);
        cr_expect_eq(proto_parse_owners(P("{\"key\":\"acme\"}"), &k), -EBADMSG);
        cr_expect_eq(proto_parse_owners(P("[{\"id\":\"1\"}]"), &k), -EBADMSG);
        cr_expect_eq(proto_parse_owners(P("[\"acme\"]"), &k), -EBADMSG);
}

Test(utf8, table) {
        cr_expect(proto_utf8_valid(P("plain ascii")));
        cr_expect(proto_utf8_valid(P("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80")));
        cr_expect_not(proto_utf8_valid(P("\xf4\x90\x80\x80"))); /* past U+10FFFF */
        cr_expect_not(proto_utf8_valid(P("\xe0\x80\xaf"))); /* overlong */
        cr_expect_not(proto_utf8_valid(P("\xff")));
        cr_expect_not(proto_utf8_valid(P("\xe2\x82")));
}

/* Issue 16: "\u0000" inside a JSON string is an embedded NUL, which every
 * parser's contract refuses (cJSON would silently cut the string there). */
Test(parse, escaped_nul_in_a_string_is_refused) {
        ProtoConsumer c = {};
        ProtoStatus s = {};
        ProtoJob j = {};
        ProtoErrorBody e = {};
        ProtoIdentity id = {};
        char **owners = NULL;

        cr_expect_eq(
                proto_parse_consumer(P("{\"uuid\":\"u-1\",\"owner\":{\"key\":\"acme\\u0000evil\"}}"), &c),
                -EBADMSG);
        cr_expect_eq(
                proto_parse_status(P("{\"result\":true,\"version\":\"4\\u0000\",\"capabilities\":[]}"), &s),
                -EBADMSG);
        cr_expect_eq(
                proto_parse_job(P("{\"id\":\"j\",\"state\":\"FINISHED\",\"resultData\":\"a\\u0000b\"}"), &j),
                -EBADMSG);
        cr_expect_eq(proto_parse_error(P("{\"displayMessage\":\"x\\u0000y\"}"), &e), -EBADMSG);
        cr_expect_eq(proto_parse_owners(P("[{\"key\":\"a\\u0000\"}]"), &owners), -EBADMSG);
        cr_expect_eq(proto_parse_identity_json(P("{\"uuid\":\"u-1\",\"owner\":\"a\\u0000b\"}"), &id),
                     -EBADMSG);
        /* An escaped backslash followed by "u0000" is text, not a NUL. */
        cr_assert_eq(proto_parse_error(P("{\"displayMessage\":\"C:\\\\u0000\"}"), &e), 0);
        cr_expect_str_eq(e.display_message, "C:\\u0000");
        proto_error_body_done(&e);
}
