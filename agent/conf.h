/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hvmap's configuration: hvmap.conf + drop-ins, the host's rhsm.conf, the
 * command line; one table of keys drives parsing, defaults, validation,
 * `config --check` and the sample file. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "host/host.h"

typedef enum ReportMode {
        REPORT_GUESTIDS,
        REPORT_CHECKIN,
} ReportMode;

typedef enum IdentitySource {
        IDENTITY_HVMAP,
        IDENTITY_RHSM,
        IDENTITY_AUTO,
} IdentitySource;

/* Where a value came from, for `config --check` and error messages. */
typedef enum ConfigOriginKind {
        ORIGIN_DEFAULT,
        ORIGIN_FILE,
        ORIGIN_RHSM,
        ORIGIN_COMMAND_LINE,
} ConfigOriginKind;

typedef struct ConfigOrigin {
        ConfigOriginKind kind;
        char *file; /* owned; NULL for default/command line */
        unsigned line;
} ConfigOrigin;

typedef struct Config {
        /* [libvirt] */
        char *uri; /* NULL: libvirt's default */
        bool read_only;
        uint64_t keepalive_interval_usec;
        uint32_t keepalive_count;
        uint64_t resync_usec;
        /* [host] */
        HostIdMode hypervisor_id; /* host/'s own enum: names in host_id_mode_from_string() order */
        char *hypervisor_id_override;
        char *name;
        HostFlavour flavour;
        char **include_guests; /* NULL-terminated globs (UUID or name) */
        char **exclude_guests;
        bool report_inactive;
        uint32_t max_guests;
        /* [report] */
        ReportMode mode;
        char *reporter_id;
        uint64_t interval_usec;
        uint64_t debounce_usec;
        uint64_t min_gap_usec;
        uint64_t backoff_max_usec;
        uint64_t splay_usec;
        /* [server] */
        char *url; /* https://host[:port]/prefix; overrides hostname/port/prefix */
        char *hostname;
        uint32_t port;
        char *prefix;
        char *ca_dir;
        bool insecure;
        uint64_t timeout_usec;
        uint64_t registration_timeout_usec;
        /* [proxy] */
        char *proxy_hostname;
        uint32_t proxy_port;
        char *proxy_user;
        char *proxy_password; /* secret */
        char *no_proxy;
        /* [registration] */
        char *org;
        char *activation_key_file;
        IdentitySource identity_source;
        bool reregister_on_delete;
        char *rhsm_identity_dir;
        /* [daemon] */
        char *state_dir;
        int log_level;
        uint64_t upkeep_interval_usec;

        /* Where each key's value came from, config_keys_count entries. */
        ConfigOrigin *origins;
        /* Files config_load() read, in order (NULL-terminated). */
        char **files_read;
        /* The rhsm.conf consulted (set by the caller of config_load; NULL:
         * none), to tell subscription-manager's server. */
        char *rhsm_conf;
} Config;

typedef enum ConfigType {
        CONFIG_STRING,
        CONFIG_SECRET, /* a string never printed */
        CONFIG_BOOL,
        CONFIG_DURATION,
        CONFIG_UINT,
        CONFIG_ENUM,
        CONFIG_LIST,
        CONFIG_LOG_LEVEL,
} ConfigType;

typedef struct ConfigKey {
        const char *section;
        const char *key;
        ConfigType type;
        size_t offset;
        const char *default_value; /* as written in the sample file; NULL = unset */
        uint64_t min, max; /* UINT: value; DURATION: usec */
        const char *const *enum_names;
        const char *rhsm_section, *rhsm_key; /* rhsm.conf fallback, or NULL */
        const char *help;
} ConfigKey;

/* The table: one entry per key, in sample-file order. */
extern const ConfigKey config_keys[];
extern const size_t config_keys_count;

/* Collected problems: each a full "FILE:LINE: message" line. */
typedef struct ConfigErrors {
        char **lines; /* NULL-terminated, owned */
        size_t n;
} ConfigErrors;

void config_errors_free(ConfigErrors *e);

/* Every key at its default; paths point at the built-in locations. Returns 0
 * or -ENOMEM. */
int config_init(Config *c);
void config_free(Config *c);

/* Parses one INI text (hvmap.conf syntax) into c, recording origins as
 * FILE:LINE. Strict: unknown sections/keys (with a "did you mean"), bad or
 * out-of-range values, duplicate keys within one file, lines that are not
 * "[section]", "key = value" or comments are errors; nothing is silently
 * replaced. Returns the number of errors added (≥ 0) or -ENOMEM. Pure. */
int config_parse_text(Config *c, const char *file, const char *text, size_t len, ConfigErrors *errors);

/* Applies the host's rhsm.conf text to keys not set by hvmap.conf or the
 * command line, read as subscription-manager reads it (agent/rhsm-conf.h).
 * Nothing there is an error: a value subscription-manager would not use, or
 * hvmap.conf would refuse, is clamped or ignored and logged as a warning
 * naming rhsm.conf:LINE. Returns 0 or -ENOMEM. */
int config_parse_rhsm_text(Config *c, const char *file, const char *text, size_t len);

/* Sets section.key from the command line ("report.interval=30s" style or a
 * named option). Returns 0, -ENOENT unknown key, -EINVAL/-ERANGE bad value
 * (with a message in errors). */
int config_set(Config *c, const char *section, const char *key, const char *value, ConfigErrors *errors);

/* Reads config_dir/hvmap.conf, config_dir/hvmap.conf.d/ *.conf (lexical
 * order, later wins), then rhsm_conf (NULL or "" to skip) for what is still
 * unset. A missing hvmap.conf or rhsm.conf is fine; an unreadable one is an
 * error. Returns the number of errors
 * or a negative errno. */
int config_load(Config *c, const char *config_dir, const char *rhsm_conf, ConfigErrors *errors);
/* The same with main_file (NULL: config_dir/hvmap.conf) read in place of
 * config_dir/hvmap.conf: `config --check --config-file` checks a candidate
 * file together with the drop-ins and rhsm.conf it will live with. */
int config_load_main(Config *c, const char *main_file, const char *config_dir, const char *rhsm_conf,
                     ConfigErrors *errors);

/* Cross-key checks for running against a server: a server is known, the URL
 * parses, the CA dir is readable (unless insecure), splay ≤ interval, ...
 * need_server=false checks only what `print` needs. Returns the number of
 * errors added. */
int config_validate(const Config *c, bool need_server, ConfigErrors *errors);

/* The server base URL ("https://host:port/prefix", no trailing slash) the
 * configuration points at; NULL when none is configured. Caller frees. */
char *config_server_url(const Config *c);

/* Prints "section.key = value    # origin" for every key (secrets masked). */
void config_dump(const Config *c, FILE *f);

/* Writes the sample hvmap.conf: every key commented out with its default and help. */
void config_write_sample(FILE *f);

const char *report_mode_to_string(ReportMode m);
