/* SPDX-License-Identifier: GPL-2.0-or-later */
/* proto/: the Candlepin client — pure JSON bodies and parsers, HTTPS on
 * libcurl's multi-socket API driven by the caller's sd-event loop, the API
 * calls with typed results, and the identity store. Never includes host/ or
 * agent/: the agent converts its guest table into a ProtoMapping. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <systemd/sd-event.h>

/* ---- field limits (shared/spec/candlepin-protocol.md §1.3, §5) ---------- */
#define PROTO_NAME_MAX 250 /* Consumer.CONSUMER_NAME_MAX_LENGTH */
#define PROTO_FIELD_MAX 255 /* hypervisorId, guestId, fact keys/values: varchar(255) */
/* More than any hypervisor runs (a 1 000-guest body is ~95 KiB); a bigger
 * table is a bug upstream of us, not something to send. */
#define PROTO_GUESTS_MAX 100000
#define PROTO_FACTS_MAX 1000

/* Error text buffers handed to the pure layer. */
#define PROTO_ERROR_MAX 256

/* ---- the mapping (input of every body builder) ------------------------- */
typedef struct ProtoFact {
        const char *key;
        const char *value;
} ProtoFact;

typedef struct ProtoGuest {
        const char *uuid; /* any case; sent lower-cased */
        int state; /* libvirt virDomainState, only sent in the check-in body */
        bool active;
} ProtoGuest;

typedef struct ProtoMapping {
        const char *hypervisor_id; /* required, ≤ 255 */
        const char *name; /* required for registration and check-in, ≤ 250, no leading '#' */
        /* any order; virt.is_guest is set by us, dmi.system.uuid too when the
         * hypervisor id is a UUID, and network.hostname/network.fqdn from fqdn */
        const ProtoFact *facts;
        size_t n_facts;
        /* The host's name as Satellite needs it (network.hostname and
         * network.fqdn; Katello's registration fails without the former).
         * NULL: not sent. */
        const char *fqdn;
        /* Guest update on a consumer that is not ours (subscription-
         * manager's): no "facts" at all, since Candlepin replaces the whole
         * fact map with what a PUT carries. */
        bool no_facts;
        const ProtoGuest *guests; /* any order; sent sorted by lower-cased uuid */
        size_t n_guests;
} ProtoMapping;

/* ---- JSON builders (pure: no I/O, no logging) -------------------------- */
/* Each returns 0 and a compact NUL-terminated JSON string the caller frees
 * (length in *ret_len when not NULL), -EINVAL with a one-line reason in
 * errbuf (may be NULL) when the mapping breaks a field limit, or -ENOMEM.
 * Output is canonical: guests sorted by lower-cased uuid with duplicates
 * folded, facts sorted by key, a fixed key order. */

/* POST /consumers: {"type":{"label":"hypervisor"},"name","hypervisorId":{"hypervisorId"},"facts"}. */
int proto_build_register(const ProtoMapping *m, char **ret, size_t *ret_len, char *errbuf, size_t errsz);
/* PUT /consumers/{uuid}:
 * {"guestIds":[{"guestId","attributes":{"virtWhoType":"libvirt","active":"0|1"}}],
 *  "hypervisorId":{"hypervisorId"},"facts"} ("facts" left out with no_facts). */
int proto_build_guest_update(const ProtoMapping *m, char **ret, size_t *ret_len, char *errbuf, size_t errsz);
/* POST /hypervisors/{owner} (text/plain) and `hvmap print`: {"hypervisors":[...]}. */
int proto_build_checkin(const ProtoMapping *maps, size_t n_maps, char **ret, size_t *ret_len, char *errbuf,
                        size_t errsz);
/* SHA-256 (lower-case hex, 64 chars + NUL) of exactly len bytes: of a
 * request body, equal digests mean "the same request". -EIO when OpenSSL
 * fails. */
#define PROTO_DIGEST_HEX_LEN 64
int proto_body_digest(const char *body, size_t len, char ret[PROTO_DIGEST_HEX_LEN + 1]);

/* Whether s fits a text field the server stores (name ≤ PROTO_NAME_MAX,
 * hypervisorId ≤ PROTO_FIELD_MAX, ...): present, not empty, at most max
 * bytes, valid UTF-8. 0, or -EINVAL with "<what> is ..." in errbuf (the
 * value itself is not quoted). The builders above refuse the same; the
 * configuration checks it early (config_validate()). Pure. */
int proto_check_text(const char *what, const char *s, size_t max, char *errbuf, size_t errsz);

/* ---- parsed responses (parsers are pure and fuzz-ready) ----------------- */
/* Every proto_parse_*() takes exactly len bytes (no NUL needed; an embedded
 * NUL, non-UTF-8, trailing garbage or a missing required field is -EBADMSG),
 * returns 0 and fills *ret (freed with the matching *_done()), never logs. */

