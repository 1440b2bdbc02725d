# SPDX-License-Identifier: GPL-2.0-or-later
"""hvmap(8) and the bash completion against the program itself, read at test
time so that a new command, option or exit code fails here until it is
documented and completed:
- every command of `hvmap --help`, and every option of `hvmap COMMAND --help`
  in that command's entry of hvmap(8) (or its OPTIONS, for global ones);
- every sysexits code the sources return (EX_* in agent/, host/, proto/,
  util/, read from sysexits.h) in EXIT STATUS, and no documented one that
  nothing returns;
- the completion, run in bash with bash-completion, offers every command,
  every option of every command, the values of enumerated options (each one
  accepted by hvmap's configuration parser), and the configuration keys of
  `hvmap config --sample`."""

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pkgtest import BUILD, HVMAP, SRC, need, parse_sample, run  # noqa: E402

MAN8 = os.path.join(BUILD, "man", "hvmap.8")
COMPLETION = os.path.join(BUILD, "completion", "hvmap")
BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"
ENV = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="100", MAN_DISABLE_SECCOMP="1")
OPT = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def help_text(*args):
    p = run([HVMAP, "--config-dir", "/nonexistent", "--rhsm-conf", ""] + list(args) + ["--help"])
    return p.stdout + p.stderr


def commands():
    top = help_text()
    cmds = re.findall(r"(?m)^  ([a-z][a-z0-9-]*)\s{2,}", top.split("Commands:")[1].split("\n\n")[0])
    if len(cmds) < 5:
        raise AssertionError("cannot read the commands from hvmap --help:\n" + top)
    return cmds


def global_options():
    top = help_text()
    return set(OPT.findall(top.split("Options")[1].split("\n\n")[0]))


def command_options(cmd):
    return set(OPT.findall(help_text(cmd))) | {"--help"}


def rendered_man():
    need("man", "man-db")
    return run(["man", "-E", "UTF-8", "-l", MAN8], env=ENV).stdout


def man_section(text, name):
    m = re.search(r"(?ms)^%s\n(.*?)(?=^\S)" % re.escape(name), text)
    if not m:
        raise AssertionError("hvmap(8) has no section " + name)
    return m.group(1)


def sysexits():
    """{EX_NAME: number} from the system's sysexits.h."""
    with open("/usr/include/sysexits.h") as f:
        return {n: int(v) for n, v in re.findall(r"#define\s+(EX_[A-Z]+)\s+(\d+)", f.read())}


def exit_codes_used():
    """{number: [file:line, ...]} of every sysexits name the sources use."""
    names = sysexits()
    used = {}
    for path in sorted(glob.glob(os.path.join(SRC, "*", "*.c"))):
        if os.path.relpath(path, SRC).split(os.sep)[0] not in ("agent", "host", "proto", "util"):
            continue
        with open(path) as f:
            for n, line in enumerate(f, 1):
                for name in re.findall(r"\bEX_[A-Z]+\b", line):
                    if name in names and name != "EX__BASE" and name != "EX__MAX":
                        used.setdefault(names[name], []).append("%s:%d" % (os.path.relpath(path, SRC), n))
    return used


