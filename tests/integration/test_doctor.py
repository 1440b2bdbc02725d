# SPDX-License-Identifier: GPL-2.0-or-later
"""`hvmap doctor` against a real set-up (private libvirtd, fake Candlepin):
it passes on a working one, as root and as the state directory's owner
(the service's user), and for each planted fault it fails, exits 1 and
names the cause on the line of the check concerned: a wrong CA, an
unreachable server or proxy, a deleted or refused identity, a libvirt
socket the service user may not use, a bogus hypervisor UUID."""

import os
import re
import socket
import subprocess
import unittest

from daemon_harness import Stack, needs_libvirtd

NOBODY = 65534


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def lines(out):
    """{check: (verdict, text)} of doctor's output."""
    got = {}
    for ln in out.splitlines():
        m = re.match(r"^(ok|WARN|FAIL|skip)\s+(\S+)\s+(.*)$", ln)
        if m:
            got[m.group(2)] = (m.group(1), m.group(3))
    return got


def give_to_nobody(st):
    """The state directory to uid 65534, and the way to it open, as for a
    service user: doctor then runs its checks as that user."""
    for d in (st.tmp, os.path.dirname(st.cp.ca)):
        os.chmod(d, 0o755)
    for root, dirs, files in os.walk(st.state_dir):
        for n in dirs + files:
            os.chown(os.path.join(root, n), NOBODY, NOBODY)
    os.chown(st.state_dir, NOBODY, NOBODY)


@needs_libvirtd
class Doctor(unittest.TestCase):
    def doctor(self, st, want_rc):
        p = st.hvmap("doctor", check=False, timeout=120)
        self.assertEqual(p.returncode, want_rc, p.stdout + p.stderr)
        got = lines(p.stdout)
        for check in ("config", "user", "state-dir", "libvirt", "hypervisor-id", "ca", "proxy", "server",
                      "clock", "identity"):
            self.assertIn(check, got, "no line for %s:\n%s" % (check, p.stdout))
        return got, p.stdout

    def failed(self, got, check, *words):
        verdict, text = got[check]
        self.assertEqual(verdict, "FAIL", "%s: %s" % (check, text))
        for w in words:
            self.assertIn(w, text)
        return text

    def test_passes_on_a_working_setup(self):
        st = Stack(self)
        got, out = self.doctor(st, 0)
        for check in ("config", "libvirt", "hypervisor-id", "ca", "server", "clock", "identity"):
            self.assertEqual(got[check][0], "ok", "%s:\n%s" % (check, out))
        self.assertIn("TLS verified", got["server"][1])
        self.assertIn(st.uuid, got["identity"][1])
        self.assertIn("0 checks failed", out)

    @unittest.skipUnless(os.geteuid() == 0, "needs root to run the checks as another user")
    def test_passes_as_the_service_user(self):
        st = Stack(self)
        give_to_nobody(st)
        got, out = self.doctor(st, 0)
        self.assertIn("running the checks as nobody (uid 65534)", got["user"][1])
        self.assertEqual(got["identity"][0], "ok", out)
        self.assertEqual(got["libvirt"][0], "ok", out)

    def test_wrong_ca(self):
        st = Stack(self)
        other = os.path.join(st.tmp, "otherca")
        os.makedirs(other)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        os.path.join(other, "ca.key"), "-out", os.path.join(other, "ca.pem"), "-subj",
                        "/CN=Some Other CA", "-days", "30"], capture_output=True, check=True)
        os.unlink(os.path.join(other, "ca.key"))
        st.write_conf("[server]\nca_dir = %s\n" % other)
        got, _ = self.doctor(st, 1)
        self.assertEqual(got["ca"][0], "ok")  # a CA is there: just not the right one
        self.failed(got, "server", "TLS handshake", "not signed by a CA in %s" % other)
        self.assertEqual(got["identity"][0], "skip")

    def test_unreachable_server(self):
        st = Stack(self)
        port = closed_port()
        st.write_conf("[server]\nurl = https://127.0.0.1:%d/candlepin\n" % port)
        got, _ = self.doctor(st, 1)
        self.failed(got, "server", "unreachable", "nothing accepts connections", "127.0.0.1:%d" % port)

    def test_unreachable_proxy(self):
        st = Stack(self)
        port = closed_port()
        st.write_conf("[proxy]\nhostname = 127.0.0.1\nport = %d\n" % port)
        got, _ = self.doctor(st, 1)
        self.failed(got, "proxy", "cannot connect to the proxy 127.0.0.1:%d" % port, "Connection refused")

    def test_deleted_identity(self):
        st = Stack(self)
        st.cp.ctl("POST", "/consumers/%s/delete" % st.uuid)
        got, _ = self.doctor(st, 1)
        self.assertEqual(got["server"][0], "ok")
        self.failed(got, "identity", "the server deleted consumer %s" % st.uuid, "hvmap register")

    def test_refused_identity(self):
        st = Stack(self)
        st.cp.fault({"status": 401}, method="GET", path="/consumers/", count=10)
        got, _ = self.doctor(st, 1)
        self.failed(got, "identity", "refuses the identity of consumer %s (HTTP 401)" % st.uuid)

    def test_not_registered_without_credentials(self):
        st = Stack(self, activation_key=False, register=False)
        got, _ = self.doctor(st, 1)
        self.failed(got, "identity", "not registered", "hvmap register")

    @unittest.skipUnless(os.geteuid() == 0, "needs root to run the checks as another user")
    def test_libvirt_socket_not_usable_by_the_service_user(self):
        st = Stack(self)
        give_to_nobody(st)
        os.chmod(st.lv.sock_ro, 0o700)
        got, _ = self.doctor(st, 1)
        self.failed(got, "libvirt", "user nobody may not use the socket %s" % st.lv.sock_ro, "mode 0700",
                    "unix_sock_ro_perms")
        self.assertEqual(got["hypervisor-id"][0], "skip")

    def test_bogus_hypervisor_uuid(self):
        st = Stack(self)
        st.write_conf("[host]\nhypervisor_id_override = 03000200-0400-0500-0006-000700080009\n")
        got, _ = self.doctor(st, 1)
        self.failed(got, "hypervisor-id", "03000200-0400-0500-0006-000700080009", "known bogus UUID",
                    "hypervisor_id = hostname")

    def test_configuration_error(self):
        st = Stack(self, register=False)
        st.write_conf("[report]\nintervall = 1h\n")
        p = st.hvmap("doctor", check=False)
        self.assertEqual(p.returncode, 78, p.stdout + p.stderr)
        self.assertIn("intervall", p.stderr)
        self.assertEqual(lines(p.stdout)["config"][0], "FAIL")


if __name__ == "__main__":
    unittest.main()
