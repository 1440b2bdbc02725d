/* SPDX-License-Identifier: GPL-2.0-or-later */
/* _cleanup_ helpers for the libraries hvmap links. Each block is compiled
 * only when the including file has pulled in that library's header first, so
 * host/ does not drag in libcurl and proto/ does not drag in libvirt. The
 * header guards differ between releases: older curl (RHEL 8's 7.61) uses
 * __CURL_CURL_H, OpenSSL 1.1.1 only HEADER_*_H (3.x defines both). */
#pragma once

#include "util/cleanup.h"

#if defined(CURLINC_CURL_H) || defined(__CURL_CURL_H)
DEFINE_TRIVIAL_CLEANUP_FUNC(CURL *, curl_easy_cleanup, curl_easy_cleanupp)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct curl_slist *, curl_slist_free_all, curl_slist_free_allp)
#endif

#ifdef cJSON__h
DEFINE_TRIVIAL_CLEANUP_FUNC(cJSON *, cJSON_Delete, cJSON_Deletep)
#endif

#ifdef LIBVIRT_H
DEFINE_TRIVIAL_CLEANUP_FUNC(virConnectPtr, virConnectClose, virConnectClosep)
DEFINE_TRIVIAL_CLEANUP_FUNC(virDomainPtr, virDomainFree, virDomainFreep)
#endif

#if defined(OPENSSL_EVP_H) || defined(HEADER_ENVELOPE_H)
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free, EVP_PKEY_freep)
#endif
#if defined(OPENSSL_X509_H) || defined(HEADER_X509_H)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free, X509_freep)
#endif
#if defined(OPENSSL_BIO_H) || defined(HEADER_BIO_H)
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free_all, BIO_free_allp)
#endif
