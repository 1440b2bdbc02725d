#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""proto/ against tests/fake-candlepin over real TLS with client certificates:
registration, reporting, renewal, deletion, and every fault of issue 5, each
through proto-cli (one call per process, one JSON line of typed result)."""

import json
import os
import re
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fake-candlepin"))
import fakecp_harness  # noqa: E402

CLI = os.environ.get("PROTO_CLI") or os.path.join(HERE, "..", "..", "build", "tests", "proto", "proto-cli")
KEY = "hv-key"
PASSWORD = "secret"
HV_ID = "4c4c4544-0042-3910-8053-b4c04f4e3132"  # a UUID: sent as dmi.system.uuid too


class ProtoTest(unittest.TestCase):
    fake = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="hvmap-proto-it-")
        cls.fake = fakecp_harness.FakeCandlepin(os.path.join(cls.tmp, "state")).start()
        cls.ca_dir = os.path.dirname(cls.fake.ca)

    @classmethod
    def tearDownClass(cls):
        if cls.fake:
            cls.fake.stop()
        shutil.rmtree(cls.tmp, True)

    def setUp(self):
        status, _ = self.fake.ctl("POST", "/reset")
        self.assertEqual(status, 200)
        self.id_dir = tempfile.mkdtemp(prefix="id-", dir=self.tmp)
        os.rmdir(self.id_dir)  # proto creates it (0700)

    # ---- helpers ---------------------------------------------------------
    def cli(self, call, *args, url=None, ca_dir="default", env=None, timeout=30, identity=True):
        cmd = [CLI, "--url", url or self.fake.url, "--deadline-ms", "20000"]
        if ca_dir == "default":
            ca_dir = self.ca_dir
        if ca_dir:
            cmd += ["--ca-dir", ca_dir]
        if identity:
            cmd += ["--identity", self.id_dir]
        cmd += list(args) + [call]
        e = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        e.update(env or {})
        t0 = time.monotonic()
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e, timeout=timeout)
        took = time.monotonic() - t0
        out, err = p.stdout.decode(), p.stderr.decode()
        for secret in (KEY, PASSWORD):
            self.assertNotIn(secret, " ".join(cmd), "secret in argv")
            self.assertNotIn(secret, out, "secret in the result: " + out)
            self.assertNotIn(secret, err, "secret in the log: " + err)
        self.assertTrue(out.strip(), "no output; stderr: " + err)
        res = json.loads(out.strip().splitlines()[-1])
        res["_took"] = took
        res["_stderr"] = err
        return res

    def register(self, *args, **kw):
        r = self.cli("register", "--org", "acme", "--hypervisor-id", HV_ID, "--name", "kvm-it-1", *args,
                     env={"HVMAP_TEST_ACTIVATION_KEYS": KEY}, **kw)
        self.assertEqual(r["kind"], "ok", r)
        self.assertTrue(r.get("saved"), r)
        return r

    def fault(self, action, method=None, path=None, count=1):
        self.fake.fault(action, method=method, path=path, count=count)

    def expect(self, r, kind, *in_message):
        self.assertEqual(r["kind"], kind, r)
        for m in in_message:
            if isinstance(m, re.Pattern):
                self.assertRegex(r["message"], m, r)
            else:
                self.assertIn(m, r["message"], r)
        self.assertNotIn("\n", r["message"])

    # ---- the happy paths -------------------------------------------------
    def test_status(self):
        r = self.cli("status", identity=False)
        self.expect(r, "ok")
        self.assertIn("hypervisors_async", r["status"]["capabilities"])
        self.assertRegex(r["correlation_id"], "^[0-9a-f]{32}$")

    def test_register_by_activation_key_and_again_same_consumer(self):
        r1 = self.register()
        c = self.fake.consumer_state(r1["consumer"]["uuid"])
        self.assertEqual(c["type"]["label"] if isinstance(c["type"], dict) else c["type"], "hypervisor")
        self.assertEqual(c["facts"]["dmi.system.uuid"], HV_ID, "a UUID hypervisor id is the DMI UUID Candlepin matches")
        self.assertEqual(c["facts"]["virt.is_guest"], "false")
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.id_dir, "key.pem")).st_mode), 0o600)
        r2 = self.register()
        self.assertEqual(r1["consumer"]["uuid"], r2["consumer"]["uuid"])
        self.assertEqual(len(self.fake.state()["consumers"]), 1, "re-registering created a duplicate")
        ident = self.cli("identity")
        self.assertEqual(ident["uuid"], r1["consumer"]["uuid"])
        self.assertEqual(ident["owner"], "acme")
        # What went over the wire.
        _, reqs = self.fake.ctl("GET", "/requests")
        post = [q for q in reqs if q["method"] == "POST"][-1]
        hdrs = {k.lower(): v for k, v in post["headers"].items()}
        self.assertTrue(hdrs["user-agent"].startswith("hvmap/"), hdrs)
        self.assertRegex(hdrs["x-correlation-id"], "^[0-9a-f]{32}$")
        self.assertEqual(hdrs["accept"], "application/json")
        self.assertEqual(hdrs["content-type"], "application/json")
        self.assertEqual(json.loads(post["body"])["type"], {"label": "hypervisor"})

    def test_register_with_password_discovers_the_org(self):
        r = self.cli("register", "--user", "admin", "--hypervisor-id", "hv-pw", "--name", "kvm-pw",
                     env={"HVMAP_TEST_PASSWORD": PASSWORD})
        self.expect(r, "ok")
        self.assertEqual(r["consumer"]["owner"], "acme")
        _, reqs = self.fake.ctl("GET", "/requests")
        self.assertEqual([q["path"] for q in reqs][-2:], ["/candlepin/users/admin/owners", "/candlepin/consumers"])
        bad = self.cli("register", "--user", "admin", "--org", "acme", env={"HVMAP_TEST_PASSWORD": "wrong"})
        self.expect(bad, "auth", "HTTP 401")
        viewer = self.cli("register", "--user", "viewer", "--org", "acme", env={"HVMAP_TEST_PASSWORD": "viewer"})
        self.expect(viewer, "auth", "HTTP 403", "not authorized")

    def test_register_bad_key_is_auth_and_does_not_leak_the_key(self):
        r = self.cli("register", "--org", "acme", env={"HVMAP_TEST_ACTIVATION_KEYS": KEY + "-nope"})
        self.expect(r, "auth", "HTTP 401", "POST " + self.fake.url + "/consumers:")
        self.assertNotIn("activation_keys", r["message"])

    def test_report_guests_and_read_them_back(self):
        uuid = self.register()["consumer"]["uuid"]
        r = self.cli("update", "--guest", "B2C3D4E5-0000-4000-8000-000000000002",
                     "--guest", "a1b2c3d4-0000-4000-8000-000000000001:0")
        self.expect(r, "ok")
        got = self.fake.consumer_state(uuid)["guestIds"]
        self.assertEqual(sorted((g["guestId"].lower(), g["attributes"]["active"]) for g in got),
                         [("a1b2c3d4-0000-4000-8000-000000000001", "0"),
                          ("b2c3d4e5-0000-4000-8000-000000000002", "1")])
        self.assertTrue(all(g["attributes"]["virtWhoType"] == "libvirt" for g in got))
        # The complete list replaces: an empty report removes every guest.
        self.expect(self.cli("update"), "ok")
        self.assertEqual(self.fake.consumer_state(uuid)["guestIds"], [])

    def test_checkin_job_and_heartbeat(self):
        self.register()
        r = self.cli("checkin", "--reporter", "rep-1", "--guest", "c0ffee00-0000-4000-8000-000000000001")
        self.expect(r, "ok")
        job = r["job"]
        self.fake.ctl("POST", "/jobs/finish")
        j = self.cli_job(job["id"])
        self.expect(j, "ok")
        self.assertEqual(j["job"]["state"], "FINISHED", j)
        self.assertTrue(j["job"]["has_result_object"], j)
        hb = self.cli("heartbeat", "--reporter", "rep-1")
        self.expect(hb, "ok")
        self.assertTrue(hb["job"]["id"])

    def cli_job(self, job_id):
        cmd = [CLI, "--url", self.fake.url, "--ca-dir", self.ca_dir, "--identity", self.id_dir, "job", job_id]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        return json.loads(p.stdout.decode().strip().splitlines()[-1])

    def test_renewal_when_the_server_shortens_expiry(self):
        r = self.register()
        uuid, serial = r["consumer"]["uuid"], self.cli("identity")["serial"]
        same = self.cli("refresh")
        self.expect(same, "ok")
        self.assertFalse(same["identity_renewed"])
        status, _ = self.fake.ctl("POST", "/consumers/%s/expire" % uuid, {"days": 30})
        self.assertEqual(status, 200)
        renewed = self.cli("refresh")
        self.expect(renewed, "ok")
        self.assertTrue(renewed["identity_renewed"], renewed)
        now = self.cli("identity")
        self.assertNotEqual(now["serial"], serial)
        self.assertEqual(now["serial"], renewed["local_serial"])
        self.assertGreater(now["not_after"], time.time() + 365 * 86400)
        # The renewed identity works.
        self.expect(self.cli("update"), "ok")

    def test_regenerate(self):
        self.register()
        serial = self.cli("identity")["serial"]
        r = self.cli("regenerate")
        self.expect(r, "ok")
        self.assertTrue(r["identity_renewed"])
        self.assertNotEqual(self.cli("identity")["serial"], serial)
        self.expect(self.cli("update"), "ok")

    def test_deleted_consumer_is_gone_then_unregister_is_ok(self):
        uuid = self.register()["consumer"]["uuid"]
        self.fake.ctl("POST", "/consumers/%s/delete" % uuid)
        r = self.cli("update")
        self.expect(r, "gone", "HTTP 410", "has been deleted", "(request ")
        self.assertEqual(r["error_name"], "EIDRM")
        u = self.cli("unregister")
        self.expect(u, "ok")

    def test_unregister(self):
        uuid = self.register()["consumer"]["uuid"]
        r = self.cli("unregister")
        self.expect(r, "ok")
        self.assertTrue(r["removed"])
        self.assertIsNone(self.fake.consumer_state(uuid))
        self.assertFalse(os.path.exists(os.path.join(self.id_dir, "key.pem")))

    # ---- faults injected through the fake --------------------------------
    def test_faults(self):
        self.register()
        put = "^/candlepin/consumers/[^/]+$"
        table = [
            ({"html": True, "status": 502}, "PUT", "temporary", ["HTTP 502", "HTML page"]),
            ({"status": 500}, "PUT", "temporary", ["HTTP 500"]),
            ({"status": 502}, "PUT", "temporary", ["HTTP 502"]),
            ({"status": 503}, "PUT", "temporary", ["HTTP 503"]),
            ({"status": 401}, "PUT", "auth", ["HTTP 401"]),
            ({"status": 403}, "PUT", "auth", ["HTTP 403"]),
            ({"status": 404}, "PUT", "permanent", ["HTTP 404"]),
            ({"status": 415}, "PUT", "permanent", ["HTTP 415"]),
            ({"status": 410, "deleted_id": None}, "PUT", "temporary", ["HTTP 410", "without deletedId"]),
            ({"status": 410, "deleted_id": "someone-else"}, "PUT", "temporary", ["not our consumer"]),
            ({"status": 429, "retry_after": "3"}, "PUT", "retry-after", ["HTTP 429", "retry after 3 s"]),
            ({"status": 429, "retry_after": None}, "PUT", "retry-after", ["no usable Retry-After"]),
            ({"status": 429, "retry_after": "soon"}, "PUT", "retry-after", ["retry after 60 s"]),
        ]
        for action, method, kind, msgs in table:
            with self.subTest(action=action):
                self.fault(action, method=method, path=put)
                r = self.cli("update")
                self.expect(r, kind, *msgs)
                self.assertTrue(r["request_uuid"], r)
                if action.get("status") == 429:
                    self.assertEqual(r["retry_after"], 3 if action["retry_after"] == "3" else 60)
                    self.assertEqual(r["retry_after_from_server"], action["retry_after"] == "3")
        # Each fault was consumed: a plain update works again.
        self.expect(self.cli("update"), "ok")

    def test_faulty_bodies(self):
        self.register()
        get = "^/candlepin/consumers/[^/]+$"
        for action, kind, msg in [
            ({"malformed_json": True}, "temporary", "malformed consumer"),
            ({"status": 200, "body": [1, 2, 3]}, "temporary", "malformed consumer"),
            ({"status": 200, "body": "<html>hello</html>", "content_type": "text/html"}, "temporary",
             "malformed consumer"),
            ({"oversized_body": 300000}, "temporary", "response too large"),
            # curl 8 with OpenSSL 3.5 reports the cut TLS stream (no
            # close_notify) as a receive error (56) before the short body (18).
            ({"close_mid_body": True}, "temporary", re.compile(r"curl error (18|56)\)")),
            ({"wrong_content_type": True}, "ok", "HTTP 200"),  # lenient: JSON is JSON whatever the header
        ]:
            with self.subTest(action=action):
                self.fault(action, method="GET", path=get)
                r = self.cli("get-consumer", "--max-body", "65536")
                self.expect(r, kind, msg)

    def test_server_never_answers(self):
        self.register()
        self.fault({"delay": 5}, method="PUT")
        r = self.cli("update", "--timeout-ms", "1000")
        self.expect(r, "temporary", "curl error 28")
        self.assertEqual(r["error_name"], "ETIMEDOUT")
        self.assertLess(r["_took"], 4.5, "timeout not honoured")
        self.fake.ctl("DELETE", "/faults")
        # Hang mode: not even the TLS handshake completes.
        self.fake.ctl("POST", "/mode", {"hang": True})
        try:
            r = self.cli("status", "--timeout-ms", "1000", identity=False)
            self.expect(r, "temporary")
            self.assertEqual(r["error_name"], "ETIMEDOUT")
            self.assertLess(r["_took"], 4.5)
        finally:
            self.fake.ctl("POST", "/mode", {"hang": False})

    # ---- TLS and local problems ------------------------------------------
    def test_certificate_for_another_host(self):
        port = self.fake.port
        url = "https://cp.other-host.test:%d/candlepin" % port
        r = self.cli("status", "--resolve", "cp.other-host.test:%d:127.0.0.1" % port, url=url, identity=False)
        self.expect(r, "temporary", "curl error 60")
        self.assertIn("cp.other-host.test", r["message"])

    def test_untrusted_ca(self):
        other = os.path.join(self.tmp, "other-ca")
        os.makedirs(other, exist_ok=True)
        make_cert(other, "unrelated-ca", days="+1")
        os.rename(os.path.join(other, "cert.pem"), os.path.join(other, "ca.pem"))
        os.unlink(os.path.join(other, "key.pem"))
        r = self.cli("status", ca_dir=other, identity=False)
        self.expect(r, "temporary", "curl error 60")

    def test_expired_server_certificate(self):
        d = os.path.join(self.tmp, "expired")
        os.makedirs(d, exist_ok=True)
        make_cert(d, "127.0.0.1", days="expired")
        cadir = os.path.join(d, "ca")
        os.makedirs(cadir, exist_ok=True)
        shutil.copy(os.path.join(d, "cert.pem"), os.path.join(cadir, "ca.pem"))
        with TinyTlsServer(os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")) as port:
            r = self.cli("status", url="https://127.0.0.1:%d/candlepin" % port, ca_dir=cadir, identity=False)
        self.expect(r, "temporary", "curl error 60")
        self.assertIn("expired", r["message"])

    def test_ca_dir_missing_or_empty(self):
        r = self.cli("status", ca_dir=os.path.join(self.tmp, "no-such-ca-dir"), identity=False)
        self.expect(r, "local", "cannot open CA directory")
        empty = tempfile.mkdtemp(dir=self.tmp)
        r = self.cli("status", ca_dir=empty, identity=False)
        self.expect(r, "local", "no CA certificates (*.pem)")

    def test_unreadable_key_and_mismatch(self):
        self.register()
        key = os.path.join(self.id_dir, "key.pem")
        with open(key) as f:
            good = f.read()
        os.unlink(key)
        os.mkdir(key)
        r = self.cli("identity")
        self.assertIn("cannot read", r["message"])
        os.rmdir(key)
        other = os.path.join(self.tmp, "mm")
        os.makedirs(other, exist_ok=True)
        make_cert(other, "x", days="+1")
        shutil.copy(os.path.join(other, "key.pem"), key)
        r = self.cli("identity")
        self.assertEqual(r["error_name"], "EKEYREJECTED", r)
        self.assertIn("does not belong to", r["message"])
        r = self.cli("update")
        self.assertEqual(r["kind"], "identity-error", r)
        with open(key, "w") as f:
            f.write(good)
        self.expect(self.cli("update"), "ok")


def make_cert(d, cn, days):
    """Self-signed cert + key in d with the openssl CLI; days="expired" makes one
    that expired yesterday (via `openssl ca` with explicit dates)."""
    key, cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
    subj = "/CN=%s" % cn
    run = lambda *a: subprocess.run(a, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30)
    if days != "expired":
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
            "-subj", subj, "-addext", "subjectAltName=IP:127.0.0.1")
        return
    csr = os.path.join(d, "req.csr")
    run("openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", subj)
    db = os.path.join(d, "index.txt")
    open(db, "w").close()
    with open(os.path.join(d, "serial"), "w") as f:
        f.write("01\n")
    conf = os.path.join(d, "ca.cnf")
    with open(conf, "w") as f:
        f.write("[ca]\ndefault_ca=x\n[x]\ndatabase=%s\nserial=%s/serial\nnew_certs_dir=%s\n"
                "default_md=sha256\npolicy=p\nunique_subject=no\ncopy_extensions=none\nx509_extensions=ext\n"
                "[p]\ncommonName=supplied\n[ext]\nsubjectAltName=IP:127.0.0.1\nbasicConstraints=CA:TRUE\n"
                % (db, d, d))
    run("openssl", "ca", "-batch", "-config", conf, "-selfsign", "-keyfile", key, "-in", csr, "-out", cert,
        "-startdate", "20200101000000Z", "-enddate", "20200102000000Z")


class TinyTlsServer:
    """Loopback TLS server that answers every request with {}; for certificates
    the fake cannot present."""

    def __init__(self, cert, key):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.stop = threading.Event()

    def serve(self):
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            try:
                c.settimeout(5)
                t = self.ctx.wrap_socket(c, server_side=True)
                t.recv(65536)
                t.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}")
                t.close()
            except (OSError, ssl.SSLError):
                c.close()

    def __enter__(self):
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()
        return self.sock.getsockname()[1]

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


if __name__ == "__main__":
    unittest.main()
