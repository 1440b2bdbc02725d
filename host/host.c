/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The host thread: libvirt's default event loop, the connection (keepalive,
 * close callback, reconnect with backoff), lifecycle events into the guest
 * table, full resyncs, host identity and facts, and the snapshots it
 * publishes. Every libvirt call of hvmap happens in this thread. */
#define HVMAP_HOST_INTERNAL
#include "host/host-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "util/cleanup-libs.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/message-ids.h"
#include "util/parse.h"

/* The loop turns at least this often; it is the heartbeat's resolution.
 * Every turn costs a wakeup on an idle host: 5 s keeps the idle cost near
 * keepalive's own, and a stall is still seen within 3 turns. */
#define HOST_TICK_MSEC 5000
/* While events keep coming, publications are spaced so that building
 * snapshots takes at most a tenth of the thread's time: the gap is ten
 * times the last build (~10 us for 500 guests, ~1 ms for 10 000), capped
 * here. A burst (a host booting its guests) then costs one snapshot per gap
 * instead of one per event, and a lone event is published at once. */
#define HOST_PUBLISH_GAP_FACTOR 10
#define HOST_PUBLISH_GAP_MAX_USEC (UINT64_C(100) * 1000)
/* host_stop() waits this long for the thread (a clean stop takes a few ms
 * through libvirtd: one close RPC). hvmap(8) promises a stop within a second
 * while libvirtd does not answer; the state is saved after this wait. */
#define HOST_STOP_WAIT_USEC (UINT64_C(700) * 1000)
/* libvirtd refuses to list or give stats for more domains in one call
 * ("Too many domains", REMOTE_DOMAIN_LIST_MAX); measured at 20 000. */
#define LIBVIRTD_LIST_MAX 16384
/* A failed resync on a live connection is retried after this long. */
#define HOST_RESYNC_RETRY_USEC (UINT64_C(60) * 1000000)
/* /etc/machine-id is 33 bytes; anything much larger is not one. */
#define MACHINE_ID_FILE_MAX 4096

typedef struct Host {
        atomic_uint n_ref;
        HostConfig cfg; /* points into the copies below */
        char *uri, *id_override, *machine_id_path;
        char **include, **exclude;
        SnapshotSlot slot;
        int wake_fd;
        atomic_bool stop;
        _Atomic uint64_t heartbeat_usec;
        pthread_t thread;
} Host;

/* Thread-owned state: only the host thread touches it. */
typedef struct Worker {
        Host *host;
        char socket_desc[512];

        virConnectPtr conn;
        int lifecycle_id;
        bool close_registered;
        int close_reason; /* -1 while the connection is open */
        bool use_per_state; /* this connection cannot list in one call */
        char list_error[512]; /* why the last listing call failed */
        int wake_watch, timer;

        GuestTable *table;
        GuestFilter filter;
        HostFlavour flavour;

        char *hypervisor_id, *identity_error, *hostname, *uri_actual;
        char *fact_values[5];
        HostFact facts[5];
        size_t n_facts;

        HostConnState state;
        uint64_t since_usec;
        char *last_error;
        unsigned failures;
        bool synced, ever_connected;
        uint64_t lost_at_usec;
        uint64_t next_connect_usec, next_resync_usec;

        bool dirty;
        uint64_t last_publish_usec, publish_gap_usec;
        HostSnapshot *last;
        uint64_t seq, mapping_seq;
        uint32_t rng;
        bool cap_logged;
} Worker;

static pthread_once_t libvirt_once = PTHREAD_ONCE_INIT;
static int libvirt_init_result;
/* libvirt's default event loop is one per process: so is a running Host. */
static atomic_bool host_running;

