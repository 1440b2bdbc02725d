/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The configuration table, the strict INI parser, rhsm.conf fallback,
 * validation, `config --check` output and the sample file (rhsm.conf itself
 * is read in rhsm-conf.c). */
#include "agent/conf.h"
#include "agent/conf-internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "proto/proto.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/fs-check.h"
#include "util/log.h"
#include "util/parse.h"

/* A configuration file larger than this is a mistake, not a configuration. */
#define CONFIG_FILE_MAX (1024 * 1024)
#define CONFIG_DROPINS_MAX 256

static const char *const hypervisor_id_names[] = { "uuid", "hostname", "hwuuid", NULL };
static const char *const flavour_names[] = { "auto", "kvm", "xen", NULL };
static const char *const report_mode_names[] = { "guestids", "checkin", NULL };
static const char *const identity_source_names[] = { "hvmap", "rhsm", "auto", NULL };

#define K(sec, name, kind, field, def, lo, hi, names, rsec, rkey, helptext)                            \
        {                                                                                              \
                .section = sec, .key = name, .type = kind, .offset = offsetof(Config, field),          \
                .default_value = def, .min = lo, .max = hi, .enum_names = names, .rhsm_section = rsec, \
                .rhsm_key = rkey, .help = helptext                                                     \
        }
#define SEC USEC_PER_SEC
#define MIN USEC_PER_MINUTE
#define HOUR USEC_PER_HOUR
#define DAY USEC_PER_DAY

