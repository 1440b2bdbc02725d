# SPDX-License-Identifier: GPL-2.0-or-later
"""End-to-end harness: a private libvirtd (test driver), the fake Candlepin
and `hvmap run`, each started as our own child and stopped by PID."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "host"))
sys.path.insert(0, os.path.join(TESTS, "fake-candlepin"))

from fakecp_harness import FakeCandlepin  # noqa: E402
from harness import Driver  # noqa: E402
from privd import PrivateLibvirtd, find_libvirtd  # noqa: E402

HVMAP = os.environ.get("HVMAP", "hvmap")
DEFAULT_TEST_DOMAIN = "6695eb01-f6a4-8304-79aa-97f2502e193f"
# What `hvmap status` may exit with (hvmap(8) EXIT STATUS): healthy, then
# each kind of trouble.
STATUS_EXITS = (0, 65, 66, 69, 75, 77, 78)


def wait_until(pred, timeout, interval=0.05, what="condition"):
    """Polls pred() until it returns a true value; that value, or an
    AssertionError after timeout seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s (last: %r)" % (timeout, what, last))
        time.sleep(interval)


def guest_uuid(i):
    return "00000000-1111-4222-8333-%012d" % i


class Stack:
    """libvirtd + fake Candlepin + configuration for one test."""

    def __init__(self, test, conf_extra="", activation_key=True, register=True, cp_args=()):
        self.test = test
        self.tmp = tempfile.mkdtemp(prefix="hvi-", dir="/tmp")
        test.addCleanup(shutil.rmtree, self.tmp, True)
        self.daemon = None
        self.lv = PrivateLibvirtd(os.path.join(self.tmp, "lv"))
        self.lv.start()
        test.addCleanup(self.lv.stop)
        self.driver = Driver(self.lv.uri)  # the holder connection, and our hands
        test.addCleanup(lambda: self.driver.close())
        self.cp = FakeCandlepin(os.path.join(self.tmp, "cp"), "--port", "0", "--job-delay", "0.2",
                                *cp_args).start()
        # No rhsm.conf of the machine running the tests applies unless a
        # test writes one (write_rhsm_conf).
        self.rhsm_conf = ""
        test.addCleanup(self.cp.kill)
        self.conf = os.path.join(self.tmp, "etc")
        self.state_dir = os.path.join(self.tmp, "state")
        os.makedirs(self.conf)
        with open(os.path.join(self.tmp, "key"), "w") as f:
            f.write("hv-key\n")
        self.conf_extra = conf_extra
        self.activation_key = activation_key
        self.write_conf()
        test.addCleanup(self.stop_daemon)
        self.uuid = None
        if register:
            out = self.hvmap("register", "--json")
            self.uuid = json.loads(out.stdout)["uuid"]

    def write_conf(self, extra=None):
        if extra is not None:
            self.conf_extra = extra
        reg = ""
        if self.activation_key:
            reg = "[registration]\norg = acme\nactivation_key_file = %s/key\n" % self.tmp
        text = ("[libvirt]\nuri = %s\nkeepalive_interval = 1s\nkeepalive_count = 2\n"
                "[server]\nurl = %s\nca_dir = %s\n%s"
                "[daemon]\nstate_dir = %s\n" % (self.lv.ro_uri, self.cp.url, os.path.dirname(self.cp.ca),
                                                 reg, self.state_dir))
        with open(os.path.join(self.conf, "hvmap.conf"), "w") as f:
            f.write(text)
        os.makedirs(os.path.join(self.conf, "hvmap.conf.d"), exist_ok=True)
        with open(os.path.join(self.conf, "hvmap.conf.d", "50-test.conf"), "w") as f:
            f.write(self.conf_extra)

    def args(self):
        return [HVMAP, "--config-dir", self.conf, "--rhsm-conf", self.rhsm_conf]

    def write_rhsm_conf(self, text=None):
        """An rhsm.conf naming the fake as subscription-manager's server."""
        self.rhsm_conf = os.path.join(self.tmp, "rhsm.conf")
        if text is None:
            text = ("[server]\nhostname = %s\nport = %d\nprefix = %s\n[rhsm]\nrepo_ca_cert = %s\n"
                    % (self.cp.host, self.cp.port, self.cp.prefix, self.cp.ca))
        with open(self.rhsm_conf, "w") as f:
            f.write(text)
        return self.rhsm_conf

    def hvmap(self, *args, check=True, timeout=90):
        p = subprocess.run(self.args() + list(args), capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("hvmap %s: exit %d\nstdout: %s\nstderr: %s"
                                 % (" ".join(args), p.returncode, p.stdout, p.stderr))
        return p

    def start_daemon(self):
        self.log_path = os.path.join(self.tmp, "daemon-%d.log" % time.monotonic_ns())
        self.log = open(self.log_path, "w")
        self.daemon = subprocess.Popen(self.args() + ["run"], stdout=self.log, stderr=subprocess.STDOUT)
        return self.daemon

    def stop_daemon(self, sig=signal.SIGTERM, timeout=10):
        if self.daemon is None:
            return None
        took = None
        if self.daemon.poll() is None:
            t0 = time.monotonic()
            self.daemon.send_signal(sig)
            try:
                self.daemon.wait(timeout)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait(5)
                raise AssertionError("hvmap run did not stop within %ss of %s" % (timeout, sig))
            took = time.monotonic() - t0
        self.log.close()
        rc = self.daemon.returncode
        self.daemon = None
        return rc, took

    def daemon_log(self):
        with open(self.log_path) as f:
            return f.read()

    # ---- the two sides to compare ---------------------------------------
    def libvirt_active(self):
        """Active guests according to libvirt (states 1..4, 7: running,
        blocked, paused, shutting down, pmsuspended)."""
        return {u for u, st in self.driver.list().items() if st in (1, 2, 3, 4, 7)}

    def server_guests(self, uuid=None):
        c = self.cp.consumer_state(uuid or self.uuid)
        if c is None:
            return None
        return {g["guestId"] for g in c.get("guestIds", [])}

    def puts(self, uuid=None):
        path = "%s/consumers/%s" % (self.cp.prefix, uuid or self.uuid)
        _, reqs = self.cp.ctl("GET", "/requests")
        return [r for r in reqs if r["method"] == "PUT" and r["path"] == path]

    def wait_equal(self, timeout=2.0, what="the server's list to equal libvirt's"):
        want = self.libvirt_active()
        return wait_until(lambda: self.server_guests() == want or None, timeout, what="%s %s" % (what, sorted(want)))

    def status(self):
        """`hvmap status --json`, whatever its exit status says of the
        health (hvmap(8) EXIT STATUS); a crash or a usage error fails."""
        p = self.hvmap("status", "--json", check=False)
        if p.returncode not in STATUS_EXITS:
            raise AssertionError("hvmap status --json: exit %d\nstdout: %s\nstderr: %s"
                                 % (p.returncode, p.stdout, p.stderr))
        return json.loads(p.stdout)


def needs_libvirtd(cls):
    return unittest.skipUnless(find_libvirtd(), "libvirtd is not installed (scripts/setup installs it)")(cls)