typedef struct ProtoConsumer {
        char *uuid; /* required; only [A-Za-z0-9-], so safe in a URL path */
        char *owner_key; /* owner.key, NULL if absent */
        char *name; /* NULL if absent */
        char *type_label; /* type.label, or type when a bare string */
        char *hypervisor_id; /* hypervisorId.hypervisorId */
        char *cert_pem; /* idCert.cert, NULL if absent */
        char *key_pem; /* idCert.key (secret), NULL if absent; wiped on free */
        char *serial; /* idCert.serial.serial as decimal text (exact up to 2^53), NULL if absent */
        char *expiration; /* idCert.serial.expiration, as sent */
} ProtoConsumer;
int proto_parse_consumer(const char *buf, size_t len, ProtoConsumer *ret);
void proto_consumer_done(ProtoConsumer *c);

typedef struct ProtoStatus {
        bool result;
        char *version;
        char *release;
        char *mode; /* "NORMAL", "SUSPEND" or NULL */
        char **capabilities; /* NULL-terminated, never NULL after success */
} ProtoStatus;
int proto_parse_status(const char *buf, size_t len, ProtoStatus *ret);
void proto_status_done(ProtoStatus *s);
bool proto_status_has_capability(const ProtoStatus *s, const char *cap);

typedef enum ProtoJobState {
        PROTO_JOB_CREATED,
        PROTO_JOB_RUNNING,
        PROTO_JOB_FINISHED,
        PROTO_JOB_FAILED,
        PROTO_JOB_CANCELED,
        PROTO_JOB_UNKNOWN, /* a state this client does not know: keep polling, bounded by the caller */
} ProtoJobState;
typedef struct ProtoJob {
        char *id; /* required; only [A-Za-z0-9_-] */
        ProtoJobState state;
        char *state_text;
        /* resultData: a string (failure reason, "Job blocked by ...") lands in
         * result_text; an object is summarised in the counts. */
        char *result_text;
        bool has_result_object;
        size_t n_created, n_updated, n_unchanged, n_failed;
        /* resultData.failedUpdate as text ("<hypervisor id>: <reason>"), at
         * most 32, NULL-terminated; NULL when there is none. A FINISHED job
         * can still list a host here. */
        char **failed_update;
} ProtoJob;
int proto_parse_job(const char *buf, size_t len, ProtoJob *ret);
void proto_job_done(ProtoJob *j);
bool proto_job_state_is_terminal(ProtoJobState s);
const char *proto_job_state_to_string(ProtoJobState s);

typedef struct ProtoErrorBody {
        char *display_message; /* control characters escaped, at most 512 bytes */
        char *request_uuid;
        char *deleted_id;
} ProtoErrorBody;
int proto_parse_error(const char *buf, size_t len, ProtoErrorBody *ret);
void proto_error_body_done(ProtoErrorBody *e);

/* GET /users/{user}/owners: the owner keys, NULL-terminated. */
int proto_parse_owners(const char *buf, size_t len, char ***ret_keys);

/* ---- typed results ----------------------------------------------------- */
typedef enum ProtoResultKind {
        PROTO_RESULT_OK,
        PROTO_RESULT_RETRY_AFTER, /* 429 (or 503 with Retry-After): wait retry_after_sec */
        PROTO_RESULT_TEMPORARY, /* 5xx, timeout, connection/TLS failure, malformed or oversized body, 410
                                   without our deletedId */
        PROTO_RESULT_GONE, /* 410 whose deletedId is our consumer uuid: the consumer was deleted */
        PROTO_RESULT_AUTH, /* 401, 403, 407 */
        PROTO_RESULT_PERMANENT, /* 400, 404, 415, other 4xx and 3xx: the server's displayMessage says why */
        PROTO_RESULT_LOCAL, /* nothing reached the server: CA dir, client cert/key, bad input */
        _PROTO_RESULT_MAX,
} ProtoResultKind;
const char *proto_result_kind_to_string(ProtoResultKind k);

/* Without (or with an unusable) Retry-After a 429 waits this long; virt-who
 * waits 2 × 15 s, and a throttled front end deserves at least a minute. */
#define PROTO_RETRY_AFTER_DEFAULT_SEC 60
/* A Retry-After beyond a day is treated as a day. */
#define PROTO_RETRY_AFTER_MAX_SEC (24 * 3600)

