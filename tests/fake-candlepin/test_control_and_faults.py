"""Control API, fault injection, hang mode, restart, flavours, README session."""

import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import time

from fakecp_harness import FakeTestCase, FakeCandlepin, HERE

DMI = "11111111-2222-3333-4444-555555555555"


class Faults(FakeTestCase):
    def test_429_with_and_without_retry_after(self):
        self.fake.fault({"status": 429, "retry_after": "3"}, method="PUT", path=r"/consumers/[^/]+$",
                        count=2)
        dto, ident = self.register()
        path = "/consumers/" + dto["uuid"]
        # method filter: GET is not affected
        self.assertEqual(self.fake.api("GET", path, cert=ident).status, 200)
        for _ in range(2):
            r = self.fake.api("PUT", path, {"guestIds": ["g1"]}, cert=ident)
            self.assertEqual(r.status, 429, r)
            self.assertEqual(r.headers["Retry-After"], "3")
            self.assertEqual(r.json["requestUuid"], r.headers["x-candlepin-request-uuid"])
        self.assertEqual(self.fake.consumer_state(dto["uuid"])["guestIds"], [])  # not applied
        self.assertEqual(self.fake.api("PUT", path, {"guestIds": ["g1"]}, cert=ident).status, 204)
        self.fake.fault({"status": 429, "retry_after": None, "body": "{}"})
        r = self.fake.api("GET", "/status")
        self.assertEqual(r.status, 429)
        self.assertIsNone(r.headers["Retry-After"])
        self.assertEqual(r.raw, b"{}")
        self.assertEqual(self.fake.api("GET", "/status").status, 200)
        statuses = [q["status"] for q in self.fake.ctl("GET", "/requests")[1]]
        self.assertEqual(statuses, [200, 200, 429, 429, 204, 429, 200])

    def test_status_faults(self):
        self.fake.fault({"status": 500, "body": "kaputt", "content_type": "text/plain"}, path="status")
        r = self.fake.api("GET", "/status")
        self.assertEqual((r.status, r.raw, r.headers["Content-Type"]), (500, b"kaputt", "text/plain"))
        self.fake.fault({"status": 503})
        r = self.fake.api("GET", "/status")
        self.assertEqual(r.status, 503)
        self.assertEqual(r.json["displayMessage"], "Service Unavailable")
        self.fake.fault({"status": 410, "deleted_id": "abc"})
        r = self.fake.api("GET", "/status")
        self.assertError(r, 410, deleted_id="abc")
        self.fake.fault({"status": 410, "deleted_id": None})
        self.assertError(self.fake.api("GET", "/status"), 410, deleted_id=None)
        self.fake.fault({"status": 401})
        self.assertError(self.fake.api("GET", "/status"), 401)
        self.fake.fault({"status": 415})
        self.assertError(self.fake.api("GET", "/status"), 415)
        self.fake.fault({"html": True, "status": 502})
        r = self.fake.api("GET", "/status")
        self.assertEqual(r.status, 502)
        self.assertTrue(r.headers["Content-Type"].startswith("text/html"))
        self.assertIn(b"<html>", r.raw)
        # path filter: a fault for another path does not fire
        self.fake.fault({"status": 500}, path="^/nomatch$")
        self.assertEqual(self.fake.api("GET", "/status").status, 200)
        self.assertEqual(len(self.fake.ctl("GET", "/faults")[1]), 1)
        self.assertEqual(self.fake.ctl("DELETE", "/faults")[0], 200)
        self.assertEqual(self.fake.ctl("GET", "/faults")[1], [])

    def test_delay(self):
        self.fake.fault({"delay": 0.6}, path="status")
        t0 = time.monotonic()
        r = self.fake.api("GET", "/status")
        took = time.monotonic() - t0
        self.assertEqual(r.status, 200)
        self.assertGreaterEqual(took, 0.6)
        with self.assertRaises((socket.timeout, TimeoutError)):
            self.fake.fault({"delay": 5}, path="status")
            self.fake.api("GET", "/status", timeout=0.5)

    def test_close_mid_body(self):
        self.fake.fault({"close_mid_body": True}, method="POST", path="/consumers$")
        conn = self.fake.connection()
        conn.request("POST", self.fake.prefix + "/consumers?owner=acme&activation_keys=hv-key",
                     body=json.dumps({"type": "hypervisor", "name": "lost",
                                      "facts": {"dmi.system.uuid": DMI}}),
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        with self.assertRaises(http.client.IncompleteRead):
            r.read()
        conn.close()
        # the request was applied: re-registering adopts the consumer
        consumers = self.fake.state()["consumers"]
        self.assertEqual(len(consumers), 1)
        dto, _ = self.register("again", facts={"dmi.system.uuid": DMI})
        self.assertEqual(dto["uuid"], consumers[0]["uuid"])

    def test_body_mangling(self):
        dto, ident = self.register()
        path = "/consumers/" + dto["uuid"]
        self.fake.fault({"oversized_body": 3 * 1024 * 1024}, path=path)
        r = self.fake.api("GET", path, cert=ident)
        self.assertEqual(len(r.raw), 3 * 1024 * 1024)
        self.assertEqual(int(r.headers["Content-Length"]), 3 * 1024 * 1024)
        self.assertEqual(r.json["uuid"], dto["uuid"])    # still JSON, padded with spaces
        self.fake.fault({"malformed_json": True}, path=path)
        r = self.fake.api("GET", path, cert=ident)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["Content-Type"], "application/json")
        with self.assertRaises(ValueError):
            json.loads(r.raw)
        self.fake.fault({"malformed_json": True}, method="PUT")
        r = self.fake.api("PUT", path, {"facts": {}}, cert=ident)
        self.assertEqual(r.status, 200)
        with self.assertRaises(ValueError):
            json.loads(r.raw)
        self.fake.fault({"wrong_content_type": True}, path=path)
        r = self.fake.api("GET", path, cert=ident)
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["Content-Type"].startswith("text/html"))
        self.assertEqual(r.json["uuid"], dto["uuid"])

    def test_invalid_fault_specs(self):
        for spec in ({"action": {}}, {"action": {"status": "x"}}, {"action": {"status": 429}, "count": 0},
                     {"action": {"status": 429}, "path": "("}, {"action": {"bogus": 1, "status": 500}},
                     {"action": {"delay": -1}}):
            status, body = self.fake.ctl("POST", "/faults", spec)
            self.assertEqual(status, 400, spec)
        self.assertEqual(self.fake.ctl("GET", "/faults")[1], [])


