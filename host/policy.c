/* SPDX-License-Identifier: GPL-2.0-or-later */
/* host/'s small rules: configuration defaults and names, the hypervisor
 * flavour and Xen's control domain, guest filters, reconnect backoff, and
 * what a URI connects to. Pure. */
#define HVMAP_HOST_INTERNAL
#include "host/host-internal.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/cleanup.h"

void host_config_init(HostConfig *cfg) {
        *cfg = (HostConfig){
                .uri = NULL,
                .read_only = true,
                .keepalive_interval_sec = HOST_KEEPALIVE_INTERVAL_SEC_DEFAULT,
                .keepalive_count = HOST_KEEPALIVE_COUNT_DEFAULT,
                .resync_interval_usec = HOST_RESYNC_INTERVAL_USEC_DEFAULT,
                .id_mode = HOST_ID_MODE_UUID,
                .flavour = HOST_FLAVOUR_AUTO,
                .guest_cap = HOST_GUEST_CAP_DEFAULT,
                .machine_id_path = HOST_MACHINE_ID_PATH_DEFAULT,
        };
}

static bool strv_equal(const char *const *a, const char *const *b) {
        size_t i = 0;

        for (; a && b && a[i] && b[i]; i++)
                if (strcmp(a[i], b[i]) != 0)
                        return false;
        return (!a || !a[i]) && (!b || !b[i]);
}

bool host_config_equal(const HostConfig *a, const HostConfig *b) {
        return streq_ptr(a->uri, b->uri) && a->read_only == b->read_only &&
               a->keepalive_interval_sec == b->keepalive_interval_sec &&
               a->keepalive_count == b->keepalive_count &&
               a->resync_interval_usec == b->resync_interval_usec && a->id_mode == b->id_mode &&
               streq_ptr(a->id_override, b->id_override) && a->flavour == b->flavour &&
               strv_equal(a->include, b->include) && strv_equal(a->exclude, b->exclude) &&
               a->report_inactive == b->report_inactive && a->list_per_state == b->list_per_state &&
               a->guest_cap == b->guest_cap && streq_ptr(a->machine_id_path, b->machine_id_path);
}

const char *host_conn_state_to_string(HostConnState s) {
        switch (s) {
        case HOST_CONN_CONNECTING:
                return "connecting";
        case HOST_CONN_CONNECTED:
                return "connected";
        case HOST_CONN_NOT_RESPONDING:
                return "not-responding";
        }
        return "unknown";
}

const char *host_id_mode_to_string(HostIdMode m) {
        switch (m) {
        case HOST_ID_MODE_UUID:
                return "uuid";
        case HOST_ID_MODE_HOSTNAME:
                return "hostname";
        case HOST_ID_MODE_HWUUID:
                return "hwuuid";
        }
        return "unknown";
}

int host_id_mode_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        if (strcmp(s, "uuid") == 0)
                return HOST_ID_MODE_UUID;
        if (strcmp(s, "hostname") == 0)
                return HOST_ID_MODE_HOSTNAME;
        if (strcmp(s, "hwuuid") == 0)
                return HOST_ID_MODE_HWUUID;
        return -EINVAL;
}

const char *host_flavour_to_string(HostFlavour f) {
        switch (f) {
        case HOST_FLAVOUR_AUTO:
                return "auto";
        case HOST_FLAVOUR_KVM:
                return "kvm";
        case HOST_FLAVOUR_XEN:
                return "xen";
        }
        return "unknown";
}

int host_flavour_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        if (strcmp(s, "auto") == 0)
                return HOST_FLAVOUR_AUTO;
        if (strcmp(s, "kvm") == 0)
                return HOST_FLAVOUR_KVM;
        if (strcmp(s, "xen") == 0)
                return HOST_FLAVOUR_XEN;
        return -EINVAL;
}

HostFlavour host_flavour_from_type(const char *type) {
        /* libxl answers "Xen"; the old xend driver said "Xen" too. */
        if (type && strcasecmp(type, "xen") == 0)
                return HOST_FLAVOUR_XEN;
        return HOST_FLAVOUR_KVM;
}

