# SPDX-License-Identifier: GPL-2.0-or-later
"""Proves the lint can fail: each rule gets a planted violation in a
temporary tree, and `meson test lint` itself fails on a planted copy of the
real source tree."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
LINT = os.environ.get("LINT_PY", os.path.join(HERE, "lint.py"))
SRC_ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))

CLEAN_MAIN = """/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdlib.h>
int main(void) {
        exit(0);
}
"""


def run_lint(root, *extra):
    return subprocess.run([sys.executable, LINT, "--root", root, "--no-format", *extra],
                          capture_output=True, text=True, timeout=60)


class LintRules(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="hvmap-lint-")
        self.addCleanup(shutil.rmtree, self.root)
        os.makedirs(os.path.join(self.root, "agent"))
        os.makedirs(os.path.join(self.root, "util"))
        os.makedirs(os.path.join(self.root, "tests", "unit"))
        self.write("agent/main.c", CLEAN_MAIN)

    def write(self, rel, text):
        with open(os.path.join(self.root, rel), "w") as f:
            f.write(text)

    def plant(self, body, rel="util/x.c"):
        self.write(rel, "/* SPDX-License-Identifier: GPL-2.0-or-later */\nvoid f(void) {\n" + body + "\n}\n")
        return run_lint(self.root)

    def test_clean_tree_passes(self):
        self.write("util/ok.c", '/* fine: "// not a comment" */\nstatic const char *u = "https://x//y";\n'
                   "int g(char *b, unsigned long n) { return snprintf(b, n, \"%d\", 1); }\n"
                   "int h(void) { return open(\"/x\", O_RDONLY | O_CLOEXEC); }\n"
                   "int k(void) { return socket(1, SOCK_STREAM | SOCK_CLOEXEC, 0); }\n"
                   "void *m(void) { return fopen(\"/x\", \"re\"); }\n"
                   "void n(void) { _exit(1); strtok_r(0, 0, 0); }\n")
        r = run_lint(self.root)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_each_banned_call_fails_and_names_file_line_rule(self):
        cases = [
            ("sprintf", 'char b[8]; sprintf(b, "%d", 1);'),
            ("sprintf", 'vsprintf(b, "%d", ap);'),
            ("strcpy", "strcpy(a, b);"),
            ("strcat", "strcat(a, b);"),
            ("strtok", 'strtok(s, ",");'),
            ("atoi", "int n = atoi(s);"),
            ("atoi", "long n = atol(s);"),
            ("system", 'system("ls");'),
            ("exit", "exit(1);"),
            ("curl_easy_perform", "curl_easy_perform(h);"),
            ("sleep", "sleep(1);"),
            ("sleep", "usleep(10);"),
            ("cloexec", 'int fd = open("/x", O_RDONLY);'),
            ("cloexec", "int s = socket(AF_INET, SOCK_STREAM, 0);"),
            ("cloexec", 'FILE *f = fopen("/x", "r");'),
            ("pipe", "pipe(p);"),
            ("mkstemp", "mkstemp(t);"),
            ("comment", "int x; // trailing"),
        ]
        for rule, body in cases:
            with self.subTest(rule=rule, body=body):
                r = self.plant(body)
                self.assertEqual(r.returncode, 1, r.stdout)
                self.assertIn("util/x.c:3: %s:" % rule, r.stdout)

    def test_multiline_open_without_cloexec(self):
        r = self.plant('int fd = open("/x",\n        O_RDONLY);')
        self.assertEqual(r.returncode, 1)
        self.assertIn("cloexec", r.stdout)

    def test_exceptions(self):
        # exit() is main's to call; tests may block and use curl_easy_perform.
        self.write("tests/unit/t.c", "void t(void) { curl_easy_perform(h); sleep(1); }\n")
        r = run_lint(self.root)
        self.assertEqual(r.returncode, 0, r.stdout)
        r = self.plant("curl_easy_perform(h);", rel="tests/unit/t.c")
        self.assertEqual(r.returncode, 0, r.stdout)
        r = self.plant('sprintf(b, "x");', rel="tests/unit/t.c")
        self.assertEqual(r.returncode, 1, "sprintf stays banned in tests")

    def test_allow_marker_needs_the_rule_name(self):
        r = self.plant("sleep(1); /* lint-allow: sleep */")
        self.assertEqual(r.returncode, 0, r.stdout)
        r = self.plant("sleep(1); /* lint-allow: exit */")
        self.assertEqual(r.returncode, 1, r.stdout)

    @unittest.skipUnless(shutil.which("clang-format"), "clang-format not installed")
    def test_unformatted_file_fails(self):
        shutil.copy(os.path.join(SRC_ROOT, ".clang-format"), self.root)
        self.write("util/ugly.c", "int   f( void ){return 1;}\n")
        r = subprocess.run([sys.executable, LINT, "--root", self.root], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("util/ugly.c: format:", r.stdout)


@unittest.skipUnless(shutil.which("meson") and shutil.which("ninja"), "meson/ninja not installed")
class MesonLintTest(unittest.TestCase):
    """`meson test lint` on a copy of the real tree: passes, then fails once a
    banned call is planted in util/."""

    def test_meson_lint_fails_on_planted_call(self):
        tmp = tempfile.mkdtemp(prefix="hvmap-lint-tree-")
        self.addCleanup(shutil.rmtree, tmp)
        src = os.path.join(tmp, "src")
        ignore = shutil.ignore_patterns("build*", ".git", "__pycache__", "*.pyc")
        shutil.copytree(SRC_ROOT, src, ignore=ignore)
        build = os.path.join(tmp, "build")
        setup = subprocess.run(["meson", "setup", build, src], capture_output=True, text=True, timeout=120)
        self.assertEqual(setup.returncode, 0, setup.stdout[-2000:] + setup.stderr[-2000:])

        def meson_lint():
            res = subprocess.run(["meson", "test", "-C", build, "--no-rebuild", "lint"],
                                 capture_output=True, text=True, timeout=120)
            with open(os.path.join(build, "meson-logs", "testlog.txt")) as f:
                return res.returncode, f.read()

        # The copy may hold someone's unfinished work, so the baseline is not
        # required to pass; what must hold is that the planted call is named.
        _, before = meson_lint()
        self.assertNotIn(": atoi:", before)

        path = os.path.join(src, "util", "parse.c")
        with open(path) as f:
            n = f.read().count("\n")
        with open(path, "a") as f:
            f.write("int planted(const char *s);\nint planted(const char *s) {\n        return atoi(s);\n}\n")
        rc, after = meson_lint()
        self.assertNotEqual(rc, 0, after[-3000:])
        self.assertIn("util/parse.c:%d: atoi:" % (n + 3), after)


if __name__ == "__main__":
    unittest.main()
