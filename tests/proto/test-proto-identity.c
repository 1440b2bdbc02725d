/* SPDX-License-Identifier: GPL-2.0-or-later */
/* proto/identity.c: save/load round trip, key forms, mismatch, expiry,
 * unreadable files, subscription-manager identities, consumer.json parsing. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto/proto-internal.h"
#include "tests/proto/test-certs.h"
#include "util/cleanup.h"
#include "util/fileio.h"

#define UUID "5b1c8f2e-7d3a-4e6b-9c1f-2a3b4c5d6e7f"
#define UUID2 "0a9e3c71-4b2d-4f8e-8d6c-1e2f3a4b5c6d"

/* rename() as the library sees it in this test program: in a child made by
 * crash_at_rename(), the crash_rename-th call ends the process before it
 * renames anything, which is what a SIGKILL there leaves on disk. */
static unsigned crash_rename, renames_seen;

int rename(const char *oldpath, const char *newpath) {
        static int (*real_rename)(const char *, const char *);

        if (crash_rename > 0 && ++renames_seen == crash_rename)
                _exit(99);
        if (!real_rename)
                real_rename = (int (*)(const char *, const char *)) dlsym(RTLD_NEXT, "rename");
        return real_rename(oldpath, newpath);
}

static char dir[] = "/tmp/hvmap-test-identity-XXXXXX";
static EVP_PKEY *key, *other_key;

static void rm_rf(const char *path) {
        DIR *d = opendir(path);
        struct dirent *de;

        if (!d) {
                (void) unlink(path);
                return;
        }
        while ((de = readdir(d))) {
                _cleanup_free_ char *p = NULL;
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                cr_assert_gt(asprintf(&p, "%s/%s", path, de->d_name), 0);
                rm_rf(p);
        }
        closedir(d);
        (void) rmdir(path);
}

static void setup(void) {
        cr_assert_not_null(mkdtemp(dir));
        key = test_key_new();
}

static void teardown(void) {
        rm_rf(dir);
        EVP_PKEY_free(key);
        EVP_PKEY_free(other_key);
}

TestSuite(identity, .init = setup, .fini = teardown);

static char *sub(const char *name) {
        char *p;
        cr_assert_gt(asprintf(&p, "%s/%s", dir, name), 0);
        return p;
}

static void consumer_init(ProtoConsumer *c, EVP_PKEY *k, const char *cn, long to_days, bool pkcs1) {
        *c = (ProtoConsumer){
                .uuid = strdup(UUID),
                .owner_key = strdup("acme"),
                .name = strdup("kvm-01"),
                .hypervisor_id = strdup("hv-01"),
                .cert_pem = test_cert_pem(k, cn, "acme", -1, to_days, 4242),
                .key_pem = test_key_pem(k, pkcs1),
        };
}

Test(identity, round_trip_pkcs1) {
        _cleanup_free_ char *d = sub("id"), *kp = NULL, *json = NULL, *err = NULL;
        _cleanup_(proto_consumer_done) ProtoConsumer c = {};
        ProtoIdentity *id = NULL;
        struct stat st;
        size_t len;

        consumer_init(&c, key, UUID, 365, true);
        cr_expect_not_null(strstr(c.key_pem, "BEGIN RSA PRIVATE KEY"));
        cr_assert_eq(proto_identity_save(d, &c, "https://cp.example.com/candlepin", &id, &err), 0, "%s",
                     err);
        cr_expect_str_eq(id->uuid, UUID);
        cr_expect_str_eq(id->owner, "acme");
        cr_expect_str_eq(id->name, "kvm-01");
        cr_expect_str_eq(id->hypervisor_id, "hv-01");
        cr_expect_str_eq(id->server_url, "https://cp.example.com/candlepin");
        cr_expect_str_eq(id->serial, "4242");
        cr_expect_not(proto_identity_expired(id, time(NULL)));
        cr_expect_gt(id->not_after, time(NULL) + 364 * 86400);
        cr_assert_eq(stat(id->key_path, &st), 0);
        cr_expect_eq(st.st_mode & 07777, 0600, "key.pem mode %o", st.st_mode & 07777);
        cr_assert_eq(stat(d, &st), 0);
        cr_expect_eq(st.st_mode & 07777, 0700);
        kp = sub("id/consumer.json");
        cr_assert_eq(read_file_capped(kp, 65536, &json, &len), 0);
        cr_expect_null(strstr(json, "PRIVATE"), "consumer.json must not hold key material");
        id = proto_identity_free(id);

        cr_assert_eq(proto_identity_load(d, &id, &err), 0, "%s", err);
        cr_expect_str_eq(id->uuid, UUID);
        id = proto_identity_free(id);

        cr_assert_eq(proto_identity_remove(d), 0);
        cr_expect_eq(proto_identity_load(d, &id, &err), -ENOENT);
        cr_expect_not_null(strstr(err, "not registered"));
}

