#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""hvmap's source lint: banned calls, fds without CLOEXEC, C++ comments, and
clang-format conformance. Usage: lint.py [--root DIR] [--no-format].
Exits 1 and prints FILE:LINE: rule: message for each violation.
A line may carry /* lint-allow: RULE */ to accept one violation of RULE,
which a reviewer then sees in the diff."""

import argparse
import os
import re
import shutil
import subprocess
import sys

CODE_DIRS = ("agent", "host", "proto", "util", "tests")
SKIP_DIRS = {"fake-candlepin", "data", "corpus", "__pycache__"}


def strip_c(text):
    """Returns (code, comments): text with string/char literals and comments
    blanked (newlines kept, so line numbers survive), and the list of
    (line, kind) for each comment, kind '//' or '/*'."""
    out = []
    comments = []
    i, n, line = 0, len(text), 1
    while i < n:
        c = text[i]
        if c == "\n":
            out.append(c)
            line += 1
            i += 1
        elif text.startswith("//", i):
            comments.append((line, "//"))
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            comments.append((line, "/*"))
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            chunk = text[i:j]
            out.append("".join(ch if ch == "\n" else " " for ch in chunk))
            line += chunk.count("\n")
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + " " * (j - i - 2) + c if j - i >= 2 else c)
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out), comments


def call_args(code, start):
    """Text of the argument list of the call whose '(' is at/after start."""
    p = code.find("(", start)
    depth, j = 0, p
    while j < len(code):
        if code[j] == "(":
            depth += 1
        elif code[j] == ")":
            depth -= 1
            if depth == 0:
                return code[p + 1:j]
        j += 1
    return code[p + 1:]


# rule name, regex on code, message, predicate(path) -> applies
def not_in_tests(path):
    return not path.startswith("tests/")


def not_main(path):
    return path != "agent/main.c"


BANNED = [
    ("sprintf", r"\bv?sprintf\s*\(", "unbounded; use snprintf() or buf_printf()", None),
    ("strcpy", r"\bstpcpy\s*\(|\bstrcpy\s*\(", "unbounded; use snprintf(), strdup() or memcpy() with a length", None),
    ("strcat", r"\bstrcat\s*\(", "unbounded; use buf_append() or snprintf()", None),
    ("strtok", r"\bstrtok\s*\(", "not reentrant; use strtok_r() or strsep()", None),
    ("atoi", r"\bato(i|l|ll|f)\s*\(", "no error checking; use parse_uint64()/parse_int64() from util/parse.h", None),
    ("system", r"\bsystem\s*\(", "runs a shell; hvmap never does", None),
    ("exit", r"(?<![\w.>])exit\s*\(", "only main() decides the exit status; return an error instead", not_main),
    ("curl_easy_perform", r"\bcurl_easy_perform\s*\(", "blocks the loop; use the multi-socket API (proto/)", not_in_tests),
    ("sleep", r"\b(u|nano)?sleep\s*\(", "a daemon waits on its event loop, never in sleep()", not_in_tests),
    ("mkstemp", r"\bmkstemp\s*\(", "use mkostemp(..., O_CLOEXEC)", None),
    ("pipe", r"\bpipe\s*\(", "use pipe2(..., O_CLOEXEC)", None),
    ("accept", r"\baccept\s*\(", "use accept4(..., SOCK_CLOEXEC)", None),
    ("dup", r"\bdup\s*\(", "use fcntl(fd, F_DUPFD_CLOEXEC, 3)", None),
]

OPEN_RE = re.compile(r"(?<![\w.>])(open|openat|socket)\s*\(")
FOPEN_RE = re.compile(r"\bfopen\s*\(")


def lint_file(root, rel, problems):
    with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
        raw = f.read()
    code, comments = strip_c(raw)
    raw_lines = raw.split("\n")

    def report(line, rule, msg):
        text = raw_lines[line - 1] if line - 1 < len(raw_lines) else ""
        if re.search(r"lint-allow:\s*%s\b" % re.escape(rule), text):
            return
        problems.append("%s:%d: %s: %s" % (rel, line, rule, msg))

    def line_of(pos):
        return code.count("\n", 0, pos) + 1

    for line, kind in comments:
        if kind == "//":
            report(line, "comment", "use /* */ comments")

    for rule, pattern, msg, applies in BANNED:
        if applies and not applies(rel):
            continue
        for m in re.finditer(pattern, code):
            report(line_of(m.start()), rule, msg)

    for m in OPEN_RE.finditer(code):
        # Skip declarations/definitions of our own functions named like these.
        args = call_args(code, m.end() - 1)
        flag = "SOCK_CLOEXEC" if m.group(1) == "socket" else "O_CLOEXEC"
        if flag not in args:
            report(line_of(m.start()), "cloexec", "%s() without %s" % (m.group(1), flag))

    for m in FOPEN_RE.finditer(code):
        # The mode is a string literal, blanked in code: read it from raw.
        start = m.end() - 1
        args_raw = call_args(raw, start)
        modes = re.findall(r'"([^"]*)"', args_raw)
        if not modes or "e" not in modes[-1]:
            report(line_of(m.start()), "cloexec", "fopen() mode without 'e' (O_CLOEXEC)")


def source_files(root):
    for top in CODE_DIRS:
        base = os.path.join(root, top)
        if not os.path.isdir(base):
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            for name in sorted(filenames):
                if name.endswith((".c", ".h")):
                    yield os.path.relpath(os.path.join(dirpath, name), root)


def check_format(root, files, problems):
    exe = shutil.which("clang-format")
    if not exe:
        print("lint: clang-format not installed, formatting not checked")
        return
    for rel in files:
        res = subprocess.run([exe, "--dry-run", "-Werror", "--style=file", rel], cwd=root,
                             capture_output=True, text=True)
        if res.returncode != 0:
            first = next((l for l in res.stderr.splitlines() if ": error:" in l), res.stderr.strip()[:200])
            problems.append("%s: format: not formatted per .clang-format (run clang-format -i %s): %s"
                            % (rel, rel, first))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.getcwd())
    ap.add_argument("--no-format", action="store_true")
    a = ap.parse_args()
    root = os.path.abspath(a.root)
    files = list(source_files(root))
    problems = []
    for rel in files:
        lint_file(root, rel, problems)
    if not a.no_format:
        check_format(root, files, problems)
    for p in problems:
        print(p)
    print("lint: %d files, %d problems" % (len(files), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
