"""Test harness for fake-candlepin: start/stop an instance, talk to it.

Not a test module itself (no test_ prefix); the test_*.py files import it.
"""

import base64
import http.client
import json
import os
import selectors
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
EXE = os.path.join(HERE, "fake-candlepin")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0


class FakeCandlepin:
    """One running fake-candlepin process."""

    def __init__(self, state_dir, *args):
        self.state_dir = state_dir
        self.args = list(args)
        self.proc = None

    def start(self):
        self.stderr = open(os.path.join(os.path.dirname(self.state_dir),
                                        os.path.basename(self.state_dir) + ".stderr"), "ab")
        self.proc = subprocess.Popen([EXE, "--state-dir", self.state_dir] + self.args,
                                     stdout=subprocess.PIPE, stderr=self.stderr)
        self.lines = self._read_until_ready()
        info = dict(line.split(" ", 1) for line in self.lines[:-1])
        self.url = info["URL"]
        self.ca = info["CA"]
        self.control = info["CONTROL"]
        self.pid = int(info["PID"])
        u = urllib.parse.urlsplit(self.url)
        self.host, self.port, self.prefix = u.hostname, u.port, u.path
        c = urllib.parse.urlsplit(self.control)
        self.control_host, self.control_port = c.hostname, c.port
        return self

    def _read_until_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        buf = b""
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        try:
            while b"READY\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.kill()
                    raise AssertionError("fake-candlepin not READY within %.0fs; stdout so far: %r"
                                         % (START_TIMEOUT, buf))
                if sel.select(left):
                    chunk = os.read(self.proc.stdout.fileno(), 4096)
                    if not chunk:
                        self.proc.wait(STOP_TIMEOUT)
                        raise AssertionError("fake-candlepin exited (%s) before READY; stdout %r; "
                                             "see %s" % (self.proc.returncode, buf, self.stderr.name))
                    buf += chunk
        finally:
            sel.close()
        return buf.decode().splitlines()

    def stop(self):
        """SIGTERM, bounded wait; returns (exit code, seconds taken)."""
        if self.proc is None or self.proc.poll() is not None:
            return (self.proc.returncode if self.proc else None), 0.0
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            rc = None
        took = time.monotonic() - t0
        self._close()
        return rc, took

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)
        self._close()

    def _close(self):
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        if getattr(self, "stderr", None):
            self.stderr.close()

    # ---- control API -------------------------------------------------
    def ctl(self, method, path, body=None, timeout=10):
        conn = http.client.HTTPConnection(self.control_host, self.control_port, timeout=timeout)
        try:
            data = json.dumps(body).encode() if body is not None else None
            headers = {"Content-Type": "application/json"} if data is not None else {}
            conn.request(method, path, body=data, headers=headers)
            r = conn.getresponse()
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
        finally:
            conn.close()

    def state(self):
        status, st = self.ctl("GET", "/state")
        assert status == 200, status
        return st

    def consumer_state(self, uuid):
        for c in self.state()["consumers"]:
            if c["uuid"] == uuid:
                return c
        return None

    def fault(self, action, method=None, path=None, count=1):
        status, body = self.ctl("POST", "/faults", {"method": method, "path": path,
                                                    "count": count, "action": action})
        assert status == 200, body
        return body

    # ---- API -----------------------------------------------------------
    def ssl_context(self, cert=None):
        ctx = ssl.create_default_context(cafile=self.ca)
        if cert:
            ctx.load_cert_chain(cert[0], cert[1])
        return ctx

    def connection(self, cert=None, timeout=10):
        return http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                           context=self.ssl_context(cert))

    def api(self, method, path, body=None, cert=None, auth=None, ctype="application/json",
            headers=None, timeout=10, conn=None):
        """path is relative to the prefix; returns Resp."""
        hdrs = {"Accept": "application/json"}
        if body is not None:
            if not isinstance(body, (bytes, str)):
                body = json.dumps(body)
            if isinstance(body, str):
                body = body.encode()
            if ctype:
                hdrs["Content-Type"] = ctype
        if auth:
            hdrs["Authorization"] = "Basic " + base64.b64encode(
                ("%s:%s" % auth).encode()).decode()
        hdrs.update(headers or {})
        own = conn is None
        if own:
            conn = self.connection(cert, timeout)
        try:
            conn.request(method, self.prefix + path, body=body, headers=hdrs)
            r = conn.getresponse()
            raw = r.read()
            return Resp(r.status, r.headers, raw)
        finally:
            if own:
                conn.close()


