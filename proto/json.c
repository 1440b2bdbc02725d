/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The JSON of every Candlepin request and response: canonical builders and
 * hostile-input-proof parsers. Pure: no I/O, no logging. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#define HVMAP_PROTO_INTERNAL 1
#include "proto/proto-internal.h"
#include "util/cleanup.h"
#include "util/buf.h"
#include "util/cleanup-libs.h"
#include "util/escape.h"

#define DISPLAY_MESSAGE_MAX 512

_printf_(3, 4) static int fail(char *errbuf, size_t errsz, const char *format, ...) {
        va_list ap;

        if (errbuf && errsz > 0) {
                va_start(ap, format);
                (void) vsnprintf(errbuf, errsz, format, ap);
                va_end(ap);
        }
        return -EINVAL;
}

bool proto_utf8_valid(const char *s, size_t n) {
        return utf8_valid(s, n);
}

static bool charset_valid(const char *s, size_t max, const char *extra) {
        size_t n;

        if (!s)
                return false;
        n = strlen(s);
        if (n == 0 || n > max)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isascii((unsigned char) s[i]) ||
                    !(isalnum((unsigned char) s[i]) || strchr(extra, s[i])))
                        return false;
        return true;
}

bool proto_uuid_valid(const char *s) {
        return charset_valid(s, 64, "-");
}

bool proto_job_id_valid(const char *s) {
        return charset_valid(s, 128, "-_");
}

char *proto_sanitize_text(const char *s, size_t max) {
        return escape_control(s, max);
}

/* ---- builders ---------------------------------------------------------- */

static int check_string(const char *what, const char *s, size_t max, bool allow_empty, char *errbuf,
                        size_t errsz) {
        size_t n;

        if (!s)
                return fail(errbuf, errsz, "%s is missing", what);
        n = strlen(s);
        if (n == 0 && !allow_empty)
                return fail(errbuf, errsz, "%s is empty", what);
        if (n > max)
                return fail(errbuf, errsz, "%s is %zu bytes long, the server accepts at most %zu", what, n,
                            max);
        if (!proto_utf8_valid(s, n))
                return fail(errbuf, errsz, "%s is not valid UTF-8", what);
        return 0;
}

int proto_check_text(const char *what, const char *s, size_t max, char *errbuf, size_t errsz) {
        return check_string(what, s, max, false, errbuf, errsz);
}

static int check_mapping(const ProtoMapping *m, bool need_name, char *errbuf, size_t errsz) {
        int r;

        r = check_string("hypervisor id", m->hypervisor_id, PROTO_FIELD_MAX, false, errbuf, errsz);
        if (r < 0)
                return r;
        if (need_name || m->name) {
                r = check_string("consumer name", m->name, PROTO_NAME_MAX, false, errbuf, errsz);
                if (r < 0)
                        return r;
                if (m->name[0] == '#')
                        return fail(errbuf, errsz,
                                    "consumer name \"%s\" starts with '#', which the server refuses",
                                    m->name);
        }
        if (m->fqdn) {
                r = check_string("host name (network.hostname)", m->fqdn, PROTO_FIELD_MAX, false, errbuf,
                                 errsz);
                if (r < 0)
                        return r;
        }
        if (m->n_guests > PROTO_GUESTS_MAX)
                return fail(errbuf, errsz, "%zu guests, more than the limit of %d", m->n_guests,
                            PROTO_GUESTS_MAX);
        if (m->n_guests > 0 && !m->guests)
                return fail(errbuf, errsz, "guest list missing");
        if (m->n_facts > PROTO_FACTS_MAX)
                return fail(errbuf, errsz, "%zu facts, more than the limit of %d", m->n_facts,
                            PROTO_FACTS_MAX);
        if (m->n_facts > 0 && !m->facts)
                return fail(errbuf, errsz, "fact list missing");
        for (size_t i = 0; i < m->n_guests; i++) {
                r = check_string("guest id", m->guests[i].uuid, PROTO_FIELD_MAX, false, errbuf, errsz);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < m->n_facts; i++) {
                r = check_string("fact key", m->facts[i].key, PROTO_FIELD_MAX, false, errbuf, errsz);
                if (r < 0)
                        return r;
                r = check_string("fact value", m->facts[i].value, PROTO_FIELD_MAX, true, errbuf, errsz);
                if (r < 0) {
                        /* Name the fact: the key is safe to show, the value was refused. */
                        size_t l = errbuf ? strlen(errbuf) : 0;
                        if (errbuf && l + 1 < errsz)
                                (void) snprintf(errbuf + l, errsz - l, " (fact \"%s\")", m->facts[i].key);
                        return r;
                }
        }
        return 0;
}

