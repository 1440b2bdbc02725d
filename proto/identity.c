/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The identity store: cert.pem, key.pem (0600) and consumer.json in the
 * state directory, written atomically (key first) and checked with OpenSSL
 * when loaded. Nothing here logs; callers get -errno and one line of text. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define HVMAP_PROTO_INTERNAL 1
#include "proto/proto-internal.h"
#include "util/cleanup.h"
#include "util/cleanup-libs.h"
#include "util/fileio.h"
#include "util/fs-check.h"

/* PEM files of an identity are a few KiB; consumer.json well under 1 KiB. */
#define IDENTITY_FILE_MAX (256U * 1024U)

static int no_password_cb(char *buf, int size, int rwflag, void *u) {
        /* Never prompt: an encrypted key is an error. */
        return 0;
}

static int name_entry(X509_NAME *name, int nid, char **ret) {
        int i = X509_NAME_get_index_by_NID(name, nid, -1);
        unsigned char *utf8 = NULL;
        int n;

        *ret = NULL;
        if (i < 0)
                return 0;
        n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
        if (n < 0)
                return -EBADMSG;
        *ret = strndup((char *) utf8, (size_t) n);
        OPENSSL_free(utf8);
        return *ret ? 0 : -ENOMEM;
}

static int asn1_time_to_time_t(const ASN1_TIME *t, time_t *ret) {
        struct tm tm = {};

        if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
                return -EBADMSG;
        *ret = timegm(&tm);
        return 0;
}

static int cert_fields(X509 *x, char **ret_cn, char **ret_o, char **ret_serial, time_t *ret_nb,
                       time_t *ret_na) {
        _cleanup_free_ char *cn = NULL, *o = NULL;
        time_t nb, na;
        int r;

        r = name_entry(X509_get_subject_name(x), NID_commonName, &cn);
        if (r < 0)
                return r;
        r = name_entry(X509_get_subject_name(x), NID_organizationName, &o);
        if (r < 0)
                return r;
        if (asn1_time_to_time_t(X509_get0_notBefore(x), &nb) < 0 ||
            asn1_time_to_time_t(X509_get0_notAfter(x), &na) < 0)
                return -EBADMSG;
        if (ret_serial) {
                BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
                char *dec = bn ? BN_bn2dec(bn) : NULL;

                BN_free(bn);
                if (!dec)
                        return -ENOMEM;
                *ret_serial = strdup(dec);
                OPENSSL_free(dec);
                if (!*ret_serial)
                        return -ENOMEM;
        }
        if (ret_cn)
                *ret_cn = TAKE_PTR(cn);
        if (ret_o)
                *ret_o = TAKE_PTR(o);
        if (ret_nb)
                *ret_nb = nb;
        if (ret_na)
                *ret_na = na;
        return 0;
}

static int pem_to_x509(const char *pem, size_t len, X509 **ret) {
        _cleanup_(BIO_free_allp) BIO *bio = NULL;
        X509 *x;

        if (len > INT32_MAX)
                return -EBADMSG;
        bio = BIO_new_mem_buf(pem, (int) len);
        if (!bio)
                return -ENOMEM;
        x = PEM_read_bio_X509(bio, NULL, no_password_cb, NULL);
        if (!x)
                return -EBADMSG;
        *ret = x;
        return 0;
}

static int pem_to_key(const char *pem, size_t len, EVP_PKEY **ret) {
        _cleanup_(BIO_free_allp) BIO *bio = NULL;
        EVP_PKEY *k;

        if (len > INT32_MAX)
                return -EBADMSG;
        bio = BIO_new_mem_buf(pem, (int) len);
        if (!bio)
                return -ENOMEM;
        /* PKCS#1 ("RSA PRIVATE KEY", Candlepin's form) and PKCS#8 ("PRIVATE KEY") alike. */
        k = PEM_read_bio_PrivateKey(bio, NULL, no_password_cb, NULL);
        if (!k)
                return -EBADMSG;
        *ret = k;
        return 0;
}