const ConfigKey config_keys[] = {
        K("libvirt", "uri", CONFIG_STRING, uri, NULL, 0, 0, NULL, NULL, NULL,
          "libvirt connection URI; unset = libvirt's default (qemu:///system on KVM, xen:///system on Xen)"),
        K("libvirt", "read_only", CONFIG_BOOL, read_only, "yes", 0, 0, NULL, NULL, NULL,
          "connect read-only; listing, events and capabilities need nothing more"),
        K("libvirt", "keepalive_interval", CONFIG_DURATION, keepalive_interval_usec, "5s", 1 * SEC, 60 * SEC,
          NULL, NULL, NULL, "keepalive probe interval; a hung libvirtd is noticed after interval x count"),
        K("libvirt", "keepalive_count", CONFIG_UINT, keepalive_count, "3", 1, 20, NULL, NULL, NULL,
          "unanswered keepalive probes before the connection is closed and reopened"),
        K("libvirt", "resync_interval", CONFIG_DURATION, resync_usec, "15min", 10 * SEC, DAY, NULL, NULL,
          NULL, "full re-listing of the guests besides events; drift it corrects is logged"),

        K("host", "hypervisor_id", CONFIG_ENUM, hypervisor_id, "uuid", 0, 0, hypervisor_id_names, NULL, NULL,
          "how this host is identified: uuid (libvirt host UUID), hostname, hwuuid (SMBIOS system UUID)"),
        K("host", "hypervisor_id_override", CONFIG_STRING, hypervisor_id_override, NULL, 0, 0, NULL, NULL,
          NULL, "use this exact hypervisor id instead of detecting one"),
        K("host", "name", CONFIG_STRING, name, NULL, 0, 0, NULL, NULL, NULL,
          "name shown on the server; unset = the host name"),
        K("host", "flavour", CONFIG_ENUM, flavour, "auto", 0, 0, flavour_names, NULL, NULL,
          "hypervisor flavour for Xen rules (Domain-0 is never a guest): auto, kvm, xen"),
        K("host", "include_guests", CONFIG_LIST, include_guests, NULL, 0, 0, NULL, NULL, NULL,
          "report only guests whose UUID or name matches one of these globs (comma separated)"),
        K("host", "exclude_guests", CONFIG_LIST, exclude_guests, NULL, 0, 0, NULL, NULL, NULL,
          "never report guests whose UUID or name matches one of these globs"),
        K("host", "report_inactive", CONFIG_BOOL, report_inactive, "no", 0, 0, NULL, NULL, NULL,
          "also report defined but shut-off guests (active=0), as virt-who does; see the man page for the "
          "migration race this invites"),
        K("host", "max_guests", CONFIG_UINT, max_guests, "100000", 1, 1000000, NULL, NULL, NULL,
          "refuse to track more guests than this (a bound on memory)"),

        K("report", "mode", CONFIG_ENUM, mode, "guestids", 0, 0, report_mode_names, NULL, NULL,
          "guestids: PUT the guest list on this host's own consumer; checkin: asynchronous hypervisor "
          "check-in"),
        K("report", "reporter_id", CONFIG_STRING, reporter_id, NULL, 0, 0, NULL, NULL, NULL,
          "reporter id for check-in mode and heartbeats; unset = <hostname>-<machine-id>"),
        K("report", "interval", CONFIG_DURATION, interval_usec, "1h", 10 * SEC, 30 * DAY, NULL, NULL, NULL,
          "re-send an unchanged mapping this often, so a loss on the server heals"),
        K("report", "debounce", CONFIG_DURATION, debounce_usec, "0", 0, MIN, NULL, NULL, NULL,
          "wait this long after the first change of a quiet period before reporting (0: at once; "
          "later changes are coalesced by min_gap anyway)"),
        K("report", "min_gap", CONFIG_DURATION, min_gap_usec, "5s", 0, HOUR, NULL, NULL, NULL,
          "at least this long between two reports; changes within it are sent together"),
        K("report", "backoff_max", CONFIG_DURATION, backoff_max_usec, "15min", 1 * SEC, DAY, NULL, NULL,
          NULL, "cap of the exponential backoff (with full jitter) after failures"),
        K("report", "splay", CONFIG_DURATION, splay_usec, "5min", 0, DAY, NULL, NULL, NULL,
          "spread periodic reports of a fleet: each host adds a fixed offset in [0, splay)"),

        K("server", "url", CONFIG_STRING, url, NULL, 0, 0, NULL, NULL, NULL,
          "https://HOST[:PORT]/PREFIX of Candlepin, Satellite (/rhsm) or RHSM (/subscription); "
          "overrides hostname, port and prefix"),
        K("server", "hostname", CONFIG_STRING, hostname, NULL, 0, 0, NULL, "server", "hostname",
          "server host name (default: rhsm.conf [server] hostname)"),
        K("server", "port", CONFIG_UINT, port, "443", 1, 65535, NULL, "server", "port",
          "server port (default: rhsm.conf [server] port)"),
        K("server", "prefix", CONFIG_STRING, prefix, "/subscription", 0, 0, NULL, "server", "prefix",
          "API path prefix (default: rhsm.conf [server] prefix)"),
        K("server", "ca_dir", CONFIG_STRING, ca_dir, HVMAP_RHSM_CA_DIR, 0, 0, NULL, "rhsm", "ca_cert_dir",
          "directory whose *.pem files are the trusted CAs for the server (default: rhsm.conf ca_cert_dir)"),
        K("server", "insecure", CONFIG_BOOL, insecure, "no", 0, 0, NULL, "server", "insecure",
          "do not verify the server's certificate (warned about at every start)"),
        K("server", "timeout", CONFIG_DURATION, timeout_usec, "60s", 1 * SEC, 15 * MIN, NULL, "server",
          "server_timeout", "connect and transfer timeout of one request"),
        K("server", "registration_timeout", CONFIG_DURATION, registration_timeout_usec, "180s", 10 * SEC,
          HOUR, NULL, NULL, NULL,
          "how long a registration may take (a busy Satellite needs minutes; rhsm's default is 180s)"),

        K("proxy", "hostname", CONFIG_STRING, proxy_hostname, NULL, 0, 0, NULL, "server", "proxy_hostname",
          "HTTP proxy host (default: rhsm.conf, then HTTPS_PROXY, https_proxy, HTTP_PROXY, http_proxy)"),
        K("proxy", "port", CONFIG_UINT, proxy_port, "3128", 1, 65535, NULL, "server", "proxy_port",
          "HTTP proxy port"),
        K("proxy", "user", CONFIG_STRING, proxy_user, NULL, 0, 0, NULL, "server", "proxy_user",
          "proxy user name"),
        K("proxy", "password", CONFIG_SECRET, proxy_password, NULL, 0, 0, NULL, "server", "proxy_password",
          "proxy password (never logged)"),
        K("proxy", "no_proxy", CONFIG_STRING, no_proxy, NULL, 0, 0, NULL, "server", "no_proxy",
          "comma separated host suffixes reached without the proxy; * = never use a proxy"),

        K("registration", "org", CONFIG_STRING, org, NULL, 0, 0, NULL, NULL, NULL,
          "organization key to register in"),
        K("registration", "activation_key_file", CONFIG_STRING, activation_key_file, NULL, 0, 0, NULL, NULL,
          NULL,
          "file holding the activation key(s), comma separated; lets the daemon re-register by itself"),
        K("registration", "identity_source", CONFIG_ENUM, identity_source, "auto", 0, 0,
          identity_source_names, NULL, NULL,
          "auto: subscription-manager's consumer when it is registered with the same server (guests "
          "only, never facts; hvmap never registers, renews or deletes it), else hvmap's own; hvmap: "
          "always hvmap's own consumer of type hypervisor; rhsm: always subscription-manager's"),
        K("registration", "reregister_on_delete", CONFIG_BOOL, reregister_on_delete, "no", 0, 0, NULL, NULL,
          NULL,
          "register again (after one interval) when an administrator deleted our consumer; no: stop "
          "reporting and say so, as subscription-manager does"),
        K("registration", "rhsm_identity_dir", CONFIG_STRING, rhsm_identity_dir, "/etc/pki/consumer", 0, 0,
          NULL, "rhsm", "consumerCertDir",
          "subscription-manager's identity directory (identity_source=rhsm)"),

        K("daemon", "state_dir", CONFIG_STRING, state_dir, HVMAP_STATE_DIR, 0, 0, NULL, NULL, NULL,
          "identity and state (last accepted report)"),
        K("daemon", "log_level", CONFIG_LOG_LEVEL, log_level, "info", 0, 0, NULL, NULL, NULL,
          "err, warning, notice, info or debug"),
        K("daemon", "upkeep_interval", CONFIG_DURATION, upkeep_interval_usec, "4h", 10 * SEC, 4 * HOUR, NULL,
          NULL, NULL,
          "how often our identity is checked for renewal and the server told we are alive "
          "(certificates/serials, Satellite's \"Last checkin\"), as rhsmcertd does"),
};
const size_t config_keys_count = ELEMENTSOF(config_keys);

#undef K

static const char *const *enum_names_of(const ConfigKey *k) {
        return k->enum_names;
}

const char *report_mode_to_string(ReportMode m) {
        return (unsigned) m < 2 ? report_mode_names[m] : "?";
}

static void *field_of(Config *c, const ConfigKey *k) {
        return (char *) c + k->offset;
}

static const void *cfield_of(const Config *c, const ConfigKey *k) {
        return (const char *) c + k->offset;
}