static int cmp_guest(const void *a, const void *b) {
        const ProtoGuest *x = *(const ProtoGuest *const *) a, *y = *(const ProtoGuest *const *) b;
        return strcasecmp(x->uuid, y->uuid);
}

static int cmp_fact(const void *a, const void *b) {
        const ProtoFact *x = a, *y = b;
        return strcmp(x->key, y->key);
}

/* Appends s as a JSON string, lower-cased when lower, escaped exactly as
 * cJSON prints strings ('"', '\\', \b \f \n \r \t, other bytes below 32 as
 * \u00xx, everything else raw), so the bytes of a body do not depend on
 * which of the two wrote which part (tests/proto compares them). */
static int append_string(Buf *b, const char *s, bool lower) {
        static const char hex[] = "0123456789abcdef";
        char chunk[6 * 256 + 2]; /* 256 input bytes, each escaped at most to 6 */
        const unsigned char *p = (const unsigned char *) s;
        int r;

        r = buf_append(b, "\"", 1);
        while (r >= 0 && *p) {
                char *out = chunk;

                for (size_t n = 0; *p && n < 256; p++, n++) {
                        unsigned char c = *p;

                        if (c > 31 && c != '"' && c != '\\') {
                                *out++ = lower && c >= 'A' && c <= 'Z' ? (char) (c - 'A' + 'a') : (char) c;
                                continue;
                        }
                        *out++ = '\\';
                        switch (c) {
                        case '"':
                        case '\\':
                                *out++ = (char) c;
                                break;
                        case '\b':
                                *out++ = 'b';
                                break;
                        case '\f':
                                *out++ = 'f';
                                break;
                        case '\n':
                                *out++ = 'n';
                                break;
                        case '\r':
                                *out++ = 'r';
                                break;
                        case '\t':
                                *out++ = 't';
                                break;
                        default:
                                out = mempcpy(out, "u00", 3);
                                *out++ = hex[c >> 4];
                                *out++ = hex[c & 15];
                        }
                }
                r = buf_append(b, chunk, (size_t) (out - chunk));
        }
        return r < 0 ? r : buf_append(b, "\"", 1);
}

/* [{"guestId","state"?,"attributes":{"virtWhoType":"libvirt","active":"0|1"}},...]
 * sorted by lower-cased uuid; duplicates (case-insensitive) folded, active
 * wins. Written directly, not through a cJSON tree: 10 000 guests made
 * 60 000 allocations, and building, printing and freeing that tree was most
 * of the daemon's CPU per report (scripts/bench case 5, main thread per
 * 10 000-guest report: 27.6 ms with the tree, 10.3 ms without). */
