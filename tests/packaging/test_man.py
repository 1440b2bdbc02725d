# SPDX-License-Identifier: GPL-2.0-or-later
"""man/: hvmap(8) and hvmap.conf(5) render without warnings (man -l) and
cover every command, exit code, signal and configuration key (with its
default, range and rhsm.conf fallback)."""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pkgtest import BUILD, HVMAP, config_table, need, parse_sample, run  # noqa: E402

MAN8 = os.path.join(BUILD, "man", "hvmap.8")
MAN5 = os.path.join(BUILD, "man", "hvmap.conf.5")
ENV = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="100", MAN_DISABLE_SECCOMP="1")


def render(page):
    p = run(["man", "--warnings", "-E", "UTF-8", "-l", page], env=ENV)
    return p.stdout, p.stderr


def section(text, name):
    """The rendered text of one .SH section (man renders it unindented)."""
    m = re.search(r"(?ms)^%s\n(.*?)(?=^\S)" % re.escape(name), text)
    if not m:
        raise AssertionError("no section %s" % name)
    return re.sub(r"\s+", " ", m.group(1))


def conf_entries():
    """{(section, key): entry source} of hvmap.conf.5's KEYS section."""
    out, sec, key = {}, None, None
    with open(MAN5) as f:
        text = f.read()
    for line in text.split(".SH RHSM")[0].split(".SH KEYS")[1].splitlines():
        m = re.match(r"^\.SS \[(\w+)\]$", line)
        if m:
            sec, key = m.group(1), None
            continue
        m = re.match(r'^\.BI? "?(\w+) =', line)
        if m and sec:
            key = m.group(1)
            out[(sec, key)] = ""
            continue
        if key:
            out[(sec, key)] += line + "\n"
    return out


def plain(troff):
    """Entry source without font escapes and requests: what a reader sees."""
    t = re.sub(r"\\f[BIRP]", "", troff).replace("\\-", "-").replace("\\e", "\\")
    t = re.sub(r"(?m)^\.(BR|BI|IR|IB|B|I|RB) ", "", t)
    return re.sub(r"\s+", " ", t.replace('"', ""))


class ManPages(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        need("man", "man-db")
        need("groff", "groff-base")

    def test_render_without_warnings(self):
        for page in (MAN8, MAN5):
            out, err = render(page)
            self.assertEqual(err, "", "%s: %s" % (page, err))
            self.assertGreater(len(out.splitlines()), 40, page)
            self.assertNotRegex(out, r"@[A-Z]+@", "an unrendered @VAR@ in " + page)

    def test_hvmap8_covers_every_command(self):
        out, _ = render(MAN8)
        help_text = run([HVMAP, "--help"]).stdout
        commands = re.findall(r"(?m)^  (\w+)\s{2,}", help_text.split("Commands:")[1].split("Options")[0])
        self.assertGreaterEqual(len(commands), 7, help_text)
        cmds = section(out, "COMMANDS")
        for c in commands:
            self.assertRegex(cmds, r"(^| )%s( |$)" % c, "command %s missing from hvmap(8)" % c)
        opts = section(out, "OPTIONS")
        for o in re.findall(r"(--[a-z-]+)", help_text.split("Options")[1].split("Exit status")[0]):
            self.assertIn(o, opts, "option %s missing from hvmap(8)" % o)
        codes = section(out, "EXIT STATUS")
        for code in ("0", "64", "69", "75", "77", "78"):
            self.assertRegex(codes, r"(^| )%s " % code)
        sigs = section(out, "SIGNALS")
        for s in ("SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1"):
            self.assertIn(s, sigs)
        files = section(out, "FILES")
        for f in ("/etc/hvmap/hvmap.conf", "hvmap.conf.d", "/var/lib/hvmap", "rhsm.conf"):
            self.assertIn(f, files)
        self.assertIn("EXAMPLES", out)

    def test_hvmap_conf5_documents_every_key(self):
        table = config_table()
        with open(os.path.join(BUILD, "units", "hvmap.conf")) as f:
            sample = parse_sample(f.read())
        entries = conf_entries()
        self.assertEqual(sorted(entries), sorted((r[0], r[1]) for r in table),
                         "hvmap.conf(5) keys differ from agent/conf.c's table")
        for sec, key, typ, _, lo, hi, rsec, rkey in table:
            text = plain(entries[(sec, key)])
            dflt = sample[(sec, key)]
            if dflt:
                self.assertRegex(text, r"Default: (\S+ )*?%s[ .,]" % re.escape(dflt),
                                 "[%s] %s: default %s not documented" % (sec, key, dflt))
            else:
                self.assertRegex(text, r"Default: unset", "[%s] %s" % (sec, key))
            if rsec:
                self.assertIn("rhsm.conf: %s.%s" % (rsec, rkey), text, "[%s] %s" % (sec, key))
            if typ in ("CONFIG_UINT", "CONFIG_DURATION") and hi != "0":
                self.assertRegex(text, r"Range: \S+ to \S+\.", "[%s] %s: no range" % (sec, key))
            if typ == "CONFIG_UINT":
                self.assertIn("Range: %s to %s." % (lo, hi), text, "[%s] %s" % (sec, key))
        rhsm = section(render(MAN5)[0], "RHSM.CONF KEYS READ")
        for *_, rsec, rkey in table:
            if rkey:
                self.assertIn(rkey, rhsm)


if __name__ == "__main__":
    unittest.main()
