# SPDX-License-Identifier: GPL-2.0-or-later
"""Inside the box (tests/system/box.py): what an administrator does on a real
host, as functions. Install hvmap as the package lays it out, set up libvirt,
start the fake Candlepin on loopback, register, define and drive real QEMU
guests, and read back what the server, libvirt, systemd and `hvmap status`
say. Every wait is bounded; nothing sleeps for a fixed time.

Used by test_host.py (suite `system`), demo_box.py (scripts/demo --box) and
bench_box.py (scripts/bench --box)."""

import json
import os
import shutil
import subprocess
import time
import urllib.request

SRC = os.environ.get("HVMAP_SRC", "/usr/src/hvmap")
DIST = os.environ.get("HVMAP_DIST", "/usr/src/hvmap-dist")
URI = "qemu:///system"
FAKE_STATE = "/var/lib/fake-candlepin"
CA_FILE = "/etc/rhsm/ca/fake-candlepin.pem"
DROPIN = "/etc/hvmap/hvmap.conf.d/50-box.conf"
KVM = os.environ.get("HVMAP_BOX_KVM") == "1" and os.path.exists("/dev/kvm")


def sh(argv, check=True, timeout=60, input=None, env=None):
    """Runs argv; returns the CompletedProcess (text). check: raise on failure."""
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input,
                       env=dict(os.environ, **(env or {})))
    if check and p.returncode != 0:
        raise AssertionError("%s: exit %d\nstdout:\n%s\nstderr:\n%s"
                             % (" ".join(argv), p.returncode, p.stdout, p.stderr))
    return p


def wait_until(pred, timeout, what, interval=0.05):
    """Polls pred() until it returns a true value (returned) or timeout (s)
    passes (AssertionError naming what was awaited and the last value)."""
    end = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= end:
            raise AssertionError("not within %.1f s: %s (last: %r)" % (timeout, what, last))
        time.sleep(interval)


# ---------------------------------------------------------------- install
def install_hvmap(dist=DIST, unit=None):
    """What the package and its scriptlets do: the files in place, the user
    from sysusers.d, the state directory from tmpfiles.d, daemon-reload.
    unit: another hvmap.service to install instead of the shipped one."""
    # tar keeps / 's symlinked directories (/lib -> usr/lib) as they are.
    sh(["sh", "-c", 'tar -C "$1" -cf - . | tar -C / -xf - --keep-directory-symlink --no-same-owner', "sh", dist])
    if unit:
        shipped = [os.path.join(d, "hvmap.service") for d in ("/lib/systemd/system", "/usr/lib/systemd/system")]
        for path in shipped:
            if os.path.exists(path):
                shutil.copy(unit, path)
    sh(["systemd-sysusers"])
    sh(["systemd-tmpfiles", "--create", "hvmap.conf"])
    sh(["systemctl", "daemon-reload"])


def configure_libvirt():
    """The host's libvirt as an administrator of a DMI-less host sets it: a
    stable host UUID (else each libvirtd start invents one); on a KVM box,
    QEMU runs as root (the box cannot hand /dev/kvm to libvirt-qemu)."""
    conf = "/etc/libvirt/libvirtd.conf"
    with open(conf) as f:
        text = f.read()
    if "\nhost_uuid_source" not in text:
        with open(conf, "a") as f:
            f.write('\nhost_uuid_source = "machine-id"\n')
    if KVM:
        with open("/etc/libvirt/qemu.conf", "a") as f:
            f.write('\nuser = "root"\ngroup = "root"\n')
    sh(["systemctl", "restart", "libvirtd.service"], timeout=120)
    wait_until(lambda: sh(["virsh", "-c", URI, "uri"], check=False).returncode == 0, 60, "libvirtd answers")