class Hang(FakeTestCase):
    def test_hang_mode(self):
        keep = self.fake.connection()
        keep.request("GET", self.fake.prefix + "/status")
        first = keep.getresponse()
        self.assertEqual(first.status, 200)
        first.read()
        self.assertEqual(self.fake.ctl("POST", "/mode", {"hang": True}), (200, {"hang": True}))
        # TCP connects, TLS handshake stalls
        raw = socket.create_connection((self.fake.host, self.fake.port), timeout=0.5)
        ctx = self.fake.ssl_context()
        with self.assertRaises((socket.timeout, TimeoutError)):
            ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        raw.close()
        # a request on an established keep-alive connection is not answered either
        keep.sock.settimeout(0.5)
        keep.request("GET", self.fake.prefix + "/status")
        with self.assertRaises((socket.timeout, TimeoutError)):
            keep.getresponse()
        keep.close()
        # the control port still answers; turning hang off restores service
        self.assertEqual(self.fake.state()["hang"], True)
        self.assertEqual(self.fake.ctl("POST", "/mode", {"hang": False}), (200, {"hang": False}))
        self.assertEqual(self.fake.api("GET", "/status").status, 200)
        self.assertEqual(self.fake.ctl("POST", "/mode", {"hang": "yes"})[0], 400)


