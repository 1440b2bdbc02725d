/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hvmap's reading of rhsm.conf files as JSON, for the differential test
 * against python-rhsm's reader (test_rhsm_conf_differential.py).
 * Usage: rhsm-conf-dump FILE...; one JSON object per file and line:
 * {"file", "parse": "ok"|"error", "line", "keys": {"server.hostname":
 * {"value": s} | {"builtin": s} | {"error": true} | {"nul": true} | null, ...},
 * "config": {what hvmap takes from it over its defaults}}. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/conf.h"
#include "agent/rhsm-conf.h"
#include "util/cleanup.h"
#include "util/cleanup-libs.h"
#include "util/fileio.h"
#include "util/parse.h"
#include "util/strprintf.h"

/* The rhsm.conf keys hvmap uses, in config_keys order (python-rhsm's recovery
 * can change later reads, so both sides read in this order). */
static int add_keys(cJSON *keys, RhsmConf *rc) {
        for (size_t i = 0; i < config_keys_count; i++) {
                const ConfigKey *k = &config_keys[i];
                _cleanup_free_ char *v = NULL, *name = NULL;
                RhsmSource src;
                unsigned line;
                size_t n;
                cJSON *o;
                int r;

                if (!k->rhsm_key)
                        continue;
                name = strdup_printf("%s.%s", k->rhsm_section, k->rhsm_key);
                if (!name)
                        return -ENOMEM;
                r = rhsm_conf_get(rc, k->rhsm_section, k->rhsm_key, &v, &n, &src, &line);
                if (r == -ENOMEM)
                        return r;
                if (r == 0) {
                        if (!cJSON_AddNullToObject(keys, name))
                                return -ENOMEM;
                        continue;
                }
                o = cJSON_AddObjectToObject(keys, name);
                if (!o)
                        return -ENOMEM;
                if (r < 0)
                        r = cJSON_AddTrueToObject(o, "error") ? 0 : -ENOMEM;
                else if (memchr(v, '\0', n))
                        r = cJSON_AddTrueToObject(o, "nul") ? 0 : -ENOMEM;
                else
                        r = cJSON_AddStringToObject(o, src == RHSM_SOURCE_FILE ? "value" : "builtin", v)
                                    ? 0
                                    : -ENOMEM;
                if (r < 0)
                        return r;
        }
        return 0;
}

static int add_config(cJSON *out, const char *path, const char *text, size_t len) {
        _cleanup_strv_free_ char **warnings = NULL;
        cJSON *cfg, *w;
        Config c;
        int r;

        r = config_init(&c);
        if (r < 0)
                return r;
        r = rhsm_conf_apply(&c, path, text, len, &warnings);
        cfg = cJSON_AddObjectToObject(out, "config");
        w = cJSON_AddArrayToObject(out, "warnings");
        if (r >= 0 && (!cfg || !w))
                r = -ENOMEM;
        if (r >= 0 &&
            (!(c.hostname ? cJSON_AddStringToObject(cfg, "hostname", c.hostname)
                          : cJSON_AddNullToObject(cfg, "hostname")) ||
             !cJSON_AddStringToObject(cfg, "prefix", c.prefix) ||
             !cJSON_AddNumberToObject(cfg, "port", c.port) ||
             !cJSON_AddBoolToObject(cfg, "insecure", c.insecure) ||
             !cJSON_AddNumberToObject(cfg, "timeout_s", (double) (c.timeout_usec / USEC_PER_SEC)) ||
             !(c.proxy_hostname ? cJSON_AddStringToObject(cfg, "proxy_hostname", c.proxy_hostname)
                                : cJSON_AddNullToObject(cfg, "proxy_hostname")) ||
             !cJSON_AddNumberToObject(cfg, "proxy_port", c.proxy_port) ||
             !cJSON_AddStringToObject(cfg, "ca_dir", c.ca_dir)))
                r = -ENOMEM;
        for (char **p = warnings; r >= 0 && p && *p; p++)
                if (!cJSON_AddItemToArray(w, cJSON_CreateString(*p)))
                        r = -ENOMEM;
        config_free(&c);
        return r;
}

static int dump(const char *path) {
        _cleanup_(cJSON_Deletep) cJSON *out = cJSON_CreateObject();
        _cleanup_(rhsm_conf_freep) RhsmConf *rc = NULL;
        _cleanup_free_ char *text = NULL, *s = NULL;
        unsigned line = 0;
        size_t len;
        cJSON *keys;
        int r;

        if (!out)
                return -ENOMEM;
        r = read_file_capped(path, 4 * 1024 * 1024, &text, &len);
        if (r < 0) {
                fprintf(stderr, "rhsm-conf-dump: %s: %s\n", path, strerror(-r));
                return r;
        }
        if (!cJSON_AddStringToObject(out, "file", path))
                return -ENOMEM;
        r = rhsm_conf_parse(text, len, &rc, &line);
        if (r < 0 && r != -EBADMSG)
                return r;
        if (!cJSON_AddStringToObject(out, "parse", r == 0 ? "ok" : "error") ||
            !cJSON_AddNumberToObject(out, "line", line))
                return -ENOMEM;
        keys = cJSON_AddObjectToObject(out, "keys");
        if (!keys)
                return -ENOMEM;
        if (rc) {
                r = add_keys(keys, rc);
                if (r < 0)
                        return r;
        }
        r = add_config(out, path, text, len);
        if (r < 0)
                return r;
        s = cJSON_PrintUnformatted(out);
        if (!s)
                return -ENOMEM;
        puts(s);
        return 0;
}

int main(int argc, char **argv) {
        int ret = 0;

        for (int i = 1; i < argc; i++)
                if (dump(argv[i]) < 0)
                        ret = 1;
        return ret;
}
