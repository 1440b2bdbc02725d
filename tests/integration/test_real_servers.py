# SPDX-License-Identifier: GPL-2.0-or-later
"""hvmap against the servers as they really are (tests/fake-candlepin models
Candlepin's and Katello's code): Satellite's /rhsm proxy, a host that
subscription-manager registered, a consumer deleted by an administrator,
unregistering against a proxy's 404 page, a state directory that cannot be
written, check-in details. Each assertion is something a user would notice."""

import json
import os
import shutil
import subprocess
import time
import unittest

from daemon_harness import Stack, guest_uuid, needs_libvirtd, wait_until


def hypervisor_id(st):
    doc = json.loads(st.hvmap("print", "--mode=checkin").stdout)
    return doc["hypervisors"][0]["hypervisorId"]["hypervisorId"]


def requests(st, method=None, part=""):
    _, reqs = st.cp.ctl("GET", "/requests")
    return [r for r in reqs if (method is None or r["method"] == method) and part in r["path"]]


@needs_libvirtd
class Satellite(unittest.TestCase):
    def test_register_names_the_host_reports_and_checks_in(self):
        st = Stack(self, "[host]\nname = kvm-07.example.com\n[daemon]\nupkeep_interval = 10s\n"
                   "[report]\nmin_gap = 1s\n", cp_args=("--flavour", "satellite"), register=False)
        self.assertTrue(st.cp.prefix.endswith("/rhsm"))
        reg = st.hvmap("register", "--json")
        uuid = json.loads(reg.stdout)["uuid"]
        st.uuid = uuid
        body = json.loads(requests(st, "POST", "/consumers")[-1]["body"])
        self.assertEqual(body["facts"]["network.hostname"], "kvm-07.example.com",
                         "Katello reads network.hostname at every registration")
        hosts = st.cp.state().get("hosts", [])
        self.assertIn("kvm-07.example.com", [h["name"] for h in hosts], "the host is named from its FQDN")
        st.driver.cmd("create g1 %s" % guest_uuid(1))
        st.start_daemon()
        st.wait_equal(timeout=10, what="the guests on Satellite")

        def checkin():
            for c in st.cp.state()["consumers"]:
                if c["uuid"] == uuid:
                    return c.get("hostLastCheckin")
        first = checkin()
        # The upkeep (10 s here: identity check + certificate serials)
        # moves Satellite's "Last checkin"; the PUTs do not.
        wait_until(lambda: (checkin() or 0) > (first or 0) or None, 30, what="Satellite's last check-in to move")
        self.assertTrue(requests(st, "GET", "/certificates/serials"))


