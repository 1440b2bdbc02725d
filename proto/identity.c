/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The identity store: cert.pem (0644: a certificate is public), key.pem
 * (0600) and consumer.json in the state directory, checked with OpenSSL
 * when loaded. Nothing here logs; callers get -errno and one line of text.
 *
 * Replacing an identity (renewal, `register --force`) is one step, so a
 * crash at any point leaves the old identity or the new one, whole:
 *
 *   1. the new three files are written into DIR/.identity.new/ (each with
 *      write_file_atomic(): synced); an old .identity.new is garbage and is
 *      removed first;
 *   2. rename(.identity.new, .identity.commit) — the commit point;
 *   3. each file is renamed from .identity.commit/ over its place in DIR,
 *      then .identity.commit is removed.
 *
 * Load reads each file from DIR/.identity.commit/ when it is still there,
 * else from DIR, so the new identity is complete from step 2 on and the old
 * one until then; the next save (or remove) finishes an interrupted step 3
 * before doing anything else. No file of a pair is ever a temporary in DIR
 * itself, so the daemon's start-up removal of ".NAME.XXXXXX" leftovers
 * never deletes one. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#define STAGING_DIR ".identity.new"
#define COMMIT_DIR ".identity.commit"

/* The files of an identity, in the order they are moved into place. */
static const char *const identity_files[] = { "key.pem", "cert.pem", "consumer.json" };

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
 * FS_CHECK_NOFOLLOW for hvmap's own state dir and FS_CHECK_SECRET for the
 * key. A warning (key readable by others, ...) lands in *warning unless one
 * is there already. */
static int read_file(const char *path, FsCheckFlags flags, char **ret, size_t *ret_len, char **warning,
                     char **ret_error) {
        char reason[512];
        int r = read_file_trusted(path, IDENTITY_FILE_MAX, flags, ret, ret_len, reason, sizeof(reason));

        if (r < 0 && reason[0])
                return proto_set_error(ret_error, r, "refusing %s", reason);
        if (r < 0)
                return proto_set_error(ret_error, r, "cannot read %s: %s", path, strerror(-r));
        if (reason[0] && warning && !*warning)
                *warning = strdup(reason);
        return 0;
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
        free(id->warning);
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

        if (!buf || len == 0 || memchr(buf, 0, len) || proto_json_has_escaped_nul(buf, len) ||
            !proto_utf8_valid(buf, len))
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

/* Where name of the current identity is: DIR/.identity.commit/NAME while a
 * committed replacement is being moved into place, else DIR/NAME. A commit
 * dir that is not a plain directory (a symlink) is refused. */
static int current_path(const char *dir, const char *name, char **ret, char **ret_error) {
        _cleanup_free_ char *staged = NULL;
        struct stat st;

        if (asprintf(&staged, "%s/" COMMIT_DIR "/%s", dir, name) < 0)
                return -ENOMEM;
        if (lstat(staged, &st) == 0) {
                *ret = TAKE_PTR(staged);
                return 0;
        }
        if (errno != ENOENT && errno != ENOTDIR)
                return proto_set_error(ret_error, -errno, "cannot read %s: %s", staged, strerror(errno));
        staged = mfree(staged);
        if (asprintf(&staged, "%s/" COMMIT_DIR, dir) < 0)
                return -ENOMEM;
        if (lstat(staged, &st) == 0 && !S_ISDIR(st.st_mode))
                return proto_set_error(ret_error, -ELOOP,
                                       "refusing %s: not a directory; remove it and register again", staged);
        return asprintf(ret, "%s/%s", dir, name) < 0 ? -ENOMEM : 0;
}

/* Points id->cert_path and id->key_path at the current files (see above). */
static int identity_current_paths(const char *dir, ProtoIdentity *id, char **ret_error) {
        int r;

        id->dir = strdup(dir);
        if (!id->dir)
                return -ENOMEM;
        r = current_path(dir, "cert.pem", &id->cert_path, ret_error);
        if (r < 0)
                return r;
        return current_path(dir, "key.pem", &id->key_path, ret_error);
}

static int fsync_dir(const char *path) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

        if (fd < 0 || fsync(fd) < 0)
                return -errno;
        return 0;
}