Test(identity, pkcs8_key) {
        _cleanup_free_ char *d = sub("id8"), *err = NULL;
        _cleanup_(proto_consumer_done) ProtoConsumer c = {};
        ProtoIdentity *id = NULL;

        consumer_init(&c, key, UUID, 365, false);
        cr_expect_not_null(strstr(c.key_pem, "BEGIN PRIVATE KEY"));
        cr_assert_eq(proto_identity_save(d, &c, NULL, &id, &err), 0, "%s", err);
        cr_expect_null(id->server_url);
        proto_identity_free(id);
}

Test(identity, mismatch_refused_on_save_and_load) {
        _cleanup_free_ char *d = sub("mm"), *err = NULL, *kp = NULL, *other = NULL;
        _cleanup_(proto_consumer_done) ProtoConsumer c = {};
        ProtoIdentity *id = NULL;

        other_key = test_key_new();
        other = test_key_pem(other_key, true);
        consumer_init(&c, key, UUID, 365, true);
        free(c.key_pem);
        c.key_pem = strdup(other);
        cr_expect_eq(proto_identity_save(d, &c, NULL, &id, &err), -EKEYREJECTED);
        cr_expect_not_null(strstr(err, "does not belong to"), "%s", err);
        cr_expect_eq(access(d, F_OK), -1, "nothing written for a bad pair");
        proto_consumer_done(&c);

        /* A good identity whose key is later replaced. */
        consumer_init(&c, key, UUID, 365, true);
        cr_assert_eq(proto_identity_save(d, &c, NULL, NULL, &err), 0, "%s", err);
        kp = sub("mm/key.pem");
        cr_assert_eq(write_file_atomic(kp, other, strlen(other), 0600), 0);
        cr_expect_eq(proto_identity_load(d, &id, &err), -EKEYREJECTED);
        cr_expect_not_null(strstr(err, "key.pem does not belong to"), "%s", err);
        cr_expect_null(id);
}

Test(identity, cn_must_be_the_uuid) {
        _cleanup_free_ char *d = sub("cn"), *err = NULL;
        _cleanup_(proto_consumer_done) ProtoConsumer c = {};
        ProtoIdentity *id = NULL;

        consumer_init(&c, key, "another-consumer", 365, true);
        cr_expect_eq(proto_identity_save(d, &c, NULL, &id, &err), -EKEYREJECTED);
        cr_expect_not_null(strstr(err, "is for consumer another-consumer"), "%s", err);
}

Test(identity, expired_is_loaded_and_reported) {
        _cleanup_free_ char *d = sub("exp"), *err = NULL;
        _cleanup_(proto_consumer_done) ProtoConsumer c = {};
        ProtoIdentity *id = NULL;

        consumer_init(&c, key, UUID, -1, true);
        free(c.cert_pem);
        c.cert_pem = test_cert_pem(key, UUID, "acme", -10, -1, 7);
        cr_assert_eq(proto_identity_save(d, &c, NULL, &id, &err), 0, "%s", err);
        cr_expect(proto_identity_expired(id, time(NULL)));
        cr_expect_lt(id->not_after, time(NULL));
        proto_identity_free(id);
}

