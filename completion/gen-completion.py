#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""gen-completion.py HVMAP SOURCE_ROOT TEMPLATE OUTPUT: renders the bash
completion from what the built hvmap says about itself, so that it cannot
drift from the program: the commands and global options from `hvmap --help`,
each command's options from `hvmap COMMAND --help`, the configuration keys
from `hvmap config --sample`, and the values of enumerated keys from the
configuration table (agent/conf.c) and the log levels (util/log.c).
Fails, naming what it could not find, rather than write a partial file."""

import re
import subprocess
import sys

# An option in help text, and what follows it: "--org ORG", "--uri=URI",
# "--flavour=auto|kvm|xen", or nothing ("--json]", "--force ").
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)(?:([ =])([^\s]+))?")
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_,[\]]*$")  # FILE, SEC,COUNT, DURATION[,COUNT]
CHOICES = re.compile(r"^[a-z0-9]+(\|[a-z0-9]+)+$")
# Values offered for an option whose placeholder is one of these.
URIS = "qemu:///system qemu:///session xen:///system"


def die(msg):
    sys.stderr.write("gen-completion.py: %s\n" % msg)
    sys.exit(1)


def hvmap_text(hvmap, *args):
    """stdout + stderr of hvmap with a configuration that cannot interfere."""
    p = subprocess.run([hvmap, "--config-dir", "/nonexistent", "--rhsm-conf", ""] + list(args),
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def options(text):
    """{option: placeholder or ''} of every --option in text."""
    out = {}
    for m in OPTION.finditer(text):
        opt, sep, arg = m.group(1), m.group(2), (m.group(3) or "").rstrip("])|,.;:'\"")
        if sep and (PLACEHOLDER.match(arg) or CHOICES.match(arg)):
            out[opt] = arg
        else:
            out.setdefault(opt, "")
    return out


def main():
    if len(sys.argv) != 5:
        die("usage: gen-completion.py HVMAP SOURCE_ROOT TEMPLATE OUTPUT")
    hvmap, src, template, output = sys.argv[1:]

    rc, top = hvmap_text(hvmap, "--help")
    if rc != 0 or "Commands:" not in top:
        die("hvmap --help exited %d without a Commands: section:\n%s" % (rc, top))
    cmd_part = top.split("Commands:", 1)[1].split("\n\n", 1)[0]
    commands = re.findall(r"(?m)^  ([a-z][a-z0-9-]*)\s{2,}", cmd_part)
    opt_part = top.split("Options", 1)[1].split("\n\n", 1)[0] if "Options" in top else ""
    global_opts = options(opt_part)
    if len(commands) < 3 or "--help" not in global_opts:
        die("cannot read the commands or options from hvmap --help:\n" + top)

    per_command = {}
    for c in commands:
        rc, text = hvmap_text(hvmap, c, "--help")
        if rc != 0:
            die("hvmap %s --help exited %d:\n%s" % (c, rc, text))
        opts = options(text)
        opts.setdefault("--help", "")
        per_command[c] = opts

    rc, sample = hvmap_text(hvmap, "config", "--sample")
    keys, section = [], None
    for line in sample.splitlines():
        m = re.match(r"^\[(\w+)\]$", line)
        if m:
            section = m.group(1)
        m = re.match(r"^#(\w+) = ?", line)
        if m and section:
            keys.append("%s.%s" % (section, m.group(1)))
    if rc != 0 or len(keys) < 10:
        die("hvmap config --sample exited %d with %d keys" % (rc, len(keys)))

    # Values of the keys an option can set (--hypervisor-id is hypervisor_id).
    with open(src + "/agent/conf.c") as f:
        conf = f.read()
    arrays = {m.group(1): re.findall(r'"([^"]+)"', m.group(2))
              for m in re.finditer(r"static const char \*const (\w+)\[\] = \{([^}]*)\}", conf)}
    key_values = {}
    for m in re.finditer(r'K\("(\w+)",\s*"(\w+)",\s*(CONFIG_\w+),\s*\w+,\s*(?:NULL|"[^"]*"|\w+),'
                         r'\s*[^,]+,\s*[^,]+,\s*(\w+),', conf):
        _, key, typ, names = m.groups()
        if typ == "CONFIG_ENUM":
            if names not in arrays:
                die("agent/conf.c: no array %s for key %s" % (names, key))
            key_values[key] = arrays[names]
        elif typ == "CONFIG_BOOL":
            key_values[key] = ["yes", "no"]
        elif typ == "CONFIG_LOG_LEVEL":
            with open(src + "/util/log.c") as f:
                levels = re.findall(r'\[LOG_[A-Z]+\] = "(\w+)"', f.read())
            if not levels:
                die("util/log.c: no log level names")
            key_values[key] = levels
    if not key_values:
        die("agent/conf.c: no enumerated key found; has the K() table changed?")

    def values(opt, arg):
        if CHOICES.match(arg):
            return "words", arg.replace("|", " ")
        key = opt[2:].replace("-", "_")
        if key in key_values:
            return "words", " ".join(key_values[key])
        if arg in ("FILE",):
            return "file", ""
        if arg in ("DIR",):
            return "dir", ""
        if arg == "URI":
            return "words", URIS
        return "any", ""

    def bash_assoc(name, items):
        body = "".join("\n        [%s]=%s" % (k, shell_quote(v)) for k, v in sorted(items.items()))
        return "declare -A %s=(%s\n    )" % (name, body)

    all_opts = dict(global_opts)
    for opts in per_command.values():
        for o, a in opts.items():
            if a or o not in all_opts:
                all_opts[o] = a
    kinds, words = {}, {}
    for o, a in all_opts.items():
        if a:
            kind, w = values(o, a)
            kinds[o] = kind
            if w:
                words[o] = w
    # `config --check SECTION.KEY`: offered once `hvmap config --help` takes keys.
    config_takes_keys = "SECTION.KEY" in hvmap_text(hvmap, "config", "--help")[1]

    with open(template) as f:
        text = f.read()
    subst = {
        "@COMMANDS@": shell_quote(" ".join(commands)),
        "@GLOBAL_OPTIONS@": shell_quote(" ".join(sorted(global_opts))),
        "@COMMAND_OPTIONS@": bash_assoc("command_options",
                                        {c: " ".join(sorted(o)) for c, o in per_command.items()}),
        "@OPTION_KINDS@": bash_assoc("option_kinds", kinds),
        "@OPTION_WORDS@": bash_assoc("option_words", words),
        "@CONFIG_KEYS@": shell_quote(" ".join(keys)),
        "@CONFIG_TAKES_KEYS@": "1" if config_takes_keys else "0",
    }
    for k, v in subst.items():
        if k not in text:
            die("%s has no %s" % (template, k))
        text = text.replace(k, v)
    with open(output, "w") as f:
        f.write(text)


def shell_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


if __name__ == "__main__":
    main()