static int append_guests(Buf *b, const ProtoMapping *m, bool with_state) {
        _cleanup_free_ const ProtoGuest **v = NULL;
        bool first = true;
        int r;

        if (m->n_guests > 0) {
                v = calloc(m->n_guests, sizeof(*v));
                if (!v)
                        return -ENOMEM;
                for (size_t i = 0; i < m->n_guests; i++)
                        v[i] = &m->guests[i];
                /* host/'s snapshots come sorted: check, sort only if not. */
                for (size_t i = 1; i < m->n_guests; i++)
                        if (cmp_guest(&v[i - 1], &v[i]) > 0) {
                                qsort(v, m->n_guests, sizeof(*v), cmp_guest);
                                break;
                        }
        }
        r = buf_append(b, "[", 1);
        for (size_t i = 0; r >= 0 && i < m->n_guests;) {
                bool active = v[i]->active;
                int state = v[i]->state;
                const char *id = v[i]->uuid;

                for (i++; i < m->n_guests && strcasecmp(v[i]->uuid, id) == 0; i++)
                        if (v[i]->active && !active) {
                                active = true;
                                state = v[i]->state;
                        }
                r = buf_append_str(b, first ? "{\"guestId\":" : ",{\"guestId\":");
                first = false;
                if (r >= 0)
                        r = append_string(b, id, true);
                if (r >= 0 && with_state)
                        r = buf_printf(b, ",\"state\":%d", state);
                if (r >= 0)
                        r = buf_append_str(
                                b,
                                active ? ",\"attributes\":{\"virtWhoType\":\"libvirt\",\"active\":\"1\"}}"
                                       : ",\"attributes\":{\"virtWhoType\":\"libvirt\",\"active\":\"0\"}}");
        }
        return r < 0 ? r : buf_append(b, "]", 1);
}

/* A UUID in its canonical 8-4-4-4-12 hex shape. */
static bool uuid_shaped(const char *s) {
        for (size_t i = 0; i < 36; i++) {
                bool dash = i == 8 || i == 13 || i == 18 || i == 23;

                if (dash ? s[i] != '-' : !isxdigit((unsigned char) s[i]))
                        return false;
        }
        return s[36] == '\0';
}

/* The mapping's facts plus (ours win) virt.is_guest = "false",
 * dmi.system.uuid = the hypervisor id when that is a UUID (Candlepin
 * matches hypervisors by it; a host name is not one, and the host's own
 * SMBIOS value then stays), and network.hostname/network.fqdn; sorted by
 * key. Duplicate keys (compared case-insensitively, as the server does) are
 * refused. */
static int build_facts(const ProtoMapping *m, cJSON **ret, char *errbuf, size_t errsz) {
        _cleanup_(cJSON_Deletep) cJSON *obj = cJSON_CreateObject();
        _cleanup_free_ ProtoFact *v = NULL;
        bool dmi = uuid_shaped(m->hypervisor_id);
        size_t n = 0;

        if (!obj)
                return -ENOMEM;
        v = calloc(m->n_facts + 4, sizeof(*v));
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_facts; i++) {
                if ((dmi && strcasecmp(m->facts[i].key, "dmi.system.uuid") == 0) ||
                    strcasecmp(m->facts[i].key, "virt.is_guest") == 0 ||
                    (m->fqdn && (strcasecmp(m->facts[i].key, "network.hostname") == 0 ||
                                 strcasecmp(m->facts[i].key, "network.fqdn") == 0)))
                        continue;
                v[n++] = m->facts[i];
        }
        if (dmi)
                v[n++] = (ProtoFact){ "dmi.system.uuid", m->hypervisor_id };
        v[n++] = (ProtoFact){ "virt.is_guest", "false" };
        if (m->fqdn) {
                v[n++] = (ProtoFact){ "network.fqdn", m->fqdn };
                v[n++] = (ProtoFact){ "network.hostname", m->fqdn };
        }
        qsort(v, n, sizeof(*v), cmp_fact);
        for (size_t i = 0; i < n; i++) {
                for (size_t j = i + 1; j < n; j++)
                        if (strcasecmp(v[i].key, v[j].key) == 0)
                                return fail(errbuf, errsz,
                                            "fact \"%s\" given twice (keys are compared ignoring case)",
                                            v[j].key);
                if (!cJSON_AddStringToObject(obj, v[i].key, v[i].value))
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(obj);
        return 0;
}

/* The facts object (build_facts()) as cJSON prints it. */
static int append_facts(Buf *b, const ProtoMapping *m, char *errbuf, size_t errsz) {
        _cleanup_(cJSON_Deletep) cJSON *facts = NULL;
        _cleanup_free_ char *text = NULL;
        int r;

        r = build_facts(m, &facts, errbuf, errsz);
        if (r < 0)
                return r;
        text = cJSON_PrintUnformatted(facts);
        if (!text)
                return -ENOMEM;
        return buf_append_str(b, text);
}