static size_t key_index(const ConfigKey *k) {
        return (size_t) (k - config_keys);
}

static const ConfigKey *key_find(const char *section, const char *key) {
        for (size_t i = 0; i < config_keys_count; i++)
                if (strcasecmp(config_keys[i].section, section) == 0 &&
                    strcasecmp(config_keys[i].key, key) == 0)
                        return &config_keys[i];
        return NULL;
}

static bool section_known(const char *section) {
        for (size_t i = 0; i < config_keys_count; i++)
                if (strcasecmp(config_keys[i].section, section) == 0)
                        return true;
        return false;
}

void config_errors_free(ConfigErrors *e) {
        e->lines = strv_free(e->lines);
        e->n = 0;
}

static int errors_add(ConfigErrors *e, const char *file, unsigned line, const char *format, ...)
        _printf_(4, 5);
static int errors_add(ConfigErrors *e, const char *file, unsigned line, const char *format, ...) {
        _cleanup_free_ char *msg = NULL;
        char *full = NULL, **n;
        va_list ap;
        int r;

        va_start(ap, format);
        r = vasprintf(&msg, format, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        if (file && line > 0)
                r = asprintf(&full, "%s:%u: %s", file, line, msg);
        else if (file)
                r = asprintf(&full, "%s: %s", file, msg);
        else
                r = asprintf(&full, "%s", msg);
        if (r < 0)
                return -ENOMEM;
        n = realloc(e->lines, (e->n + 2) * sizeof(char *));
        if (!n) {
                free(full);
                return -ENOMEM;
        }
        e->lines = n;
        e->lines[e->n++] = full;
        e->lines[e->n] = NULL;
        return 1;
}

/* Edit distance, bounded by the short strings config keys are. */
static size_t levenshtein(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b), prev[64], cur[64];

        if (la >= 63 || lb >= 63)
                return SIZE_MAX;
        for (size_t j = 0; j <= lb; j++)
                prev[j] = j;
        for (size_t i = 1; i <= la; i++) {
                cur[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        size_t sub = prev[j - 1] + (tolower((unsigned char) a[i - 1]) !=
                                                    tolower((unsigned char) b[j - 1]));
                        size_t del = prev[j] + 1, ins = cur[j - 1] + 1;

                        cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
                }
                memcpy(prev, cur, (lb + 1) * sizeof(size_t));
        }
        return prev[lb];
}

/* " (did you mean ...?)" for an unknown key, or "" when nothing is close. */
static void suggest_key(const char *section, const char *key, char *buf, size_t bufsz) {
        const ConfigKey *best = NULL;
        size_t best_d = SIZE_MAX;

        buf[0] = '\0';
        for (size_t i = 0; i < config_keys_count; i++) {
                const ConfigKey *k = &config_keys[i];
                size_t d = levenshtein(key, k->key);

                /* The right key in the wrong section is the likeliest slip. */
                if (d == 0) {
                        best = k;
                        best_d = 0;
                        break;
                }
                if (section && strcasecmp(k->section, section) != 0)
                        d += 1;
                if (d < best_d) {
                        best = k;
                        best_d = d;
                }
        }
        if (!best || best_d > 2 + strlen(key) / 4)
                return;
        if (section && strcasecmp(best->section, section) == 0)
                (void) snprintf(buf, bufsz, " (did you mean \"%s\"?)", best->key);
        else
                (void) snprintf(buf, bufsz, " (did you mean \"%s\" in [%s]?)", best->key, best->section);
}

static void suggest_section(const char *section, char *buf, size_t bufsz) {
        const char *best = NULL;
        size_t best_d = SIZE_MAX;

        buf[0] = '\0';
        for (size_t i = 0; i < config_keys_count; i++) {
                size_t d = levenshtein(section, config_keys[i].section);

                if (d < best_d) {
                        best_d = d;
                        best = config_keys[i].section;
                }
        }
        if (best && best_d <= 2 + strlen(section) / 4)
                (void) snprintf(buf, bufsz, " (did you mean [%s]?)", best);
}

static void free_field(Config *c, const ConfigKey *k) {
        void *f = field_of(c, k);

        switch (k->type) {
        case CONFIG_STRING:
                *(char **) f = mfree(*(char **) f);
                break;
        case CONFIG_SECRET:
                if (*(char **) f) {
                        log_secret_unregister(*(char **) f);
                        *(char **) f = erase_and_free(*(char **) f);
                }
                break;
        case CONFIG_LIST:
                *(char ***) f = strv_free(*(char ***) f);
                break;
        case CONFIG_BOOL:
        case CONFIG_DURATION:
        case CONFIG_UINT:
        case CONFIG_ENUM:
        case CONFIG_LOG_LEVEL:
                break;
        }
}

static bool has_control_chars(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || *s == 0x7f)
                        return true;
        return false;
}

