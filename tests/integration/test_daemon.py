# SPDX-License-Identifier: GPL-2.0-or-later
"""hvmap run end to end: a private libvirtd (test driver), the fake
Candlepin, the daemon; what a user would notice, each wait bounded."""

import os
import signal
import subprocess
import time
import unittest

from daemon_harness import DEFAULT_TEST_DOMAIN, Stack, guest_uuid, needs_libvirtd, wait_until


@needs_libvirtd
class EndToEnd(unittest.TestCase):
    def test_each_change_reaches_the_server_within_2s(self):
        st = Stack(self, "[report]\nmin_gap = 0\ndebounce = 100ms\n")
        st.start_daemon()
        st.wait_equal(timeout=10, what="the first report")
        # Each step must show on the server within 2 s.
        u = guest_uuid(1)
        steps = [
            ("define", "define g1 %s" % u),
            ("start", "start %s" % u),
            ("suspend", "suspend %s" % u),
            ("resume", "resume %s" % u),
            ("destroy", "destroy %s" % u),
            ("undefine", "undefine %s" % u),
            ("create transient", "create g2 %s" % guest_uuid(2)),
            ("destroy transient", "destroy %s" % guest_uuid(2)),
        ]
        for name, cmd in steps:
            with self.subTest(step=name):
                st.driver.cmd(cmd)
                st.wait_equal(timeout=2.0, what="after %s" % name)
        self.assertEqual(st.status()["daemon"]["phase"], "watching")
        rc, took = st.stop_daemon()
        self.assertEqual(rc, 0)
        self.assertLess(took, 1.0, "SIGTERM must stop the daemon within 1 s")

    def test_burst_of_200_changes_is_few_reports_and_exact(self):
        st = Stack(self)  # default debounce 500 ms, min_gap 5 s
        for i in range(100):
            st.driver.cmd("define b%d %s" % (i, guest_uuid(100 + i)))
        st.start_daemon()
        st.wait_equal(timeout=10, what="the first report")
        before = len(st.puts())
        t0 = time.monotonic()
        for i in range(100):  # 200 changes: start and suspend each
            st.driver.cmd("start %s" % guest_uuid(100 + i))
        for i in range(0, 100, 2):
            st.driver.cmd("destroy %s" % guest_uuid(100 + i))
        burst = time.monotonic() - t0
        self.assertLess(burst, 2.0, "the burst itself took %.1fs" % burst)
        st.wait_equal(timeout=15, what="the final list after the burst")
        reports = len(st.puts()) - before
        self.assertLessEqual(reports, 10, "%d reports for one burst" % reports)
        self.assertGreaterEqual(reports, 1)
        self.assertEqual(len(st.server_guests()), 51)  # 50 running + the default domain


