/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `hvmap doctor`: every check a support engineer would ask for, run as the
 * service's user, one line each with what to do about a failure: the
 * configuration, SELinux, the state directory, libvirt (read-only, and why
 * not: socket, permissions, polkit), the hypervisor id, the CA directory,
 * the proxy, a real TLS handshake with the server (GET /status) and its
 * clock, and the stored identity (GET /consumers/{uuid}). It changes
 * nothing: no registration, no report, no file written. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "agent/app.h"
#include "agent/report-io.h"
#include "agent/verbs.h"
#include "host/host.h"
#include "util/cleanup-libs.h"
#include "util/fileio.h"
#include "util/fs-check.h"
#include "util/log.h"
#include "util/parse.h"
#include "util/strprintf.h"

/* Each check is bounded: libvirt's first listing, a server request, a TCP
 * connect to the proxy. */
#define DOCTOR_LIBVIRT_TIMEOUT_USEC (15 * USEC_PER_SEC)
#define DOCTOR_REQUEST_TIMEOUT_USEC (20 * USEC_PER_SEC)
#define DOCTOR_CONNECT_TIMEOUT_MSEC 5000
/* A clock this far from the server's fails: certificates the server issues
 * are "not yet valid" here, and Candlepin's "last check-in" lies. */
#define DOCTOR_SKEW_WARN_SEC 60
#define DOCTOR_SKEW_FAIL_SEC 300
/* Candlepin replaces an identity certificate within this of its end when
 * GET /consumers/{uuid} asks (the fake's README, §9 of the protocol
 * notes): then only the daemon, which stores the new one, may ask. */
#define DOCTOR_RENEWAL_WINDOW_SEC (90 * 86400)
/* The tail of the audit log searched for denials. */
#define AUDIT_LOG "/var/log/audit/audit.log"
#define AUDIT_TAIL_BYTES (16 * 1024 * 1024)

typedef struct Doctor {
        unsigned failed, warned;
        const char *user; /* the user the checks run as */
} Doctor;

typedef enum Verdict { V_OK, V_WARN, V_FAIL, V_SKIP } Verdict;

_printf_(4, 5) static void report(Doctor *d, Verdict v, const char *check, const char *format, ...) {
        static const char *const words[] = {
                [V_OK] = "ok", [V_WARN] = "WARN", [V_FAIL] = "FAIL", [V_SKIP] = "skip"
        };
        char text[2048];
        va_list ap;

        va_start(ap, format);
        (void) vsnprintf(text, sizeof text, format, ap);
        va_end(ap);
        /* One line per check, whatever a server or libvirt put in a message. */
        for (char *p = text; *p; p++)
                if ((unsigned char) *p < 0x20)
                        *p = ' ';
        (void) printf("%-4s  %-13s %s\n", words[v], check, text);
        (void) fflush(stdout);
        if (v == V_FAIL)
                d->failed++;
        else if (v == V_WARN)
                d->warned++;
}

/* ---- SELinux (as the caller: the audit log is root's) -------------------- */

static void check_selinux(Doctor *d) {
        _cleanup_free_ char *mode = NULL, *line = NULL, *first = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        time_t since = time(NULL) - 86400;
        unsigned denials = 0;
        size_t len = 0, n = 0;
        struct stat st;

        if (read_file_capped("/sys/fs/selinux/enforce", 16, &mode, &len) < 0) {
                report(d, V_SKIP, "selinux", "SELinux is not enabled on this host");
                return;
        }
        f = fopen(AUDIT_LOG, "re");
        if (!f) {
                report(d, mode[0] == '1' ? V_WARN : V_OK, "selinux",
                       "%s; cannot read %s (%s): denials cannot be checked%s",
                       mode[0] == '1' ? "enforcing" : "permissive", AUDIT_LOG, strerror(errno),
                       errno == EACCES ? " (run as root)" : " (install audit)");
                return;
        }
        if (fstat(fileno(f), &st) == 0 && st.st_size > AUDIT_TAIL_BYTES)
                (void) fseeko(f, st.st_size - AUDIT_TAIL_BYTES, SEEK_SET);
        /* type=AVC msg=audit(1700000000.123:45): avc:  denied  { read } for  pid=1 comm="hvmap" ... */
        while (getline(&line, &n, f) > 0) {
                const char *ts = strstr(line, "msg=audit(");
                unsigned long long t;

                if (!strstr(line, "avc:  denied") || !strstr(line, "comm=\"hvmap\"") || !ts ||
                    sscanf(ts, "msg=audit(%llu.", &t) != 1 || (time_t) t < since)
                        continue;
                if (!first)
                        first = strndup(line, strcspn(line, "\n"));
                denials++;
        }
        if (denials == 0)
                report(d, V_OK, "selinux", "%s; no hvmap denials in %s in the last 24 h",
                       mode[0] == '1' ? "enforcing" : "permissive", AUDIT_LOG);
        else
                report(d, V_FAIL, "selinux",
                       "%s; %u hvmap denial%s in the last 24 h, the first: %s; install hvmap-selinux, run "
                       "'restorecon -R /etc/hvmap /var/lib/hvmap', and report the denial if it persists",
                       mode[0] == '1' ? "enforcing" : "permissive", denials, denials == 1 ? "" : "s",
                       strna(first));
}

