"""What fake-candlepin models of the real servers (protocol spec section 9):
Katello's /rhsm proxy, check-ins by certificate serials, job outcomes and a
host already registered by subscription-manager.

Run: python3 -m unittest discover -s tests/fake-candlepin -p 'test_*.py' -v
"""

import json
import os
import stat
import time

from fakecp_harness import FakeTestCase, decode_cert

DMI = "4C4C4544-0042-3510-8044-B4C04F393532"
HOSTFACTS = {"network.hostname": "kvm01", "network.fqdn": "kvm01.example.com", "dmi.system.uuid": DMI}


def text_error(test, r, status, message=None, deleted_id=None):
    """A Candlepin error re-rendered by Katello: its JSON body, as text/plain."""
    test.assertEqual(r.status, status, r)
    test.assertTrue(r.headers["Content-Type"].startswith("text/plain"), r.headers["Content-Type"])
    body = json.loads(r.raw)
    if message is not None:
        test.assertIn(message, body["displayMessage"])
    if deleted_id is not None:
        test.assertEqual(body.get("deletedId"), deleted_id)
    return body


class SatelliteRegistration(FakeTestCase):
    fake_args = ("--flavour", "satellite")

    def test_network_hostname_is_required(self):
        # propose_existing_hostname: facts["network.hostname"].downcase
        r = self.register("kvm01", facts={"dmi.system.uuid": DMI}, expect=500)
        self.assertEqual(r.json, {"displayMessage": "undefined method `downcase' for nil:NilClass",
                                  "errors": ["undefined method `downcase' for nil:NilClass"]})
        self.assertNotIn("x-candlepin-request-uuid", r.headers)
        # no facts at all
        r = self.fake.api("POST", "/consumers?owner=acme&activation_keys=hv-key",
                          {"type": {"label": "hypervisor"}, "name": "kvm01"})
        self.assertEqual(r.status, 500)
        self.assertEqual(r.json["displayMessage"], "undefined method `[]' for nil:NilClass")
        # Katello's own errors are text/plain unless JSON is asked for
        r = self.fake.api("POST", "/consumers?owner=acme&activation_keys=hv-key",
                          {"type": "hypervisor", "name": "kvm01", "facts": {}}, headers={"Accept": "*/*"})
        self.assertEqual(r.status, 500)
        self.assertEqual(r.raw, b"undefined method `downcase' for nil:NilClass")
        self.assertEqual(self.fake.state()["consumers"], [])
        self.assertEqual(self.fake.state()["hosts"], [])

    def test_host_named_from_facts_and_katello_errors(self):
        dto, ident = self.register("consumer-name", facts=dict(HOSTFACTS, **{"network.fqdn": "KVM01.Example.COM"}))
        self.assertEqual(dto["name"], "consumer-name")
        st = self.fake.consumer_state(dto["uuid"])
        self.assertEqual(st["hostName"], "kvm01.example.com")     # network.fqdn first, lower case
        self.assertIsNone(st["hostLastCheckin"])
        hosts = self.fake.state()["hosts"]
        self.assertEqual([(h["name"], h["consumerUuid"], h["dmiUuid"]) for h in hosts],
                         [("kvm01.example.com", dto["uuid"], DMI)])
        # without fqdn: hostname-override, then hostname; "localhost" is skipped
        d2, _ = self.register("b", facts={"network.hostname": "node2", "network.fqdn": "localhost",
                                          "network.hostname-override": ""})
        self.assertEqual(self.fake.consumer_state(d2["uuid"])["hostName"], "node2")
        # activation keys and orgs are Katello's: every key must exist
        r = self.fake.api("POST", "/consumers?owner=acme&activation_keys=hv-key,nope",
                          {"type": "hypervisor", "name": "x", "facts": {"network.hostname": "x"}})
        self.assertEqual((r.status, r.json["displayMessage"]), (404, "Couldn't find activation key 'nope'"))
        r = self.fake.api("POST", "/consumers?owner=ghost&activation_keys=hv-key",
                          {"type": "hypervisor", "name": "x", "facts": {"network.hostname": "x"}})
        self.assertEqual((r.status, r.json["displayMessage"]), (404, "Couldn't find Organization 'ghost'."))
        # Candlepin's own validation errors come back as text/plain JSON
        r = self.fake.api("POST", "/consumers?owner=acme&activation_keys=hv-key",
                          {"type": "bogus", "name": "x", "facts": {"network.hostname": "x"}})
        text_error(self, r, 400, "Invalid unit type: bogus")

    def test_reregistration_and_dmi_check(self):
        dto, ident = self.register("kvm01", facts=HOSTFACTS)
        # the same host registers again: Katello unregisters the old one
        # (its consumer is deleted) and Candlepin makes a new consumer
        again, ident2 = self.register("kvm01", facts=HOSTFACTS)
        self.assertNotEqual(again["uuid"], dto["uuid"])
        r = self.fake.api("GET", "/consumers/" + dto["uuid"], cert=ident)
        text_error(self, r, 410, "has been deleted", deleted_id=dto["uuid"])
        self.assertEqual([h["name"] for h in self.fake.state()["hosts"]], ["kvm01.example.com"])
        # the same DMI UUID under another name is refused (validate_hosts)
        r = self.register("other", facts=dict(HOSTFACTS, **{"network.fqdn": "other.example.com",
                                                             "network.hostname": "other"}), expect=422)
        self.assertEqual(r.json["displayMessage"], "The DMI UUID of this host (%s) matches other "
                         "registered hosts: kvm01.example.com" % DMI)
        # a name registered in another org
        r = self.register("kvm01", owner="other", keys="other-key", facts=HOSTFACTS, expect=422)
        self.assertIn("currently registered to a different org", r.json["displayMessage"])
        self.assertEqual(len(self.fake.state()["consumers"]), 1)

    def test_facts_action_serials_and_unregister(self):
        dto, ident = self.register("kvm01", facts=HOSTFACTS)
        uuid = dto["uuid"]
        path = "/consumers/" + uuid
        # facts: Katello's whitelist only, as Katello's user: no check-in anywhere
        r = self.fake.api("PUT", path, {"facts": {"network.hostname": "kvm01", "x": "1"},
                                        "guestIds": ["g1"], "hypervisorId": {"hypervisorId": "hv"},
                                        "installedProducts": []}, cert=ident)
        self.assertEqual((r.status, r.json), (200, {"content": "Facts successfully updated."}))
        st = self.fake.consumer_state(uuid)
        self.assertEqual(st["facts"], {"network.hostname": "kvm01", "x": "1"})
        self.assertEqual(st["hypervisorId"], DMI.lower())
        self.assertIsNone(st["lastCheckin"])
        self.assertIsNone(st["hostLastCheckin"])
        host = self.fake.state()["hosts"][0]
        self.assertEqual(host["facts"], {"network.hostname": "kvm01", "x": "1"})  # replaced
        # serials: the host checks in on Satellite; Candlepin is asked as Katello
        before = time.time()
        r = self.fake.api("GET", path + "/certificates/serials", cert=ident)
        self.assertEqual((r.status, r.json), (200, []))
        st = self.fake.consumer_state(uuid)
        self.assertGreaterEqual(st["hostLastCheckin"], before)
        self.assertIsNone(st["lastCheckin"])
        # another consumer's certificate may not
        other, ident_o = self.register("o", facts={"network.hostname": "o"})
        r = self.fake.api("GET", path + "/certificates/serials", cert=ident_o)
        self.assertEqual((r.status, r.json["displayMessage"]), (403, "Access denied"))
        # the check-in action sets both
        r = self.fake.api("PUT", path + "/checkin?date=2021-05-06T07:08:09Z", cert=ident)
        self.assertEqual(r.status, 200, r)
        st = self.fake.consumer_state(uuid)
        self.assertEqual((st["lastCheckin"], st["hostLastCheckin"]), (1620284889, 1620284889))
        # unregister: a user may not (authorize_client); the consumer may; the host record stays
        r = self.fake.api("DELETE", path, auth=("admin", "secret"))
        self.assertEqual(r.status, 403)
        self.assertEqual(self.fake.api("DELETE", path, cert=ident).status, 204)
        hosts = {h["name"]: h for h in self.fake.state()["hosts"]}
        self.assertIsNone(hosts["kvm01.example.com"]["consumerUuid"])
        text_error(self, self.fake.api("GET", path, cert=ident), 410, deleted_id=uuid)
        text_error(self, self.fake.api("PUT", path, {"facts": {}}, cert=ident), 410, deleted_id=uuid)
        # routes Katello does not have
        for method, p in (("DELETE", "/jobs/x"), ("HEAD", path + "/exists"), ("PATCH", path),
                          ("GET", "/owners/acme/consumers")):
            r = self.fake.api(method, p, cert=ident_o)
            self.assertEqual(r.status, 404, (method, p))

    def test_checkin_renames_host(self):
        dto, ident = self.register("kvm01", facts=HOSTFACTS)
        body = json.dumps({"hypervisors": [{"hypervisorId": {"hypervisorId": DMI},
                                            "name": "kvm01.example.com", "guestIds": []}]})
        r = self.fake.api("POST", "/hypervisors/acme", body, cert=ident, ctype="text/plain")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["principal"], "foreman_admin")
        self.fake.ctl("POST", "/jobs/finish")
        job = self.fake.api("GET", "/jobs/" + r.json["id"], cert=ident).json
        self.assertEqual(job["state"], "FINISHED")
        self.assertEqual([c["uuid"] for c in job["resultData"]["unchanged"] + job["resultData"]["updated"]],
                         [dto["uuid"]])
        st = self.fake.consumer_state(dto["uuid"])
        # HypervisorsUpdate#update_host_name; acme is Foreman organization 1
        self.assertEqual(st["hostName"], "virt-who-%s-1" % DMI.lower())
        self.assertIsNotNone(st["hostLastCheckin"])
        self.assertEqual(st["reporterId"], "")       # an absent reporter_id is forwarded empty
        # re-registering by its real name now fails the DMI check
        r = self.register("kvm01", facts=HOSTFACTS, expect=422)
        self.assertIn("matches other registered hosts: virt-who-%s-1" % DMI.lower(), r.json["displayMessage"])


