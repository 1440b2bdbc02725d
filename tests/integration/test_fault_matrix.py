# SPDX-License-Identifier: GPL-2.0-or-later
"""The fault matrix: every fault the fake Candlepin can inject and every
libvirt fault (kill, restart, STOP/CONT, socket removed), one after the
other against one running daemon. For each: the daemon stays alive, the
server's list equals libvirt's once the fault clears, the requests made
during the fault are bounded (no storm), and `hvmap status` reported it.
Prints a table of fault -> requests during it."""

import json
import os
import signal
import sys
import time
import unittest

from daemon_harness import Stack, guest_uuid, needs_libvirtd, wait_until
from harness import Driver

# The fault lasts this long; the scheduler's retry window starts at
# max(min_gap, 1 s) and doubles up to backoff_max, full jitter, never below
# min_gap: at most one try a second, so HOLD + 2 tries is the worst honest
# case (a storm would be hundreds).
HOLD = 5.0
MAX_REQUESTS = int(HOLD) + 2
CONF = ("[report]\nmin_gap = 1s\ndebounce = 100ms\nbackoff_max = 4s\n"
        "[server]\ntimeout = 3s\n")
# Recovery: the longest retry window (4 s) + a request timeout (3 s) + slack.
RECOVER = 15.0

# name, fault action, what status must show while it lasts:
#   "fail" the failure count rises, "any" the fault may be harmless to a PUT,
#   "auth" as "fail", and the daemon then waits 30 min (AUTH_RETRY_USEC) for
#   someone to fix the credentials: the test plays that someone with SIGHUP
#   (SIGUSR1 does not cut that wait short; see test_sigusr1_after_auth_failure).
SERVER_FAULTS = [
    ("429 Retry-After: 2", {"status": 429, "retry_after": "2"}, "fail"),
    ("500", {"status": 500}, "fail"),
    ("502 HTML page", {"html": True, "status": 502}, "fail"),
    ("503", {"status": 503}, "fail"),
    ("401", {"status": 401}, "auth"),
    ("403", {"status": 403}, "auth"),
    ("404", {"status": 404}, "fail"),
    ("415", {"status": 415}, "fail"),
    ("410 without deletedId", {"status": 410, "deleted_id": None}, "fail"),
    ("slow (5 s > timeout)", {"delay": 5}, "fail"),
    ("connection drop mid-body", {"close_mid_body": True}, "any"),
    ("oversized body (5 MiB)", {"oversized_body": 5 * 1024 * 1024}, "any"),
    ("malformed JSON", {"malformed_json": True}, "any"),
    ("wrong content type", {"wrong_content_type": True}, "any"),
]