/* "hypervisorId":{"hypervisorId":id} */
static int append_hypervisor_id(Buf *b, const char *id) {
        int r = buf_append_str(b, "\"hypervisorId\":{\"hypervisorId\":");

        if (r >= 0)
                r = append_string(b, id, false);
        return r < 0 ? r : buf_append(b, "}", 1);
}

/* A body written into b: hands it over, NUL-terminated. */
static int body_steal(Buf *b, int r, char **ret, size_t *ret_len) {
        char *s;

        if (r < 0)
                return r == -E2BIG ? -ENOMEM : r;
        s = buf_steal(b, ret_len);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int print_json(cJSON *root, char **ret, size_t *ret_len) {
        char *s = cJSON_PrintUnformatted(root);

        if (!s)
                return -ENOMEM;
        if (ret_len)
                *ret_len = strlen(s);
        *ret = s;
        return 0;
}

static int add_hypervisor_id(cJSON *obj, const char *id) {
        cJSON *h = cJSON_AddObjectToObject(obj, "hypervisorId");

        if (!h || !cJSON_AddStringToObject(h, "hypervisorId", id))
                return -ENOMEM;
        return 0;
}

int proto_build_register(const ProtoMapping *m, char **ret, size_t *ret_len, char *errbuf, size_t errsz) {
        _cleanup_(cJSON_Deletep) cJSON *root = NULL;
        cJSON *t, *facts = NULL;
        int r;

        r = check_mapping(m, true, errbuf, errsz);
        if (r < 0)
                return r;
        root = cJSON_CreateObject();
        if (!root)
                return -ENOMEM;
        t = cJSON_AddObjectToObject(root, "type");
        if (!t || !cJSON_AddStringToObject(t, "label", "hypervisor"))
                return -ENOMEM;
        if (!cJSON_AddStringToObject(root, "name", m->name))
                return -ENOMEM;
        r = add_hypervisor_id(root, m->hypervisor_id);
        if (r < 0)
                return r;
        r = build_facts(m, &facts, errbuf, errsz);
        if (r < 0)
                return r;
        cJSON_AddItemToObject(root, "facts", facts);
        return print_json(root, ret, ret_len);
}

/* A cap no body reaches (100 000 guests of 255-byte ids, all escaped, stay
 * well below it); it only keeps the size arithmetic from overflowing. */
#define BODY_MAX (SIZE_MAX / 4)

int proto_build_guest_update(const ProtoMapping *m, char **ret, size_t *ret_len, char *errbuf,
                             size_t errsz) {
        _cleanup_(buf_free) Buf b = BUF_INIT(BODY_MAX);
        int r;

        r = check_mapping(m, false, errbuf, errsz);
        if (r < 0)
                return r;
        r = buf_append_str(&b, "{\"guestIds\":");
        if (r >= 0)
                r = append_guests(&b, m, false);
        /* Candlepin updates a changed hypervisor id from it (Katello drops it). */
        if (r >= 0)
                r = buf_append_str(&b, ",");
        if (r >= 0)
                r = append_hypervisor_id(&b, m->hypervisor_id);
        if (r >= 0 && !m->no_facts) {
                r = buf_append_str(&b, ",\"facts\":");
                if (r >= 0)
                        r = append_facts(&b, m, errbuf, errsz);
        }
        if (r >= 0)
                r = buf_append(&b, "}", 1);
        return body_steal(&b, r, ret, ret_len);
}

int proto_build_checkin(const ProtoMapping *maps, size_t n_maps, char **ret, size_t *ret_len, char *errbuf,
                        size_t errsz) {
        _cleanup_(buf_free) Buf b = BUF_INIT(BODY_MAX);
        int r;

        r = buf_append_str(&b, "{\"hypervisors\":[");
        for (size_t i = 0; r >= 0 && i < n_maps; i++) {
                r = check_mapping(&maps[i], true, errbuf, errsz);
                if (r >= 0)
                        r = buf_append_str(&b, i > 0 ? ",{" : "{");
                if (r >= 0)
                        r = append_hypervisor_id(&b, maps[i].hypervisor_id);
                if (r >= 0)
                        r = buf_append_str(&b, ",\"name\":");
                if (r >= 0)
                        r = append_string(&b, maps[i].name, false);
                if (r >= 0)
                        r = buf_append_str(&b, ",\"guestIds\":");
                if (r >= 0)
                        r = append_guests(&b, &maps[i], true);
                if (r >= 0)
                        r = buf_append_str(&b, ",\"facts\":");
                if (r >= 0)
                        r = append_facts(&b, &maps[i], errbuf, errsz);
                if (r >= 0)
                        r = buf_append(&b, "}", 1);
        }
        if (r >= 0)
                r = buf_append_str(&b, "]}");
        return body_steal(&b, r, ret, ret_len);
}

int proto_body_digest(const char *body, size_t len, char ret[PROTO_DIGEST_HEX_LEN + 1]) {
        static const char hex[] = "0123456789abcdef";
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned md_len = 0;

        if (EVP_Digest(body, len, md, &md_len, EVP_sha256(), NULL) != 1 ||
            md_len * 2 != PROTO_DIGEST_HEX_LEN)
                return -EIO;
        for (unsigned i = 0; i < md_len; i++) {
                ret[2 * i] = hex[md[i] >> 4];
                ret[2 * i + 1] = hex[md[i] & 15];
        }
        ret[PROTO_DIGEST_HEX_LEN] = 0;
        return 0;
}

/* ---- parsers ----------------------------------------------------------- */

bool proto_json_has_escaped_nul(const char *buf, size_t len) {
        /* Outside strings valid JSON has no backslash, so consuming each
         * escape as a pair finds exactly the "\u0000"s inside strings. */
        for (size_t i = 0; i + 1 < len; i++)
                if (buf[i] == '\\') {
                        if (buf[i + 1] == 'u' && len - i >= 6 && memcmp(buf + i + 2, "0000", 4) == 0)
                                return true;
                        i++;
                }
        return false;
}

static int parse_root(const char *buf, size_t len, cJSON **ret) {
        const char *end = NULL;
        cJSON *root;

        if (!buf || len == 0)
                return -EBADMSG;
        if (memchr(buf, 0, len) || proto_json_has_escaped_nul(buf, len))
                return -EBADMSG;
        if (!proto_utf8_valid(buf, len))
                return -EBADMSG;
        root = cJSON_ParseWithLengthOpts(buf, len, &end, false);
        if (!root)
                return -EBADMSG;
        for (; end && end < buf + len; end++)
                if (!strchr(" \t\r\n", *end)) {
                        cJSON_Delete(root);
                        return -EBADMSG;
                }
        *ret = root;
        return 0;
}

/* Wipes a secret string value in a parse tree before it is freed. */
static void wipe_string(const cJSON *v) {
        if (cJSON_IsString(v) && v->valuestring)
                explicit_bzero(v->valuestring, strlen(v->valuestring));
}

/* Copies obj[key] when it is a string; absent or null → NULL; any other type
 * is -EBADMSG. */
static int get_string(const cJSON *obj, const char *key, char **ret) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
        char *s;

        if (!v || cJSON_IsNull(v)) {
                *ret = NULL;
                return 0;
        }
        if (!cJSON_IsString(v) || !v->valuestring)
                return -EBADMSG;
        s = strdup(v->valuestring);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* obj[key] as an object; absent or null → NULL; another type → -EBADMSG. */
static int get_object(const cJSON *obj, const char *key, const cJSON **ret) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

        if (!v || cJSON_IsNull(v)) {
                *ret = NULL;
                return 0;
        }
        if (!cJSON_IsObject(v))
                return -EBADMSG;
        *ret = v;
        return 0;
}