@needs_libvirtd
class Faults(unittest.TestCase):
    def test_server_down_then_back_delivers_the_right_list_without_a_storm(self):
        st = Stack(self, "[report]\nmin_gap = 2s\ndebounce = 100ms\nbackoff_max = 8s\n")
        st.start_daemon()
        st.wait_equal(timeout=10, what="the first report")
        before = len(st.puts())
        # The server answers 503 to every PUT for 30 s; guests change meanwhile.
        st.cp.fault({"status": 503}, method="PUT", count=100000)
        t0 = time.monotonic()
        for i in range(5):
            st.driver.cmd("create down%d %s" % (i, guest_uuid(300 + i)))
        wait_until(lambda: st.status()["report"]["consecutive_failures"] >= 2 or None, 20,
                   what="the daemon to see failures")
        self.assertEqual(st.status()["daemon"]["phase"], "backing-off")
        time.sleep(max(0.0, 30 - (time.monotonic() - t0)))  # the outage lasts 30 s by design
        st.cp.ctl("DELETE", "/faults")
        during = len(st.puts()) - before
        # Full jitter, 2 s floor, 8 s cap: 30 s of outage is at most ~15 tries;
        # a storm would be hundreds.
        self.assertLessEqual(during, 16, "%d requests during a 30 s outage" % during)
        self.assertGreaterEqual(during, 3)
        # The retry window is at most 8 s (+ min_gap); slack for a loaded machine.
        st.wait_equal(timeout=20, what="the list after the server came back")
        self.assertEqual(st.status()["report"]["consecutive_failures"], 0)

    def test_429_retry_after_is_honoured(self):
        st = Stack(self, "[report]\nmin_gap = 0\ndebounce = 100ms\n")
        st.start_daemon()
        st.wait_equal(timeout=10, what="the first report")
        st.cp.ctl("POST", "/requests/clear")
        st.cp.fault({"status": 429, "retry_after": "3"}, method="PUT", count=1)
        st.driver.cmd("create r1 %s" % guest_uuid(400))
        st.wait_equal(timeout=10, what="the list after the 429")
        puts = st.puts()
        self.assertGreaterEqual(len(puts), 2)
        self.assertEqual(puts[0]["status"], 429)
        gap = puts[1]["t"] - puts[0]["t"]
        self.assertGreaterEqual(gap, 3.0, "retried %.2fs after a 429 with Retry-After: 3" % gap)

    def requests_since(self, st, t0):
        _, reqs = st.cp.ctl("GET", "/requests")
        return [r for r in reqs if r["t"] >= t0]

    def test_consumer_deleted_stops_reporting_and_says_so(self):
        st = Stack(self, "[report]\nmin_gap = 0\ninterval = 10s\nsplay = 0\n")
        st.start_daemon()
        st.wait_equal(timeout=10, what="the first report")
        old = st.uuid
        st.cp.ctl("POST", "/consumers/%s/delete" % old)
        t0 = time.time()
        st.driver.cmd("create d1 %s" % guest_uuid(500))
        wait_until(lambda: st.status()["daemon"]["phase"] == "consumer-deleted" or None, 10,
                   what="status to say the consumer was deleted")
        self.assertEqual([r["status"] for r in self.requests_since(st, t0)], [410], "one 410")
        self.assertIn("deleted", st.daemon_log())
        # An administrator's decision is respected: nothing for a minute,
        # even with changes and the 10 s interval.
        t1 = time.time()
        for i in range(3):
            st.driver.cmd("create d%d %s" % (10 + i, guest_uuid(510 + i)))
        try:
            wait_until(lambda: self.requests_since(st, t1) or None, 60, what="a request after the deletion")
        except AssertionError:
            pass
        self.assertEqual(self.requests_since(st, t1), [], "no request for a whole minute")
        self.assertEqual(st.status()["daemon"]["phase"], "consumer-deleted")
        self.assertIsNone(st.daemon.poll(), "the daemon keeps running")

    def test_consumer_deleted_re_registers_once_when_configured(self):
        st = Stack(self, "[report]\nmin_gap = 0\ninterval = 10s\nsplay = 0\n"
                   "[registration]\nreregister_on_delete = yes\n")
        st.start_daemon()
        st.wait_equal(timeout=10, what="the first report")
        old = st.uuid
        st.cp.ctl("POST", "/consumers/%s/delete" % old)
        t0 = time.time()
        st.driver.cmd("create d1 %s" % guest_uuid(500))
        new = wait_until(lambda: (st.status()["identity"]["uuid"] not in (None, old)) and
                         st.status()["identity"]["uuid"], 30, what="a new identity")
        took = time.time() - t0
        self.assertGreaterEqual(took, 9.5, "not before the configured delay (interval = 10s)")
        regs = [r for r in self.requests_since(st, t0) if r["method"] == "POST" and r["path"].endswith("/consumers")]
        self.assertEqual(len(regs), 1, "exactly one re-registration")
        st.uuid = new
        st.wait_equal(timeout=10, what="the list on the new consumer")
        self.assertIn("reregister_on_delete", st.daemon_log())

    def test_consumer_deleted_without_credentials_says_so(self):
        st = Stack(self, "[report]\nmin_gap = 0\ndebounce = 100ms\n")
        st.activation_key = False
        st.write_conf()
        st.start_daemon()
        st.wait_equal(timeout=10, what="the first report")
        st.cp.ctl("POST", "/consumers/%s/delete" % st.uuid)
        st.driver.cmd("create d2 %s" % guest_uuid(501))
        wait_until(lambda: st.status()["daemon"]["phase"] == "consumer-deleted" or None, 15,
                   what="status to say the consumer was deleted")
        self.assertFalse(st.status()["identity"]["registered"])
        p = st.hvmap("status", check=False)
        self.assertEqual(p.returncode, 77, p.stdout + p.stderr)
        self.assertIn("not registered", p.stdout)
        self.assertIn("deleted on the server", p.stdout)
        self.assertIsNone(st.daemon.poll(), "the daemon keeps running")

    def test_libvirtd_killed_and_restarted(self):
        st = Stack(self, "[report]\nmin_gap = 0\ndebounce = 100ms\n")
        st.driver.cmd("create k1 %s" % guest_uuid(600))
        st.start_daemon()
        st.wait_equal(timeout=10, what="the first report")
        self.assertIn(guest_uuid(600), st.server_guests())
        st.driver.close()
        st.lv.kill(signal.SIGKILL)
        st.lv.start()
        from harness import Driver
        st.driver = Driver(st.lv.uri)
        self.addCleanup(st.driver.close)
        # A fresh test:///default has only its default domain.
        wait_until(lambda: st.server_guests() == {DEFAULT_TEST_DOMAIN} or None, 15,
                   what="the resynced list after the restart")
        st.driver.cmd("create k2 %s" % guest_uuid(601))
        st.wait_equal(timeout=3, what="events on the new connection")

    def test_agent_killed_mid_report_loses_nothing_and_repeats_nothing(self):
        st = Stack(self, "[report]\nmin_gap = 0\ndebounce = 100ms\n")
        st.start_daemon()
        st.wait_equal(timeout=10, what="the first report")
        # A report hangs on the server; the agent dies while it is in flight.
        st.cp.fault({"delay": 5}, method="PUT", count=1)
        st.driver.cmd("create m1 %s" % guest_uuid(700))
        wait_until(lambda: any(r["method"] == "PUT" for r in st.cp.ctl("GET", "/requests")[1][-3:]) or None,
                   5, what="the report to reach the server")
        st.stop_daemon(signal.SIGKILL)
        # And a change happens while it is down.
        st.driver.cmd("create m2 %s" % guest_uuid(701))
        st.start_daemon()
        st.wait_equal(timeout=10, what="the changes made around the crash")
        n = len(st.puts())
        # Restart with nothing changed: no report is sent.
        st.stop_daemon(signal.SIGKILL)
        st.start_daemon()
        wait_until(lambda: st.status()["daemon"]["running"] and st.status()["daemon"]["phase"] == "watching" or None,
                   10, what="the restarted daemon to settle")
        deadline = time.monotonic() + 2.0  # debounce is 100 ms: anything due would have gone
        while time.monotonic() < deadline:
            self.assertEqual(len(st.puts()), n, "an unchanged mapping was sent again after a restart")
            time.sleep(0.1)

    def test_sighup_applies_a_new_interval(self):
        st = Stack(self, "[report]\nmin_gap = 0\ndebounce = 100ms\n")
        st.start_daemon()
        st.wait_equal(timeout=10, what="the first report")
        n = len(st.puts())
        st.write_conf("[report]\nmin_gap = 0\ndebounce = 100ms\ninterval = 10s\nsplay = 0\n")
        st.daemon.send_signal(signal.SIGHUP)
        wait_until(lambda: len(st.puts()) > n or None, 15, what="a periodic report at the new 10 s interval")
        self.assertIn("SIGHUP", st.daemon_log())

    def test_sigusr1_reports_now(self):
        st = Stack(self, "[report]\nmin_gap = 0\ndebounce = 100ms\n")
        st.start_daemon()
        st.wait_equal(timeout=10, what="the first report")
        n = len(st.puts())
        st.daemon.send_signal(signal.SIGUSR1)
        wait_until(lambda: len(st.puts()) > n or None, 5, what="a report after SIGUSR1")