static uint64_t now_usec(clockid_t clock) {
        struct timespec ts;

        (void) clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static uint32_t rng_next(Worker *w) {
        /* xorshift32: jitter only, no secrecy needed. */
        w->rng ^= w->rng << 13;
        w->rng ^= w->rng >> 17;
        w->rng ^= w->rng << 5;
        return w->rng;
}

/* libvirt would print every error to stderr; we log the ones that matter,
 * once, where we decide what to do about them. */
static void quiet_error(void *opaque, virErrorPtr err) {
}

static void libvirt_init(void) {
        virSetErrorFunc(NULL, quiet_error);
        libvirt_init_result = virEventRegisterDefaultImpl() < 0 ? -EIO : 0;
}

static const char *lv_error(void) {
        const char *m = virGetLastErrorMessage();

        return m && *m ? m : "unknown libvirt error";
}

static const char *uri_name(const Worker *w) {
        return w->host->cfg.uri ? w->host->cfg.uri : "(libvirt's default URI)";
}

static void set_str(char **p, const char *v) {
        if (streq_ptr(*p, v))
                return;
        free(*p);
        *p = v ? strdup(v) : NULL;
}

static void set_state(Worker *w, HostConnState s) {
        if (w->state == s)
                return;
        w->state = s;
        w->since_usec = now_usec(CLOCK_REALTIME);
        w->dirty = true;
}

static void set_error(Worker *w, const char *msg) {
        if (streq_ptr(w->last_error, msg))
                return;
        set_str(&w->last_error, msg);
        w->dirty = true;
}

static void worker_publish(Worker *w) {
        SnapshotMeta m = {
                .hypervisor_id = w->hypervisor_id,
                .identity_error = w->identity_error,
                .hostname = w->hostname,
                .facts = w->facts,
                .n_facts = w->n_facts,
                .conn_state = w->state,
                .conn_since_usec = w->since_usec,
                .uri = w->uri_actual ? w->uri_actual : w->host->cfg.uri,
                .last_error = w->last_error,
                .connect_failures = w->failures,
                .synced = w->synced,
                .flavour = w->flavour,
        };
        uint64_t t0 = now_usec(CLOCK_MONOTONIC);
        HostSnapshot *s = snapshot_build(w->table, &w->filter, &m);

        w->last_publish_usec = now_usec(CLOCK_MONOTONIC);
        w->publish_gap_usec = (w->last_publish_usec - t0) * HOST_PUBLISH_GAP_FACTOR;
        if (w->publish_gap_usec > HOST_PUBLISH_GAP_MAX_USEC)
                w->publish_gap_usec = HOST_PUBLISH_GAP_MAX_USEC;
        if (!s) {
                log_error("cannot build a snapshot of %zu guests: out of memory; retrying",
                          guest_table_size(w->table));
                return;
        }
        if (!snapshot_mapping_equal(s, w->last))
                w->mapping_seq++;
        snapshot_set_seq(s, ++w->seq, w->mapping_seq);
        w->last = host_snapshot_unref(w->last);
        w->last = host_snapshot_ref(s);
        snapshot_slot_publish(&w->host->slot, s);
        w->dirty = false;
}

/* Notes the result of a table update: a change to publish, or the cap. */
static void table_result(Worker *w, int r, const char *uuid) {
        if (r > 0) {
                w->dirty = true;
                return;
        }
        if (r == -E2BIG) {
                char msg[256];

                (void) snprintf(msg, sizeof msg,
                                "more than %zu guests on this host: not tracking %s and any further ones; "
                                "raise max_guests",
                                guest_table_cap(w->table), uuid);
                if (!w->cap_logged)
                        log_error("%s", msg);
                w->cap_logged = true;
                set_error(w, msg);
        } else if (r < 0) {
                log_error_errno(r, "cannot update the guest table for %s: %m; the next resync retries",
                                uuid);
                w->next_resync_usec = 0;
        }
}

/* ---- listing ---------------------------------------------------------- */

typedef struct EntryVec {
        GuestEntry *v;
        size_t n, alloc;
} EntryVec;

static void entry_vec_free(EntryVec *ev) {
        for (size_t i = 0; i < ev->n; i++)
                free(ev->v[i].name);
        free(ev->v);
        *ev = (EntryVec){};
}

static int entry_vec_add(Worker *w, EntryVec *ev, virDomainPtr dom, int state, GuestPersist persist) {
        unsigned int id = virDomainGetID(dom); /* cached in the handle: no RPC */
        const char *name = virDomainGetName(dom);
        GuestEntry *e;
        uint8_t uuid[VIR_UUID_BUFLEN];

        if (virDomainGetUUID(dom, uuid) < 0)
                return 0;
        if (host_is_control_domain(w->flavour, id == (unsigned int) -1 ? -1 : (int) id, name, uuid))
                return 0;
        if (ev->n == ev->alloc) {
                size_t na = ev->alloc ? ev->alloc * 2 : 256;
                GuestEntry *nv = reallocarray(ev->v, na, sizeof *nv);

                if (!nv)
                        return -ENOMEM;
                ev->v = nv;
                ev->alloc = na;
        }
        e = &ev->v[ev->n];
        *e = (GuestEntry){ .state = state, .active = id != (unsigned int) -1, .persistent = persist };
        memcpy(e->uuid, uuid, HOST_UUID_BYTES);
        if (name) {
                e->name = strdup(name);
                if (!e->name)
                        return -ENOMEM;
        }
        ev->n++;
        return 0;
}

/* Keeps the message of a failed listing call: every later libvirt call
 * (virDomainFree too) resets libvirt's last error. */
static void list_error_note(Worker *w) {
        (void) snprintf(w->list_error, sizeof w->list_error, "%s", lv_error());
}

/* One call per persistence: virConnectGetAllDomainStats(STATE) gives the
 * handles (uuid, name, id) and the state of every domain at once. */
static int list_by_stats(Worker *w, EntryVec *ev) {
        static const struct {
                unsigned flag;
                GuestPersist persist;
        } kinds[] = {
                { VIR_CONNECT_GET_ALL_DOMAINS_STATS_PERSISTENT, GUEST_PERSIST_YES },
                { VIR_CONNECT_GET_ALL_DOMAINS_STATS_TRANSIENT, GUEST_PERSIST_NO },
        };

        for (size_t k = 0; k < ELEMENTSOF(kinds); k++) {
                virDomainStatsRecordPtr *recs = NULL;
                int n = virConnectGetAllDomainStats(w->conn, VIR_DOMAIN_STATS_STATE, &recs, kinds[k].flag);
                int r = 0;

                if (n < 0)
                        return list_error_note(w), -EIO;
                for (int i = 0; i < n && r >= 0; i++) {
                        int state = VIR_DOMAIN_NOSTATE;

                        for (int p = 0; p < recs[i]->nparams; p++)
                                if (strcmp(recs[i]->params[p].field, "state.state") == 0 &&
                                    recs[i]->params[p].type == VIR_TYPED_PARAM_INT)
                                        state = recs[i]->params[p].value.i;
                        r = entry_vec_add(w, ev, recs[i]->dom, state, kinds[k].persist);
                }
                virDomainStatsRecordListFree(recs);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Eight smaller calls, each under libvirtd's 16 384 per call: by state
 * (running, paused, shut off, and the rest, whose state is asked per
 * domain) and by persistence. */
static int list_per_state(Worker *w, EntryVec *ev) {
        static const struct {
                unsigned flag;
                int state; /* -1: ask */
        } states[] = {
                { VIR_CONNECT_LIST_DOMAINS_RUNNING, VIR_DOMAIN_RUNNING },
                { VIR_CONNECT_LIST_DOMAINS_PAUSED, VIR_DOMAIN_PAUSED },
                { VIR_CONNECT_LIST_DOMAINS_SHUTOFF, VIR_DOMAIN_SHUTOFF },
                { VIR_CONNECT_LIST_DOMAINS_OTHER, -1 },
        };
        static const struct {
                unsigned flag;
                GuestPersist persist;
        } kinds[] = {
                { VIR_CONNECT_LIST_DOMAINS_PERSISTENT, GUEST_PERSIST_YES },
                { VIR_CONNECT_LIST_DOMAINS_TRANSIENT, GUEST_PERSIST_NO },
        };

        for (size_t k = 0; k < ELEMENTSOF(kinds); k++)
                for (size_t s = 0; s < ELEMENTSOF(states); s++) {
                        virDomainPtr *doms = NULL;
                        int n = virConnectListAllDomains(w->conn, &doms, states[s].flag | kinds[k].flag);
                        int r = 0;

                        if (n < 0)
                                return list_error_note(w), -EIO;
                        for (int i = 0; i < n; i++) {
                                int state = states[s].state, reason;

                                if (r >= 0 && state < 0 &&
                                    virDomainGetState(doms[i], &state, &reason, 0) < 0) {
                                        /* Gone since the listing: normal. */
                                        if (virGetLastErrorCode() != VIR_ERR_NO_DOMAIN) {
                                                r = -EIO;
                                                list_error_note(w);
                                        }
                                        state = -1;
                                }
                                if (r >= 0 && state >= 0)
                                        r = entry_vec_add(w, ev, doms[i], state, kinds[k].persist);
                                (void) virDomainFree(doms[i]); /* resets libvirt's last error */
                        }
                        free(doms);
                        if (r < 0)
                                return r;
                }
        return 0;
}

static bool conn_dead(Worker *w) {
        return !w->conn || w->close_reason >= 0 || virConnectIsAlive(w->conn) != 1;
}

/* Replaces the table by a full listing. periodic: a drift is a missed
 * event and worth a warning; after a (re)connect it is expected. */
static int worker_resync(Worker *w, bool periodic) {
        EntryVec ev = {};
        GuestTableDiff diff;
        uint64_t t0 = now_usec(CLOCK_MONOTONIC);
        int r = -EIO;

        if (!w->use_per_state && !w->host->cfg.list_per_state) {
                r = list_by_stats(w, &ev);
                if (r == -EIO && !conn_dead(w)) {
                        log_debug("listing all domains with their state in one call failed (%s); "
                                  "listing by state from now on",
                                  w->list_error);
                        w->use_per_state = true;
                }
        }
        if (w->use_per_state || w->host->cfg.list_per_state) {
                entry_vec_free(&ev);
                r = list_per_state(w, &ev);
        }
        if (r < 0) {
                char msg[600];

                if (r == -ENOMEM)
                        (void) snprintf(msg, sizeof msg, "cannot list the domains: out of memory");
                else
                        (void) snprintf(msg, sizeof msg, "cannot list the domains: %s", w->list_error);
                log_warning("%s; %s", msg, conn_dead(w) ? "reconnecting" : "retrying in 60 s");
                set_error(w, msg);
                entry_vec_free(&ev);
                w->next_resync_usec = now_usec(CLOCK_MONOTONIC) + HOST_RESYNC_RETRY_USEC;
                return r;
        }

        r = guest_table_replace(w->table, ev.v, ev.n, &diff);
        if (r < 0) {
                char msg[256];

                if (r == -E2BIG)
                        (void) snprintf(
                                msg, sizeof msg,
                                "this host has %zu domains, more than max_guests = %zu: the guest list is "
                                "not updated; raise max_guests",
                                ev.n, guest_table_cap(w->table));
                else
                        (void) snprintf(msg, sizeof msg, "cannot store %zu domains: out of memory", ev.n);
                log_error("%s", msg);
                set_error(w, msg);
                entry_vec_free(&ev);
                w->next_resync_usec = now_usec(CLOCK_MONOTONIC) + HOST_RESYNC_RETRY_USEC;
                return r;
        }
        entry_vec_free(&ev);

        if (diff.added + diff.removed + diff.changed > 0) {
                char uuid[HOST_UUID_STRING_MAX];

                w->dirty = true;
                if (periodic)
                        log_warning("resync corrected the guest table (events were missed): %zu added, %zu "
                                    "removed, %zu changed, e.g. %s",
                                    diff.added, diff.removed, diff.changed, uuid_format(diff.example, uuid));
                else if (w->synced)
                        log_info("resync after connecting: %zu added, %zu removed, %zu changed since the "
                                 "last "
                                 "listing",
                                 diff.added, diff.removed, diff.changed);
        }
        if (!w->synced)
                w->dirty = true;
        w->synced = true;
        log_debug("listed %zu domains in %" PRIu64 " ms%s", guest_table_size(w->table),
                  (now_usec(CLOCK_MONOTONIC) - t0) / 1000, w->use_per_state ? " (by state)" : "");
        w->next_resync_usec = w->host->cfg.resync_interval_usec > 0
                                      ? now_usec(CLOCK_MONOTONIC) + w->host->cfg.resync_interval_usec
                                      : UINT64_MAX;
        return 0;
}

/* ---- identity and facts ----------------------------------------------- */

/* Adds a fact when the value is known; a fact that cannot be copied is
 * left out (it is for the server's display only). */
static void worker_add_fact(Worker *w, const char *key, const char *value) {
        if (!value || !*value || w->n_facts >= ELEMENTSOF(w->facts))
                return;
        w->fact_values[w->n_facts] = strdup(value);
        if (!w->fact_values[w->n_facts])
                return;
        w->facts[w->n_facts] = (HostFact){ key, w->fact_values[w->n_facts] };
        w->n_facts++;
}

static void worker_read_identity(Worker *w) {
        Host *h = w->host;
        _cleanup_free_ char *caps = NULL, *caps_uuid = NULL, *sysinfo = NULL, *sys_uuid = NULL;
        _cleanup_free_ char *hostname = NULL, *machine_id = NULL, *uri = NULL;
        const char *type;
        unsigned long version = 0;
        virNodeInfo ni;
        HostIdInputs in;
        HostIdResult res;
        char buf[1024], sockets[32] = "", ver[64];
        uint8_t u[HOST_UUID_BYTES];
        const char *dmi = NULL;
        int r;

        caps = virConnectGetCapabilities(w->conn);
        if (!caps)
                log_debug("cannot read the capabilities: %s", lv_error());
        (void) caps_host_uuid(caps, &caps_uuid);
        sysinfo = virConnectGetSysinfo(w->conn, 0);
        if (!sysinfo)
                log_debug("no SMBIOS information from libvirt: %s", lv_error());
        (void) sysinfo_system_uuid(sysinfo, &sys_uuid);
        hostname = virConnectGetHostname(w->conn);
        if (!hostname)
                log_debug("cannot read the host name: %s", lv_error());
        type = virConnectGetType(w->conn);
        if (virConnectGetVersion(w->conn, &version) < 0)
                log_debug("cannot read the hypervisor version: %s", lv_error());
        if (virNodeGetInfo(w->conn, &ni) < 0)
                log_debug("cannot read the node information: %s", lv_error());
        else
                (void) snprintf(sockets, sizeof sockets, "%u", ni.sockets * (ni.nodes ? ni.nodes : 1));
        uri = virConnectGetURI(w->conn);
        set_str(&w->uri_actual, uri);
        r = read_file_capped(h->cfg.machine_id_path, MACHINE_ID_FILE_MAX, &machine_id, NULL);
        if (r < 0)
                log_debug_errno(r, "cannot read %s: %m", h->cfg.machine_id_path);

        w->flavour = h->cfg.flavour != HOST_FLAVOUR_AUTO ? h->cfg.flavour : host_flavour_from_type(type);

        in = (HostIdInputs){ caps_uuid, sys_uuid, machine_id, hostname };
        r = host_id_choose(h->cfg.id_mode, h->cfg.id_override, &in, &res);
        if (r < 0) {
                if (r == -EINVAL)
                        (void) snprintf(
                                buf, sizeof buf,
                                "hypervisor_id_override \"%s\" is not usable: it must be 1-255 printable "
                                "characters without blanks",
                                h->cfg.id_override);
                else
                        host_id_explain_failure(h->cfg.id_mode, &res, buf, sizeof buf);
                if (!streq_ptr(w->identity_error, buf))
                        log_error("%s", buf);
                set_str(&w->identity_error, buf);
                set_str(&w->hypervisor_id, NULL);
        } else {
                if (!streq_ptr(w->hypervisor_id, res.id)) {
                        /* Each candidate passed over, then the one used. */
                        for (size_t i = 0; i + 1 < res.n_steps; i++) {
                                HostIdVerdict v = res.steps[i].verdict;

                                log_full(v == HOST_ID_BOGUS ? LOG_WARNING : LOG_INFO,
                                         "hypervisor id: %s %s, skipped%s",
                                         host_id_source_to_string(res.steps[i].source),
                                         host_id_verdict_to_string(v),
                                         v == HOST_ID_BOGUS
                                                 ? " (set hypervisor_id = hostname if no other source "
                                                   "works)"
                                                 : "");
                        }
                        log_info("hypervisor id is %s (from the %s)", res.id,
                                 host_id_source_to_string(res.source));
                }
                set_str(&w->hypervisor_id, res.id);
                set_str(&w->identity_error, NULL);
        }
        set_str(&w->hostname, hostname);

        /* dmi.system.uuid: the machine's SMBIOS UUID, else libvirt's host
         * UUID (the same on real hardware); omitted when neither is sane. */
        if (sys_uuid && uuid_parse(sys_uuid, u) >= 0 && !uuid_is_bogus(u))
                dmi = uuid_format(u, buf);
        else if (caps_uuid && uuid_parse(caps_uuid, u) >= 0 && !uuid_is_bogus(u))
                dmi = uuid_format(u, buf);

        for (size_t i = 0; i < w->n_facts; i++) {
                free(w->fact_values[i]);
                w->fact_values[i] = NULL;
        }
        w->n_facts = 0;
        worker_add_fact(w, "hypervisor.type", type);
        /* libvirt's raw number (7002000), as virt-who sends it: a host
         * reported by both must not flip the fact. */
        if (version)
                (void) snprintf(ver, sizeof ver, "%lu", version);
        worker_add_fact(w, "hypervisor.version", version ? ver : NULL);
        worker_add_fact(w, "cpu.cpu_socket(s)", sockets);
        worker_add_fact(w, "dmi.system.uuid", dmi);
        worker_add_fact(w, "virt.is_guest", "false");
        w->dirty = true;
}

/* ---- events ----------------------------------------------------------- */

/* The event alone does not tell: ask libvirt (three cheap RPCs; only for
 * domains we did not know, or whose persistence we did not know). */
static int worker_refresh(Worker *w, virDomainPtr dom, const uint8_t uuid[HOST_UUID_BYTES],
                          const char *name) {
        int state, reason, active, persistent;

        if (virDomainGetState(dom, &state, &reason, 0) < 0 || (active = virDomainIsActive(dom)) < 0 ||
            (persistent = virDomainIsPersistent(dom)) < 0) {
                if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN)
                        return guest_table_remove(w->table, uuid);
                log_debug("cannot read the state of domain %s: %s; resyncing", strna(name), lv_error());
                w->next_resync_usec = 0;
                return 0;
        }
        return guest_table_set(w->table, uuid, state, active == 1,
                               persistent == 1 ? GUEST_PERSIST_YES : GUEST_PERSIST_NO, name);
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque) {
        Worker *w = opaque;
        uint8_t uuid[VIR_UUID_BUFLEN];
        char uuid_s[HOST_UUID_STRING_MAX];
        const char *name = virDomainGetName(dom);
        unsigned int id = virDomainGetID(dom);
        const GuestEntry *cur;
        GuestEventAction action;
        GuestPersist persist = GUEST_PERSIST_UNKNOWN;
        int state = VIR_DOMAIN_NOSTATE, r = 0;

        if (virDomainGetUUID(dom, uuid) < 0)
                return 0;
        if (host_is_control_domain(w->flavour, id == (unsigned int) -1 ? -1 : (int) id, name, uuid))
                return 0;
        (void) uuid_format(uuid, uuid_s);
        cur = guest_table_get(w->table, uuid);
        action = guest_event_map(event, detail, cur, &state, &persist);
        log_debug("event %s/%s on %s (%s)", guest_event_to_string(event),
                  guest_event_detail_to_string(event, detail), uuid_s, strna(name));
        switch (action) {
        case GUEST_EVENT_NONE:
                if (cur && name) /* keeps the name current after a rename */
                        r = guest_table_set(w->table, uuid, cur->state, cur->active, cur->persistent, name);
                break;
        case GUEST_EVENT_SET:
                r = guest_table_set(w->table, uuid, state, guest_state_is_active(state), persist, name);
                break;
        case GUEST_EVENT_REMOVE:
                r = guest_table_remove(w->table, uuid);
                break;
        case GUEST_EVENT_REFRESH:
                r = worker_refresh(w, dom, uuid, name);
                break;
        }
        table_result(w, r, uuid_s);
        return 0;
}

static void on_close(virConnectPtr conn, int reason, void *opaque) {
        Worker *w = opaque;

        /* Only note it: the teardown happens on the next loop turn. */
        w->close_reason = reason;
}

static void on_wake(int watch, int fd, int events, void *opaque) {
        uint64_t v;

        (void) !read(fd, &v, sizeof v);
}

static void on_tick(int timer, void *opaque) {
        /* Nothing: it only makes the loop turn. */
}

/* ---- the connection --------------------------------------------------- */

static void worker_disconnect(Worker *w) {
        if (!w->conn)
                return;
        if (w->lifecycle_id >= 0)
                (void) virConnectDomainEventDeregisterAny(w->conn, w->lifecycle_id);
        if (w->close_registered)
                (void) virConnectUnregisterCloseCallback(w->conn, on_close);
        (void) virConnectClose(w->conn);
        w->conn = NULL;
        w->lifecycle_id = -1;
        w->close_registered = false;
        w->close_reason = -1;
        w->use_per_state = false;
}

static void worker_connect_failed(Worker *w, const char *msg) {
        uint64_t delay;

        w->failures++;
        delay = host_backoff_usec(w->failures, rng_next(w));
        w->next_connect_usec = now_usec(CLOCK_MONOTONIC) + delay;
        if (!streq_ptr(w->last_error, msg))
                log_warning("cannot connect to libvirt at %s (%s): %s; retrying with backoff", uri_name(w),
                            w->socket_desc, msg);
        else
                log_debug("connecting to %s failed again (%u attempts): %s; next try in %" PRIu64 " ms",
                          uri_name(w), w->failures, msg, delay / 1000);
        set_error(w, msg);
        set_state(w, HOST_CONN_CONNECTING);
        w->dirty = true; /* failures count is in the snapshot */
}

static void worker_connect(Worker *w) {
        Host *h = w->host;
        virConnectPtr conn;
        int r;

        conn = h->cfg.read_only ? virConnectOpenReadOnly(h->cfg.uri) : virConnectOpen(h->cfg.uri);
        if (!conn) {
                char msg[1024];

                (void) snprintf(msg, sizeof msg, "%s", lv_error());
                worker_connect_failed(w, msg);
                return;
        }
        w->conn = conn;
        w->close_reason = -1;

        if (h->cfg.keepalive_interval_sec > 0) {
                r = virConnectSetKeepAlive(conn, h->cfg.keepalive_interval_sec, h->cfg.keepalive_count);
                if (r < 0 && virGetLastErrorCode() == VIR_ERR_NO_SUPPORT)
                        log_debug("keepalive is not supported by this (in-process) driver, ignoring");
                else if (r < 0)
                        log_warning(
                                "cannot enable keepalive: %s; a hung libvirtd will not be noticed, ignoring",
                                lv_error());
                else if (r == 1)
                        log_warning(
                                "libvirtd does not support keepalive; a hung libvirtd will not be noticed");
        }
        if (virConnectRegisterCloseCallback(conn, on_close, w, NULL) < 0)
                log_warning("cannot register a close callback: %s; a lost connection is noticed at the next "
                            "call only, ignoring",
                            lv_error());
        else
                w->close_registered = true;
        /* Events first, then the listing: nothing falls in between, and
         * events queued during the listing are applied after it. */
        w->lifecycle_id = virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                           VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), w, NULL);
        if (w->lifecycle_id < 0) {
                char msg[1024];

                (void) snprintf(msg, sizeof msg, "cannot subscribe to domain lifecycle events: %s",
                                lv_error());
                worker_disconnect(w);
                worker_connect_failed(w, msg);
                return;
        }

        worker_read_identity(w);
        r = worker_resync(w, false);
        if (r < 0 && conn_dead(w)) {
                char msg[1024];

                (void) snprintf(msg, sizeof msg, "%s", w->last_error ? w->last_error : "connection lost");
                worker_disconnect(w);
                worker_connect_failed(w, msg);
                return;
        }

        if (w->lost_at_usec > 0)
                log_notice("reconnected to libvirt at %s after %" PRIu64 " ms; %zu domains", uri_name(w),
                           (now_usec(CLOCK_MONOTONIC) - w->lost_at_usec) / 1000, guest_table_size(w->table));
        else if (w->failures > 0)
                log_notice("connected to libvirt at %s after %u failed attempts; %zu domains", uri_name(w),
                           w->failures, guest_table_size(w->table));
        else
                log_info("connected to libvirt at %s (%s %s); %zu domains", strna(w->uri_actual),
                         strna(virConnectGetType(conn)), w->n_facts > 1 ? w->facts[1].value : "",
                         guest_table_size(w->table));
        w->lost_at_usec = 0;
        w->failures = 0;
        w->ever_connected = true;
        if (r >= 0)
                set_error(w, NULL);
        set_state(w, HOST_CONN_CONNECTED);
        w->dirty = true;
}

