/* SPDX-License-Identifier: GPL-2.0-or-later */
/* rhsm.conf as subscription-manager reads it (iniparse + python-rhsm's
 * RhsmConfigParser), and how its values become hvmap's configuration. */
#include "agent/rhsm-conf.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "agent/conf-internal.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/parse.h"
#include "util/strprintf.h"

/* configparser.MAX_INTERPOLATION_DEPTH */
#define INTERPOLATION_DEPTH_MAX 10
/* RhsmConfigParser.get()'s recovery recurses until Python's recursion limit
 * (1000 frames, about 6 per level) ends a loop it cannot leave. */
#define RECOVERY_DEPTH_MAX 150
/* A value interpolation blows up past this is refused rather than built. */
#define VALUE_MAX (1024 * 1024)

typedef struct Str {
        char *p;
        size_t n;
} Str;

typedef struct RhsmOpt {
        Str section; /* "DEFAULT" for [DEFAULT] */
        Str key; /* lower case */
        Str value;
        unsigned line; /* 0: set by the recovery in rhsm_conf_get() */
} RhsmOpt;

struct RhsmConf {
        RhsmOpt *opts;
        size_t n_opts;
        Str *sections; /* the file's sections but [DEFAULT] */
        size_t n_sections;
};

/* python-rhsm's DEFAULTS (rhsm/config.py), what RhsmConfigParser.get()
 * returns for a key the file does not set, and what its recovery from a
 * missing %(name)s bakes in. */
static const struct {
        const char *section, *key, *value;
} builtin_defaults[] = {
        { "server", "hostname", "subscription.rhsm.redhat.com" },
        { "server", "prefix", "/subscription" },
        { "server", "port", "443" },
        { "server", "server_timeout", "180" },
        { "server", "insecure", "0" },
        { "server", "proxy_hostname", "" },
        { "server", "proxy_scheme", "http" },
        { "server", "proxy_user", "" },
        { "server", "proxy_port", "" },
        { "server", "proxy_password", "" },
        { "server", "no_proxy", "" },
        { "rhsm", "baseurl", "https://cdn.redhat.com" },
        { "rhsm", "repomd_gpg_url", "" },
        { "rhsm", "ca_cert_dir", "/etc/rhsm/ca/" },
        { "rhsm", "repo_ca_cert", "%(ca_cert_dir)sredhat-uep.pem" },
        { "rhsm", "productcertdir", "/etc/pki/product" },
        { "rhsm", "entitlementcertdir", "/etc/pki/entitlement" },
        { "rhsm", "consumercertdir", "/etc/pki/consumer" },
        { "rhsm", "manage_repos", "1" },
        { "rhsm", "full_refresh_on_yum", "0" },
        { "rhsm", "report_package_profile", "1" },
        { "rhsm", "plugindir", "/usr/share/rhsm-plugins" },
        { "rhsm", "pluginconfdir", "/etc/rhsm/pluginconf.d" },
        { "rhsm", "auto_enable_yum_plugins", "1" },
        { "rhsm", "package_profile_on_trans", "0" },
        { "rhsm", "inotify", "1" },
        { "rhsm", "progress_messages", "1" },
        { "rhsm", "certificate_algorithms", "legacy" },
        { "rhsmcertd", "certcheckinterval", "240" },
        { "rhsmcertd", "splay", "1" },
        { "rhsmcertd", "disable", "0" },
        { "rhsmcertd", "auto_registration", "0" },
        { "rhsmcertd", "auto_registration_interval", "1" },
        { "rhsmcertd", "auto_registration_identity_interval", "10" },
        { "logging", "default_log_level", "INFO" },
};

/* ---- Python's notion of whitespace (str.isspace, \s, strip()) ------------ */

