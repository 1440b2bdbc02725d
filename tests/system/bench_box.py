#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""scripts/bench --box, inside the box: hvmap as the shipped service on a real
host. (1) event -> server latency over real QEMU lifecycle changes (TCG
guests created, suspended, resumed, destroyed; the time from the virsh call
returning to the server's list being exact, polled every 10 ms); (2) the
service's idle cost with 20 running TCG guests: CPU time (utime+stime of the
main process) and private memory (smaps_rollup Pss, Private_Dirty; RSS for
comparison) over the idle window. Prints a table and one JSON line."""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostlib as H  # noqa: E402


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def smaps(pid):
    out = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for ln in f:
            parts = ln.split()
            if len(parts) >= 3 and parts[2] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1])
    return out


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=10, help="create/suspend/resume/destroy cycles (4 changes each)")
    ap.add_argument("--idle", type=int, default=300, help="idle window in seconds")
    ap.add_argument("--guests", type=int, default=20, help="running TCG guests during the idle window")
    a = ap.parse_args()

    H.install_hvmap()
    H.configure_libvirt()
    fake = H.FakeCandlepin()
    H.write_config(fake)
    H.register()
    uuid = H.consumer_uuid()
    H.sh(["systemctl", "enable", "--now", "hvmap.service"], timeout=120)
    H.wait_until(lambda: H.status()["daemon"].get("libvirt") == "connected", 30, "connected")

    def exact(timeout=10):
        exp = {u: "1" for u in H.libvirt_active()}
        H.wait_until(lambda: fake.guests(uuid) == exp, timeout, "server list exact", interval=0.01)

    # (1) latency
    lat_ret, lat_start = [], []
    for c in range(a.cycles):
        u = "be000000-0000-4000-8000-%012d" % c
        path = "/run/bench%d.xml" % c
        with open(path, "w") as f:
            f.write(H.guest_xml("bench%d" % c, u))
        for args in (("create", path), ("suspend", "bench%d" % c), ("resume", "bench%d" % c),
                     ("destroy", "bench%d" % c)):
            t0 = time.monotonic()
            H.virsh(*args)
            t1 = time.monotonic()
            exact()
            t2 = time.monotonic()
            lat_ret.append((t2 - t1) * 1000)
            lat_start.append((t2 - t0) * 1000)
    # Suspend/resume leave the list as it is: the latency that says something
    # is that of create and destroy (every 1st and 4th change).
    changing = [x for i, x in enumerate(lat_ret) if i % 4 in (0, 3)]

    # (2) idle with N guests
    for i in range(a.guests):
        u = "1d1e0000-0000-4000-8000-%012d" % i
        path = "/run/idle%d.xml" % i
        with open(path, "w") as f:
            f.write(H.guest_xml("idle%d" % i, u))
        H.virsh("create", path)
    exact(30)
    pid = H.main_pid()
    # Let the burst settle (the last report, the status write) before measuring.
    H.wait_until(lambda: H.status()["report"].get("accepted_guests") == a.guests, 30, "report of %d" % a.guests)
    c0, m0, w0 = cpu_seconds(pid), smaps(pid), time.monotonic()
    time.sleep(a.idle)  # the idle window itself is what is measured
    c1, m1, w1 = cpu_seconds(pid), smaps(pid), time.monotonic()
    if H.main_pid() != pid:
        raise SystemExit("hvmap restarted during the idle window")
    res = {
        "suite": os.environ.get("HVMAP_BOX", "?"),
        "changes": len(lat_ret),
        "latency_from_return_ms": {"median": statistics.median(lat_ret), "p95": pct(lat_ret, 95),
                                   "max": max(lat_ret)},
        "latency_create_destroy_ms": {"median": statistics.median(changing), "p95": pct(changing, 95),
                                      "max": max(changing)},
        "latency_from_call_start_ms": {"median": statistics.median(lat_start), "p95": pct(lat_start, 95)},
        "idle_window_s": round(w1 - w0, 1),
        "idle_guests": a.guests,
        "idle_cpu_s": round(c1 - c0, 3),
        "idle_cpu_percent": round(100.0 * (c1 - c0) / (w1 - w0), 4),
        "pss_kib": m1.get("Pss"),
        "private_dirty_kib": m1.get("Private_Dirty"),
        "private_clean_kib": m1.get("Private_Clean"),
        "rss_kib": m1.get("Rss"),
        "private_dirty_growth_kib": m1.get("Private_Dirty", 0) - m0.get("Private_Dirty", 0),
    }
    print("\nreal host (%s, %s guests TCG):" % (res["suite"], a.guests))
    print("  event->server, %d changes: from virsh return median %.0f ms, p95 %.0f ms, max %.0f ms"
          % (len(lat_ret), res["latency_from_return_ms"]["median"], res["latency_from_return_ms"]["p95"],
             res["latency_from_return_ms"]["max"]))
    print("  of which create/destroy (the list changes): median %.0f ms, p95 %.0f ms, max %.0f ms"
          % (res["latency_create_destroy_ms"]["median"], res["latency_create_destroy_ms"]["p95"],
             res["latency_create_destroy_ms"]["max"]))
    print("  idle %.0f s with %d guests: CPU %.3f s (%.4f %% of a core); Pss %s KiB, Private_Dirty %s KiB "
          "(growth %+d KiB), RSS %s KiB"
          % (res["idle_window_s"], a.guests, res["idle_cpu_s"], res["idle_cpu_percent"], res["pss_kib"],
             res["private_dirty_kib"], res["private_dirty_growth_kib"], res["rss_kib"]))
    print("BENCH-BOX-JSON " + json.dumps(res))
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
