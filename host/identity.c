/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Host identity: UUID text, the deny-list of bogus SMBIOS UUIDs, the
 * hypervisor-id fallback chain, and the few fields read out of libvirt's
 * capabilities and sysinfo XML. Pure. */
#define HVMAP_HOST_INTERNAL
#include "host/host-internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/cleanup.h"

static int hexval(int c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int uuid_parse(const char *s, uint8_t ret[HOST_UUID_BYTES]) {
        uint8_t u[HOST_UUID_BYTES];
        size_t len, k = 0;
        bool dashed;

        if (!s)
                return -EINVAL;
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
                s++;
        len = strlen(s);
        while (len > 0 &&
               (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' || s[len - 1] == '\r'))
                len--;
        if (len == 36)
                dashed = true;
        else if (len == 32)
                dashed = false;
        else
                return -EINVAL;

        for (size_t i = 0; i < len;) {
                int hi, lo;

                if (dashed && (i == 8 || i == 13 || i == 18 || i == 23)) {
                        if (s[i] != '-')
                                return -EINVAL;
                        i++;
                        continue;
                }
                hi = hexval((unsigned char) s[i]);
                lo = i + 1 < len ? hexval((unsigned char) s[i + 1]) : -1;
                if (hi < 0 || lo < 0 || k >= HOST_UUID_BYTES)
                        return -EINVAL;
                u[k++] = (uint8_t) (hi << 4 | lo);
                i += 2;
        }
        if (k != HOST_UUID_BYTES)
                return -EINVAL;
        memcpy(ret, u, sizeof u);
        return 0;
}

char *uuid_format(const uint8_t u[HOST_UUID_BYTES], char buf[HOST_UUID_STRING_MAX]) {
        static const char hex[] = "0123456789abcdef";
        char *p = buf;

        /* By hand: snapshots format every guest's UUID on each publication. */
        for (size_t i = 0; i < HOST_UUID_BYTES; i++) {
                if (i == 4 || i == 6 || i == 8 || i == 10)
                        *p++ = '-';
                *p++ = hex[u[i] >> 4];
                *p++ = hex[u[i] & 0xf];
        }
        *p = '\0';
        return buf;
}

bool uuid_is_null(const uint8_t u[HOST_UUID_BYTES]) {
        for (size_t i = 0; i < HOST_UUID_BYTES; i++)
                if (u[i] != 0)
                        return false;
        return true;
}

/* SMBIOS UUIDs seen on many machines at once (user-pain.md 4.2): AMI's
 * placeholder in both byte orders (SMBIOS ≥ 2.6 stores the first three
 * fields little-endian), and a vendor's "fill me in" sequence. */
static const char *const bogus_uuids[] = {
        "03000200-0400-0500-0006-000700080009",
        "02000300-0004-0005-0006-000700080009",
        "12345678-1234-5678-90ab-cddeefaabbcc",
        "78563412-3412-7856-90ab-cddeefaabbcc",
};

bool uuid_is_bogus(const uint8_t u[HOST_UUID_BYTES]) {
        bool same = true;

        /* All zeros ("Not Present"), all F ("Not Settable"), any one byte
         * repeated: nobody's real UUID. */
        for (size_t i = 1; i < HOST_UUID_BYTES; i++)
                if (u[i] != u[0])
                        same = false;
        if (same)
                return true;
        for (size_t i = 0; i < ELEMENTSOF(bogus_uuids); i++) {
                uint8_t b[HOST_UUID_BYTES];

                if (uuid_parse(bogus_uuids[i], b) >= 0 && memcmp(b, u, HOST_UUID_BYTES) == 0)
                        return true;
        }
        return false;
}

bool host_id_is_bogus(const char *id) {
        uint8_t u[HOST_UUID_BYTES];

        return id && uuid_parse(id, u) >= 0 && uuid_is_bogus(u);
}

const char *host_id_source_to_string(HostIdSource s) {
        switch (s) {
        case HOST_ID_SOURCE_OVERRIDE:
                return "configured override";
        case HOST_ID_SOURCE_CAPABILITIES:
                return "libvirt capabilities host UUID";
        case HOST_ID_SOURCE_SYSINFO:
                return "SMBIOS system UUID (libvirt sysinfo)";
        case HOST_ID_SOURCE_MACHINE_ID:
                return "machine-id";
        case HOST_ID_SOURCE_HOSTNAME:
                return "host name";
        }
        return "unknown";
}

const char *host_id_verdict_to_string(HostIdVerdict v) {
        switch (v) {
        case HOST_ID_USED:
                return "used";
        case HOST_ID_ABSENT:
                return "absent";
        case HOST_ID_MALFORMED:
                return "malformed";
        case HOST_ID_BOGUS:
                return "a known bogus value shared by many machines";
        }
        return "unknown";
}

static void step(HostIdResult *r, HostIdSource src, HostIdVerdict v) {
        if (r->n_steps < ELEMENTSOF(r->steps))
                r->steps[r->n_steps++] = (HostIdStep){ src, v };
}

/* Tries one UUID candidate; on success fills r->id. */
static bool try_uuid(HostIdResult *r, HostIdSource src, const char *value) {
        uint8_t u[HOST_UUID_BYTES];

        if (!value || !*value) {
                step(r, src, HOST_ID_ABSENT);
                return false;
        }
        if (uuid_parse(value, u) < 0) {
                step(r, src, HOST_ID_MALFORMED);
                return false;
        }
        if (uuid_is_bogus(u)) {
                step(r, src, HOST_ID_BOGUS);
                return false;
        }
        (void) uuid_format(u, r->id);
        r->source = src;
        step(r, src, HOST_ID_USED);
        return true;
}

static bool text_is_clean(const char *s, size_t max) {
        size_t n = strlen(s);

        if (n == 0 || n >= max)
                return false;
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (*p <= 0x20 || *p == 0x7f)
                        return false;
        return true;
}

static bool try_hostname(HostIdResult *r, const char *name) {
        static const char *const bogus[] = { "localhost", "localhost.localdomain", "localhost6",
                                             "localhost6.localdomain6", "(none)" };

        if (!name || !*name) {
                step(r, HOST_ID_SOURCE_HOSTNAME, HOST_ID_ABSENT);
                return false;
        }
        if (!text_is_clean(name, HOST_ID_MAX)) {
                step(r, HOST_ID_SOURCE_HOSTNAME, HOST_ID_MALFORMED);
                return false;
        }
        for (size_t i = 0; i < ELEMENTSOF(bogus); i++)
                if (strcasecmp(name, bogus[i]) == 0) {
                        step(r, HOST_ID_SOURCE_HOSTNAME, HOST_ID_BOGUS);
                        return false;
                }
        (void) snprintf(r->id, sizeof r->id, "%s", name);
        r->source = HOST_ID_SOURCE_HOSTNAME;
        step(r, HOST_ID_SOURCE_HOSTNAME, HOST_ID_USED);
        return true;
}

int host_id_choose(HostIdMode mode, const char *override, const HostIdInputs *in, HostIdResult *ret) {
        *ret = (HostIdResult){};

        if (override) {
                /* Printable, no blanks: it is sent as the hypervisorId and
                 * shown in the server's UI. */
                if (!text_is_clean(override, sizeof ret->id))
                        return -EINVAL;
                (void) snprintf(ret->id, sizeof ret->id, "%s", override);
                ret->source = HOST_ID_SOURCE_OVERRIDE;
                step(ret, HOST_ID_SOURCE_OVERRIDE, HOST_ID_USED);
                return 0;
        }

        switch (mode) {
        case HOST_ID_MODE_UUID:
                if (try_uuid(ret, HOST_ID_SOURCE_CAPABILITIES, in->caps_uuid) ||
                    try_uuid(ret, HOST_ID_SOURCE_SYSINFO, in->sysinfo_uuid) ||
                    try_uuid(ret, HOST_ID_SOURCE_MACHINE_ID, in->machine_id))
                        return 0;
                break;
        case HOST_ID_MODE_HWUUID:
                if (try_uuid(ret, HOST_ID_SOURCE_SYSINFO, in->sysinfo_uuid))
                        return 0;
                break;
        case HOST_ID_MODE_HOSTNAME:
                if (try_hostname(ret, in->hostname))
                        return 0;
                break;
        }
        ret->id[0] = '\0';
        return -ENOENT;
}

void host_id_explain_failure(HostIdMode mode, const HostIdResult *r, char *buf, size_t bufsz) {
        size_t off = 0;
        int n;

        n = snprintf(buf, bufsz, "no usable hypervisor id for hypervisor_id = %s (",
                     host_id_mode_to_string(mode));
        off = n > 0 ? (size_t) n : 0;
        for (size_t i = 0; i < r->n_steps && off < bufsz; i++) {
                n = snprintf(buf + off, bufsz - off, "%s%s: %s", i > 0 ? "; " : "",
                             host_id_source_to_string(r->steps[i].source),
                             host_id_verdict_to_string(r->steps[i].verdict));
                off += n > 0 ? (size_t) n : 0;
        }
        if (off < bufsz)
                (void) snprintf(buf + off, bufsz - off, "); %s",
                                mode == HOST_ID_MODE_HOSTNAME
                                        ? "fix the host name or set hypervisor_id_override"
                                        : "set hypervisor_id = hostname, or hypervisor_id_override");
}

/* Copies the trimmed text between open and close tags found inside
 * [from, to), or -ENOENT. */
static int xml_text_between(const char *from, const char *to, const char *open, char **ret) {
        const char *p = strstr(from, open), *e;
        char *s;
        size_t n;

        if (!p || p >= to)
                return -ENOENT;
        p += strlen(open);
        e = strchr(p, '<');
        if (!e || e > to)
                return -ENOENT;
        while (p < e && isspace((unsigned char) *p))
                p++;
        n = (size_t) (e - p);
        while (n > 0 && isspace((unsigned char) p[n - 1]))
                n--;
        if (n == 0)
                return -ENOENT;
        s = strndup(p, n);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int caps_host_uuid(const char *caps_xml, char **ret) {
        const char *h, *e;

        if (!caps_xml)
                return -ENOENT;
        h = strstr(caps_xml, "<host>");
        if (!h)
                return -ENOENT;
        e = strstr(h, "</host>");
        if (!e)
                return -ENOENT;
        return xml_text_between(h, e, "<uuid>", ret);
}

int sysinfo_system_uuid(const char *sysinfo_xml, char **ret) {
        const char *s, *e;
        int r;

        if (!sysinfo_xml)
                return -ENOENT;
        s = strstr(sysinfo_xml, "<system>");
        if (!s)
                return -ENOENT;
        e = strstr(s, "</system>");
        if (!e)
                return -ENOENT;
        r = xml_text_between(s, e, "<entry name='uuid'>", ret);
        if (r == -ENOENT)
                r = xml_text_between(s, e, "<entry name=\"uuid\">", ret);
        return r;
}

char *host_version_format(unsigned long v, char *buf, size_t bufsz) {
        (void) snprintf(buf, bufsz, "%lu.%lu.%lu", v / 1000000, (v / 1000) % 1000, v % 1000);
        return buf;
}