/* An integer as JSON number or digit string → decimal text; doubles past
 * 2^53 are printed as the nearest integer. */
static int get_integer_text(const cJSON *obj, const char *key, char **ret) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
        char tmp[32];

        if (!v || cJSON_IsNull(v)) {
                *ret = NULL;
                return 0;
        }
        if (cJSON_IsString(v) && v->valuestring) {
                size_t n = strlen(v->valuestring);
                if (n == 0 || n > 40 || strspn(v->valuestring, "0123456789") != n)
                        return -EBADMSG;
                *ret = strdup(v->valuestring);
                return *ret ? 0 : -ENOMEM;
        }
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
            v->valuedouble >= 18446744073709551616.0 || (double) (uint64_t) v->valuedouble != v->valuedouble)
                return -EBADMSG;
        (void) snprintf(tmp, sizeof(tmp), "%.0f", v->valuedouble);
        *ret = strdup(tmp);
        return *ret ? 0 : -ENOMEM;
}

void proto_consumer_done(ProtoConsumer *c) {
        if (!c)
                return;
        free(c->uuid);
        free(c->owner_key);
        free(c->name);
        free(c->type_label);
        free(c->hypervisor_id);
        free(c->cert_pem);
        erase_and_free(c->key_pem);
        free(c->serial);
        free(c->expiration);
        *c = (ProtoConsumer){};
}

