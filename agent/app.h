/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What every subcommand shares: the global options, loading the
 * configuration with its errors printed, turning it into host/ and proto/
 * settings, and a host snapshot into the mapping proto/ sends. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "agent/conf.h"
#include "host/host.h"
#include "proto/proto.h"

typedef struct GlobalArgs {
        const char *config_dir; /* default HVMAP_CONFIG_DIR */
        const char *state_dir; /* NULL: from the configuration */
        const char *rhsm_conf; /* "" ignores it; default HVMAP_RHSM_CONF */
        const char *uri; /* NULL: from the configuration */
        bool debug;
        const char *config_file; /* config --check --config-file: read instead of CONFIG_DIR/hvmap.conf */
} GlobalArgs;

/* One configuration value given on the command line ("--uri" is
 * [libvirt] uri): parsed and range-checked exactly as in hvmap.conf. */
typedef struct ConfigOverride {
        const char *section, *key, *value;
} ConfigOverride;

/* Loads and validates the configuration as the global options say, then
 * the n overrides in order (command-line values win). Errors are printed to
 * stderr, one per line, and the sysexits status EX_CONFIG (78) is returned;
 * 0 on success. */
int app_load_config_with(const GlobalArgs *g, bool need_server, const ConfigOverride *overrides, size_t n,
                         Config *ret);
static inline int app_load_config(const GlobalArgs *g, bool need_server, Config *ret) {
        return app_load_config_with(g, need_server, NULL, 0, ret);
}

/* The server subscription-manager uses, from rhsm.conf (python-rhsm's
 * default, subscription.rhsm.redhat.com, when it names none), as an
 * https:// URL the caller frees; NULL on ENOMEM. Does not log. */
char *app_rhsm_server_url(const char *rhsm_conf);

/* true when two server URLs name the same server: scheme, host (any case),
 * port (443 when absent) and path prefix (trailing '/' ignored). Pure. */
bool app_same_server(const char *a, const char *b);

/* virt-who's default reporter id, "<hostname>-<machine-id>"; caller frees;
 * NULL when either is unavailable. */
char *app_default_reporter_id(const char *machine_id_path);

/* host/ settings from the configuration; the strings stay owned by c. */
void app_host_config(const Config *c, HostConfig *ret);

/* proto/ settings from the configuration; *ret_url (owned by the caller) is
 * the base URL ret->base_url points at. -ENOMEM, or -EINVAL with no server. */
int app_server_config(const Config *c, ProtoServerConfig *ret, char **ret_url);

/* For one-shot commands: starts host/, waits up to timeout_usec for its
 * first full listing. Returns 0 with the host and a synced snapshot, or
 * -ETIMEDOUT or -ECONNREFUSED after the first failed attempt (host and
 * snapshot are then returned too, saying what libvirt did), -EINTR on SIGINT/
 * SIGTERM, or host_start()'s error. */
int app_host_wait_synced(const HostConfig *hc, uint64_t timeout_usec, Host **ret_host,
                         HostSnapshot **ret_snap);

/* When root has written identity or state files into a state directory that
 * belongs to another user (the service's own, e.g. "hvmap"), hands the files
 * to that user, so `hvmap register` run as root does not lock the service
 * out. Logs a warning for a file it cannot hand over. */
void app_state_dir_give_back(const char *dir);

/* Who holds the state directory's lock: its pid (0 when unknown) and its
 * verb ("run" for the daemon, "register", "report", "unregister"; "" when
 * the file does not say, as an older hvmap's does not). */
typedef struct AppLockHolder {
        pid_t pid;
        char verb[16];
} AppLockHolder;

/* The state directory's lock (STATE_DIR/lock): one process at a time
 * reports from a state directory. Takes an exclusive flock without waiting
 * and writes "PID VERB" into the file. Returns the fd (close it to release),
 * -EBUSY with *ret_holder filled in, or another -errno. Does not log. */
int app_state_lock(const char *state_dir, const char *verb, AppLockHolder *ret_holder);

/* Parses the lock file's text into *ret (never fails: what it cannot read
 * stays 0 or ""). */
void app_lock_holder_parse(const char *text, AppLockHolder *ret);

/* Reads STATE_DIR/lock without locking it (for status). -errno when it
 * cannot be read. */
int app_lock_holder_read(const char *state_dir, AppLockHolder *ret);

/* Whether the holder is a one-shot command (register, report, unregister)
 * rather than the daemon; a lock file that does not say is a daemon's. */
static inline bool app_lock_holder_is_oneshot(const AppLockHolder *h) {
        return h->verb[0] != '\0' && strcmp(h->verb, "run") != 0;
}

/* Registers (or forgets) a comma-separated list of activation keys as
 * secrets: the whole text and each key, so a server message quoting one is
 * redacted too. */
void app_secret_keys(const char *keys, bool remember);

/* CLOCK_MONOTONIC / CLOCK_REALTIME now, in µs. */
uint64_t app_now_usec(int clock);

/* The clock the reporting engine and the daemon read: the real one in the
 * daemon, a fake one in tests. now() returns µs on CLOCK_MONOTONIC or
 * CLOCK_REALTIME. */
typedef struct AppClock {
        uint64_t (*now)(void *userdata, int clock);
        void *userdata;
} AppClock;
/* The system's clock. */
extern const AppClock app_clock_system;
static inline uint64_t app_clock_now(const AppClock *c, int clock) {
        return c->now(c->userdata, clock);
}

/* "2026-11-22T21:00:00Z" (UTC) from CLOCK_REALTIME µs; "never" for 0. */
char *app_format_time(uint64_t realtime_usec, char *buf, size_t bufsz);
