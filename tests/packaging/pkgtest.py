# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared helpers of the packaging tests: paths from meson, the config table
parsed from agent/conf.c, the sample parsed, a bounded subprocess run."""

import os
import re
import shutil
import subprocess
import unittest

SRC = os.environ.get("SOURCE_ROOT", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("BUILD_ROOT", os.path.join(SRC, "build"))
HVMAP = os.environ.get("HVMAP", os.path.join(BUILD, "agent", "hvmap"))


def run(cmd, timeout=120, check=True, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError("%s: exit %d\nstdout:\n%s\nstderr:\n%s"
                             % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
    return p


def need(tool, package):
    """Skips the test when tool is not on PATH, naming what to install."""
    if shutil.which(tool) is None:
        raise unittest.SkipTest("%s not installed (scripts/setup installs Debian %s)" % (tool, package))


# K("section", "key", TYPE, field, default, min, max, enum, rhsm_section, rhsm_key, help)
_K = re.compile(r'K\("(\w+)",\s*"(\w+)",\s*(CONFIG_\w+),\s*\w+,\s*(NULL|"[^"]*"|\w+),\s*([^,]+),\s*([^,]+),'
                r'\s*\w+,\s*(NULL|"\w+"),\s*(NULL|"\w+")', re.S)


def config_table():
    """The configuration table of agent/conf.c: [(section, key, type, default, min, max, rhsm_section,
    rhsm_key)], read from the source so it is independent of the binary."""
    with open(os.path.join(SRC, "agent", "conf.c")) as f:
        text = f.read()
    start = text.index("config_keys[] = {")
    end = text.index("};", start)
    rows = []
    for m in _K.finditer(text[start:end]):
        sec, key, typ, dflt, lo, hi, rsec, rkey = m.groups()
        unq = lambda s: None if s == "NULL" else s.strip('"')  # noqa: E731
        rows.append((sec, key, typ, unq(dflt) if dflt.startswith('"') or dflt == "NULL" else dflt,
                     lo.strip(), hi.strip(), unq(rsec), unq(rkey)))
    if len(rows) < 20:
        raise AssertionError("parsed only %d keys from agent/conf.c: has the K() macro changed?" % len(rows))
    return rows


def parse_sample(text):
    """{(section, key): default} from a sample hvmap.conf (keys commented out)."""
    out, section = {}, None
    for line in text.splitlines():
        m = re.match(r"^\[(\w+)\]\s*$", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"^#(\w+) = ?(.*)$", line)
        if m and section:
            out[(section, m.group(1))] = m.group(2).strip()
    return out
