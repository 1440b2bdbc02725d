/* SPDX-License-Identifier: GPL-2.0-or-later */
/* host/: the hypervisor's guests, followed through libvirt events in a
 * thread of its own and handed to the caller as immutable snapshots. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A UUID as text, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" plus the NUL. */
#define HOST_UUID_STRING_MAX 37

/* Defaults of HostConfig, each chosen as the comment says. */
/* Keepalive: virt-who's 5 s × 3, so a hung libvirtd is noticed after 15-20 s
 * (libvirt closes after about interval × count to interval × (count + 1)). */
#define HOST_KEEPALIVE_INTERVAL_SEC_DEFAULT 5
#define HOST_KEEPALIVE_COUNT_DEFAULT 3U
/* A full listing every 15 min heals any missed event; it costs ~50 ms of
 * libvirtd time per 10 000 domains (measured through libvirtd). */
#define HOST_RESYNC_INTERVAL_USEC_DEFAULT (UINT64_C(15) * 60 * 1000000)
/* Far above any real host (libvirtd itself lists at most 16 384 per call). */
#define HOST_GUEST_CAP_DEFAULT ((size_t) 100000)
#define HOST_MACHINE_ID_PATH_DEFAULT "/etc/machine-id"

typedef enum HostIdMode {
        HOST_ID_MODE_UUID, /* capabilities host uuid → sysinfo system uuid → /etc/machine-id */
        HOST_ID_MODE_HOSTNAME, /* virConnectGetHostname() */
        HOST_ID_MODE_HWUUID, /* SMBIOS system uuid (sysinfo) only */
} HostIdMode;

typedef enum HostFlavour {
        HOST_FLAVOUR_AUTO, /* from virConnectGetType(): "Xen" → xen, anything else → kvm */
        HOST_FLAVOUR_KVM,
        HOST_FLAVOUR_XEN, /* Domain-0 (id 0 or named Domain-0) is not a guest */
} HostFlavour;

typedef enum HostConnState {
        HOST_CONN_CONNECTING, /* not connected yet, or lost and retrying (see last_error) */
        HOST_CONN_CONNECTED, /* connected and listed; events flowing */
        HOST_CONN_NOT_RESPONDING, /* libvirtd stopped answering (keepalive timeout); retrying */
} HostConnState;

typedef struct HostConfig {
        const char *uri; /* NULL: libvirt's default (qemu:///system on KVM, xen:///system on Xen) */
        bool read_only; /* virConnectOpenReadOnly(); enough for everything host/ does */
        int keepalive_interval_sec; /* ≤ 0 disables keepalive (a hung libvirtd then goes unnoticed) */
        unsigned keepalive_count;
        uint64_t resync_interval_usec; /* 0: only on (re)connect */
        HostIdMode id_mode;
        const char *id_override; /* used as hypervisor id as it is, whatever the mode */
        HostFlavour flavour;
        const char *const *include; /* NULL-terminated globs on UUID or name; NULL/empty: all */
        const char *const *exclude; /* NULL-terminated globs on UUID or name */
        bool report_inactive; /* also report defined-but-inactive guests, with active=0 */
        bool list_per_state; /* always list by state (automatic above libvirtd's 16 384) */
        size_t guest_cap;
        const char *machine_id_path;
} HostConfig;

/* Fills cfg with the defaults above (read-only, libvirt's default URI). */
void host_config_init(HostConfig *cfg);
/* true when a and b ask host/ for the same thing (strings and glob lists
 * compared by value): a reload need not reconnect. Pure. */
bool host_config_equal(const HostConfig *a, const HostConfig *b);

typedef struct HostGuest {
        char uuid[HOST_UUID_STRING_MAX]; /* lower case, as libvirt gives it */
        int state; /* virDomainState: 1 running, 3 paused, 5 shut off, ... */
        bool active; /* has a running instance (virDomainIsActive) */
        const char *name; /* for logs; may be "" */
} HostGuest;

typedef struct HostFact {
        const char *key;
        const char *value;
} HostFact;

/* An immutable picture of the host. Every pointer in it lives as long as the
 * snapshot; share it with host_snapshot_ref(), drop it with
 * host_snapshot_unref(); both are thread-safe. */