/* ---- the service's user -------------------------------------------------- */

/* Runs the rest as the owner of the state directory, as the service does
 * (User=, with its groups, its home, no session environment). */
static int become_service_user(Doctor *d, const Config *c) {
        static char name[64];
        struct passwd *pw;
        struct stat st;

        if (stat(c->state_dir, &st) < 0) {
                report(d, V_WARN, "user",
                       "the state directory %s does not exist yet (the service creates it): the checks run "
                       "as uid %u",
                       c->state_dir, (unsigned) geteuid());
                return 0;
        }
        if (st.st_uid == geteuid()) {
                pw = getpwuid(st.st_uid);
                (void) snprintf(name, sizeof name, "%s", pw ? pw->pw_name : "?");
                d->user = name;
                report(d, V_OK, "user", "running as %s (uid %u), the owner of %s", name,
                       (unsigned) st.st_uid, c->state_dir);
                return 0;
        }
        if (geteuid() != 0) {
                report(d, V_WARN, "user",
                       "running as uid %u, but %s belongs to uid %u: run 'hvmap doctor' as root to check as "
                       "the service's user",
                       (unsigned) geteuid(), c->state_dir, (unsigned) st.st_uid);
                return 0;
        }
        pw = getpwuid(st.st_uid);
        if (!pw) {
                report(d, V_FAIL, "user",
                       "%s belongs to uid %u, which has no passwd entry: the service (User=hvmap) cannot be "
                       "that user; chown -R hvmap:hvmap %s",
                       c->state_dir, (unsigned) st.st_uid, c->state_dir);
                return -ESRCH;
        }
        (void) snprintf(name, sizeof name, "%s", pw->pw_name);
        if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
            setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0) {
                report(d, V_FAIL, "user", "cannot switch to %s (uid %u): %s", name, (unsigned) pw->pw_uid,
                       strerror(errno));
                return -errno;
        }
        (void) setenv("HOME", pw->pw_dir, 1);
        (void) setenv("USER", pw->pw_name, 1);
        (void) unsetenv("XDG_RUNTIME_DIR");
        (void) unsetenv("XDG_CONFIG_HOME");
        (void) unsetenv("XDG_CACHE_HOME");
        d->user = name;
        report(d, V_OK, "user", "running the checks as %s (uid %u), the owner of %s, as the service does",
               name, (unsigned) pw->pw_uid, c->state_dir);
        return 0;
}

static void check_state_dir(Doctor *d, const Config *c) {
        struct stat st;

        if (stat(c->state_dir, &st) < 0)
                report(d, errno == ENOENT ? V_WARN : V_FAIL, "state-dir", "%s: %s%s", c->state_dir,
                       strerror(errno),
                       errno == ENOENT ? " (systemd creates it when the service starts)" : "");
        else if (!S_ISDIR(st.st_mode))
                report(d, V_FAIL, "state-dir", "%s is not a directory: remove it", c->state_dir);
        else if (access(c->state_dir, R_OK | W_OK | X_OK) < 0)
                report(d, V_FAIL, "state-dir",
                       "%s (mode %04o, uid %u) is not writable by %s: %s; chown it to the "
                       "service's user",
                       c->state_dir, (unsigned) (st.st_mode & 07777), (unsigned) st.st_uid, strna(d->user),
                       strerror(errno));
        else
                report(d, V_OK, "state-dir", "%s is writable (mode %04o)", c->state_dir,
                       (unsigned) (st.st_mode & 07777));
}

/* ---- libvirt ------------------------------------------------------------- */

