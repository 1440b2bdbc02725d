"""Endpoint tests for fake-candlepin (registration, consumers, guests, auth, jobs).

Run: python3 -m unittest discover -s tests/fake-candlepin -p 'test_*.py' -v
"""

import os
import ssl
import time

from fakecp_harness import FakeTestCase, decode_cert, run

DMI = "4C4C4544-0042-3510-8044-B4C04F393532"


class StatusAndRoot(FakeTestCase):
    def test_startup_lines_and_status(self):
        self.assertEqual([l.split(" ")[0] for l in self.fake.lines],
                         ["URL", "CA", "CONTROL", "PID", "READY"])
        self.assertEqual(self.fake.pid, self.fake.proc.pid)
        self.assertTrue(self.fake.url.startswith("https://127.0.0.1:"))
        self.assertTrue(self.fake.url.endswith("/candlepin"))
        self.assertEqual(self.fake.ca, os.path.join(self.fake.state_dir, "ca", "ca.pem"))
        self.assertEqual(os.listdir(os.path.dirname(self.fake.ca)), ["ca.pem"])
        r = self.fake.api("GET", "/status")
        self.assertEqual(r.status, 200)
        caps = r.json["managerCapabilities"]
        for cap in ("hypervisors_async", "hypervisors_heartbeat", "multi_environment"):
            self.assertIn(cap, caps)
        self.assertNotIn("combined_reporting", caps)
        self.assertEqual(r.json["mode"], "NORMAL")
        self.assertTrue(r.json["result"])
        self.assertTrue(r.headers["x-candlepin-request-uuid"])
        self.assertEqual(r.headers["X-Version"], "5.0.3-1")

    def test_root_resources_has_guestids_rel(self):
        r = self.fake.api("GET", "/")
        self.assertEqual(r.status, 200)
        links = {l["rel"]: l["href"] for l in r.json}
        self.assertEqual(links["guestids"], "/consumers/{consumer_uuid}/guestids")
        self.assertNotIn("guestids", self.fake.api("GET", "/status").json["managerCapabilities"])

    def test_server_cert_names_and_unknown_paths(self):
        out = run(["openssl", "x509", "-in", os.path.join(self.fake.state_dir, "pki", "server.pem"),
                   "-noout", "-ext", "subjectAltName"]).stdout.decode()
        self.assertIn("IP Address:127.0.0.1", out)
        self.assertIn("DNS:localhost", out)
        # hostname verification by name works too
        import http.client
        conn = http.client.HTTPSConnection("localhost", self.fake.port, timeout=10,
                                           context=self.fake.ssl_context())
        conn.request("GET", "/candlepin/status")
        self.assertEqual(conn.getresponse().status, 200)
        conn.close()
        self.assertError(self.fake.api("GET", "/nothing"), 404)
        r = self.fake.api("GET", "/../status".replace("/..", "/x"))
        self.assertEqual(r.status, 404)
        r = self.fake.api("PATCH", "/status")
        self.assertError(r, 405)

    def test_error_follows_accept_header(self):
        r = self.fake.api("GET", "/consumers/nope", headers={"Accept": "text/plain"})
        self.assertEqual(r.status, 401)
        self.assertTrue(r.headers["Content-Type"].startswith("text/plain"))
        self.assertEqual(r.raw, b"Invalid Credentials")


