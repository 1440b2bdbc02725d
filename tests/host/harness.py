# SPDX-License-Identifier: GPL-2.0-or-later
"""Helpers for host/'s Python tests: run `hvmap print`, follow
`hvmap print --watch` line by line with arrival times, and drive domains
from another process through hvmap-lvdrive."""

import json
import os
import queue
import subprocess
import threading
import time

HVMAP = os.environ.get("HVMAP", "hvmap")
LVDRIVE = os.environ.get("LVDRIVE", "hvmap-lvdrive")


# No hvmap.conf or rhsm.conf of the machine running the tests applies, and
# the check-in body is printed: it carries each guest's state.
PRINT_ARGS = ["--config-dir", "/nonexistent/hvmap-tests", "--rhsm-conf", "", "print", "--mode=checkin"]


def run_print(*args, timeout=120):
    """Runs `hvmap print ARGS`; returns (rc, parsed JSON or None, stderr)."""
    p = subprocess.run([HVMAP, *PRINT_ARGS, *args], capture_output=True, text=True, timeout=timeout)
    doc = None
    if p.returncode == 0:
        doc = json.loads(p.stdout)
    return p.returncode, doc, p.stderr


def guests(doc):
    """{uuid: (state, active)} of the one hypervisor in a print document."""
    (hv,) = doc["hypervisors"]
    return {g["guestId"]: (g["state"], g["attributes"]["active"]) for g in hv["guestIds"]}


class Driver:
    """hvmap-lvdrive on URI: one command at a time, returns (t0_ms, t1_ms)."""

    def __init__(self, uri):
        self.proc = subprocess.Popen([LVDRIVE, uri], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)
        line = self.proc.stdout.readline().strip()
        if line != "READY":
            self.close()
            raise RuntimeError("hvmap-lvdrive %s: %s" % (uri, line))

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        extra = []
        while True:
            out = self.proc.stdout.readline()
            if not out:
                raise RuntimeError("hvmap-lvdrive died on: %s" % line)
            out = out.strip()
            if out.startswith("OK "):
                t0, t1 = out.split()[1:3]
                return float(t0), float(t1), extra
            if out.startswith("ERR"):
                raise RuntimeError("%s: %s" % (line, out))
            extra.append(out)

    def list(self):
        """{uuid: state} as libvirt says."""
        _, _, lines = self.cmd("list")
        return {l.split()[1]: int(l.split()[3]) for l in lines if l.startswith("DOM ")}

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=5)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except BrokenPipeError:
                pass


class Watch:
    """`hvmap print --watch ARGS`, its stdout lines parsed as they come, each
    with its arrival time (ms, CLOCK_REALTIME like hvmap-lvdrive's)."""

    def __init__(self, *args, stderr_path=None):
        self.stderr = open(stderr_path, "w") if stderr_path else subprocess.DEVNULL
        self.proc = subprocess.Popen([HVMAP, *PRINT_ARGS, "--watch", *args], stdout=subprocess.PIPE,
                                     stderr=self.stderr, text=True, bufsize=1)
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put((time.time() * 1000.0, json.loads(line)))
        self.lines.put(None)

    def next(self, pred, timeout):
        """The first line from now on for which pred(doc) holds, as
        (arrival_ms, doc); None when timeout (s) passes first."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None
            try:
                item = self.lines.get(timeout=left)
            except queue.Empty:
                return None
            if item is None:
                raise RuntimeError("hvmap print --watch exited with %s" % self.proc.wait())
            self.seen.append(item[1])
            if pred(item[1]):
                return item

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        if self.stderr is not subprocess.DEVNULL:
            self.stderr.close()
        self.proc.stdout.close()
        return rc


def is_mapping(doc):
    return "hypervisors" in doc


def mapping_has(uuid, state):
    """A predicate: a mapping line where uuid has state (None: absent)."""
    def pred(doc):
        if not is_mapping(doc):
            return False
        return guests(doc).get(uuid, (None,))[0] == state
    return pred


def state_is(name):
    return lambda doc: doc.get("libvirt") == name


def percentile(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * (len(v) - 1)))))
    return v[k]