/* Splits "a, b c" into a NULL-terminated list; an empty value gives NULL. */
static int split_list(const char *value, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;
        const char *p = value;

        while (*p) {
                size_t len;
                char **nl;

                p += strspn(p, ", \t");
                len = strcspn(p, ", \t");
                if (len == 0)
                        break;
                nl = realloc(l, (n + 2) * sizeof(char *));
                if (!nl)
                        return -ENOMEM;
                l = nl;
                l[n] = strndup(p, len);
                if (!l[n])
                        return -ENOMEM;
                l[++n] = NULL;
                p += len;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static void format_range(const ConfigKey *k, char *buf, size_t bufsz) {
        char a[DURATION_STRING_MAX], b[DURATION_STRING_MAX];

        if (k->type == CONFIG_DURATION)
                (void) snprintf(buf, bufsz, "%s..%s", format_duration(a, sizeof a, k->min),
                                format_duration(b, sizeof b, k->max));
        else
                (void) snprintf(buf, bufsz, "%llu..%llu", (unsigned long long) k->min,
                                (unsigned long long) k->max);
}

/* Formats an error message for set_value(); on ENOMEM leaves *ret NULL and
 * the caller falls back to a generic text. */
static void msgf(char **ret, const char *format, ...) _printf_(2, 3);
static void msgf(char **ret, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        if (vasprintf(ret, format, ap) < 0)
                *ret = NULL;
        va_end(ap);
}

/* Refuses a parsed number outside the key's range (parse_r is the parser's
 * result: -ERANGE when it did not even fit), with a message saying the range. */
static int check_range(const ConfigKey *k, const char *value, int parse_r, uint64_t v, char **ret_msg) {
        char range[2 * DURATION_STRING_MAX + 4];

        if (parse_r != -ERANGE && v >= k->min && v <= k->max)
                return 0;
        format_range(k, range, sizeof range);
        msgf(ret_msg, "%s = %s is out of range (%s); nothing was changed", k->key, value, range);
        return -ERANGE;
}

/* Parses value for key k and stores it. On failure returns a negative errno
 * and a message (caller frees) that names the key, the value and what is
 * accepted; the field is untouched. */
static int set_value(Config *c, const ConfigKey *k, const char *value, char **ret_msg) {
        void *f = field_of(c, k);
        int r;

        *ret_msg = NULL;
        if (has_control_chars(value)) {
                msgf(ret_msg, "%s: value contains control characters", k->key);
                return -EINVAL;
        }

        switch (k->type) {
        case CONFIG_STRING:
        case CONFIG_SECRET: {
                char *s = NULL;

                if (*value) {
                        s = strdup(value);
                        if (!s)
                                return -ENOMEM;
                        if (k->type == CONFIG_SECRET && log_secret_register(s) < 0) {
                                erase_and_free(s);
                                return -ENOMEM;
                        }
                }
                free_field(c, k);
                *(char **) f = s;
                return 0;
        }
        case CONFIG_BOOL: {
                bool b;

                if (parse_bool(value, &b) < 0) {
                        msgf(ret_msg, "%s = \"%s\" is not a boolean: use yes or no", k->key, value);
                        return -EINVAL;
                }
                *(bool *) f = b;
                return 0;
        }
        case CONFIG_DURATION: {
                uint64_t v;

                r = parse_duration(value, USEC_PER_SEC, &v);
                if (r < 0 && r != -ERANGE) {
                        msgf(ret_msg, "%s = \"%s\" is not a duration: use e.g. 30s, 5min, 1h, 500ms", k->key,
                             value);
                        return r;
                }
                r = check_range(k, value, r, v, ret_msg);
                if (r < 0)
                        return r;
                *(uint64_t *) f = v;
                return 0;
        }
        case CONFIG_UINT: {
                uint64_t v;

                r = parse_uint64(value, &v);
                if (r < 0 && r != -ERANGE) {
                        msgf(ret_msg, "%s = \"%s\" is not a number", k->key, value);
                        return r;
                }
                r = check_range(k, value, r, v, ret_msg);
                if (r < 0)
                        return r;
                *(uint32_t *) f = (uint32_t) v;
                return 0;
        }
        case CONFIG_ENUM: {
                const char *const *names = enum_names_of(k);
                _cleanup_free_ char *choices = NULL;

                for (int i = 0; names[i]; i++)
                        if (strcasecmp(value, names[i]) == 0) {
                                *(int *) f = i;
                                return 0;
                        }
                for (int i = 0; names[i]; i++) {
                        char *n = NULL;

                        if (asprintf(&n, "%s%s%s", choices ? choices : "", choices ? ", " : "", names[i]) <
                            0)
                                return -ENOMEM;
                        free(choices);
                        choices = n;
                }
                msgf(ret_msg, "%s = \"%s\" is not one of: %s", k->key, value, choices);
                return -EINVAL;
        }
        case CONFIG_LIST: {
                char **l = NULL;

                r = split_list(value, &l);
                if (r < 0)
                        return r;
                free_field(c, k);
                *(char ***) f = l;
                return 0;
        }
        case CONFIG_LOG_LEVEL:
                r = log_level_from_string(value);
                if (r < 0) {
                        msgf(ret_msg,
                             "%s = \"%s\" is not a log level: use err, warning, notice, "
                             "info or debug",
                             k->key, value);
                        return -EINVAL;
                }
                *(int *) f = r;
                return 0;
        }
        return -EINVAL;
}

static void origin_set(Config *c, const ConfigKey *k, ConfigOriginKind kind, const char *file,
                       unsigned line) {
        ConfigOrigin *o = &c->origins[key_index(k)];

        o->file = mfree(o->file);
        o->kind = kind;
        o->file = file ? strdup(file) : NULL;
        o->line = line;
}

int config_key_set_value(Config *c, const ConfigKey *k, const char *value, char **ret_msg) {
        return set_value(c, k, value, ret_msg);
}

void config_key_set_origin(Config *c, const ConfigKey *k, ConfigOriginKind kind, const char *file,
                           unsigned line) {
        origin_set(c, k, kind, file, line);
}

int config_init(Config *c) {
        *c = (Config){};
        c->origins = calloc(config_keys_count, sizeof(ConfigOrigin));
        if (!c->origins)
                return -ENOMEM;
        for (size_t i = 0; i < config_keys_count; i++) {
                const ConfigKey *k = &config_keys[i];
                _cleanup_free_ char *msg = NULL;
                int r;

                if (!k->default_value)
                        continue;
                r = set_value(c, k, k->default_value, &msg);
                if (r < 0) {
                        /* A bad built-in default is a programming error the
                         * unit tests catch; never run with half a config. */
                        config_free(c);
                        return r == -ENOMEM ? r : -EINVAL;
                }
        }
        return 0;
}

void config_free(Config *c) {
        for (size_t i = 0; i < config_keys_count; i++)
                free_field(c, &config_keys[i]);
        if (c->origins)
                for (size_t i = 0; i < config_keys_count; i++)
                        free(c->origins[i].file);
        free(c->origins);
        strv_free(c->files_read);
        free(c->rhsm_conf);
        *c = (Config){};
}

static char *trim(char *s) {
        char *e;

        while (*s == ' ' || *s == '\t')
                s++;
        e = s + strlen(s);
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
                *--e = '\0';
        return s;
}

/* Strips one pair of matching surrounding quotes. */
static char *unquote(char *s) {
        size_t n = strlen(s);

        if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0]) {
                s[n - 1] = '\0';
                return s + 1;
        }
        return s;
}

