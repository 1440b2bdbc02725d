# SPDX-License-Identifier: GPL-2.0-or-later
"""`hvmap status` as monitoring sees it, each failure state provoked for
real (private libvirtd, fake Candlepin, `hvmap run`): the exit status of
plain `status` (hvmap(8) EXIT STATUS), `status --check`'s Nagios plugin
line and exit status (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), `status
--json` schema 1 with the same keys in every state, and `status
--format=openmetrics` read by the Prometheus client library's own
OpenMetrics parser (python3-prometheus-client), not by us.

Prints the table: state -> status exit, --check exit, --check line."""

import json
import os
import signal
import subprocess
import sys
import unittest

from daemon_harness import Stack, guest_uuid, needs_libvirtd, wait_until

sys.path.append("/usr/lib/python3/dist-packages")  # Debian's python3-prometheus-client
try:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
except ImportError:  # scripts/setup installs it
    text_string_to_metric_families = None

FAST = "[report]\nmin_gap = 0\ndebounce = 100ms\nbackoff_max = 2s\n[server]\ntimeout = 3s\n"
TABLE = []


def tearDownModule():
    if not TABLE:
        return
    out = ["", "%-34s %6s %6s  %s" % ("state", "status", "check", "status --check")]
    for name, rc, crc, line in TABLE:
        out.append("%-34s %6d %6d  %s" % (name, rc, crc, line[:160]))
    sys.stderr.write("\n".join(out) + "\n\n")


def openmetrics(text):
    """{name: [(labels, value)]} by the Prometheus client's strict parser."""
    fams = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            fams.setdefault(s.name, []).append((s.labels, s.value))
    return fams


def key_paths(obj, prefix=""):
    """Every key path of a JSON document (not into lists)."""
    out = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.add(prefix + k)
            out |= key_paths(v, prefix + k + ".")
    return out


