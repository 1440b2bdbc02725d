#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Soak: one hvmap daemon against a private libvirtd with 1 000 guests that
a driver cycles (start/destroy/define/undefine) as fast as it can, the fake
Candlepin failing 5 % of the requests (429, 500, slow, dropped connection),
libvirtd restarted every few minutes (and re-populated: a fresh
test:///default has only its default domain). At the end the server's list
must equal libvirt's, the daemon's RSS must not have grown by 1 MiB or more
between minute 1 and the end, its open fds not at all, and its log must hold
no sanitizer report. Prints one line of figures.

Usage: soak.py [MINUTES]   (default: $SOAK_MINUTES, else 10)
Environment: HVMAP, LVDRIVE (the built binaries)."""

import os
import random
import re
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_harness import Stack, wait_until  # noqa: E402
from harness import Driver  # noqa: E402

GUESTS = 1000
RESTART_EVERY = 180.0  # libvirtd restarts every 3 min (once in a 2-minute run)
FAULT_RATE = 0.05
FAULTS = [
    ("429", {"status": 429, "retry_after": "1"}),
    ("500", {"status": 500}),
    ("slow", {"delay": 3}),
    ("drop", {"close_mid_body": True}),
]
CONF = ("[report]\nmin_gap = 2s\ndebounce = 500ms\nbackoff_max = 20s\n"
        "[server]\ntimeout = 5s\n")
RSS_GROWTH_MAX_KIB = 1024


def soak_uuid(i):
    return "50a50a50-0000-4000-8000-%012d" % i


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1))


def nfds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class Soak(unittest.TestCase):
    minutes = float(os.environ.get("SOAK_MINUTES", "10"))

    def populate(self, drv):
        for i in range(GUESTS):
            drv.cmd("define s%d %s" % (i, soak_uuid(i)))
            if i % 2 == 0:
                drv.cmd("start %s" % soak_uuid(i))

    def test_soak(self):
        st = Stack(self, CONF)
        lock = threading.Lock()
        self.populate(st.driver)
        st.start_daemon()
        pid = st.daemon.pid
        st.wait_equal(timeout=60, what="the first report of %d guests" % GUESTS)

        stop = threading.Event()
        events = [0]
        errors = []
        rng = random.Random(8)
        # What each guest is, as the driver believes: 0 undefined, 1 defined, 2 running.
        known = {i: (2 if i % 2 == 0 else 1) for i in range(GUESTS)}

        def drive():
            while not stop.is_set():
                i = rng.randrange(GUESTS)
                u, k = soak_uuid(i), known[i]
                if k == 0:
                    cmd, nk = "define s%d %s" % (i, u), 1
                elif k == 1:
                    cmd, nk = ("start %s" % u, 2) if rng.random() < 0.8 else ("undefine %s" % u, 0)
                else:
                    cmd, nk = "destroy %s" % u, 1
                with lock:
                    try:
                        st.driver.cmd(cmd)
                        known[i] = nk
                        events[0] += 1
                    except RuntimeError as e:  # libvirtd going away under us
                        errors.append(str(e))

        t_start = time.monotonic()
        end = t_start + self.minutes * 60
        driver = threading.Thread(target=drive, daemon=True)
        driver.start()
        self.addCleanup(stop.set)

        injected = 0
        next_restart = t_start + min(RESTART_EVERY, self.minutes * 60 / 2)
        restarts = 0
        rss0 = fds0 = None
        while time.monotonic() < end:
            self.assertIsNone(st.daemon.poll(), "the daemon died")
            now = time.monotonic()
            if rss0 is None and now - t_start >= 60:
                rss0, fds0 = rss_kib(pid), nfds(pid)
            # 5 % of the requests meet a fault: keep one queued while behind.
            _, reqs = st.cp.ctl("GET", "/requests")
            _, pending = st.cp.ctl("GET", "/faults")
            if not pending and injected < FAULT_RATE * len(reqs):
                _, action = rng.choice(FAULTS)
                st.cp.fault(action, method="PUT", path="/consumers/", count=1)
                injected += 1
            if now >= next_restart:
                with lock:
                    st.driver.close()
                    st.lv.restart()
                    st.driver = Driver(st.lv.uri)
                    self.populate(st.driver)
                    for i in range(GUESTS):
                        known[i] = 2 if i % 2 == 0 else 1
                restarts += 1
                next_restart = now + RESTART_EVERY
            time.sleep(1.0)

        stop.set()
        driver.join(30)
        _, pending = st.cp.ctl("GET", "/faults")
        fired = injected - len(pending)
        st.cp.ctl("DELETE", "/faults")
        _, reqs = st.cp.ctl("GET", "/requests")
        try:
            st.wait_equal(timeout=60, what="the final list")
            equal = True
        except AssertionError:
            equal = False
        # Let the daemon settle (a report in flight, state written) before measuring.
        status = st.status()
        rss1, fds1 = rss_kib(pid), nfds(pid)
        if rss0 is None:
            rss0, fds0 = rss1, fds1
        rc, _ = st.stop_daemon()
        log = st.daemon_log()
        sanitizer = bool(re.search(r"Sanitizer|runtime error:|LeakSanitizer", log))
        puts = [r for r in reqs if r["method"] == "PUT"]
        failed = [r for r in puts if r["status"] >= 400]
        line = ("soak: %g min, %d guests, %d guest changes made (daemon loop wakeups %d), "
                "%d reports sent (%d PUTs), %d faults seen (%d injected, %d answered >= 400), "
                "%d libvirtd restarts, RSS start/end %d/%d KiB, fds start/end %d/%d, "
                "final mapping equal %s, sanitizer report %s"
                % (self.minutes, GUESTS, events[0], status["daemon"].get("loop_wakeups", -1),
                   status["report"]["reports_sent"], len(puts), fired, injected, len(failed), restarts,
                   rss0, rss1, fds0, fds1, "yes" if equal else "no", "yes" if sanitizer else "no"))
        print(line, flush=True)
        self.assertTrue(equal, "the server's list differs from libvirt's at the end")
        self.assertEqual(rc, 0, "hvmap run exited %s" % rc)
        self.assertFalse(sanitizer, "a sanitizer report in the daemon's log")
        self.assertEqual(fds1, fds0, "open fds grew")
        if "ASAN_OPTIONS" not in os.environ:  # ASan's quarantine grows the RSS by design
            self.assertLess(rss1 - rss0, RSS_GROWTH_MAX_KIB, "RSS grew by %d KiB" % (rss1 - rss0))
        self.assertGreater(events[0], 0)


if __name__ == "__main__":
    if len(sys.argv) > 1 and re.match(r"^[0-9.]+$", sys.argv[1]):
        Soak.minutes = float(sys.argv.pop(1))
    unittest.main()