/* For a line without "=": when it starts with a key of section (the
 * rhsm.conf habit "password: x"), "; if this sets password, write ..." —
 * only a name from the table is ever shown, never the rest of the line. */
static void known_key_hint(const char *section, const char *line, char *buf, size_t bufsz) {
        size_t n = strspn(line, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");

        buf[0] = '\0';
        if (!section || n == 0)
                return;
        for (size_t i = 0; i < config_keys_count; i++)
                if (strcasecmp(config_keys[i].section, section) == 0 && strlen(config_keys[i].key) == n &&
                    strncasecmp(config_keys[i].key, line, n) == 0) {
                        (void) snprintf(buf, bufsz, "; if this sets %s, write \"%s = ...\"",
                                        config_keys[i].key, config_keys[i].key);
                        return;
                }
}

/* Iterates lines: returns the next line (NUL-terminated copy in *buf) or
 * NULL at the end. Reports embedded NUL bytes by setting *has_nul. */
typedef struct LineReader {
        const char *text;
        size_t len, pos;
        unsigned line;
} LineReader;

static int line_next(LineReader *lr, char **ret, bool *has_nul) {
        const char *start, *nl;
        size_t n;

        if (lr->pos >= lr->len)
                return 0;
        start = lr->text + lr->pos;
        nl = memchr(start, '\n', lr->len - lr->pos);
        n = nl ? (size_t) (nl - start) : lr->len - lr->pos;
        lr->pos += n + (nl ? 1 : 0);
        lr->line++;
        *has_nul = memchr(start, '\0', n) != NULL;
        *ret = strndup(start, n);
        return *ret ? 1 : -ENOMEM;
}

int config_parse_text(Config *c, const char *file, const char *text, size_t len, ConfigErrors *errors) {
        _cleanup_free_ unsigned *seen_line = calloc(config_keys_count, sizeof(unsigned));
        _cleanup_free_ char *section = NULL;
        LineReader lr = { .text = text, .len = len };
        bool skip_section = false;
        int nerr = 0, r;

        if (!seen_line)
                return -ENOMEM;

        for (;;) {
                _cleanup_erase_ char *raw = NULL; /* the line may hold a secret */
                char *line, *eq, *key, *value, hint[128];
                const ConfigKey *k;
                bool has_nul;

                r = line_next(&lr, &raw, &has_nul);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                if (has_nul) {
                        nerr += errors_add(errors, file, lr.line,
                                           "line contains a NUL byte; is this a text file?");
                        continue;
                }
                line = trim(raw);
                /* Comments may be indented; they never continue a value. */
                if (!*line || *line == '#' || *line == ';')
                        continue;

                if (*line == '[') {
                        char *end = strchr(line, ']');

                        /* Not the line itself: it may be a secret that lost its "key =". */
                        if (!end || trim(end + 1)[0] != '\0') {
                                nerr += errors_add(errors, file, lr.line,
                                                   "malformed section header: expected \"[name]\" alone on "
                                                   "the line (the line is not shown, it may hold a secret)");
                                skip_section = true;
                                continue;
                        }
                        *end = '\0';
                        free(section);
                        section = strdup(trim(line + 1));
                        if (!section)
                                return -ENOMEM;
                        skip_section = !section_known(section);
                        if (skip_section) {
                                suggest_section(section, hint, sizeof hint);
                                nerr += errors_add(errors, file, lr.line, "unknown section [%s]%s", section,
                                                   hint);
                        }
                        continue;
                }

                eq = strchr(line, '=');
                if (!eq) {
                        known_key_hint(section, line, hint, sizeof hint);
                        nerr += errors_add(
                                errors, file, lr.line,
                                "expected \"key = value\"%s (the line is not shown, it may hold a "
                                "secret)",
                                hint);
                        continue;
                }
                *eq = '\0';
                key = trim(line);
                value = unquote(trim(eq + 1));
                if (!section) {
                        nerr += errors_add(errors, file, lr.line,
                                           "\"%s\" is outside any section; put it under e.g. [report]", key);
                        continue;
                }
                if (skip_section)
                        continue;
                k = key_find(section, key);
                if (!k) {
                        suggest_key(section, key, hint, sizeof hint);
                        nerr += errors_add(errors, file, lr.line, "unknown key \"%s\" in [%s]%s", key,
                                           section, hint);
                        continue;
                }
                if (seen_line[key_index(k)] > 0) {
                        nerr += errors_add(errors, file, lr.line,
                                           "duplicate key \"%s\" in [%s], first set at line %u", k->key,
                                           k->section, seen_line[key_index(k)]);
                        continue;
                }
                seen_line[key_index(k)] = lr.line;

                {
                        _cleanup_free_ char *msg = NULL;

                        r = set_value(c, k, value, &msg);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0) {
                                nerr += errors_add(errors, file, lr.line, "%s", msg ? msg : "invalid value");
                                continue;
                        }
                }
                origin_set(c, k, ORIGIN_FILE, file, lr.line);
        }
        return nerr;
}

