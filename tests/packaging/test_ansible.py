# SPDX-License-Identifier: GPL-2.0-or-later
"""deploy/ansible: the example playbook passes --syntax-check and
ansible-lint's production profile; the role's variables are checked (types
by meta/argument_specs.yml, rules between them by its assert); and the role
runs for real against the fake Candlepin: check mode, register, an idempotent
second run, a wrong activation key failing with hvmap's own message (and
never the key), registration through an authenticating CONNECT proxy, the
Satellite CA installed from text or downloaded, and hvmap_state: absent."""

import base64
import grp
import hashlib
import http.server
import json
import os
import re
import select
import shutil
import socket
import socketserver
import ssl
import stat
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fake-candlepin"))
from pkgtest import HVMAP, SRC, need, run  # noqa: E402

ANSIBLE = os.path.join(SRC, "deploy", "ansible")
KEY = "hv-key"
WRONG_KEY = "wrong-key-5d1f0c9a"
PROXY_USER, PROXY_PW = "hvproxy", "proxy-pw-83b2e7"


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def recap(out):
    """(ok, changed, failed) of localhost from a PLAY RECAP."""
    m = re.search(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", out)
    if not m:
        raise AssertionError("no PLAY RECAP in:\n" + out)
    return tuple(int(x) for x in m.groups())


class LoopbackServer:
    """A socketserver on 127.0.0.1 served by a daemon thread."""

    def serve(self, server):
        self.server = server
        self.port = server.server_address[1]
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class ConnectProxy(LoopbackServer):
    """A loopback HTTP proxy that only tunnels (CONNECT), demands Basic
    authentication and records each tunnel as (target, authenticated)."""

    def __init__(self, user, password):
        self.want = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        self.tunnels = []
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                proxy._handle(self.request)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self.serve(server)

    def _handle(self, client):
        client.settimeout(30)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk:
                return
            head += chunk
            if len(head) > 65536:
                return
        lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, target = lines[0].split(" ")[:2]
        headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
        authed = headers.get("proxy-authorization") == self.want
        self.tunnels.append((target, authed))
        if method != "CONNECT":
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        if not authed:
            client.sendall(b'HTTP/1.1 407 Proxy Authentication Required\r\n'
                           b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n')
            return
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)), timeout=30)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        socks = [client, upstream]
        try:
            while True:
                readable, _, _ = select.select(socks, [], [], 30)
                if not readable:
                    return
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        return
                    (upstream if s is client else client).sendall(data)
        finally:
            upstream.close()


class CaServer(LoopbackServer):
    """HTTPS on loopback serving /pub/katello-server-ca.crt as a Satellite
    does, with the fake Candlepin's own server certificate."""

    def __init__(self, cp_state_dir, ca_pem):
        body = ca_pem

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                if self.path != "/pub/katello-server-ca.crt":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-x509-ca-cert")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(cp_state_dir, "pki", "server.pem"),
                            os.path.join(cp_state_dir, "pki", "server.key"))
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        self.serve(server)
        self.url = "https://127.0.0.1:%d/pub/katello-server-ca.crt" % self.port