@needs_libvirtd
class SubscriptionManagerHost(unittest.TestCase):
    """A host subscription-manager registered with the same server."""

    def plant(self, st):
        rhsm_dir = os.path.join(st.tmp, "pki-consumer")
        os.makedirs(rhsm_dir)
        status, c = st.cp.ctl("POST", "/consumers/system", {"owner": "acme", "name": "kvm-09.example.com",
                                                            "dir": rhsm_dir, "dmi_uuid": hypervisor_id(st)})
        self.assertEqual(status, 200, c)
        st.write_conf(st.conf_extra + "\n[registration]\nrhsm_identity_dir = %s\n" % rhsm_dir)
        return c["uuid"], rhsm_dir

    def test_reports_on_its_consumer_without_facts_and_never_takes_it_over(self):
        st = Stack(self, "[report]\nmin_gap = 1s\n", register=False)
        st.write_rhsm_conf()
        sysuuid, rhsm_dir = self.plant(st)
        facts_before = st.cp.consumer_state(sysuuid)["facts"]
        n_consumers = len(st.cp.state()["consumers"])

        # register: nothing to do, and it says so.
        r = st.hvmap("register", "--json")
        self.assertEqual(json.loads(r.stdout)["changed"], False, r.stdout)
        self.assertEqual(len(st.cp.state()["consumers"]), n_consumers, "no consumer was created")
        self.assertFalse(os.path.exists(os.path.join(st.state_dir, "cert.pem")))
        # --identity-source hvmap refuses next to it.
        r = st.hvmap("register", "--identity-source", "hvmap", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("subscription-manager", r.stderr)

        st.uuid = sysuuid
        st.driver.cmd("create g1 %s" % guest_uuid(1))
        st.start_daemon()
        st.wait_equal(timeout=10, what="the guests on subscription-manager's consumer")
        puts = st.puts(sysuuid)
        self.assertTrue(puts)
        for p in puts:
            body = json.loads(p["body"])
            self.assertNotIn("facts", body, "Candlepin would replace subscription-manager's facts")
            self.assertIn("hypervisorId", body)
        self.assertEqual(st.cp.consumer_state(sysuuid)["facts"], facts_before, "its facts are unchanged")
        self.assertEqual(st.status()["identity"]["source"], "subscription-manager")
        st.stop_daemon()

        # unregister refuses: hvmap did not create it.
        r = st.hvmap("unregister", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIsNotNone(st.cp.consumer_state(sysuuid), "subscription-manager's consumer is still there")
        self.assertTrue(os.path.exists(os.path.join(rhsm_dir, "cert.pem")))

    def test_a_system_consumer_handed_back_is_never_stored(self):
        # subscription-manager registered this machine, but hvmap is not
        # told where its identity is: Candlepin matches the registration by
        # dmi.system.uuid and hands back that "system" consumer.
        st = Stack(self, register=False)
        sysuuid, _ = self.plant(st)
        st.write_conf("[registration]\nidentity_source = hvmap\nrhsm_identity_dir = /nonexistent\n")
        r = st.hvmap("register", "--json", check=False)
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(sysuuid, r.stdout + r.stderr)
        for f in ("cert.pem", "key.pem", "consumer.json"):
            self.assertFalse(os.path.exists(os.path.join(st.state_dir, f)), "%s was stored" % f)


@needs_libvirtd
class Registration(unittest.TestCase):
    def test_unregister_against_an_html_404_keeps_the_identity(self):
        st = Stack(self)
        st.cp.fault({"status": 404, "html": True}, method="DELETE", count=1)
        r = st.hvmap("unregister", check=False)
        self.assertNotEqual(r.returncode, 0, "a proxy's 404 page proves nothing")
        self.assertTrue(os.path.exists(os.path.join(st.state_dir, "cert.pem")), "the identity is kept")
        self.assertIsNotNone(st.cp.consumer_state(st.uuid))
        r = st.hvmap("unregister")
        self.assertIsNone(st.cp.consumer_state(st.uuid))

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("unshare"), "needs root and unshare for a ro mount")
    def test_read_only_state_dir_registers_nothing(self):
        st = Stack(self, register=False)
        os.makedirs(st.state_dir, exist_ok=True)
        script = ("mount --bind {d} {d} && mount -o remount,ro,bind {d} && exec \"$@\"".format(d=st.state_dir))
        p = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                            *st.args(), "register"], capture_output=True, text=True, timeout=90)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(st.state_dir, p.stderr, "the message names the directory")
        self.assertEqual(st.cp.state()["consumers"], [], "no consumer was left on the server")

    def test_checkin_job_failed_exits_non_zero_with_the_servers_message(self):
        st = Stack(self, "[report]\nmode = checkin\n")
        status, _ = st.cp.ctl("POST", "/jobs/script", {"count": 1, "running": 1, "outcome": "failed",
                                                       "message": "Hypervisor update failed: the disk is full"})
        self.assertEqual(status, 200)
        r = st.hvmap("report", check=False)
        self.assertNotEqual(r.returncode, 0, "a FAILED job is no accepted report")
        self.assertIn("the disk is full", r.stderr)
        self.assertGreaterEqual(len(requests(st, "GET", "/jobs/")), 1, "the job was polled to its end")
        with open(os.path.join(st.state_dir, "state.json")) as f:
            state = json.load(f)
        self.assertIsNone(state.get("accepted_digest"))
        self.assertIn("the disk is full", state.get("last_message") or "")

    def test_checkin_sends_the_default_reporter_id_and_fails_on_failed_update(self):
        st = Stack(self, "[report]\nmode = checkin\n")
        with open("/etc/machine-id") as f:
            mid = f.read().strip()
        st.hvmap("report")
        post = requests(st, "POST", "/hypervisors/")[-1]
        self.assertIn("reporter_id=%s-%s" % (os.uname().nodename, mid), post["path"] + "?" + str(post["query"]))
        status, _ = st.cp.ctl("POST", "/jobs/script", {"count": 1, "outcome": "failed_update"})
        self.assertEqual(status, 200)
        r = st.hvmap("report", check=False)
        self.assertNotEqual(r.returncode, 0, "our host under failedUpdate is a failure")
        self.assertIn("Unable to update hypervisor", r.stderr)


if __name__ == "__main__":
    unittest.main()