class Control(FakeTestCase):
    def test_requests_log(self):
        self.fake.api("POST", "/consumers?owner=acme", {"type": "hypervisor", "name": "n"},
                      auth=("admin", "secret"), headers={"X-Correlation-ID": "abc123"})
        dto, ident = self.register()
        self.fake.api("GET", "/consumers/%s?x=1" % dto["uuid"], cert=ident)
        reqs = self.fake.ctl("GET", "/requests")[1]
        self.assertEqual(len(reqs), 3)
        first = reqs[0]
        self.assertEqual(first["method"], "POST")
        self.assertEqual(first["path"], "/candlepin/consumers")
        self.assertEqual(first["query"], "owner=acme")
        self.assertEqual(first["headers"]["Authorization"], "REDACTED")
        self.assertEqual(first["headers"]["X-Correlation-ID"], "abc123")
        self.assertEqual(json.loads(first["body"])["name"], "n")
        self.assertEqual(first["status"], 200)
        self.assertIsNone(first["client_cn"])
        self.assertNotIn("secret", json.dumps(reqs))
        self.assertLessEqual(first["t"], reqs[1]["t"])
        self.assertAlmostEqual(first["t"], time.time(), delta=60)
        self.assertEqual(reqs[2]["client_cn"], dto["uuid"])
        self.assertEqual(reqs[2]["query"], "x=1")
        self.assertEqual(self.fake.ctl("POST", "/requests/clear")[0], 200)
        self.assertEqual(self.fake.ctl("GET", "/requests")[1], [])

    def test_reset(self):
        dto, ident = self.register()
        self.fake.fault({"status": 500}, path="nomatch")
        self.fake.ctl("POST", "/owners", {"key": "extra", "activation_keys": ["k"]})
        self.assertEqual(self.fake.ctl("POST", "/reset")[0], 200)
        st = self.fake.state()
        self.assertEqual(st["consumers"], [])
        self.assertEqual(sorted(o["key"] for o in st["owners"]), ["acme", "other"])
        self.assertEqual(self.fake.ctl("GET", "/requests")[1], [])
        self.assertEqual(self.fake.ctl("GET", "/faults")[1], [])
        self.assertError(self.fake.api("GET", "/consumers/" + dto["uuid"], cert=ident), 401)

    def test_default_seed_and_add_owner(self):
        st = self.fake.state()
        owners = {o["key"]: o for o in st["owners"]}
        self.assertEqual(owners["acme"]["displayName"], "ACME Corp")
        self.assertEqual(owners["acme"]["contentAccessMode"], "org_environment")
        self.assertEqual(owners["acme"]["activationKeys"], ["hv-key"])
        self.assertEqual(owners["other"]["activationKeys"], ["other-key"])
        users = {u["username"]: u for u in st["users"]}
        self.assertEqual(users["admin"]["owners"], {"acme": ["register"]})
        self.assertEqual(users["viewer"]["owners"], {"acme": []})
        status, o = self.fake.ctl("POST", "/owners", {"key": "new-org", "activation_keys": ["k1", "k2"]})
        self.assertEqual(status, 200, o)
        self.assertEqual(self.fake.ctl("POST", "/owners", {"key": "new-org"})[0], 409)
        self.assertEqual(self.fake.ctl("POST", "/owners", {"key": "bad key!"})[0], 400)
        dto, _ = self.register(owner="new-org", keys="k2")
        self.assertEqual(dto["owner"]["key"], "new-org")
        self.assertEqual(self.fake.ctl("POST", "/consumers/nope/expire", {"days": 1})[0], 404)
        self.assertEqual(self.fake.ctl("GET", "/nothing")[0], 404)

    def test_seed_file(self):
        seed = os.path.join(self.tmp, "seed.json")
        with open(seed, "w") as f:
            json.dump({"owners": [{"key": "o1", "activation_keys": ["a"]}, {"key": "o2"}],
                       "users": [{"username": "multi", "password": "pw",
                                  "owners": {"o1": ["register"], "o2": ["register"]}}]}, f)
        fake = self.start_fake("--seed", seed, state_dir=os.path.join(self.tmp, "seeded"))
        body = {"type": "hypervisor", "name": "x"}
        r = fake.api("POST", "/consumers", body, auth=("multi", "pw"))
        self.assertError(r, 400, "You must specify an organization for new units.")
        self.assertEqual(fake.api("POST", "/consumers?owner=o2", body, auth=("multi", "pw")).status, 200)
        self.assertError(fake.api("POST", "/consumers?owner=acme", body, auth=("admin", "secret")), 401)
        self.assertEqual(fake.ctl("POST", "/reset")[0], 200)
        self.assertEqual(sorted(o["key"] for o in fake.state()["owners"]), ["o1", "o2"])


class Lifecycle(FakeTestCase):
    fresh_pki = True
    fake_args = ("--job-delay", "60")

    def test_sigterm_and_restart_keep_state(self):
        with open(self.fake.ca) as f:
            ca_before = f.read()
        dto, ident = self.register(facts={"dmi.system.uuid": DMI})
        path = "/consumers/" + dto["uuid"]
        self.fake.api("PUT", path, {"guestIds": [{"guestId": "g1", "attributes": {"active": "1"}}]}, cert=ident)
        job = self.fake.api("POST", "/hypervisors/acme", '{"hypervisors": []}', cert=ident,
                            ctype="text/plain").json
        self.fake.ctl("POST", "/consumers/%s/delete" % self.register("gone")[0]["uuid"])
        port = self.fake.port
        rc, took = self.fake.stop()
        self.assertEqual(rc, 0)
        self.assertLess(took, 1.0)
        with open(os.path.join(self.fake.state_dir, "state.json")) as f:
            saved = json.load(f)
        self.assertIn(dto["uuid"], saved["consumers"])

        fake2 = self.start_fake("--port", str(port), "--job-delay", "60",
                                state_dir=self.fake.state_dir)
        self.assertEqual(fake2.port, port)
        with open(fake2.ca) as f:
            self.assertEqual(f.read(), ca_before)
        r = fake2.api("GET", path, cert=ident)     # old identity still trusted
        self.assertEqual(r.status, 200, r)
        self.assertEqual([g["guestId"] for g in r.json["guestIds"]], ["g1"])
        self.assertEqual(len(fake2.state()["deleted"]), 1)
        self.assertEqual(fake2.api("GET", "/jobs/" + job["id"], cert=ident).json["state"], "CREATED")
        fake2.ctl("POST", "/jobs/finish")
        self.assertEqual(fake2.api("GET", "/jobs/" + job["id"], cert=ident).json["state"], "FINISHED")
        again, _ = self.register(facts={"dmi.system.uuid": DMI}, fake=fake2)
        self.assertEqual(again["uuid"], dto["uuid"])