int proto_parse_consumer(const char *buf, size_t len, ProtoConsumer *ret) {
        _cleanup_(cJSON_Deletep) cJSON *root = NULL;
        _cleanup_(proto_consumer_done) ProtoConsumer c = {};
        const cJSON *owner, *hid, *idcert, *serial, *type;
        int r;

        r = parse_root(buf, len, &root);
        if (r < 0)
                return r;
        if (!cJSON_IsObject(root))
                return -EBADMSG;
        r = get_string(root, "uuid", &c.uuid);
        if (r < 0)
                return r;
        if (!proto_uuid_valid(c.uuid))
                return -EBADMSG;
        r = get_string(root, "name", &c.name);
        if (r < 0)
                return r;
        type = cJSON_GetObjectItemCaseSensitive(root, "type");
        if (cJSON_IsString(type))
                r = get_string(root, "type", &c.type_label);
        else {
                r = get_object(root, "type", &type);
                if (r >= 0 && type)
                        r = get_string(type, "label", &c.type_label);
        }
        if (r < 0)
                return r;
        r = get_object(root, "owner", &owner);
        if (r >= 0 && owner)
                r = get_string(owner, "key", &c.owner_key);
        if (r < 0)
                return r;
        r = get_object(root, "hypervisorId", &hid);
        if (r >= 0 && hid)
                r = get_string(hid, "hypervisorId", &c.hypervisor_id);
        if (r < 0)
                return r;
        r = get_object(root, "idCert", &idcert);
        if (r < 0)
                return r;
        if (idcert) {
                r = get_string(idcert, "cert", &c.cert_pem);
                if (r < 0)
                        return r;
                r = get_string(idcert, "key", &c.key_pem);
                if (r < 0)
                        return r;
                /* The parse tree's copy of the private key dies with the tree, wiped. */
                wipe_string(cJSON_GetObjectItemCaseSensitive(idcert, "key"));
                r = get_object(idcert, "serial", &serial);
                if (r < 0)
                        return r;
                if (serial) {
                        r = get_integer_text(serial, "serial", &c.serial);
                        if (r < 0)
                                return r;
                        r = get_string(serial, "expiration", &c.expiration);
                        if (r < 0)
                                return r;
                }
        }
        *ret = c;
        c = (ProtoConsumer){};
        return 0;
}

void proto_status_done(ProtoStatus *s) {
        if (!s)
                return;
        free(s->version);
        free(s->release);
        free(s->mode);
        strv_free(s->capabilities);
        *s = (ProtoStatus){};
}