static void worker_lost(Worker *w) {
        static const char *const reasons[] = {
                [VIR_CONNECT_CLOSE_REASON_ERROR] = "connection error",
                [VIR_CONNECT_CLOSE_REASON_EOF] = "libvirtd closed the connection (stopped or restarted?)",
                [VIR_CONNECT_CLOSE_REASON_KEEPALIVE] = "libvirtd stopped answering keepalive probes",
                [VIR_CONNECT_CLOSE_REASON_CLIENT] = "closed by the client",
        };
        int reason = w->close_reason;
        const char *why = reason >= 0 && (size_t) reason < ELEMENTSOF(reasons) && reasons[reason]
                                  ? reasons[reason]
                                  : "connection closed";

        char urifield[512];

        (void) snprintf(urifield, sizeof urifield, "HVMAP_LIBVIRT_URI=%s", uri_name(w));
        log_full_errno_fields(
                LOG_WARNING, 0,
                ((const char *[]){ HVMAP_MESSAGE_LIBVIRT_LOST, "HVMAP_EVENT=libvirt-lost", urifield, NULL }),
                "lost the connection to libvirt at %s: %s; reconnecting", uri_name(w), why);
        worker_disconnect(w);
        set_error(w, why);
        set_state(w, reason == VIR_CONNECT_CLOSE_REASON_KEEPALIVE ? HOST_CONN_NOT_RESPONDING
                                                                  : HOST_CONN_CONNECTING);
        w->lost_at_usec = now_usec(CLOCK_MONOTONIC);
        w->failures = 0;
        w->next_connect_usec = w->lost_at_usec + host_backoff_usec(1, rng_next(w));
}

