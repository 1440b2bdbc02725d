#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The symbol ceiling: proves hvmap needs nothing newer than the library
floors declared in meson.build, unless the use sits behind a version guard.

- The binary: every dynamic symbol's version node (objdump -T) for libvirt
  (LIBVIRT_x.y.z) and libsystemd (LIBSYSTEMD_n) is at or below the floor,
  or, for libvirt, each source use of that function is inside
  `#if LIBVIR_CHECK_VERSION(x, y, z)` with x.y.z at or above the node.
  (libsystemd has no version macro to guard with: there is no way round it.)
- The sources (agent/ host/ proto/ util/, comments and strings ignored):
  every curl symbol is checked against curl's own list of the version that
  introduced (and deprecated) it -- the libcurl-symbols(3) page generated from
  curl's symbols-in-versions -- or, for what that page lacks (functions,
  types) or when it is not installed, tests/compat/curl-symbols.txt. Newer
  than the floor: only inside `#if CURL_AT_LEAST_VERSION(...)` (or
  LIBCURL_VERSION_NUM >= ...) at or above its version. Deprecated: only in a
  branch below the version that deprecated it. libvirt enum values and macros
  are checked the same way against the "(Since: x.y.z)" notes of libvirt's
  own headers, when the installed headers carry them (libvirt 9 and later).
- The floors themselves: rpm/hvmap.spec's BuildRequires and README.md state
  the same versions as meson.build.

