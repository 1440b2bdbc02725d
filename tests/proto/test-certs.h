/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Test helpers: a throwaway key and self-signed certificate, made with
 * OpenSSL in memory (RSA, like Candlepin's identity certificates). */
#pragma once

#include <criterion/criterion.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

static inline char *bio_to_string(BIO *b) {
        char *data = NULL;
        long n = BIO_get_mem_data(b, &data);
        char *s = malloc((size_t) n + 1);

        cr_assert_not_null(s);
        memcpy(s, data, (size_t) n);
        s[n] = 0;
        return s;
}

static inline EVP_PKEY *test_key_new(void) {
        /* 1024 bits: a throwaway test key, and 4× faster under valgrind than
         * 2048. Not EVP_RSA_gen(): that is OpenSSL 3, and 1.1.1 is supported. */
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, NULL);
        EVP_PKEY *k = NULL;

        cr_assert_not_null(ctx);
        cr_assert_eq(EVP_PKEY_keygen_init(ctx), 1);
        cr_assert_gt(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 1024), 0);
        cr_assert_eq(EVP_PKEY_keygen(ctx, &k), 1);
        EVP_PKEY_CTX_free(ctx);
        cr_assert_not_null(k);
        return k;
}

/* A P-256 key for a TLS server in a test: OpenSSL's default security level
 * (2 on Debian and RHEL) refuses test_key_new()'s 1024-bit RSA there, and a
 * 2048-bit RSA key takes seconds to make under valgrind. Made the way both
 * OpenSSL 1.1.1 and 3 accept (EVP_EC_gen() is 3 only). */
static inline EVP_PKEY *test_server_key_new(void) {
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
        EVP_PKEY *k = NULL;

        cr_assert_not_null(ctx);
        cr_assert_eq(EVP_PKEY_keygen_init(ctx), 1);
        cr_assert_gt(EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx, NID_X9_62_prime256v1), 0);
        cr_assert_eq(EVP_PKEY_keygen(ctx, &k), 1);
        EVP_PKEY_CTX_free(ctx);
        cr_assert_not_null(k);
        return k;
}

/* PEM of key: PKCS#1 ("RSA PRIVATE KEY") when pkcs1, else PKCS#8. */
static inline char *test_key_pem(EVP_PKEY *k, bool pkcs1) {
        BIO *b = BIO_new(BIO_s_mem());
        char *s;

        cr_assert_not_null(b);
        if (pkcs1)
                cr_assert_eq(PEM_write_bio_PrivateKey_traditional(b, k, NULL, NULL, 0, NULL, NULL), 1);
        else
                cr_assert_eq(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
        s = bio_to_string(b);
        BIO_free(b);
        return s;
}

/* Self-signed certificate for k with subject CN=cn, O=o (o may be NULL),
 * valid from now+from_days to now+to_days, serial given. */
static inline char *test_cert_pem(EVP_PKEY *k, const char *cn, const char *o, long from_days, long to_days,
                                  long serial) {
        X509 *x = X509_new();
        X509_NAME *name;
        BIO *b;
        char *s;

        cr_assert_not_null(x);
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
        X509_gmtime_adj(X509_getm_notBefore(x), from_days * 86400);
        X509_gmtime_adj(X509_getm_notAfter(x), to_days * 86400);
        X509_set_pubkey(x, k);
        name = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *) cn, -1, -1, 0);
        if (o)
                X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *) o, -1, -1, 0);
        X509_set_issuer_name(x, name);
        cr_assert_gt(X509_sign(x, k, EVP_sha256()), 0);
        b = BIO_new(BIO_s_mem());
        cr_assert_eq(PEM_write_bio_X509(b, x), 1);
        s = bio_to_string(b);
        BIO_free(b);
        X509_free(x);
        return s;
}