static void worker_loop(Worker *w) {
        Host *h = w->host;

        while (!atomic_load(&h->stop)) {
                uint64_t now = now_usec(CLOCK_MONOTONIC), next;

                atomic_store(&h->heartbeat_usec, now);

                if (w->conn && w->close_reason < 0 && w->lifecycle_id >= 0 &&
                    virConnectIsAlive(w->conn) == 0)
                        w->close_reason = VIR_CONNECT_CLOSE_REASON_ERROR;
                if (w->conn && w->close_reason >= 0)
                        worker_lost(w);
                if (!w->conn && now >= w->next_connect_usec) {
                        /* Say where we stand before a call that may block. */
                        if (w->dirty)
                                worker_publish(w);
                        worker_connect(w);
                        continue;
                }
                if (w->conn && now >= w->next_resync_usec && worker_resync(w, true) < 0 && conn_dead(w))
                        continue;
                if (w->dirty && now >= w->last_publish_usec + w->publish_gap_usec)
                        worker_publish(w);

                next = now + HOST_TICK_MSEC * USEC_PER_MSEC;
                if (!w->conn && w->next_connect_usec < next)
                        next = w->next_connect_usec;
                if (w->conn && w->next_resync_usec < next)
                        next = w->next_resync_usec;
                if (w->dirty && w->last_publish_usec + w->publish_gap_usec < next)
                        next = w->last_publish_usec + w->publish_gap_usec;
                virEventUpdateTimeout(w->timer, next > now ? (int) ((next - now + 999) / 1000) : 1);

                if (virEventRunDefaultImpl() < 0) {
                        log_error("libvirt's event loop failed: %s; the guest list is no longer followed",
                                  lv_error());
                        set_error(w, "libvirt's event loop failed");
                        set_state(w, HOST_CONN_CONNECTING);
                        worker_publish(w);
                        break;
                }
        }
}