Test(identity, unreadable_and_garbage_files) {
        _cleanup_free_ char *d = sub("bad"), *err = NULL, *kp = sub("bad/key.pem"),
                            *cp = sub("bad/cert.pem"), *jp = sub("bad/consumer.json");
        _cleanup_(proto_consumer_done) ProtoConsumer c = {};
        ProtoIdentity *id = NULL;

        consumer_init(&c, key, UUID, 365, true);
        cr_assert_eq(proto_identity_save(d, &c, NULL, NULL, &err), 0, "%s", err);

        /* key.pem that cannot be read (a directory works even for root). */
        cr_assert_eq(unlink(kp), 0);
        cr_assert_eq(mkdir(kp, 0700), 0);
        cr_expect_lt(proto_identity_load(d, &id, &err), 0);
        cr_expect_not_null(strstr(err, "cannot read"), "%s", err);
        cr_assert_eq(rmdir(kp), 0);
        if (geteuid() != 0) {
                cr_assert_eq(write_file_atomic(kp, c.key_pem, strlen(c.key_pem), 0000), 0);
                cr_expect_eq(proto_identity_load(d, &id, &err), -EACCES);
                cr_assert_eq(unlink(kp), 0);
        }
        cr_expect_eq(proto_identity_load(d, &id, &err), -ENOENT);

        /* Garbage key, encrypted-looking key, garbage cert. */
        cr_assert_eq(write_file_atomic(kp, "not a key\n", 10, 0600), 0);
        cr_expect_eq(proto_identity_load(d, &id, &err), -EBADMSG);
        cr_expect_not_null(strstr(err, "not an unencrypted PEM private key"), "%s", err);
        cr_assert_eq(write_file_atomic(kp, c.key_pem, strlen(c.key_pem), 0600), 0);
        cr_assert_eq(write_file_atomic(cp, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                                       59, 0644),
                     0);
        cr_expect_eq(proto_identity_load(d, &id, &err), -EBADMSG);

        /* A consumer.json that is not ours. */
        cr_assert_eq(write_file_atomic(jp, "{\"uuid\":5}", 10, 0644), 0);
        cr_expect_eq(proto_identity_load(d, &id, &err), -EBADMSG);
        cr_expect_null(id);
}

Test(identity, subscription_manager_identity) {
        _cleanup_free_ char *d = sub("pki"), *cp = sub("pki/cert.pem"), *kp = sub("pki/key.pem"),
                            *err = NULL;
        _cleanup_free_ char *cert = test_cert_pem(key, UUID, "acme", -1, 100, 99),
                            *k = test_key_pem(key, true);
        ProtoIdentity *id = NULL;

        cr_expect_eq(proto_identity_load_rhsm(d, &id, &err), -ENOENT);
        cr_assert_eq(mkdir(d, 0700), 0);
        cr_assert_eq(write_file_atomic(cp, cert, strlen(cert), 0644), 0);
        cr_assert_eq(write_file_atomic(kp, k, strlen(k), 0600), 0);
        cr_assert_eq(proto_identity_load_rhsm(d, &id, &err), 0, "%s", err);
        cr_expect_str_eq(id->uuid, UUID);
        cr_expect_str_eq(id->owner, "acme");
        cr_expect_str_eq(id->serial, "99");
        proto_identity_free(id);
}

Test(identity_json, hostile) {
        static const char *const bad[] = {
                "",
                "{",
                "[]",
                "{\"uuid\":null}",
                "{\"uuid\":\"../x\"}",
                "{\"uuid\":\"u\",\"owner\":1}",
                "{\"uuid\":\"u\"}x",
                "{\"uuid\":\"u\",\"name\":\"\xff\"}",
        };
        ProtoIdentity id = {};

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                cr_expect_eq(proto_parse_identity_json(bad[i], strlen(bad[i]), &id), -EBADMSG, "case %zu",
                             i);
        cr_expect_eq(proto_parse_identity_json("{\"uuid\":\"u\"}\0", 13, &id), -EBADMSG);
        {
                const char *good = "{\"uuid\":\"u-1\",\"owner\":\"acme\",\"extra\":[1]}";
                cr_assert_eq(proto_parse_identity_json(good, strlen(good), &id), 0);
        }
        cr_expect_str_eq(id.uuid, "u-1");
        cr_expect_str_eq(id.owner, "acme");
        free(id.uuid);
        free(id.owner);
}

/* Runs proto_identity_save(d, c) in a child that dies at its n-th rename().
 * Returns true when the child died there, false when the save completed
 * with fewer renames. */
static bool crash_at_rename(const char *d, const ProtoConsumer *c, unsigned n) {
        int status;
        pid_t pid = fork();

        /* No Criterion call in the child: with --full-stats even a passing
         * assertion talks to the runner, which does not know this process. */
        if (pid == 0) {
                crash_rename = n;
                _exit(proto_identity_save(d, c, "https://cp.example.com/new", NULL, NULL) == 0 ? 0 : 1);
        }
        cr_assert_gt(pid, 0);
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFEXITED(status));
        cr_assert_neq(WEXITSTATUS(status), 1, "the save failed at rename %u", n);
        return WEXITSTATUS(status) == 99;
}