typedef struct ProtoResult {
        ProtoResultKind kind;
        long http_status; /* 0 when no HTTP response arrived */
        uint64_t retry_after_sec; /* RETRY_AFTER only */
        bool retry_after_from_server;
        int error; /* negative errno summarising a failure, 0 on OK */
        char *message; /* one line: method, URL without query, status, displayMessage, request uuid */
        char *request_uuid; /* x-candlepin-request-uuid, NULL if none */
        /* Typed payloads, set on OK for the calls that return them. */
        ProtoConsumer *consumer; /* register, get/refresh consumer, regenerate */
        ProtoStatus *status; /* status */
        ProtoJob *job; /* check-in, heartbeat, job */
        /* GET_CONSUMER: the server holds a certificate other than ours (and
         * sent its key); REGENERATE: always. The caller stores consumer. */
        bool cert_changed;
        /* A failure after which the server may still have applied (or may
         * yet apply) the request: a timeout or a connection lost after it
         * was sent, or a gateway's 502/503/504. */
        bool maybe_applied;
        /* The server's clock: its Date header (0 without one, or one that
         * does not parse), for `hvmap doctor`'s clock check. */
        time_t server_date;
} ProtoResult;

/* ---- identity store ---------------------------------------------------- */
typedef struct ProtoIdentity {
        char *dir;
        char *cert_path; /* dir/cert.pem */
        char *key_path; /* dir/key.pem */
        char *uuid; /* consumer uuid = certificate CN */
        char *owner; /* owner key */
        char *name;
        char *hypervisor_id;
        char *server_url;
        char *serial; /* certificate serial, decimal */
        time_t not_before;
        time_t not_after;
        char *warning; /* NULL, or a sentence to log: the key is readable by others, ... */
} ProtoIdentity;

/* consumer.json as stored, parsed purely (fuzz entry point). */
int proto_parse_identity_json(const char *buf, size_t len, ProtoIdentity *ret);
/* Loads dir/{cert.pem,key.pem,consumer.json} and checks them with OpenSSL:
 * the key (PKCS#1 or PKCS#8) matches the certificate, the certificate CN is
 * the stored uuid. Does not refuse an expired certificate (not_after says
 * so; proto_identity_expired() tells). Returns 0, -ENOENT (not registered),
 * -EACCES, -EBADMSG (unparsable), -EKEYREJECTED (key/cert mismatch or CN ≠
 * uuid); *ret_error (may be NULL) gets a one-line reason. Does not log. */
int proto_identity_load(const char *dir, ProtoIdentity **ret, char **ret_error);
/* Reads a subscription-manager identity (e.g. /etc/pki/consumer: cert.pem +
 * key.pem): uuid from the CN, owner from O. Same errors; does not log. */
int proto_identity_load_rhsm(const char *dir, ProtoIdentity **ret, char **ret_error);
/* Writes a registration's (or renewal's) identity into dir, creating it 0700:
 * key.pem (0600), cert.pem (0644, a certificate is public) and consumer.json
 * (0644), after checking the key matches the certificate and the CN is the
 * consumer uuid. The three are replaced as one step (staged in
 * dir/.identity.new, committed by one rename; see proto/identity.c): a crash
 * at any point leaves the old identity or the new one, and load and the next
 * save complete an interrupted replacement. Returns 0 and the reloaded
 * identity (ret may be NULL), or -errno with *ret_error. */
int proto_identity_save(const char *dir, const ProtoConsumer *c, const char *server_url, ProtoIdentity **ret,
                        char **ret_error);
/* Removes the identity files (unregister, deleted consumer), a replacement's
 * staging and commit directories included; missing is fine. */
int proto_identity_remove(const char *dir);
bool proto_identity_expired(const ProtoIdentity *id, time_t now);
ProtoIdentity *proto_identity_free(ProtoIdentity *id);

/* ---- the server and the HTTP client ------------------------------------ */
#define PROTO_DEFAULT_CONNECT_TIMEOUT_USEC (15 * UINT64_C(1000000))
/* rhsm.conf's server_timeout defaults to 180 s; a report that has not
 * completed in a minute is better retried later. */
#define PROTO_DEFAULT_TIMEOUT_USEC (60 * UINT64_C(1000000))
/* Either timeout is at least 1 ms (curl's 0 means none) and at most this:
 * the configuration's [server] timeout goes up to 15 min. */
#define PROTO_TIMEOUT_MAX_USEC (15 * 60 * UINT64_C(1000000))
/* A consumer DTO with its cert and key is ~8 KiB; a job status a few KiB. */
#define PROTO_DEFAULT_MAX_BODY (4U * 1024U * 1024U)

