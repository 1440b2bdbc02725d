#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""`hvmap print` on generated test-driver hosts (in-process file URIs) of 0,
1, 1 000 and 10 000 domains in mixed states: exactly the generator's set,
with the right states, active flags, identity and facts; Xen's Domain-0;
filters; and the errors a user meets (unreachable URI, bad options)."""

import os
import socket
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gennode  # noqa: E402
from harness import guests, run_print  # noqa: E402

STATE = {"running": 1, "paused": 3, "shutoff": 5}


def machine_id_uuid():
    try:
        with open("/etc/machine-id") as f:
            m = f.read().strip()
    except OSError:
        return None
    if len(m) != 32:
        return None
    return "%s-%s-%s-%s-%s" % (m[:8], m[8:12], m[12:16], m[16:20], m[20:])


class PrintFiles(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="hvmap-print-")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def node(self, n, **kw):
        path = os.path.join(self.tmp.name, "n%d-%s.xml" % (n, kw.get("seed", "0")))
        cpu = kw.pop("cpu", (1, 2, 4, 2))
        doms = gennode.generate(n, **kw)
        gennode.write(path, doms, cpu)
        return "test://" + path, doms

    def expect(self, doms, report_inactive):
        return {u: (STATE[st], "1" if st != "shutoff" else "0")
                for u, name, st, tr in doms
                if name != "Domain-0" and (report_inactive or st != "shutoff")}

    def check_host(self, n):
        uri, doms = self.node(n, transient=min(n, 5))
        for inactive in (False, True):
            args = ["--uri", uri] + (["--report-inactive"] if inactive else [])
            t0 = time.monotonic()
            rc, doc, err = run_print(*args)
            took = time.monotonic() - t0
            self.assertEqual(rc, 0, err)
            self.assertEqual(err, "", "print writes nothing to stderr on success")
            self.assertEqual(guests(doc), self.expect(doms, inactive))
            hv = doc["hypervisors"][0]
            ids = [g["guestId"] for g in hv["guestIds"]]
            self.assertEqual(ids, sorted(ids), "guests are sorted by UUID")
            self.assertTrue(all(g["attributes"]["virtWhoType"] == "libvirt" for g in hv["guestIds"]))
            self.assertEqual(hv["facts"]["hypervisor.type"], "TEST")
            self.assertEqual(hv["facts"]["cpu.cpu_socket(s)"], "2")
            self.assertEqual(hv["facts"]["virt.is_guest"], "false")
            self.assertEqual(hv["name"], socket.gethostname())
            mid = machine_id_uuid()
            if mid:
                self.assertEqual(hv["hypervisorId"]["hypervisorId"], mid)
            print("  %5d domains, report_inactive=%d: %d guests in %.2f s"
                  % (n, inactive, len(ids), took), file=sys.stderr)

    def test_0_domains(self):
        self.check_host(0)

    def test_1_domain(self):
        self.check_host(1)

    def test_1000_domains(self):
        self.check_host(1000)

    def test_10000_domains(self):
        self.check_host(10000)

    def test_key_order_is_the_checkin_body(self):
        uri, _ = self.node(3, seed="order")
        rc, doc, err = run_print("--uri", uri)
        self.assertEqual(rc, 0, err)
        self.assertEqual(list(doc), ["hypervisors"])
        self.assertEqual(list(doc["hypervisors"][0]), ["hypervisorId", "name", "guestIds", "facts"])
        self.assertEqual(list(doc["hypervisors"][0]["guestIds"][0]), ["guestId", "state", "attributes"])

    def test_sockets_are_sockets_times_nodes(self):
        uri, _ = self.node(2, seed="numa", cpu=(2, 2, 4, 2))
        rc, doc, err = run_print("--uri", uri)
        self.assertEqual(rc, 0, err)
        self.assertEqual(doc["hypervisors"][0]["facts"]["cpu.cpu_socket(s)"], "4")

    def test_xen_domain0_is_not_a_guest(self):
        uri, doms = self.node(4, seed="xen", dom0="d0d0d0d0-1111-4000-8000-000000000000")
        rc, doc, err = run_print("--uri", uri, "--flavour", "xen", "--report-inactive")
        self.assertEqual(rc, 0, err)
        self.assertNotIn("d0d0d0d0-1111-4000-8000-000000000000", guests(doc))
        self.assertEqual(len(guests(doc)), 4)
        # Without the Xen flavour a guest may be named Domain-0 ...
        rc, doc, err = run_print("--uri", uri, "--report-inactive")
        self.assertIn("d0d0d0d0-1111-4000-8000-000000000000", guests(doc))
        # ... but the all-zero UUID is never a guest.
        uri, doms = self.node(4, seed="zero", dom0="00000000-0000-0000-0000-000000000000")
        rc, doc, err = run_print("--uri", uri, "--report-inactive")
        self.assertEqual(len(guests(doc)), 4)

    def test_filters(self):
        uri, doms = self.node(10, seed="filter")
        rc, doc, err = run_print("--uri", uri, "--include", "vm0000[0-3]", "--exclude", doms[1][0].upper(),
                                 "--report-inactive")
        self.assertEqual(rc, 0, err)
        self.assertEqual(sorted(guests(doc)), sorted(d[0] for d in doms[:4] if d is not doms[1]))

    def test_hostname_and_override_ids(self):
        uri, _ = self.node(1, seed="id")
        rc, doc, err = run_print("--uri", uri, "--hypervisor-id", "hostname")
        self.assertEqual(rc, 0, err)
        self.assertEqual(doc["hypervisors"][0]["hypervisorId"]["hypervisorId"], socket.gethostname())
        rc, doc, err = run_print("--uri", uri, "--hypervisor-id-override", "rack7-kvm")
        self.assertEqual(doc["hypervisors"][0]["hypervisorId"]["hypervisorId"], "rack7-kvm")
        # The test driver has no SMBIOS: hwuuid has nothing to offer.
        rc, doc, err = run_print("--uri", uri, "--hypervisor-id", "hwuuid")
        self.assertEqual(rc, 78)
        self.assertIn("hypervisor_id = hostname", err)

    def test_unreachable_socket_is_69_naming_uri_and_socket(self):
        uri = "test+unix:///default?socket=/nonexistent/hvmap/libvirt-sock"
        rc, doc, err = run_print("--uri", uri)
        self.assertEqual(rc, 69)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn(uri, err)
        self.assertIn("socket /nonexistent/hvmap/libvirt-sock", err)
        self.assertNotIn("libvirt: ", err, "libvirt's own error printing is silenced")

    def test_bad_uri_is_69(self):
        for uri in ("bogus", "nosuchdriver:///system", "test:///nonexistent/file.xml"):
            rc, doc, err = run_print("--uri", uri)
            self.assertEqual(rc, 69, uri)
            lines = err.strip().splitlines()
            self.assertIn(uri, lines[-1])
            self.assertTrue(lines[-1].startswith("hvmap print: cannot connect"), err)
            # libxml2 before 2.13 (Debian 12; not 13) prints an "I/O warning"
            # for the missing file the in-process test driver parses; nothing
            # else may print.
            extra = lines[:-1]
            if uri.startswith("test:///nonexistent"):
                self.assertLessEqual(len(extra), 1, err)
                for line in extra:
                    self.assertIn("I/O warning", line, err)
            else:
                self.assertEqual(extra, [], err)

    def test_usage_errors_are_64(self):
        for args in (["--nope"], ["--hypervisor-id", "serial"], ["--flavour", "vmware"], ["extra"],
                     ["--keepalive", "x"], ["--uri"]):
            rc, doc, err = run_print(*args)
            self.assertEqual(rc, 64, args)
            self.assertTrue(err.startswith("hvmap"), err)  # main.c takes --uri itself
            self.assertEqual(len(err.strip().splitlines()), 1, err)


if __name__ == "__main__":
    unittest.main()
