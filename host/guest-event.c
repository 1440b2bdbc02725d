/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Lifecycle event + detail → guest table action, and the names of states,
 * events and details for logs. Pure: every switch lists every value the
 * libvirt headers it is built on know, with no default, so -Wswitch-enum
 * flags a new one; values newer than the floor (libvirt 7.0) are guarded. */
#define HVMAP_HOST_INTERNAL
#include "host/host-internal.h"

#include <libvirt/libvirt.h>

#include "util/cleanup.h"

bool guest_state_is_active(int state) {
        switch ((virDomainState) state) {
        case VIR_DOMAIN_RUNNING:
        case VIR_DOMAIN_BLOCKED:
        case VIR_DOMAIN_PAUSED:
        case VIR_DOMAIN_SHUTDOWN:
        case VIR_DOMAIN_CRASHED:
        case VIR_DOMAIN_PMSUSPENDED:
                return true;
        case VIR_DOMAIN_NOSTATE:
        case VIR_DOMAIN_SHUTOFF:
                return false;
        }
        return false;
}

const char *guest_state_to_string(int state) {
        switch ((virDomainState) state) {
        case VIR_DOMAIN_NOSTATE:
                return "nostate";
        case VIR_DOMAIN_RUNNING:
                return "running";
        case VIR_DOMAIN_BLOCKED:
                return "blocked";
        case VIR_DOMAIN_PAUSED:
                return "paused";
        case VIR_DOMAIN_SHUTDOWN:
                return "shutdown";
        case VIR_DOMAIN_SHUTOFF:
                return "shutoff";
        case VIR_DOMAIN_CRASHED:
                return "crashed";
        case VIR_DOMAIN_PMSUSPENDED:
                return "pmsuspended";
        }
        return "unknown";
}

/* The new state for an event that puts a known domain into state, or a
 * refresh when the domain is not known: we cannot tell its persistence. */
static GuestEventAction to_state(const GuestEntry *cur, int state, int *ret_state,
                                 GuestPersist *ret_persist) {
        if (!cur)
                return GUEST_EVENT_REFRESH;
        *ret_state = state;
        *ret_persist = cur->persistent;
        return GUEST_EVENT_SET;
}

/* A stop: a persistent domain stays, shut off; a transient one vanishes;
 * when we do not know which (we never saw its start), ask libvirt. */
static GuestEventAction to_stopped(const GuestEntry *cur, int *ret_state, GuestPersist *ret_persist) {
        if (!cur)
                return GUEST_EVENT_REFRESH;
        switch (cur->persistent) {
        case GUEST_PERSIST_YES:
                *ret_state = VIR_DOMAIN_SHUTOFF;
                *ret_persist = GUEST_PERSIST_YES;
                return GUEST_EVENT_SET;
        case GUEST_PERSIST_NO:
                return GUEST_EVENT_REMOVE;
        case GUEST_PERSIST_UNKNOWN:
                return GUEST_EVENT_REFRESH;
        }
        return GUEST_EVENT_REFRESH;
}