class Registration(FakeTestCase):
    def test_register_by_activation_key(self):
        before = time.time()
        dto, (cert, key) = self.register("kvm01", facts={"hypervisor.type": "QEMU"})
        self.assertEqual(dto["type"]["label"], "hypervisor")
        self.assertEqual(dto["owner"]["key"], "acme")
        self.assertEqual(dto["owner"]["contentAccessMode"], "org_environment")
        self.assertEqual(dto["href"], "/consumers/" + dto["uuid"])
        self.assertIsNone(dto["hypervisorId"])
        self.assertEqual(dto["activationKeys"][0]["activationKeyName"], "hv-key")
        with open(key) as f:
            self.assertTrue(f.read().startswith("-----BEGIN RSA PRIVATE KEY-----"))
        info = decode_cert(cert)
        self.assertIn("CN=" + dto["uuid"], info["subject"])
        self.assertIn("O=acme", info["subject"])
        self.assertEqual(info["serial"], dto["idCert"]["serial"]["serial"])
        self.assertAlmostEqual(info["notBefore"], before - 3600, delta=120)
        self.assertAlmostEqual(info["notAfter"] - info["notBefore"],
                               5 * 365.25 * 86400 + 3600, delta=2 * 86400)
        # the identity works as a TLS client certificate
        r = self.fake.api("GET", "/consumers/" + dto["uuid"], cert=(cert, key))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["idCert"]["serial"]["serial"], info["serial"])
        # serials are unique
        dto2, _ = self.register("kvm02")
        self.assertNotEqual(dto2["idCert"]["serial"]["serial"], info["serial"])
        self.assertNotEqual(dto2["uuid"], dto["uuid"])

    def test_activation_key_errors(self):
        body = {"type": "hypervisor", "name": "h"}
        r = self.fake.api("POST", "/consumers?activation_keys=hv-key", body)
        self.assertError(r, 400, "Must specify an org")
        r = self.fake.api("POST", "/consumers?owner=acme&activation_keys=hv-key&username=admin", body)
        self.assertError(r, 400)
        r = self.fake.api("POST", "/consumers?owner=nope&activation_keys=hv-key", body)
        self.assertError(r, 401, "Organization nope does not exist.")
        r = self.fake.api("POST", "/consumers?owner=acme&activation_keys=wrong,other-key", body)
        self.assertError(r, 401, "None of the activation keys specified exist for this org.")
        # unknown keys are skipped when at least one exists
        r = self.fake.api("POST", "/consumers?owner=acme&activation_keys=wrong,%20hv-key", body)
        self.assertEqual(r.status, 200, r)
        self.assertEqual([k["activationKeyName"] for k in r.json["activationKeys"]], ["hv-key"])
        r = self.fake.api("POST", "/consumers?owner=other&activation_keys=other-key", body)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["owner"]["key"], "other")
        # no credentials at all
        self.assertError(self.fake.api("POST", "/consumers?owner=acme", body), 401)

    def test_register_by_password(self):
        body = {"type": "hypervisor", "name": "pw-host"}
        r = self.fake.api("POST", "/consumers", body, auth=("admin", "secret"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["owner"]["key"], "acme")
        self.assertEqual(r.json["username"], "admin")
        self.assertEqual(r.json["type"]["label"], "hypervisor")   # bare-string type accepted
        r = self.fake.api("POST", "/consumers?owner=acme", body, auth=("admin", "wrong"))
        self.assertError(r, 401, "Invalid Credentials")
        r = self.fake.api("POST", "/consumers?owner=acme", body, auth=("nobody", "x"))
        self.assertError(r, 401)
        r = self.fake.api("POST", "/consumers?owner=acme", body, auth=("viewer", "viewer"))
        self.assertError(r, 403, "viewer is not authorized to register with organization acme")
        r = self.fake.api("POST", "/consumers?owner=other", body, auth=("admin", "secret"))
        self.assertError(r, 404, "owner with key: other was not found.")
        r = self.fake.api("POST", "/consumers?owner=ghost", body, auth=("admin", "secret"))
        self.assertError(r, 400, "Organization ghost does not exist.")
        # a consumer certificate cannot register new consumers
        dto, ident = self.register()
        r = self.fake.api("POST", "/consumers?owner=acme", body, cert=ident)
        self.assertError(r, 403)

    def test_user_owners(self):
        r = self.fake.api("GET", "/users/admin/owners", auth=("admin", "secret"))
        self.assertEqual(r.status, 200)
        self.assertEqual([o["key"] for o in r.json], ["acme"])
        self.assertEqual(r.json[0]["displayName"], "ACME Corp")
        r = self.fake.api("GET", "/users/viewer/owners", auth=("viewer", "viewer"))
        self.assertEqual(r.json, [])
        self.assertError(self.fake.api("GET", "/users/viewer/owners", auth=("admin", "secret")), 403)
        self.assertError(self.fake.api("GET", "/users/admin/owners"), 401)
        self.assertError(self.fake.api("GET", "/users/admin/owners", auth=("admin", "x")), 401)

    def test_body_validation(self):
        url = "/consumers?owner=acme&activation_keys=hv-key"
        self.assertError(self.fake.api("POST", url, {"name": "x"}), 400, "Unit type must be specified.")
        self.assertError(self.fake.api("POST", url, {"name": "x", "type": {"label": "toaster"}}),
                         400, "Invalid unit type: toaster")
        self.assertError(self.fake.api("POST", url, {"name": "#x", "type": "hypervisor"}), 400, "#")
        self.assertError(self.fake.api("POST", url, {"name": "n" * 251, "type": "hypervisor"}), 400)
        r = self.fake.api("POST", url, {"name": "n" * 250, "type": "hypervisor"})
        self.assertEqual(r.status, 200, r)
        # special characters only matter for system/person
        r = self.fake.api("POST", url, {"name": "kvm 01 (lab)*", "type": "hypervisor"})
        self.assertEqual(r.status, 200, r)
        self.assertError(self.fake.api("POST", url, {"name": "kvm 01*", "type": "system"}), 400)
        self.assertError(self.fake.api("POST", url, {"name": "x", "type": "hypervisor",
                                                     "contentAccessMode": "entitlement"}), 400)
        self.assertError(self.fake.api("POST", url, {"name": "x", "type": "hypervisor",
                                                     "guestIds": [None]}), 400)
        self.assertError(self.fake.api("POST", url, {"name": "x", "type": "hypervisor",
                                                     "installedProducts": [{"productName": "p"}]}), 400)
        self.assertError(self.fake.api("POST", url, '{"name": "x", "type": ', ctype="application/json"), 400)
        self.assertError(self.fake.api("POST", url, {"name": "x", "type": "hypervisor"},
                                       ctype="application/x-www-form-urlencoded"), 415)
        # fact sanitising: truncation and case-insensitive duplicates
        r = self.fake.api("POST", url, {"name": "f", "type": "hypervisor",
                                        "facts": {"a": "v" * 300, "K": "1", "k": "2", "n": 5}})
        self.assertEqual(r.status, 200, r)
        facts = r.json["facts"]
        self.assertEqual(facts["a"], "v" * 252 + "...")
        self.assertEqual(len([k for k in facts if k.lower() == "k"]), 1)
        self.assertEqual(facts["n"], "5")
        self.assertEqual(len(self.fake.state()["consumers"]), 3)

    def test_adoption_by_dmi_system_uuid(self):
        dto, ident = self.register("kvm01", facts={"dmi.system.uuid": DMI, "a": "1"})
        self.assertEqual(dto["hypervisorId"]["hypervisorId"], DMI.lower())
        self.assertIsNone(dto["lastCheckin"])       # a new consumer has not checked in
        # same name: the existing certificate and key come back (generateIdCert(c, false))
        same, _ = self.register("kvm01", facts={"dmi.system.uuid": DMI, "b": "2"},
                                extra={"guestIds": ["g1"]})
        self.assertEqual(same["uuid"], dto["uuid"])
        self.assertEqual(same["idCert"]["serial"]["serial"], dto["idCert"]["serial"]["serial"])
        self.assertEqual(same["idCert"]["cert"], dto["idCert"]["cert"])
        self.assertEqual(same["idCert"]["key"], dto["idCert"]["key"])
        self.assertEqual(same["facts"], {"dmi.system.uuid": DMI, "b": "2"})
        self.assertIsNone(same["lastCheckin"])      # updateConsumer called directly: no check-in
        consumers = self.fake.state()["consumers"]
        self.assertEqual(len(consumers), 1)
        self.assertEqual([g["guestId"] for g in consumers[0]["guestIds"]], ["g1"])
        self.assertEqual(self.fake.api("GET", "/consumers/" + dto["uuid"], cert=ident).status, 200)
        # another name: performConsumerUpdates re-issues the certificate (the
        # name is in it); the fake then refuses the old one (see README)
        again, ident2 = self.register("kvm01-renamed", facts={"dmi.system.uuid": DMI})
        self.assertEqual(again["uuid"], dto["uuid"])
        self.assertEqual(again["name"], "kvm01-renamed")
        self.assertNotEqual(again["idCert"]["serial"]["serial"], dto["idCert"]["serial"]["serial"])
        self.assertEqual(self.fake.api("GET", "/consumers/" + dto["uuid"], cert=ident2).status, 200)
        self.assertError(self.fake.api("GET", "/consumers/" + dto["uuid"], cert=ident), 401)
        # the match comes before the type check: a body without a type is adopted too
        r = self.fake.api("POST", "/consumers?owner=acme&activation_keys=hv-key",
                          {"name": "kvm01-renamed", "facts": {"dmi.system.uuid": DMI.lower()}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["uuid"], dto["uuid"])
        self.assertError(self.fake.api("POST", "/consumers?owner=acme&activation_keys=hv-key",
                                       {"name": "x", "facts": {"dmi.system.uuid": "no-match"}}),
                         400, "Unit type must be specified.")
        # a hypervisorId in the body that another consumer uses is refused (updateConsumer)
        self.register("taker", extra={"hypervisorId": {"hypervisorId": "taken-id"}})
        r = self.register("kvm01-renamed", facts={"dmi.system.uuid": DMI},
                          extra={"hypervisorId": {"hypervisorId": "taken-id"}}, expect=400)
        self.assertError(r, 400, "Hypervisor id: taken-id is already used.")
        # a guest (virt.is_guest=true) is not adopted: new consumer, no hypervisorId
        g, _ = self.register("guest", facts={"dmi.system.uuid": DMI, "virt.is_guest": "true"})
        self.assertNotEqual(g["uuid"], dto["uuid"])
        self.assertIsNone(g["hypervisorId"])
        # adoption works with Basic auth too, and keeps an existing system type
        s, _ = self.register("sys", type_="system", facts={"dmi.system.uuid": "AAAA-1"})
        r = self.fake.api("POST", "/consumers?owner=acme", {
            "type": "hypervisor", "name": "sys", "facts": {"dmi.system.uuid": "aaaa-1"}},
            auth=("admin", "secret"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["uuid"], s["uuid"])
        self.assertEqual(r.json["type"]["label"], "system")
        # same dmi uuid in another org is a different consumer
        o, _ = self.register("kvm01", owner="other", keys="other-key", facts={"dmi.system.uuid": DMI})
        self.assertNotEqual(o["uuid"], dto["uuid"])

    def test_duplicate_hypervisor_id_without_adoption(self):
        dto, _ = self.register("a", extra={"hypervisorId": {"hypervisorId": "HV-1"}})
        self.assertEqual(dto["hypervisorId"]["hypervisorId"], "hv-1")
        r = self.register("b", extra={"hypervisorId": {"hypervisorId": "hv-1"}}, expect=400)
        self.assertError(r, 400, "Problem creating unit")
        r = self.register("c", facts={"dmi.system.uuid": "other"},
                          extra={"hypervisorId": {"hypervisorId": "Hv-1"}}, expect=400)
        self.assertError(r, 400)
        self.assertEqual(len(self.fake.state()["consumers"]), 1)

    def test_adopts_checkin_created_consumer_and_gives_it_a_cert(self):
        dto, ident = self.register("reporter")
        r = self.fake.api("POST", "/hypervisors/acme", '{"hypervisors": [{"hypervisorId": '
                          '{"hypervisorId": "%s"}, "guestIds": []}]}' % DMI, cert=ident,
                          ctype="text/plain")
        self.assertEqual(r.status, 200, r)
        self.fake.ctl("POST", "/jobs/finish")
        created = [c for c in self.fake.state()["consumers"] if c["hypervisorId"] == DMI.lower()]
        self.assertEqual(len(created), 1)
        self.assertIsNone(created[0]["serial"])
        again, ident2 = self.register("self", facts={"dmi.system.uuid": DMI})
        self.assertEqual(again["uuid"], created[0]["uuid"])
        self.assertIsNotNone(again["idCert"])
        self.assertEqual(self.fake.api("GET", "/consumers/" + again["uuid"], cert=ident2).status, 200)


class ConsumerUpdates(FakeTestCase):
    def test_put_guest_ids_replaces_list(self):
        dto, ident = self.register()
        uuid = dto["uuid"]
        path = "/consumers/" + uuid
        r = self.fake.api("PUT", path, {"guestIds": [
            {"guestId": "G-A", "state": 1, "attributes": {"virtWhoType": "libvirt", "active": 1}},
            "g-b"]}, cert=ident)
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.raw, b"")
        st = self.fake.consumer_state(uuid)
        self.assertEqual([(g["guestId"], g["attributes"]) for g in st["guestIds"]],
                         [("G-A", {"virtWhoType": "libvirt", "active": "1"}), ("g-b", {})])
        ids_before = {g["guestId"]: g["id"] for g in self.fake.api("GET", path + "/guestids", cert=ident).json}
        r = self.fake.api("PUT", path, {"guestIds": [{"guestId": "g-a", "attributes": {}},
                                                     {"guestId": "G-C"}]}, cert=ident)
        self.assertEqual(r.status, 204)
        st = self.fake.consumer_state(uuid)
        self.assertEqual([g["guestId"] for g in st["guestIds"]], ["g-a", "G-C"])
        # an unrelated update leaves guests alone; [] removes them all
        self.fake.api("PUT", path, {"facts": {"x": "1"}}, cert=ident)
        self.assertEqual(len(self.fake.consumer_state(uuid)["guestIds"]), 2)
        self.fake.api("PUT", path, {"guestIds": []}, cert=ident)
        self.assertEqual(self.fake.consumer_state(uuid)["guestIds"], [])
        # the GET /guestids view has ids but no attributes
        self.fake.api("PUT", path, {"guestIds": [{"guestId": "g-b", "attributes": {"a": "b"}}]}, cert=ident)
        listing = self.fake.api("GET", path + "/guestids", cert=ident).json
        self.assertEqual([g["guestId"] for g in listing], ["g-b"])
        self.assertNotIn("attributes", listing[0])
        self.assertNotEqual(listing[0]["id"], ids_before["g-b"])   # attributes changed: new guest
        self.assertError(self.fake.api("PUT", path, {"guestIds": [None]}, cert=ident), 400)
        self.assertError(self.fake.api("PUT", path, {"guestIds": [{"guestId": "x" * 256}]}, cert=ident), 400)

    def test_put_facts_replace_checkin_and_hypervisor_id(self):
        dto, ident = self.register(facts={"a": "1", "b": "2"})
        other, _ = self.register("other", extra={"hypervisorId": {"hypervisorId": "taken"}})
        path = "/consumers/" + dto["uuid"]
        self.assertIsNone(self.fake.consumer_state(dto["uuid"])["lastCheckin"])
        before = time.time()
        r = self.fake.api("PUT", path, {"facts": {"c": "3"}, "name": "new-name"}, cert=ident)
        self.assertEqual(r.status, 204, r)
        st = self.fake.consumer_state(dto["uuid"])
        self.assertEqual(st["facts"], {"c": "3"})
        self.assertEqual(st["name"], "new-name")
        self.assertGreaterEqual(st["lastCheckin"], before)      # ConsumerCheckInFilter
        self.assertEqual(self.fake.api("GET", path, cert=ident).status, 401,
                         "a new name re-issues the certificate")
        ident = self.identity(self.fake.api("GET", path, auth=("admin", "secret")).json, "renamed")
        # a user's PUT is no check-in; a lastCheckin in the body is applied
        checked = self.fake.consumer_state(dto["uuid"])["lastCheckin"]
        self.assertEqual(self.fake.api("PUT", path, {"guestIds": []}, auth=("admin", "secret")).status, 204)
        self.assertEqual(self.fake.consumer_state(dto["uuid"])["lastCheckin"], checked)
        r = self.fake.api("PUT", path, {"lastCheckin": "2020-01-02T03:04:05+0000"}, auth=("admin", "secret"))
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.fake.consumer_state(dto["uuid"])["lastCheckin"], 1577934245)
        self.assertEqual(self.fake.api("GET", path, auth=("admin", "secret")).json["lastCheckin"],
                         "2020-01-02T03:04:05+0000")
        self.assertError(self.fake.api("PUT", path, {"lastCheckin": "yesterday"}, cert=ident), 400)
        r = self.fake.api("PUT", path, {"hypervisorId": {"hypervisorId": "TAKEN"}}, cert=ident)
        self.assertError(r, 400, "Hypervisor id: taken is already used.")
        r = self.fake.api("PUT", path, {"hypervisorId": {"hypervisorId": "Mine"}}, cert=ident)
        self.assertEqual(r.status, 204)
        self.assertEqual(self.fake.consumer_state(dto["uuid"])["hypervisorId"], "mine")
        r = self.fake.api("PUT", path, {"hypervisorId": {"hypervisorId": ""}}, cert=ident)
        self.assertIsNone(self.fake.consumer_state(dto["uuid"])["hypervisorId"])
        self.assertError(self.fake.api("PUT", path, {"name": "#bad"}, cert=ident), 400)
        self.assertError(self.fake.api("PUT", path, {"facts": {}}, cert=ident, ctype="text/plain"), 415)
        self.assertError(self.fake.api("PUT", path, b"[1,", cert=ident), 400)
        # users: admin may update, viewer (no register right) may read but not write
        self.assertEqual(self.fake.api("PUT", path, {"facts": {}}, auth=("admin", "secret")).status, 204)
        self.assertEqual(self.fake.api("GET", path, auth=("viewer", "viewer")).status, 200)
        self.assertError(self.fake.api("PUT", path, {"facts": {}}, auth=("viewer", "viewer")), 403)

    def test_guestids_endpoints(self):
        dto, ident = self.register()
        base = "/consumers/%s/guestids" % dto["uuid"]
        before = self.fake.consumer_state(dto["uuid"])["lastCheckin"]
        r = self.fake.api("PUT", base, ["g1", {"guestId": "g2", "attributes": {"active": "0"}}], cert=ident)
        self.assertEqual(r.status, 204, r)
        st = self.fake.consumer_state(dto["uuid"])
        self.assertEqual([g["guestId"] for g in st["guestIds"]], ["g1", "g2"])
        self.assertEqual(st["lastCheckin"], before)     # not a check-in
        r = self.fake.api("GET", base + "/G2", cert=ident)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json["attributes"], {"active": "0"})
        self.assertError(self.fake.api("GET", base + "/nope", cert=ident), 404)
        self.assertEqual(self.fake.api("PUT", base + "/g3", {"guestId": "G3", "attributes": {"x": "y"}},
                                       cert=ident).status, 204)
        self.assertError(self.fake.api("PUT", base + "/g3", {"guestId": "g4"}, cert=ident), 400)
        self.assertEqual(self.fake.api("DELETE", base + "/g1", cert=ident).status, 204)
        self.assertError(self.fake.api("DELETE", base + "/g1", cert=ident), 404)
        self.assertEqual([g["guestId"] for g in self.fake.api("GET", base, cert=ident).json], ["g2", "g3"])
        self.assertError(self.fake.api("PUT", base, {"not": "a list"}, cert=ident), 400)

    def test_regenerate_and_reissue_near_expiry(self):
        dto, ident = self.register()
        path = "/consumers/" + dto["uuid"]
        serial0 = dto["idCert"]["serial"]["serial"]
        r = self.fake.api("POST", path, cert=ident)
        self.assertEqual(r.status, 200, r)
        serial1 = r.json["idCert"]["serial"]["serial"]
        self.assertNotEqual(serial1, serial0)
        self.assertNotEqual(r.json["idCert"]["key"], dto["idCert"]["key"])
        new_ident = self.identity(r.json)
        # the replaced certificate no longer authenticates
        self.assertError(self.fake.api("GET", path, cert=ident), 401)
        self.assertEqual(self.fake.api("GET", path, cert=new_ident).json["idCert"]["serial"]["serial"], serial1)
        # 200 days left: no reissue
        status, view = self.fake.ctl("POST", "/consumers/%s/expire" % dto["uuid"], {"days": 200})
        self.assertEqual(status, 200, view)
        self.assertEqual(view["serial"], serial1)
        self.assertAlmostEqual(view["certExpiration"], time.time() + 200 * 86400, delta=120)
        r = self.fake.api("GET", path, cert=new_ident)
        self.assertEqual(r.json["idCert"]["serial"]["serial"], serial1)
        info = decode_cert(self.identity(r.json, "after-expire")[0])
        self.assertAlmostEqual(info["notAfter"], time.time() + 200 * 86400, delta=120)
        # 30 days left: GET reissues
        self.fake.ctl("POST", "/consumers/%s/expire" % dto["uuid"], {"days": 30})
        r = self.fake.api("GET", path, cert=new_ident)
        self.assertEqual(r.status, 200)
        serial2 = r.json["idCert"]["serial"]["serial"]
        self.assertNotIn(serial2, (serial0, serial1))
        info = decode_cert(self.identity(r.json)[0])
        self.assertGreater(info["notAfter"], time.time() + 4 * 365 * 86400)
        self.assertEqual(self.fake.consumer_state(dto["uuid"])["serial"], serial2)

    def test_delete_gives_410_with_deleted_id(self):
        dto, ident = self.register()
        uuid = dto["uuid"]
        r = self.fake.api("DELETE", "/consumers/" + uuid, cert=ident)
        self.assertEqual(r.status, 204, r)
        for method, path, body in (("GET", "/consumers/" + uuid, None),
                                   ("PUT", "/consumers/" + uuid, {"guestIds": []}),
                                   ("POST", "/hypervisors/acme", None),
                                   ("GET", "/consumers/%s/guestids" % uuid, None)):
            r = self.fake.api(method, path, body, cert=ident)
            self.assertError(r, 410, "Unit %s has been deleted" % uuid, deleted_id=uuid)
        rec = self.fake.state()["deleted"]
        self.assertEqual([d["consumerUuid"] for d in rec], [uuid])
        # a user looking the deleted uuid up gets 410 + deletedId from the lookup
        self.assertError(self.fake.api("GET", "/consumers/" + uuid, auth=("admin", "secret")),
                         410, deleted_id=uuid)
        # deleting again: 410 without deletedId
        self.assertError(self.fake.api("DELETE", "/consumers/" + uuid, auth=("admin", "secret")),
                         410, deleted_id=None)
        # never existed: 404
        self.assertError(self.fake.api("GET", "/consumers/0000-none", auth=("admin", "secret")), 404)
        # admin-side deletion through the control API
        dto2, ident2 = self.register("two")
        self.assertEqual(self.fake.ctl("POST", "/consumers/%s/delete" % dto2["uuid"])[0], 200)
        self.assertError(self.fake.api("GET", "/consumers/" + dto2["uuid"], cert=ident2), 410,
                         deleted_id=dto2["uuid"])

    def test_exists_probe(self):
        dto, ident = self.register()
        path = "/consumers/%s/exists" % dto["uuid"]
        self.assertEqual(self.fake.api("HEAD", path, cert=ident).status, 204)
        self.assertEqual(self.fake.api("HEAD", "/consumers/nope/exists", auth=("admin", "secret")).status, 404)
        self.fake.ctl("POST", "/consumers/%s/delete" % dto["uuid"])
        self.assertEqual(self.fake.api("HEAD", path, auth=("admin", "secret")).status, 410)