/* Bytes of the whitespace character at p (< end), or 0. */
static size_t space_at(const char *p, const char *end) {
        const unsigned char *u = (const unsigned char *) p;
        size_t n = (size_t) (end - p);

        if (n == 0)
                return 0;
        if ((u[0] >= 0x09 && u[0] <= 0x0d) || (u[0] >= 0x1c && u[0] <= 0x20))
                return 1;
        if (n >= 2 && u[0] == 0xc2 && (u[1] == 0x85 || u[1] == 0xa0))
                return 2;
        if (n < 3)
                return 0;
        if (u[0] == 0xe1 && u[1] == 0x9a && u[2] == 0x80) /* U+1680 */
                return 3;
        if (u[0] == 0xe2 && u[1] == 0x80 &&
            (u[2] <= 0x8a || u[2] == 0xa8 || u[2] == 0xa9 ||
             u[2] == 0xaf)) /* U+2000..200A, 2028, 2029, 202F */
                return 3;
        if (u[0] == 0xe2 && u[1] == 0x81 && u[2] == 0x9f) /* U+205F */
                return 3;
        if (u[0] == 0xe3 && u[1] == 0x80 && u[2] == 0x80) /* U+3000 */
                return 3;
        return 0;
}

/* Bytes of the whitespace character that ends just before p (> start), or 0. */
static size_t space_before(const char *start, const char *p) {
        for (size_t k = 1; k <= 3 && (size_t) (p - start) >= k; k++)
                if (space_at(p - k, p) == k)
                        return k;
        return 0;
}

static const char *rstrip(const char *start, const char *end) {
        size_t k;

        while (end > start && (k = space_before(start, end)) > 0)
                end -= k;
        return end;
}

static const char *lstrip(const char *p, const char *end) {
        size_t k;

        while (p < end && (k = space_at(p, end)) > 0)
                p += k;
        return p;
}

/* Strict UTF-8, as Python's decoder: no overlong forms, no surrogates, at
 * most U+10FFFF. */
