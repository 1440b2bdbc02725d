# SPDX-License-Identifier: GPL-2.0-or-later
"""Issue 8's security checks against the real binary: private files and
atomic writes (a crash between write and rename leaves no half file), no
secret in anything hvmap prints or sends, TLS verified by default, files
someone else could have written refused, no symlink followed in the state
dir. Every process is ours and stopped by PID; every wait is bounded."""

import json
import os
import signal
import socket
import ssl
import stat
import subprocess
import tempfile
import threading
import unittest

from daemon_harness import Stack, guest_uuid, needs_libvirtd, wait_until

RENAME_FAULT_SO = os.environ.get("RENAME_FAULT_SO")

AK = "AK-7f3c1e9b-keep-out-of-logs"
PW = "PW-0d9a2b44-keep-out-of-logs"
PROXY_PW = "PX-51c0e2aa-keep-out-of-logs"


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def with_fault(spec):
    """The environment for a child that dies (kill:NAME) or fails (fail:NAME)
    in the rename() that would put NAME in place."""
    env = dict(os.environ)
    env["LD_PRELOAD"] = RENAME_FAULT_SO
    env["HVMAP_TEST_RENAME_FAULT"] = spec
    # An ASan build wants its runtime first in the library list.
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0").lstrip(":")
    return env


