/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The agent's shared layer; see app.h. */
#include "agent/app.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/parse.h"
#include "util/strprintf.h"

uint64_t app_now_usec(int clock) {
        struct timespec ts;

        (void) clock_gettime((clockid_t) clock, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

void app_lock_holder_parse(const char *text, AppLockHolder *ret) {
        char pid[16] = "", verb[sizeof ret->verb] = "";
        uint64_t n = 0;

        *ret = (AppLockHolder){};
        if (sscanf(text, "%15s %15s", pid, verb) < 1)
                return;
        ret->pid = parse_uint64_range(pid, 1, INT32_MAX, &n) >= 0 ? (pid_t) n : 0;
        /* Only what hvmap itself writes: the file is ours, but it is read
         * by status for others to see. */
        if (strspn(verb, "abcdefghijklmnopqrstuvwxyz") == strlen(verb))
                memcpy(ret->verb, verb, sizeof verb);
}

int app_lock_holder_read(const char *state_dir, AppLockHolder *ret) {
        _cleanup_free_ char *path = strdup_printf("%s/lock", state_dir), *text = NULL;
        int r;

        *ret = (AppLockHolder){};
        if (!path)
                return -ENOMEM;
        r = read_file_capped(path, 64, &text, NULL);
        if (r < 0)
                return r;
        app_lock_holder_parse(text, ret);
        return 0;
}

int app_state_lock(const char *state_dir, const char *verb, AppLockHolder *ret_holder) {
        _cleanup_free_ char *path = strdup_printf("%s/lock", state_dir);
        _cleanup_close_ int fd = -1;
        char buf[64];
        ssize_t n;
        int len;

        if (!path)
                return -ENOMEM;
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                int e = errno;

                if (e != EWOULDBLOCK)
                        return -e;
                n = pread(fd, buf, sizeof buf - 1, 0);
                buf[n > 0 ? n : 0] = '\0';
                if (ret_holder)
                        app_lock_holder_parse(buf, ret_holder);
                return -EBUSY;
        }
        len = snprintf(buf, sizeof buf, "%d %s\n", (int) getpid(), verb);
        if (len < 0 || (size_t) len >= sizeof buf)
                return -EINVAL;
        if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t) len, 0) != len)
                return -errno ?: -EIO;
        return TAKE_FD(fd);
}

void app_secret_keys(const char *keys, bool remember) {
        if (!keys)
                return;
        for (const char *p = keys; *p;) {
                size_t l = strcspn(p, ",");
                const char *a = p, *e = p + l;

                while (a < e && strchr(" \t", *a))
                        a++;
                while (e > a && strchr(" \t", e[-1]))
                        e--;
                if (e > a) {
                        _cleanup_erase_ char *one = strndup(a, (size_t) (e - a));

                        if (one && remember)
                                (void) log_secret_register(one);
                        else if (one)
                                log_secret_unregister(one);
                }
                p += l;
                if (*p == ',')
                        p++;
        }
        if (remember)
                (void) log_secret_register(keys);
        else
                log_secret_unregister(keys);
}

static uint64_t system_now(void *userdata, int clock) {
        return app_now_usec(clock);
}

const AppClock app_clock_system = { .now = system_now };