/* A crash at any rename of a replacement leaves either the old identity or
 * the new one, whole, and the next save and load work. */
static void check_replacement_crash_safe(const char *uuid_new, const char *serial_new) {
        _cleanup_free_ char *d = sub("atomic"), *err = NULL;
        _cleanup_(proto_consumer_done) ProtoConsumer old = {}, new = {};
        EVP_PKEY *new_key = test_key_new();
        unsigned n, saw_old = 0, saw_new = 0;

        consumer_init(&old, key, UUID, 365, true);
        consumer_init(&new, new_key, uuid_new, 365, true);
        free(new.uuid);
        new.uuid = strdup(uuid_new);
        free(new.cert_pem);
        new.cert_pem = test_cert_pem(new_key, uuid_new, "acme", -1, 365, strtol(serial_new, NULL, 10));
        for (n = 1; n < 64; n++) {
                ProtoIdentity *id = NULL;
                bool crashed;

                rm_rf(d);
                cr_assert_eq(proto_identity_save(d, &old, NULL, NULL, &err), 0, "%s", err);
                crashed = crash_at_rename(d, &new, n);
                cr_assert_eq(proto_identity_load(d, &id, &err), 0, "after a crash at rename %u: %s", n, err);
                if (streq_ptr(id->serial, "4242") && streq_ptr(id->uuid, UUID))
                        saw_old++;
                else {
                        cr_expect_str_eq(id->uuid, uuid_new, "rename %u", n);
                        cr_expect_str_eq(id->serial, serial_new, "rename %u", n);
                        cr_expect_str_eq(id->server_url, "https://cp.example.com/new", "rename %u", n);
                        saw_new++;
                }
                id = proto_identity_free(id);
                /* The next save completes over whatever the crash left. */
                cr_assert_eq(proto_identity_save(d, &new, NULL, &id, &err), 0, "after rename %u: %s", n,
                             err);
                cr_expect_str_eq(id->uuid, uuid_new);
                id = proto_identity_free(id);
                if (!crashed)
                        break;
        }
        cr_expect_lt(n, 64);
        cr_expect_gt(saw_old, 0, "no crash left the old identity");
        cr_expect_gt(saw_new, 1, "the new identity was complete after the last rename only");
        EVP_PKEY_free(new_key);
}

Test(identity, renewal_crash_at_every_rename_keeps_a_whole_identity) {
        check_replacement_crash_safe(UUID, "5151");
}

Test(identity, reregister_crash_at_every_rename_keeps_a_whole_identity) {
        check_replacement_crash_safe(UUID2, "6262");
}

/* Issue 16: a group-writable key.pem is refused, a readable one loads with
 * a warning naming it and the fix. */
Test(identity, key_trust_group_write_refused_readable_warned) {
        _cleanup_free_ char *d = sub("trust"), *kp = sub("trust/key.pem"), *err = NULL;
        _cleanup_(proto_consumer_done) ProtoConsumer c = {};
        ProtoIdentity *id = NULL;

        consumer_init(&c, key, UUID, 365, true);
        cr_assert_eq(proto_identity_save(d, &c, NULL, &id, &err), 0, "%s", err);
        cr_expect_null(id->warning, "%s", id->warning);
        id = proto_identity_free(id);

        cr_assert_eq(chmod(kp, 0644), 0);
        cr_assert_eq(proto_identity_load(d, &id, &err), 0, "%s", err);
        cr_assert_not_null(id->warning);
        cr_expect_not_null(strstr(id->warning, kp), "%s", id->warning);
        cr_expect_not_null(strstr(id->warning, "chmod 0600"), "%s", id->warning);
        id = proto_identity_free(id);

        if (geteuid() == 0) {
                cr_assert_eq(chown(kp, 0, 65534), 0);
                cr_assert_eq(chmod(kp, 0660), 0);
                cr_expect_eq(proto_identity_load(d, &id, &err), -EPERM);
                cr_expect_not_null(strstr(err, "chmod g-w"), "%s", err);
                cr_expect_null(id);
        }
}
