/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The reporting engine (agent/report.c) wired to the world: proto/'s client
 * on an sd-event loop, one timer for whatever the engine wants next, the
 * identity files and state.json in the state directory. The daemon keeps
 * one for its whole life; each one-shot command makes one and runs its
 * loop until the engine knows the outcome. */
#pragma once

#include <systemd/sd-event.h>

#include "agent/app.h"
#include "agent/report.h"
#include "util/cleanup.h"

typedef struct ReportIo ReportIo;

typedef struct ReportIoHooks {
        /* After every step of the engine (a request started or answered, a
         * timer fired): the daemon refreshes its status. May be NULL. */
        void (*changed)(void *userdata);
        /* Fills the live fields of s just before it is written. May be NULL. */
        void (*fill_state)(void *userdata, State *s);
        void *userdata;
} ReportIoHooks;

/* A driver for configuration cfg (borrowed: it must stay valid until the
 * next report_io_reload() or report_io_free()). Creates the server client
 * and the engine; the state directory's state.json, when there is one, is
 * restored into the engine. Returns 0 or -errno (logged). */
int report_io_new(sd_event *e, const Config *cfg, const AppClock *clock, uint64_t seed,
                  const ReportIoHooks *hooks, ReportIo **ret);
ReportIo *report_io_free(ReportIo *io);
DEFINE_TRIVIAL_CLEANUP_FUNC(ReportIo *, report_io_free, report_io_freep)

Reporter *report_io_engine(ReportIo *io);
const char *report_io_server_url(const ReportIo *io);
/* The directory the identity is read from: the state directory, or
 * subscription-manager's with identity_source = rhsm. */
const char *report_io_identity_dir(const ReportIo *io);

/* Whose consumer the configuration makes hvmap report on, with server_url
 * the server it reports to (may be NULL): true for hvmap's own, false for
 * subscription-manager's (identity_source = rhsm, or auto while it is
 * registered with the same server). *ret_rhsm_uuid (may be NULL) gets
 * subscription-manager's consumer uuid when it has one here, *ret_same
 * (may be NULL) whether it is registered with server_url. */
bool report_identity_own(const Config *cfg, const char *server_url, char **ret_rhsm_uuid, bool *ret_same);

/* true when hvmap reports on its own consumer; false on subscription-
 * manager's (identity_source = rhsm, or auto with subscription-manager
 * registered to the same server). */
bool report_io_own_identity(const ReportIo *io);
/* subscription-manager's consumer uuid on this host, or NULL; whether it
 * is registered with the server hvmap reports to. */
const char *report_io_rhsm_uuid(const ReportIo *io);
bool report_io_rhsm_same_server(const ReportIo *io);

/* Loads the identity the configuration names into the engine. Returns 0,
 * -ENOENT (none yet; logged at INFO when log is set), or another -errno
 * with *ret_error (logged when log is set). */
int report_io_load_identity(ReportIo *io, bool log, char **ret_error);

/* Credentials for a registration (hvmap register); borrowed. Without them
 * the configuration's activation key file and organization are used. */
void report_io_set_credentials(ReportIo *io, const ProtoCredentials *cred);

/* Runs what the engine has due and re-arms the timer. Call after giving
 * the engine new input (a mapping, SIGUSR1). */
void report_io_kick(ReportIo *io);

/* New configuration (SIGHUP): drops a request in flight (its fate is
 * unknown), makes a new client, reloads the identity. 0 or -errno (logged;
 * the old settings then stay). */
int report_io_reload(ReportIo *io, const Config *cfg);

/* One-shot commands: does work once on the loop until the outcome is
 * known, then returns it. 0, or -errno when the loop failed (logged). */
int report_io_run_once(ReportIo *io, ReportWork work, const ReportOutcome **ret);