class Man(unittest.TestCase):
    def test_every_command_option_in_its_entry(self):
        text = rendered_man()
        cmds = man_section(text, "COMMANDS")
        globals_doc = man_section(text, "OPTIONS")
        # An entry starts at a tag line (7 spaces, then the command; a long
        # tag wraps onto more such lines) and runs to the next command's.
        entries, cur = {}, None
        names = commands()
        for line in cmds.splitlines():
            m = re.match(r"^       (\S+)", line)
            if m and m.group(1) in names:
                cur = m.group(1)
                entries[cur] = ""
            if cur:
                entries[cur] += line + "\n"
        glob_opts = global_options()
        for o in glob_opts:
            self.assertRegex(globals_doc, r"(?<![\w-])%s(?![\w-])" % re.escape(o), "global option %s" % o)
        for c in names:
            self.assertIn(c, entries, "command %s has no entry in hvmap(8) COMMANDS" % c)
            for o in sorted(command_options(c) - glob_opts - {"--help"}):
                with self.subTest(command=c, option=o):
                    self.assertTrue(re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(o), entries[c]),
                                    "hvmap %s --help has %s; its entry in hvmap(8) does not" % (c, o))

    def test_every_exit_code_documented_and_used(self):
        text = rendered_man()
        section = man_section(text, "EXIT STATUS")
        documented = {int(c) for c in re.findall(r"(?m)^       (\d+)\s", section)}
        used = exit_codes_used()
        self.assertGreaterEqual(len(used), 8, used)
        for code, where in sorted(used.items()):
            self.assertIn(code, documented, "exit code %d (%s) is not in hvmap(8) EXIT STATUS" % (code, where[0]))
        for code in sorted(documented):
            if 64 <= code <= 78:
                self.assertIn(code, used, "hvmap(8) documents exit code %d, which nothing returns" % code)
        self.assertIn(0, documented)

    def test_help_exit_codes_documented(self):
        """The codes `hvmap --help` and each command's --help name are in hvmap(8)."""
        section = man_section(rendered_man(), "EXIT STATUS")
        documented = {int(c) for c in re.findall(r"(?m)^       (\d+)\s", section)}
        for args in [()] + [(c,) for c in commands()]:
            h = help_text(*args)
            m = re.search(r"(?s)Exit(?: status)?:?(.*?)(?:\n\n|\Z)", h)
            if not m:
                continue
            for code in re.findall(r"(?<![\w.])(\d{1,3})(?=[ :;,)]|$)", m.group(1)):
                with self.subTest(help=" ".join(args) or "hvmap", code=code):
                    self.assertIn(int(code), documented)


