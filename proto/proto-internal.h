/* SPDX-License-Identifier: GPL-2.0-or-later */
/* proto/ internals shared by its files and its tests; not for agent/. */
#pragma once

#ifndef HVMAP_PROTO_INTERNAL
#error "proto-internal.h is for proto/ and its tests only"
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#include <systemd/sd-event.h>

#include "proto/proto.h"
#include "util/cleanup.h"

/* Replaces *ret_error (when not NULL) with a formatted one-line reason and
 * returns r, for "return proto_set_error(ret_error, -EIO, ...)". */
int proto_set_error(char **ret_error, int r, const char *format, ...) _printf_(3, 4);

/* ---- json.c ---- */
/* true when the n bytes are well-formed UTF-8 (no overlongs, surrogates or
 * code points past U+10FFFF). */
bool proto_utf8_valid(const char *s, size_t n);
/* Whether the JSON text holds "\u0000", a NUL inside a string, which cJSON
 * would cut the string at; every parser refuses it like a raw NUL. */
bool proto_json_has_escaped_nul(const char *buf, size_t len);
/* A consumer uuid we are willing to put into a URL path: [A-Za-z0-9-]{1,64}. */
bool proto_uuid_valid(const char *s);
/* A job id: [A-Za-z0-9_-]{1,128}. */
bool proto_job_id_valid(const char *s);
/* escape_control() (util/escape.h): s with control characters escaped
 * ("\n", "\x1b"), so a server's text is one line, in at most max bytes. NULL
 * on ENOMEM. */
char *proto_sanitize_text(const char *s, size_t max);

/* ---- http.c ---- */
typedef struct ProtoHttp ProtoHttp;

typedef struct ProtoHttpRequest {
        const char *method; /* GET, POST, PUT, DELETE */
        const char *url; /* full URL, query included */
        const char *content_type; /* NULL: no body */
        const char *body;
        size_t body_len;
        const char *client_cert; /* paths; both or neither */
        const char *client_key;
        const char *basic_user; /* Basic auth; secrets registered by the caller */
        const char *basic_password;
        uint64_t timeout_usec; /* 0: the client's */
} ProtoHttpRequest;

typedef struct ProtoHttpResponse {
        int curl_code; /* CURLcode, 0 = a response arrived */
        int local_error; /* -errno when the request never left (CA dir, ...) */
        const char *error_text; /* curl's or the local reason, never NULL */
        bool too_large;
        size_t body_cap; /* the cap on the body, for "more than N bytes" when too_large */
        long status;
        const char *body; /* NUL-terminated, body_len bytes */
        size_t body_len;
        const char *request_uuid; /* header, NULL if absent */
        const char *retry_after; /* header, NULL if absent */
        const char *content_type; /* header, NULL if absent */
        const char *location; /* header (a 3xx's target, never followed), NULL if absent */
        const char *date; /* header, NULL if absent */
        double total_sec;
} ProtoHttpResponse;

typedef void (*ProtoHttpCallback)(ProtoHttp *h, const ProtoHttpResponse *r, void *userdata);

int proto_http_new(sd_event *e, const ProtoServerConfig *cfg, ProtoHttp **ret);
ProtoHttp *proto_http_free(ProtoHttp *h);
/* Starts a transfer; the callback runs exactly once from the loop unless the
 * ProtoHttp is freed first. req->body is borrowed, not copied: it must stay
 * unchanged until the callback has run or the ProtoHttp is freed. 0 or
 * -errno (nothing started). */
int proto_http_start(ProtoHttp *h, const ProtoHttpRequest *req, ProtoHttpCallback cb, void *userdata);
const char *proto_http_correlation_id(const ProtoHttp *h);
size_t proto_http_pending(const ProtoHttp *h);
size_t proto_http_max_body(const ProtoHttp *h);

/* Retry-After (RFC 9110 §10.2.3): delta-seconds, any number of digits (a
 * day or more, however many digits, is PROTO_RETRY_AFTER_MAX_SEC), or an
 * HTTP-date (the seconds from now until then: 0 when past, at most the
 * cap). Returns 0 with *ret_sec, or -EINVAL when v is neither (the caller
 * then waits PROTO_RETRY_AFTER_DEFAULT_SEC). Pure; does not log. */
int proto_retry_after_parse(const char *v, time_t now, uint64_t *ret_sec);

/* Reads every *.pem of dir (sorted by name) into one PEM bundle, checking
 * that each holds at least one certificate. -ENOENT (missing dir or no
 * *.pem), -ENOTDIR, -EBADMSG (a file without a certificate), -E2BIG; the
 * reason in *ret_error. Does not log. */
int proto_ca_bundle_load(const char *dir, char **ret, size_t *ret_len, char **ret_error);

/* The proxy to use: rhsm.conf values when host and port are both set,
 * else $HTTPS_PROXY, else $https_proxy; no-proxy list from rhsm.conf, else
 * $NO_PROXY, else $no_proxy. env may be NULL (getenv). *ret_proxy is NULL
 * for "no proxy" (curl is then told "" so it reads no environment). Pure
 * apart from env. */
typedef const char *(*ProtoGetenv)(const char *name);
int proto_proxy_resolve(const ProtoServerConfig *cfg, ProtoGetenv env, char **ret_proxy,
                        char **ret_no_proxy);

/* ---- client.c ---- */

/* Maps one HTTP outcome to a typed result (kind, error, retry_after,
 * message, request_uuid); the payload is left to the caller. our_uuid may be
 * NULL (no identity yet). now is for an HTTP-date Retry-After. Pure. */
int proto_classify(ProtoCall call, const char *method, const char *url, const ProtoHttpResponse *r,
                   const char *our_uuid, time_t now, ProtoResult *ret);
void proto_result_done(ProtoResult *r);

/* ---- identity.c ---- */
/* Reads the first certificate of a PEM text: subject CN and O (NULL when
 * absent), serial as decimal, validity. Any ret_ may be NULL. -EBADMSG when
 * no certificate parses. Does not log. */
int proto_cert_info(const char *pem, size_t len, char **ret_cn, char **ret_o, char **ret_serial,
                    time_t *ret_not_before, time_t *ret_not_after);