class AnsibleBase(unittest.TestCase):
    def setUp(self):
        need("ansible-playbook", "ansible-core")
        self.tmp = tempfile.mkdtemp(prefix="hvpkg-ans-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.etc, self.state = os.path.join(self.tmp, "etc"), os.path.join(self.tmp, "state")
        self.env = dict(os.environ, LC_ALL="C.UTF-8", ANSIBLE_CONFIG=os.path.join(ANSIBLE, "ansible.cfg"),
                        ANSIBLE_LOCAL_TEMP=os.path.join(self.tmp, "a-local"),
                        ANSIBLE_REMOTE_TEMP=os.path.join(self.tmp, "a-remote"),
                        ANSIBLE_ROLES_PATH=os.path.join(ANSIBLE, "roles"), ANSIBLE_NOCOLOR="1",
                        ANSIBLE_RETRY_FILES_ENABLED="0")
        # hvmap would take a proxy from the environment: only the role's.
        for k in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy"):
            self.env.pop(k, None)

    def start_fake(self):
        from fakecp_harness import FakeCandlepin
        cp = FakeCandlepin(os.path.join(self.tmp, "cp"), "--port", "0").start()
        self.addCleanup(cp.kill)
        return cp

    def base_vars(self, cp):
        return {
            "hvmap_install_package": False, "hvmap_manage_service": False,
            "hvmap_config_dir": self.etc, "hvmap_state_dir": self.state,
            "hvmap_server_url": cp.url if cp else "https://cp.example.com/candlepin",
            "hvmap_ca_dir": os.path.dirname(cp.ca) if cp else "",
            "hvmap_organization": "acme", "hvmap_auth": {"activation_keys": {"keys": [KEY]}},
            "hvmap_group": grp.getgrgid(os.getgid()).gr_name,
            "hvmap_command": HVMAP, "hvmap_command_prefix": [],
            "hvmap_global_args": ["--config-dir", self.etc, "--rhsm-conf", "", "--uri", "test:///default"],
        }

    def playbook(self, variables, *extra, secrets=(KEY,)):
        play = os.path.join(self.tmp, "play.yml")
        with open(play, "w") as f:
            f.write("- hosts: localhost\n  connection: local\n  gather_facts: false\n  roles: [hvmap]\n")
        with open(os.path.join(self.tmp, "vars.json"), "w") as f:
            json.dump(variables, f)
        p = run(["ansible-playbook", "-i", "localhost,", play, "-e", "@" + os.path.join(self.tmp, "vars.json")]
                + list(extra), env=self.env, check=False, timeout=180)
        for s in secrets:
            self.assertNotIn(s, p.stdout + p.stderr, "a secret leaked into Ansible's output")
        return p

    def assertRun(self, p, changed=None):
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        ok, ch, failed = recap(p.stdout)
        self.assertEqual(failed, 0, p.stdout)
        if changed is not None:
            self.assertEqual(ch, changed, "changed=%d, not %d:\n%s" % (ch, changed, p.stdout))
        return ch

    def consumers(self, cp):
        c = cp.state()["consumers"]
        return list(c.values()) if isinstance(c, dict) else c


class Static(AnsibleBase):
    def test_syntax_check(self):
        run(["ansible-playbook", "--syntax-check", "site.yml"], cwd=ANSIBLE, env=self.env)

    def test_lint_production_profile(self):
        need("ansible-lint", "ansible-lint")
        env = dict(self.env, HOME=self.tmp)  # its cache, not the user's
        p = run(["ansible-lint", "--offline", "--nocolor", "--profile", "production", "site.yml", "roles/hvmap"],
                cwd=ANSIBLE, env=env, check=False, timeout=180)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("Passed with production profile", p.stdout + p.stderr)

    def test_bad_input_is_named(self):
        """Types fail in argument_specs validation, rules between variables
        in the assert: each names the variable and what to do."""
        cases = [
            ({"hvmap_proxy": {"hostname": "p.example.com", "scheme": "https"}}, r"hvmap_proxy.*scheme|scheme.*http"),
            ({"hvmap_state": "gone"}, r"hvmap_state.*present, absent|present, absent.*hvmap_state"),
            ({"hvmap_server": {"hostname": "sat.example.com"}},
             r"either as hvmap_server_url or as hvmap_server.hostname, not both"),
            ({"hvmap_organization": ""}, r"activation_keys needs hvmap_organization"),
            ({"hvmap_auth": {"activation_keys": {"keys": [KEY]}, "login": {"username": "u", "password": "p"}}},
             r"give activation_keys or login, not both"),
            ({"hvmap_ca_cert_content": "x", "hvmap_ca_cert_fetch_from_satellite": True, "hvmap_ca_dir": ""},
             r"at most one of hvmap_ca_cert_src, hvmap_ca_cert_content"),
            ({"hvmap_proxy": {"hostname": "p", "password": "pw-9d8e"}}, r"hvmap_proxy.password needs hvmap_proxy.username"),
            ({"hvmap_activation_key": "old"}, r"hvmap_activation_key and hvmap_org are gone"),
        ]
        for extra, want in cases:
            with self.subTest(extra=extra):
                v = dict(self.base_vars(None), **extra)
                p = self.playbook(v, secrets=(KEY, "pw-9d8e"))
                self.assertNotEqual(p.returncode, 0, p.stdout)
                self.assertRegex(p.stdout + p.stderr, want)
                self.assertFalse(os.path.exists(os.path.join(self.etc, "hvmap.conf")), "wrote despite bad input")


class Runs(AnsibleBase):
    def test_check_mode_then_register_then_idempotent(self):
        cp = self.start_fake()
        v = self.base_vars(cp)

        p = self.playbook(v, "--check")
        self.assertRun(p)
        self.assertFalse(os.path.exists(os.path.join(self.etc, "hvmap.conf")), "check mode wrote")
        self.assertEqual(self.consumers(cp), [])

        first = self.playbook(v)
        self.assertGreaterEqual(self.assertRun(first), 2)
        self.assertRegex(first.stdout, r"TASK \[hvmap : Register with the subscription server[^\n]*\n"
                                       r"changed: \[localhost\]")
        self.assertEqual(len(self.consumers(cp)), 1)
        run([HVMAP, "--config-dir", self.etc, "--rhsm-conf", "", "config", "--check"])
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.etc, "hvmap.conf")).st_mode), 0o644)

        second = self.playbook(v)
        self.assertRun(second, changed=0)
        self.assertEqual(len(self.consumers(cp)), 1, "a duplicate consumer")

    def test_wrong_key_shows_hvmaps_message_not_the_key(self):
        cp = self.start_fake()
        v = dict(self.base_vars(cp), hvmap_auth={"activation_keys": {"keys": [WRONG_KEY]}})
        p = self.playbook(v, "-vvv", secrets=(WRONG_KEY,))
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertEqual(recap(p.stdout)[2], 1, p.stdout)
        out = p.stdout + p.stderr
        self.assertIn("hvmap register failed (exit 77)", out)
        self.assertIn("None of the activation keys specified exist for this org.", out)
        self.assertEqual(self.consumers(cp), [])

    def test_invalid_config_is_not_installed(self):
        """template's validate runs hvmap config --check on the candidate:
        a bad key stops the play before hvmap.conf is replaced."""
        cp = self.start_fake()
        good = self.playbook(self.base_vars(cp))
        self.assertRun(good)
        before = read(os.path.join(self.etc, "hvmap.conf"))
        v = dict(self.base_vars(cp), hvmap_extra_config={"report": {"intervall": "2h"}})
        p = self.playbook(v)
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertRegex(p.stdout, r'"exit_status": 78, "msg": "failed to validate".*'
                                   r':\d+: unknown key \\"intervall\\" in \[report\]')
        self.assertEqual(read(os.path.join(self.etc, "hvmap.conf")), before)

    def test_proxy_with_password_in_a_private_dropin(self):
        cp = self.start_fake()
        proxy = ConnectProxy(PROXY_USER, PROXY_PW)
        self.addCleanup(proxy.stop)
        v = dict(self.base_vars(cp), hvmap_proxy={"hostname": "127.0.0.1", "port": proxy.port, "scheme": "http",
                                                  "username": PROXY_USER, "password": PROXY_PW})
        p = self.playbook(v, "-v", secrets=(KEY, PROXY_PW))
        self.assertRun(p)
        self.assertEqual(len(self.consumers(cp)), 1)
        target = "127.0.0.1:%d" % cp.port
        self.assertIn((target, True), proxy.tunnels, "register did not go through the proxy: %r" % proxy.tunnels)

        dropin = os.path.join(self.etc, "hvmap.conf.d", "50-ansible-proxy.conf")
        st = os.stat(dropin)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o640)
        self.assertEqual((st.st_uid, st.st_gid), (0, os.getgid()), "not root:hvmap_group")
        self.assertIn("password = " + PROXY_PW, read(dropin))
        self.assertNotIn(PROXY_PW, read(os.path.join(self.etc, "hvmap.conf")))

        again = self.playbook(v, secrets=(KEY, PROXY_PW))
        self.assertRun(again, changed=0)

        # Without hvmap_proxy the role takes its proxy away again.
        off = self.playbook(self.base_vars(cp))
        self.assertRun(off, changed=1)
        self.assertFalse(os.path.exists(dropin))

    def test_satellite_ca_downloaded_pinned_and_from_text(self):
        cp = self.start_fake()
        with open(cp.ca, "rb") as f:
            ca_pem = f.read()
        server = CaServer(cp.state_dir, ca_pem)
        self.addCleanup(server.stop)
        # The server by parts this time (rhc_server's shape), not by URL.
        by_parts = dict(self.base_vars(cp), hvmap_server_url="", hvmap_ca_dir="",
                        hvmap_server={"hostname": "127.0.0.1", "port": cp.port, "prefix": cp.prefix})
        fetch = dict(by_parts, hvmap_ca_cert_fetch_from_satellite=True, hvmap_ca_cert_fetch_url=server.url,
                     hvmap_ca_cert_checksum="sha256:" + "0" * 64)
        bad = self.playbook(fetch)
        self.assertNotEqual(bad.returncode, 0, bad.stdout)
        self.assertRegex(bad.stdout, r"(?i)checksum")
        self.assertEqual(self.consumers(cp), [], "registered without the pinned CA")

        fetch["hvmap_ca_cert_checksum"] = "sha256:" + hashlib.sha256(ca_pem).hexdigest()
        self.assertRun(self.playbook(fetch))
        installed = os.path.join(self.etc, "ca", "katello-server-ca.pem")
        self.assertEqual(read(installed, "rb"), ca_pem)
        self.assertIn("ca_dir = %s/ca" % self.etc, read(os.path.join(self.etc, "hvmap.conf")))
        self.assertIn("hostname = 127.0.0.1\n", read(os.path.join(self.etc, "hvmap.conf")))
        self.assertEqual(len(self.consumers(cp)), 1, "registration over the downloaded CA")

        # The same CA given as text, or as a file on the controller, is the
        # same file: nothing changes.
        text = dict(by_parts, hvmap_ca_cert_content=ca_pem.decode())
        self.assertRun(self.playbook(text), changed=0)
        self.assertRun(self.playbook(dict(by_parts, hvmap_ca_cert_src=cp.ca)), changed=0)

    def test_state_absent_unregisters_and_removes(self):
        cp = self.start_fake()
        v = dict(self.base_vars(cp), hvmap_keep_activation_key=True,
                 hvmap_proxy={"hostname": "proxy.invalid", "port": 3128}, hvmap_extra_config={
                     "proxy": {"no_proxy": "*"}})
        self.assertRun(self.playbook(v))
        uuid = self.consumers(cp)[0]["uuid"]
        for f in ("hvmap.conf", "activation-key", "hvmap.conf.d/50-ansible-proxy.conf"):
            self.assertTrue(os.path.exists(os.path.join(self.etc, f)), f)

        gone = dict(v, hvmap_state="absent")
        self.assertGreaterEqual(self.assertRun(self.playbook(gone)), 2)
        st = cp.state()
        self.assertNotIn(uuid, [c["uuid"] for c in self.consumers(cp)], "consumer still on the server")
        self.assertIn(uuid, [d["consumerUuid"] for d in st["deleted"]], "no deletion record on the server")
        for f in ("hvmap.conf", "activation-key", "hvmap.conf.d/50-ansible-proxy.conf"):
            self.assertFalse(os.path.exists(os.path.join(self.etc, f)), f)
        self.assertFalse(os.path.exists(self.state))

        self.assertRun(self.playbook(gone), changed=0)


if __name__ == "__main__":
    unittest.main()