/* Why a libvirt connection failed, from the socket it needs. */
static void explain_libvirt(Doctor *d, const Config *c, const HostSnapshot *s, int r) {
        char where[512], mode[160] = "";
        const char *err = s && s->last_error ? s->last_error : strerror(-r);
        const char *sock = NULL;
        struct stat st;

        (void) host_uri_describe_socket(c->uri, c->read_only, where, sizeof where);
        if (strncmp(where, "socket ", 7) == 0)
                sock = where + 7;
        else if (!c->uri || strncmp(c->uri, "qemu", 4) == 0) {
                /* The modular daemon's socket, else the monolithic one. */
                sock = c->read_only ? "/run/libvirt/virtqemud-sock-ro" : "/run/libvirt/virtqemud-sock";
                if (access(sock, F_OK) < 0 && errno == ENOENT)
                        sock = c->read_only ? "/run/libvirt/libvirt-sock-ro" : "/run/libvirt/libvirt-sock";
        }
        if (sock && stat(sock, &st) == 0)
                (void) snprintf(mode, sizeof mode, " (mode %04o, uid %u, gid %u)",
                                (unsigned) (st.st_mode & 07777), (unsigned) st.st_uid, (unsigned) st.st_gid);
        if (sock && access(sock, F_OK) < 0 && errno == ENOENT)
                report(d, V_FAIL, "libvirt",
                       "cannot connect to %s: the socket %s does not exist: is libvirtd (or virtqemud) "
                       "running? "
                       "systemctl start libvirtd.socket (libvirt said: %s)",
                       c->uri ? c->uri : "libvirt's default URI", sock, err);
        else if (sock && (access(sock, R_OK | W_OK) < 0 || strcasestr(err, "permission denied")))
                report(d, V_FAIL, "libvirt",
                       "user %s may not use the socket %s%s: %s; libvirt's read-only socket is normally "
                       "0777 (unix_sock_ro_perms in libvirtd.conf / virtqemud.conf), the read-write one "
                       "needs "
                       "the libvirt group or polkit",
                       strna(d->user), sock, mode, err);
        else if (strcasestr(err, "polkit") || strcasestr(err, "authentication"))
                report(d, V_FAIL, "libvirt",
                       "libvirt refused user %s (%s): allow it with a polkit rule for "
                       "org.libvirt.unix.monitor (read-only) or use the read-only socket ([libvirt] "
                       "read_only = "
                       "yes)",
                       strna(d->user), err);
        else
                report(d, V_FAIL, "libvirt", "cannot list the guests through %s (%s%s): %s",
                       c->uri ? c->uri : "libvirt's default URI", where, mode, err);
}

static HostSnapshot *check_libvirt(Doctor *d, const Config *c) {
        HostSnapshot *s = NULL;
        Host *h = NULL;
        HostConfig hc;
        int r;

        app_host_config(c, &hc);
        r = app_host_wait_synced(&hc, DOCTOR_LIBVIRT_TIMEOUT_USEC, &h, &s);
        if (r >= 0)
                report(d, V_OK, "libvirt", "listed %zu guest%s (%zu domain%s) %sthrough %s", s->n_guests,
                       s->n_guests == 1 ? "" : "s", s->n_domains, s->n_domains == 1 ? "" : "s",
                       c->read_only ? "read-only " : "", strna(s->uri));
        else if (r == -ETIMEDOUT && s && s->connect_failures == 0)
                report(d, V_FAIL, "libvirt",
                       "no answer from libvirt within %llu s (%s): libvirtd hangs? systemctl status "
                       "libvirtd",
                       (unsigned long long) (DOCTOR_LIBVIRT_TIMEOUT_USEC / USEC_PER_SEC),
                       c->uri ? c->uri : "libvirt's default URI");
        else
                explain_libvirt(d, c, s, r);
        host_stop(h);
        if (r < 0)
                s = host_snapshot_unref(s);
        return s;
}

static void check_hypervisor_id(Doctor *d, const Config *c, const HostSnapshot *s) {
        if (!s)
                report(d, V_SKIP, "hypervisor-id", "needs libvirt (above)");
        else if (!s->hypervisor_id)
                report(d, V_FAIL, "hypervisor-id", "%s", strna(s->identity_error));
        else if (host_id_is_bogus(s->hypervisor_id))
                report(d, V_FAIL, "hypervisor-id",
                       "%s is a known bogus UUID that many machines share (firmware placeholder): the "
                       "server "
                       "would merge them into one host; set [host] hypervisor_id = hostname, or a unique "
                       "hypervisor_id_override",
                       s->hypervisor_id);
        else
                report(d, V_OK, "hypervisor-id", "%s (hypervisor_id = %s)", s->hypervisor_id,
                       host_id_mode_to_string(c->hypervisor_id));
}