GuestEventAction guest_event_map(int event, int detail, const GuestEntry *cur, int *ret_state,
                                 GuestPersist *ret_persist) {
        switch ((virDomainEventType) event) {
        case VIR_DOMAIN_EVENT_DEFINED:
                switch ((virDomainEventDefinedDetailType) detail) {
                case VIR_DOMAIN_EVENT_DEFINED_ADDED:
                case VIR_DOMAIN_EVENT_DEFINED_UPDATED:
                case VIR_DOMAIN_EVENT_DEFINED_RENAMED:
                case VIR_DOMAIN_EVENT_DEFINED_FROM_SNAPSHOT:
                        /* A new definition is shut off; a (re)definition of a
                         * known domain, running or not, makes it persistent. */
                        *ret_state = cur ? cur->state : VIR_DOMAIN_SHUTOFF;
                        *ret_persist = GUEST_PERSIST_YES;
                        return GUEST_EVENT_SET;
                }
                break;
        case VIR_DOMAIN_EVENT_UNDEFINED:
                switch ((virDomainEventUndefinedDetailType) detail) {
                case VIR_DOMAIN_EVENT_UNDEFINED_REMOVED:
                        if (!cur)
                                return GUEST_EVENT_NONE;
                        if (cur->active) {
                                /* Undefining a running domain leaves it
                                 * running as a transient one. */
                                *ret_state = cur->state;
                                *ret_persist = GUEST_PERSIST_NO;
                                return GUEST_EVENT_SET;
                        }
                        return GUEST_EVENT_REMOVE;
                case VIR_DOMAIN_EVENT_UNDEFINED_RENAMED:
                        /* The old name goes; DEFINED/RENAMED brings the new
                         * one on the same UUID. */
                        return GUEST_EVENT_NONE;
                }
                break;
        case VIR_DOMAIN_EVENT_STARTED:
                switch ((virDomainEventStartedDetailType) detail) {
                case VIR_DOMAIN_EVENT_STARTED_BOOTED:
                case VIR_DOMAIN_EVENT_STARTED_MIGRATED: /* an incoming migration appears */
                case VIR_DOMAIN_EVENT_STARTED_RESTORED:
                case VIR_DOMAIN_EVENT_STARTED_FROM_SNAPSHOT:
                case VIR_DOMAIN_EVENT_STARTED_WAKEUP:
                        return to_state(cur, VIR_DOMAIN_RUNNING, ret_state, ret_persist);
                }
                break;
        case VIR_DOMAIN_EVENT_SUSPENDED:
                switch ((virDomainEventSuspendedDetailType) detail) {
                case VIR_DOMAIN_EVENT_SUSPENDED_PAUSED:
                case VIR_DOMAIN_EVENT_SUSPENDED_MIGRATED:
                case VIR_DOMAIN_EVENT_SUSPENDED_IOERROR:
                case VIR_DOMAIN_EVENT_SUSPENDED_WATCHDOG:
                case VIR_DOMAIN_EVENT_SUSPENDED_RESTORED:
                case VIR_DOMAIN_EVENT_SUSPENDED_FROM_SNAPSHOT:
                case VIR_DOMAIN_EVENT_SUSPENDED_API_ERROR:
                case VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY:
                case VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY_FAILED:
                        return to_state(cur, VIR_DOMAIN_PAUSED, ret_state, ret_persist);
                }
                break;
        case VIR_DOMAIN_EVENT_RESUMED:
#if !LIBVIR_CHECK_VERSION(8, 5, 0)
                /* VIR_DOMAIN_EVENT_RESUMED_POSTCOPY_FAILED came in libvirt 8.5;
                 * a newer libvirtd sends it to a build on older headers too. */
                if (detail == 4)
                        return to_state(cur, VIR_DOMAIN_RUNNING, ret_state, ret_persist);
#endif
                switch ((virDomainEventResumedDetailType) detail) {
                case VIR_DOMAIN_EVENT_RESUMED_UNPAUSED: /* real QEMU: before STARTED on every start */
                case VIR_DOMAIN_EVENT_RESUMED_MIGRATED:
                case VIR_DOMAIN_EVENT_RESUMED_FROM_SNAPSHOT:
                case VIR_DOMAIN_EVENT_RESUMED_POSTCOPY:
#if LIBVIR_CHECK_VERSION(8, 5, 0)
                case VIR_DOMAIN_EVENT_RESUMED_POSTCOPY_FAILED:
#endif
                        return to_state(cur, VIR_DOMAIN_RUNNING, ret_state, ret_persist);
                }
                break;
        case VIR_DOMAIN_EVENT_STOPPED:
                switch ((virDomainEventStoppedDetailType) detail) {
                case VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN:
                case VIR_DOMAIN_EVENT_STOPPED_DESTROYED:
                case VIR_DOMAIN_EVENT_STOPPED_CRASHED:
                case VIR_DOMAIN_EVENT_STOPPED_MIGRATED: /* outgoing migration done: no instance here */
                case VIR_DOMAIN_EVENT_STOPPED_SAVED:
                case VIR_DOMAIN_EVENT_STOPPED_FAILED:
                case VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT:
                        return to_stopped(cur, ret_state, ret_persist);
                }
                break;
        case VIR_DOMAIN_EVENT_SHUTDOWN:
                switch ((virDomainEventShutdownDetailType) detail) {
                case VIR_DOMAIN_EVENT_SHUTDOWN_FINISHED:
                case VIR_DOMAIN_EVENT_SHUTDOWN_GUEST:
                case VIR_DOMAIN_EVENT_SHUTDOWN_HOST:
                        /* QEMU sets state "shutdown" here; STOPPED follows. */
                        return to_state(cur, VIR_DOMAIN_SHUTDOWN, ret_state, ret_persist);
                }
                break;
        case VIR_DOMAIN_EVENT_PMSUSPENDED:
                switch ((virDomainEventPMSuspendedDetailType) detail) {
                case VIR_DOMAIN_EVENT_PMSUSPENDED_MEMORY:
                case VIR_DOMAIN_EVENT_PMSUSPENDED_DISK:
                        return to_state(cur, VIR_DOMAIN_PMSUSPENDED, ret_state, ret_persist);
                }
                break;
        case VIR_DOMAIN_EVENT_CRASHED:
                switch ((virDomainEventCrashedDetailType) detail) {
                case VIR_DOMAIN_EVENT_CRASHED_PANICKED:
                        /* Kept for inspection (on_crash=preserve) or stopped
                         * right after (STOPPED/CRASHED follows). */
                        return to_state(cur, VIR_DOMAIN_CRASHED, ret_state, ret_persist);
                case VIR_DOMAIN_EVENT_CRASHED_CRASHLOADED:
                        /* The guest booted its crash kernel: still running. */
                        return cur ? GUEST_EVENT_NONE : GUEST_EVENT_REFRESH;
                }
                break;
        }
        return GUEST_EVENT_REFRESH;
}