class Serials(FakeTestCase):
    def test_serials_is_a_checkin(self):
        dto, ident = self.register("kvm01", facts={"dmi.system.uuid": DMI})
        path = "/consumers/%s/certificates/serials" % dto["uuid"]
        self.assertIsNone(self.fake.consumer_state(dto["uuid"])["lastCheckin"])
        r = self.fake.api("GET", path, auth=("admin", "secret"))
        self.assertEqual((r.status, r.json), (200, []))
        self.assertIsNone(self.fake.consumer_state(dto["uuid"])["lastCheckin"], "a user is no check-in")
        before = time.time()
        self.assertEqual(self.fake.api("GET", path, cert=ident).status, 200)
        st = self.fake.consumer_state(dto["uuid"])
        self.assertGreaterEqual(st["lastCheckin"], before)
        self.assertEqual(self.fake.api("GET", "/consumers/" + dto["uuid"], cert=ident).json["lastCheckin"],
                         st["lastCheckinText"])
        self.assertEqual(self.fake.api("PUT", path, cert=ident).status, 405)
        other, ident_o = self.register("o")
        self.assertError(self.fake.api("GET", path, cert=ident_o), 403)
        self.fake.ctl("POST", "/consumers/%s/delete" % dto["uuid"])
        self.assertError(self.fake.api("GET", path, cert=ident), 410, deleted_id=dto["uuid"])