@needs_libvirtd
class Registration(unittest.TestCase):
    def test_a_second_daemon_on_the_same_state_dir_refuses_naming_the_first(self):
        st = Stack(self, register=False)  # no identity yet: two would both register
        st.start_daemon()
        wait_until(lambda: st.status()["identity"]["registered"] or None, 15, what="the first daemon registered")
        t0 = time.monotonic()
        p = subprocess.run(st.args() + ["run"], capture_output=True, text=True, timeout=30)
        took = time.monotonic() - t0
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("pid %d" % st.daemon.pid, p.stderr)
        self.assertLess(took, 1.0, "it refuses at once")
        _, reqs = st.cp.ctl("GET", "/requests")
        regs = [r for r in reqs if r["method"] == "POST" and r["path"].endswith("/consumers")]
        self.assertEqual(len(regs), 1, "no second registration")
        self.assertIsNone(st.daemon.poll(), "the first keeps running")

    def test_a_one_shot_command_holding_the_lock_is_named_as_such(self):
        st = Stack(self)
        st.cp.fault({"delay": 5}, method="PUT", count=1)
        one = subprocess.Popen(st.args() + ["report"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            lock = os.path.join(st.state_dir, "lock")

            def held():
                with open(lock) as f:
                    return f.read() == "%d report\n" % one.pid or None

            wait_until(lambda: os.path.exists(lock) and held(), 10, what="the one-shot report to take the lock")
            name = "'hvmap report' (pid %d)" % one.pid
            # Neither a daemon nor another one-shot calls it "the hvmap daemon".
            for verb in ("run", "report"):
                p = subprocess.run(st.args() + [verb], capture_output=True, text=True, timeout=30)
                self.assertEqual(p.returncode, 75, "%s: %s" % (verb, p.stderr))
                self.assertIn(name, p.stderr)
                self.assertNotIn("daemon (pid", p.stderr)
            doc = st.status()
            self.assertFalse(doc["daemon"]["running"])
            self.assertIn(name, doc["daemon"]["note"])
            self.assertIn("no daemon runs", doc["daemon"]["note"])
        finally:
            one.wait(30)
        self.assertEqual(one.returncode, 0)

    def test_register_is_idempotent_and_report_exit_codes(self):
        st = Stack(self, register=False)
        first = st.hvmap("register", "--json")
        self.assertIn('"changed":true', first.stdout)
        again = st.hvmap("register", "--json")
        self.assertIn('"changed":false', again.stdout)
        consumers = [c for c in st.cp.state()["consumers"]]
        self.assertEqual(len(consumers), 1, "no duplicate consumer")
        self.assertEqual(st.hvmap("report").returncode, 0)
        st.cp.fault({"status": 503}, method="PUT", count=1)
        self.assertEqual(st.hvmap("report", check=False).returncode, 75)
        st.cp.fault({"status": 401}, method="PUT", count=1)
        self.assertEqual(st.hvmap("report", check=False).returncode, 77)
        st.cp.stop()
        self.assertEqual(st.hvmap("report", check=False).returncode, 69)
        # The secret never shows anywhere we print.
        for p in (first, again):
            self.assertNotIn("hv-key", p.stdout + p.stderr)

    @unittest.skipUnless(os.geteuid() == 0, "needs root to own files as another user")
    def test_register_as_root_gives_files_to_the_service_user(self):
        st = Stack(self, register=False)
        os.makedirs(st.state_dir, mode=0o700)
        os.chown(st.state_dir, 65534, 65534)  # the service's own user owns its StateDirectory
        st.hvmap("register")
        st.hvmap("report")
        for name in ("cert.pem", "key.pem", "consumer.json", "state.json"):
            info = os.stat(os.path.join(st.state_dir, name))
            self.assertEqual((info.st_uid, info.st_gid), (65534, 65534), name)
        self.assertEqual(os.stat(os.path.join(st.state_dir, "key.pem")).st_mode & 0o777, 0o600)


if __name__ == "__main__":
    unittest.main()


def _sha256(text):
    import hashlib
    return hashlib.sha256(text.encode()).hexdigest()


def _state(st):
    import json
    try:
        with open(os.path.join(st.state_dir, "state.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


@needs_libvirtd
class OneRoad(unittest.TestCase):
    """print, report and run send one and the same body (agent/mapping.c)."""

    def requests(self, st, method, part):
        _, reqs = st.cp.ctl("GET", "/requests")
        return [r for r in reqs if r["method"] == method and part in r["path"]]

    def test_print_is_byte_for_byte_what_report_and_run_send(self):
        st = Stack(self, "[report]\nmin_gap = 1s\n[host]\nname = rack7-kvm\n")
        st.driver.cmd("create g1 %s" % guest_uuid(1))
        printed = st.hvmap("print").stdout
        self.assertTrue(printed.endswith("}\n") and "\n" not in printed[:-1], "compact: one line")
        body = printed[:-1]
        st.hvmap("report")
        self.assertEqual(st.puts()[-1]["body"], body, "hvmap report sends what print shows")
        self.assertEqual(_state(st).get("accepted_digest"), _sha256(body),
                         "the digest kept is of exactly those bytes")
        pretty = st.hvmap("print", "--pretty").stdout
        self.assertIn("\n\t", pretty)
        # The daemon, after a change.
        st.driver.cmd("create g2 %s" % guest_uuid(2))
        body = st.hvmap("print").stdout[:-1]
        st.start_daemon()
        wait_until(lambda: any(r["body"] == body for r in st.puts()) or None, 10,
                   what="hvmap run sending print's body")

    def test_checkin_mode_print_report_and_job(self):
        st = Stack(self, "[report]\nmode = checkin\nmin_gap = 1s\n")
        st.driver.cmd("create g1 %s" % guest_uuid(1))
        body = st.hvmap("print").stdout[:-1]
        self.assertTrue(body.startswith('{"hypervisors":['), body)
        r = st.hvmap("report")
        self.assertIn("report accepted", r.stdout)
        posts = self.requests(st, "POST", "/hypervisors/")
        self.assertEqual(posts[-1]["body"], body, "the check-in body is print's")
        self.assertGreaterEqual(len(self.requests(st, "GET", "/jobs/")), 1, "the job was polled")
        s = _state(st)
        self.assertEqual(s.get("last_result"), "ok")
        self.assertEqual(s.get("accepted_digest"), _sha256(body))
        st.wait_equal(timeout=5, what="the job applied")

    def test_checkin_changes_only_the_checkin_body_carries_are_reported(self):
        st = Stack(self, "[report]\nmode = checkin\nmin_gap = 1s\n")
        st.driver.cmd("create g1 %s" % guest_uuid(1))
        st.start_daemon()
        wait_until(lambda: len(self.requests(st, "POST", "/hypervisors/")) >= 1 or None, 10,
                   what="the first check-in")
        wait_until(lambda: _state(st).get("last_result") == "ok" or None, 10, what="its job finished")
        n = len(self.requests(st, "POST", "/hypervisors/"))
        st.driver.cmd("suspend %s" % guest_uuid(1))  # still active: only "state" changes
        wait_until(lambda: len(self.requests(st, "POST", "/hypervisors/")) == n + 1 or None, 5,
                   what="a check-in for the paused guest")
        self.assertIn('"state":3', self.requests(st, "POST", "/hypervisors/")[-1]["body"])
        wait_until(lambda: _state(st).get("last_result") == "ok" and
                   _state(st).get("accepted_digest") == _sha256(
                       self.requests(st, "POST", "/hypervisors/")[-1]["body"]) or None, 10,
                   what="that job finished")
        st.write_conf("[report]\nmode = checkin\nmin_gap = 1s\n[host]\nname = renamed-host\n")
        st.daemon.send_signal(signal.SIGHUP)
        wait_until(lambda: len(self.requests(st, "POST", "/hypervisors/")) == n + 2 or None, 5,
                   what="a check-in for the new name")
        self.assertIn('"name":"renamed-host"', self.requests(st, "POST", "/hypervisors/")[-1]["body"])
        wait_until(lambda: _state(st).get("accepted_digest") == _sha256(
            self.requests(st, "POST", "/hypervisors/")[-1]["body"]) or None, 10, what="it accepted")
        # A restart with nothing changed sends nothing.
        self.assertEqual(st.stop_daemon()[0], 0)
        st.start_daemon()
        wait_until(lambda: _state(st).get("pid") == st.daemon.pid and
                   _state(st).get("phase") == "watching" or None, 10, what="the restarted daemon watching")
        self.assertEqual(len(self.requests(st, "POST", "/hypervisors/")), n + 2)

    def test_report_dropped_by_sighup_and_applied_late_is_overwritten(self):
        import threading
        st = Stack(self, "[server]\ntimeout = 3s\n[report]\nmin_gap = 1s\n[daemon]\nlog_level = debug\n")
        st.start_daemon()
        st.wait_equal(timeout=10, what="the first report")
        wait_until(lambda: _state(st).get("last_result") == "ok" or None, 5, what="state written")
        # The next PUT is held 4 s by the server, then applied anyway (the
        # request log shows a request once it is answered).
        st.cp.fault({"delay": 4}, method="PUT", count=1)
        sent = st.daemon_log().count("Reporting ")
        st.driver.cmd("create g1 %s" % guest_uuid(1))
        wait_until(lambda: st.daemon_log().count("Reporting ") > sent or None, 5, what="the PUT on its way")
        t_held = time.monotonic()
        samples, stop = [], []

        def sample():
            while not stop:
                samples.append((time.monotonic(), _state(st).get("accepted_digest"), st.server_guests()))
                time.sleep(0.02)
        t = threading.Thread(target=sample)
        t.start()
        try:
            st.daemon.send_signal(signal.SIGHUP)  # drops the held PUT
            st.driver.cmd("destroy %s" % guest_uuid(1))
            base = st.libvirt_active()
            # The held PUT (listing g1) lands 4 s after it arrived, over the
            # newer reports; within 2 × timeout + min_gap of its sending the
            # daemon has put the truth back.
            wait_until(lambda: time.monotonic() > t_held + 4.5 and st.server_guests() == base or None,
                       2 * 3 + 1 + 4, what="the server's list exact after the late PUT")
            done = time.monotonic()
        finally:
            stop.append(1)
            t.join()
        held = [r["body"] for r in st.puts() if guest_uuid(1) in r["body"]][0]
        late = [s for s in samples if s[0] > t_held + 3.9 and s[2] == base | {guest_uuid(1)}]
        self.assertTrue(late, "the server did apply the dropped PUT late (the scenario happened)")
        self.assertLess(done - t_held, 2 * 3 + 1 + 2, "exact within 2 × timeout + min_gap")
        self.assertNotIn(_sha256(held), [s[1] for s in samples],
                         "status never said the dropped report was accepted")

    def test_sigusr1_storm_is_at_most_two_reports(self):
        st = Stack(self)
        st.start_daemon()
        st.wait_equal(timeout=10, what="the first report")
        first = st.puts()[-1]
        wait_until(lambda: _state(st).get("last_result") == "ok" or None, 5, what="state written")
        n = len(st.puts())
        for _ in range(200):
            st.daemon.send_signal(signal.SIGUSR1)
            time.sleep(0.01)
        try:
            wait_until(lambda: len(st.puts()) > n + 2 or None, 7, what="a third report")
        except AssertionError:
            pass
        self.assertLessEqual(len(st.puts()) - n, 2, "200 × SIGUSR1 in 2 s: at most 2 reports")
        self.assertGreaterEqual(len(st.puts()) - n, 1, "SIGUSR1 reports")
        self.assertTrue(first)
