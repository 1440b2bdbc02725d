# SPDX-License-Identifier: GPL-2.0-or-later
"""Issue 8's security checks against the real binary: private files and
atomic writes (a crash between write and rename leaves no half file), no
secret in anything hvmap prints or sends, TLS verified by default, files
someone else could have written refused, no symlink followed in the state
dir. Every process is ours and stopped by PID; every wait is bounded."""

import json
import os
import re
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import tempfile
import threading
import unittest

from daemon_harness import Stack, guest_uuid, needs_libvirtd, wait_until  # noqa: F401

RENAME_FAULT_SO = os.environ.get("RENAME_FAULT_SO")
PROTO_CLI = os.environ.get("PROTO_CLI")

AK = "AK-7f3c1e9b-keep-out-of-logs"
PW = "PW-0d9a2b44-keep-out-of-logs"
PROXY_PW = "PX-51c0e2aa-keep-out-of-logs"


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def with_fault(spec, base=None):
    """The environment for a child that dies (kill:NAME) or fails (fail:NAME)
    in the rename() that would put NAME in place, or in its N-th rename()
    (kill:#N)."""
    env = dict(base if base is not None else os.environ)
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
        # hvmap(8)'s FILES section says the same as the files.
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "man", "hvmap.8")) as f:
            files = f.read().split(".SH FILES")[1].split(".SH ")[0]
        for name in ("key.pem", "cert.pem", "consumer.json"):
            said = re.search(r"%s.*?mode (0[0-7]{3})" % re.escape(name), files, re.S)
            self.assertIsNotNone(said, "hvmap(8) gives no mode for %s" % name)
            self.assertEqual(said.group(1), "%04o" % mode(os.path.join(st.state_dir, name)),
                             "hvmap(8) says %s is %s" % (name, said.group(1)))
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