@needs_libvirtd
class PrivateFilesAndAtomicWrites(unittest.TestCase):
    def test_identity_and_state_are_private(self):
        st = Stack(self, "[report]\nmin_gap = 0\ndebounce = 100ms\n")
        st.start_daemon()
        st.wait_equal(timeout=10, what="the first report")
        wait_until(lambda: os.path.exists(os.path.join(st.state_dir, "state.json")) or None, 5,
                   what="state.json")
        self.assertEqual(mode(st.state_dir), 0o700, "the state dir")
        self.assertEqual(mode(os.path.join(st.state_dir, "key.pem")), 0o600, "the private key")
        # A write in progress shows its temporary for a moment; a leftover stays.
        try:
            wait_until(lambda: not any(n.startswith(".") for n in os.listdir(st.state_dir)) or None, 5,
                       what="no temporary file in the state dir")
        except AssertionError:
            pass
        for name in os.listdir(st.state_dir):
            p = os.path.join(st.state_dir, name)
            self.assertFalse(name.startswith("."), "a temporary file was left behind: %s" % name)
            self.assertTrue(stat.S_ISREG(os.lstat(p).st_mode), name)
            self.assertEqual(mode(p) & 0o022, 0, "%s is writable by others: %o" % (name, mode(p)))
            self.assertEqual(os.lstat(p).st_uid, os.geteuid(), name)

    @unittest.skipUnless(RENAME_FAULT_SO, "RENAME_FAULT_SO not set (run through meson test)")
    def test_killed_between_write_and_rename_leaves_no_half_file(self):
        st = Stack(self, "[report]\nmin_gap = 0\ndebounce = 100ms\n", register=False)
        # register dies as it puts each identity file in place, in turn.
        for name in ("key.pem", "cert.pem", "consumer.json"):
            with self.subTest(file=name):
                p = subprocess.run(st.args() + ["register"], env=with_fault("kill:" + name),
                                   capture_output=True, text=True, timeout=60)
                self.assertEqual(p.returncode, -signal.SIGKILL, p.stderr)
                # Not registered, and saying so; not a half identity.
                s = st.hvmap("status", "--json", check=False)
                self.assertFalse(json.loads(s.stdout)["identity"]["registered"], s.stdout)
                for f in ("key.pem", "cert.pem", "consumer.json"):
                    path = os.path.join(st.state_dir, f)
                    if os.path.exists(path):
                        with open(path) as fh:
                            text = fh.read()
                        if f.endswith(".pem"):
                            self.assertTrue(text.startswith("-----BEGIN") and text.rstrip().endswith("-----"),
                                            "%s is cut: %r" % (f, text[-80:]))
                        else:
                            json.loads(text)
        # A crash leaves the whole temporary copy behind (hidden, never
        # loaded); the key's copy is as private as the key.
        leftovers = [n for n in os.listdir(st.state_dir) if n.startswith(".")]
        for n in leftovers:
            if n.startswith(".key.pem."):
                self.assertEqual(mode(os.path.join(st.state_dir, n)), 0o600, n)
        # The next register completes, and the daemon runs on it.
        out = st.hvmap("register", "--json")
        st.uuid = json.loads(out.stdout)["uuid"]
        self.assertEqual(len(st.cp.state()["consumers"]), 1, "re-registering adopted the same consumer")
        self.assertTrue(st.status()["identity"]["registered"])

        # The daemon dies as it replaces state.json: the old one stays whole.
        st.start_daemon()
        st.wait_equal(timeout=10, what="the first report")
        state_path = os.path.join(st.state_dir, "state.json")
        wait_until(lambda: os.path.exists(state_path) or None, 5, what="state.json")
        st.stop_daemon()
        with open(state_path) as f:
            before = json.load(f)
        st.daemon = subprocess.Popen(st.args() + ["run"], env=with_fault("kill:state.json"),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        st.log = open(os.devnull, "w")
        st.daemon.wait(30)
        self.assertEqual(st.daemon.returncode, -signal.SIGKILL)
        st.daemon = None
        leftovers = {n for n in os.listdir(st.state_dir) if n.startswith(".")}
        with open(state_path) as f:
            self.assertEqual(json.load(f)["accepted_digest"], before["accepted_digest"])
        # A failing rename (disk trouble) is survived and leaves nothing behind.
        st.daemon = subprocess.Popen(st.args() + ["run"], env=with_fault("fail:state.json"),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        st.driver.cmd("create af1 %s" % guest_uuid(801))
        st.wait_equal(timeout=10, what="a report while state.json cannot be written")
        self.assertIsNone(st.daemon.poll(), "the daemon keeps running when state.json cannot be replaced")
        st.stop_daemon()
        with open(state_path) as f:
            json.load(f)
        # The daemon removes what interrupted writes left (the kill above)
        # when it starts, and a failed rename leaves nothing of its own.
        self.assertTrue(leftovers, "the kill left a temporary to clean up")
        self.assertEqual({n for n in os.listdir(st.state_dir) if n.startswith(".")}, set(),
                         "temporaries left behind")


@needs_libvirtd
class Secrets(unittest.TestCase):
    def test_no_secret_in_any_output_request_or_cmdline(self):
        st = Stack(self, register=False)
        st.cp.ctl("POST", "/owners", {"key": "secorg", "activation_keys": [AK]})
        st.cp.ctl("POST", "/users", {"username": "hvsec", "password": PW, "owners": {"secorg": ["register"]}})
        with open(os.path.join(st.tmp, "key"), "w") as f:
            f.write(AK + "\n")
        st.write_conf("[registration]\norg = secorg\nreregister_on_delete = yes\n"
                      "[proxy]\nhostname = proxy.invalid\nport = 3128\nuser = hv\n"
                      "password = %s\nno_proxy = 127.0.0.1,localhost\n"
                      "[report]\nmin_gap = 0\ndebounce = 100ms\ninterval = 10s\nsplay = 0\n"
                      "[daemon]\nlog_level = debug\n" % PROXY_PW)
        outputs = {}

        def run(tag, *args, env=None, check=True):
            p = subprocess.run(st.args() + list(args), capture_output=True, text=True, timeout=60,
                               env=env)
            outputs[tag] = p.stdout + p.stderr
            if check:
                self.assertEqual(p.returncode, 0, "%s: %s" % (tag, outputs[tag]))
            return p

        env = dict(os.environ, HVMAP_TEST_PW=PW)
        p = run("register (password)", "--debug", "register", "--username", "hvsec", "--password-env",
                "HVMAP_TEST_PW", "--json", env=env)
        st.uuid = json.loads(p.stdout)["uuid"]
        with open(os.path.join(st.state_dir, "key.pem")) as f:
            key_lines = [ln for ln in f.read().splitlines() if ln and not ln.startswith("-----")]
        st.start_daemon()
        st.wait_equal(timeout=10, what="the first report")
        with open("/proc/%d/cmdline" % st.daemon.pid, "rb") as f:
            outputs["daemon /proc/PID/cmdline"] = f.read().decode(errors="replace")
        # The consumer is deleted: the daemon re-registers with the activation
        # key (reregister_on_delete, after one interval).
        st.cp.ctl("POST", "/consumers/%s/delete" % st.uuid)
        st.driver.cmd("create s1 %s" % guest_uuid(900))
        new = wait_until(lambda: st.status()["identity"]["uuid"] not in (None, st.uuid) and
                         st.status()["identity"]["uuid"], 30, what="re-registration with the activation key")
        st.uuid = new
        st.wait_equal(timeout=10, what="the list on the new consumer")
        run("status", "status")
        run("status --json", "status", "--json")
        run("config --check", "config", "--check", check=False)
        run("print", "print")
        # While the daemon holds the state directory, report refuses (and says why).
        p = run("report (daemon running)", "--debug", "report", check=False)
        self.assertEqual(p.returncode, 75, p.stderr)
        self.assertIn("SIGUSR1", p.stderr)
        st.stop_daemon()
        outputs["daemon log"] = st.daemon_log()
        run("report", "--debug", "report")
        self.assertIn("register", outputs["daemon log"].lower(), "the log shows the re-registration")
        _, reqs = st.cp.ctl("GET", "/requests")

        secrets = {"activation key": AK, "password": PW, "proxy password": PROXY_PW}
        secrets.update({"private key line %d" % i: ln for i, ln in enumerate(key_lines[:3])})
        for tag, text in outputs.items():
            for what, secret in secrets.items():
                self.assertNotIn(secret, text, "the %s appears in %s" % (what, tag))
        # What hvmap sends: the activation key travels in the query by protocol,
        # nothing else secret does; the private key never leaves the host.
        sent = json.dumps([{k: r.get(k) for k in ("path", "headers", "body")} for r in reqs])
        for what, secret in secrets.items():
            if what != "activation key":
                self.assertNotIn(secret, sent, "the %s was sent to the server" % what)
        self.assertTrue(any(AK in (r.get("query") or "") for r in reqs), "the activation key was used")


def _openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True, timeout=60)


class _TlsServer:
    """A TLS server on 127.0.0.1 presenting the given certificate; counts
    the HTTP requests that got through the handshake and answers 503."""

    def __init__(self, cert, key):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.requests = 0
        self.handshake_failures = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.settimeout(5)
            try:
                with self.ctx.wrap_socket(conn, server_side=True) as tls:
                    if tls.recv(65536):
                        self.requests += 1
                        tls.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                                    b"Connection: close\r\n\r\n")
            except (ssl.SSLError, OSError):
                self.handshake_failures += 1
                conn.close()

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()


