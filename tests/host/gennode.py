#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Writes a libvirt test-driver node file (open it as test:///ABS/PATH.xml)
with N domains in mixed states, and the list of what it holds, so a test can
compare hvmap's output with the truth.

usage: gennode.py N OUT.xml [--seed S] [--mix RUN:PAUSE:OFF] [--transient K]
                  [--cpu NODES:SOCKETS:CORES:THREADS] [--dom0 [UUID]]
Writes OUT.xml and OUT.xml.list ("UUID NAME running|paused|shutoff
[transient]" per line, the format hvmap-lvdrive's populate reads).

Domain i is named vmNNNNN with uuid5(URL, "hvmap/<seed>/<i>"): unique and the
same on every run. States go round-robin by the --mix weights; the first K
running ones are transient. --dom0 puts a running Domain-0 first (all-zero
UUID unless one is given); the test driver numbers running domains 1, 2, ...
in file order, so it never has id 0."""

import argparse
import sys
import uuid

STATES = {"running": 1, "paused": 3, "shutoff": 5}


def generate(n, seed="0", mix=(6, 1, 3), transient=0, dom0=None):
    """Returns [(uuid, name, state_name, transient)], Domain-0 first if any."""
    cycle = ["running"] * mix[0] + ["paused"] * mix[1] + ["shutoff"] * mix[2]
    doms = []
    if dom0:
        doms.append((dom0, "Domain-0", "running", False))
    left = transient
    for i in range(n):
        st = cycle[i % len(cycle)]
        tr = st == "running" and left > 0
        left -= tr
        doms.append((str(uuid.uuid5(uuid.NAMESPACE_URL, "hvmap/%s/%d" % (seed, i))), "vm%05d" % i, st, tr))
    return doms


def write(path, doms, cpu=(1, 2, 4, 2)):
    with open(path, "w") as f:
        f.write("<?xml version='1.0'?>\n<node>\n")
        f.write("  <cpu><mhz>2400</mhz><model>x86_64</model><nodes>%d</nodes><sockets>%d</sockets>"
                "<cores>%d</cores><threads>%d</threads></cpu>\n" % cpu)
        f.write("  <memory>67108864</memory>\n")
        for uu, name, st, tr in doms:
            f.write("  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
                    "<name>%s</name><uuid>%s</uuid><memory unit='MiB'>256</memory><vcpu>1</vcpu>"
                    "<os><type>hvm</type></os><test:runstate>%d</test:runstate>%s</domain>\n"
                    % (name, uu, STATES[st], "<test:transient/>" if tr else ""))
        f.write("</node>\n")
    with open(path + ".list", "w") as f:
        for uu, name, st, tr in doms:
            f.write("%s %s %s%s\n" % (uu, name, st, " transient" if tr else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--seed", default="0")
    ap.add_argument("--mix", default="6:1:3")
    ap.add_argument("--transient", type=int, default=0)
    ap.add_argument("--cpu", default="1:2:4:2")
    ap.add_argument("--dom0", nargs="?", const="00000000-0000-0000-0000-000000000000")
    a = ap.parse_args()
    doms = generate(a.n, a.seed, tuple(int(x) for x in a.mix.split(":")), a.transient, a.dom0)
    write(a.out, doms, tuple(int(x) for x in a.cpu.split(":")))
    counts = {s: sum(1 for d in doms if d[2] == s) for s in STATES}
    print("wrote %s: %d domains (%s); list in %s.list"
          % (a.out, len(doms), ", ".join("%s=%d" % kv for kv in counts.items()), a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