int proto_cert_info(const char *pem, size_t len, char **ret_cn, char **ret_o, char **ret_serial,
                    time_t *ret_not_before, time_t *ret_not_after) {
        _cleanup_(X509_freep) X509 *x = NULL;
        int r;

        r = pem_to_x509(pem, len, &x);
        if (r < 0)
                return r;
        return cert_fields(x, ret_cn, ret_o, ret_serial, ret_not_before, ret_not_after);
}

/* Checks cert + key PEM texts: both parse, the key matches, and (when
 * want_cn) the CN is want_cn. Fills the certificate fields into id. */
static int check_pair(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len,
                      const char *what_cert, const char *what_key, const char *want_cn, ProtoIdentity *id,
                      char **ret_cn, char **ret_o, char **ret_error) {
        _cleanup_(X509_freep) X509 *x = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        _cleanup_free_ char *cn = NULL, *o = NULL, *serial = NULL;
        int r;

        r = pem_to_x509(cert_pem, cert_len, &x);
        if (r < 0)
                return proto_set_error(ret_error, r, "%s is not a PEM certificate", what_cert);
        r = pem_to_key(key_pem, key_len, &k);
        if (r < 0)
                return proto_set_error(ret_error, r,
                                       "%s is not an unencrypted PEM private key (PKCS#1 or PKCS#8)",
                                       what_key);
        if (X509_check_private_key(x, k) != 1)
                return proto_set_error(ret_error, -EKEYREJECTED, "%s does not belong to %s", what_key,
                                       what_cert);
        r = cert_fields(x, &cn, &o, &serial, &id->not_before, &id->not_after);
        if (r < 0)
                return proto_set_error(ret_error, r, "cannot read the fields of %s", what_cert);
        if (!cn || !proto_uuid_valid(cn))
                return proto_set_error(ret_error, -EBADMSG, "%s has no consumer uuid as its CN", what_cert);
        if (want_cn && strcasecmp(cn, want_cn) != 0)
                return proto_set_error(ret_error, -EKEYREJECTED, "%s is for consumer %s, not %s", what_cert,
                                       cn, want_cn);
        free(id->serial);
        id->serial = TAKE_PTR(serial);
        if (ret_cn)
                *ret_cn = TAKE_PTR(cn);
        if (ret_o)
                *ret_o = TAKE_PTR(o);
        return 0;
}

/* Reads an identity file that must be ours (util/fs-check.h); flags add
 * FS_CHECK_NOFOLLOW for hvmap's own state dir. */
static int read_file(const char *path, FsCheckFlags flags, char **ret, size_t *ret_len, char **ret_error) {
        char reason[512];
        int r = read_file_trusted(path, IDENTITY_FILE_MAX, flags, ret, ret_len, reason, sizeof(reason));

        if (r < 0 && reason[0])
                return proto_set_error(ret_error, r, "refusing %s", reason);
        if (r < 0)
                return proto_set_error(ret_error, r, "cannot read %s: %s", path, strerror(-r));
        return 0;
}

static void erase_buf(char **p, size_t len) {
        if (*p) {
                explicit_bzero(*p, len);
                free(*p);
                *p = NULL;
        }
}

ProtoIdentity *proto_identity_free(ProtoIdentity *id) {
        if (!id)
                return NULL;
        free(id->dir);
        free(id->cert_path);
        free(id->key_path);
        free(id->uuid);
        free(id->owner);
        free(id->name);
        free(id->hypervisor_id);
        free(id->server_url);
        free(id->serial);
        free(id);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(ProtoIdentity *, proto_identity_free, proto_identity_freep)

static int get_str(const cJSON *o, const char *key, char **ret) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

        *ret = NULL;
        if (!v || cJSON_IsNull(v))
                return 0;
        if (!cJSON_IsString(v) || !v->valuestring)
                return -EBADMSG;
        *ret = strdup(v->valuestring);
        return *ret ? 0 : -ENOMEM;
}