int proto_parse_status(const char *buf, size_t len, ProtoStatus *ret) {
        _cleanup_(cJSON_Deletep) cJSON *root = NULL;
        _cleanup_(proto_status_done) ProtoStatus s = {};
        const cJSON *caps, *res, *e;
        size_t n = 0;
        int r;

        r = parse_root(buf, len, &root);
        if (r < 0)
                return r;
        if (!cJSON_IsObject(root))
                return -EBADMSG;
        res = cJSON_GetObjectItemCaseSensitive(root, "result");
        if (res && !cJSON_IsBool(res) && !cJSON_IsNull(res))
                return -EBADMSG;
        s.result = cJSON_IsTrue(res);
        if ((r = get_string(root, "version", &s.version)) < 0 ||
            (r = get_string(root, "release", &s.release)) < 0 || (r = get_string(root, "mode", &s.mode)) < 0)
                return r;
        caps = cJSON_GetObjectItemCaseSensitive(root, "managerCapabilities");
        if (caps && !cJSON_IsArray(caps) && !cJSON_IsNull(caps))
                return -EBADMSG;
        s.capabilities = calloc((size_t) cJSON_GetArraySize(caps) + 1, sizeof(char *));
        if (!s.capabilities)
                return -ENOMEM;
        cJSON_ArrayForEach(e, caps) {
                /* Tolerate odd elements: capabilities are hints. */
                if (!cJSON_IsString(e) || !e->valuestring)
                        continue;
                s.capabilities[n] = strdup(e->valuestring);
                if (!s.capabilities[n])
                        return -ENOMEM;
                n++;
        }
        *ret = s;
        s = (ProtoStatus){};
        return 0;
}

bool proto_status_has_capability(const ProtoStatus *s, const char *cap) {
        if (!s || !s->capabilities)
                return false;
        for (char **c = s->capabilities; *c; c++)
                if (streq_ptr(*c, cap))
                        return true;
        return false;
}

static const char *const job_state_table[] = {
        [PROTO_JOB_CREATED] = "CREATED",   [PROTO_JOB_RUNNING] = "RUNNING",
        [PROTO_JOB_FINISHED] = "FINISHED", [PROTO_JOB_FAILED] = "FAILED",
        [PROTO_JOB_CANCELED] = "CANCELED", [PROTO_JOB_UNKNOWN] = "UNKNOWN",
};

const char *proto_job_state_to_string(ProtoJobState s) {
        if ((size_t) s >= ELEMENTSOF(job_state_table))
                return "UNKNOWN";
        return job_state_table[s];
}

bool proto_job_state_is_terminal(ProtoJobState s) {
        return s == PROTO_JOB_FINISHED || s == PROTO_JOB_FAILED || s == PROTO_JOB_CANCELED;
}

void proto_job_done(ProtoJob *j) {
        if (!j)
                return;
        free(j->id);
        free(j->state_text);
        free(j->result_text);
        strv_free(j->failed_update);
        *j = (ProtoJob){};
}

static size_t array_len(const cJSON *obj, const char *key) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, key);
        return cJSON_IsArray(a) ? (size_t) cJSON_GetArraySize(a) : 0;
}

/* resultData.failedUpdate: Candlepin lists a host it could not update as
 * "<hypervisor id>: <reason>" (strings); anything else is summarised by
 * its JSON text. At most 32 entries, each sanitised and capped. */
