#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""hvmap's benchmarks (issues 9 and 12): six cases, one table, one JSON file.

Run through scripts/bench, which builds a release tree first. Every server it
starts (private libvirtd on a unix socket, fake Candlepin on 127.0.0.1) is
its own child, stopped by PID when the case ends, and every wait is bounded.

Timings on a shared 2-core machine are noisy: where it fits, the figure is CPU
time (getrusage of the child, /proc/PID/task/*/schedstat), counts (context
switches, requests) or memory (/proc/PID/status, smaps_rollup), and the load
average is printed next to the table.

usage: bench.py --build DIR [--out FILE] [--runs N] [--idle SECONDS]
                [--changes N] [--only 1,2,...]"""

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # the harness modules come from the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")


def setup_paths(build):
    os.environ["HVMAP"] = os.path.join(build, "agent", "hvmap")
    os.environ["LVDRIVE"] = os.path.join(build, "tests", "host", "hvmap-lvdrive")
    for d in ("host", "fake-candlepin", "integration"):
        sys.path.insert(0, os.path.join(TESTS, d))


# ---- small helpers ----------------------------------------------------------

class Cleanups:
    """What daemon_harness.Stack wants from a TestCase: addCleanup, run LIFO."""

    def __init__(self):
        self.fns = []

    def addCleanup(self, fn, *args):
        self.fns.append((fn, args))

    def run(self):
        while self.fns:
            fn, args = self.fns.pop()
            try:
                fn(*args)
            except Exception as e:  # a cleanup failure must not hide the rest
                print("bench: cleanup %s: %s" % (getattr(fn, "__name__", fn), e), file=sys.stderr)


def wait_until(pred, timeout, interval=0.02, what="condition"):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= end:
            raise TimeoutError("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def percentile(values, p):
    """Nearest-rank percentile."""
    v = sorted(values)
    if not v:
        return None
    k = max(0, min(len(v) - 1, int(-(-p * len(v) // 100)) - 1))
    return v[k]


def summary(values):
    """{median, min, max, n} of a list of numbers."""
    values = [x for x in values if x is not None]
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def read(path):
    with open(path) as f:
        return f.read()


def proc_sample(pid):
    """CPU, wakeups, memory and writes of a running process, from /proc."""
    s = {"t": time.monotonic(), "threads": {}}
    st = read("/proc/%d/stat" % pid)
    fields = st[st.rindex(")") + 2:].split()
    s["cpu_ticks_s"] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            ns = int(read("/proc/%d/task/%s/schedstat" % (pid, tid)).split()[0])
            status = read("/proc/%d/task/%s/status" % (pid, tid))
        except (FileNotFoundError, ProcessLookupError):
            continue
        ctx = 0
        for line in status.splitlines():
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                ctx += int(line.split()[1])
        s["threads"][int(tid)] = {"cpu_ns": ns, "ctx": ctx}
    for line in read("/proc/%d/status" % pid).splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            s[line.split(":")[0]] = int(line.split()[1])  # kB
    for line in read("/proc/%d/smaps_rollup" % pid).splitlines()[1:]:
        k, v = line.split(":", 1)
        if k in ("Rss", "Pss", "Private_Dirty", "Private_Clean", "Shared_Clean", "Shared_Dirty"):
            s[k] = int(v.split()[0])  # kB
    try:
        for line in read("/proc/%d/io" % pid).splitlines():
            k, v = line.split(":")
            s["io_" + k] = int(v)
    except OSError:
        pass
    return s


def proc_delta(a, b, pid):
    """What happened between two samples of pid."""
    common = set(a["threads"]) & set(b["threads"])
    cpu_ns = sum(b["threads"][t]["cpu_ns"] - a["threads"][t]["cpu_ns"] for t in common)
    main_ns = b["threads"][pid]["cpu_ns"] - a["threads"][pid]["cpu_ns"]
    ctx = {t: b["threads"][t]["ctx"] - a["threads"][t]["ctx"] for t in common}
    return {
        "seconds": b["t"] - a["t"],
        "cpu_s": cpu_ns / 1e9,
        "cpu_main_s": main_ns / 1e9,
        "cpu_ticks_s": b["cpu_ticks_s"] - a["cpu_ticks_s"],
        "ctx_switches": sum(ctx.values()),
        "ctx_main": ctx.get(pid, 0),
        "threads": len(b["threads"]),
        "write_syscalls": b.get("io_syscw", 0) - a.get("io_syscw", 0),
    }


def state_json(stack):
    try:
        with open(os.path.join(stack.state_dir, "state.json")) as f:
            return json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def run_rusage(argv, timeout=300):
    """Runs argv to completion: (wall s, user+sys s, peak RSS kB, rc)."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    timer = threading.Timer(timeout, p.kill)
    timer.start()
    try:
        _, status, ru = os.wait4(p.pid, 0)
    finally:
        timer.cancel()
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv), p.returncode, err[-500:]))
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss


def puts_since(stack, t0_s):
    """PUTs to our consumer received at or after t0_s, oldest first, each
    (t, set of guest ids, body bytes)."""
    out = []
    for r in stack.puts():
        if r["t"] >= t0_s:
            body = json.loads(r["body"])
            out.append((r["t"], {g["guestId"] for g in body.get("guestIds", [])}, len(r["body"])))
    out.sort(key=lambda x: x[0])
    return out


# ---- the machine -------------------------------------------------------------

def machine():
    model = "unknown"
    for line in read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    lv = None
    try:
        lv = subprocess.run(["pkg-config", "--modversion", "libvirt"], capture_output=True, text=True,
                            timeout=10).stdout.strip() or None
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "libvirt": lv, "kernel": platform.release(),
            "python": platform.python_version(), "loadavg_start": loadavg()}


# ---- case 1: cold print --------------------------------------------------------

def case_cold_print(a, work):
    import gennode
    hvmap, floor = os.environ["HVMAP"], os.path.join(a.build, "tests", "bench", "hvmap-bench-floor")
    etc = os.path.join(work, "etc-empty")
    os.makedirs(etc, exist_ok=True)
    res = {}
    for n in (10, 1000, 10000):
        path = os.path.join(work, "node-%d.xml" % n)
        gennode.write(path, gennode.generate(n))
        uri = "test://" + path
        runs = {"hvmap": [], "floor": []}
        for _ in range(a.runs):  # interleaved, so a change of load hits both
            runs["hvmap"].append(run_rusage([hvmap, "--config-dir", etc, "--rhsm-conf", "", "print",
                                             "--uri", uri]))
            runs["floor"].append(run_rusage([floor, uri]))
        r = {}
        for k, v in runs.items():
            r[k] = {"wall_s": summary([x[0] for x in v]), "cpu_s": summary([x[1] for x in v]),
                    "rss_kb": summary([x[2] for x in v])}
        r["ratio_cpu"] = summary([h[1] / f[1] for h, f in zip(runs["hvmap"], runs["floor"]) if f[1] > 0])
        r["ratio_wall"] = summary([h[0] / f[0] for h, f in zip(runs["hvmap"], runs["floor"])])
        r["rss_extra_kb"] = r["hvmap"]["rss_kb"]["median"] - r["floor"]["rss_kb"]["median"]
        res[str(n)] = r
        print("bench: case 1, %d guests: hvmap %.2fs CPU, floor %.2fs CPU" % (
            n, r["hvmap"]["cpu_s"]["median"], r["floor"]["cpu_s"]["median"]), file=sys.stderr)
    return res


# ---- stacks -------------------------------------------------------------------

def make_stack(cl, conf_extra):
    from daemon_harness import Stack
    return Stack(cl, conf_extra)


def start_and_wait_report(stack, timeout=120):
    stack.start_daemon()
    wait_until(lambda: state_json(stack).get("reports_sent", 0) >= 1 or stack.daemon.poll() is not None,
               timeout, interval=0.05, what="the daemon's first report")
    if stack.daemon.poll() is not None:
        raise RuntimeError("hvmap run exited %s:\n%s" % (stack.daemon.returncode, stack.daemon_log()[-2000:]))


# ---- case 2: event → server latency (and case 4, idle, beside it) ------------

def define_guests(stack, k):
    uuids = []
    for i in range(k):
        u = "00000000-2222-4333-8444-%012d" % i
        stack.driver.cmd("define bench%d %s" % (i, u))
        stack.driver.cmd("start %s" % u)
        uuids.append(u)
    return uuids


def latencies(stack, changes):
    """For each change (t0 ms, uuid, now active, libvirt call ms), the time
    until the first PUT that shows it arrived (ms); None when none did."""
    puts = puts_since(stack, changes[0][0] / 1000.0 - 1) if changes else []
    out = []
    for t0, uuid, active, _ in changes:
        hit = None
        for t, guests, _ in puts:
            if t * 1000.0 >= t0 and (uuid in guests) == active:
                hit = t * 1000.0 - t0
                break
        out.append(hit)
    return out


def case_latency(a, cl, idle_result):
    k = 10
    zero = make_stack(cl, "[report]\ndebounce = 0\nmin_gap = 0\n")
    dflt = make_stack(cl, "")
    stacks = {"zero": zero, "default": dflt}
    uuids = {}
    for name, st in stacks.items():
        uuids[name] = define_guests(st, k)
        start_and_wait_report(st)
        st.wait_equal(timeout=30)
    # The first change must not land within min_gap (5 s) of the start-up
    # report, or every default-configuration change after it inherits the gap.
    time.sleep(5.5)
    # The default configuration coalesces changes closer than min_gap (5 s):
    # its changes are spaced wider, so each one is a first change after a
    # quiet period, which the daemon sends at once (leading edge).
    every_default = 6
    changes = {"zero": [], "default": []}
    active = {n: {u: True for u in uuids[n]} for n in stacks}
    start = time.monotonic()
    # The default stack's changes come half a second after the zero stack's,
    # so the two daemons and their fakes do not compete for the same moment.
    plan = [(tick * 1.0, "zero") for tick in range(a.changes)]
    plan += [(tick * 1.0 + 0.5, "default") for tick in range(0, a.changes, every_default)]
    for at, name in sorted(plan):
        delay = start + at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        n = len(changes[name])
        u = uuids[name][n % k]
        now_active = not active[name][u]
        t0, t1, _ = stacks[name].driver.cmd("%s %s" % ("start" if now_active else "destroy", u))
        active[name][u] = now_active
        changes[name].append((t0, u, now_active, t1 - t0))
    # Let the last changes arrive (bounded), then read the fakes' logs.
    for name, st in stacks.items():
        try:
            st.wait_equal(timeout=15)
        except AssertionError:
            pass
    res = {}
    for name, st in stacks.items():
        lat = latencies(st, changes[name])
        got = [x for x in lat if x is not None]
        res[name] = {
            "changes": len(lat), "matched": len(got),
            "spacing_s": 1.0 if name == "zero" else float(every_default),
            "p50_ms": percentile(got, 50), "p95_ms": percentile(got, 95), "p99_ms": percentile(got, 99),
            "max_ms": max(got) if got else None, "min_ms": min(got) if got else None,
            "reports": len(puts_since(st, changes[name][0][0] / 1000.0)) if changes[name] else 0,
            # Each change: its latency and how long libvirtd took to apply
            # it (a slow call means a loaded machine, not a slow hvmap).
            "latencies_ms": lat, "libvirt_call_ms": [c[3] for c in changes[name]],
        }
        st.stop_daemon()
    if idle_result.get("thread"):
        idle_result["thread"].join()
    return res


# ---- case 4: idle -------------------------------------------------------------

def case_idle(a, cl, work, out):
    import gennode
    try:
        path = os.path.join(work, "idle-1000.xml")
        gennode.write(path, gennode.generate(1000, mix=(1, 0, 0)))
        st = make_stack(cl, "")
        # The guests come from a node file served by the private libvirtd;
        # keepalive back to hvmap's defaults (the harness uses 1 s).
        st.write_conf("[libvirt]\nuri = %s\nkeepalive_interval = 5s\nkeepalive_count = 3\n"
                      % st.lv.file_uri(path))
        out["guests_reported"] = None
        start_and_wait_report(st)
        pid = st.daemon.pid
        # Settle: the post-report state write and the host thread's first
        # keepalive, then the window.
        wait_until(lambda: state_json(st).get("guests") == 1000, 30, what="1000 guests in state.json")
        time.sleep(3)
        s0, w0 = proc_sample(pid), state_json(st).get("loop_wakeups", 0)
        time.sleep(a.idle)
        s1, w1 = proc_sample(pid), state_json(st).get("loop_wakeups", 0)
        d = proc_delta(s0, s1, pid)
        scale = 300.0 / d["seconds"]
        out.update({
            "window_s": d["seconds"],
            "guests_reported": state_json(st).get("guests"),
            "cpu_s": d["cpu_s"], "cpu_ticks_s": d["cpu_ticks_s"], "cpu_s_per_5min": d["cpu_s"] * scale,
            "cpu_percent_core": 100.0 * d["cpu_s"] / d["seconds"],
            "ctx_switches": d["ctx_switches"], "ctx_main": d["ctx_main"], "cpu_main_s": d["cpu_main_s"],
            "wakeups_per_min": d["ctx_switches"] * 60.0 / d["seconds"],
            "loop_wakeups": w1 - w0, "loop_wakeups_per_min": (w1 - w0) * 60.0 / d["seconds"],
            "write_syscalls": d["write_syscalls"], "threads": d["threads"],
            "rss_kb": s1.get("VmRSS"), "hwm_kb": s1.get("VmHWM"), "pss_kb": s1.get("Pss"),
            "private_dirty_kb": s1.get("Private_Dirty"), "private_clean_kb": s1.get("Private_Clean"),
            "shared_clean_kb": s1.get("Shared_Clean"),
        })
        st.stop_daemon()
    except Exception as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)


# ---- case 3: burst ------------------------------------------------------------

def case_burst(a, cl, work):
    import gennode
    st = make_stack(cl, "")
    doms = gennode.generate(1000, seed="burst", mix=(1, 0, 0))
    path = os.path.join(work, "burst.xml")
    gennode.write(path, doms)
    st.driver.cmd("populate %s.list" % path)
    uuids = [d[0] for d in doms]
    start_and_wait_report(st)
    st.wait_equal(timeout=60)
    pid = st.daemon.pid
    rounds = []
    for r in range(a.runs):
        op = "destroy" if r % 2 == 0 else "start"
        st.cp.ctl("POST", "/requests/clear")
        # Past min_gap since the last report, like a quiet host.
        time.sleep(5.5)
        s0 = proc_sample(pid)
        first = None
        for u in uuids:
            t0, t1, _ = st.driver.cmd("%s %s" % (op, u))
            first = first if first is not None else t0
        last = t1
        want = st.libvirt_active()
        try:
            wait_until(lambda: st.server_guests() == want, 60, interval=0.05, what="an exact list")
        except TimeoutError:
            pass
        # Any report still to come within min_gap + a margin counts too.
        time.sleep(6)
        s1 = proc_sample(pid)
        puts = puts_since(st, first / 1000.0)
        exact = next((p for p in puts if p[1] == want), None)
        rounds.append({
            "op": op, "changes": len(uuids),
            "burst_s": (last - first) / 1000.0,
            "exact_after_s": (exact[0] * 1000.0 - first) / 1000.0 if exact else None,
            "exact_after_last_change_s": (exact[0] * 1000.0 - last) / 1000.0 if exact else None,
            "reports_until_exact": (puts.index(exact) + 1) if exact else None,
            "reports": len(puts),
            "daemon_cpu_s": proc_delta(s0, s1, pid)["cpu_s"],
        })
        print("bench: case 3 round %d: %s" % (r + 1, rounds[-1]), file=sys.stderr)
    st.stop_daemon()
    return {
        "rounds": rounds,
        "reports": summary([x["reports"] for x in rounds]),
        "reports_until_exact": summary([x["reports_until_exact"] for x in rounds]),
        "exact_after_s": summary([x["exact_after_s"] for x in rounds]),
        "burst_s": summary([x["burst_s"] for x in rounds]),
        "daemon_cpu_s": summary([x["daemon_cpu_s"] for x in rounds]),
    }


# ---- case 5: one report of 10 000 guests --------------------------------------

def case_report(a, cl, work):
    """What one report of 10 000 guests costs the daemon. A real report
    follows a change: the host thread publishes a new snapshot, the main
    thread builds the mapping once (body + SHA-256) and sends it. So each
    round changes one guest, more than min_gap after the last report (an
    isolated change, sent at once), and measures the daemon's CPU from the
    change until the report is accepted. SIGUSR1 rounds resend the current
    mapping: the send alone, without the rebuild."""
    import gennode
    n = 10000
    doms = gennode.generate(n, seed="report", mix=(1, 0, 0))
    path = os.path.join(work, "report-%d.xml" % n)
    gennode.write(path, doms)
    st = make_stack(cl, "")
    t = time.monotonic()
    st.driver.cmd("populate %s.list" % path)
    print("bench: case 5: %d guests defined and started in %.0f s" % (n, time.monotonic() - t), file=sys.stderr)
    want = len(st.libvirt_active())
    start_and_wait_report(st, timeout=240)
    pid = st.daemon.pid
    wait_until(lambda: state_json(st).get("guests") == want, 120, what="%d guests in state.json" % want)
    uuids = [d[0] for d in doms]
    last_report = [time.time()]

    def one(trigger):
        """Runs trigger() on a quiet daemon; what the report it causes cost."""
        st.cp.ctl("POST", "/requests/clear")
        # More than min_gap (5 s) after the last report: sent at once.
        time.sleep(max(0.0, last_report[0] + 5.5 - time.time()))
        sent = state_json(st).get("reports_sent", 0)
        s0 = proc_sample(pid)
        t0 = time.time()
        trigger()
        wait_until(lambda: state_json(st).get("reports_sent", 0) > sent, 60, interval=0.005,
                   what="the report")
        t_done = last_report[0] = time.time()
        s1 = proc_sample(pid)
        # The fake logs a request after answering it: wait for the entry.
        try:
            puts = wait_until(lambda: puts_since(st, t0), 10, interval=0.05, what="the PUT in the log")
        except TimeoutError:
            puts = []
        # The daemon writes its status to state.json again at most 1 s
        # later (agent/daemon.c, SAVE_DELAY_USEC): part of the report too.
        time.sleep(max(0.0, t_done + 1.5 - time.time()))
        s2 = proc_sample(pid)
        d = proc_delta(s0, s1, pid)
        d2 = proc_delta(s0, s2, pid)
        return {
            "cpu_main_s": d["cpu_main_s"], "cpu_s": d["cpu_s"], "cpu_main_settled_s": d2["cpu_main_s"],
            "wall_s": t_done - t0,
            "to_server_s": (puts[0][0] - t0) if puts else None,
            "body_bytes": puts[0][2] if puts else None,
            "guests": len(puts[0][1]) if puts else None,
        }

    changes, forced = [], []
    for i in range(max(a.runs, 5)):
        changes.append(one(lambda: st.driver.cmd("destroy %s" % uuids[i])))
        forced.append(one(lambda: os.kill(pid, signal.SIGUSR1)))
        print("bench: case 5 round %d: change %s, SIGUSR1 %s" % (i + 1, changes[-1], forced[-1]), file=sys.stderr)
    reports = changes
    mem = proc_sample(pid)
    st.stop_daemon()
    # The same body size on the wire, sent back to back on one connection by
    # proto/'s client alone: loopback TLS plus the (Python) fake's parsing.
    cli = os.path.join(a.build, "tests", "proto", "proto-cli")
    bench = None
    p = subprocess.run([cli, "--url", st.cp.url, "--ca-dir", os.path.dirname(st.cp.ca), "--identity",
                        st.state_dir, "--guests", str(n), "--count", "10", "--deadline-ms", "120000",
                        "bench-update"], capture_output=True, text=True, timeout=180)
    if p.returncode == 0:
        bench = json.loads(p.stdout.strip().splitlines()[-1])
    return {
        "guests": n,
        "reports": reports,
        "sigusr1": forced,
        "sigusr1_cpu_main_ms": summary([r["cpu_main_s"] * 1000 for r in forced]),
        "sigusr1_cpu_ms": summary([r["cpu_s"] * 1000 for r in forced]),
        "cpu_main_ms": summary([r["cpu_main_s"] * 1000 for r in reports]),
        "cpu_main_settled_ms": summary([r["cpu_main_settled_s"] * 1000 for r in reports]),
        "cpu_ms": summary([r["cpu_s"] * 1000 for r in reports]),
        "wall_ms": summary([r["wall_s"] * 1000 for r in reports]),
        "to_server_ms": summary([r["to_server_s"] * 1000 for r in reports if r["to_server_s"] is not None]),
        "body_bytes": summary([r["body_bytes"] for r in reports]),
        "rss_kb": mem.get("VmRSS"), "hwm_kb": mem.get("VmHWM"), "private_dirty_kb": mem.get("Private_Dirty"),
        "proto_cli": bench,
        "proto_cli_ms_per_request": 1000.0 / bench["requests_per_second"] if bench and bench.get(
            "requests_per_second") else None,
        "proto_cli_error": None if bench else (p.stdout + p.stderr)[-500:],
    }


# ---- case 6: fleet ------------------------------------------------------------

def case_fleet(a):
    exe = os.path.join(a.build, "tests", "bench", "hvmap-bench-fleet")
    # (name, restart, extra arguments): every host is the daemon's own
    # reporting engine with the shipped defaults (fleet.c); the third row
    # changes one setting, through hvmap.conf's own parser.
    scenarios = [
        ("warm restart, defaults", "warm", []),
        ("cold restart, defaults", "cold", []),
        ("cold restart, splay = 0", "cold", ["--set", "report.splay=0"]),
    ]
    restart_at = 12 * 3600
    res = {"hosts": 1000, "changes_per_host_hour": 1.0, "restart_at_s": restart_at, "scenarios": {}}
    for name, kind, extra in scenarios:
        runs = []
        for seed in range(1, a.runs + 1):
            p = subprocess.run([exe, "--hosts", "1000", "--changes-per-host-hour", "1", "--restart", kind,
                                "--restart-at", str(restart_at), "--seed", str(seed)] + extra,
                               capture_output=True, text=True, timeout=300, check=True)
            runs.append(json.loads(p.stdout))
        m0 = restart_at // 60
        first = runs[0]
        # The restart's own peak: the minute of the restart itself.
        res["scenarios"][name] = {
            "restart": kind, "splay_s": first["splay_s"], "debounce_ms": first["debounce_ms"],
            "min_gap_s": first["min_gap_s"], "interval_s": first["interval_s"],
            "requests_per_day": summary([r["requests"] for r in runs]),
            "requests_per_hour": summary([r["requests"] / r["hours"] for r in runs]),
            "mean_per_second": summary([r["mean_per_second"] for r in runs]),
            "peak_per_second": summary([r["peak_per_second"] for r in runs]),
            "peak_per_minute": summary([r["peak_per_minute"] for r in runs]),
            "peak_over_mean": summary([r["peak_per_second"] / r["mean_per_second"] for r in runs]),
            "peak_minute_over_mean": summary([r["peak_per_minute"] / (60 * r["mean_per_second"]) for r in runs]),
            "restart_second_peak": summary([max(r["per_minute_peak_second"][m0:m0 + 2]) for r in runs]),
            "upkeep_peak_per_second": summary([max(r["per_minute_peak_second"][m0 + 10:m0 + 11]) for r in runs]),
            "hour_after_peak_per_second": summary(
                [max(r["per_minute_peak_second"][m0 + 55:m0 + 70]) for r in runs]),
            "per_hour": first["per_hour"],
            "per_minute_around_restart": first["per_minute"][m0 - 5:m0 + 70],
            "peak_second_around_restart": first["per_minute_peak_second"][m0 - 5:m0 + 70],
        }
    return res


def fleet_histogram(f):
    """Per-minute requests around the restart, the three scenarios side by
    side, with a bar for the cold restart with the defaults."""
    names = list(f["scenarios"])[:3]
    lines = ["Case 6 histogram: requests per minute (and the busiest second) around the restart at 12:00,"
             " 1 000 hosts; bar: %s" % names[1],
             "  %-7s %s" % ("minute", "  ".join("%-24s" % n for n in names))]
    per = {n: f["scenarios"][n]["per_minute_around_restart"] for n in names}
    pk = {n: f["scenarios"][n]["peak_second_around_restart"] for n in names}
    top = max(max(v) for v in per.values()) or 1
    rows = list(range(0, 18)) + [None] + list(range(62, 75))
    for i in rows:
        if i is None:
            lines.append("  ...")
            continue
        cells = "  ".join("%-24s" % ("%5d (%4d/s)" % (per[n][i], pk[n][i])) for n in names)
        bar = "#" * max(1, round(40 * per[names[1]][i] / top)) if per[names[1]][i] else ""
        lines.append("  %+5d   %s %s" % (i - 5, cells, bar))
    lines.append("  per hour (%s): %s" % (names[1], " ".join(str(x) for x in f["scenarios"][names[1]]["per_hour"])))
    return lines


# ---- the table ------------------------------------------------------------------

def fmt(v, unit="", nd=2):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return ("%." + str(nd) + "f%s") % (v, unit)
    return "%s%s" % (v, unit)


def spread(s, unit="", nd=2, scale=1.0):
    if not s or s.get("median") is None:
        return "n/a"
    m, lo, hi = (s[k] * scale for k in ("median", "min", "max"))
    if s["n"] == 1:
        return fmt(m, unit, nd)
    return "%s [%s–%s] n=%d" % (fmt(m, unit, nd), fmt(lo, "", nd), fmt(hi, "", nd), s["n"])


def verdict(ok):
    return "n/a" if ok is None else ("met" if ok else "NOT MET")


def table(results, a):
    rows = []  # case, measure, value, target, verdict

    def row(case, measure, value, target="", ok=None):
        rows.append({"case": case, "measure": measure, "value": value, "target": target,
                     "verdict": verdict(ok) if target else ""})

    c1 = results.get("1")
    if c1 and "error" not in c1:
        for n in ("10", "1000", "10000"):
            r = c1[n]
            row("1 cold print" if n == "10" else "", "%s guests: hvmap CPU" % n, spread(r["hvmap"]["cpu_s"], " s", 3))
            row("", "%s guests: floor CPU" % n, spread(r["floor"]["cpu_s"], " s", 3))
            tgt = n == "10000"
            rc = r["ratio_cpu"]["median"]
            row("", "%s guests: hvmap/floor CPU" % n, spread(r["ratio_cpu"], "×", 2),
                "≤ 1.3×" if tgt else "", (rc <= 1.3) if tgt and rc else None)
            row("", "%s guests: hvmap/floor wall" % n, spread(r["ratio_wall"], "×", 2) +
                " (hvmap %s)" % fmt(r["hvmap"]["wall_s"]["median"], " s", 2))
            row("", "%s guests: peak RSS hvmap / floor" % n, "%s / %s MiB" % (
                fmt(r["hvmap"]["rss_kb"]["median"] / 1024, "", 1), fmt(r["floor"]["rss_kb"]["median"] / 1024, "", 1)))
    elif c1:
        row("1 cold print", "error", c1["error"])

    c2 = results.get("2")
    if c2 and "error" not in c2:
        # The defaults send an isolated change at once (leading edge); with
        # min_gap 0 every change is isolated.
        for name, limit in (("zero", 100), ("default", 50)):
            r = c2[name]
            label = ("debounce 0, min_gap 0, 1 change/s" if name == "zero"
                     else "defaults (no [report] settings), 1 change/%.0f s" % r["spacing_s"])
            row("2 event→server" if name == "zero" else "", label,
                "p50 %s  p95 %s  p99 %s  max %s (%d/%d matched)" % (
                    fmt(r["p50_ms"], " ms", 0), fmt(r["p95_ms"], "", 0), fmt(r["p99_ms"], "", 0),
                    fmt(r["max_ms"], "", 0), r["matched"], r["changes"]),
                "p99 ≤ %d ms" % limit,
                (r["p99_ms"] is not None and r["p99_ms"] <= limit and r["matched"] == r["changes"]))
    elif c2:
        row("2 event→server", "error", c2["error"])

    c3 = results.get("3")
    if c3 and "error" not in c3:
        rep = c3["reports"]["max"]
        ex = c3["exact_after_s"]["max"]
        row("3 burst", "1 000 changes in (s)", spread(c3["burst_s"], " s", 2))
        row("", "reports sent (whole burst + 6 s)", spread(c3["reports"], "", 0), "≤ 3",
            rep is not None and rep <= 3)
        row("", "exact after first change", spread(c3["exact_after_s"], " s", 2), "≤ 6 s",
            ex is not None and ex <= 6 and c3["exact_after_s"]["n"] == len(c3["rounds"]))
        row("", "daemon CPU per burst", spread(c3["daemon_cpu_s"], " s", 3))
    elif c3:
        row("3 burst", "error", c3["error"])

    c4 = results.get("4")
    if c4 and "error" not in c4:
        row("4 idle (1 000 guests)", "window", "%s s (issue asks 300 s; --idle)" % fmt(c4["window_s"], "", 0))
        row("", "CPU, scaled to 5 min", "%s (%s %% of a core)" % (
            fmt(c4["cpu_s_per_5min"], " s", 4), fmt(c4["cpu_percent_core"], "", 4)), "≤ 0.05 s",
            c4["cpu_s_per_5min"] <= 0.05)
        row("", "CPU main thread / other threads", "%s / %s s in window" % (
            fmt(c4["cpu_main_s"], "", 4), fmt(c4["cpu_s"] - c4["cpu_main_s"], "", 4)))
        row("", "wakeups (ctx switches, all threads)", "%s/min (main thread %s/min)" % (
            fmt(c4["wakeups_per_min"], "", 1), fmt(c4["ctx_main"] * 60.0 / c4["window_s"], "", 1)))
        row("", "loop wakeups (state.json)", "%s/min" % fmt(c4["loop_wakeups_per_min"], "", 1))
        row("", "write syscalls (sockets, eventfds, state.json)", "%s/min" % fmt(
            c4["write_syscalls"] * 60.0 / c4["window_s"], "", 1))
        # What the daemon itself costs: its private dirty pages (heap,
        # stacks, written data) and its proportional share of the rest.
        # RSS counts every shared library page in full (libvirt, OpenSSL,
        # libcurl, libsystemd: most of it), so it is shown, not judged.
        row("", "private dirty", fmt(c4["private_dirty_kb"] / 1024, " MiB", 2), "≤ 4 MiB",
            c4["private_dirty_kb"] <= 4096)
        row("", "PSS", fmt(c4["pss_kb"] / 1024, " MiB", 2), "< 10 MiB", c4["pss_kb"] < 10240)
        row("", "RSS (shared libraries counted in full)", "%s MiB (private clean %s, shared clean %s)" % (
            fmt(c4["rss_kb"] / 1024, "", 2), fmt(c4["private_clean_kb"] / 1024, "", 2),
            fmt(c4["shared_clean_kb"] / 1024, "", 2)))
    elif c4:
        row("4 idle", "error", c4["error"])

    c5 = results.get("5")
    if c5 and "error" not in c5:
        cpu = c5["cpu_main_ms"]["median"]
        row("5 one report", "10 000 guests, one changed: CPU of the main thread (rebuild + digest + send)",
            spread(c5["cpu_main_ms"], " ms", 1), "≤ 15 ms", cpu is not None and cpu <= 15)
        row("", "the same + the status write 1 s later (main thread)", spread(c5["cpu_main_settled_ms"], " ms", 1))
        row("", "the same as the first, all threads (+ host thread: event, table, snapshot)",
            spread(c5["cpu_ms"], " ms", 1))
        row("", "SIGUSR1, nothing changed: CPU of the main thread (send only)",
            spread(c5["sigusr1_cpu_main_ms"], " ms", 1))
        row("", "body", spread(c5["body_bytes"], " B", 0))
        row("", "change → server saw the request", spread(c5["to_server_ms"], " ms", 1))
        row("", "change → accepted (incl. the fake's parse)", spread(c5["wall_ms"], " ms", 1))
        row("", "proto-cli back-to-back, loopback TLS", "%s per request" % fmt(c5["proto_cli_ms_per_request"], " ms", 1))
        row("", "daemon RSS / private dirty", "%s / %s MiB" % (
            fmt(c5["rss_kb"] / 1024, "", 1), fmt(c5["private_dirty_kb"] / 1024, "", 1)))
    elif c5:
        row("5 one report", "error", c5["error"])

    c6 = results.get("6")
    if c6 and "error" not in c6:
        first = True
        for name, s in c6["scenarios"].items():
            ratio = s["peak_minute_over_mean"]["median"]
            row("6 fleet (1 000 hosts)" if first else "", name + ": requests/hour",
                spread(s["requests_per_hour"], "", 0))
            row("", name + ": mean / peak req/s", "%s / %s (restart s: %s, +10 min: %s, +1 h: %s)" % (
                fmt(s["mean_per_second"]["median"], "", 2), fmt(s["peak_per_second"]["median"], "", 0),
                fmt(s["restart_second_peak"]["median"], "", 0), fmt(s["upkeep_peak_per_second"]["median"], "", 0),
                fmt(s["hour_after_peak_per_second"]["median"], "", 0)))
            row("", name + ": peak/mean, 1-min bins (1-s bins)", "%s (%s)" % (
                spread(s["peak_minute_over_mean"], "×", 1), fmt(s["peak_over_mean"]["median"], "×", 0)),
                "≤ 3×", ratio <= 3)
            first = False
    elif c6:
        row("6 fleet", "error", c6["error"])
    return rows


def render(rows, mach, results, a):
    w = [max(len(r[k]) for r in rows + [{"case": "case", "measure": "measure", "value": "value",
                                           "target": "target", "verdict": "verdict"}])
         for k in ("case", "measure", "value", "target", "verdict")]
    w = [min(x, 90) for x in w]
    out = ["hvmap benchmarks — %s, %d cores, libvirt %s, kernel %s" % (
        mach["cpu"], mach["cores"], mach["libvirt"], mach["kernel"]),
        "load average at start %s, at end %s; %d runs per case where it repeats (median [min–max])" % (
            " ".join("%.2f" % x for x in mach["loadavg_start"]),
            " ".join("%.2f" % x for x in mach.get("loadavg_end", [])), a.runs)]
    head = ("case", "measure", "value", "target", "verdict")
    sep = "  "
    out.append(sep.join(h.ljust(w[i]) for i, h in enumerate(head)))
    out.append(sep.join("-" * w[i] for i in range(5)))
    for r in rows:
        out.append(sep.join(r[k].ljust(w[i]) for i, k in enumerate(head)).rstrip())
    if results.get("6") and "error" not in results["6"]:
        out.append("")
        out.extend(fleet_histogram(results["6"]))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description="hvmap benchmarks")
    ap.add_argument("--build", required=True)
    ap.add_argument("--out", default=None)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--idle", type=float, default=120)
    ap.add_argument("--changes", type=int, default=200)
    ap.add_argument("--only", default="1,2,3,4,5,6")
    a = ap.parse_args()
    a.build = os.path.abspath(a.build)
    setup_paths(a.build)
    only = set(a.only.split(","))
    out = a.out or os.path.join(a.build, "bench", "bench.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)

    t_start = time.monotonic()
    mach = machine()
    results = {}
    work = tempfile.mkdtemp(prefix="hvb-", dir="/tmp")
    cl = Cleanups()
    cl.addCleanup(lambda: subprocess.run(["rm", "-rf", work]))

    def attempt(key, fn, *args):
        if key not in only:
            return
        t = time.monotonic()
        print("bench: case %s ..." % key, file=sys.stderr)
        try:
            results[key] = fn(*args)
        except Exception as e:
            results[key] = {"error": "%s: %s" % (type(e).__name__, e)}
        results[key]["elapsed_s"] = time.monotonic() - t
        print("bench: case %s done in %.0f s" % (key, results[key]["elapsed_s"]), file=sys.stderr)

    try:
        attempt("6", case_fleet, a)
        attempt("1", case_cold_print, a, work)
        # Case 4 sits idle beside case 2: its daemon's own CPU, wakeups and
        # memory do not depend on the other daemons' work.
        idle = {}
        if "4" in only:
            idle["thread"] = threading.Thread(target=case_idle, args=(a, cl, work, idle), daemon=True)
            idle["thread"].start()
        attempt("2", case_latency, a, cl, idle)
        if "4" in only:
            idle["thread"].join(a.idle + 300)
            idle.pop("thread", None)
            results["4"] = idle
        attempt("3", case_burst, a, cl, work)
        attempt("5", case_report, a, cl, work)
    finally:
        cl.run()
    mach["loadavg_end"] = loadavg()
    mach["elapsed_s"] = time.monotonic() - t_start
    rows = table(results, a)
    text = render(rows, mach, results, a)
    with open(out, "w") as f:
        json.dump({"machine": mach, "options": {"runs": a.runs, "idle_s": a.idle, "changes": a.changes},
                   "table": rows, "results": results}, f, indent=1, default=str)
    print(text)
    print("\nJSON: %s; took %.0f s" % (out, mach["elapsed_s"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