class ClientCertificates(FakeTestCase):
    def test_no_cert_is_401_and_other_consumers_cert_is_403(self):
        a, ident_a = self.register("a")
        b, ident_b = self.register("b")
        for method, suffix, body in (("GET", "", None), ("PUT", "", {"guestIds": []}),
                                     ("POST", "", None), ("DELETE", "", None),
                                     ("GET", "/guestids", None), ("PUT", "/guestids", [])):
            path = "/consumers/" + b["uuid"] + suffix
            self.assertError(self.fake.api(method, path, body), 401, "Invalid Credentials")
            self.assertError(self.fake.api(method, path, body, cert=ident_a), 403,
                             "Insufficient permissions")
        # nothing was changed by the refused calls
        self.assertIsNotNone(self.fake.consumer_state(b["uuid"]))
        self.assertEqual(self.fake.api("GET", "/consumers/" + b["uuid"], cert=ident_b).status, 200)
        # the request log names the client certificate
        reqs = self.fake.ctl("GET", "/requests")[1]
        self.assertEqual(reqs[-1]["client_cn"], b["uuid"])
        self.assertIsNone(reqs[1]["client_cn"])

    def test_cert_from_foreign_ca_is_rejected_in_handshake(self):
        d = os.path.join(self.tmp, "foreign")
        os.makedirs(d)
        cert, key = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
             "-out", cert, "-days", "30", "-subj", "/CN=intruder/O=acme"])
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            self.fake.api("GET", "/status", cert=(cert, key))
        self.assertEqual(self.fake.api("GET", "/status").status, 200)


