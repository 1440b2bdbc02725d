#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Runs INSIDE a box (tests/system/box.py): hvmap installed as the package
lays it out, `systemctl enable --now hvmap` with the shipped unit, real QEMU
guests, the fake Candlepin on loopback; asserts what an administrator sees.
The tests run in order (numbered) on one host; the last ones change the
host's libvirt design (modular units installed, then modular daemons).

Strings and keys this depends on (hvmap's output may be reworded):
  hvmap status --json: identity.uuid, daemon.running, daemon.pid,
    daemon.libvirt ("connected" / "not-responding")
  systemctl show -p StatusText: non-empty, contains the number of guests
  journal: HVMAP_EVENT=report-accepted with HVMAP_GUESTS=<n>; MESSAGE_IDs and
    HVMAP_CONSUMER/HVMAP_SERVER/HVMAP_HTTP_STATUS as hvmap(8) JOURNAL FIELDS
    lists them (util/message-ids.h)
  hvmap doctor: "ok"/"FAIL" lines, "running the checks as hvmap"
  systemd-analyze security: "Overall exposure level for hvmap.service: X.Y"

HVMAP_BOX_UNIT=PATH installs PATH as hvmap.service instead of the shipped
unit (to show a test failing on an old unit)."""

import json
import os
import re
import signal
import statistics
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostlib as H  # noqa: E402
import libvirt_units  # noqa: E402

EXACT_S = 2.0  # the server's list is exact this soon after each change
# hvmap(8) JOURNAL FIELDS (util/message-ids.h): written here again on
# purpose, so that a changed id fails this test.
MSG_REGISTERED = "23a51c39ecf14ad08657479eaa8d97f4"
MSG_REPORT_ACCEPTED = "0b507acf87784cd7ba2cddeb0a88a76b"
MSG_CONSUMER_DELETED = "4570479acd914a0f885d5bfc22abbc66"
MSG_LIBVIRT_LOST = "18b54a7f206e4d13bc63f41b4fbd7354"
SUMMARY = {}
LAT = []
ctx = {}


def setUpModule():
    t0 = time.monotonic()
    H.install_hvmap(unit=os.environ.get("HVMAP_BOX_UNIT"))
    H.configure_libvirt()
    fake = H.FakeCandlepin()
    ctx["fake"] = fake
    # keepalive 2 s x 2: a hung libvirtd is noticed within seconds.
    H.write_config(fake, "[libvirt]\nkeepalive_interval = 2s\nkeepalive_count = 2\n")
    reg = H.register()
    ctx["uuid"] = H.consumer_uuid()
    ctx["reg"] = reg
    t1 = time.monotonic()
    H.sh(["systemctl", "enable", "--now", "hvmap.service"], timeout=120)
    SUMMARY["enable --now (returns after READY=1)"] = "%.2f s" % (time.monotonic() - t1)
    SUMMARY["setup (install, libvirt, fake, register)"] = "%.1f s" % (t1 - t0)
    ctx["n"] = 0


def tearDownModule():
    if "fake" in ctx:
        ctx["fake"].stop()
    print("\n=== system summary (%s, %s) ===" % (os.environ.get("HVMAP_BOX", "?"), _versions()), file=sys.stderr)
    if os.environ.get("HVMAP_BOX_ROOTFS_S"):
        SUMMARY["rootfs build"] = ("cached" if os.environ["HVMAP_BOX_ROOTFS_S"] == "0.0"
                                   else os.environ["HVMAP_BOX_ROOTFS_S"] + " s")
    if os.environ.get("HVMAP_BOX_BOOT_S"):
        SUMMARY["boot to running"] = os.environ["HVMAP_BOX_BOOT_S"] + " s"
    if LAT:
        SUMMARY["change -> server list exact"] = ("%d changes, median %.0f ms, max %.0f ms"
                                                  % (len(LAT), statistics.median(LAT) * 1000, max(LAT) * 1000))
    for k, v in SUMMARY.items():
        print("  %-42s %s" % (k, v), file=sys.stderr)


def _versions():
    sd = H.sh(["systemctl", "--version"], check=False).stdout.split("\n")[0]
    lv = H.sh(["virsh", "-c", H.URI, "version", "--daemon"], check=False).stdout
    m = re.search(r"Running against daemon: (\S+)", lv) or re.search(r"libvirt (\S+)", lv)
    return "%s, libvirt %s" % (sd, m.group(1) if m else "?")


def journal(match):
    """Every journal entry that matches (journalctl's FIELD=value), parsed."""
    out = H.sh(["journalctl", match, "-o", "json", "--no-pager"]).stdout
    return [json.loads(ln) for ln in out.splitlines() if ln.strip()]


def new_uuid():
    ctx["n"] += 1
    return "5e5e0000-0000-4000-8000-%012d" % ctx["n"]


class Host(unittest.TestCase):
    maxDiff = None

    def fake(self):
        return ctx["fake"]

    def expected(self, inactive=False):
        active = H.libvirt_active()
        exp = {u: "1" for u in active}
        if inactive:
            exp.update({u: "0" for u in H.libvirt_all() - active})
        return exp

    def assert_exact(self, what, t_change, timeout=EXACT_S, inactive=False):
        """The server's list equals libvirt's within timeout of t_change
        (monotonic time the change returned); records the latency."""
        exp = self.expected(inactive)
        H.wait_until(lambda: self.fake().guests(ctx["uuid"]) == exp,
                     max(0.1, t_change + timeout - time.monotonic()) + 0.001,
                     "server list == libvirt's %s after %s" % (sorted(exp), what))
        lat = time.monotonic() - t_change
        if timeout == EXACT_S:
            LAT.append(lat)
        return exp, lat

    def op(self, what, *virsh_args, inactive=False):
        H.virsh(*virsh_args)
        t = time.monotonic()
        self.assert_exact(what, t, inactive=inactive)

    def transient(self, what):
        """A transient guest created and destroyed, the list exact after each."""
        u = new_uuid()
        name = "t" + u[-6:]
        path = "/run/%s.xml" % name
        with open(path, "w") as f:
            f.write(H.guest_xml(name, u))
        self.op("create %s (%s)" % (name, what), "create", path)
        self.op("destroy %s (%s)" % (name, what), "destroy", name)

    def wait_libvirt(self, state, timeout):
        return H.wait_until(lambda: H.status()["daemon"].get("libvirt") == state, timeout,
                            "hvmap status: daemon.libvirt == %s" % state)

    # ------------------------------------------------------------ 1
    def test_01_service_as_shipped(self):
        self.assertEqual(H.is_active("hvmap.service"), "active")
        pid = H.main_pid()
        st = H.proc_status(pid)
        hv = H.sh(["id", "-u", "hvmap"]).stdout.strip()
        self.assertEqual(st["Uid"].split()[:2], [hv, hv], "runs as the hvmap user")
        self.assertEqual(st["Seccomp"], "2")
        self.assertEqual(st["NoNewPrivs"], "1")
        self.assertEqual(int(st["CapEff"], 16), 0)
        self.assertEqual(int(st["CapPrm"], 16), 0)
        SUMMARY["/proc/MAINPID/status"] = "Uid %s, Seccomp %s, NoNewPrivs %s, CapEff %s" % (
            st["Uid"].split()[0], st["Seccomp"], st["NoNewPrivs"], st["CapEff"])
        self.assertNotEqual(os.readlink("/proc/%d/ns/mnt" % pid), os.readlink("/proc/1/ns/mnt"),
                            "own mount namespace")
        groups = H.sh(["id", "-nG", "hvmap"]).stdout.split()
        self.assertNotIn("libvirt", groups, "the hvmap user needs no libvirt group")
        # READY=1 came (Type=notify: active means it did) and STATUS= says something.
        self.assertEqual(H.unit_prop("hvmap.service", "SubState"), "running")
        n = len(H.libvirt_active())
        text = H.wait_until(lambda: (lambda t: t if re.search(r"\b%d\b" % n, t) else None)(
            H.unit_prop("hvmap.service", "StatusText")), 10, "STATUS= names the guest count %d" % n)
        SUMMARY["STATUS="] = text
        s = H.wait_until(lambda: (lambda s: s if s["daemon"].get("libvirt") == "connected" else None)(H.status()),
                         20, "hvmap status: libvirt connected")
        self.assertTrue(s["daemon"]["running"])
        self.assertEqual(s["daemon"]["pid"], pid)
        self.assert_exact("start of hvmap", time.monotonic(), timeout=10)

    def test_02_read_only_libvirt_client(self):
        # libvirtd's own view: hvmap's connection is read-only, as user hvmap.
        clients = H.sh(["virt-admin", "-c", "libvirtd:///system", "srv-clients-list", "libvirtd"]).stdout
        ids = re.findall(r"^\s*(\d+)\s", clients, re.M)
        mine = []
        for cid in ids:
            info = H.sh(["virt-admin", "-c", "libvirtd:///system", "client-info", "libvirtd", cid],
                        check=False).stdout
            kv = dict(re.findall(r"^\s*(\S+)\s*:\s*(.*?)\s*$", info, re.M))
            if kv.get("unix_user_name") == "hvmap":
                mine.append(kv)
        self.assertTrue(mine, "no libvirtd client of user hvmap:\n" + clients)
        for kv in mine:
            self.assertEqual(kv.get("readonly"), "yes", kv)
        SUMMARY["libvirt client"] = "user hvmap, readonly=%s, %d connection(s)" % (mine[0].get("readonly"),
                                                                                 len(mine))

    def test_03_exposure(self):
        p = H.sh(["systemd-analyze", "security", "--no-pager", "hvmap.service"], check=False)
        m = re.search(r"Overall exposure level for hvmap\.service: (\d+\.\d+)", p.stdout)
        self.assertIsNotNone(m, p.stdout + p.stderr)
        SUMMARY["systemd-analyze security"] = m.group(1)
        self.assertLessEqual(float(m.group(1)), 2.0, p.stdout)

    # ------------------------------------------------------------ 2
    def test_10_guest_lifecycle(self):
        a, b = new_uuid(), new_uuid()
        ctx["a"] = a
        H.define("ga", a)
        self.assert_exact("define ga", time.monotonic())
        self.op("start ga", "start", "ga")
        H.define("gb", b)
        self.op("start gb", "start", "gb")
        self.op("suspend ga", "suspend", "ga")
        self.assertIn("paused", H.domstate("ga"))
        self.op("resume ga", "resume", "ga")
        self.op("destroy gb", "destroy", "gb")
        self.op("undefine gb", "undefine", "gb")
        ops = 7
        if H.KVM:
            k = new_uuid()
            H.define("gkvm", k, kvm=True)
            self.op("start gkvm (KVM)", "start", "gkvm")
            self.op("destroy gkvm (KVM)", "destroy", "gkvm")
            H.virsh("undefine", "gkvm")
            ops += 2
        SUMMARY["guests driven"] = "%d lifecycle changes%s" % (ops, " incl. KVM" if H.KVM else " (TCG; no KVM)")

    def test_11_guest_shuts_itself_down(self):
        u = new_uuid()
        img = H.poweroff_image("/var/lib/libvirt/images/poweroff.img")
        H.define("goff", u, disk=img, kvm=H.KVM)
        self.op("start goff", "start", "goff")
        self.assertIn(u, self.fake().guests(ctx["uuid"]))
        st = H.wait_until(lambda: (lambda s: s if s.startswith("shut off") else None)(H.domstate("goff")), 60,
                          "the guest powers itself off")
        t = time.monotonic()
        self.assertIn("shutdown", st, "an ACPI power-off by the guest, not a crash: %s" % st)
        got, lat = self.assert_exact("the guest's own power-off", t)
        self.assertNotIn(u, got)
        SUMMARY["guest's own ACPI power-off"] = "libvirt: %s; server exact %.0f ms later" % (st, lat * 1000)
        H.virsh("undefine", "goff")

    # ------------------------------------------------------------ 3
    def test_20_reload_applies_config(self):
        pid = H.main_pid()
        idle = new_uuid()
        H.define("gidle", idle)
        ctx["idle"] = idle
        self.assertNotIn(idle, self.fake().guests(ctx["uuid"]))
        with open(H.DROPIN) as f:
            text = f.read()
        try:
            with open(H.DROPIN, "a") as f:
                f.write("[host]\nreport_inactive = yes\n")
            H.sh(["systemctl", "reload", "hvmap.service"])
            t = time.monotonic()
            got, lat = self.assert_exact("reload with report_inactive = yes", t, timeout=5, inactive=True)
            self.assertEqual(got.get(idle), "0")
            self.assertEqual(H.main_pid(), pid, "reload keeps the process")
            SUMMARY["systemctl reload -> new config on the server"] = "%.0f ms" % (lat * 1000)
        finally:
            with open(H.DROPIN, "w") as f:
                f.write(text)
            H.sh(["systemctl", "reload", "hvmap.service"])
        got, _ = self.assert_exact("reload back to active guests only", time.monotonic(), timeout=5)
        self.assertNotIn(idle, got)

    def test_21_restart_libvirtd_resync(self):
        # A guest dies while libvirtd is down: only a resync after the
        # reconnect can tell hvmap.
        v = new_uuid()
        H.define("gvictim", v)
        self.op("start gvictim", "start", "gvictim")
        with open("/run/libvirt/qemu/gvictim.pid") as f:
            qpid = int(f.read())
        sockets = [u for u in ("libvirtd.socket", "libvirtd-ro.socket", "libvirtd-admin.socket")
                   if H.is_active(u) == "active"]
        H.sh(["systemctl", "stop", "libvirtd.service"] + sockets, timeout=120)
        self.wait_libvirt_not("connected", 20)
        os.kill(qpid, signal.SIGKILL)
        t = time.monotonic()
        H.sh(["systemctl", "start"] + sockets + ["libvirtd.service"], timeout=120)
        self.wait_libvirt("connected", 30)
        got, lat = self.assert_exact("libvirtd restart with a guest gone meanwhile", t, timeout=30)
        self.assertNotIn(v, got)
        SUMMARY["libvirtd stop/start -> resynced list"] = "%.1f s after libvirtd was started again" % lat
        H.virsh("undefine", "gvictim")
        t = time.monotonic()
        H.sh(["systemctl", "restart", "libvirtd.service"], timeout=120)
        self.wait_libvirt("connected", 30)
        self.transient("after systemctl restart libvirtd")

    def wait_libvirt_not(self, state, timeout):
        return H.wait_until(lambda: H.status()["daemon"].get("libvirt") != state, timeout,
                            "hvmap status: daemon.libvirt != %s" % state)

    def test_22_hung_libvirtd(self):
        # A watchdog far shorter than the hang: it must keep being fed.
        dropin = "/run/systemd/system/hvmap.service.d"
        os.makedirs(dropin, exist_ok=True)
        with open(dropin + "/50-watchdog.conf", "w") as f:
            f.write("[Service]\nWatchdogSec=3s\n")
        try:
            H.sh(["systemctl", "daemon-reload"])
            H.sh(["systemctl", "restart", "hvmap.service"], timeout=120)
            self.wait_libvirt("connected", 30)
            self.hung_libvirtd()
        finally:
            os.unlink(dropin + "/50-watchdog.conf")
            H.sh(["systemctl", "daemon-reload"])
            if H.is_active("hvmap.service") != "active":
                H.sh(["systemctl", "start", "hvmap.service"], timeout=120)
        self.transient("after kill -CONT")

    def hung_libvirtd(self):
        pid = H.main_pid()
        restarts = H.unit_prop("hvmap.service", "NRestarts")
        lpid = H.main_pid("libvirtd.service")
        os.kill(lpid, signal.SIGSTOP)
        try:
            t = time.monotonic()
            self.wait_libvirt("not-responding", 30)
            seen = time.monotonic() - t
            # Three watchdog periods with libvirt hung.
            end = time.monotonic() + 9.5
            while time.monotonic() < end:
                self.assertEqual(H.main_pid(), pid, "hvmap was restarted while libvirtd hung")
                time.sleep(0.5)
            self.assertEqual(H.unit_prop("hvmap.service", "NRestarts"), restarts)
            self.assertEqual(H.status()["daemon"]["libvirt"], "not-responding")
            p = H.sh(["hvmap", "status"], check=False)
            # libvirt lost is a WARNING: exit 69 (hvmap(8) EXIT STATUS).
            self.assertEqual(p.returncode, 69, p.stdout + p.stderr)
            text = p.stdout
            SUMMARY["kill -STOP libvirtd"] = "not-responding after %.1f s; watchdog 3 s kept fed for 9.5 s" % seen
            SUMMARY["hvmap status (libvirt hung)"] = " | ".join(ln.strip() for ln in text.splitlines()
                                                                if "libvirt" in ln.lower())[:200]
            # Stopping while libvirt hangs is as quick.
            t = time.monotonic()
            H.sh(["systemctl", "stop", "hvmap.service"], timeout=30)
            took = time.monotonic() - t
            SUMMARY["systemctl stop hvmap (libvirt hung)"] = "%.2f s" % took
            # host_stop() gives the stuck host thread 1.5 s before exiting without it.
            self.assertLess(took, 3.0)
            H.sh(["systemctl", "start", "--no-block", "hvmap.service"])
        finally:
            os.kill(lpid, signal.SIGCONT)
        t = time.monotonic()
        H.wait_active("hvmap.service", 60)
        self.wait_libvirt("connected", 30)
        SUMMARY["kill -CONT -> connected"] = "%.1f s" % (time.monotonic() - t)

    def test_23_journal_fields(self):
        out = H.sh(["journalctl", "-u", "hvmap.service", "-o", "json", "--no-pager"]).stdout
        entries = [json.loads(ln) for ln in out.splitlines() if ln.strip()]
        mine = [e for e in entries if e.get("SYSLOG_IDENTIFIER") == "hvmap"]
        self.assertTrue(mine, "no hvmap entries")
        hv = H.sh(["id", "-u", "hvmap"]).stdout.strip()
        for e in mine:
            self.assertEqual(e.get("_UID"), hv)
            self.assertIn("CODE_FILE", e)
            self.assertIn("PRIORITY", e)
        acc = [e for e in mine if e.get("HVMAP_EVENT") == "report-accepted"]
        self.assertTrue(acc, "no HVMAP_EVENT=report-accepted entry")
        self.assertEqual(int(acc[-1]["HVMAP_GUESTS"]), len(self.fake().guests(ctx["uuid"])))
        # Read back through the journal, as an alert rule would.
        for e in acc:
            self.assertEqual(e.get("MESSAGE_ID"), MSG_REPORT_ACCEPTED, e)
            self.assertEqual(e.get("HVMAP_CONSUMER"), ctx["uuid"], e)
            self.assertEqual(e.get("HVMAP_SERVER"), self.fake().url, e)
            self.assertIn(e.get("HVMAP_HTTP_STATUS"), ("200", "204"), e)
        by_id = journal("MESSAGE_ID=" + MSG_REPORT_ACCEPTED)
        self.assertEqual(len(by_id), len(acc), "journalctl MESSAGE_ID= finds every accepted report")
        # test_22 stopped libvirtd: the daemon said so with the libvirt-lost id.
        lost = [e for e in mine if e.get("MESSAGE_ID") == MSG_LIBVIRT_LOST]
        self.assertTrue(lost, "no libvirt-lost entry (MESSAGE_ID=%s) after kill -STOP" % MSG_LIBVIRT_LOST)
        self.assertTrue({e.get("HVMAP_EVENT") for e in lost} <= {"libvirt-lost", "libvirt-not-responding"}, lost)
        SUMMARY["journal"] = "%d hvmap entries, events: %s" % (
            len(mine), ", ".join(sorted({e["HVMAP_EVENT"] for e in mine if "HVMAP_EVENT" in e})))

    def test_25_journal_consumer_deleted_then_registered(self):
        old = ctx["uuid"]
        self.fake().post("/consumers/%s/delete" % old, {})
        u = new_uuid()
        H.define("gdel", u)
        H.virsh("start", "gdel")  # a change to report: its PUT learns of the deletion
        H.wait_until(lambda: H.status()["daemon"].get("phase") == "consumer-deleted", 30,
                     "hvmap status: phase consumer-deleted")
        p = H.sh(["hvmap", "status"], check=False)
        self.assertEqual(p.returncode, 77, p.stdout)
        gone = journal("MESSAGE_ID=" + MSG_CONSUMER_DELETED)
        self.assertTrue(gone, "no consumer-deleted entry")
        e = gone[-1]
        self.assertEqual((e.get("HVMAP_EVENT"), e.get("HVMAP_CONSUMER"), e.get("HVMAP_SERVER"),
                          e.get("HVMAP_HTTP_STATUS")), ("consumer-deleted", old, self.fake().url, "410"), e)
        # Registered again as a unit (its stderr is the journal, so hvmap
        # logs there with its fields): the registered event, with the new
        # consumer. register refuses while the daemon holds the state
        # directory.
        key = "/run/hvmap-key"
        with open(key, "w") as f:
            f.write("hv-key\n")
        os.chown(key, int(H.sh(["id", "-u", "hvmap"]).stdout), -1)
        os.chmod(key, 0o600)
        H.sh(["systemctl", "stop", "hvmap.service"], timeout=30)
        p = H.sh(["systemd-run", "--wait", "--collect", "--quiet", "--unit=hvmap-register-again", "-p",
                  "User=hvmap", "-p", "RuntimeMaxSec=90", "-E", "LIBVIRT_DEFAULT_URI=" + H.URI, "hvmap", "register",
                  "--org", "acme", "--activation-key-file", key], timeout=120, check=False)
        os.unlink(key)
        self.assertEqual(p.returncode, 0, p.stderr + H.sh(["journalctl", "-u", "hvmap-register-again",
                                                             "--no-pager"], check=False).stdout)
        H.sh(["systemctl", "start", "hvmap.service"], timeout=120)
        new = H.wait_until(lambda: H.status()["identity"]["uuid"] not in (None, old) and H.status()["identity"]["uuid"],
                           30, "a new identity")
        ctx["uuid"] = new
        reg = [e for e in journal("MESSAGE_ID=" + MSG_REGISTERED) if e.get("HVMAP_CONSUMER") == new]
        self.assertTrue(reg, "no registered entry for %s" % new)
        self.assertEqual(reg[-1].get("HVMAP_SERVER"), self.fake().url)
        self.assertEqual(reg[-1].get("HVMAP_EVENT"), "registered")
        self.assert_exact("re-registration", time.monotonic(), timeout=30)
        H.virsh("destroy", "gdel")
        H.virsh("undefine", "gdel")
        SUMMARY["journal MESSAGE_IDs"] = "report accepted, libvirt lost, consumer deleted, registered: read back"

    def test_26_doctor_as_the_service_user(self):
        p = H.sh(["hvmap", "doctor"], check=False, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("running the checks as hvmap", p.stdout)
        for check in ("config", "libvirt", "hypervisor-id", "server", "identity"):
            self.assertRegex(p.stdout, r"(?m)^ok\s+%s\s" % check, p.stdout)
        SUMMARY["hvmap doctor (as hvmap)"] = p.stdout.strip().splitlines()[-1]

    def test_24_stop_within_2s(self):
        t = time.monotonic()
        H.sh(["systemctl", "stop", "hvmap.service"], timeout=30)
        took = time.monotonic() - t
        SUMMARY["systemctl stop hvmap"] = "%.2f s" % took
        self.assertLess(took, 2.0)
        self.assertEqual(H.is_active("hvmap.service"), "inactive")
        self.assertFalse(H.status()["daemon"]["running"])
        H.sh(["systemctl", "start", "hvmap.service"], timeout=120)
        self.wait_libvirt("connected", 30)

    # ------------------------------------------------------------ 4
    def libvirtd_intact(self, why):
        for u in ("libvirtd.service", "libvirtd.socket", "libvirtd-ro.socket", "libvirtd-admin.socket"):
            state = H.is_active(u)
            self.assertTrue(state == "active", "%s is %s after %s" % (u, state, why))
        for path in ("/run/libvirt/libvirt-sock", "/run/libvirt/libvirt-sock-ro"):
            self.assertTrue(os.path.exists(path), "%s gone after %s" % (path, why))
        for d in ("virtqemud", "virtxend"):
            for u in (d + ".service", d + ".socket", d + "-ro.socket", d + "-admin.socket"):
                self.assertNotEqual(H.is_active(u), "active", "%s started by %s" % (u, why))

    def design_monolithic(self, style):
        names = libvirt_units.install(style)
        try:
            H.sh(["systemctl", "daemon-reload"])
            # Each generation starts from the monolithic host, whatever ran before.
            H.sh(["systemctl", "stop"] + [n for n in names if n.endswith(".socket")] +
                 [n for n in names if n.endswith(".service")], timeout=120)
            H.sh(["systemctl", "reset-failed"], check=False)
            for u in ("libvirtd.socket", "libvirtd-ro.socket", "libvirtd-admin.socket", "libvirtd.service"):
                H.sh(["systemctl", "start", u], timeout=120)
            self.libvirtd_intact("setting up")
            for action in (["restart"], ["reload"], ["stop"], ["start"]):
                H.sh(["systemctl"] + action + ["hvmap.service"], timeout=120)
                if action != ["stop"]:
                    self.wait_libvirt("connected", 30)
                # What an administrator runs next: a read-write and a read-only virsh.
                H.virsh("list", "--all")
                H.sh(["runuser", "-u", "nobody", "--", "virsh", "-r", "-c", H.URI, "list"])
                self.libvirtd_intact("systemctl %s hvmap with libvirt %s.x modular units installed"
                                     % (action[0], style))
            self.transient("libvirt %s.x modular units installed" % style)
        finally:
            libvirt_units.remove(names)
            H.sh(["systemctl", "daemon-reload"])
        SUMMARY["libvirt %s.x modular units installed" % style] = (
            "libvirtd.service + 3 sockets stay active through start/restart/reload of hvmap")

    def test_30_monolithic_with_libvirt11_units_installed(self):
        self.design_monolithic("11")

    def test_31_monolithic_with_libvirt9_units_installed(self):
        self.design_monolithic("9")

    def test_40_modular_daemons(self):
        mono = ["libvirtd.service", "libvirtd.socket", "libvirtd-ro.socket", "libvirtd-admin.socket"]
        daemons = ["virtqemud"] + (["virtproxyd"] if os.path.exists("/usr/sbin/virtproxyd") else [])
        libvirt_units.install("11", daemons=daemons)
        H.sh(["systemctl", "stop"] + mono, timeout=120)
        H.sh(["systemctl", "mask"] + mono)
        H.sh(["systemctl", "daemon-reload"])
        socks = [d + s for d in daemons for s in (".socket", "-ro.socket", "-admin.socket")]
        H.sh(["systemctl", "enable", "--now"] + socks, timeout=120)
        H.sh(["systemctl", "restart", "hvmap.service"], timeout=120)
        self.wait_libvirt("connected", 30)
        self.assertEqual(H.is_active("virtqemud.service"), "active", "hvmap's connection activated virtqemud")
        for u in mono:
            self.assertNotEqual(H.is_active(u), "active", u)
        self.assert_exact("hvmap on modular daemons", time.monotonic(), timeout=10)
        self.transient("modular daemons")
        SUMMARY["modular daemons"] = "%s via %s sockets: list exact" % (
            " + ".join(daemons), "emulated" if not os.path.exists("/usr/sbin/virtqemud") else "real")


if __name__ == "__main__":
    unittest.main(verbosity=2)