bool host_is_control_domain(HostFlavour flavour, int id, const char *name,
                            const uint8_t uuid[HOST_UUID_BYTES]) {
        /* virt-who's rule, for every flavour: the all-zero UUID is Xen's
         * dom0 and never a real guest anywhere. */
        if (uuid && uuid_is_null(uuid))
                return true;
        if (flavour != HOST_FLAVOUR_XEN)
                return false;
        return id == 0 || streq_ptr(name, "Domain-0");
}

static bool glob_any(const char *const *globs, const char *uuid, const char *name) {
        for (const char *const *g = globs; g && *g; g++) {
                if (uuid && fnmatch(*g, uuid, FNM_CASEFOLD) == 0)
                        return true;
                if (name && fnmatch(*g, name, 0) == 0)
                        return true;
        }
        return false;
}

bool guest_filter_match(const GuestFilter *f, const char *uuid, const char *name, bool active) {
        if (!active && !f->report_inactive)
                return false;
        if (f->include && f->include[0] && !glob_any(f->include, uuid, name))
                return false;
        if (glob_any(f->exclude, uuid, name))
                return false;
        return true;
}

uint64_t host_backoff_usec(unsigned attempt, uint32_t rnd) {
        uint64_t d = HOST_BACKOFF_FIRST_USEC;

        for (unsigned i = 1; i < attempt && d < HOST_BACKOFF_CAP_USEC; i++)
                d *= 2;
        if (d > HOST_BACKOFF_CAP_USEC)
                d = HOST_BACKOFF_CAP_USEC;
        /* Up to (almost) a quarter less. */
        d -= d * (rnd % 1025) / 4100;
        if (d < 50 * 1000)
                d = 50 * 1000;
        return d;
}

const char *host_uri_describe_socket(const char *uri, bool read_only, char *buf, size_t bufsz) {
        const char *sep, *q, *sock, *plus, *host, *path;
        char driver[32] = "", transport[32] = "", hostname[256] = "";
        const char *ro = read_only ? "-ro" : "";
        size_t n;

        if (!uri) {
                (void) snprintf(
                        buf, bufsz,
                        "libvirt's default URI (LIBVIRT_DEFAULT_URI, else uri_default in libvirt.conf, "
                        "else the local hypervisor's daemon socket under /run/libvirt)");
                return buf;
        }
        q = strchr(uri, '?');
        sock = q ? strstr(q, "socket=") : NULL;
        if (sock) {
                sock += strlen("socket=");
                n = strcspn(sock, "&");
                (void) snprintf(buf, bufsz, "socket %.*s", (int) n, sock);
                return buf;
        }
        sep = strstr(uri, "://");
        if (!sep || sep == uri) {
                (void) snprintf(buf, bufsz,
                                "no socket: the URI does not parse (expected DRIVER[+TRANSPORT]://...)");
                return buf;
        }
        plus = memchr(uri, '+', (size_t) (sep - uri));
        n = (size_t) ((plus ? plus : sep) - uri);
        (void) snprintf(driver, sizeof driver, "%.*s", (int) (n < sizeof driver ? n : sizeof driver - 1),
                        uri);
        if (plus)
                (void) snprintf(transport, sizeof transport, "%.*s", (int) (sep - plus - 1), plus + 1);
        host = sep + 3;
        path = host + strcspn(host, "/?");
        (void) snprintf(hostname, sizeof hostname, "%.*s", (int) (path - host), host);

        if (transport[0] && strcmp(transport, "unix") != 0) {
                (void) snprintf(buf, bufsz, "%s transport to %s", transport,
                                hostname[0] ? hostname : "localhost");
        } else if (!transport[0] && hostname[0]) {
                (void) snprintf(buf, bufsz, "tls transport to %s", hostname);
        } else if (!transport[0] && strcmp(driver, "test") == 0) {
                (void) snprintf(buf, bufsz, "the in-process test driver (no socket)");
        } else if (strncmp(path, "/session", 8) == 0) {
                (void) snprintf(buf, bufsz,
                                "the per-user session daemon socket under $XDG_RUNTIME_DIR/libvirt");
        } else {
                (void) snprintf(buf, bufsz,
                                "socket /run/libvirt/virt%sd-sock%s or /run/libvirt/libvirt-sock%s", driver,
                                ro, ro);
        }
        return buf;
}