const char *guest_event_to_string(int event) {
        switch ((virDomainEventType) event) {
        case VIR_DOMAIN_EVENT_DEFINED:
                return "DEFINED";
        case VIR_DOMAIN_EVENT_UNDEFINED:
                return "UNDEFINED";
        case VIR_DOMAIN_EVENT_STARTED:
                return "STARTED";
        case VIR_DOMAIN_EVENT_SUSPENDED:
                return "SUSPENDED";
        case VIR_DOMAIN_EVENT_RESUMED:
                return "RESUMED";
        case VIR_DOMAIN_EVENT_STOPPED:
                return "STOPPED";
        case VIR_DOMAIN_EVENT_SHUTDOWN:
                return "SHUTDOWN";
        case VIR_DOMAIN_EVENT_PMSUSPENDED:
                return "PMSUSPENDED";
        case VIR_DOMAIN_EVENT_CRASHED:
                return "CRASHED";
        }
        return "UNKNOWN";
}

const char *guest_event_detail_to_string(int event, int detail) {
        static const char *const defined[] = { "ADDED", "UPDATED", "RENAMED", "FROM_SNAPSHOT" };
        static const char *const undefined[] = { "REMOVED", "RENAMED" };
        static const char *const started[] = { "BOOTED", "MIGRATED", "RESTORED", "FROM_SNAPSHOT", "WAKEUP" };
        static const char *const suspended[] = { "PAUSED",    "MIGRATED", "IOERROR",
                                                 "WATCHDOG",  "RESTORED", "FROM_SNAPSHOT",
                                                 "API_ERROR", "POSTCOPY", "POSTCOPY_FAILED" };
        static const char *const resumed[] = { "UNPAUSED", "MIGRATED", "FROM_SNAPSHOT", "POSTCOPY",
                                               "POSTCOPY_FAILED" };
        static const char *const stopped[] = { "SHUTDOWN", "DESTROYED", "CRASHED",      "MIGRATED",
                                               "SAVED",    "FAILED",    "FROM_SNAPSHOT" };
        static const char *const shutdown[] = { "FINISHED", "GUEST", "HOST" };
        static const char *const pmsuspended[] = { "MEMORY", "DISK" };
        static const char *const crashed[] = { "PANICKED", "CRASHLOADED" };
        const char *const *names = NULL;
        size_t n = 0;

#define PICK(a)                    \
        do {                       \
                names = (a);       \
                n = ELEMENTSOF(a); \
        } while (0)
        switch ((virDomainEventType) event) {
        case VIR_DOMAIN_EVENT_DEFINED:
                PICK(defined);
                break;
        case VIR_DOMAIN_EVENT_UNDEFINED:
                PICK(undefined);
                break;
        case VIR_DOMAIN_EVENT_STARTED:
                PICK(started);
                break;
        case VIR_DOMAIN_EVENT_SUSPENDED:
                PICK(suspended);
                break;
        case VIR_DOMAIN_EVENT_RESUMED:
                PICK(resumed);
                break;
        case VIR_DOMAIN_EVENT_STOPPED:
                PICK(stopped);
                break;
        case VIR_DOMAIN_EVENT_SHUTDOWN:
                PICK(shutdown);
                break;
        case VIR_DOMAIN_EVENT_PMSUSPENDED:
                PICK(pmsuspended);
                break;
        case VIR_DOMAIN_EVENT_CRASHED:
                PICK(crashed);
                break;
        }
#undef PICK
        return names && detail >= 0 && (size_t) detail < n ? names[detail] : "UNKNOWN";
}