typedef struct HostSnapshot {
        uint64_t seq; /* +1 on every publication */
        uint64_t mapping_seq; /* +1 whenever the reported mapping (guests, id, name, facts) changes */
        uint64_t table_changes; /* the guest table's change counter */

        const HostGuest *guests; /* the reported guests, filters applied, sorted by uuid */
        size_t n_guests;
        size_t n_domains; /* every domain in the table (before filters, without Domain-0) */
        bool synced; /* the table comes from a full listing (false before the first one) */

        const char *hypervisor_id; /* NULL when there is none: identity_error says why */
        const char *identity_error; /* NULL, or an operator-facing message */
        const char *hostname; /* virConnectGetHostname(), NULL before the first connection */
        const HostFact *facts; /* sorted by key */
        size_t n_facts;

        HostConnState conn_state;
        uint64_t conn_since_usec; /* CLOCK_REALTIME of the last conn_state change */
        const char *uri; /* the URI actually opened (libvirt's answer), else the configured one */
        const char *last_error; /* last libvirt or table error, NULL when none since connecting */
        unsigned connect_failures; /* failed attempts since the last successful connect */
} HostSnapshot;

typedef struct Host Host;

/* Starts the host thread, which connects (retrying with backoff) and keeps
 * publishing snapshots. cfg is copied. Returns 0 and *ret, or a negative
 * errno: -EINVAL for a bad config, -EBUSY when another Host is running in
 * this process (libvirt's event loop is per process), -ENOMEM, or what
 * pthread_create/eventfd gave. Logs nothing itself; the thread logs. */
int host_start(const HostConfig *cfg, Host **ret);

/* An eventfd that becomes readable when a new snapshot is published; reading
 * it (8 bytes) clears it. Owned by the Host: do not close it. */
int host_fd(Host *h);

/* Reads and discards the pending notification of host_fd(). */
void host_fd_clear(Host *h);

/* The latest snapshot, with a reference the caller must drop; never NULL
 * while the Host exists (before the first connection it says CONNECTING). */
HostSnapshot *host_snapshot(Host *h);
HostSnapshot *host_snapshot_ref(HostSnapshot *s);
/* Drops a reference; returns NULL. NULL is fine. */
HostSnapshot *host_snapshot_unref(HostSnapshot *s);
/* For _cleanup_(host_snapshot_unrefp). */
static inline void host_snapshot_unrefp(HostSnapshot **s) {
        (void) host_snapshot_unref(*s);
}

/* CLOCK_MONOTONIC time (µs) when the host thread last completed a loop turn.
 * The thread turns at least every 5 s while it is not blocked inside a
 * libvirt call, so a value over 10 s old means libvirtd hangs. */
uint64_t host_heartbeat_usec(Host *h);

/* Stops the thread and frees the Host. Waits at most about 1.5 s: a thread
 * stuck inside libvirt (hung libvirtd) is detached instead and cleans up by
 * itself if it ever returns. NULL is fine. Logs a warning when it detaches. */
void host_stop(Host *h);

/* Names for logs and JSON: "connected", "connecting", "not-responding". */
const char *host_conn_state_to_string(HostConnState s);
/* "uuid", "hostname", "hwuuid" ↔ HostIdMode; -EINVAL for anything else. */
const char *host_id_mode_to_string(HostIdMode m);
int host_id_mode_from_string(const char *s);
/* "auto", "kvm", "xen" ↔ HostFlavour; -EINVAL for anything else. */
const char *host_flavour_to_string(HostFlavour f);
int host_flavour_from_string(const char *s);

/* true when id is a UUID (any case) that is no machine's own: all one byte
 * repeated (zeros, F), or a placeholder that firmware ships on many
 * machines (the deny-list hvmap skips when it picks the hypervisor id).
 * Pure. */
bool host_id_is_bogus(const char *id);

/* Describes where a libvirt URI connects, for error messages: the socket of
 * "?socket=" when given, else a hint about the default socket. Writes into
 * buf and returns it. Pure. */
const char *host_uri_describe_socket(const char *uri, bool read_only, char *buf, size_t bufsz);