int config_set(Config *c, const char *section, const char *key, const char *value, ConfigErrors *errors) {
        const ConfigKey *k = key_find(section, key);
        _cleanup_free_ char *msg = NULL;
        char hint[128];
        int r;

        if (!k) {
                suggest_key(section, key, hint, sizeof hint);
                (void) errors_add(errors, "command line", 0, "unknown key %s.%s%s", section, key, hint);
                return -ENOENT;
        }
        r = set_value(c, k, value, &msg);
        if (r < 0) {
                if (r != -ENOMEM)
                        (void) errors_add(errors, "command line", 0, "%s", msg ? msg : "invalid value");
                return r;
        }
        origin_set(c, k, ORIGIN_COMMAND_LINE, NULL, 0);
        return 0;
}

static int strv_push(char ***l, const char *s) {
        size_t n = 0;
        char **nl;

        while (*l && (*l)[n])
                n++;
        nl = realloc(*l, (n + 2) * sizeof(char *));
        if (!nl)
                return -ENOMEM;
        *l = nl;
        nl[n] = strdup(s);
        nl[n + 1] = NULL;
        return nl[n] ? 0 : -ENOMEM;
}

/* A missing file that is a symbolic link: say where it points, since its
 * settings are silently absent otherwise. */
static void warn_dangling(const char *path) {
        char target[512];
        ssize_t n = readlink(path, target, sizeof target - 1);

        if (n < 0)
                return;
        target[n] = '\0';
        log_warning("%s is a symbolic link to %s, which does not exist; ignoring it", path, target);
}

/* A file that set a secret (proxy password) and that others may read: the
 * secret is not a secret. Says so once per file. */
static void warn_readable_secret(const Config *c, const char *path) {
        struct stat st;

        for (size_t i = 0; i < config_keys_count; i++) {
                const ConfigOrigin *o = &c->origins[i];

                /* rhsm.conf is subscription-manager's, world-readable by design. */
                if (config_keys[i].type != CONFIG_SECRET ||
                    !*(char *const *) cfield_of(c, &config_keys[i]) || o->kind != ORIGIN_FILE ||
                    !streq_ptr(o->file, path))
                        continue;
                if (stat(path, &st) == 0 && fs_mode_readable_by_others(&st))
                        log_warning("%s:%u: sets the secret [%s] %s but is readable by %s (mode %04o); run "
                                    "chmod 0600 %s",
                                    path, o->line, config_keys[i].section, config_keys[i].key,
                                    st.st_mode & S_IROTH ? "every user" : "its group",
                                    (unsigned) (st.st_mode & 07777), path);
                return;
        }
}

/* Reads and parses one file. Missing is fine when optional. */
static int load_one(Config *c, const char *path, bool rhsm, ConfigErrors *errors) {
        _cleanup_erase_ char *text = NULL; /* may hold the proxy password */
        char reason[512];
        size_t len;
        int r;

        /* A configuration someone else could have written is not ours:
         * it names the server, the CA and the state dir. */
        r = read_file_trusted(path, CONFIG_FILE_MAX, 0, &text, &len, reason, sizeof(reason));
        if (r == -ENOENT) {
                warn_dangling(path);
                return 0;
        }
        if (r == -EPERM && reason[0])
                return errors_add(errors, path, 0, "refusing to read it: %s", reason);
        if (r == -EFBIG)
                return errors_add(errors, path, 0, "larger than %d bytes; is this a configuration file?",
                                  CONFIG_FILE_MAX);
        if (r < 0)
                return errors_add(errors, path, 0, "cannot read: %s", strerror(-r));
        if (reason[0]) /* a warning: its directory is writable by others */
                log_warning("%s", reason);
        r = strv_push(&c->files_read, path);
        if (r < 0)
                return r;
        r = rhsm ? config_parse_rhsm_text(c, path, text, len)
                 : config_parse_text(c, path, text, len, errors);
        if (r >= 0)
                warn_readable_secret(c, path);
        return r;
}

static int conf_filter(const struct dirent *de) {
        size_t n = strlen(de->d_name);

        return de->d_name[0] != '.' && n > 5 && strcmp(de->d_name + n - 5, ".conf") == 0;
}

int config_load(Config *c, const char *config_dir, const char *rhsm_conf, ConfigErrors *errors) {
        return config_load_main(c, NULL, config_dir, rhsm_conf, errors);
}