class Completion(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        need("bash", "bash")
        if not os.path.exists(BASH_COMPLETION):
            raise unittest.SkipTest("%s missing (scripts/setup installs bash-completion)" % BASH_COMPLETION)
        if not os.path.exists(COMPLETION):
            raise AssertionError("%s not built" % COMPLETION)

    def complete(self, *lines):
        """{line: [completions]} as bash would offer them at the end of line:
        readline splits words at blanks and at '=' (COMP_WORDBREAKS)."""
        script = ["source %s" % BASH_COMPLETION, "source %s" % COMPLETION,
                  'c() { COMP_LINE=$1; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1));'
                  ' COMP_POINT=${#COMP_LINE}; COMPREPLY=(); _hvmap;'
                  ' printf "%s\\n" "${COMPREPLY[@]}"; echo "<<END>>"; }']
        for line in lines:
            words = []
            for tok in re.split(r"(\s+)", line):
                if not tok.strip():
                    continue
                parts = tok.split("=")
                for i, p in enumerate(parts):
                    if i:
                        words.append("=")
                    if p or i:
                        words.append(p)
            if line.endswith(" "):
                words.append("")
            script.append("c %s %s" % (shquote(line), " ".join(shquote(w) for w in words)))
        p = subprocess.run(["bash", "--norc", "--noprofile"], input="\n".join(script) + "\n", text=True,
                           capture_output=True, timeout=60, cwd=tempfile.gettempdir())
        self.assertEqual(p.returncode, 0, p.stderr)
        outs = p.stdout.split("<<END>>\n")[:-1]
        self.assertEqual(len(outs), len(lines), p.stdout + p.stderr)
        return {ln: [w for w in o.splitlines() if w] for ln, o in zip(lines, outs)}

    def test_commands_and_every_option(self):
        cmds = commands()
        glob_opts = global_options()
        lines = ["hvmap ", "hvmap --"] + ["hvmap %s --" % c for c in cmds]
        got = self.complete(*lines)
        self.assertEqual(set(got["hvmap "]), set(cmds))
        self.assertTrue(glob_opts <= {w.rstrip("=") for w in got["hvmap --"]}, got["hvmap --"])
        for c in cmds:
            with self.subTest(command=c):
                offered = {w.rstrip("=") for w in got["hvmap %s --" % c]}
                missing = (command_options(c) | glob_opts) - offered
                self.assertEqual(missing, set(), "hvmap %s --<TAB> misses %s" % (c, sorted(missing)))

    def test_option_values(self):
        """Options with a list of values (--flavour=auto|kvm|xen) or one that
        sets a configuration key (--hypervisor-id sets hypervisor_id) complete
        to values that hvmap's configuration parser accepts for that key."""
        sample = run([HVMAP, "--config-dir", "/nonexistent", "--rhsm-conf", "", "config", "--sample"]).stdout
        keys = {k: s for s, k in parse_sample(sample)}
        print_opts = command_options("print")
        candidates = sorted(o for o in print_opts if o[2:].replace("-", "_") in keys)
        self.assertGreaterEqual(len(candidates), 3, print_opts)
        got = self.complete(*["hvmap print %s=" % o for o in candidates])
        checked = 0
        for o in candidates:
            key = o[2:].replace("-", "_")
            values = got["hvmap print %s=" % o]
            choices = re.search(r"%s=([a-z0-9]+(?:\|[a-z0-9]+)+)" % re.escape(o), help_text("print"))
            if choices:
                self.assertEqual(set(values), set(choices.group(1).split("|")), o)
            for v in values:
                with self.subTest(option=o, value=v):
                    self.assertEqual(config_error(keys[key], key, v), "",
                                     "%s completes to %r, which [%s] %s refuses" % (o, v, keys[key], key))
                    checked += 1
        self.assertGreaterEqual(checked, 8, got)
        # A value hvmap refuses must be seen as refused (the check can fail).
        self.assertNotEqual(config_error("host", "flavour", "vmware"), "")

    def test_files_and_directories(self):
        tmp = tempfile.mkdtemp(prefix="hvpkg-comp-")
        self.addCleanup(shutil.rmtree, tmp, True)
        os.makedirs(os.path.join(tmp, "confdir"))
        open(os.path.join(tmp, "conffile"), "w").close()
        got = self.complete("hvmap --config-dir %s/conf" % tmp, "hvmap --rhsm-conf=%s/conf" % tmp)
        self.assertEqual(got["hvmap --config-dir %s/conf" % tmp], [tmp + "/confdir"])
        self.assertEqual(set(got["hvmap --rhsm-conf=%s/conf" % tmp]), {tmp + "/confdir", tmp + "/conffile"})

    def test_config_keys_are_the_sample(self):
        sample = run([HVMAP, "--config-dir", "/nonexistent", "--rhsm-conf", "", "config", "--sample"]).stdout
        want = sorted("%s.%s" % sk for sk in parse_sample(sample))
        with open(COMPLETION) as f:
            m = re.search(r"(?m)^\s*local config_keys='([^']*)'$", f.read())
        self.assertIsNotNone(m, "no config_keys in " + COMPLETION)
        self.assertEqual(sorted(m.group(1).split()), want)


def config_error(section, key, value):
    """What `hvmap config --check` says about [section] key = value ('' if
    it accepts it)."""
    tmp = tempfile.mkdtemp(prefix="hvpkg-cv-")
    try:
        ca = [d for d in ("/etc/ssl/certs", "/etc/pki/tls/certs") if os.path.isdir(d)][0]
        with open(os.path.join(tmp, "hvmap.conf"), "w") as f:
            f.write("[server]\nurl = https://cp.example.com/candlepin\nca_dir = %s\n[%s]\n%s = %s\n"
                    % (ca, section, key, value))
        p = run([HVMAP, "--config-dir", tmp, "--rhsm-conf", "", "--state-dir", tmp, "config", "--check"],
                check=False)
        return "" if p.returncode == 0 else p.stderr.strip()
    finally:
        shutil.rmtree(tmp, True)


def shquote(s):
    return "'" + s.replace("'", "'\\''") + "'"


if __name__ == "__main__":
    unittest.main()