static void host_free(Host *h) {
        snapshot_slot_done(&h->slot);
        h->wake_fd = safe_close(h->wake_fd);
        free(h->uri);
        free(h->id_override);
        free(h->machine_id_path);
        (void) strv_free(h->include);
        (void) strv_free(h->exclude);
        free(h);
}

static void host_unref_internal(Host *h) {
        if (atomic_fetch_sub(&h->n_ref, 1) == 1)
                host_free(h);
}

static void *host_thread(void *p) {
        Host *h = p;
        Worker w = {
                .host = h,
                .lifecycle_id = -1,
                .close_reason = -1,
                .wake_watch = -1,
                .timer = -1,
                .state = HOST_CONN_CONNECTING,
                .since_usec = now_usec(CLOCK_REALTIME),
                .filter = { (const char *const *) h->include, (const char *const *) h->exclude,
                            h->cfg.report_inactive },
                .flavour = h->cfg.flavour == HOST_FLAVOUR_XEN ? HOST_FLAVOUR_XEN : HOST_FLAVOUR_KVM,
        };
        sigset_t ss;

        /* Signals are the main thread's business. */
        (void) sigfillset(&ss);
        (void) sigdelset(&ss, SIGSEGV);
        (void) sigdelset(&ss, SIGBUS);
        (void) sigdelset(&ss, SIGFPE);
        (void) sigdelset(&ss, SIGILL);
        (void) sigdelset(&ss, SIGABRT);
        (void) pthread_sigmask(SIG_BLOCK, &ss, NULL);

        if (getrandom(&w.rng, sizeof w.rng, GRND_NONBLOCK) != sizeof w.rng || w.rng == 0)
                w.rng = (uint32_t) now_usec(CLOCK_MONOTONIC) | 1;
        (void) host_uri_describe_socket(h->cfg.uri, h->cfg.read_only, w.socket_desc, sizeof w.socket_desc);

        w.table = guest_table_new(h->cfg.guest_cap);
        (void) pthread_once(&libvirt_once, libvirt_init);
        if (!w.table || libvirt_init_result < 0) {
                log_error("cannot start following libvirt: %s",
                          !w.table ? "out of memory" : "libvirt's event loop cannot be registered");
                set_error(&w, "cannot start the libvirt event loop");
                worker_publish(&w);
                goto out;
        }
        w.wake_watch = virEventAddHandle(h->wake_fd, VIR_EVENT_HANDLE_READABLE, on_wake, &w, NULL);
        w.timer = virEventAddTimeout(HOST_TICK_MSEC, on_tick, &w, NULL);
        if (w.wake_watch < 0 || w.timer < 0) {
                log_error("cannot add watches to libvirt's event loop: %s", lv_error());
                set_error(&w, "cannot start the libvirt event loop");
                worker_publish(&w);
                goto out;
        }

        worker_loop(&w);

        worker_disconnect(&w);
        /* libvirt frees a closed connection's watches from the loop: give it
         * a few immediate turns. */
        virEventUpdateTimeout(w.timer, 0);
        for (int i = 0; i < 4; i++)
                (void) virEventRunDefaultImpl();
out:
        if (w.timer >= 0)
                (void) virEventRemoveTimeout(w.timer);
        if (w.wake_watch >= 0)
                (void) virEventRemoveHandle(w.wake_watch);
        w.table = guest_table_free(w.table);
        w.last = host_snapshot_unref(w.last);
        free(w.hypervisor_id);
        free(w.identity_error);
        free(w.hostname);
        free(w.uri_actual);
        free(w.last_error);
        for (size_t i = 0; i < ELEMENTSOF(w.fact_values); i++)
                free(w.fact_values[i]);
        atomic_store(&host_running, false);
        host_unref_internal(h);
        return NULL;
}