Every violation names file:line, the symbol, its version and the floor, and
what to do. Exit status 1 on any violation, 2 on a usage or setup error.
"""

import argparse
import gzip
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIRS = ("agent", "host", "proto", "util")
CURL_MAN_PAGES = (
    "/usr/share/man/man3/libcurl-symbols.3.gz",
    "/usr/share/man/man3/libcurl-symbols.3",
)
# How README.md names each library next to its floor.
README_NAMES = {"libvirt": "libvirt", "libcurl": "libcurl", "openssl": "OpenSSL",
                "libcjson": "cJSON", "libsystemd": "libsystemd", "meson": "meson"}


def vtuple(v):
    """'7.61.1' -> (7, 61, 1); '239' -> (239,); padded for comparison."""
    parts = [int(p) for p in re.findall(r"\d+", v)]
    return tuple(parts + [0] * (3 - len(parts)))


def vstr(t):
    """(7, 61, 0) -> '7.61.0'; (239, 0, 0) -> '239' (libsystemd's numbering)."""
    if t[1:] == (0, 0) and t[0] > 99:
        return str(t[0])
    return ".".join(str(p) for p in t)


# ---------------------------------------------------------------- tables

def parse_curl_man(text):
    """libcurl-symbols(3): '.IP NAME' then 'Introduced in X',
    'Deprecated since Y', 'Last used in Z' lines."""
    table = {}
    name = None
    keys = (("introduced", r"Introduced in ([\d.]*\d)"), ("deprecated", r"Deprecated since ([\d.]*\d)"),
            ("removed", r"Last used in ([\d.]*\d)"))
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(".IP "):
            name = line[4:].strip()
            table[name] = {}
        elif name:
            # curl 7.88: one fact a line; curl 8: "Introduced in X. Last used in Y. See ..."
            for key, rx in keys:
                m = re.search(rx, line)
                if m:
                    table[name][key] = vtuple(m.group(1))
    return {k: v for k, v in table.items() if "introduced" in v}


def load_curl_man(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        return parse_curl_man(f.read())


def load_kept_table(path):
    """tests/compat/curl-symbols.txt: NAME INTRODUCED [DEPRECATED]; '-' as
    INTRODUCED marks a name that is not an API (a header guard)."""
    table = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].split()
            if not line:
                continue
            if len(line) not in (2, 3):
                raise SystemExit("%s:%d: want NAME INTRODUCED [DEPRECATED], got %r" % (path, n, " ".join(line)))
            entry = {"ignore": True} if line[1] == "-" else {"introduced": vtuple(line[1])}
            if len(line) == 3:
                entry["deprecated"] = vtuple(line[2])
            table[line[0]] = entry
    return table


def parse_libvirt_since(text):
    """'(Since: x.y.z)' notes of libvirt's headers: on an enum value's
    comment, or in a '/** NAME: ... Since: x */' doc block."""
    table = {}
    for m in re.finditer(r"/\*\*\s*\n\s*\*\s*(\w+):(.*?)\*/", text, re.S):
        s = re.search(r"Since:\s*([\d.]+\d)", m.group(2))
        if s:
            table[m.group(1)] = vtuple(s.group(1))
    # Enum values: from NAME = ... up to the next value or the closing brace.
    for m in re.finditer(r"^\s*(VIR_\w+)\s*=[^\n]*(?:\n(?!\s*(?:VIR_\w+\s*=|})).*)*", text, re.M):
        s = re.search(r"Since:\s*([\d.]+\d)", m.group(0))
        if s:
            table[m.group(1)] = vtuple(s.group(1))
    return table


def load_libvirt_since(include_dir):
    table = {}
    if not include_dir or not os.path.isdir(include_dir):
        return table
    for name in sorted(os.listdir(include_dir)):
        if name.endswith(".h"):
            with open(os.path.join(include_dir, name), encoding="utf-8", errors="replace") as f:
                table.update(parse_libvirt_since(f.read()))
    return table


# ---------------------------------------------------------------- sources

_C_NOISE = re.compile(r"""/\*.*?(?:\*/|\Z)|//[^\n]*|"(?:\\.|[^"\\\n])*"?|'(?:\\.|[^'\\\n])*'?""", re.S)


def _blank(m):
    t = m.group(0)
    if t[0] in "\"'":
        return t[0] + re.sub(r"[^\n]", " ", t[1:])
    return re.sub(r"[^\n]", " ", t)


def strip_c(text):
    """Comments and string/char literals blanked, newlines kept, so line
    numbers stay right and words in them do not count."""
    return _C_NOISE.sub(_blank, text)


# A version atom in an #if: library, ">=" or "<", version tuple.
ATOM_RES = [
    (re.compile(r"^(!?)\s*CURL_AT_LEAST_VERSION\s*\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\)$"), "curl"),
    (re.compile(r"^(!?)\s*LIBVIR_CHECK_VERSION\s*\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\)$"), "libvirt"),
]
NUM_RES = [
    (re.compile(r"^LIBCURL_VERSION_NUM\s*(>=|<)\s*(0x[0-9a-fA-F]+)$"), "curl"),
    (re.compile(r"^LIBVIR_VERSION_NUMBER\s*(>=|<)\s*(\d+)$"), "libvirt"),
]


def parse_atom(expr):
    expr = expr.strip()
    while expr.startswith("(") and expr.endswith(")") and expr.count("(") == expr.count(")"):
        inner = expr[1:-1].strip()
        if inner.count("(") != inner.count(")"):
            break
        expr = inner
    for rx, lib in ATOM_RES:
        m = rx.match(expr)
        if m:
            v = (int(m.group(2)), int(m.group(3)), int(m.group(4)))
            return (lib, "<" if m.group(1) else ">=", v)
    for rx, lib in NUM_RES:
        m = rx.match(expr)
        if m:
            num = int(m.group(2), 0)
            if lib == "curl":
                v = (num >> 16, (num >> 8) & 0xFF, num & 0xFF)
            else:
                v = (num // 1000000, num // 1000 % 1000, num % 1000)
            return (lib, m.group(1), v)
    return None


def condition_atoms(expr):
    """The version atoms an #if condition implies: each side of a top-level
    '&&' (anything else, e.g. '||', implies nothing we can use)."""
    if "||" in expr:
        return [], False
    parts = [p for p in expr.split("&&")]
    atoms = [parse_atom(p) for p in parts]
    single = len(parts) == 1 and atoms[0] is not None
    return [a for a in atoms if a], single


def negate(atom):
    lib, op, v = atom
    return (lib, "<" if op == ">=" else ">=", v)


def line_ranges(stripped):
    """For each line (1-based), {lib: (lo, hi)}: the versions the
    preprocessor conditions around it allow (hi exclusive, None = open)."""
    frames = []  # each: {"atoms": [what holds here], "prev": [single atoms of the branches before]}
    ranges = {}
    lines = stripped.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        lineno = i + 1
        full = line
        while full.rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
            full = full.rstrip()[:-1] + " " + lines[i]
        m = re.match(r"^\s*#\s*(if|ifdef|ifndef|elif|else|endif)\b(.*)$", full)
        if m:
            kw, rest = m.group(1), m.group(2).strip()
            if kw == "if":
                atoms, single = condition_atoms(rest)
                frames.append({"atoms": atoms, "prev": [atoms[0]] if single else None})
            elif kw in ("ifdef", "ifndef"):
                frames.append({"atoms": [], "prev": None})
            elif kw == "elif" and frames:
                f = frames[-1]
                atoms, single = condition_atoms(rest)
                neg = [negate(a) for a in f["prev"]] if f["prev"] is not None else []
                f["atoms"] = atoms + neg
                f["prev"] = (f["prev"] + [atoms[0]]) if (single and f["prev"] is not None) else None
            elif kw == "else" and frames:
                f = frames[-1]
                f["atoms"] = [negate(a) for a in f["prev"]] if f["prev"] is not None else []
                f["prev"] = None
            elif kw == "endif" and frames:
                frames.pop()
        rng = {}
        for f in frames:
            for lib, op, v in f["atoms"]:
                lo, hi = rng.get(lib, (None, None))
                if op == ">=":
                    lo = v if lo is None or v > lo else lo
                else:
                    hi = v if hi is None or v < hi else hi
                rng[lib] = (lo, hi)
        for k in range(lineno, i + 2):
            ranges[k] = rng
        i += 1
    return ranges


def source_files(root):
    for d in SOURCE_DIRS:
        base = os.path.join(root, d)
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for fn in sorted(filenames):
                if fn.endswith((".c", ".h")):
                    yield os.path.join(dirpath, fn)


def scan_sources(root, curl, libvirt, floors, problems, uses):
    """Checks every curl and libvirt symbol the sources use; records where
    each identifier is used (uses[name] = [(rel, line, ranges)])."""
    ident = re.compile(r"\b(CURL\w*|curl_\w+|VIR_\w+|vir[A-Z]\w*)\b")
    unknown_curl = set()
    for path in source_files(root):
        rel = os.path.relpath(path, root)
        with open(path, encoding="utf-8", errors="replace") as f:
            stripped = strip_c(f.read())
        ranges = line_ranges(stripped)
        for lineno, line in enumerate(stripped.split("\n"), 1):
            if re.match(r"^\s*#\s*(if|elif|ifdef|ifndef|else|endif|include|pragma)\b", line):
                continue
            for m in ident.finditer(line):
                name = m.group(1)
                rng = ranges.get(lineno, {})
                uses.setdefault(name, []).append((rel, lineno, rng))
                if name.startswith(("CURL", "curl_")):
                    entry = curl.get(name)
                    if entry is None:
                        if name not in unknown_curl:
                            unknown_curl.add(name)
                            problems.append("%s:%d: %s: not in curl's symbol list nor in "
                                            "tests/compat/curl-symbols.txt; add it there with the curl "
                                            "version that introduced it" % (rel, lineno, name))
                        continue
                    if entry.get("ignore"):
                        continue
                    check_use(rel, lineno, name, entry, rng.get("curl", (None, None)), "curl",
                              floors["libcurl"], "CURL_AT_LEAST_VERSION", problems)
                elif name.startswith("VIR_") and name in libvirt:
                    check_use(rel, lineno, name, {"introduced": libvirt[name]},
                              rng.get("libvirt", (None, None)), "libvirt", floors["libvirt"],
                              "LIBVIR_CHECK_VERSION", problems)


def check_use(rel, lineno, name, entry, rng, lib, floor, guard, problems):
    lo, hi = rng
    intro = entry["introduced"]
    if intro > floor and (lo is None or lo < intro):
        problems.append("%s:%d: %s is %s %s, newer than the floor %s %s, and not behind "
                        "#if %s(%s): guard it (with code for older %s) or raise the floor in meson.build"
                        % (rel, lineno, name, lib, vstr(intro), lib, vstr(floor), guard,
                           ", ".join(str(p) for p in intro), lib))
    for what in ("deprecated", "removed"):
        gone = entry.get(what)
        if gone and (hi is None or hi > gone):
            problems.append("%s:%d: %s is %s since %s %s: use it only under #if !%s(%s), with the "
                            "replacement for newer %s" % (rel, lineno, name, what, lib, vstr(gone), guard,
                                                          ", ".join(str(p) for p in gone), lib))


# ---------------------------------------------------------------- binary

def dynamic_symbols(binary, objdump):
    """[(name, node)] of the binary's undefined dynamic symbols."""
    try:
        out = subprocess.run([objdump, "-T", binary], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=True).stdout
    except FileNotFoundError:
        raise SystemExit("symbol-ceiling: %s not found: install binutils (scripts/setup)" % objdump)
    except subprocess.CalledProcessError as e:
        raise SystemExit("symbol-ceiling: objdump -T %s failed: %s" % (binary, e.stderr.strip()))
    syms = []
    for line in out.splitlines():
        m = re.search(r"\*UND\*\s+\S+\s+(?:\(?([\w.]+)\)?\s+)?(\S+)\s*$", line)
        if m and m.group(1):
            syms.append((m.group(2), m.group(1)))
    return syms


def check_binary(binary, objdump, floors, uses, problems):
    checked = 0
    for name, node in dynamic_symbols(binary, objdump):
        m = re.match(r"^LIBVIRT_([\d.]+)$", node)
        if m:
            checked += 1
            v = vtuple(m.group(1))
            if v <= floors["libvirt"]:
                continue
            where = uses.get(name, [])
            bad = [(rel, ln) for rel, ln, rng in where
                   if (rng.get("libvirt", (None, None))[0] or (0,)) < v]
            if not where:
                problems.append("%s: needs %s@%s, newer than the floor libvirt %s, and no source line "
                                "calls it by name" % (os.path.basename(binary), name, node,
                                                      vstr(floors["libvirt"])))
            for rel, ln in bad:
                problems.append("%s:%d: %s is libvirt %s (%s needs %s@%s), newer than the floor libvirt %s: "
                                "put it behind #if LIBVIR_CHECK_VERSION(%s) or raise the floor"
                                % (rel, ln, name, vstr(v), os.path.basename(binary), name, node,
                                   vstr(floors["libvirt"]), ", ".join(str(p) for p in v)))
        m = re.match(r"^LIBSYSTEMD_(\d+)$", node)
        if m:
            checked += 1
            v = vtuple(m.group(1))
            if v > floors["libsystemd"]:
                where = ", ".join("%s:%d" % (rel, ln) for rel, ln, _ in uses.get(name, [])[:3]) or "no source line"
                problems.append("%s: needs %s@%s, newer than the floor libsystemd %s (used at %s): "
                                "libsystemd has no version macro to guard with, so do without it "
                                "(util/event-util.h shows how) or raise the floor"
                                % (os.path.basename(binary), name, node, vstr(floors["libsystemd"]), where))
    return checked


# ---------------------------------------------------------------- floors

def check_floors(root, floors, meson_min, problems):
    spec = os.path.join(root, "rpm", "hvmap.spec")
    readme = os.path.join(root, "README.md")
    want = dict(floors)
    want["meson"] = meson_min
    with open(spec, encoding="utf-8") as f:
        spec_text = f.read()
    for lib, v in sorted(want.items()):
        pat = r"^BuildRequires:\s*meson\s*>=\s*([\d.]+)" if lib == "meson" else \
            r"^BuildRequires:\s*pkgconfig\(%s\)\s*>=\s*([\d.]+)" % re.escape(lib)
        m = re.search(pat, spec_text, re.M)
        if not m:
            problems.append("rpm/hvmap.spec: no 'BuildRequires: %s >= %s'" %
                            (lib if lib == "meson" else "pkgconfig(%s)" % lib, vstr(v)))
        elif vtuple(m.group(1)) != v:
            problems.append("rpm/hvmap.spec: BuildRequires %s >= %s, but meson.build says %s"
                            % (lib, m.group(1), vstr(v)))
    with open(readme, encoding="utf-8") as f:
        readme_text = f.read()
    for lib, v in sorted(want.items()):
        name = README_NAMES[lib]
        m = re.search(r"\b%s\s*(?:>=|≥)\s*([\d.]+\d)" % re.escape(name), readme_text)
        if not m:
            problems.append("README.md: no '%s >= %s' (the floor in meson.build)" % (name, vstr(v)))
        elif vtuple(m.group(1)) != v:
            problems.append("README.md: says %s >= %s, but meson.build says %s" % (name, m.group(1), vstr(v)))


def meson_minimum(root):
    with open(os.path.join(root, "meson.build"), encoding="utf-8") as f:
        m = re.search(r"meson_version\s*:\s*'>=\s*([\d.]+)'", f.read())
    if not m:
        raise SystemExit("symbol-ceiling: no meson_version in meson.build")
    return vtuple(m.group(1))


# ---------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, help="source tree")
    ap.add_argument("--binary", help="the built hvmap (omit to check the sources only)")
    ap.add_argument("--floor", action="append", default=[], metavar="LIB=VERSION",
                    help="libvirt, libcurl, openssl, libcjson, libsystemd (from meson.build)")
    ap.add_argument("--curl-symbols", help="libcurl-symbols(3) page (default: the installed one)")
    ap.add_argument("--kept-table", default=os.path.join(HERE, "curl-symbols.txt"))
    ap.add_argument("--libvirt-include", help="libvirt's header directory (for enum Since notes)")
    ap.add_argument("--objdump", default=os.environ.get("OBJDUMP", "objdump"))
    args = ap.parse_args(argv)

    floors = {}
    for f in args.floor:
        lib, _, v = f.partition("=")
        if not v:
            ap.error("--floor wants LIB=VERSION, got %r" % f)
        floors[lib] = vtuple(v)
    for lib in ("libvirt", "libcurl", "libsystemd"):
        if lib not in floors:
            ap.error("--floor %s=VERSION is required" % lib)

    kept = load_kept_table(args.kept_table)
    man_path = args.curl_symbols or next((p for p in CURL_MAN_PAGES if os.path.exists(p)), None)
    problems = []
    if man_path:
        man = load_curl_man(man_path)
        # The kept table must agree with curl's own list where both know a name.
        for name, entry in sorted(kept.items()):
            if name in man and not entry.get("ignore") and man[name]["introduced"] != entry["introduced"]:
                problems.append("tests/compat/curl-symbols.txt: %s introduced in %s, curl's list says %s"
                                % (name, vstr(entry["introduced"]), vstr(man[name]["introduced"])))
        # curl's list decides the version; an older curl's list may not know
        # a deprecation the kept table records, so that stays.
        curl = dict(kept)
        for name, entry in man.items():
            curl[name] = dict(kept.get(name, {}), **entry)
        curl_source = "%s (%d symbols) + %s" % (man_path, len(man), os.path.relpath(args.kept_table))
    else:
        curl = kept
        curl_source = "%s only (libcurl-symbols(3) not installed)" % os.path.relpath(args.kept_table)

    libvirt = load_libvirt_since(args.libvirt_include)
    uses = {}
    scan_sources(args.root, curl, libvirt, floors, problems, uses)
    checked = 0
    if args.binary:
        checked = check_binary(args.binary, args.objdump, floors, uses, problems)
    check_floors(args.root, {k: v for k, v in floors.items()}, meson_minimum(args.root), problems)

    print("symbol-ceiling: floors %s" % ", ".join("%s %s" % (k, vstr(v)) for k, v in sorted(floors.items())))
    print("symbol-ceiling: curl symbols from %s" % curl_source)
    print("symbol-ceiling: libvirt Since notes: %s" % (
        "%d from %s" % (len(libvirt), args.libvirt_include) if libvirt else
        "none (headers older than libvirt 9 carry none; the enum check is skipped)"))
    if args.binary:
        print("symbol-ceiling: %s: %d versioned libvirt/libsystemd symbols checked" % (args.binary, checked))
    for p in problems:
        print("FAIL " + p)
    print("symbol-ceiling: %s" % ("%d problem(s)" % len(problems) if problems else "ok"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