class Satellite(FakeTestCase):
    fake_args = ("--flavour", "satellite")

    def test_satellite_differences(self):
        self.assertTrue(self.fake.url.endswith("/rhsm"))
        self.assertIn("combined_reporting", self.fake.api("GET", "/status").json["managerCapabilities"])
        # hypervisorId is dropped on create ...
        dto, ident = self.register("sat1", facts={"network.hostname": "sat1"},
                                   extra={"hypervisorId": {"hypervisorId": "explicit"}})
        self.assertIsNone(dto["hypervisorId"])
        # ... but still derived from dmi.system.uuid by Candlepin
        d2, ident2 = self.register("sat2", facts={"dmi.system.uuid": DMI, "network.hostname": "sat2"})
        self.assertEqual(d2["hypervisorId"]["hypervisorId"], DMI.lower())
        # PUT answers 200 with a body, drops hypervisorId, applies guestIds and facts
        r = self.fake.api("PUT", "/consumers/" + dto["uuid"],
                          {"guestIds": ["g1"], "facts": {"f": "1"}, "hypervisorId": {"hypervisorId": "x"}},
                          cert=ident)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"content": "Facts successfully updated."})
        st = self.fake.consumer_state(dto["uuid"])
        self.assertEqual([g["guestId"] for g in st["guestIds"]], ["g1"])
        self.assertEqual(st["facts"], {"f": "1"})
        self.assertIsNone(st["hypervisorId"])
        # HEAD /consumers/{uuid}/exists is not routed by Katello: Rails' 404 page
        r = self.fake.api("HEAD", "/consumers/%s/exists" % dto["uuid"], cert=ident)
        self.assertEqual(r.status, 404)
        # create_missing is not forwarded: unknown hypervisors are always created
        r = self.fake.api("POST", "/hypervisors/acme?create_missing=false",
                          '{"hypervisors": [{"hypervisorId": {"hypervisorId": "hv9"}, "guestIds": []}]}',
                          cert=ident, ctype="text/plain")
        self.fake.ctl("POST", "/jobs/finish")
        res = self.fake.api("GET", "/jobs/" + r.json["id"], cert=ident).json["resultData"]
        self.assertEqual(len(res["created"]), 1)
        # candlepin paths are not served under /candlepin
        conn = self.fake.connection()
        conn.request("GET", "/candlepin/status")
        r = conn.getresponse()
        self.assertEqual(r.status, 404)
        self.assertTrue(r.getheader("Content-Type").startswith("text/html"))
        conn.close()


class Prefix(FakeTestCase):
    fake_args = ("--prefix", "/subscription")

    def test_custom_prefix(self):
        self.assertTrue(self.fake.url.endswith("/subscription"))
        self.assertEqual(self.fake.api("GET", "/status").status, 200)
        conn = self.fake.connection()
        conn.request("GET", "/candlepin/status")
        r = conn.getresponse()
        self.assertEqual(r.status, 404)
        r.read()
        conn.close()
        dto, ident = self.register()
        self.assertEqual(self.fake.api("GET", "/consumers/" + dto["uuid"], cert=ident).status, 200)


class ReadmeSession(FakeTestCase):
    def test_readme_curl_session(self):
        if shutil.which("curl") is None:
            self.skipTest("curl is not installed; cannot run the README session")
        with open(os.path.join(HERE, "README.md")) as f:
            text = f.read()
        m = re.search(r"<!-- curl-session:begin -->\s*```sh\n(.*?)```\s*<!-- curl-session:end -->",
                      text, re.S)
        self.assertIsNotNone(m, "README.md lacks the marked curl session")
        script = m.group(1)
        # the session expects the three variables printed by the fake at start-up
        work = os.path.join(self.tmp, "session")
        os.makedirs(work)
        env = dict(os.environ, URL=self.fake.url, CA=self.fake.ca, CONTROL=self.fake.control)
        p = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr.decode() + p.stdout.decode())
        consumers = self.fake.state()["consumers"]
        self.assertEqual(len(consumers), 1)
        c = consumers[0]
        self.assertEqual(c["name"], "kvm01.example.com")
        self.assertEqual(c["type"], "hypervisor")
        self.assertEqual(len(c["guestIds"]), 1)
        self.assertIn(c["guestIds"][0]["guestId"], p.stdout.decode())
        self.assertTrue(os.path.exists(os.path.join(work, "cert.pem")))