@needs_libvirtd
class Tls(unittest.TestCase):
    def make_pki(self, d):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", d + "/ca.key", "-out",
                 d + "/ca/ca.pem", "-subj", "/CN=hvmap test CA", "-days", "2")
        for name, san in (("other", "DNS:other.example.com"), ("right", "IP:127.0.0.1")):
            _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "%s/%s.key" % (d, name), "-out",
                     "%s/%s.csr" % (d, name), "-subj", "/CN=%s" % san.split(":")[1])
            with open("%s/%s.ext" % (d, name), "w") as f:
                f.write("subjectAltName=%s\n" % san)
            _openssl("x509", "-req", "-in", "%s/%s.csr" % (d, name), "-CA", d + "/ca/ca.pem", "-CAkey",
                     d + "/ca.key", "-CAcreateserial", "-out", "%s/%s.pem" % (d, name), "-days", "2",
                     "-extfile", "%s/%s.ext" % (d, name))

    def test_a_certificate_for_another_name_is_refused(self):
        st = Stack(self, register=False)
        d = tempfile.mkdtemp(prefix="hvtls-", dir=st.tmp)
        os.makedirs(d + "/ca")
        self.make_pki(d)
        results = {}
        for name in ("other", "right"):
            srv = _TlsServer("%s/%s.pem" % (d, name), "%s/%s.key" % (d, name))
            self.addCleanup(srv.stop)
            st.write_conf("[server]\nurl = https://127.0.0.1:%d/candlepin\nca_dir = %s/ca\n" % (srv.port, d))
            p = st.hvmap("register", check=False)
            results[name] = (p, srv.requests, srv.handshake_failures)
            srv.stop()
        p, requests, _ = results["other"]
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual(requests, 0, "a request went to a server whose certificate names another host")
        self.assertRegex(p.stderr.lower(), "certificate|ssl|tls", p.stderr)
        # The control: the same CA with the right name gets through the handshake.
        p, requests, _ = results["right"]
        self.assertGreaterEqual(requests, 1, "the right certificate must be accepted: %s" % p.stderr)