int config_load_main(Config *c, const char *main_file, const char *config_dir, const char *rhsm_conf,
                     ConfigErrors *errors) {
        _cleanup_free_ char *main_path = NULL, *dropin_dir = NULL;
        struct dirent **list = NULL;
        int nerr = 0, r, n;

        if ((main_file ? !(main_path = strdup(main_file))
                       : asprintf(&main_path, "%s/hvmap.conf", config_dir) < 0) ||
            asprintf(&dropin_dir, "%s/hvmap.conf.d", config_dir) < 0)
                return -ENOMEM;

        r = load_one(c, main_path, false, errors);
        if (r < 0)
                return r;
        nerr += r;

        n = scandir(dropin_dir, &list, conf_filter, alphasort);
        if (n < 0 && errno != ENOENT && errno != ENOTDIR)
                nerr += errors_add(errors, dropin_dir, 0, "cannot list: %m");
        if (n > CONFIG_DROPINS_MAX)
                nerr += errors_add(
                        errors, dropin_dir, 0,
                        "holds %d drop-ins, more than %d; the rest would be ignored: merge some of "
                        "them",
                        n, CONFIG_DROPINS_MAX);
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *path = NULL;

                if (i < CONFIG_DROPINS_MAX && asprintf(&path, "%s/%s", dropin_dir, list[i]->d_name) >= 0) {
                        r = load_one(c, path, false, errors);
                        if (r < 0)
                                nerr = r;
                        else if (nerr >= 0)
                                nerr += r;
                }
                free(list[i]);
        }
        free(list);
        if (nerr < 0)
                return nerr;

        if (rhsm_conf && *rhsm_conf) {
                r = load_one(c, rhsm_conf, true, errors);
                if (r < 0)
                        return r;
                nerr += r;
        }
        return nerr;
}

static const char *origin_where(const Config *c, const ConfigKey *k, char *buf, size_t bufsz) {
        const ConfigOrigin *o = &c->origins[key_index(k)];

        switch (o->kind) {
        case ORIGIN_DEFAULT:
                (void) snprintf(buf, bufsz, "default of [%s] %s", k->section, k->key);
                return buf;
        case ORIGIN_COMMAND_LINE:
                return "command line";
        case ORIGIN_FILE:
        case ORIGIN_RHSM:
                (void) snprintf(buf, bufsz, "%s:%u", strna(o->file), o->line);
                return buf;
        }
        return "?";
}

char *config_server_url(const Config *c) {
        char *url = NULL;
        const char *prefix = c->prefix ? c->prefix : "";
        bool v6;
        size_t n;

        if (c->url) {
                url = strdup(c->url);
                if (url) {
                        n = strlen(url);
                        while (n > 0 && url[n - 1] == '/')
                                url[--n] = '\0';
                }
                return url;
        }
        if (!c->hostname)
                return NULL;
        v6 = strchr(c->hostname, ':') && c->hostname[0] != '[';
        if (asprintf(&url, "https://%s%s%s:%u%s%s", v6 ? "[" : "", c->hostname, v6 ? "]" : "", c->port,
                     prefix[0] == '/' || !prefix[0] ? "" : "/", prefix) < 0)
                return NULL;
        n = strlen(url);
        while (n > 0 && url[n - 1] == '/')
                url[--n] = '\0';
        return url;
}

/* Checks "https://host[:port][/path]". Never http://, even when insecure:
 * the client speaks TLS only (insecure skips verifying the certificate). */
static bool url_valid(const char *url) {
        const char *host, *end;

        if (strncmp(url, "https://", 8) == 0)
                host = url + 8;
        else
                return false;
        if (*host == '[') {
                end = strchr(host, ']');
                if (!end || end == host + 1)
                        return false;
                end++;
        } else {
                end = host + strcspn(host, ":/?#");
                if (end == host)
                        return false;
        }
        if (*end == ':') {
                uint16_t port;
                _cleanup_free_ char *p = strndup(end + 1, strcspn(end + 1, "/?#"));

                if (!p || parse_port(p, &port) < 0)
                        return false;
                end += 1 + strlen(p);
        }
        if (*end && *end != '/')
                return false;
        for (const char *s = url; *s; s++)
                if ((unsigned char) *s <= ' ' || *s == 0x7f)
                        return false;
        return true;
}

static int ca_dir_check(const char *dir) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int npem = 0;

        d = opendir(dir);
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                size_t n = strlen(de->d_name);

                if (n > 4 && strcmp(de->d_name + n - 4, ".pem") == 0)
                        npem++;
        }
        return npem;
}

/* A string key whose value must fit a server field (proto_check_text()). */
static int check_text_key(const Config *c, const char *section, const char *key, size_t max,
                          ConfigErrors *errors) {
        const ConfigKey *k = key_find(section, key);
        const char *v = *(char *const *) cfield_of(c, k);
        char err[PROTO_ERROR_MAX], where[512];

        if (!v || proto_check_text(k->key, v, max, err, sizeof err) >= 0)
                return 0;
        return errors_add(errors, origin_where(c, k, where, sizeof where), 0, "%s", err);
}