@unittest.skipUnless(RENAME_FAULT_SO, "RENAME_FAULT_SO not set (run through meson test)")
class IdentityReplacementIsAtomic(unittest.TestCase):
    """Issue 16: a kill at every rename() of an identity replacement leaves
    a loadable identity, the old one or the new one, every time."""

    MAX_RENAMES = 40

    def kill_at_each_rename(self, run, check, prepare=None):
        """run(env) starts one replacement and returns its exit status and
        the identity the server handed out; check() asserts a whole identity
        is on disk and returns it. Kills run at its 1st, 2nd, ... rename()
        until it completes without reaching one. prepare() (optional) sets
        up the old identity before each round and returns it."""
        seen = set()
        for n in range(1, self.MAX_RENAMES):
            before = prepare() if prepare else check()
            rc, new = run(with_fault("kill:#%d" % n))
            after = check()
            self.assertNotEqual(before, new, "the server handed out the same identity")
            if rc != -signal.SIGKILL:
                self.assertEqual(rc, 0, "the replacement failed after rename %d" % (n - 1))
                self.assertEqual(after, new, "the completed replacement")
                self.assertGreater(n, 3, "the replacement never renamed")
                break
            self.assertIn(after, (before, new), "killed at rename %d: neither the old nor the new identity" % n)
            seen.add("old" if after == before else "new")
        else:
            self.fail("the replacement did more than %d renames" % self.MAX_RENAMES)
        self.assertEqual(seen, {"old", "new"}, "kills left only %s identities" % seen)

    @unittest.skipUnless(PROTO_CLI, "PROTO_CLI not set (run through meson test)")
    def test_kill_at_every_rename_of_a_renewal(self):
        tmp = tempfile.mkdtemp(prefix="hv-atomic-")
        self.addCleanup(subprocess.run, ["rm", "-rf", tmp])
        from daemon_harness import FakeCandlepin
        cp = FakeCandlepin(os.path.join(tmp, "cp"), "--port", "0").start()
        self.addCleanup(cp.kill)
        cp.ctl("POST", "/owners", {"key": "acme", "activation_keys": ["hv-key"]})
        id_dir = os.path.join(tmp, "id")
        base = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}

        def cli(call, env=None, *args):
            cmd = [PROTO_CLI, "--url", cp.url, "--ca-dir", os.path.dirname(cp.ca), "--identity", id_dir,
                   "--deadline-ms", "20000"] + list(args) + [call]
            return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env or base)

        def check():
            p = cli("identity")
            r = json.loads(p.stdout.splitlines()[-1])
            self.assertEqual(r["error"], 0, "not a whole identity: %s" % r)
            return r["uuid"], r["serial"]

        def register():
            # A consumer of its own each round: the server refuses the old
            # certificate once it renewed it, whatever a kill left here.
            shutil.rmtree(id_dir, True)
            self.n += 1
            p = cli("register", dict(base, HVMAP_TEST_ACTIVATION_KEYS="hv-key"), "--org", "acme",
                    "--hypervisor-id", "hv-atomic-%d" % self.n)
            self.assertTrue(json.loads(p.stdout.splitlines()[-1]).get("saved"), p.stdout + p.stderr)
            return check()

        def renew(env):
            uuid, _ = check()
            # Within 90 days of expiry: the server renews on the next GET.
            cp.ctl("POST", "/consumers/%s/expire" % uuid, {"days": 30})
            p = cli("refresh", env)
            if p.returncode == 0:
                r = json.loads(p.stdout.splitlines()[-1])
                self.assertEqual((r["kind"], r["identity_renewed"]), ("ok", True), r)
            return p.returncode, (uuid, str(cp.consumer_state(uuid)["serial"]))

        self.n = 0
        self.kill_at_each_rename(renew, check, register)

    @needs_libvirtd
    def test_kill_at_every_rename_of_register_force(self):
        st = Stack(self, "[report]\nmin_gap = 0\n")

        def check():
            s = st.status()["identity"]
            self.assertTrue(s["registered"], s)
            self.assertIsNone(s["error"], s)
            return s["uuid"]

        def force(env):
            # The server forgets the consumer, so --force makes a new one.
            for c in st.cp.state()["consumers"]:
                st.cp.ctl("POST", "/consumers/%s/delete" % c["uuid"])
            p = subprocess.run(st.args() + ["register", "--force"], env=env, capture_output=True, text=True,
                               timeout=60)
            live = [c["uuid"] for c in st.cp.state()["consumers"]]  # deleted ones are gone
            return p.returncode, live[-1] if live else None

        self.kill_at_each_rename(force, check)
        # The kills leave state.json's temporaries (the daemon removes them
        # when it starts), never a staged identity once a save completed.
        leftovers = [n for n in os.listdir(st.state_dir) if n.startswith(".identity")]
        self.assertEqual(leftovers, [], "the last, complete register left %s" % leftovers)


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

    def test_group_writable_config_is_refused(self):
        # Issue 16: 0664 root:nogroup was accepted.
        if os.geteuid() != 0:
            self.skipTest("needs root to give a file to another group")
        st = Stack(self, register=False)
        path = os.path.join(st.conf, "hvmap.conf")
        os.chown(path, 0, 65534)
        os.chmod(path, 0o664)
        self.check_refused(st, path, ["writable by group 65534", "chmod g-w"])

    def test_key_and_state_dir_trust(self):
        # Issue 16: a group-writable key.pem was accepted; a readable key and
        # a 0777 state dir passed without a word.
        st = Stack(self)
        key = os.path.join(st.state_dir, "key.pem")
        os.chmod(key, 0o644)
        # No daemon runs: status says so with its exit status (69), and warns.
        p = st.hvmap("status", check=False)
        self.assertEqual(p.returncode, 69, p.stdout + p.stderr)
        self.assertIn("warning:     %s holds a secret and is readable by every user" % key, p.stdout)
        self.assertIn("chmod 0600 %s" % key, p.stdout)
        self.assertIn("readable by every user", st.status()["identity"]["warning"])
        os.chmod(key, 0o600)
        os.chmod(st.state_dir, 0o777)
        self.assertIn("chmod 0700 %s" % st.state_dir, st.status()["identity"]["warning"])
        os.chmod(st.state_dir, 0o700)
        if os.geteuid() == 0:
            os.chown(key, 0, 65534)
            os.chmod(key, 0o660)
            s = st.status()["identity"]
            self.assertFalse(s["registered"], s)
            self.assertIn("writable by group 65534", s["error"])

    def test_readable_secret_in_config_warns(self):
        st = Stack(self, "[proxy]\nhostname = proxy.invalid\npassword = %s\n" % PROXY_PW, register=False)
        path = os.path.join(st.conf, "hvmap.conf.d", "50-test.conf")
        os.chmod(path, 0o644)
        p = st.hvmap("config", "--check")
        self.assertIn("%s:3: sets the secret [proxy] password but is readable by every user" % path, p.stderr)
        self.assertIn("chmod 0600 %s" % path, p.stderr)
        self.assertNotIn(PROXY_PW, p.stdout + p.stderr)
        os.chmod(path, 0o600)
        self.assertNotIn("readable", st.hvmap("config", "--check").stderr)

    def test_state_owned_by_another_user_is_not_trusted(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to give a file away")
        st = Stack(self)
        os.chown(os.path.join(st.state_dir, "consumer.json"), 65534, -1)
        p = st.hvmap("status", check=False)
        self.assertIn("owned by uid 65534", p.stdout + p.stderr)
        self.assertFalse(st.status()["identity"]["registered"])


@needs_libvirtd
class ServerStringsInOutput(unittest.TestCase):
    def test_status_escapes_what_others_chose(self):
        # Issue 16: an owner key with a newline forged a line of `hvmap status`.
        st = Stack(self, "[report]\nmin_gap = 0\ndebounce = 100ms\n")
        st.start_daemon()
        st.wait_equal(timeout=10, what="the first report")
        st.stop_daemon()
        path = os.path.join(st.state_dir, "consumer.json")
        with open(path) as f:
            c = json.load(f)
        c["owner"] = "acme\nidentity:    consumer FORGED\x1b[2J"
        with open(path, "w") as f:
            json.dump(c, f)
        spath = os.path.join(st.state_dir, "state.json")
        with open(spath) as f:
            s = json.load(f)
        s["last_message"] = "HTTP 400\nlast accepted report: FORGED"
        s["last_attempt_usec"] = s.get("last_attempt_usec") or 1
        with open(spath, "w") as f:
            json.dump(s, f)
        p = st.hvmap("status", check=False)
        self.assertEqual(p.returncode, 69, p.stdout + p.stderr)  # no daemon runs
        out = p.stdout
        self.assertNotIn("\nidentity:    consumer FORGED", out)
        self.assertNotIn("\nlast accepted report: FORGED", out)
        self.assertNotIn("\x1b", out)
        self.assertIn("organization acme\\nidentity:    consumer FORGED\\x1b[2J", out)
        self.assertIn("HTTP 400\\nlast accepted report: FORGED", out)
        # --json keeps the value, escaped the JSON way.
        self.assertEqual(st.status()["identity"]["owner"], c["owner"])


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