# ---------------------------------------------------------------- server
class FakeCandlepin:
    """tests/fake-candlepin on loopback in the box; its CA becomes the host's
    trusted CA for the server, as an administrator would install Satellite's."""

    def __init__(self):
        os.makedirs(FAKE_STATE, exist_ok=True)
        self.log = open(os.path.join(FAKE_STATE, "stdout.log"), "w")
        self.proc = subprocess.Popen([os.path.join(SRC, "tests/fake-candlepin/fake-candlepin"),
                                      "--state-dir", FAKE_STATE, "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        info = {}
        end = time.monotonic() + 60
        while "READY" not in info:
            line = self.proc.stdout.readline()
            if not line or time.monotonic() > end:
                self.stop()
                raise AssertionError("fake-candlepin did not start; see %s/fake-candlepin.log" % FAKE_STATE)
            key, _, val = line.strip().partition(" ")
            info[key] = val
        self.url, self.control = info["URL"], info["CONTROL"]
        os.makedirs(os.path.dirname(CA_FILE), exist_ok=True)
        shutil.copy(info["CA"], CA_FILE)
        os.chmod(CA_FILE, 0o644)

    def state(self):
        with urllib.request.urlopen(self.control + "/state", timeout=10) as r:
            return json.load(r)

    def post(self, path, body):
        req = urllib.request.Request(self.control + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r) if r.status != 204 else None

    def consumer(self, uuid):
        for c in self.state()["consumers"]:
            if c["uuid"] == uuid:
                return c
        return None

    def guests(self, uuid):
        """{guestId: active attribute} the server holds for consumer uuid."""
        c = self.consumer(uuid) or {}
        return {g["guestId"].lower(): g.get("attributes", {}).get("active") for g in c.get("guestIds", [])}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def write_config(fake, extra=""):
    """The site's drop-in: server URL (the CA is in the default ca_dir), a
    short min_gap so each change is reported within a second."""
    with open(DROPIN, "w") as f:
        f.write("[server]\nurl = %s\n[report]\nmin_gap = 1s\n%s" % (fake.url, extra))
    os.chmod(DROPIN, 0o644)


def register(org="acme", key="hv-key"):
    """hvmap register as the man page says: as the service user, the key on
    standard input; returns the consumer uuid."""
    p = sh(["runuser", "-u", "hvmap", "--", "env", "LIBVIRT_DEFAULT_URI=" + URI, "hvmap", "register", "--org", org,
            "--activation-key-file", "-", "--json"], input=key + "\n", timeout=120)
    return json.loads(p.stdout)


def status():
    """`hvmap status --json` (as root, reading the state directory), whatever
    its exit status says of the health (hvmap(8) EXIT STATUS)."""
    p = sh(["hvmap", "status", "--json"], check=False)
    if p.returncode not in (0, 65, 66, 69, 75, 77, 78):
        raise AssertionError("hvmap status --json: exit %d\n%s%s" % (p.returncode, p.stdout, p.stderr))
    return json.loads(p.stdout)


def consumer_uuid():
    return status()["identity"]["uuid"]


# ---------------------------------------------------------------- systemd
def unit_prop(unit, prop):
    return sh(["systemctl", "show", "-p", prop, "--value", unit]).stdout.strip()


def main_pid(unit="hvmap.service"):
    return int(unit_prop(unit, "MainPID") or 0)


def is_active(unit):
    return sh(["systemctl", "is-active", unit], check=False).stdout.strip()


def wait_active(unit, timeout=60):
    return wait_until(lambda: is_active(unit) == "active", timeout, "%s active" % unit)


def proc_status(pid):
    """{field: value} of /proc/PID/status."""
    with open("/proc/%d/status" % pid) as f:
        return dict(ln.rstrip("\n").split(":\t", 1) for ln in f if ":\t" in ln)


# ---------------------------------------------------------------- guests
# The guest that shuts itself down: a boot sector (64 bytes of code, below)
# that waits about 3 s (INT 15h AH=86h), sets up the PIIX4 ACPI PM block
# (PMBASE 0x600, PMIOSE) and writes SLP_EN|SLP_TYP=0 to PM1a_CNT: QEMU's S5
# soft power off, i.e. the guest's own ACPI shutdown, as an OS does.
#   cli; mov $0x86,%ah; mov $0x2d,%cx; mov $0xc6c0,%dx; sti; int $0x15; cli
#   outl 0x80000b40 -> 0xcf8; outl 0x601 -> 0xcfc       (PMBASE = 0x600)
#   outl 0x80000b80 -> 0xcf8; outb 1 -> 0xcfc            (PMIOSE)
#   outw 0x2000 -> 0x604; 1: hlt; jmp 1b
POWEROFF_BOOT_SECTOR = bytes.fromhex(
    "fab486b92d00bac0c6fbcd15fa66b8400b0080baf80c66ef66b801060000bafc0c66ef66b8800b0080baf80c66ef"
    "bafc0cb001eeba0406b80020eff4ebfd")


def poweroff_image(path):
    img = bytearray(1 << 20)
    img[:len(POWEROFF_BOOT_SECTOR)] = POWEROFF_BOOT_SECTOR
    img[510:512] = b"\x55\xaa"
    with open(path, "wb") as f:
        f.write(img)
    os.chmod(path, 0o644)
    return path


def guest_xml(name, uuid, kvm=False, disk=None):
    """A 64 MiB guest without NIC; without a disk SeaBIOS finds nothing to
    boot and idles, with the power-off image it shuts itself down."""
    boot = "hd" if disk else "network"
    disk_xml = ("<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='%s'/>"
                "<target dev='hda' bus='ide'/></disk>" % disk) if disk else ""
    return ("<domain type='%s'><name>%s</name><uuid>%s</uuid><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
            "<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='%s'/></os><features><acpi/></features>"
            "<on_poweroff>destroy</on_poweroff><devices><emulator>/usr/bin/qemu-system-x86_64</emulator>%s"
            "<controller type='usb' model='none'/><memballoon model='none'/><serial type='pty'/></devices>"
            "</domain>" % ("kvm" if kvm else "qemu", name, uuid, boot, disk_xml))


def virsh(*args, timeout=120, check=True):
    return sh(["virsh", "-q", "-c", URI] + list(args), timeout=timeout, check=check)


def define(name, uuid, **kw):
    path = "/run/%s.xml" % name
    with open(path, "w") as f:
        f.write(guest_xml(name, uuid, **kw))
    virsh("define", path)


def libvirt_active():
    """UUIDs of the active guests (running, paused, ...), as libvirt says."""
    return {u.strip().lower() for u in virsh("list", "--uuid").stdout.split() if u.strip()}


def libvirt_all():
    return {u.strip().lower() for u in virsh("list", "--all", "--uuid").stdout.split() if u.strip()}


def domstate(name):
    return virsh("domstate", "--reason", name, check=False).stdout.strip()
