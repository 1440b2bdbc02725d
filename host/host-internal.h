/* SPDX-License-Identifier: GPL-2.0-or-later */
/* host/'s pure cores (guest table, event mapping, identity, filters,
 * snapshot building and hand-over, backoff), exposed for host/ itself and
 * its tests. None of them calls libvirt, logs or sleeps. */
#pragma once

#ifndef HVMAP_HOST_INTERNAL
#error "host-internal.h is for host/ and its tests only; use host/host.h"
#endif

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host/host.h"

/* ---- UUIDs ------------------------------------------------------------ */

#define HOST_UUID_BYTES 16

/* Parses "8-4-4-4-12" or 32 hex digits (any case, surrounding blanks
 * ignored) into 16 bytes. 0 or -EINVAL. */
int uuid_parse(const char *s, uint8_t ret[HOST_UUID_BYTES]);
/* Formats 16 bytes as lower-case "8-4-4-4-12"; returns buf. */
char *uuid_format(const uint8_t u[HOST_UUID_BYTES], char buf[HOST_UUID_STRING_MAX]);
bool uuid_is_null(const uint8_t u[HOST_UUID_BYTES]);
/* True for SMBIOS UUIDs that many boards share or that mean "not set": all
 * zeros, all F, 03000200-0400-0500-0006-000700080009 and the like. */
bool uuid_is_bogus(const uint8_t u[HOST_UUID_BYTES]);

/* ---- The guest table -------------------------------------------------- */

typedef enum GuestPersist {
        GUEST_PERSIST_UNKNOWN,
        GUEST_PERSIST_YES, /* has a definition: stays (shut off) when stopped */
        GUEST_PERSIST_NO, /* transient: vanishes when stopped */
} GuestPersist;

typedef struct GuestEntry {
        uint8_t uuid[HOST_UUID_BYTES];
        int state; /* virDomainState */
        bool active;
        GuestPersist persistent;
        char *name; /* owned; NULL when unknown */
} GuestEntry;

typedef struct GuestTable GuestTable;

/* What a replace changed; the example is the first changed UUID, for logs. */
typedef struct GuestTableDiff {
        size_t added, removed, changed;
        bool have_example;
        uint8_t example[HOST_UUID_BYTES];
} GuestTableDiff;

/* A table of at most cap entries (0: HOST_GUEST_CAP_DEFAULT). NULL on ENOMEM. */
GuestTable *guest_table_new(size_t cap);
GuestTable *guest_table_free(GuestTable *t);
size_t guest_table_size(const GuestTable *t);
size_t guest_table_cap(const GuestTable *t);
/* Counts every modification: +1 per set/remove that changed something, +1
 * per replace that changed anything. */
uint64_t guest_table_changes(const GuestTable *t);
const GuestEntry *guest_table_get(const GuestTable *t, const uint8_t uuid[HOST_UUID_BYTES]);
/* The i-th entry in UUID order; NULL past the end. */
const GuestEntry *guest_table_at(const GuestTable *t, size_t i);
/* Inserts or updates (name NULL keeps the known name). Returns 1 when
 * something changed, 0 when it was already so, -E2BIG when a new entry would
 * pass the cap, -ENOMEM. */
int guest_table_set(GuestTable *t, const uint8_t uuid[HOST_UUID_BYTES], int state, bool active,
                    GuestPersist persistent, const char *name);
/* 1 when removed, 0 when unknown. */
int guest_table_remove(GuestTable *t, const uint8_t uuid[HOST_UUID_BYTES]);
/* Replaces the whole contents by entries[0..n) (any order; for a duplicate
 * UUID the last one wins). The names of the entries kept are taken (their
 * .name becomes NULL); the caller frees whatever names remain. On -E2BIG
 * (more distinct UUIDs than the cap) or -ENOMEM the table is unchanged.
 * diff may be NULL. */
int guest_table_replace(GuestTable *t, GuestEntry *entries, size_t n, GuestTableDiff *diff);

/* ---- Lifecycle events ------------------------------------------------- */

/* virDomainIsActive in terms of the state: running, blocked (Xen's idle),
 * paused, shutting down, pmsuspended and crashed (kept for inspection) are
 * active; no state and shut off are not. */
bool guest_state_is_active(int state);
const char *guest_state_to_string(int state);

typedef enum GuestEventAction {
        GUEST_EVENT_NONE, /* nothing to change */
        GUEST_EVENT_SET, /* set *ret_state (active follows from it) and *ret_persist */
        GUEST_EVENT_REMOVE, /* the domain is gone from this host */
        GUEST_EVENT_REFRESH, /* the event alone cannot tell: ask libvirt for the domain's state */
} GuestEventAction;

/* Maps one VIR_DOMAIN_EVENT_ID_LIFECYCLE event (event, detail) on a domain
 * whose current entry is cur (NULL: not in the table) to a table action.
 * For SET, *ret_state and *ret_persist are the new values. Unknown events or
 * details (a newer libvirt) give REFRESH. */
GuestEventAction guest_event_map(int event, int detail, const GuestEntry *cur, int *ret_state,
                                 GuestPersist *ret_persist);
const char *guest_event_to_string(int event);
const char *guest_event_detail_to_string(int event, int detail);

/* ---- Xen, flavour, filters -------------------------------------------- */

/* "Xen" (libxl's virConnectGetType) → XEN, anything else (or NULL) → KVM. */
HostFlavour host_flavour_from_type(const char *type);
/* The control domain is never a guest: under Xen, id 0 or the name
 * "Domain-0"; under any flavour, the all-zero UUID. */
bool host_is_control_domain(HostFlavour flavour, int id, const char *name,
                            const uint8_t uuid[HOST_UUID_BYTES]);