char *app_format_time(uint64_t realtime_usec, char *buf, size_t bufsz) {
        time_t t = (time_t) (realtime_usec / USEC_PER_SEC);
        struct tm tm;

        if (realtime_usec == 0) {
                (void) snprintf(buf, bufsz, "never");
                return buf;
        }
        (void) gmtime_r(&t, &tm);
        (void) snprintf(buf, bufsz, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        return buf;
}

void app_state_dir_give_back(const char *dir) {
        static const char *const files[] = { "cert.pem", "key.pem", "consumer.json", "state.json" };
        _cleanup_close_ int fd = -1;
        struct stat st;

        if (geteuid() != 0)
                return;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 || fstat(fd, &st) < 0 || st.st_uid == 0)
                return;
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                struct stat fst;

                if (fstatat(fd, files[i], &fst, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(fst.st_mode) ||
                    fst.st_uid == st.st_uid)
                        continue;
                if (fchownat(fd, files[i], st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
                        log_warning_errno(errno,
                                          "Cannot give %s/%s to the state directory's owner (uid %u): %m; "
                                          "the service may not be able to read it",
                                          dir, files[i], (unsigned) st.st_uid);
        }
}

int app_load_config_with(const GlobalArgs *g, bool need_server, const ConfigOverride *overrides, size_t n,
                         Config *ret) {
        _cleanup_(config_errors_free) ConfigErrors errors = {};
        const char *config_dir = g->config_dir ? g->config_dir : HVMAP_CONFIG_DIR;
        const char *rhsm = g->rhsm_conf ? g->rhsm_conf : HVMAP_RHSM_CONF;
        Config c;
        int r;

        r = config_init(&c);
        if (r < 0)
                return log_error_errno(r, "Cannot initialise the configuration: %m"), EX_OSERR;
        r = config_load_main(&c, g->config_file, config_dir, rhsm, &errors);
        if (r >= 0 && g->uri)
                r = config_set(&c, "libvirt", "uri", g->uri, &errors) < 0 ? 1 : r;
        if (r >= 0 && g->state_dir)
                r = config_set(&c, "daemon", "state_dir", g->state_dir, &errors) < 0 ? 1 : r;
        for (size_t i = 0; r >= 0 && i < n; i++)
                if (config_set(&c, overrides[i].section, overrides[i].key, overrides[i].value, &errors) < 0)
                        r = 1;
        if (r >= 0 && g->debug)
                r = config_set(&c, "daemon", "log_level", "debug", &errors) < 0 ? 1 : r;
        if (r == 0)
                r = config_validate(&c, need_server, &errors);
        if (r < 0) {
                config_free(&c);
                return log_error_errno(r, "Cannot load the configuration from %s: %m", config_dir), EX_OSERR;
        }
        if (errors.n > 0) {
                for (size_t i = 0; i < errors.n; i++)
                        (void) fprintf(stderr, "%s\n", errors.lines[i]);
                (void) fprintf(stderr, "hvmap: %zu configuration error%s; nothing was started.\n", errors.n,
                               errors.n == 1 ? "" : "s");
                config_free(&c);
                return EX_CONFIG;
        }
        log_set_max_level(c.log_level);
        if (rhsm && *rhsm && !(c.rhsm_conf = strdup(rhsm))) {
                config_free(&c);
                return log_error_errno(ENOMEM, "Out of memory"), EX_OSERR;
        }
        *ret = c;
        return 0;
}

char *app_rhsm_server_url(const char *rhsm_conf) {
        _cleanup_(config_free) Config c = {};
        _cleanup_free_ char *text = NULL;
        int level = log_get_max_level();
        size_t len = 0;

        if (config_init(&c) < 0)
                return NULL;
        /* Its warnings were given when the configuration was loaded. */
        log_set_max_level(LOG_ERR);
        if (rhsm_conf && *rhsm_conf && read_file_capped(rhsm_conf, 1024 * 1024, &text, &len) >= 0)
                (void) config_parse_rhsm_text(&c, rhsm_conf, text, len);
        log_set_max_level(level);
        if (!c.hostname && !c.url)
                return strdup("https://subscription.rhsm.redhat.com:443/subscription");
        return config_server_url(&c);
}

/* Splits an https:// URL into host, port and prefix (no trailing '/'). */
static bool url_split(const char *url, char *host, size_t hostsz, unsigned *port, const char **prefix,
                      size_t *prefix_len) {
        const char *h, *end, *colon;

        if (!url || strncasecmp(url, "https://", 8) != 0)
                return false;
        h = url + 8;
        end = h + strcspn(h, "/");
        colon = h[0] == '[' ? strchr(h, ']') : h;
        colon = colon ? memchr(colon, ':', (size_t) (end - colon)) : NULL;
        if ((size_t) ((colon ? colon : end) - h) >= hostsz)
                return false;
        (void) snprintf(host, hostsz, "%.*s", (int) ((colon ? colon : end) - h), h);
        *port = 443;
        if (colon) {
                char digits[8];
                uint64_t p;

                if ((size_t) (end - colon - 1) >= sizeof digits)
                        return false;
                (void) snprintf(digits, sizeof digits, "%.*s", (int) (end - colon - 1), colon + 1);
                if (parse_uint64_range(digits, 1, 65535, &p) < 0)
                        return false;
                *port = (unsigned) p;
        }
        *prefix = end;
        *prefix_len = strlen(end);
        while (*prefix_len > 0 && end[*prefix_len - 1] == '/')
                (*prefix_len)--;
        return true;
}

bool app_same_server(const char *a, const char *b) {
        char ha[256], hb[256];
        unsigned pa, pb;
        const char *xa, *xb;
        size_t la, lb;

        if (!url_split(a, ha, sizeof ha, &pa, &xa, &la) || !url_split(b, hb, sizeof hb, &pb, &xb, &lb))
                return false;
        return strcasecmp(ha, hb) == 0 && pa == pb && la == lb && memcmp(xa, xb, la) == 0;
}

char *app_default_reporter_id(const char *machine_id_path) {
        _cleanup_free_ char *mid = NULL;
        char host[256];
        size_t len = 0;

        if (gethostname(host, sizeof host) < 0 || !host[0])
                return NULL;
        host[sizeof host - 1] = '\0';
        if (read_file_capped(machine_id_path, 4096, &mid, &len) < 0)
                return NULL;
        mid[strcspn(mid, " \t\r\n")] = '\0';
        if (!mid[0])
                return NULL;
        return strdup_printf("%s-%s", host, mid);
}

void app_host_config(const Config *c, HostConfig *ret) {
        host_config_init(ret);
        ret->uri = c->uri;
        ret->read_only = c->read_only;
        ret->keepalive_interval_sec = (int) (c->keepalive_interval_usec / USEC_PER_SEC);
        ret->keepalive_count = c->keepalive_count;
        ret->resync_interval_usec = c->resync_usec;
        ret->id_mode = c->hypervisor_id;
        ret->id_override = c->hypervisor_id_override;
        ret->flavour = c->flavour;
        ret->include = (const char *const *) c->include_guests;
        ret->exclude = (const char *const *) c->exclude_guests;
        ret->report_inactive = c->report_inactive;
        ret->guest_cap = c->max_guests;
}

int app_server_config(const Config *c, ProtoServerConfig *ret, char **ret_url) {
        char *url = config_server_url(c);

        if (!url)
                return c->url || c->hostname ? -ENOMEM : -EINVAL;
        *ret = (ProtoServerConfig){
                .base_url = url,
                .ca_dir = c->ca_dir,
                .insecure = c->insecure,
                .timeout_usec = c->timeout_usec,
                .connect_timeout_usec = c->timeout_usec < PROTO_DEFAULT_CONNECT_TIMEOUT_USEC
                                                ? c->timeout_usec
                                                : PROTO_DEFAULT_CONNECT_TIMEOUT_USEC,
                .proxy_hostname = c->proxy_hostname,
                .proxy_port = c->proxy_hostname ? (uint16_t) c->proxy_port : 0,
                .proxy_user = c->proxy_user,
                .proxy_password = c->proxy_password,
                .no_proxy = c->no_proxy,
        };
        *ret_url = url;
        return 0;
}

int app_host_wait_synced(const HostConfig *hc, uint64_t timeout_usec, Host **ret_host,
                         HostSnapshot **ret_snap) {
        uint64_t deadline = app_now_usec(CLOCK_MONOTONIC) + timeout_usec;
        _cleanup_close_ int sfd = -1;
        sigset_t mask;
        Host *h = NULL;
        int r;

        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;
        sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sfd < 0)
                return -errno;

        r = host_start(hc, &h);
        if (r < 0)
                return r;
        for (;;) {
                HostSnapshot *s = host_snapshot(h);
                struct pollfd p[2] = {
                        { .fd = host_fd(h), .events = POLLIN },
                        { .fd = sfd, .events = POLLIN },
                };
                uint64_t now = app_now_usec(CLOCK_MONOTONIC);

                if (s && s->synced && s->conn_state == HOST_CONN_CONNECTED) {
                        *ret_host = h;
                        *ret_snap = s;
                        return 0;
                }
                /* One-shot commands fail fast: the first failed attempt says
                 * enough (the daemon, not this, keeps retrying). */
                if (s && s->connect_failures > 0 && s->conn_state != HOST_CONN_CONNECTED) {
                        *ret_host = h;
                        *ret_snap = s;
                        return -ECONNREFUSED;
                }
                if (now >= deadline) {
                        *ret_host = h;
                        *ret_snap = s;
                        return -ETIMEDOUT;
                }
                host_snapshot_unref(s);
                r = poll(p, 2, (int) ((deadline - now + 999) / 1000));
                if (r < 0 && errno != EINTR) {
                        r = -errno;
                        host_stop(h);
                        return r;
                }
                if (p[1].revents & POLLIN) {
                        host_stop(h);
                        return -EINTR;
                }
                if (p[0].revents & POLLIN)
                        host_fd_clear(h);
        }
}