static int get_failed_update(const cJSON *rd, char ***ret) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(rd, "failedUpdate"), *e;
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;

        if (!cJSON_IsArray(a))
                return 0;
        l = calloc(33, sizeof(char *));
        if (!l)
                return -ENOMEM;
        cJSON_ArrayForEach(e, a) {
                _cleanup_free_ char *text = NULL;

                if (n >= 32)
                        break;
                if (cJSON_IsString(e) && e->valuestring)
                        l[n] = proto_sanitize_text(e->valuestring, DISPLAY_MESSAGE_MAX);
                else {
                        text = cJSON_PrintUnformatted(e);
                        l[n] = text ? proto_sanitize_text(text, DISPLAY_MESSAGE_MAX) : NULL;
                }
                if (!l[n])
                        return -ENOMEM;
                n++;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

int proto_parse_job(const char *buf, size_t len, ProtoJob *ret) {
        _cleanup_(cJSON_Deletep) cJSON *root = NULL;
        _cleanup_(proto_job_done) ProtoJob j = {};
        const cJSON *rd;
        int r;

        r = parse_root(buf, len, &root);
        if (r < 0)
                return r;
        if (!cJSON_IsObject(root))
                return -EBADMSG;
        r = get_string(root, "id", &j.id);
        if (r < 0)
                return r;
        if (!proto_job_id_valid(j.id))
                return -EBADMSG;
        r = get_string(root, "state", &j.state_text);
        if (r < 0)
                return r;
        if (!j.state_text)
                return -EBADMSG;
        j.state = PROTO_JOB_UNKNOWN;
        for (size_t i = 0; i < PROTO_JOB_UNKNOWN; i++)
                if (strcmp(j.state_text, job_state_table[i]) == 0)
                        j.state = (ProtoJobState) i;
        rd = cJSON_GetObjectItemCaseSensitive(root, "resultData");
        if (cJSON_IsString(rd) && rd->valuestring) {
                j.result_text = proto_sanitize_text(rd->valuestring, DISPLAY_MESSAGE_MAX);
                if (!j.result_text)
                        return -ENOMEM;
        } else if (cJSON_IsObject(rd)) {
                j.has_result_object = true;
                j.n_created = array_len(rd, "created");
                j.n_updated = array_len(rd, "updated");
                j.n_unchanged = array_len(rd, "unchanged");
                j.n_failed = array_len(rd, "failedUpdate");
                r = get_failed_update(rd, &j.failed_update);
                if (r < 0)
                        return r;
        } else if (rd && !cJSON_IsNull(rd))
                return -EBADMSG;
        *ret = j;
        j = (ProtoJob){};
        return 0;
}

void proto_error_body_done(ProtoErrorBody *e) {
        if (!e)
                return;
        free(e->display_message);
        free(e->request_uuid);
        free(e->deleted_id);
        *e = (ProtoErrorBody){};
}

int proto_parse_error(const char *buf, size_t len, ProtoErrorBody *ret) {
        _cleanup_(cJSON_Deletep) cJSON *root = NULL;
        _cleanup_(proto_error_body_done) ProtoErrorBody e = {};
        _cleanup_free_ char *msg = NULL;
        int r;

        r = parse_root(buf, len, &root);
        if (r < 0)
                return r;
        if (!cJSON_IsObject(root))
                return -EBADMSG;
        if ((r = get_string(root, "displayMessage", &msg)) < 0 ||
            (r = get_string(root, "requestUuid", &e.request_uuid)) < 0 ||
            (r = get_string(root, "deletedId", &e.deleted_id)) < 0)
                return r;
        if (msg) {
                e.display_message = proto_sanitize_text(msg, DISPLAY_MESSAGE_MAX);
                if (!e.display_message)
                        return -ENOMEM;
        }
        if (e.request_uuid && !proto_uuid_valid(e.request_uuid)) {
                free(e.request_uuid);
                e.request_uuid = NULL;
        }
        *ret = e;
        e = (ProtoErrorBody){};
        return 0;
}

int proto_parse_owners(const char *buf, size_t len, char ***ret_keys) {
        _cleanup_(cJSON_Deletep) cJSON *root = NULL;
        _cleanup_strv_free_ char **keys = NULL;
        const cJSON *e;
        size_t n = 0;
        int r;

        r = parse_root(buf, len, &root);
        if (r < 0)
                return r;
        if (!cJSON_IsArray(root))
                return -EBADMSG;
        keys = calloc((size_t) cJSON_GetArraySize(root) + 1, sizeof(char *));
        if (!keys)
                return -ENOMEM;
        cJSON_ArrayForEach(e, root) {
                if (!cJSON_IsObject(e))
                        return -EBADMSG;
                r = get_string(e, "key", &keys[n]);
                if (r < 0)
                        return r;
                if (!keys[n])
                        return -EBADMSG;
                n++;
        }
        *ret_keys = TAKE_PTR(keys);
        return 0;
}
