#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""scripts/demo --box, inside the box: hvmap installed as the package lays it
out and running as the hardened service, real QEMU guests coming and going,
the server (the fake Candlepin on loopback) following. Exits 1 when the
server's list does not end equal to the real guests."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostlib as H  # noqa: E402


def say(msg):
    print("\n\033[1m== %s\033[0m" % msg, flush=True)


def show(cmd):
    print("$ " + " ".join(cmd), flush=True)
    p = H.sh(cmd, check=False)
    print((p.stdout + p.stderr).rstrip(), flush=True)


def main():
    say("Installing hvmap as the package does (files, sysusers, tmpfiles, daemon-reload)")
    H.install_hvmap()
    H.configure_libvirt()
    say("Starting the fake Candlepin on loopback (organization acme, activation key hv-key)")
    fake = H.FakeCandlepin()
    print("server: %s" % fake.url)
    H.write_config(fake)
    show(["cat", H.DROPIN])
    say("hvmap register, as the service user, the key on standard input")
    print(H.register())
    uuid = H.consumer_uuid()
    say("systemctl enable --now hvmap")
    show(["systemctl", "enable", "--now", "hvmap.service"])
    show(["systemctl", "status", "--no-pager", "--lines=0", "hvmap.service"])
    pid = H.main_pid()
    st = H.proc_status(pid)
    print("hardening of pid %d: Uid %s, Seccomp %s, NoNewPrivs %s, CapEff %s"
          % (pid, st["Uid"].split()[0], st["Seccomp"], st["NoNewPrivs"], st["CapEff"]))
    names = []
    kvm = H.KVM

    def step(title, fn):
        say(title)
        fn()
        t = time.monotonic()
        try:
            H.wait_until(lambda: fake.guests(uuid) == {u: "1" for u in H.libvirt_active()}, 10, "in step")
            print("  libvirt (active): %s" % " ".join(sorted(H.libvirt_active())))
            print("  server holds:     %s" % " ".join(sorted(fake.guests(uuid))))
            print("  in step after %.0f ms" % ((time.monotonic() - t) * 1000))
        except AssertionError as e:
            print("  NOT in step: %s" % e)
            raise

    uuids = ["d0d0d0d0-0000-4000-8000-00000000000%d" % i for i in range(1, 4)]
    for i, u in enumerate(uuids, 1):
        H.define("vm%d" % i, u, kvm=kvm)
        names.append("vm%d" % i)
    step("virsh define vm1 vm2 vm3 (%s guests; defined, not running: not reported)" % ("KVM" if kvm else "TCG"),
         lambda: None)
    step("virsh start vm1", lambda: H.virsh("start", "vm1"))
    step("virsh start vm2 and vm3", lambda: (H.virsh("start", "vm2"), H.virsh("start", "vm3")))
    step("virsh suspend vm2 (paused guests still count)", lambda: H.virsh("suspend", "vm2"))
    step("virsh destroy vm1", lambda: H.virsh("destroy", "vm1"))
    step("virsh undefine vm1", lambda: H.virsh("undefine", "vm1"))
    img = H.poweroff_image("/var/lib/libvirt/images/poweroff.img")
    H.define("selfoff", "d0d0d0d0-0000-4000-8000-0000000000ff", disk=img, kvm=kvm)
    step("virsh start selfoff (a guest that powers itself off after about 3 s)", lambda: H.virsh("start", "selfoff"))
    step("... selfoff shuts itself down (ACPI S5)",
         lambda: print("  libvirt: " + H.wait_until(lambda: (lambda s: s if s.startswith("shut off") else None)(
             H.domstate("selfoff")), 60, "selfoff off")))
    step("systemctl restart libvirtd (hvmap reconnects and resyncs)",
         lambda: (H.sh(["systemctl", "restart", "libvirtd.service"], timeout=120),
                  H.wait_until(lambda: H.status()["daemon"].get("libvirt") == "connected", 30, "reconnected")))
    step("virsh destroy vm3", lambda: H.virsh("destroy", "vm3"))
    say("systemctl status hvmap")
    show(["systemctl", "status", "--no-pager", "--lines=5", "hvmap.service"])
    say("hvmap status")
    show(["hvmap", "status"])
    final_l, final_s = H.libvirt_active(), set(fake.guests(uuid))
    say("Done: the server holds %s; libvirt's active guests are %s: %s"
        % (sorted(final_s), sorted(final_l), "EQUAL" if final_l == final_s else "DIFFERENT"))
    fake.stop()
    return 0 if final_l == final_s else 1


if __name__ == "__main__":
    sys.exit(main())