class Hypervisors(FakeTestCase):
    fake_args = ("--job-delay", "60")

    def checkin(self, ident, hypervisors, query="", ctype="text/plain", owner="acme"):
        import json
        body = json.dumps({"hypervisors": hypervisors})
        return self.fake.api("POST", "/hypervisors/%s%s" % (owner, query), body, cert=ident, ctype=ctype)

    def test_checkin_requires_text_plain_and_valid_mapping(self):
        dto, ident = self.register()
        self.assertError(self.checkin(ident, [], ctype="application/json"), 415)
        self.assertError(self.fake.api("POST", "/hypervisors/acme", "", cert=ident, ctype="text/plain"),
                         400, "Host to guest mapping was not provided")
        for bad in ("{}", '{"x": 1}', "[1]", "not json", '{"hypervisors": 3}',
                    '{"hypervisors": [{"hypervisorId": {"hypervisorId": "h"}, "guestIds": ["g1"]}]}'):
            r = self.fake.api("POST", "/hypervisors/acme", bad, cert=ident, ctype="text/plain")
            self.assertError(r, 400)
        self.assertEqual(self.fake.state()["jobs"], [])
        self.assertError(self.checkin(None, []), 401)
        self.assertError(self.checkin(ident, [], owner="ghost"), 404)
        self.assertError(self.checkin(ident, [], owner="other"), 403, "Insufficient permissions")
        o, ident_o = self.register("o", owner="other", keys="other-key")
        self.assertError(self.checkin(ident_o, [], owner="acme"), 403)
        self.assertError(self.fake.api("POST", "/hypervisors/acme", "{}", ctype="text/plain",
                                       auth=("admin", "secret")), 400)

    def test_job_blocking_and_reconcile(self):
        sysc, sys_ident = self.register("sys1", type_="system", facts={"dmi.system.uuid": "SYS-1"})
        dto, ident = self.register("reporter")
        self.assertIsNone(self.fake.consumer_state(dto["uuid"])["lastCheckin"])
        before = time.time()
        r = self.checkin(ident, [
            {"hypervisorId": {"hypervisorId": "NEW-1"}, "name": "new one",
             "guestIds": [{"guestId": "g1", "state": 1, "attributes": {"active": 1}}],
             "facts": {"hypervisor.type": "QEMU"}},
            {"hypervisorId": {"hypervisorId": "sys-1"},
             "guestIds": [{"guestId": "g2", "attributes": {}}, {"guestId": ""}]},
            {"hypervisorId": {"hypervisorId": ""}, "guestIds": []},
            {"name": "no id at all"},
        ], query="?reporter_id=rep-1&env=x&cloaked=False")
        self.assertEqual(r.status, 200, r)
        job = r.json
        self.assertEqual(job["state"], "CREATED")
        self.assertEqual(job["key"], "HypervisorUpdateJob")
        self.assertEqual(job["statusPath"], "/jobs/" + job["id"])
        self.assertEqual(job["principal"], dto["uuid"])
        self.assertGreaterEqual(self.fake.consumer_state(dto["uuid"])["lastCheckin"], before)
        # a second check-in for the same org while the first is queued is blocked
        r2 = self.checkin(sys_ident, [])
        self.assertEqual(r2.status, 200)
        self.assertEqual(r2.json["state"], "FAILED")
        self.assertEqual(r2.json["resultData"],
                         "Job blocked by the following existing jobs: " + job["id"])
        # another org is not blocked
        o, ident_o = self.register("o", owner="other", keys="other-key")
        self.assertEqual(self.checkin(ident_o, [], owner="other").json["state"], "CREATED")
        # only the starting consumer may read the job
        self.assertEqual(self.fake.api("GET", "/jobs/" + job["id"], cert=ident).json["state"], "CREATED")
        self.assertError(self.fake.api("GET", "/jobs/" + job["id"], cert=sys_ident), 403)
        self.assertError(self.fake.api("GET", "/jobs/" + job["id"]), 401)
        self.assertError(self.fake.api("GET", "/jobs/nope", cert=ident), 404)
        self.assertEqual(self.fake.api("GET", "/jobs/" + r2.json["id"], cert=sys_ident).json["state"], "FAILED")
        self.assertEqual(self.fake.api("GET", "/jobs/" + job["id"], auth=("admin", "secret")).status, 200)
        # finish it
        status, fin = self.fake.ctl("POST", "/jobs/finish")
        self.assertIn(job["id"], fin["finished"])
        done = self.fake.api("GET", "/jobs/" + job["id"] + "?result_data=True", cert=ident).json
        self.assertEqual(done["state"], "FINISHED")
        res = done["resultData"]
        self.assertEqual([c["name"] for c in res["created"]], ["new one"])
        self.assertEqual([c["uuid"] for c in res["updated"]], [sysc["uuid"]])
        self.assertEqual(res["unchanged"], [])
        self.assertEqual(res["failedUpdate"], [])
        self.assertEqual(res["created"][0]["owner"]["key"], "acme")
        new = self.fake.consumer_state(res["created"][0]["uuid"])
        self.assertEqual(new["type"], "hypervisor")
        self.assertEqual(new["hypervisorId"], "new-1")
        self.assertEqual(new["reporterId"], "rep-1")
        self.assertEqual(new["facts"], {"hypervisor.type": "QEMU"})
        self.assertEqual(new["guestIds"], [{"guestId": "g1", "attributes": {"active": "1"}}])
        self.assertIsNone(new["serial"])
        s = self.fake.consumer_state(sysc["uuid"])
        self.assertEqual(s["type"], "hypervisor")     # type forced
        self.assertEqual([g["guestId"] for g in s["guestIds"]], ["g2"])
        self.assertEqual(s["facts"], {"dmi.system.uuid": "SYS-1"})   # no facts sent: kept
        # the system's cert still works after the type change
        self.assertEqual(self.fake.api("GET", "/consumers/" + sysc["uuid"], cert=sys_ident).status, 200)
        # same report again: unchanged; now allowed because nothing is queued for acme
        r3 = self.checkin(ident, [{"hypervisorId": {"hypervisorId": "new-1"}, "name": "new one",
                                   "guestIds": [{"guestId": "G1", "attributes": {"active": "1"}}],
                                   "facts": {"hypervisor.type": "QEMU"}},
                                  {"hypervisorId": {"hypervisorId": "absent"}}],
                          query="?reporter_id=rep-1&create_missing=false")
        self.assertEqual(r3.json["state"], "CREATED")
        self.fake.ctl("POST", "/jobs/finish")
        res = self.fake.api("GET", "/jobs/" + r3.json["id"], cert=ident).json["resultData"]
        self.assertEqual([c["name"] for c in res["unchanged"]], ["new one"])
        self.assertEqual(res["created"], [])
        self.assertEqual(len(res["failedUpdate"]), 1)
        self.assertTrue(res["failedUpdate"][0].startswith("absent: "))
        self.assertEqual(len([c for c in self.fake.state()["consumers"] if c["hypervisorId"] == "absent"]), 0)
        # an empty report finishes with nothing done
        r4 = self.checkin(ident, [])
        self.fake.ctl("POST", "/jobs/finish")
        res = self.fake.api("GET", "/jobs/" + r4.json["id"], cert=ident).json["resultData"]
        self.assertEqual(res, {"created": [], "updated": [], "unchanged": [], "failedUpdate": []})
        # cancel a queued job
        r5 = self.checkin(ident, [])
        c = self.fake.api("DELETE", "/jobs/" + r5.json["id"], cert=ident)
        self.assertEqual(c.json["state"], "CANCELED")
        self.assertError(self.fake.api("DELETE", "/jobs/" + r5.json["id"], cert=ident), 400)
        self.assertEqual(self.checkin(ident, []).json["state"], "CREATED")

    def test_heartbeat(self):
        dto, ident = self.register()
        self.checkin(ident, [{"hypervisorId": {"hypervisorId": "h1"}, "guestIds": []}],
                     query="?reporter_id=rep")
        self.fake.ctl("POST", "/jobs/finish")
        h1 = [c for c in self.fake.state()["consumers"] if c["hypervisorId"] == "h1"][0]
        self.assertError(self.fake.api("PUT", "/hypervisors/acme/heartbeat", cert=ident), 400)
        self.assertError(self.fake.api("PUT", "/hypervisors/acme/heartbeat?reporter_id=", cert=ident), 400)
        self.assertError(self.fake.api("PUT", "/hypervisors/ghost/heartbeat?reporter_id=rep", cert=ident), 404)
        self.assertError(self.fake.api("PUT", "/hypervisors/acme/heartbeat?reporter_id=rep"), 401)
        r = self.fake.api("PUT", "/hypervisors/acme/heartbeat?reporter_id=rep", cert=ident)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["key"], "HypervisorHeartbeatUpdateJob")
        blocked = self.fake.api("PUT", "/hypervisors/acme/heartbeat?reporter_id=rep", cert=ident).json
        self.assertEqual(blocked["state"], "FAILED")
        self.assertIn(r.json["id"], blocked["resultData"])
        other = self.fake.api("PUT", "/hypervisors/acme/heartbeat?reporter_id=rep2", cert=ident).json
        self.assertEqual(other["state"], "CREATED")
        self.fake.ctl("POST", "/jobs/finish")
        self.assertEqual(self.fake.api("GET", "/jobs/" + r.json["id"], cert=ident).json["state"], "FINISHED")
        self.assertGreater(self.fake.consumer_state(h1["uuid"])["lastCheckin"], h1["lastCheckin"])


class JobsCompleteByThemselves(FakeTestCase):
    fake_args = ("--job-delay", "0.3")

    def test_job_delay(self):
        dto, ident = self.register()
        r = self.fake.api("POST", "/hypervisors/acme", '{"hypervisors": []}', cert=ident, ctype="text/plain")
        self.assertEqual(r.json["state"], "CREATED")
        done = self.wait_for(lambda: self.fake.api("GET", "/jobs/" + r.json["id"], cert=ident)
                             .json["state"] == "FINISHED", timeout=10, what="job to finish")
        self.assertTrue(done)
        job = self.fake.api("GET", "/jobs/" + r.json["id"], cert=ident).json
        self.assertEqual(job["previousState"], "RUNNING")
        self.assertIsNotNone(job["startTime"])
        self.assertIsNotNone(job["endTime"])