class Resp:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw

    @property
    def json(self):
        return json.loads(self.raw) if self.raw else None

    def __repr__(self):
        return "<Resp %d %r>" % (self.status, self.raw[:300])


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True,
                          timeout=30, **kw)


def decode_cert(path):
    """Certificate fields via the openssl CLI (independent of the fake's own code)."""
    out = run(["openssl", "x509", "-in", path, "-noout", "-subject", "-serial", "-startdate",
               "-enddate", "-nameopt", "RFC2253"]).stdout.decode()
    info = dict(line.split("=", 1) for line in out.strip().splitlines())
    return {"subject": info["subject"], "serial": int(info["serial"], 16),
            "notBefore": ssl.cert_time_to_seconds(info["notBefore"]),
            "notAfter": ssl.cert_time_to_seconds(info["notAfter"])}


_PKI_CACHE = None


def _seed_pki(state_dir):
    """Copy the CA + server certificate made by an earlier instance into a new
    state dir (the fake reuses them as it does on restart).  Saves two RSA key
    generations per test; FakeTestCase.fresh_pki = True opts out."""
    if _PKI_CACHE and not os.path.exists(state_dir):
        os.makedirs(state_dir)
        for sub in ("pki", "ca"):
            shutil.copytree(os.path.join(_PKI_CACHE, sub), os.path.join(state_dir, sub))


def _remember_pki(state_dir):
    global _PKI_CACHE
    if _PKI_CACHE is None:
        cache = tempfile.mkdtemp(prefix="fakecp-pki-cache-")
        for sub in ("pki", "ca"):
            shutil.copytree(os.path.join(state_dir, sub), os.path.join(cache, sub))
        _PKI_CACHE = cache
        import atexit
        atexit.register(shutil.rmtree, cache, True)


class FakeTestCase(unittest.TestCase):
    """Starts one fake per test in a fresh temp state dir."""

    fake_args = ()
    fresh_pki = False

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fakecp-test-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.fake = self.start_fake(*self.fake_args)

    def start_fake(self, *args, state_dir=None):
        state_dir = state_dir or os.path.join(self.tmp, "state")
        if not self.fresh_pki:
            _seed_pki(state_dir)
        fake = FakeCandlepin(state_dir, *args)
        fake.start()
        _remember_pki(state_dir)
        self.addCleanup(fake.stop)
        return fake

    # ---- helpers -------------------------------------------------------
    def identity(self, dto, name=None):
        """Write the idCert of a consumer DTO to files; returns (cert, key) paths."""
        d = os.path.join(self.tmp, name or dto["uuid"] + "-" + str(dto["idCert"]["serial"]["serial"]))
        os.makedirs(d, exist_ok=True)
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        with open(cert, "w") as f:
            f.write(dto["idCert"]["cert"])
        with open(key, "w") as f:
            f.write(dto["idCert"]["key"])
        return cert, key

    def register(self, name="host1", facts=None, type_="hypervisor", fake=None, owner="acme",
                 keys="hv-key", extra=None, expect=200):
        fake = fake or self.fake
        body = {"type": {"label": type_}, "name": name, "facts": facts or {}}
        body.update(extra or {})
        r = fake.api("POST", "/consumers?owner=%s&activation_keys=%s" % (owner, keys), body)
        self.assertEqual(r.status, expect, r)
        if expect != 200:
            return r
        dto = r.json
        return dto, self.identity(dto)

    def assertError(self, r, status, message=None, deleted_id=False):
        self.assertEqual(r.status, status, r)
        body = r.json
        self.assertIsInstance(body, dict, r)
        self.assertIn("displayMessage", body)
        self.assertEqual(body["requestUuid"], r.headers["x-candlepin-request-uuid"])
        if message is not None:
            self.assertIn(message, body["displayMessage"])
        if deleted_id is None:
            self.assertNotIn("deletedId", body)
        elif deleted_id:
            self.assertEqual(body.get("deletedId"), deleted_id)
        return body

    def wait_for(self, predicate, timeout=10.0, what="condition"):
        deadline = time.monotonic() + timeout
        while True:
            v = predicate()
            if v:
                return v
            if time.monotonic() > deadline:
                self.fail("timed out after %.1fs waiting for %s" % (timeout, what))
            time.sleep(0.02)