@needs_libvirtd
class FaultMatrix(unittest.TestCase):
    def setUp(self):
        self.st = Stack(self, CONF)
        self.st.start_daemon()
        self.st.wait_equal(timeout=10, what="the first report")
        self.rows = []
        self.n = 0

    def change(self):
        self.n += 1
        self.st.driver.cmd("create fm%d %s" % (self.n, guest_uuid(1000 + self.n)))

    def requests_between(self, t0, t1):
        """Requests that arrived in [t0, t1); the fake logs one when it has
        answered, so a slow or hung one shows up only after the fault: call
        this once the daemon has recovered."""
        _, reqs = self.st.cp.ctl("GET", "/requests")
        return [r for r in reqs if t0 <= r["t"] < t1]

    def hold(self, seconds):
        """Lets the fault last seconds, sampling status; returns the samples."""
        samples = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            s = self.st.status()
            samples.append(s)
            self.assertIsNone(self.st.daemon.poll(), "the daemon died")
            time.sleep(0.25)
        return samples

    def recover(self, name, nudge=False):
        self.assertIsNone(self.st.daemon.poll(), "the daemon died during %s" % name)
        self.change()  # a change after the fault must get through too
        if nudge:
            self.st.daemon.send_signal(signal.SIGHUP)
        self.st.wait_equal(timeout=RECOVER, what="the right list after %s" % name)
        wait_until(lambda: self.st.status()["report"]["consecutive_failures"] == 0 or None, RECOVER,
                   what="status to clear the failures after %s" % name)
        wait_until(lambda: self.st.status()["daemon"]["phase"] == "watching" or None, RECOVER,
                   what="status to say watching again after %s" % name)

    def record(self, name, requests, samples, shown):
        phases = sorted({s["daemon"]["phase"] for s in samples})
        fails = max([s["report"]["consecutive_failures"] for s in samples] or [0])
        # A sample taken while no daemon runs (between faults) has no libvirt state.
        libvirt = sorted({s["daemon"]["libvirt"] for s in samples} - {None})
        self.rows.append((name, requests, fails, ",".join(phases), ",".join(libvirt), shown))

    def print_table(self):
        out = ["", "%-28s %9s %9s  %-28s %-26s" % ("fault", "requests", "failures", "phases seen",
                                                   "libvirt seen")]
        for name, req, fails, phases, libvirt, _ in self.rows:
            out.append("%-28s %9d %9d  %-28s %-26s" % (name, req, fails, phases, libvirt))
        sys.stderr.write("\n".join(out) + "\n\n")

    def test_every_fault(self):
        st = self.st
        self.addCleanup(self.print_table)

        # ---- the server's faults, each for HOLD seconds --------------------
        for name, action, expect in SERVER_FAULTS:
            with self.subTest(fault=name):
                st.wait_equal(timeout=RECOVER, what="a calm start before %s" % name)
                t0 = time.time()
                st.cp.fault(action, method="PUT", path="/consumers/", count=100000)
                self.change()
                samples = self.hold(HOLD)
                st.cp.ctl("DELETE", "/faults")
                t1 = time.time()
                if "delay" in action:
                    # The fault lasts until the server has answered what it
                    # delayed: a late PUT overwrites a newer one (see
                    # test_a_late_applied_timed_out_report_is_healed).
                    samples += self.hold(action["delay"])
                shown = any(s["report"]["consecutive_failures"] >= 1 for s in samples)
                if expect in ("fail", "auth"):
                    self.assertTrue(shown, "status never showed a failure during %s" % name)
                    self.assertTrue(any(s["report"]["last_result"] not in (None, "ok") for s in samples),
                                    "status never named the failure during %s" % name)
                if expect == "auth":
                    self.assertTrue(any(s["daemon"]["phase"] == "auth-failed" for s in samples),
                                    "status never said auth-failed during %s" % name)
                self.recover(name, nudge=expect == "auth")
                n = len(self.requests_between(t0, t1))
                self.record(name, n, samples, shown)
                self.assertLessEqual(n, MAX_REQUESTS, "%d requests in %.0f s of %s" % (n, HOLD, name))
                self.assertGreaterEqual(n, 1, "no request reached the server during %s" % name)

        # ---- hang: the server accepts connections and never answers --------
        with self.subTest(fault="server hang"):
            t0 = time.time()
            st.cp.ctl("POST", "/mode", {"hang": True})
            self.change()
            samples = self.hold(HOLD + 3)  # past the 3 s request timeout
            st.cp.ctl("POST", "/mode", {"hang": False})
            t1 = time.time()
            shown = any(s["report"]["consecutive_failures"] >= 1 for s in samples)
            self.assertTrue(shown, "status never showed the hung server")
            self.recover("server hang")
            n = len(self.requests_between(t0, t1))
            self.record("server hang", n, samples, shown)
            self.assertLessEqual(n, MAX_REQUESTS + 3)

        # ---- 410 with our deletedId: the consumer is gone, re-register ------
        with self.subTest(fault="410 consumer deleted"):
            t0 = time.time()
            st.cp.fault({"status": 410, "deleted_id": st.uuid}, method="PUT", path="/consumers/", count=1)
            self.change()
            samples = self.hold(HOLD)
            n = len(self.requests_between(t0, time.time()))
            self.record("410 consumer deleted", n, samples, True)
            self.assertLessEqual(n, MAX_REQUESTS)
            # An administrator's deletion is respected: the daemon stops
            # reporting and says so; the operator registers again.
            self.assertEqual(st.status()["daemon"]["phase"], "consumer-deleted")
            st.stop_daemon()
            st.uuid = json.loads(st.hvmap("register", "--json").stdout)["uuid"]
            st.start_daemon()
            self.recover("410 consumer deleted")

        # ---- libvirt's faults ----------------------------------------------
        def restart_libvirtd(how):
            st.driver.close()
            if how == "kill":
                st.lv.kill(signal.SIGKILL)
                st.lv.start()
            else:
                st.lv.restart()
            st.driver = Driver(st.lv.uri)
            self.addCleanup(st.driver.close)

        for name, how in (("libvirtd SIGKILL + start", "kill"), ("libvirtd restart", "restart")):
            with self.subTest(fault=name):
                t0 = time.time()
                restart_libvirtd(how)
                samples = self.hold(2.0)
                n = len(self.requests_between(t0, time.time()))
                self.record(name, n, samples, True)
                self.assertLessEqual(n, MAX_REQUESTS)
                self.recover(name)

        with self.subTest(fault="libvirtd SIGSTOP/SIGCONT"):
            t0 = time.time()
            st.lv.kill(signal.SIGSTOP)
            try:
                # keepalive 1 s x 2: "not-responding" within a few seconds.
                samples = self.hold(HOLD + 2)
            finally:
                st.lv.kill(signal.SIGCONT)
            n = len(self.requests_between(t0, time.time()))
            shown = any(s["daemon"]["libvirt"] != "connected" for s in samples)
            self.record("libvirtd SIGSTOP/SIGCONT", n, samples, shown)
            self.assertTrue(shown, "status never showed the stopped libvirtd")
            self.assertLessEqual(n, MAX_REQUESTS)
            # The driver's connection may have died with keepalive too.
            st.driver.close()
            st.driver = Driver(st.lv.uri)
            self.addCleanup(st.driver.close)
            self.recover("libvirtd SIGSTOP/SIGCONT")

        with self.subTest(fault="libvirtd socket removed"):
            t0 = time.time()
            os.unlink(st.lv.sock_ro)
            os.unlink(st.lv.sock)
            # The open connection still works...
            self.change()
            st.wait_equal(timeout=5, what="events on the open connection with the socket gone")
            # ...and when libvirtd dies, reconnecting fails until it is back.
            st.driver.close()
            st.lv.kill(signal.SIGKILL)
            samples = self.hold(HOLD)
            shown = any(s["daemon"]["libvirt"] != "connected" for s in samples)
            n = len(self.requests_between(t0, time.time()))
            self.record("libvirtd socket removed", n, samples, shown)
            self.assertTrue(shown, "status never showed libvirt gone")
            self.assertLessEqual(n, MAX_REQUESTS)
            st.lv.start()
            st.driver = Driver(st.lv.uri)
            self.addCleanup(st.driver.close)
            self.recover("libvirtd socket removed")

        self.assertIsNone(st.daemon.poll())
        self.assertEqual(st.status()["daemon"]["phase"], "watching")