int proto_parse_identity_json(const char *buf, size_t len, ProtoIdentity *ret) {
        _cleanup_(cJSON_Deletep) cJSON *root = NULL;
        ProtoIdentity id = {};
        const char *end = NULL;
        int r;

        if (!buf || len == 0 || memchr(buf, 0, len) || !proto_utf8_valid(buf, len))
                return -EBADMSG;
        root = cJSON_ParseWithLengthOpts(buf, len, &end, false);
        if (!root || !cJSON_IsObject(root))
                return -EBADMSG;
        for (; end && end < buf + len; end++)
                if (!strchr(" \t\r\n", *end))
                        return -EBADMSG;
        if ((r = get_str(root, "uuid", &id.uuid)) < 0 || (r = get_str(root, "owner", &id.owner)) < 0 ||
            (r = get_str(root, "name", &id.name)) < 0 ||
            (r = get_str(root, "hypervisorId", &id.hypervisor_id)) < 0 ||
            (r = get_str(root, "serverUrl", &id.server_url)) < 0 ||
            (r = get_str(root, "serial", &id.serial)) < 0 || !proto_uuid_valid(id.uuid)) {
                free(id.uuid);
                free(id.owner);
                free(id.name);
                free(id.hypervisor_id);
                free(id.server_url);
                free(id.serial);
                return r < 0 ? r : -EBADMSG;
        }
        *ret = id;
        return 0;
}

static int identity_paths(const char *dir, ProtoIdentity *id) {
        id->dir = strdup(dir);
        if (!id->dir || asprintf(&id->cert_path, "%s/cert.pem", dir) < 0 ||
            asprintf(&id->key_path, "%s/key.pem", dir) < 0)
                return -ENOMEM;
        return 0;
}

static int load_pair(ProtoIdentity *id, FsCheckFlags flags, const char *want_cn, char **ret_cn, char **ret_o,
                     char **ret_error) {
        _cleanup_free_ char *cert = NULL;
        char *key = NULL;
        size_t cert_len = 0, key_len = 0;
        int r;

        r = read_file(id->cert_path, flags, &cert, &cert_len, ret_error);
        if (r < 0)
                return r;
        r = read_file(id->key_path, flags, &key, &key_len, ret_error);
        if (r < 0)
                return r;
        r = check_pair(cert, cert_len, key, key_len, id->cert_path, id->key_path, want_cn, id, ret_cn, ret_o,
                       ret_error);
        erase_buf(&key, key_len);
        return r;
}