int config_validate(const Config *c, bool need_server, ConfigErrors *errors) {
        char where[512];
        int nerr = 0;

        if (c->splay_usec > c->interval_usec) {
                const ConfigKey *k = key_find("report", "splay");
                nerr += errors_add(errors, origin_where(c, k, where, sizeof where), 0,
                                   "splay must not exceed interval");
        }

        /* What the server refuses in every report is no mapping at all:
         * `print` and `run` would build it only to fail. */
        nerr += check_text_key(c, "host", "name", PROTO_NAME_MAX, errors);
        nerr += check_text_key(c, "host", "hypervisor_id_override", PROTO_FIELD_MAX, errors);
        if (c->name && c->name[0] == '#') {
                const ConfigKey *k = key_find("host", "name");
                nerr += errors_add(errors, origin_where(c, k, where, sizeof where), 0,
                                   "name = \"%s\" starts with '#', which the server refuses", c->name);
        }

        if (!need_server)
                return nerr;

        if (c->url) {
                const ConfigKey *k = key_find("server", "url");
                if (!url_valid(c->url))
                        nerr += errors_add(errors, origin_where(c, k, where, sizeof where), 0,
                                           "url = \"%s\" is not a valid https://HOST[:PORT]/PREFIX URL%s",
                                           c->url,
                                           strncasecmp(c->url, "http://", 7) == 0
                                                   ? " (hvmap speaks only https; insecure = yes skips "
                                                     "checking the server's certificate, not TLS)"
                                                   : "");
        } else if (!c->hostname)
                nerr += errors_add(errors, NULL, 0,
                                   "no server configured: set [server] url in hvmap.conf (e.g. "
                                   "https://satellite.example.com/rhsm), or hostname in rhsm.conf");
        else {
                _cleanup_free_ char *url = config_server_url(c);
                const ConfigKey *k = key_find("server", "hostname");

                if (!url || !url_valid(url))
                        nerr += errors_add(errors, origin_where(c, k, where, sizeof where), 0,
                                           "hostname = \"%s\" does not make a valid server URL",
                                           c->hostname);
        }

        if (!c->insecure) {
                const ConfigKey *k = key_find("server", "ca_dir");
                int r = c->ca_dir ? ca_dir_check(c->ca_dir) : -ENOENT;

                if (r < 0)
                        nerr += errors_add(errors, origin_where(c, k, where, sizeof where), 0,
                                           "CA directory \"%s\" cannot be read: %s; install the server's CA "
                                           "certificate there as a .pem file, or set [server] ca_dir",
                                           strna(c->ca_dir), strerror(-r));
                else if (r == 0)
                        nerr += errors_add(
                                errors, origin_where(c, k, where, sizeof where), 0,
                                "CA directory \"%s\" holds no *.pem file; install the server's CA "
                                "certificate there (e.g. katello-server-ca.pem)",
                                c->ca_dir);
        }
        return nerr;
}

static void format_value(const Config *c, const ConfigKey *k, char *buf, size_t bufsz) {
        const void *f = cfield_of(c, k);

        buf[0] = '\0';
        switch (k->type) {
        case CONFIG_STRING:
                (void) snprintf(buf, bufsz, "%s", strempty(*(char *const *) f));
                break;
        case CONFIG_SECRET:
                (void) snprintf(buf, bufsz, "%s", *(char *const *) f ? "********" : "");
                break;
        case CONFIG_BOOL:
                (void) snprintf(buf, bufsz, "%s", *(const bool *) f ? "yes" : "no");
                break;
        case CONFIG_DURATION:
                format_duration(buf, bufsz, *(const uint64_t *) f);
                break;
        case CONFIG_UINT:
                (void) snprintf(buf, bufsz, "%u", *(const uint32_t *) f);
                break;
        case CONFIG_ENUM:
                (void) snprintf(buf, bufsz, "%s", enum_names_of(k)[*(const int *) f]);
                break;
        case CONFIG_LIST: {
                char *const *l = *(char **const *) f;
                size_t off = 0;

                for (size_t i = 0; l && l[i] && off < bufsz; i++) {
                        int w = snprintf(buf + off, bufsz - off, "%s%s", i ? ", " : "", l[i]);
                        if (w < 0)
                                break;
                        off += (size_t) w;
                }
                break;
        }
        case CONFIG_LOG_LEVEL:
                (void) snprintf(buf, bufsz, "%s", log_level_to_string(*(const int *) f));
                break;
        }
}

void config_dump(const Config *c, FILE *f) {
        const char *section = NULL;

        for (size_t i = 0; c->files_read && c->files_read[i]; i++)
                (void) fprintf(f, "# read %s\n", c->files_read[i]);
        for (size_t i = 0; i < config_keys_count; i++) {
                const ConfigKey *k = &config_keys[i];
                char value[1024], where[512];

                if (!section || strcmp(section, k->section) != 0) {
                        section = k->section;
                        (void) fprintf(f, "%s[%s]\n", i ? "\n" : "", section);
                }
                format_value(c, k, value, sizeof value);
                (void) fprintf(f, "%s = %s", k->key, value);
                (void) fprintf(
                        f, "%*s# %s\n",
                        (int) (strlen(k->key) + strlen(value) < 40 ? 40 - strlen(k->key) - strlen(value)
                                                                   : 1),
                        "",
                        c->origins[i].kind == ORIGIN_DEFAULT ? "default"
                                                             : origin_where(c, k, where, sizeof where));
        }
}

void config_write_sample(FILE *f) {
        const char *section = NULL;

        (void) fprintf(
                f, "# hvmap.conf: every key with its default, commented out.\n"
                   "# Drop-ins in hvmap.conf.d/*.conf are read after this file, in lexical\n"
                   "# order; a later file wins. Values unset here come from the host's\n"
                   "# rhsm.conf where noted. Durations: 30s, 5min, 1h, 500ms; bare numbers are seconds.\n");
        for (size_t i = 0; i < config_keys_count; i++) {
                const ConfigKey *k = &config_keys[i];

                if (!section || strcmp(section, k->section) != 0) {
                        section = k->section;
                        (void) fprintf(f, "\n[%s]\n", section);
                }
                (void) fprintf(f, "# %s\n#%s = %s\n", k->help, k->key, strempty(k->default_value));
        }
}