class JobOutcomes(FakeTestCase):
    fake_args = ("--job-delay", "60")

    def checkin(self, ident, hids):
        body = json.dumps({"hypervisors": [{"hypervisorId": {"hypervisorId": h}, "guestIds": []}
                                           for h in hids]})
        r = self.fake.api("POST", "/hypervisors/acme", body, cert=ident, ctype="text/plain")
        self.assertEqual(r.status, 200, r)
        return r.json["id"]

    def job(self, ident, jid):
        return self.fake.api("GET", "/jobs/" + jid, cert=ident).json

    def test_running_then_finished_failed_or_failed_update(self):
        dto, ident = self.register("reporter")
        bad = [({"outcome": "nope"}, "outcome"), ({"running": 601}, "running"), ({"count": 0}, "count"),
               ({"zzz": 1}, "unknown"), ({"hypervisorIds": "a"}, "hypervisorIds")]
        for spec, word in bad:
            status, body = self.fake.ctl("POST", "/jobs/script", spec)
            self.assertEqual(status, 400, spec)
            self.assertIn(word, body["error"])
        # RUNNING is observable for as long as the script says
        self.assertEqual(self.fake.ctl("POST", "/jobs/script", {"running": 30})[0], 200)
        jid = self.checkin(ident, ["h1"])
        self.assertEqual(self.job(ident, jid)["state"], "CREATED")
        self.fake.ctl("POST", "/jobs/finish")   # runs CREATED jobs to the end
        self.assertEqual(self.job(ident, jid)["state"], "FINISHED")
        self.assertEqual(self.fake.ctl("POST", "/jobs/script", {"running": 30, "count": 1})[0], 200)
        jid = self.checkin(ident, ["h1"])
        status, started = self.fake.ctl("POST", "/jobs/start")
        self.assertEqual((status, started), (200, {"started": [jid]}))
        j = self.job(ident, jid)
        self.assertEqual((j["state"], j["previousState"]), ("RUNNING", "CREATED"))
        self.assertIsNotNone(j["startTime"])
        self.assertIsNone(j["endTime"])
        # a job of the org still RUNNING blocks the next one
        blocked = self.fake.api("POST", "/hypervisors/acme", '{"hypervisors": []}', cert=ident,
                                ctype="text/plain").json
        self.assertEqual(blocked["state"], "FAILED")
        self.fake.ctl("POST", "/jobs/finish")
        j = self.job(ident, jid)
        self.assertEqual((j["state"], j["previousState"]), ("FINISHED", "RUNNING"))
        # FAILED with the message as resultData
        self.fake.ctl("POST", "/jobs/script", {"outcome": "failed", "message": "boom"})
        jid = self.checkin(ident, ["h1"])
        self.fake.ctl("POST", "/jobs/finish")
        j = self.job(ident, jid)
        self.assertEqual((j["state"], j["previousState"], j["resultData"]), ("FAILED", "RUNNING", "boom"))
        # FINISHED, with the chosen hypervisor under failedUpdate and not applied
        self.fake.ctl("POST", "/jobs/script", {"outcome": "failed_update", "hypervisorIds": ["NEW-2"]})
        jid = self.checkin(ident, ["new-2", "new-3"])
        self.fake.ctl("POST", "/jobs/finish")
        j = self.job(ident, jid)
        self.assertEqual(j["state"], "FINISHED")
        self.assertEqual(j["resultData"]["failedUpdate"],
                         ["new-2: Unable to update hypervisor with id new-2 in org acme"])
        self.assertEqual([c["name"] for c in j["resultData"]["created"]], ["new-3"])
        hids = [c["hypervisorId"] for c in self.fake.state()["consumers"]]
        self.assertNotIn("new-2", hids)
        self.assertIn("new-3", hids)
        # scripts are used up: the next job is ordinary
        jid = self.checkin(ident, ["new-2"])
        self.fake.ctl("POST", "/jobs/finish")
        self.assertEqual(len(self.job(ident, jid)["resultData"]["created"]), 1)