int proto_identity_load(const char *dir, ProtoIdentity **ret, char **ret_error) {
        _cleanup_(proto_identity_freep) ProtoIdentity *id = NULL;
        _cleanup_free_ char *json_path = NULL, *json = NULL;
        char reason[512];
        size_t len;
        int r;

        if (!dir)
                return -EINVAL;
        if (asprintf(&json_path, "%s/consumer.json", dir) < 0)
                return -ENOMEM;
        r = read_file_trusted(json_path, IDENTITY_FILE_MAX, FS_CHECK_NOFOLLOW, &json, &len, reason,
                              sizeof(reason));
        if (r == -ENOENT)
                return proto_set_error(ret_error, r, "not registered (no %s)", json_path);
        if (r < 0 && reason[0])
                return proto_set_error(ret_error, r, "refusing %s", reason);
        if (r < 0)
                return proto_set_error(ret_error, r, "cannot read %s: %s", json_path, strerror(-r));
        id = calloc(1, sizeof(*id));
        if (!id)
                return -ENOMEM;
        r = proto_parse_identity_json(json, len, id);
        if (r < 0)
                return proto_set_error(ret_error, r, "%s is not a valid hvmap identity", json_path);
        r = identity_paths(dir, id);
        if (r < 0)
                return r;
        r = load_pair(id, FS_CHECK_NOFOLLOW, id->uuid, NULL, NULL, ret_error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(id);
        return 0;
}

int proto_identity_load_rhsm(const char *dir, ProtoIdentity **ret, char **ret_error) {
        _cleanup_(proto_identity_freep) ProtoIdentity *id = NULL;
        int r;

        if (!dir)
                return -EINVAL;
        id = calloc(1, sizeof(*id));
        if (!id)
                return -ENOMEM;
        r = identity_paths(dir, id);
        if (r < 0)
                return r;
        if (access(id->cert_path, F_OK) < 0 && errno == ENOENT)
                return proto_set_error(ret_error, -ENOENT, "no subscription-manager identity (no %s)",
                                       id->cert_path);
        r = load_pair(id, 0, NULL, &id->uuid, &id->owner, ret_error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(id);
        return 0;
}

static int write_consumer_json(const char *path, const ProtoIdentity *id, const ProtoConsumer *c,
                               const char *server_url) {
        _cleanup_(cJSON_Deletep) cJSON *root = cJSON_CreateObject();
        _cleanup_free_ char *s = NULL;
        struct {
                const char *key, *value;
        } f[] = {
                { "uuid", c->uuid },         { "owner", c->owner_key },
                { "name", c->name },         { "hypervisorId", c->hypervisor_id },
                { "serverUrl", server_url }, { "serial", id->serial },
        };

        if (!root)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(f); i++)
                if (!(f[i].value ? cJSON_AddStringToObject(root, f[i].key, f[i].value)
                                 : cJSON_AddNullToObject(root, f[i].key)))
                        return -ENOMEM;
        s = cJSON_Print(root);
        if (!s)
                return -ENOMEM;
        return write_file_atomic(path, s, strlen(s), 0644);
}

int proto_identity_save(const char *dir, const ProtoConsumer *c, const char *server_url, ProtoIdentity **ret,
                        char **ret_error) {
        _cleanup_(proto_identity_freep) ProtoIdentity *check = NULL;
        _cleanup_free_ char *json_path = NULL;
        int r;

        if (!dir || !c || !c->uuid)
                return -EINVAL;
        if (!c->cert_pem || !c->key_pem)
                return proto_set_error(ret_error, -EBADMSG,
                                       "the server sent no identity certificate and key");
        check = calloc(1, sizeof(*check));
        if (!check)
                return -ENOMEM;
        /* Never store what would not load. */
        r = check_pair(c->cert_pem, strlen(c->cert_pem), c->key_pem, strlen(c->key_pem),
                       "the server's identity certificate", "the server's key", c->uuid, check, NULL, NULL,
                       ret_error);
        if (r < 0)
                return r;
        r = identity_paths(dir, check);
        if (r < 0)
                return r;
        if (asprintf(&json_path, "%s/consumer.json", dir) < 0)
                return -ENOMEM;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return proto_set_error(ret_error, -errno, "cannot create %s: %s", dir, strerror(errno));
        /* Key first: a crash in between leaves a key without its cert, which load refuses, never a cert
         * whose key is gone. */
        r = write_file_atomic(check->key_path, c->key_pem, strlen(c->key_pem), 0600);
        if (r < 0)
                return proto_set_error(ret_error, r, "cannot write %s: %s", check->key_path, strerror(-r));
        r = write_file_atomic(check->cert_path, c->cert_pem, strlen(c->cert_pem), 0644);
        if (r < 0)
                return proto_set_error(ret_error, r, "cannot write %s: %s", check->cert_path, strerror(-r));
        r = write_consumer_json(json_path, check, c, server_url);
        if (r < 0)
                return proto_set_error(ret_error, r, "cannot write %s: %s", json_path, strerror(-r));
        if (ret)
                return proto_identity_load(dir, ret, ret_error);
        return 0;
}

int proto_identity_remove(const char *dir) {
        static const char *const files[] = { "consumer.json", "cert.pem", "key.pem" };
        int ret = 0;

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *p = NULL;
                if (asprintf(&p, "%s/%s", dir, files[i]) < 0)
                        return -ENOMEM;
                if (unlink(p) < 0 && errno != ENOENT && ret == 0)
                        ret = -errno;
        }
        return ret;
}

bool proto_identity_expired(const ProtoIdentity *id, time_t now) {
        return !id || now >= id->not_after;
}
