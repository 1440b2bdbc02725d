/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzzes what `hvmap status` makes of a state.json: every string of the
 * state reaches `status --json` unchanged (the state/status JSON round
 * trip, also through state_format() and back), and the text form is one
 * escaped line per label, so nothing in the file can forge a line. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <string.h>

#include "agent/state.h"
#include "agent/verbs.h"
#include "tests/fuzz/fuzz.h"
#include "util/cleanup.h"
#include "util/cleanup-libs.h"

static const char *const labels[] = {
        "health:      ",          "server:      ", "identity:    ",          "warning:     ",
        "daemon:      ",          "state:       ", "phase:       ",          "libvirt:     ",
        "guests:      ",          "next report: ", "last accepted report: ", "last attempt:         ",
        "failures in a row:    ",
};

static const char *json_str(const cJSON *root, const char *obj, const char *key) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, obj), key);

        if (!v)
                fuzz_fail("status --json has no %s.%s", obj, key);
        return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void check_text(const StatusView *v) {
        _cleanup_free_ char *out = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&out, &n);
        int r;

        fuzz_assert(f);
        r = status_print_text(v, f);
        fclose(f);
        if (r == -ENOMEM || !out)
                return;
        fuzz_assert(r == 0);
        for (char *line = out; *line;) {
                char *nl = strchr(line, '\n');
                bool known = false;

                if (!nl)
                        fuzz_fail("status text does not end with a newline: %s", line);
                for (size_t i = 0; i < ELEMENTSOF(labels); i++)
                        known = known || strncmp(line, labels[i], strlen(labels[i])) == 0;
                if (!known)
                        fuzz_fail("status text has a line no label starts (a forged line?): %.*s",
                                  (int) (nl - line), line);
                for (char *p = line; p < nl; p++)
                        if ((unsigned char) *p < 0x20 || *p == 0x7f)
                                fuzz_fail("control character 0x%02x in a status line", (unsigned char) *p);
                line = nl + 1;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *json1 = NULL, *json2 = NULL, *state_text = NULL;
        _cleanup_(cJSON_Deletep) cJSON *root = NULL;
        State st = {}, st2 = {};
        StatusView v = {
                .url = "https://cp.example.com/candlepin",
                .id_r = -ENOENT,
                .now_usec = 1800000000000000,
        };
        int r;

        if (state_parse((const char *) data, size, &st) < 0)
                return 0;
        v.state = &st;
        v.running = st.pid != 0;
        r = status_format_json(&v, &json1);
        if (r == -ENOMEM)
                goto out;
        fuzz_assert(r == 0);
        root = cJSON_Parse(json1);
        if (!root)
                fuzz_fail("status --json is not JSON:\n%s", json1);
        /* Strings pass unchanged (cJSON escapes them the JSON way). */
        if (!streq_ptr(json_str(root, "report", "last_error"), st.last_message))
                fuzz_fail("last_message changed on its way to status --json");
        if (!streq_ptr(json_str(root, "report", "last_result"), st.last_result))
                fuzz_fail("last_result changed on its way to status --json");
        if (v.running && !streq_ptr(json_str(root, "daemon", "libvirt_error"), st.libvirt_error))
                fuzz_fail("libvirt_error changed on its way to status --json");

        /* Through state.json and back: the same status. */
        r = state_format(&st, &state_text);
        if (r == -ENOMEM)
                goto out;
        fuzz_assert(r >= 0);
        if (state_parse(state_text, strlen(state_text), &st2) < 0)
                fuzz_fail("state_format() wrote what state_parse() refuses:\n%s", state_text);
        v.state = &st2;
        r = status_format_json(&v, &json2);
        if (r == -ENOMEM)
                goto out;
        fuzz_assert(r == 0);
        if (strcmp(json1, json2) != 0)
                fuzz_fail("status differs after a state.json round trip:\n%s\n---\n%s", json1, json2);

        v.state = &st;
        check_text(&v);
out:
        state_done(&st);
        state_done(&st2);
        return 0;
}