typedef struct GuestFilter {
        const char *const *include; /* NULL or NULL-terminated; empty: all */
        const char *const *exclude;
        bool report_inactive;
} GuestFilter;

/* Whether a guest is reported: active (or report_inactive), matching an
 * include glob if there are any, and no exclude glob. Globs are fnmatch(3)
 * patterns tried on the UUID (case-insensitive) and on the name. */
bool guest_filter_match(const GuestFilter *f, const char *uuid, const char *name, bool active);

/* ---- Identity and facts ----------------------------------------------- */

typedef enum HostIdSource {
        HOST_ID_SOURCE_OVERRIDE,
        HOST_ID_SOURCE_CAPABILITIES, /* capabilities <host><uuid> */
        HOST_ID_SOURCE_SYSINFO, /* SMBIOS system uuid through virConnectGetSysinfo */
        HOST_ID_SOURCE_MACHINE_ID, /* /etc/machine-id as a UUID */
        HOST_ID_SOURCE_HOSTNAME,
} HostIdSource;

typedef enum HostIdVerdict {
        HOST_ID_USED,
        HOST_ID_ABSENT,
        HOST_ID_MALFORMED,
        HOST_ID_BOGUS,
} HostIdVerdict;

typedef struct HostIdInputs {
        const char *caps_uuid; /* NULL when absent */
        const char *sysinfo_uuid; /* NULL when absent or sysinfo failed */
        const char *machine_id; /* contents of machine-id (32 hex), NULL when unreadable */
        const char *hostname;
} HostIdInputs;

typedef struct HostIdStep {
        HostIdSource source;
        HostIdVerdict verdict;
} HostIdStep;

#define HOST_ID_MAX 256
typedef struct HostIdResult {
        char id[HOST_ID_MAX]; /* "" when none */
        HostIdSource source;
        HostIdStep steps[4]; /* every candidate tried, in order, for the log */
        size_t n_steps;
} HostIdResult;

/* Picks the hypervisor id. Returns 0 with ret->id set, -ENOENT when no
 * candidate is usable (ret->steps say why), -EINVAL for an override that is
 * empty, too long or has control characters. */
int host_id_choose(HostIdMode mode, const char *override, const HostIdInputs *in, HostIdResult *ret);
const char *host_id_source_to_string(HostIdSource s);
const char *host_id_verdict_to_string(HostIdVerdict v);
/* One operator-facing sentence for a failed host_id_choose(). */
void host_id_explain_failure(HostIdMode mode, const HostIdResult *r, char *buf, size_t bufsz);

/* The text of <host><uuid> in a capabilities document, and of the system
 * entry "uuid" in a sysinfo document. 0 and a copy, -ENOENT, -ENOMEM. */
int caps_host_uuid(const char *caps_xml, char **ret);
int sysinfo_system_uuid(const char *sysinfo_xml, char **ret);

/* libvirt's packed version (major·10⁶ + minor·10³ + micro) as "x.y.z". */
char *host_version_format(unsigned long v, char *buf, size_t bufsz);

/* ---- Snapshots -------------------------------------------------------- */

typedef struct SnapshotMeta {
        const char *hypervisor_id;
        const char *identity_error;
        const char *hostname;
        const HostFact *facts; /* any order; copied and sorted */
        size_t n_facts;
        HostConnState conn_state;
        uint64_t conn_since_usec;
        const char *uri;
        const char *last_error;
        unsigned connect_failures;
        bool synced;
        HostFlavour flavour;
} SnapshotMeta;

/* A new snapshot (one reference) of the table seen through the filter, with
 * seq/mapping_seq 0 for the caller to set before publishing. NULL on ENOMEM. */
HostSnapshot *snapshot_build(const GuestTable *t, const GuestFilter *f, const SnapshotMeta *m);
/* Whether two snapshots report the same mapping: guests (uuid, state,
 * active), hypervisor id, host name and facts. NULL never equals non-NULL. */
bool snapshot_mapping_equal(const HostSnapshot *a, const HostSnapshot *b);
/* Sets the sequence numbers of a snapshot not yet shared. */
void snapshot_set_seq(HostSnapshot *s, uint64_t seq, uint64_t mapping_seq);

/* The hand-over slot: the latest snapshot under a mutex, and an eventfd
 * that says "there is a newer one". Safe between one writer and any readers. */
typedef struct SnapshotSlot {
        pthread_mutex_t lock;
        HostSnapshot *latest;
        int efd;
} SnapshotSlot;

/* 0 or -errno (eventfd). */
int snapshot_slot_init(SnapshotSlot *slot);
void snapshot_slot_done(SnapshotSlot *slot);
/* Takes the caller's reference to s, makes it the latest, drops the old one
 * and signals the eventfd. */
void snapshot_slot_publish(SnapshotSlot *slot, HostSnapshot *s);
/* A new reference to the latest, or NULL before the first publish. */
HostSnapshot *snapshot_slot_get(SnapshotSlot *slot);
/* Live snapshots in this process (built and not yet freed), for leak tests. */
long snapshot_live_count(void);

/* ---- Reconnect backoff ------------------------------------------------ */

/* The first retry comes after 100 ms (libvirtd restarts in ~0.1-0.2 s), then
 * doubling to the 30 s cap. */
#define HOST_BACKOFF_FIRST_USEC (UINT64_C(100) * 1000)
#define HOST_BACKOFF_CAP_USEC (UINT64_C(30) * 1000000)

/* Delay before retry number attempt (1 = first retry): FIRST·2^(attempt−1)
 * capped, then reduced by up to a quarter with rnd (any 32-bit value) as
 * jitter, so a fleet does not retry in step. Never below 50 ms, so at most
 * 20 attempts a second. */
uint64_t host_backoff_usec(unsigned attempt, uint32_t rnd);