typedef struct ProtoServerConfig {
        const char *base_url; /* https://host[:port]/prefix, no trailing slash needed */
        const char *ca_dir; /* every *.pem in it is trusted; required unless use_system_ca */
        bool use_system_ca; /* also trust the system store (only when configured) */
        bool insecure; /* no server verification at all; warned about at creation */
        uint64_t connect_timeout_usec; /* 0: default; clamped to [1 ms, PROTO_TIMEOUT_MAX_USEC] */
        uint64_t timeout_usec; /* 0: default; clamped the same way */
        size_t max_body; /* 0: default */
        /* rhsm.conf/hvmap.conf proxy; each part, when unset, from the first of
         * HTTPS_PROXY, https_proxy, HTTP_PROXY, http_proxy (port 3128 when
         * it names none), as python-rhsm does; a proxy needs host and port. */
        const char *proxy_hostname;
        uint16_t proxy_port;
        const char *proxy_user;
        const char *proxy_password; /* registered as a secret */
        const char *no_proxy; /* rhsm.conf no_proxy; overrides no_proxy, then NO_PROXY */
        /* Tests: "HOST:PORT:ADDRESS" entries for CURLOPT_RESOLVE, NULL-terminated. */
        const char *const *resolve;
} ProtoServerConfig;

typedef struct ProtoClient ProtoClient;
typedef void (*ProtoCallback)(ProtoClient *c, const ProtoResult *r, void *userdata);

/* Creates a client driving its transfers on e (the caller owns the loop).
 * Logs the proxy choice and, when insecure, a warning; a failure to create
 * it is logged too. Nothing else in proto/ logs a failure: each call's
 * result carries its one line (ProtoResult.message) for the caller, the
 * layer that decides, to log once. */
int proto_client_new(sd_event *e, const ProtoServerConfig *cfg, ProtoClient **ret);
/* Cancels every transfer in flight (their callbacks are not called). Safe
 * from inside a callback. Returns NULL. */
ProtoClient *proto_client_free(ProtoClient *c);
/* The X-Correlation-ID this client sends (32 hex). */
const char *proto_client_correlation_id(const ProtoClient *c);
/* Number of transfers in flight. */
size_t proto_client_pending(const ProtoClient *c);

/* The caller registers the secrets with log_secret_register() for as long
 * as any answer that could quote them may be printed. */
typedef struct ProtoCredentials {
        const char *org; /* owner key; required with activation keys */
        const char *activation_keys; /* comma-separated; secret */
        const char *user; /* with password; org discovered when not given */
        const char *password; /* secret */
} ProtoCredentials;

/* The API calls (shared/spec/candlepin-protocol.md). */
typedef enum ProtoCall {
        PROTO_CALL_STATUS, /* GET /status */
        PROTO_CALL_OWNERS, /* GET /users/{user}/owners: internal, before a registration by user */
        PROTO_CALL_REGISTER, /* POST /consumers?owner=[&activation_keys=]; body from proto_build_register()
                              */
        PROTO_CALL_UPDATE_GUESTS, /* PUT /consumers/{uuid}; body from proto_build_guest_update() */
        PROTO_CALL_CHECKIN, /* POST /hypervisors/{owner}[?reporter_id=]; body from proto_build_checkin() */
        PROTO_CALL_JOB, /* GET /jobs/{id} */
        PROTO_CALL_HEARTBEAT, /* PUT /hypervisors/{owner}/heartbeat?reporter_id= */
        PROTO_CALL_GET_CONSUMER, /* GET /consumers/{uuid}: cert_changed tells a renewal */
        PROTO_CALL_REGENERATE, /* POST /consumers/{uuid}: a new cert and key */
        PROTO_CALL_UNREGISTER, /* DELETE /consumers/{uuid}; Candlepin's own 404/410 for us: OK */
        PROTO_CALL_SERIALS, /* GET /consumers/{uuid}/certificates/serials: a check-in on Satellite */
        _PROTO_CALL_MAX,
} ProtoCall;
const char *proto_call_to_string(ProtoCall k);

typedef struct ProtoRequest {
        ProtoCall call;
        const ProtoIdentity *identity; /* every call but STATUS and REGISTER */
        const ProtoCredentials *cred; /* REGISTER */
        /* REGISTER, UPDATE_GUESTS, CHECKIN: the prebuilt body, borrowed: it
         * must stay unchanged until the callback has run or the client is
         * freed. body_len 0: strlen(body). */
        const char *body;
        size_t body_len;
        const char *reporter_id; /* CHECKIN (optional), HEARTBEAT (required) */
        const char *job_id; /* JOB */
        uint64_t timeout_usec; /* 0: the client's (ProtoServerConfig.timeout_usec) */
} ProtoRequest;

/* Starts one call. Returns 0 when started (cb runs later, exactly once,
 * from the loop, unless the client is freed first) or -errno when it could
 * not start (nothing is called; -EINVAL for a request that lacks what its
 * call needs). The result is valid during the callback only; the callback
 * may start new calls or free the client. Does not log. */
int proto_client_start(ProtoClient *c, const ProtoRequest *req, ProtoCallback cb, void *userdata);
