# SPDX-License-Identifier: GPL-2.0-or-later
"""Proves the symbol ceiling can fail: each case plants a use in a copy of
the real tree (agent/ host/ proto/ util/, the spec, the README, meson.build)
and runs symbol_ceiling.py on it, with the floors meson passes."""

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CHECK = os.path.join(HERE, "symbol_ceiling.py")
ARGS = [a for a in os.environ.get("CEILING_ARGS", "").split("\t") if a]
SRC = ARGS[ARGS.index("--root") + 1] if "--root" in ARGS else os.path.abspath(os.path.join(HERE, "..", ".."))
CC = shlex.split(os.environ.get("CC", "cc"))
sys.path.insert(0, HERE)
import symbol_ceiling  # noqa: E402


def args_without_root():
    out, skip = [], False
    for a in ARGS:
        if skip:
            skip = False
            continue
        if a == "--root":
            skip = True
            continue
        out.append(a)
    if not out:
        out = ["--floor", "libvirt=7.0.0", "--floor", "libcurl=7.61.0", "--floor", "libsystemd=239",
               "--floor", "openssl=1.1.1", "--floor", "libcjson=1.7.14"]
    return out


class Ceiling(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="hvmap-ceiling-")
        self.addCleanup(shutil.rmtree, self.root, True)
        for d in symbol_ceiling.SOURCE_DIRS:
            shutil.copytree(os.path.join(SRC, d), os.path.join(self.root, d))
        os.makedirs(os.path.join(self.root, "rpm"))
        for f in ("rpm/hvmap.spec", "README.md", "meson.build"):
            shutil.copy(os.path.join(SRC, f), os.path.join(self.root, f))

    def run_check(self, *extra):
        return subprocess.run([sys.executable, CHECK, "--root", self.root, *args_without_root(), *extra],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120)

    def plant(self, rel, code):
        with open(os.path.join(self.root, rel), "a") as f:
            f.write("\n" + code + "\n")
        with open(os.path.join(self.root, rel)) as f:
            return f.read().count("\n") - code.count("\n")  # the planted code's first line

    def assert_fails_at(self, r, rel, line, *words):
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        fails = [l for l in r.stdout.splitlines() if l.startswith("FAIL ")]
        hit = [l for l in fails if ("%s:%d:" % (rel, line)) in l and all(w in l for w in words)]
        self.assertTrue(hit, "no FAIL line for %s:%d with %s in:\n%s" % (rel, line, words, r.stdout))

    def test_copy_of_the_real_tree_passes(self):
        r = self.run_check()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_planted_unguarded_cainfo_blob_fails(self):
        line = self.plant("proto/http.c",
                          "static void planted(CURL *e, struct curl_blob *b) {\n"
                          "        (void) curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, b);\n}")
        self.assert_fails_at(self.run_check(), "proto/http.c", line + 1, "CURLOPT_CAINFO_BLOB", "7.77.0",
                             "7.61.0")

    def test_guarded_cainfo_blob_passes_and_its_else_branch_fails(self):
        self.plant("proto/http.c",
                   "#if CURL_AT_LEAST_VERSION(7, 77, 0)\n"
                   "static void planted(CURL *e, struct curl_blob *b) {\n"
                   "        (void) curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, b);\n}\n#endif")
        r = self.run_check()
        self.assertEqual(r.returncode, 0, r.stdout)
        line = self.plant("proto/http.c",
                          "#if CURL_AT_LEAST_VERSION(7, 80, 0)\nstatic int x;\n#else\n"
                          "static int planted2(CURL *e) { return curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, 0); }\n"
                          "#endif")
        self.assert_fails_at(self.run_check(), "proto/http.c", line + 3, "CURLOPT_CAINFO_BLOB")

    def test_a_guard_too_low_fails(self):
        line = self.plant("proto/http.c",
                          "#if LIBCURL_VERSION_NUM >= 0x074c00\n"
                          "static int planted(CURL *e) { return curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, 0); }\n"
                          "#endif")
        self.assert_fails_at(self.run_check(), "proto/http.c", line + 1, "CURLOPT_CAINFO_BLOB")

    def test_deprecated_option_outside_an_old_curl_branch_fails(self):
        line = self.plant("proto/http.c",
                          "static int planted(CURL *e) { return curl_easy_setopt(e, CURLOPT_PROTOCOLS, 2L); }")
        self.assert_fails_at(self.run_check(), "proto/http.c", line, "CURLOPT_PROTOCOLS", "deprecated", "7.85.0")

    def test_words_in_comments_and_strings_do_not_count(self):
        self.plant("proto/http.c",
                   "/* CURLOPT_CAINFO_BLOB is curl 7.77 */\n"
                   "static const char *planted = \"CURLOPT_CAINFO_BLOB\";")
        r = self.run_check()
        self.assertEqual(r.returncode, 0, r.stdout)

    def test_unknown_curl_name_fails(self):
        line = self.plant("proto/http.c", "static int planted(CURL *e) { return curl_easy_upkeep(e); }")
        self.assert_fails_at(self.run_check(), "proto/http.c", line, "curl_easy_upkeep", "curl-symbols.txt")

    def test_unguarded_newer_libvirt_enum_fails(self):
        inc = ARGS[ARGS.index("--libvirt-include") + 1] if "--libvirt-include" in ARGS else "/usr/include/libvirt"
        if "VIR_DOMAIN_EVENT_RESUMED_POSTCOPY_FAILED" not in symbol_ceiling.load_libvirt_since(inc):
            self.skipTest("these libvirt headers carry no (Since: ...) notes (libvirt < 9)")
        line = self.plant("host/guest-event.c", "static int planted = VIR_DOMAIN_EVENT_RESUMED_POSTCOPY_FAILED;")
        self.assert_fails_at(self.run_check(), "host/guest-event.c", line, "VIR_DOMAIN_EVENT_RESUMED_POSTCOPY_FAILED",
                             "8.5.0", "LIBVIR_CHECK_VERSION")

    def test_binary_needing_libsystemd_247_fails(self):
        src = os.path.join(self.root, "planted.c")
        exe = os.path.join(self.root, "planted")
        with open(src, "w") as f:
            f.write("#include <systemd/sd-event.h>\n"
                    "int main(void) {\n"
                    "        sd_event *e = NULL;\n"
                    "        (void) sd_event_default(&e);\n"
                    "        return sd_event_add_time_relative(e, NULL, CLOCK_MONOTONIC, 1, 0, NULL, NULL);\n}\n")
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libsystemd"], stdout=subprocess.PIPE,
                               universal_newlines=True).stdout.split()
        cc = subprocess.run(CC + [src, "-o", exe] + flags, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        self.assertEqual(cc.returncode, 0, "cannot build the planted binary: " + cc.stderr)
        r = self.run_check("--binary", exe)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("sd_event_add_time_relative@LIBSYSTEMD_247", r.stdout)
        self.assertIn("floor libsystemd 239", r.stdout)

    def test_spec_or_readme_floor_drift_fails(self):
        spec = os.path.join(self.root, "rpm", "hvmap.spec")
        with open(spec) as f:
            text = f.read()
        with open(spec, "w") as f:
            f.write(text.replace("pkgconfig(libcurl) >= 7.61.0", "pkgconfig(libcurl) >= 7.76.1"))
        r = self.run_check()
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("rpm/hvmap.spec: BuildRequires libcurl >= 7.76.1, but meson.build says 7.61.0", r.stdout)

    def test_kept_table_cannot_disagree_with_curls_list(self):
        if not any(os.path.exists(p) for p in symbol_ceiling.CURL_MAN_PAGES):
            self.skipTest("libcurl-symbols(3) is not installed")
        kept = os.path.join(self.root, "kept.txt")
        with open(os.path.join(HERE, "curl-symbols.txt")) as f:
            text = f.read()
        with open(kept, "w") as f:
            # An option every curl's list has (an old curl's lacks CAINFO_BLOB).
            f.write(text.replace("CURLOPT_SSL_CTX_FUNCTION    7.10.6", "CURLOPT_SSL_CTX_FUNCTION    7.60.0"))
        r = self.run_check("--kept-table", kept)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("CURLOPT_SSL_CTX_FUNCTION introduced in 7.60.0, curl's list says 7.10.6", r.stdout)


if __name__ == "__main__":
    unittest.main()