/* ---- the server ---------------------------------------------------------- */

static void check_ca(Doctor *d, const Config *c) {
        _cleanup_(closedirp) DIR *dir = NULL;
        _cleanup_free_ char *line = NULL;
        size_t n = 0;
        unsigned certs = 0, bad = 0;
        struct dirent *de;

        if (c->insecure) {
                report(d, V_WARN, "ca", "insecure = yes: the server's certificate is not checked at all");
                return;
        }
        if (!c->ca_dir) {
                report(d, V_FAIL, "ca", "no CA directory configured: set [server] ca_dir");
                return;
        }
        dir = opendir(c->ca_dir);
        if (!dir) {
                report(d, V_FAIL, "ca", "cannot read %s as %s: %s", c->ca_dir, strna(d->user),
                       strerror(errno));
                return;
        }
        while ((de = readdir(dir))) {
                size_t namelen = strlen(de->d_name);
                _cleanup_free_ char *p = NULL;
                _cleanup_fclose_ FILE *f = NULL;

                if (namelen < 5 || strcmp(de->d_name + namelen - 4, ".pem") != 0)
                        continue;
                p = strdup_printf("%s/%s", c->ca_dir, de->d_name);
                f = p ? fopen(p, "re") : NULL;
                if (!f) {
                        bad++;
                        continue;
                }
                /* Counted, not verified: the TLS handshake below is the
                 * real test of the right CA. */
                while (getline(&line, &n, f) > 0)
                        if (strncmp(line, "-----BEGIN CERTIFICATE-----", 27) == 0)
                                certs++;
        }
        if (certs == 0)
                report(d, V_FAIL, "ca",
                       "no readable CA certificate (*.pem) in %s%s: put the server's CA there (Satellite: "
                       "/pub/katello-server-ca.crt)",
                       c->ca_dir, bad ? " (some cannot be opened)" : "");
        else
                report(d, V_OK, "ca", "%u CA certificate%s in %s", certs, certs == 1 ? "" : "s", c->ca_dir);
}

/* A TCP connection to host:port within the timeout; 0 or -errno. */
static int tcp_probe(const char *host, unsigned port) {
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
        char service[8];
        int r = -EHOSTUNREACH;

        (void) snprintf(service, sizeof service, "%u", port);
        if (getaddrinfo(host, service, &hints, &ai) != 0)
                return -EHOSTUNREACH;
        for (struct addrinfo *a = ai; a; a = a->ai_next) {
                _cleanup_close_ int fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                struct pollfd p = { .fd = fd, .events = POLLOUT };
                socklen_t sl = sizeof r;
                int e = 0;

                if (fd < 0)
                        continue;
                if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS) {
                        r = -errno;
                        continue;
                }
                if (poll(&p, 1, DOCTOR_CONNECT_TIMEOUT_MSEC) <= 0) {
                        r = -ETIMEDOUT;
                        continue;
                }
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) < 0 || e != 0) {
                        r = -(e ? e : errno);
                        continue;
                }
                r = 0;
                break;
        }
        freeaddrinfo(ai);
        return r;
}

static void check_proxy(Doctor *d, const Config *c) {
        const char *env = getenv("HTTPS_PROXY") ? getenv("HTTPS_PROXY") : getenv("https_proxy");
        int r;

        if (!c->proxy_hostname) {
                if (env && *env)
                        report(d, V_WARN, "proxy",
                               "none configured, but HTTPS_PROXY=%s is set here; the service does not see "
                               "this "
                               "shell's environment: set [proxy] hostname and port if it is needed",
                               env);
                else
                        report(d, V_SKIP, "proxy", "none configured");
                return;
        }
        r = tcp_probe(c->proxy_hostname, c->proxy_port);
        if (r < 0)
                report(d, V_FAIL, "proxy",
                       "cannot connect to the proxy %s:%u: %s; check [proxy] hostname and "
                       "port, and that the proxy runs",
                       c->proxy_hostname, c->proxy_port, strerror(-r));
        else
                report(d, V_OK, "proxy", "%s:%u accepts connections", c->proxy_hostname, c->proxy_port);
}