class RunningByDefault(FakeTestCase):
    fake_args = ("--job-delay", "0.1", "--job-running", "0.5")

    def test_created_running_finished(self):
        dto, ident = self.register("reporter")
        r = self.fake.api("POST", "/hypervisors/acme", '{"hypervisors": []}', cert=ident, ctype="text/plain")
        seen = []

        def state():
            s = self.fake.api("GET", "/jobs/" + r.json["id"], cert=ident).json["state"]
            if not seen or seen[-1] != s:
                seen.append(s)
            return s == "FINISHED"
        self.wait_for(state, timeout=10, what="job to finish")
        self.assertEqual(seen, ["CREATED", "RUNNING", "FINISHED"])


class PlantedSystemConsumer(FakeTestCase):
    def plant(self, **kw):
        d = os.path.join(self.tmp, "pki-consumer")
        body = {"owner": "acme", "name": "kvm01.example.com", "dmi_uuid": DMI, "dir": d}
        body.update(kw)
        status, view = self.fake.ctl("POST", "/consumers/system", body)
        self.assertEqual(status, 200, view)
        return d, view

    def test_plant_and_adoption(self):
        status, err = self.fake.ctl("POST", "/consumers/system", {"owner": "acme", "name": "x"})
        self.assertEqual(status, 400)
        self.assertIn("dir", err["error"])
        d, view = self.plant(facts={"custom.fact": "1"})
        self.assertEqual(view["type"], "system")
        self.assertEqual(view["hypervisorId"], DMI.lower())
        self.assertEqual(view["facts"]["dmi.system.uuid"], DMI)
        self.assertEqual(view["facts"]["custom.fact"], "1")
        for f in ("cert.pem", "key.pem"):
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(d, f)).st_mode), 0o640, f)
        cert = decode_cert(os.path.join(d, "cert.pem"))
        self.assertIn("CN=" + view["uuid"], cert["subject"])
        self.assertEqual(cert["serial"], view["serial"])
        ident = (os.path.join(d, "cert.pem"), os.path.join(d, "key.pem"))
        r = self.fake.api("GET", "/consumers/" + view["uuid"], cert=ident)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["type"]["label"], "system")
        # a hypervisor registration on this host is handed subscription-manager's consumer
        same, _ = self.register("kvm01.example.com", facts={"dmi.system.uuid": DMI, "hv": "1"})
        self.assertEqual(same["uuid"], view["uuid"])
        self.assertEqual(same["type"]["label"], "system")
        with open(ident[1]) as f:
            self.assertEqual(same["idCert"]["key"], f.read())
        # and its facts are replaced by the registration's
        self.assertEqual(self.fake.consumer_state(view["uuid"])["facts"], {"dmi.system.uuid": DMI, "hv": "1"})