/* Removes the regular files in path and path itself; missing is fine. Only
 * hvmap's own staging directories are given here. */
static int remove_dir_files(const char *path) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int fd;

        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        d = fdopendir(fd);
        if (!d) {
                (void) close(fd);
                return -errno;
        }
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
                    unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT)
                        return -errno;
        if (rmdir(path) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

/* Step 3 of a replacement (see the top of this file): moves what is left in
 * DIR/.identity.commit into place and removes it. Idempotent, so another
 * process finishing the same commit at the same time is harmless. */
static int finish_commit(const char *dir, char **ret_error) {
        _cleanup_free_ char *commit = NULL;
        struct stat st;
        int r;

        if (asprintf(&commit, "%s/" COMMIT_DIR, dir) < 0)
                return -ENOMEM;
        if (lstat(commit, &st) < 0)
                return errno == ENOENT ? 0
                                       : proto_set_error(ret_error, -errno, "cannot read %s: %s", commit,
                                                         strerror(errno));
        if (!S_ISDIR(st.st_mode))
                return proto_set_error(ret_error, -ELOOP, "refusing %s: not a directory; remove it", commit);
        for (size_t i = 0; i < ELEMENTSOF(identity_files); i++) {
                _cleanup_free_ char *from = NULL, *to = NULL;

                if (asprintf(&from, "%s/%s", commit, identity_files[i]) < 0 ||
                    asprintf(&to, "%s/%s", dir, identity_files[i]) < 0)
                        return -ENOMEM;
                if (rename(from, to) < 0 && errno != ENOENT)
                        return proto_set_error(ret_error, -errno, "cannot move %s into place: %s", from,
                                               strerror(errno));
        }
        r = fsync_dir(dir);
        if (r < 0)
                return proto_set_error(ret_error, r, "cannot sync %s: %s", dir, strerror(-r));
        r = remove_dir_files(commit);
        if (r < 0)
                return proto_set_error(ret_error, r, "cannot remove %s: %s", commit, strerror(-r));
        return 0;
}

static int load_pair(ProtoIdentity *id, FsCheckFlags flags, const char *want_cn, char **ret_cn, char **ret_o,
                     char **ret_error) {
        _cleanup_free_ char *cert = NULL;
        char *key = NULL;
        size_t cert_len = 0, key_len = 0;
        int r;

        /* The key first: its warning (readable by others) matters most. */
        r = read_file(id->key_path, flags | FS_CHECK_SECRET, &key, &key_len, &id->warning, ret_error);
        if (r < 0)
                return r;
        r = read_file(id->cert_path, flags, &cert, &cert_len, &id->warning, ret_error);
        if (r >= 0)
                r = check_pair(cert, cert_len, key, key_len, id->cert_path, id->key_path, want_cn, id,
                               ret_cn, ret_o, ret_error);
        key = erase_and_free_sized(key, key_len);
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
        /* Finish an interrupted replacement when we may write here; when we
         * may not (status as another user, a read-only file system), the
         * union of the two directories below is the identity all the same. */
        (void) finish_commit(dir, NULL);
        r = current_path(dir, "consumer.json", &json_path, ret_error);
        if (r < 0)
                return r;
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
        /* After the parse, which fills the whole structure. */
        if (reason[0]) /* a warning: the state dir is writable by others */
                id->warning = strdup(reason);
        r = identity_current_paths(dir, id, ret_error);
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

/* Steps 1 and 2: the new files in DIR/.identity.new, then the commit. */
static int stage_and_commit(const char *dir, const ProtoConsumer *c, const ProtoIdentity *check,
                            const char *server_url, char **ret_error) {
        _cleanup_free_ char *staging = NULL, *commit = NULL, *kp = NULL, *cp = NULL, *jp = NULL;
        int r;

        if (asprintf(&staging, "%s/" STAGING_DIR, dir) < 0 || asprintf(&commit, "%s/" COMMIT_DIR, dir) < 0 ||
            asprintf(&kp, "%s/key.pem", staging) < 0 || asprintf(&cp, "%s/cert.pem", staging) < 0 ||
            asprintf(&jp, "%s/consumer.json", staging) < 0)
                return -ENOMEM;
        /* What an interrupted save left before its commit is garbage. */
        r = remove_dir_files(staging);
        if (r < 0)
                return proto_set_error(ret_error, r, "cannot remove the leftover %s: %s", staging,
                                       strerror(-r));
        if (mkdir(staging, 0700) < 0)
                return proto_set_error(ret_error, -errno, "cannot create %s: %s", staging, strerror(errno));
        r = write_file_atomic(kp, c->key_pem, strlen(c->key_pem), 0600);
        if (r < 0) {
                (void) proto_set_error(ret_error, r, "cannot write %s: %s", kp, strerror(-r));
                goto fail;
        }
        r = write_file_atomic(cp, c->cert_pem, strlen(c->cert_pem), 0644);
        if (r < 0) {
                (void) proto_set_error(ret_error, r, "cannot write %s: %s", cp, strerror(-r));
                goto fail;
        }
        r = write_consumer_json(jp, check, c, server_url);
        if (r < 0) {
                (void) proto_set_error(ret_error, r, "cannot write %s: %s", jp, strerror(-r));
                goto fail;
        }
        if (rename(staging, commit) < 0) {
                r = -errno;
                (void) proto_set_error(ret_error, r, "cannot rename %s to %s: %s", staging, commit,
                                       strerror(-r));
                goto fail;
        }
        /* Committed: from here on load sees the new identity. A failed sync
         * only weakens durability across a power loss. */
        (void) fsync_dir(dir);
        return 0;

fail:
        (void) remove_dir_files(staging);
        return r;
}

int proto_identity_save(const char *dir, const ProtoConsumer *c, const char *server_url, ProtoIdentity **ret,
                        char **ret_error) {
        _cleanup_(proto_identity_freep) ProtoIdentity *check = NULL;
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
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return proto_set_error(ret_error, -errno, "cannot create %s: %s", dir, strerror(errno));
        /* An earlier replacement that was committed but not finished goes first. */
        r = finish_commit(dir, ret_error);
        if (r < 0)
                return r;
        r = stage_and_commit(dir, c, check, server_url, ret_error);
        if (r < 0)
                return r;
        /* Committed; a failure to move the files into place is finished by
         * the next load or save, and load reads the new files meanwhile. */
        (void) finish_commit(dir, NULL);
        if (ret)
                return proto_identity_load(dir, ret, ret_error);
        return 0;
}

int proto_identity_remove(const char *dir) {
        _cleanup_free_ char *staging = NULL, *commit = NULL;
        int ret = 0, r;

        /* Complete a committed replacement first, so that no crash below can
         * bring back the identity it replaced. */
        r = finish_commit(dir, NULL);
        if (r < 0)
                ret = r;
        /* consumer.json first: without it the directory is "not registered". */
        for (size_t i = ELEMENTSOF(identity_files); i > 0; i--) {
                _cleanup_free_ char *p = NULL;
                if (asprintf(&p, "%s/%s", dir, identity_files[i - 1]) < 0)
                        return -ENOMEM;
                if (unlink(p) < 0 && errno != ENOENT && ret == 0)
                        ret = -errno;
        }
        if (asprintf(&staging, "%s/" STAGING_DIR, dir) < 0 || asprintf(&commit, "%s/" COMMIT_DIR, dir) < 0)
                return -ENOMEM;
        r = remove_dir_files(commit);
        if (r < 0 && ret == 0)
                ret = r;
        r = remove_dir_files(staging);
        if (r < 0 && ret == 0)
                ret = r;
        return ret;
}

bool proto_identity_expired(const ProtoIdentity *id, time_t now) {
        return !id || now >= id->not_after;
}