/* ---- the public side (called by the main thread) ---------------------- */

static int strv_copy(const char *const *l, char ***ret) {
        size_t n = 0;
        char **c;

        *ret = NULL;
        if (!l)
                return 0;
        while (l[n])
                n++;
        c = calloc(n + 1, sizeof *c);
        if (!c)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                c[i] = strdup(l[i]);
                if (!c[i]) {
                        (void) strv_free(c);
                        return -ENOMEM;
                }
        }
        *ret = c;
        return 0;
}

static int dup_opt(const char *s, char **ret) {
        *ret = NULL;
        if (!s)
                return 0;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

int host_start(const HostConfig *cfg, Host **ret) {
        SnapshotMeta m = { .conn_state = HOST_CONN_CONNECTING };
        bool expected = false;
        HostSnapshot *s;
        Host *h;
        int r;

        if (!cfg || !ret || cfg->guest_cap == 0 || !cfg->machine_id_path ||
            (cfg->keepalive_interval_sec > 0 && cfg->keepalive_count == 0))
                return -EINVAL;
        if (!atomic_compare_exchange_strong(&host_running, &expected, true))
                return -EBUSY;

        h = calloc(1, sizeof *h);
        if (!h) {
                atomic_store(&host_running, false);
                return -ENOMEM;
        }
        h->wake_fd = -1;
        h->slot.efd = -1;
        h->cfg = *cfg;
        if (dup_opt(cfg->uri, &h->uri) < 0 || dup_opt(cfg->id_override, &h->id_override) < 0 ||
            dup_opt(cfg->machine_id_path, &h->machine_id_path) < 0 ||
            strv_copy(cfg->include, &h->include) < 0 || strv_copy(cfg->exclude, &h->exclude) < 0) {
                r = -ENOMEM;
                goto fail;
        }
        h->cfg.uri = h->uri;
        h->cfg.id_override = h->id_override;
        h->cfg.machine_id_path = h->machine_id_path;
        h->cfg.include = (const char *const *) h->include;
        h->cfg.exclude = (const char *const *) h->exclude;

        r = snapshot_slot_init(&h->slot);
        if (r < 0)
                goto fail;
        h->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (h->wake_fd < 0) {
                r = -errno;
                goto fail;
        }
        /* A first snapshot, so host_snapshot() never returns NULL. */
        m.conn_since_usec = now_usec(CLOCK_REALTIME);
        m.uri = h->cfg.uri;
        s = snapshot_build(NULL, &(GuestFilter){}, &m);
        if (!s) {
                r = -ENOMEM;
                goto fail;
        }
        snapshot_slot_publish(&h->slot, s);
        atomic_store(&h->heartbeat_usec, now_usec(CLOCK_MONOTONIC));

        atomic_init(&h->n_ref, 2); /* the caller's and the thread's */
        r = -pthread_create(&h->thread, NULL, host_thread, h);
        if (r < 0)
                goto fail;
        *ret = h;
        return 0;

fail:
        host_free(h);
        atomic_store(&host_running, false);
        return r;
}

int host_fd(Host *h) {
        return h->slot.efd;
}

void host_fd_clear(Host *h) {
        uint64_t v;

        (void) !read(h->slot.efd, &v, sizeof v);
}

HostSnapshot *host_snapshot(Host *h) {
        return snapshot_slot_get(&h->slot);
}

uint64_t host_heartbeat_usec(Host *h) {
        return atomic_load(&h->heartbeat_usec);
}

void host_stop(Host *h) {
        uint64_t one = 1, deadline_usec;
        struct timespec deadline;

        if (!h)
                return;
        atomic_store(&h->stop, true);
        (void) !write(h->wake_fd, &one, sizeof one);

        deadline_usec = now_usec(CLOCK_REALTIME) + HOST_STOP_WAIT_USEC;
        deadline.tv_sec = (time_t) (deadline_usec / USEC_PER_SEC);
        deadline.tv_nsec = (long) (deadline_usec % USEC_PER_SEC) * 1000;
        if (pthread_timedjoin_np(h->thread, NULL, &deadline) != 0) {
                log_warning("the libvirt thread is blocked inside libvirt (libvirtd not responding); "
                            "leaving it behind");
                (void) pthread_detach(h->thread);
        }
        host_unref_internal(h);
}