@needs_libvirtd
class ReportNow(unittest.TestCase):
    def test_sigusr1_after_auth_failure_reports_now(self):
        """After a 401 the daemon waits 30 min; an operator who fixed the
        cause and sends SIGUSR1 ("Received SIGUSR1: reporting now") expects
        a report now, not in 30 min."""
        st = Stack(self, CONF)
        st.start_daemon()
        st.wait_equal(timeout=10, what="the first report")
        st.cp.fault({"status": 401}, method="PUT", path="/consumers/", count=100000)
        st.driver.cmd("create au1 %s" % guest_uuid(2001))
        wait_until(lambda: st.status()["daemon"]["phase"] == "auth-failed" or None, 10, what="auth-failed")
        st.cp.ctl("DELETE", "/faults")
        st.daemon.send_signal(signal.SIGUSR1)
        st.wait_equal(timeout=8, what="the report SIGUSR1 asked for")


@needs_libvirtd
class LateApplied(unittest.TestCase):
    def test_a_late_applied_timed_out_report_is_healed(self):
        """A PUT that timed out on our side may still be applied by the
        server, after the retry that succeeded: the server then holds the
        older list while the daemon believes it accepted the newer one, until
        the next change or the hourly interval."""
        st = Stack(self, CONF)
        st.start_daemon()
        st.wait_equal(timeout=10, what="the first report")
        n0 = len(st.puts())
        st.cp.fault({"delay": 5}, method="PUT", path="/consumers/", count=1)  # > the 3 s timeout
        st.driver.cmd("create late1 %s" % guest_uuid(3001))  # PUT A: times out, applied at +5 s
        wait_until(lambda: st.status()["report"]["consecutive_failures"] >= 1 or None, 10,
                   what="the timed-out report")
        st.driver.cmd("create late2 %s" % guest_uuid(3002))  # PUT B: accepted, then overwritten by A
        st.wait_equal(timeout=10, what="the list with both guests")
        # The fake logs a request once answered: A shows up when it has landed.
        wait_until(lambda: len(st.puts()) >= n0 + 2 or None, 10, what="the delayed PUT to be applied")
        st.wait_equal(timeout=15, what="the list to be healed after the late PUT")


if __name__ == "__main__":
    unittest.main()