static bool utf8_valid(const char *text, size_t len) {
        const unsigned char *u = (const unsigned char *) text;

        for (size_t i = 0; i < len;) {
                unsigned c = u[i], need;
                uint32_t cp;

                if (c < 0x80) {
                        i++;
                        continue;
                }
                if (c >= 0xc2 && c <= 0xdf)
                        need = 1, cp = c & 0x1f;
                else if (c >= 0xe0 && c <= 0xef)
                        need = 2, cp = c & 0x0f;
                else if (c >= 0xf0 && c <= 0xf4)
                        need = 3, cp = c & 0x07;
                else
                        return false;
                if (len - i <= need)
                        return false;
                for (unsigned k = 1; k <= need; k++) {
                        if ((u[i + k] & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (u[i + k] & 0x3f);
                }
                if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
                    (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                i += need + 1;
        }
        return true;
}

/* ---- the parsed file ------------------------------------------------------ */

static bool str_eq(Str a, const char *p, size_t n) {
        return a.n == n && memcmp(a.p, p, n) == 0;
}

static int str_dup(Str *ret, const char *p, size_t n, bool lower) {
        ret->p = malloc(n + 1);
        if (!ret->p)
                return -ENOMEM;
        memcpy(ret->p, p, n);
        ret->p[n] = '\0';
        ret->n = n;
        /* str.lower() folds every letter; ASCII is what rhsm.conf keys use. */
        if (lower)
                for (size_t i = 0; i < n; i++)
                        if (ret->p[i] >= 'A' && ret->p[i] <= 'Z')
                                ret->p[i] = (char) (ret->p[i] - 'A' + 'a');
        return 0;
}

RhsmConf *rhsm_conf_free(RhsmConf *rc) {
        if (!rc)
                return NULL;
        for (size_t i = 0; i < rc->n_opts; i++) {
                free(rc->opts[i].section.p);
                free(rc->opts[i].key.p);
                /* proxy_password lives here too */
                erase_and_free(rc->opts[i].value.p);
        }
        for (size_t i = 0; i < rc->n_sections; i++)
                free(rc->sections[i].p);
        free(rc->opts);
        free(rc->sections);
        free(rc);
        return NULL;
}

static bool section_exists(const RhsmConf *rc, const char *p, size_t n) {
        for (size_t i = 0; i < rc->n_sections; i++)
                if (str_eq(rc->sections[i], p, n))
                        return true;
        return false;
}

static ssize_t opt_index(const RhsmConf *rc, const char *sec, size_t sec_n, const char *key, size_t key_n) {
        for (size_t i = 0; i < rc->n_opts; i++)
                if (str_eq(rc->opts[i].section, sec, sec_n) && str_eq(rc->opts[i].key, key, key_n))
                        return (ssize_t) i;
        return -1;
}

/* Sets section.key (key already lower case) to value; returns its index. */
static ssize_t opt_set(RhsmConf *rc, const char *sec, size_t sec_n, const char *key, size_t key_n,
                       const char *value, size_t value_n, unsigned line) {
        ssize_t i = opt_index(rc, sec, sec_n, key, key_n);
        Str v;

        if (str_dup(&v, value, value_n, false) < 0)
                return -ENOMEM;
        if (i < 0) {
                RhsmOpt *n = realloc(rc->opts, (rc->n_opts + 1) * sizeof(RhsmOpt));

                if (!n) {
                        free(v.p);
                        return -ENOMEM;
                }
                rc->opts = n;
                n[rc->n_opts] = (RhsmOpt){};
                if (str_dup(&n[rc->n_opts].section, sec, sec_n, false) < 0 ||
                    str_dup(&n[rc->n_opts].key, key, key_n, false) < 0) {
                        free(n[rc->n_opts].section.p);
                        free(v.p);
                        return -ENOMEM;
                }
                i = (ssize_t) rc->n_opts++;
        } else
                erase_and_free(rc->opts[i].value.p);
        rc->opts[i].value = v;
        rc->opts[i].line = line;
        return i;
}

/* Appends "\n" + more to an option's value (a continuation line). */
static int opt_append(RhsmOpt *o, const char *more, size_t n) {
        char *v = malloc(o->value.n + 1 + n + 1);

        if (!v)
                return -ENOMEM;
        memcpy(v, o->value.p, o->value.n);
        v[o->value.n] = '\n';
        memcpy(v + o->value.n + 1, more, n);
        v[o->value.n + 1 + n] = '\0';
        erase_and_free(o->value.p);
        o->value.p = v;
        o->value.n += 1 + n;
        return 0;
}

typedef enum LineType {
        LINE_EMPTY,
        LINE_COMMENT,
        LINE_SECTION,
        LINE_OPTION,
        LINE_CONTINUATION,
        LINE_BAD,
} LineType;

typedef struct Line {
        const char *name, *value;
        size_t name_n, value_n;
} Line;

/* iniparse's line types, tried in its order: EmptyLine, CommentLine,
 * SectionLine, OptionLine, ContinuationLine; each looks at line.rstrip(). */
static LineType line_classify(const char *p, const char *end, Line *ret) {
        const char *e = rstrip(p, end), *q;

        *ret = (Line){};
        if (e == p)
                return LINE_EMPTY;
        if (*p == ';' || *p == '#' ||
            (e - p >= 3 && (p[0] | 0x20) == 'r' && (p[1] | 0x20) == 'e' && (p[2] | 0x20) == 'm'))
                return LINE_COMMENT;
        if (*p == '[') {
                /* ^\[(?P<name>[^]]+)\]\s*((;|#).*)?$ */
                const char *close = memchr(p, ']', (size_t) (e - p));

                if (close && close > p + 1) {
                        q = lstrip(close + 1, e);
                        if (q == e || *q == ';' || *q == '#') {
                                ret->name = p + 1;
                                ret->name_n = (size_t) (close - p - 1);
                                return LINE_SECTION;
                        }
                }
        }
        if (*p != ':' && *p != '=' && *p != '[' && space_at(p, e) == 0) {
                /* ^(?P<name>[^:=\s[][^:=]*)(?P<sep>[:=]\s*)(?P<value>.*)$ */
                for (q = p; q < e && *q != ':' && *q != '='; q++)
                        ;
                if (q < e) {
                        const char *v = lstrip(q + 1, e), *semi;

                        ret->name = p;
                        ret->name_n = (size_t) (rstrip(p, q) - p);
                        /* ";" starts a comment only after whitespace (the
                         * first ";" only); "#" never does. */
                        semi = memchr(v, ';', (size_t) (e - v));
                        if (semi && semi > v && space_before(v, semi) > 0)
                                e = rstrip(v, semi);
                        ret->value = v;
                        ret->value_n = (size_t) (e - v);
                        return LINE_OPTION;
                }
        }
        if (space_at(p, e) > 0) {
                q = lstrip(p, e);
                ret->value = q;
                ret->value_n = (size_t) (e - q);
                return LINE_CONTINUATION;
        }
        return LINE_BAD;
}

int rhsm_conf_parse(const char *text, size_t len, RhsmConf **ret, unsigned *ret_line) {
        _cleanup_(rhsm_conf_freep) RhsmConf *rc = calloc(1, sizeof(RhsmConf));
        const char *p = text, *end = text + len;
        const char *sec = NULL;
        size_t sec_n = 0;
        ssize_t cur = -1;
        unsigned line = 0, bad = 0;

        *ret_line = 0;
        if (!rc)
                return -ENOMEM;
        if (!utf8_valid(text, len))
                return -EBADMSG;
        if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
                p += 3;
        while (p < end) {
                const char *eol = p, *next;
                LineType t;
                Line l;

                /* universal newlines: \n, \r\n, \r */
                while (eol < end && *eol != '\n' && *eol != '\r')
                        eol++;
                next = eol < end ? eol + 1 + (*eol == '\r' && eol + 1 < end && eol[1] == '\n') : end;
                line++;
                t = line_classify(p, eol, &l);
                p = next;

                if (!sec && t != LINE_COMMENT && t != LINE_EMPTY && t != LINE_SECTION) {
                        *ret_line = line; /* MissingSectionHeaderError, at once */
                        return -EBADMSG;
                }
                switch (t) {
                case LINE_EMPTY:
                case LINE_COMMENT:
                        break;
                case LINE_BAD:
                        if (!bad)
                                bad = line; /* ParsingError, after the whole file */
                        break;
                case LINE_CONTINUATION:
                        if (cur < 0) {
                                if (!bad)
                                        bad = line;
                        } else if (opt_append(&rc->opts[cur], l.value, l.value_n) < 0)
                                return -ENOMEM;
                        break;
                case LINE_OPTION: {
                        _cleanup_free_ char *key = NULL;
                        Str k;

                        if (str_dup(&k, l.name, l.name_n, true) < 0)
                                return -ENOMEM;
                        key = k.p;
                        cur = opt_set(rc, sec, sec_n, k.p, k.n, l.value, l.value_n, line);
                        if (cur < 0)
                                return -ENOMEM;
                        break;
                }
                case LINE_SECTION:
                        sec = l.name;
                        sec_n = l.name_n;
                        cur = -1;
                        if (!str_eq((Str){ (char *) "DEFAULT", 7 }, sec, sec_n) &&
                            !section_exists(rc, sec, sec_n)) {
                                Str *n = realloc(rc->sections, (rc->n_sections + 1) * sizeof(Str));

                                if (!n)
                                        return -ENOMEM;
                                rc->sections = n;
                                if (str_dup(&n[rc->n_sections], sec, sec_n, false) < 0)
                                        return -ENOMEM;
                                rc->n_sections++;
                        }
                        break;
                }
        }
        if (bad) {
                *ret_line = bad;
                return -EBADMSG;
        }
        *ret = TAKE_PTR(rc);
        return 0;
}

/* ---- reading a value ------------------------------------------------------ */

/* RawConfigParser.get through INISection._compat_get: the section's own
 * option, else [DEFAULT]'s; key as given (lower-cased here). */
static const RhsmOpt *compat_get(const RhsmConf *rc, const char *sec, const char *key, size_t key_n) {
        _cleanup_free_ char *lower = NULL;
        Str k;
        ssize_t i;

        if (str_dup(&k, key, key_n, true) < 0)
                return NULL;
        lower = k.p;
        i = opt_index(rc, sec, strlen(sec), k.p, k.n);
        if (i < 0)
                i = opt_index(rc, "DEFAULT", 7, k.p, k.n);
        return i < 0 ? NULL : &rc->opts[i];
}

static const char *builtin_get(const char *sec, const char *key, size_t key_n) {
        for (size_t i = 0; i < ELEMENTSOF(builtin_defaults); i++) {
                const char *k = builtin_defaults[i].key;

                if (strcmp(builtin_defaults[i].section, sec) != 0 || strlen(k) != key_n)
                        continue;
                /* DEFAULTS[section][prop.lower()] */
                for (size_t j = 0; j <= key_n; j++) {
                        char c = j < key_n ? key[j] : '\0';

                        if (c >= 'A' && c <= 'Z')
                                c = (char) (c - 'A' + 'a');
                        if (c != k[j])
                                break;
                        if (j == key_n)
                                return builtin_defaults[i].value;
                }
        }
        return NULL;
}

/* SafeConfigParser._interpolate_some: 0, -ENOENT (a name that is not there:
 * InterpolationMissingOptionError), -EINVAL (syntax, depth), -E2BIG, -ENOMEM. */
static int interpolate(const RhsmConf *rc, const char *sec, const char *p, size_t n, int depth, Buf *out) {
        const char *end = p + n;
        int r;

        if (depth > INTERPOLATION_DEPTH_MAX)
                return -EINVAL;
        while (p < end) {
                const char *pct = memchr(p, '%', (size_t) (end - p));
                const RhsmOpt *v;
                const char *close;

                if (!pct)
                        return buf_append(out, p, (size_t) (end - p));
                r = buf_append(out, p, (size_t) (pct - p));
                if (r < 0)
                        return r;
                p = pct;
                if (end - p >= 2 && p[1] == '%') {
                        r = buf_append(out, "%", 1);
                        if (r < 0)
                                return r;
                        p += 2;
                        continue;
                }
                if (end - p < 2 || p[1] != '(')
                        return -EINVAL;
                /* %\(([^)]+)\)s */
                close = memchr(p + 2, ')', (size_t) (end - p - 2));
                if (!close || close == p + 2 || close + 1 >= end || close[1] != 's')
                        return -EINVAL;
                v = compat_get(rc, sec, p + 2, (size_t) (close - p - 2));
                if (!v)
                        return -ENOENT;
                p = close + 2;
                if (memchr(v->value.p, '%', v->value.n))
                        r = interpolate(rc, sec, v->value.p, v->value.n, depth + 1, out);
                else
                        r = buf_append(out, v->value.p, v->value.n);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* SafeConfigParser.set()'s check: a "%" left after removing every
 * %\(([^)]+)\)s is refused (ValueError). */
static bool bad_percent(const char *v, size_t n) {
        for (size_t i = 0; i < n; i++) {
                const char *close;

                if (v[i] != '%')
                        continue;
                if (i + 1 < n && v[i + 1] == '(' && (close = memchr(v + i + 2, ')', n - i - 2)) &&
                    close > v + i + 2 && (size_t) (close - v) + 1 < n && close[1] == 's') {
                        i = (size_t) (close - v) + 1;
                        continue;
                }
                return true;
        }
        return false;
}

static int get_level(RhsmConf *rc, const char *sec, const char *key, size_t key_n, unsigned level, Buf *out,
                     RhsmSource *ret_source, unsigned *ret_line) {
        _cleanup_free_ char *raw = NULL;
        const RhsmOpt *o;
        size_t raw_n;
        bool changed = false;
        int r;

        if (level > RECOVERY_DEPTH_MAX)
                return -EINVAL;
        o = section_exists(rc, sec, strlen(sec)) ? compat_get(rc, sec, key, key_n) : NULL;
        if (!o) {
                const char *d = builtin_get(sec, key, key_n);

                if (!d)
                        return 0; /* NoOptionError */
                buf_reset(out);
                r = buf_append_str(out, d);
                if (r < 0)
                        return r == -E2BIG ? -EINVAL : r;
                *ret_source = RHSM_SOURCE_BUILTIN;
                *ret_line = 0;
                return 1;
        }
        buf_reset(out);
        r = interpolate(rc, sec, o->value.p, o->value.n, 1, out);
        if (r == 0) {
                *ret_source = RHSM_SOURCE_FILE;
                *ret_line = o->line;
                return 1;
        }
        if (r == -ENOMEM)
                return r;
        if (r != -ENOENT)
                return -EINVAL;

        /* RhsmConfigParser.get(): for each %(name)s of the raw value
         * (re.findall(r"%\((.*?)\)s")) that has_option() finds, store its
         * value in the section, then try again. */
        raw_n = o->value.n;
        raw = malloc(raw_n + 1);
        if (!raw)
                return -ENOMEM;
        memcpy(raw, o->value.p, raw_n + 1);
        for (size_t i = 0; i + 1 < raw_n; i++) {
                size_t j;
                RhsmSource src;
                unsigned line;
                Buf v = BUF_INIT(VALUE_MAX);

                if (raw[i] != '%' || raw[i + 1] != '(')
                        continue;
                for (j = i + 2; j + 1 < raw_n && raw[j] != '\n' && !(raw[j] == ')' && raw[j + 1] == 's');
                     j++)
                        ;
                if (j + 1 >= raw_n || raw[j] != ')')
                        continue;
                r = get_level(rc, sec, raw + i + 2, j - i - 2, level + 1, &v, &src,
                              &line); /* has_option() */
                if (r > 0)
                        r = get_level(rc, sec, raw + i + 2, j - i - 2, level + 1, &v, &src, &line);
                if (r > 0 && bad_percent(buf_str(&v), v.len))
                        r = -EINVAL;
                if (r > 0) {
                        _cleanup_free_ char *k = NULL;
                        Str ks;

                        if (str_dup(&ks, raw + i + 2, j - i - 2, true) < 0)
                                r = -ENOMEM;
                        else {
                                k = ks.p;
                                if (opt_set(rc, sec, strlen(sec), ks.p, ks.n, buf_str(&v), v.len, 0) < 0)
                                        r = -ENOMEM;
                                else
                                        changed = true;
                        }
                }
                buf_free(&v);
                if (r < 0)
                        return r;
                i = j + 1;
        }
        if (!changed)
                return -EINVAL;
        return get_level(rc, sec, key, key_n, level + 1, out, ret_source, ret_line);
}

int rhsm_conf_get(RhsmConf *rc, const char *section, const char *key, char **ret, size_t *ret_len,
                  RhsmSource *ret_source, unsigned *ret_line) {
        Buf out = BUF_INIT(VALUE_MAX);
        RhsmSource src = RHSM_SOURCE_BUILTIN;
        unsigned line = 0;
        int r;

        r = get_level(rc, section, key, strlen(key), 0, &out, &src, &line);
        if (r <= 0) {
                buf_free(&out);
                return r;
        }
        *ret = buf_steal(&out, ret_len);
        if (!*ret)
                return -ENOMEM;
        *ret_source = src;
        *ret_line = line;
        return 1;
}

/* ---- python-rhsm's use of the values -------------------------------------- */

int rhsm_python_int(const char *s, long long *ret) {
        const char *end = s + strlen(s), *p;
        bool neg = false, digit = false;
        long long v = 0;

        p = lstrip(s, end);
        end = rstrip(p, end);
        if (p < end && (*p == '+' || *p == '-'))
                neg = *p++ == '-';
        for (; p < end; p++) {
                if (*p == '_' && digit && p + 1 < end && p[1] >= '0' && p[1] <= '9')
                        continue;
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                digit = true;
                if (v > (LLONG_MAX - (*p - '0')) / 10)
                        v = LLONG_MAX; /* saturate: only the sign and size matter here */
                else
                        v = v * 10 + (*p - '0');
        }
        if (!digit)
                return -EINVAL;
        *ret = neg ? -v : v;
        return 0;
}

static int warn(char ***warnings, const char *file, unsigned line, const char *format, ...) _printf_(4, 5);
static int warn(char ***warnings, const char *file, unsigned line, const char *format, ...) {
        _cleanup_free_ char *msg = NULL;
        char *full, **n;
        size_t count = 0;
        va_list ap;

        va_start(ap, format);
        msg = strdup_vprintf(format, ap);
        va_end(ap);
        if (!msg)
                return -ENOMEM;
        full = line > 0 ? strdup_printf("%s:%u: %s", file, line, msg) : strdup_printf("%s: %s", file, msg);
        if (!full)
                return -ENOMEM;
        while (*warnings && (*warnings)[count])
                count++;
        n = realloc(*warnings, (count + 2) * sizeof(char *));
        if (!n) {
                free(full);
                return -ENOMEM;
        }
        n[count] = full;
        n[count + 1] = NULL;
        *warnings = n;
        return 0;
}

static bool has_control_chars(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f)
                        return true;
        return false;
}

/* Applies one value; returns 0, -ENOMEM, or 1 when a warning was added and
 * the key left alone. */
static int apply_one(Config *c, const ConfigKey *k, const char *file, unsigned line, const char *value,
                     char ***warnings) {
        _cleanup_free_ char *msg = NULL;
        char buf[32], range[64];
        long long v;
        int r = -EINVAL;

        switch (k->type) {
        case CONFIG_BOOL:
                /* connection.py: safe_int(config.get("server", "insecure")) */
                if (rhsm_python_int(value, &v) < 0) {
                        r = warn(warnings, file, line,
                                 "[%s] %s = \"%s\" is not an integer: subscription-manager keeps verifying "
                                 "the "
                                 "server's certificate, and so does hvmap (only a non-zero number turns it "
                                 "off)",
                                 k->rhsm_section, k->rhsm_key, value);
                        v = 0;
                        if (r < 0)
                                return r;
                }
                r = config_key_set_value(c, k, v != 0 ? "yes" : "no", &msg);
                break;
        case CONFIG_UINT:
                if (rhsm_python_int(value, &v) < 0 || v < (long long) k->min || v > (long long) k->max) {
                        (void) snprintf(range, sizeof range, "%llu..%llu", (unsigned long long) k->min,
                                        (unsigned long long) k->max);
                        r = warn(warnings, file, line,
                                 "[%s] %s = \"%s\" is not a number in %s; hvmap ignores it ([%s] %s keeps "
                                 "its default)",
                                 k->rhsm_section, k->rhsm_key, value, range, k->section, k->key);
                        return r < 0 ? r : 1;
                }
                (void) snprintf(buf, sizeof buf, "%lld", v);
                r = config_key_set_value(c, k, buf, &msg);
                break;
        case CONFIG_DURATION: {
                /* server_timeout: whole seconds, any integer for python-rhsm */
                long long lo = (long long) (k->min / USEC_PER_SEC), hi = (long long) (k->max / USEC_PER_SEC);

                if (rhsm_python_int(value, &v) < 0) {
                        r = warn(warnings, file, line,
                                 "[%s] %s = \"%s\" is not a number of seconds; hvmap ignores it ([%s] %s "
                                 "keeps its default)",
                                 k->rhsm_section, k->rhsm_key, value, k->section, k->key);
                        return r < 0 ? r : 1;
                }
                if (v < lo || v > hi) {
                        long long clamped = v < lo ? lo : hi;

                        r = warn(warnings, file, line,
                                 "[%s] %s = %s is outside what hvmap accepts (%lld..%lld seconds); using "
                                 "%lld "
                                 "(set [%s] %s in hvmap.conf to choose)",
                                 k->rhsm_section, k->rhsm_key, value, lo, hi, clamped, k->section, k->key);
                        if (r < 0)
                                return r;
                        v = clamped;
                }
                (void) snprintf(buf, sizeof buf, "%llds", v);
                r = config_key_set_value(c, k, buf, &msg);
                break;
        }
        case CONFIG_STRING:
        case CONFIG_SECRET:
        case CONFIG_ENUM:
        case CONFIG_LIST:
        case CONFIG_LOG_LEVEL:
                r = config_key_set_value(c, k, value, &msg);
                break;
        }
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                r = warn(warnings, file, line, "[%s] %s: %s; hvmap ignores it", k->rhsm_section, k->rhsm_key,
                         msg ? msg : "invalid value");
                return r < 0 ? r : 1;
        }
        config_key_set_origin(c, k, ORIGIN_RHSM, file, line);
        return 0;
}

int rhsm_conf_apply(Config *c, const char *file, const char *text, size_t len, char ***warnings) {
        _cleanup_(rhsm_conf_freep) RhsmConf *rc = NULL;
        const ConfigKey *proxy_host = NULL, *proxy_port = NULL;
        unsigned bad_line, proxy_line = 0;
        int r;

        r = rhsm_conf_parse(text, len, &rc, &bad_line);
        if (r == -EBADMSG) {
                if (bad_line == 0)
                        return warn(warnings, file, 0,
                                    "not UTF-8 text: subscription-manager cannot read it; hvmap ignores it");
                return warn(warnings, file, bad_line,
                            "subscription-manager cannot parse this line (nor the file); hvmap ignores the "
                            "file");
        }
        if (r < 0)
                return r;

        for (size_t i = 0; i < config_keys_count; i++) {
                const ConfigKey *k = &config_keys[i];
                _cleanup_(erase_and_freep) char *value = NULL;
                RhsmSource src;
                unsigned line;
                size_t n;

                if (!k->rhsm_key)
                        continue;
                if (strcmp(k->section, "proxy") == 0 && strcmp(k->key, "hostname") == 0)
                        proxy_host = k;
                if (strcmp(k->section, "proxy") == 0 && strcmp(k->key, "port") == 0)
                        proxy_port = k;
                if (c->origins[i].kind != ORIGIN_DEFAULT)
                        continue;
                r = rhsm_conf_get(rc, k->rhsm_section, k->rhsm_key, &value, &n, &src, &line);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        r = warn(warnings, file, 0,
                                 "[%s] %s: subscription-manager cannot read this value (a bad %%(name)s "
                                 "reference or a lone %%); hvmap ignores it",
                                 k->rhsm_section, k->rhsm_key);
                        if (r < 0)
                                return r;
                        continue;
                }
                /* Unset, or empty ("the default"): hvmap's own default stays. */
                if (r == 0 || src != RHSM_SOURCE_FILE || n == 0)
                        continue;
                if (has_control_chars(value, n)) {
                        r = warn(warnings, file, line,
                                 "[%s] %s: the value contains control characters or spans lines; hvmap "
                                 "ignores it",
                                 k->rhsm_section, k->rhsm_key);
                        if (r < 0)
                                return r;
                        continue;
                }
                r = apply_one(c, k, file, line, value, warnings);
                if (r < 0)
                        return r;
                if (k == proxy_host && r == 0)
                        proxy_line = line;
        }

        /* connection.py uses a proxy only when both proxy_hostname and
         * proxy_port are set: a host without a port is no proxy (port 0:
         * the environment's, if it names one; see proto_proxy_resolve()). */
        if (proxy_host && proxy_port && proxy_line > 0 &&
            c->origins[proxy_port - config_keys].kind == ORIGIN_DEFAULT) {
                c->proxy_port = 0;
                config_key_set_origin(c, proxy_port, ORIGIN_RHSM, file, proxy_line);
                r = warn(warnings, file, proxy_line,
                         "[server] proxy_hostname is set but proxy_port is not: subscription-manager then "
                         "uses "
                         "no proxy (unless HTTPS_PROXY or the like gives one), and so does hvmap");
                if (r < 0)
                        return r;
        }
        return 0;
}

int config_parse_rhsm_text(Config *c, const char *file, const char *text, size_t len) {
        _cleanup_strv_free_ char **warnings = NULL;
        int r;

        r = rhsm_conf_apply(c, file, text, len, &warnings);
        for (char **w = warnings; w && *w; w++)
                log_warning("%s", *w);
        return r;
}