/* What the doctor keeps of one answer. */
typedef struct Answer {
        bool done;
        ProtoResultKind kind;
        long http_status;
        int error;
        char *message;
        time_t server_date;
        char *version;
        bool cert_changed;
} Answer;

static void answer_done(Answer *a) {
        free(a->message);
        free(a->version);
}

static void on_answer(ProtoClient *c, const ProtoResult *res, void *userdata) {
        Answer *a = userdata;

        a->done = true;
        a->kind = res->kind;
        a->http_status = res->http_status;
        a->error = res->error;
        a->message = res->message ? strdup(res->message) : NULL;
        a->server_date = res->server_date;
        a->cert_changed = res->cert_changed;
        if (res->status)
                a->version =
                        strdup_printf("%s-%s", strna(res->status->version), strna(res->status->release));
}

/* One request, run to its answer. 0, or -errno when it could not start. */
static int call(sd_event *e, ProtoClient *client, const ProtoRequest *req, Answer *ret) {
        int r;

        *ret = (Answer){};
        r = proto_client_start(client, req, on_answer, ret);
        if (r < 0)
                return r;
        /* The request's own timeouts bound this. */
        while (!ret->done) {
                r = sd_event_run(e, UINT64_MAX);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void explain_server(Doctor *d, const Config *c, const char *url, const Answer *a) {
        if (a->kind == PROTO_RESULT_LOCAL)
                report(d, V_FAIL, "server", "%s: nothing was sent: check ca_dir and the client certificate",
                       strna(a->message));
        else if (a->error == -EPERM)
                report(d, V_FAIL, "server",
                       "TLS handshake with %s failed: %s; the server's certificate is not signed by a CA in "
                       "%s, "
                       "or is not for that host name: put the server's CA in ca_dir (Satellite: "
                       "/pub/katello-server-ca.crt)",
                       url, strna(a->message), strna(c->ca_dir));
        else if (a->error == -ECONNREFUSED)
                report(d, V_FAIL, "server",
                       "%s is unreachable: nothing accepts connections there (%s); check [server] url / "
                       "hostname and port, the firewall, and that the server runs",
                       url, strna(a->message));
        else if (a->error == -EHOSTUNREACH)
                report(d, V_FAIL, "server",
                       "%s is unreachable: the host name does not resolve (%s); check [server] "
                       "hostname and DNS%s",
                       url, strna(a->message), c->proxy_hostname ? ", and the proxy" : "");
        else if (a->error == -ETIMEDOUT)
                report(d, V_FAIL, "server",
                       "%s is unreachable: no answer within %llu s (%s); a firewall dropping packets, or a "
                       "proxy needed?",
                       url, (unsigned long long) (DOCTOR_REQUEST_TIMEOUT_USEC / USEC_PER_SEC),
                       strna(a->message));
        else if (a->http_status == 404)
                report(d, V_FAIL, "server",
                       "%s answered 404 for /status: the path prefix is probably wrong (Candlepin: "
                       "/candlepin, "
                       "Satellite: /rhsm, hosted: /subscription): %s",
                       url, strna(a->message));
        else
                report(d, V_FAIL, "server", "%s: %s", url, strna(a->message));
}

static void check_clock(Doctor *d, const Answer *a) {
        long long skew;

        if (!a->server_date) {
                report(d, V_SKIP, "clock", "the server sent no Date header");
                return;
        }
        skew = (long long) time(NULL) - (long long) a->server_date;
        if (llabs(skew) > DOCTOR_SKEW_FAIL_SEC)
                report(d, V_FAIL, "clock",
                       "this host's clock is %lld s %s the server's: certificates the server issues are not "
                       "valid yet here, and check-in times are wrong; enable time synchronisation (chronyd, "
                       "systemd-timesyncd)",
                       llabs(skew), skew > 0 ? "ahead of" : "behind");
        else
                report(d, llabs(skew) > DOCTOR_SKEW_WARN_SEC ? V_WARN : V_OK, "clock",
                       "within %lld s of the server's (its Date header)", llabs(skew));
}

static void check_identity(Doctor *d, const Config *c, sd_event *e, ProtoClient *client, const char *url,
                           bool server_ok) {
        _cleanup_free_ char *err = NULL;
        _cleanup_(answer_done) Answer a = {};
        ProtoIdentity *id = NULL;
        bool own = report_identity_own(c, url, NULL, NULL);
        time_t now = time(NULL);
        char until[64];
        int r;

        r = own ? proto_identity_load(c->state_dir, &id, &err)
                : proto_identity_load_rhsm(c->rhsm_identity_dir, &id, &err);
        if (r == -ENOENT) {
                if (own && c->activation_key_file && c->org) {
                        _cleanup_erase_ char *text = NULL;
                        char reason[256] = "";
                        size_t len;

                        r = read_file_trusted(c->activation_key_file, 4096, 0, &text, &len, reason,
                                              sizeof reason);
                        if (r < 0)
                                report(d, V_FAIL, "identity",
                                       "not registered, and %s cannot read the activation key file %s: %s; "
                                       "the "
                                       "daemon cannot register",
                                       strna(d->user), c->activation_key_file,
                                       reason[0] ? reason : strerror(-r));
                        else
                                report(d, V_WARN, "identity",
                                       "not registered yet; the daemon registers in organization %s with "
                                       "the "
                                       "activation key in %s (whether the server accepts the key shows only "
                                       "then: hvmap status)",
                                       c->org, c->activation_key_file);
                } else
                        report(d, V_FAIL, "identity", "not registered: run 'hvmap register'%s",
                               own ? "" : " (identity_source = rhsm: subscription-manager register)");
                return;
        }
        if (r < 0) {
                report(d, V_FAIL, "identity", "the identity in %s is unusable: %s%s",
                       own ? c->state_dir : c->rhsm_identity_dir, strna(err),
                       r == -EACCES ? " (is the state directory the service user's?)" : "");
                return;
        }
        if (own && id->server_url && !app_same_server(id->server_url, url)) {
                report(d, V_FAIL, "identity",
                       "consumer %s was registered with %s, but the configured server is %s: run 'hvmap "
                       "register "
                       "--force'",
                       id->uuid, id->server_url, url);
                goto out;
        }
        if (!server_ok) {
                report(d, V_SKIP, "identity", "consumer %s: needs the server (above)", id->uuid);
                goto out;
        }
        /* GET /consumers/{uuid} may make Candlepin replace a certificate
         * near its end, which only the daemon stores: then the serials, a
         * read that authenticates the same way. */
        {
                bool near_end = id->not_after - now < DOCTOR_RENEWAL_WINDOW_SEC;
                ProtoRequest req = {
                        .call = near_end ? PROTO_CALL_SERIALS : PROTO_CALL_GET_CONSUMER,
                        .identity = id,
                };

                r = call(e, client, &req, &a);
                if (r < 0) {
                        report(d, V_FAIL, "identity", "cannot ask the server about consumer %s: %s",
                               id->uuid, strerror(-r));
                        goto out;
                }
        }
        app_format_time((uint64_t) id->not_after * USEC_PER_SEC, until, sizeof until);
        if (a.kind == PROTO_RESULT_OK) {
                if (id->not_after <= now)
                        report(d, V_FAIL, "identity",
                               "consumer %s: the certificate expired at %s: run 'hvmap register "
                               "--force'",
                               id->uuid, until);
                else
                        report(d, id->not_after - now < 30 * 86400 ? V_WARN : V_OK, "identity",
                               "the server accepts consumer %s in organization %s (certificate valid until "
                               "%s)%s",
                               id->uuid, strna(id->owner), until,
                               a.cert_changed ? "; the server holds a newer certificate, which the daemon "
                                                "stores at "
                                                "its next identity check"
                                              : "");
        } else if (a.kind == PROTO_RESULT_GONE)
                report(d, V_FAIL, "identity",
                       "the server deleted consumer %s (an administrator removed this host): run 'hvmap "
                       "register' "
                       "to report again (%s)",
                       id->uuid, strna(a.message));
        else if (a.kind == PROTO_RESULT_AUTH)
                report(d, V_FAIL, "identity",
                       "the server refuses the identity of consumer %s (HTTP %ld): its certificate was "
                       "replaced "
                       "elsewhere or belongs to another server; run 'hvmap register --force' (%s)",
                       id->uuid, a.http_status, strna(a.message));
        else
                report(d, V_FAIL, "identity", "consumer %s: %s", id->uuid, strna(a.message));
out:
        proto_identity_free(id);
}

static void check_server(Doctor *d, const Config *c) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_free_ char *url = NULL;
        _cleanup_(answer_done) Answer a = {};
        ProtoClient *client = NULL;
        ProtoServerConfig sc;
        ProtoRequest req = { .call = PROTO_CALL_STATUS };
        bool ok = false;
        int r;

        r = app_server_config(c, &sc, &url);
        if (r < 0) {
                report(d, V_FAIL, "server", "no server configured: set [server] url or hostname");
                return;
        }
        if (sc.timeout_usec == 0 || sc.timeout_usec > DOCTOR_REQUEST_TIMEOUT_USEC)
                sc.timeout_usec = DOCTOR_REQUEST_TIMEOUT_USEC;
        if (sc.connect_timeout_usec == 0 || sc.connect_timeout_usec > sc.timeout_usec)
                sc.connect_timeout_usec = sc.timeout_usec;
        r = sd_event_new(&e);
        if (r >= 0)
                r = proto_client_new(e, &sc, &client);
        if (r < 0) {
                report(d, V_FAIL, "server", "cannot set up the HTTPS client for %s: %s", url, strerror(-r));
                return;
        }
        r = call(e, client, &req, &a);
        if (r < 0)
                report(d, V_FAIL, "server", "cannot ask %s: %s", url, strerror(-r));
        else if (a.kind == PROTO_RESULT_OK) {
                ok = true;
                report(d, V_OK, "server", "GET %s/status: %s, Candlepin %s", url,
                       c->insecure ? "TLS (not verified: insecure)" : "TLS verified", strna(a.version));
        } else
                explain_server(d, c, url, &a);
        if (r >= 0 && a.http_status > 0)
                check_clock(d, &a);
        else
                report(d, V_SKIP, "clock", "needs an answer from the server");
        check_identity(d, c, e, client, url, ok);
        proto_client_free(client);
}

static void doctor_help(void) {
        (void) printf("Usage: hvmap doctor\n"
                      "\n"
                      "Checks, as the service's user (the owner of the state directory; run it as\n"
                      "root), everything hvmap needs: the configuration, SELinux, the state directory,\n"
                      "libvirt (read-only), the hypervisor id, the CA directory, the proxy, a TLS\n"
                      "handshake with the server and its clock, and the stored identity. One line per\n"
                      "check, with what to do about a failure. Changes nothing.\n"
                      "\n"
                      "Exit status: 0 every check passed (warnings allowed), 1 a check failed,\n"
                      "64 usage, 78 the configuration does not load.\n");
}

int verb_doctor(const GlobalArgs *g, int argc, char *argv[]) {
        HostSnapshot *s = NULL;
        Doctor d = {};
        Config c;
        int r;

        if (argc > 1) {
                if (streq_ptr(argv[1], "--help") || streq_ptr(argv[1], "-h")) {
                        doctor_help();
                        return EX_OK;
                }
                (void) fprintf(stderr, "hvmap doctor: unexpected argument '%s'; see 'hvmap doctor --help'\n",
                               argv[1]);
                return EX_USAGE;
        }
        r = app_load_config(g, true, &c);
        if (r != 0) {
                report(&d, V_FAIL, "config",
                       "the configuration has errors (above): fix them; 'hvmap config --check' shows the "
                       "effective values");
                return r;
        }
        /* Each check says what went wrong on its own line; the modules'
         * progress and warnings would only repeat it. */
        if (!g->debug)
                log_set_max_level(LOG_ERR);
        report(&d, V_OK, "config", "valid: server %s, state directory %s", strna(c.url ? c.url : c.hostname),
               c.state_dir);
        check_selinux(&d);
        if (become_service_user(&d, &c) < 0) {
                config_free(&c);
                return 1;
        }
        /* The service names the system's libvirt (hvmap.service sets
         * LIBVIRT_DEFAULT_URI); a non-root user would get its session's. */
        if (!c.uri && !getenv("LIBVIRT_DEFAULT_URI"))
                (void) setenv("LIBVIRT_DEFAULT_URI", "qemu:///system", 1);
        check_state_dir(&d, &c);
        s = check_libvirt(&d, &c);
        check_hypervisor_id(&d, &c, s);
        host_snapshot_unref(s);
        check_ca(&d, &c);
        check_proxy(&d, &c);
        check_server(&d, &c);
        config_free(&c);
        (void) printf("%u check%s failed, %u warning%s\n", d.failed, d.failed == 1 ? "" : "s", d.warned,
                      d.warned == 1 ? "" : "s");
        return d.failed > 0 ? 1 : EX_OK;
}