class PlantedOnSatellite(FakeTestCase):
    fake_args = ("--flavour", "satellite")

    def test_plant_makes_a_host_and_registration_replaces_it(self):
        d = os.path.join(self.tmp, "pki-consumer")
        status, view = self.fake.ctl("POST", "/consumers/system", {"owner": "acme", "name": "kvm01.example.com",
                                                                    "dmi_uuid": DMI, "dir": d})
        self.assertEqual(status, 200, view)
        self.assertEqual(view["hostName"], "kvm01.example.com")
        ident = (os.path.join(d, "cert.pem"), os.path.join(d, "key.pem"))
        # another name with the same DMI UUID: refused
        r = self.register("hv", facts={"network.hostname": "hv", "dmi.system.uuid": DMI}, expect=422)
        self.assertIn("matches other registered hosts: kvm01.example.com", r.json["displayMessage"])
        # the same name: Katello deletes subscription-manager's consumer first
        dto, _ = self.register("kvm01.example.com", facts=HOSTFACTS)
        self.assertNotEqual(dto["uuid"], view["uuid"])
        self.assertEqual(dto["type"]["label"], "hypervisor")
        text_error(self, self.fake.api("GET", "/consumers/" + view["uuid"], cert=ident), 410,
                   deleted_id=view["uuid"])