@needs_libvirtd
class UntrustedFiles(unittest.TestCase):
    def check_refused(self, st, path, words):
        for args in (["config", "--check"], ["print"]):
            p = st.hvmap(*args, check=False)
            self.assertEqual(p.returncode, 78, "%s: %s" % (args, p.stdout + p.stderr))
            self.assertIn(path, p.stderr)
            for w in words:
                self.assertIn(w, p.stderr)
        st.start_daemon()
        st.daemon.wait(15)
        self.assertEqual(st.daemon.returncode, 78, "hvmap run started on an untrusted configuration")
        st.stop_daemon()
        self.assertIn(path, st.daemon_log())

    def test_world_writable_config_is_refused(self):
        st = Stack(self, register=False)
        path = os.path.join(st.conf, "hvmap.conf")
        os.chmod(path, 0o666)
        self.check_refused(st, path, ["writable by every user", "chmod o-w"])

    def test_config_owned_by_another_user_is_refused(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to give a file away")
        st = Stack(self, register=False)
        path = os.path.join(st.conf, "hvmap.conf.d", "50-test.conf")
        os.chown(path, 65534, -1)
        self.check_refused(st, path, ["owned by uid 65534", "chown"])

    def test_state_owned_by_another_user_is_not_trusted(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to give a file away")
        st = Stack(self)
        os.chown(os.path.join(st.state_dir, "consumer.json"), 65534, -1)
        p = st.hvmap("status", check=False)
        self.assertIn("owned by uid 65534", p.stdout + p.stderr)
        self.assertFalse(st.status()["identity"]["registered"])


@needs_libvirtd
class Symlinks(unittest.TestCase):
    def test_no_symlink_is_followed_in_the_state_dir(self):
        st = Stack(self, "[report]\nmin_gap = 0\ndebounce = 100ms\n")
        outside = os.path.join(st.tmp, "outside")
        os.makedirs(outside)
        # state.json planted as a link to a file elsewhere: not read, and
        # replaced by a file of our own, the target untouched.
        target = os.path.join(outside, "victim")
        planted = json.dumps({"version": 1, "accepted_digest": "0" * 64, "accepted_guests": 99})
        with open(target, "w") as f:
            f.write(planted)
        state_path = os.path.join(st.state_dir, "state.json")
        if os.path.lexists(state_path):  # register recorded its outcome
            os.unlink(state_path)
        os.symlink(target, state_path)
        st.start_daemon()
        st.wait_equal(timeout=10, what="the first report")
        wait_until(lambda: not os.path.islink(state_path) or None, 5, what="state.json to be a file of ours")
        with open(target) as f:
            self.assertEqual(f.read(), planted, "the daemon wrote through a symlink")
        st.stop_daemon()
        # An identity file replaced by a link is refused, naming it.
        key = os.path.join(st.state_dir, "key.pem")
        os.rename(key, os.path.join(outside, "key.pem"))
        os.symlink(os.path.join(outside, "key.pem"), key)
        p = st.hvmap("status", check=False)
        self.assertIn("symbolic link", p.stdout + p.stderr)
        self.assertIn(key, p.stdout + p.stderr)
        self.assertFalse(st.status()["identity"]["registered"])


if __name__ == "__main__":
    unittest.main()