@needs_libvirtd
class Status(unittest.TestCase):
    def check(self, st, name, want_rc, want_check, want_words=(), extra=()):
        """Runs status and status --check; asserts both exits and the
        words of the line; records the row."""
        p = st.hvmap("status", *extra, check=False)
        c = st.hvmap("status", "--check", *extra, check=False)
        line = c.stdout.strip()
        TABLE.append((name, p.returncode, c.returncode, line))
        self.assertEqual(p.returncode, want_rc, "status in state %s:\n%s%s" % (name, p.stdout, p.stderr))
        self.assertEqual(c.returncode, want_check, "status --check in state %s: %s" % (name, line))
        self.assertEqual(len(c.stdout.splitlines()), 1, c.stdout)
        level = ["OK", "WARNING", "CRITICAL", "UNKNOWN"][want_check]
        self.assertRegex(line, r"^HVMAP %s - .+ \| guests=" % level)
        for w in want_words:
            self.assertIn(w, line)
        # perfdata: 'label'=value[UOM];[warn];[crit];[min];[max], space separated
        for pd in line.split(" | ", 1)[1].split():
            self.assertRegex(pd, r"^[a-z_]+=(U|-?\d+(s|c)?)(;[\d.:]*){0,4}$", pd)
        return p, c

    def json_status(self, st, *extra):
        p = st.hvmap("status", "--json", *extra, check=False)
        doc = json.loads(p.stdout)
        self.assertEqual(doc["schema"], 1)
        return doc

    def metrics(self, st):
        if text_string_to_metric_families is None:
            self.fail("prometheus_client is missing: scripts/setup installs python3-prometheus-client")
        p = st.hvmap("status", "--format=openmetrics", check=False)
        self.assertTrue(p.stdout.endswith("# EOF\n"), p.stdout[-200:])
        return openmetrics(p.stdout)

    # ---- healthy, and what it shows ---------------------------------------
    def test_healthy(self):
        st = Stack(self, FAST)
        st.start_daemon()
        st.wait_equal(timeout=10, what="the first report")
        wait_until(lambda: st.status()["daemon"]["phase"] == "watching" or None, 10, what="watching")
        p, c = self.check(st, "healthy", 0, 0, ["watching 1 guest;"])
        self.assertNotIn("1 guests", p.stdout)
        self.assertNotIn("ago)", p.stdout.replace("just now)", "").split("last accepted")[0])
        self.assertNotRegex(p.stdout, r"\((-|0) ago\)")
        self.assertRegex(p.stdout, r"next report: \S+Z \(in [0-9]", p.stdout)
        self.assertIn("last_accepted_age=", c.stdout)
        doc = self.json_status(st)
        self.assertEqual(doc["health"]["status"], "ok")
        self.assertIsInstance(doc["report"]["last_accepted_age_sec"], (int, float))
        self.assertEqual(doc["report"]["accepted_guests"], 1)
        self.assertGreaterEqual(doc["report"]["requests"]["ok"], 1)
        m = self.metrics(st)
        self.assertEqual(m["hvmap_up"][0][1], 1)
        self.assertEqual(m["hvmap_health"][0][1], 0)
        self.assertEqual(m["hvmap_guests"][0][1], 1)
        self.assertEqual(m["hvmap_libvirt_connected"][0][1], 1)
        self.assertEqual(m["hvmap_consecutive_failures"][0][1], 0)
        self.assertGreaterEqual(m["hvmap_reports_accepted_total"][0][1], 1)
        ok = [v for lab, v in m["hvmap_requests_total"] if lab["result"] == "ok"]
        self.assertEqual(len(m["hvmap_requests_total"]), 7)
        self.assertGreaterEqual(ok[0], 1)
        self.assertAlmostEqual(m["hvmap_last_accepted_report_timestamp_seconds"][0][1],
                               __import__("time").time(), delta=60)
        self.assertGreater(m["hvmap_certificate_expiry_timestamp_seconds"][0][1], __import__("time").time())
        info = m["hvmap_build_info"][0][0]
        self.assertEqual(info["consumer"], st.uuid)
        self.assertEqual(info["server"], st.cp.url)
        phases = {lab["hvmap_phase"]: v for lab, v in m["hvmap_phase"]}
        self.assertEqual(phases["watching"], 1)
        self.assertEqual(sum(phases.values()), 1)
        self.keys_seen.append(("healthy", key_paths(doc)))
        # The one-shot report counts too (the daemon stopped: it holds the lock).
        st.stop_daemon()
        before = self.json_status(st)["report"]["reports_sent"]
        st.hvmap("report")
        self.assertEqual(self.json_status(st)["report"]["reports_sent"], before + 1)

    # ---- each failure state -----------------------------------------------
    def test_not_registered(self):
        st = Stack(self, FAST, activation_key=False, register=False)
        doc = self.json_status(st)
        self.assertIsNone(doc["report"]["last_accepted_age_sec"])
        self.assertIsNone(doc["daemon"]["guests"])
        self.keys_seen.append(("not registered, no daemon", key_paths(doc)))
        st.start_daemon()
        wait_until(lambda: st.status()["daemon"]["phase"] == "not-registered" or None, 15,
                   what="phase not-registered")
        p, _ = self.check(st, "not registered", 77, 2, ["not registered"])
        self.assertIn("next report: none scheduled", p.stdout)
        m = self.metrics(st)
        self.assertEqual(m["hvmap_registered"][0][1], 0)
        self.assertEqual(m["hvmap_health"][0][1], 2)
        self.assertNotIn("hvmap_last_accepted_report_timestamp_seconds", m)
        self.keys_seen.append(("not registered, daemon", key_paths(self.json_status(st))))

    def test_daemon_down_and_stale_pid(self):
        st = Stack(self, FAST)
        self.check(st, "daemon down", 69, 2, ["daemon is not running"])
        # A crashed daemon's pid, now another process's: not "running".
        path = os.path.join(st.state_dir, "state.json")
        with open(path) as f:
            state = json.load(f)
        sleeper = subprocess.Popen(["sleep", "300"])
        self.addCleanup(sleeper.wait)
        self.addCleanup(sleeper.kill)
        state["pid"] = sleeper.pid
        with open(path, "w") as f:
            json.dump(state, f)
        p, c = self.check(st, "daemon down, its pid reused", 69, 2, ["daemon is not running"])
        self.assertIn('is now "sleep"', p.stdout)
        self.assertIn("daemon:      not running", p.stdout)
        doc = self.json_status(st)
        self.assertFalse(doc["daemon"]["running"])
        self.assertIsNone(doc["daemon"]["pid"])
        self.keys_seen.append(("daemon down", key_paths(doc)))

    def test_consumer_deleted(self):
        st = Stack(self, FAST)
        st.start_daemon()
        st.wait_equal(timeout=10, what="the first report")
        st.cp.ctl("POST", "/consumers/%s/delete" % st.uuid)
        st.driver.cmd("create cd1 %s" % guest_uuid(10))
        wait_until(lambda: st.status()["daemon"]["phase"] == "consumer-deleted" or None, 15,
                   what="phase consumer-deleted")
        self.check(st, "consumer deleted", 77, 2, ["deleted on the server"])
        self.keys_seen.append(("consumer deleted", key_paths(self.json_status(st))))

    def test_401(self):
        st = Stack(self, FAST)
        st.start_daemon()
        st.wait_equal(timeout=10, what="the first report")
        st.cp.fault({"status": 401}, method="PUT", count=100000)
        st.driver.cmd("create a1 %s" % guest_uuid(11))
        wait_until(lambda: st.status()["daemon"]["phase"] == "auth-failed" or None, 15, what="phase auth-failed")
        self.check(st, "401 (credentials refused)", 77, 2, ["refuses our credentials (HTTP 401"])

    def test_503_for_longer_than_crit_age(self):
        # "503 for 2 h" with the ages shortened by the options, not the code.
        st = Stack(self, FAST)
        st.start_daemon()
        st.wait_equal(timeout=10, what="the first report")
        st.cp.fault({"status": 503}, method="PUT", count=100000)
        st.driver.cmd("create f1 %s" % guest_uuid(12))
        wait_until(lambda: st.status()["report"]["consecutive_failures"] >= 1 or None, 15, what="a failure")
        ages = ("--warn-age", "1h", "--crit-age", "4s")
        self.check(st, "503, just begun", 75, 1, ["reports failing for"], extra=ages)
        wait_until(lambda: st.hvmap("status", "--check", *ages, check=False).returncode == 2 or None, 20,
                   what="--check to turn CRITICAL after --crit-age")
        self.check(st, "503 for longer than --crit-age", 75, 2, ["reports failing for"], extra=ages)
        doc = self.json_status(st, *ages)
        self.assertEqual(doc["health"]["status"], "critical")
        self.assertIsNotNone(doc["report"]["failing_since"])
        self.assertGreaterEqual(doc["report"]["requests"]["temporary"], 1)
        m = self.metrics(st)
        self.assertGreaterEqual(m["hvmap_consecutive_failures"][0][1], 1)
        self.keys_seen.append(("503", key_paths(doc)))

    def test_certificate_expiring(self):
        st = Stack(self, FAST)
        cert = os.path.join(st.state_dir, "cert.pem")
        serial = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-serial"], capture_output=True,
                                text=True, check=True).stdout.strip().split("=")[1]
        pki = os.path.join(st.cp.state_dir, "pki")
        # The same certificate (key, subject, serial), signed again by the
        # server's CA to end in 10 days.
        req = subprocess.run(["openssl", "x509", "-in", cert, "-x509toreq", "-signkey",
                              os.path.join(st.state_dir, "key.pem")], capture_output=True, text=True)
        self.assertEqual(req.returncode, 0, req.stderr)
        p = subprocess.run(["openssl", "x509", "-req", "-CA", os.path.join(pki, "ca.pem"), "-CAkey",
                            os.path.join(pki, "ca.key"), "-set_serial", "0x" + serial, "-days", "10", "-out",
                            cert + ".new"], input=req.stdout, capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        os.rename(cert + ".new", cert)
        st.start_daemon()
        st.wait_equal(timeout=10, what="the first report with the re-signed certificate")
        wait_until(lambda: st.status()["daemon"]["phase"] == "watching" or None, 10, what="watching")
        p, c = self.check(st, "certificate expiring (10 days)", 77, 2, ["expires in 9d", "certificate"])
        self.assertRegex(c.stdout, r" certificate_days_left=(9|10);;30:;")
        m = self.metrics(st)
        self.assertLess(m["hvmap_certificate_expiry_timestamp_seconds"][0][1],
                        __import__("time").time() + 11 * 86400)

    def test_libvirt_lost(self):
        st = Stack(self, FAST)
        st.start_daemon()
        st.wait_equal(timeout=10, what="the first report")
        st.driver.close()
        st.lv.kill(signal.SIGKILL)
        wait_until(lambda: st.status()["daemon"]["libvirt"] not in (None, "connected") or None, 15,
                   what="libvirt to be seen lost")
        self.check(st, "libvirt lost", 69, 1, ["libvirt "])
        m = self.metrics(st)
        self.assertEqual(m["hvmap_libvirt_connected"][0][1], 0)

    def test_state_unreadable_is_unknown(self):
        st = Stack(self, FAST)
        with open(os.path.join(st.state_dir, "state.json"), "w") as f:
            f.write("{not json")
        p, _ = self.check(st, "state.json unreadable", 66, 3, ["cannot read"])
        # Nothing claimed that was not read: no "never reported", no last
        # report; that no daemon runs is known from the lock, not the state.
        self.assertNotIn("never", p.stdout)
        self.assertNotIn("last accepted", p.stdout)
        self.assertIn("state:       cannot be read", p.stdout)
        doc = self.json_status(st)
        self.assertIs(doc["daemon"]["running"], False)
        self.assertIsNone(doc["report"]["reports_sent"])
        self.assertIsNone(doc["report"]["last_accepted"])
        self.keys_seen.append(("state unreadable", key_paths(doc)))
        m = self.metrics(st)
        self.assertEqual(m["hvmap_health"][0][1], 3)
        self.assertEqual(m["hvmap_up"][0][1], 0)
        self.assertNotIn("hvmap_reports_accepted_total", m)

    def test_configuration_error(self):
        st = Stack(self, FAST, register=False)
        st.write_conf("[report]\nintervall = 1h\n")
        p = st.hvmap("status", check=False)
        c = st.hvmap("status", "--check", check=False)
        TABLE.append(("configuration error", p.returncode, c.returncode, c.stdout.strip()))
        self.assertEqual((p.returncode, c.returncode), (78, 3), p.stderr)
        self.assertIn("intervall", p.stderr)
        m = self.metrics(st)
        self.assertEqual(m["hvmap_health"][0][1], 3)
        self.keys_seen.append(("configuration error", key_paths(self.json_status(st))))
        # Usage errors: 64, and 3 for a Nagios caller.
        self.assertEqual(st.hvmap("status", "--bogus", check=False).returncode, 64)
        self.assertEqual(st.hvmap("status", "--check", "--warn-age", "soon", check=False).returncode, 3)
        self.assertEqual(st.hvmap("status", "--json", "--check", check=False).returncode, 3)

    def test_reregistration_hides_the_old_consumers_report(self):
        st = Stack(self, FAST)
        st.start_daemon()
        st.wait_equal(timeout=10, what="the first report")
        st.stop_daemon()
        old = st.uuid
        # Deleted on the server first: otherwise the server hands the same
        # consumer back (its hypervisor id matches).
        st.cp.ctl("POST", "/consumers/%s/delete" % old)
        new = json.loads(st.hvmap("register", "--force", "--json").stdout)["uuid"]
        self.assertNotEqual(new, old)
        doc = self.json_status(st)
        self.assertEqual(doc["identity"]["uuid"], new)
        self.assertIsNone(doc["report"]["last_accepted"])
        self.assertIsNone(doc["report"]["last_accepted_age_sec"])
        p = st.hvmap("status", check=False)
        self.assertIn("last accepted report: none for this consumer", p.stdout)

    # ---- the JSON keys do not come and go ---------------------------------
    keys_seen = []

    def test_zz_json_keys_are_the_same_in_every_state(self):
        seen = Status.keys_seen
        if len(seen) < 5:
            self.skipTest("needs the other tests of this class to have run (%d states)" % len(seen))
        first_name, first = seen[0]
        for name, keys in seen[1:]:
            self.assertEqual(keys, first, "%s vs %s: %s" % (name, first_name, sorted(keys ^ first)))

    def test_parser_is_strict(self):
        """The parser fails on a planted defect (so its passing means
        something): no # EOF, a counter without _total, a bad label."""
        if text_string_to_metric_families is None:
            self.fail("prometheus_client is missing")
        good = "# TYPE a counter\na_total 1\n# EOF\n"
        openmetrics(good)
        for bad in ("# TYPE a counter\na_total 1\n", "# TYPE a counter\na 1\n# EOF\n",
                    '# TYPE a gauge\na{x="\n"} 1\n# EOF\n'):
            with self.subTest(bad=bad):
                with self.assertRaises(Exception):
                    openmetrics(bad)


if __name__ == "__main__":
    unittest.main()
