#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A real host in a box: a throwaway Debian booted with systemd as PID 1
(systemd-nspawn), with libvirtd, QEMU and hvmap installed from the build tree
as the package lays it out, and one command run inside it as root.

    box.py --suite bookworm|trixie --build BUILDDIR [options] -- COMMAND...

What it does:
  1. rootfs: a cached debootstrap (minbase + systemd, libvirt, QEMU, python3,
     curl, openssl) in $HVMAP_BOX_BASE (default /var/tmp/hvmap-box), built
     once per suite and package list, never written after it is built.
  2. install: `meson install --destdir` of BUILDDIR into the run directory;
     the box copies it into / and runs systemd-sysusers, systemd-tmpfiles and
     daemon-reload, as the RPM's scriptlets do (tests/system/hostlib.py).
  3. boot: an overlay over the cache (per run, in a private mount namespace
     of the nspawn process), systemd-nspawn -b in a cgroup of its own with a
     unified hierarchy, private network (loopback only), BPF syscalls allowed
     so IPAddressDeny=/DeviceAllow= work; waits for running/degraded.
  4. run: COMMAND via nsenter into the box's PID 1 namespaces, with the box's
     capability bounding set, the source tree at /usr/src/hvmap (read-only)
     and the installed tree at /usr/src/hvmap-dist (read-only).
  5. teardown, always (exit, exception, SIGTERM/SIGINT/SIGHUP): the command's
     leftovers killed, the box halted (SIGTERM to nspawn, forced after 30 s),
     every process left in its cgroups killed, the cgroups removed, the run
     directory deleted. A run left behind by a SIGKILL is cleaned up by the
     next run (its nspawn is gone or is killed by pid).

Exit status: COMMAND's; 77 (skip) with the reason on stderr when this
machine cannot boot a box (not root, no systemd-nspawn/debootstrap/overlayfs);
125 when the box itself failed (rootfs build, boot).

Environment: HVMAP_BOX_BASE (cache and runs), HVMAP_BOX_MIRROR (Debian
mirror; default: the host's apt sources, else deb.debian.org),
HVMAP_BOX_KEEP_LOG=FILE (copy the box's console there)."""

import argparse
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time

SKIP = 77
FAIL = 125
BASE = os.environ.get("HVMAP_BOX_BASE", "/var/tmp/hvmap-box")
SRC = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SUITES = ("bookworm", "trixie")
# debootstrap follows Depends only: name what Recommends would have brought.
PACKAGES = ["systemd", "systemd-sysv", "libpam-systemd", "libnss-systemd", "dbus", "polkitd",
            "libvirt-daemon-system", "libvirt-daemon-driver-qemu", "libvirt-clients", "qemu-system-x86",
            "procps", "python3", "openssl", "curl", "libcjson1", "ca-certificates"]
RECIPE = 1  # bump when build_rootfs() changes what it makes
BOX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CAPS = ["chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap",
        "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
        "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
        "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write", "audit_control", "setfcap",
        "mac_override", "mac_admin", "syslog", "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf",
        "checkpoint_restore"]


class BoxError(Exception):
    pass


class Unavailable(Exception):
    """This machine cannot boot a box; the message says why."""


def say(msg):
    print("box: %s" % msg, file=sys.stderr, flush=True)


def why_unavailable():
    """None when a box can boot here, else the reason."""
    if os.geteuid() != 0:
        return "needs root (systemd-nspawn, mounts, cgroups)"
    for tool, pkg in (("systemd-nspawn", "systemd-container"), ("debootstrap", "debootstrap"),
                      ("nsenter", "util-linux"), ("unshare", "util-linux"), ("setpriv", "util-linux"),
                      ("meson", "meson")):
        if not shutil.which(tool):
            return "%s is not installed (scripts/setup installs Debian %s)" % (tool, pkg)
    with open("/proc/filesystems") as f:
        if "overlay" not in f.read() and subprocess.call(["modprobe", "overlay"], stderr=subprocess.DEVNULL):
            return "no overlayfs in this kernel"
    if not cgroup_dirs("probe"):
        return "no writable cgroup hierarchy under /sys/fs/cgroup"
    return None


def host_mirror():
    mirror = os.environ.get("HVMAP_BOX_MIRROR")
    if mirror:
        return mirror
    try:
        out = subprocess.run(["apt-get", "indextargets", "--format", "$(TARGET_OF) $(REPO_URI)",
                              "Identifier: Packages"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    for line in out.splitlines():
        kind, _, uri = line.partition(" ")
        if kind == "deb" and uri.rstrip("/").endswith("/debian"):
            return uri
    return "http://deb.debian.org/debian/"


def cgroup_dirs(name):
    """The cgroup directories to create for the box when no systemd manages the
    host's cgroups: the cgroup2 tree, and the named systemd v1 tree on a
    hybrid host."""
    root = "/sys/fs/cgroup"
    fstype = lambda p: subprocess.run(["stat", "-fc", "%T", p], capture_output=True,  # noqa: E731
                                      text=True).stdout.strip()
    if fstype(root) == "cgroup2fs":
        return [os.path.join(root, name)]
    out = []
    if os.path.isdir(root + "/unified") and fstype(root + "/unified") == "cgroup2fs":
        out.append(os.path.join(root, "unified", name))
    if os.path.isdir(root + "/systemd") and fstype(root + "/systemd") == "cgroupfs":
        out.append(os.path.join(root, "systemd", name))
    return out


def rootfs_path(suite):
    spec = "suite=%s variant=minbase include=%s recipe=%d" % (suite, ",".join(PACKAGES), RECIPE)
    key = hashlib.sha256(spec.encode()).hexdigest()[:10]
    return os.path.join(BASE, "rootfs-%s-%s" % (suite, key)), spec


def build_rootfs(suite, rebuild=False):
    """The cached rootfs of suite, built when missing; returns (path, seconds
    spent building, 0 when cached). Holds a shared lock on it until exit."""
    path, spec = rootfs_path(suite)
    os.makedirs(BASE, exist_ok=True)
    lock = open(path + ".lock", "w")
    built = 0.0
    stamp = os.path.join(path, ".hvmap-box-stamp")
    if rebuild or not os.path.exists(stamp):
        fcntl.flock(lock, fcntl.LOCK_EX)
        if rebuild or not os.path.exists(stamp):
            built = _debootstrap(suite, path, spec)
    fcntl.flock(lock, fcntl.LOCK_SH)  # a --rebuild elsewhere waits for us
    build_rootfs.locks.append(lock)
    return path, built


build_rootfs.locks = []


def _debootstrap(suite, path, spec):
    t0 = time.monotonic()
    mirror = host_mirror()
    tmp = "%s.tmp.%d" % (path, os.getpid())
    log = os.path.join(BASE, "debootstrap-%s.log" % suite)
    say("building %s (%s) from %s; 2-4 minutes on an idle machine, once" % (path, spec, mirror))
    shutil.rmtree(tmp, ignore_errors=True)
    with open(log, "w") as f:
        rc = subprocess.call(["nice", "debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES),
                              suite, tmp, mirror], stdout=f, stderr=subprocess.STDOUT)
    if rc != 0:
        with open(log) as f:
            tail = f.read().splitlines()[-20:]
        shutil.rmtree(tmp, ignore_errors=True)
        raise BoxError("debootstrap %s failed (exit %d, log %s):\n%s" % (suite, rc, log, "\n".join(tail)))
    with open(os.path.join(tmp, "etc/hostname"), "w") as f:
        f.write("hvbox\n")
    with open(os.path.join(tmp, "etc/hosts"), "a") as f:
        f.write("127.0.1.1\thvbox\n")
    # No periodic job fires in the middle of a test.
    for timer in ("apt-daily.timer", "apt-daily-upgrade.timer", "dpkg-db-backup.timer", "e2scrub_all.timer",
                  "logrotate.timer", "man-db.timer", "fstrim.timer"):
        link = os.path.join(tmp, "etc/systemd/system", timer)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink("/dev/null", link)
    shutil.rmtree(os.path.join(tmp, "var/cache/apt/archives"), ignore_errors=True)
    secs = time.monotonic() - t0
    with open(os.path.join(tmp, ".hvmap-box-stamp"), "w") as f:
        f.write("%s\nbuilt %s in %.1f s\n" % (spec, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), secs))
    old = "%s.old.%d" % (path, os.getpid())
    if os.path.exists(path):
        os.rename(path, old)
    os.rename(tmp, path)
    shutil.rmtree(old, ignore_errors=True)
    return secs


def alive(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            return not any(ln.startswith("State:") and "Z" in ln.split()[1] for ln in f)
    except (OSError, IndexError):
        return False


def wait_gone(pid, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return not alive(pid)


def kill_cgroups(dirs):
    for d in dirs:
        if not os.path.isdir(d):
            continue
        if os.path.exists(os.path.join(d, "cgroup.kill")):
            try:
                with open(os.path.join(d, "cgroup.kill"), "w") as f:
                    f.write("1")
                continue
            except OSError:
                pass
        for dirpath, _, files in os.walk(d):
            if "cgroup.procs" in files:
                try:
                    with open(os.path.join(dirpath, "cgroup.procs")) as f:
                        for p in f.read().split():
                            try:
                                os.kill(int(p), signal.SIGKILL)
                            except OSError:
                                pass
                except OSError:
                    pass


def remove_cgroups(dirs):
    """rmdir of the cgroup trees, children first; returns those left."""
    left = []
    for d in dirs:
        for _ in range(40):
            if not os.path.isdir(d):
                break
            for dirpath, _, _ in sorted(os.walk(d), key=lambda w: -len(w[0])):
                try:
                    os.rmdir(dirpath)
                except OSError:
                    pass
            if os.path.isdir(d):
                kill_cgroups([d])
                time.sleep(0.25)
        if os.path.isdir(d):
            left.append(d)
    return left


def reap_stale_runs():
    """Runs left by a box runner that was SIGKILLed: halt their nspawn by pid,
    remove their cgroups and directories."""
    runs = os.path.join(BASE, "runs")
    if not os.path.isdir(runs):
        return
    for name in os.listdir(runs):
        d = os.path.join(runs, name)
        owner = _read_int(os.path.join(d, "runner.pid"))
        if owner and alive(owner):
            continue
        nspid = _read_int(os.path.join(d, "nspawn.pid"))
        if nspid and alive(nspid):
            say("stopping the box of a dead run %s (nspawn pid %d)" % (name, nspid))
            os.kill(nspid, signal.SIGKILL)
            wait_gone(nspid, 10)
        remove_cgroups(cgroup_dirs(name))
        if not _mounted_below(d):
            shutil.rmtree(d, ignore_errors=True)


def _read_int(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def _mounted_below(d):
    with open("/proc/self/mountinfo") as f:
        return any((" %s/" % d) in ln for ln in f)


class Box:
    """One booted box. Use as a context manager; close() is idempotent."""

    def __init__(self, suite, rootfs, dist=None, kvm=False, console_log=None):
        self.suite = suite
        self.rootfs = rootfs
        self.dist = dist
        self.kvm = kvm and os.path.exists("/dev/kvm")
        self.console_log = console_log
        # Unique per run: parallel runs never share a cgroup or a name.
        self.name = "hvbox-%s-%d-%s" % (suite[:4], os.getpid(), os.urandom(3).hex())
        self.run_dir = os.path.join(BASE, "runs", self.name)
        self.cgroups = []
        self.scope = None
        self.nspawn_pid = 0
        self.leader = 0
        self.children = []
        self.closed = False
        self.boot_seconds = 0.0
        self.bounding = None

    # ------------------------------------------------------------ boot
    def make_run_dir(self):
        """The run directory, marked as ours (reap_stale_runs leaves it)."""
        os.makedirs(self.run_dir, exist_ok=True)
        with open(os.path.join(self.run_dir, "runner.pid"), "w") as f:
            f.write(str(os.getpid()))
        return self.run_dir

    def boot(self, timeout=120):
        self.make_run_dir()
        for sub in ("upper", "work", "root"):
            os.makedirs(os.path.join(self.run_dir, sub))
        args = ["-b", "-D", os.path.join(self.run_dir, "root"), "-M", self.name, "--register=no", "--keep-unit",
                "--link-journal=no", "--console=read-only", "--system-call-filter=bpf", "--private-network",
                "--bind-ro=%s:/usr/src/hvmap" % SRC]
        if self.dist:
            args.append("--bind-ro=%s:/usr/src/hvmap-dist" % self.dist)
        if self.kvm:
            args.append("--bind=/dev/kvm")
        mount = ("mount -t overlay overlay -o lowerdir=%s,upperdir=%s/upper,workdir=%s/work %s/root"
                 % (self.rootfs, self.run_dir, self.run_dir, self.run_dir))
        inner = ["setsid", "unshare", "-m", "--propagation", "private", "sh", "-c",
                 'echo $$ > "$1/nspawn.pid" && ' + mount + ' && shift && exec systemd-nspawn "$@"',
                 "hvbox", self.run_dir] + args
        env = dict(os.environ, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY="1")
        preexec = None
        if os.path.isdir("/run/systemd/system"):
            self.scope = "%s.scope" % self.name
            inner = ["systemd-run", "--scope", "--quiet", "--collect", "-p", "Delegate=yes",
                     "--unit=" + self.name, "--"] + inner
        else:
            self.cgroups = cgroup_dirs(self.name)
            for d in self.cgroups:
                os.mkdir(d)
            cgs = list(self.cgroups)

            def preexec():
                for d in cgs:
                    with open(os.path.join(d, "cgroup.procs"), "w") as f:
                        f.write(str(os.getpid()))
        t0 = time.monotonic()
        console = open(os.path.join(self.run_dir, "console.log"), "wb")
        launcher = subprocess.Popen(inner, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                                    env=env, preexec_fn=preexec, close_fds=True)
        console.close()
        self.children.append(launcher)
        end = t0 + timeout
        while not self.leader:
            if time.monotonic() > end:
                self._boot_fail("no PID 1 after %d s" % timeout)
            if not self.nspawn_pid:
                self.nspawn_pid = _read_int(os.path.join(self.run_dir, "nspawn.pid"))
            if self.nspawn_pid:
                if not alive(self.nspawn_pid):
                    self._boot_fail("systemd-nspawn exited")
                for c in self._children_of(self.nspawn_pid):
                    if _comm(c) == "systemd":
                        self.leader = c
            elif launcher.poll() is not None:
                self._boot_fail("the launcher exited with %s" % launcher.returncode)
            if not self.leader:
                time.sleep(0.05)
        state = ""
        while True:
            if time.monotonic() > end:
                self._boot_fail("systemd not up after %d s (state: %s)" % (timeout, state or "none"))
            if not alive(self.nspawn_pid):
                self._boot_fail("systemd-nspawn exited")
            p = subprocess.run(["nsenter", "-t", str(self.leader), "-a", "systemctl", "is-system-running",
                                "--wait"], capture_output=True, text=True, timeout=max(1, end - time.monotonic()))
            state = p.stdout.strip()
            if state in ("running", "degraded"):
                break
            # "offline" also comes while PID 1 is still setting up: only these are final.
            if state in ("maintenance", "stopping"):
                self._boot_fail("state %s" % state)
            time.sleep(0.1)
        self.boot_seconds = time.monotonic() - t0
        with open("/proc/%d/status" % self.leader) as f:
            bnd = int([ln.split()[1] for ln in f if ln.startswith("CapBnd:")][0], 16)
        self.bounding = "-all" + "".join(",+" + c for i, c in enumerate(CAPS) if bnd >> i & 1)
        say("%s booted (systemd %s) in %.1f s" % (self.suite, state, self.boot_seconds))
        if state == "degraded":
            failed = self.run(["systemctl", "--failed", "--no-legend", "--plain", "--no-pager"], check=False)
            say("failed units at boot: %s" % " ".join(ln.split()[0] for ln in failed.stdout.splitlines() if ln))
        return self

    @staticmethod
    def _children_of(pid):
        out = []
        try:
            for t in os.listdir("/proc/%d/task" % pid):
                with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                    out += [int(x) for x in f.read().split()]
        except OSError:
            pass
        return out

    def _boot_fail(self, why):
        try:
            with open(os.path.join(self.run_dir, "console.log"), "rb") as f:
                tail = f.read().decode(errors="replace").splitlines()[-25:]
        except OSError:
            tail = []
        raise BoxError("boot of %s failed: %s; last console lines:\n%s" % (self.name, why, "\n".join(tail)))

    # ------------------------------------------------------------ run
    def command(self, argv, env=None):
        """The host command line that runs argv inside the box as root."""
        envs = ["PATH=" + BOX_PATH, "HOME=/root", "LANG=C.UTF-8", "TERM=dumb", "HVMAP_BOX=" + self.suite,
                "HVMAP_BOX_KVM=%d" % self.kvm]
        envs += ["%s=%s" % kv for kv in (env or {}).items()]
        return (["setpriv", "--bounding-set", self.bounding, "nsenter", "-t", str(self.leader), "-a", "--",
                 "env", "-i"] + envs + ["sh", "-c", 'cd /root && exec "$@"', "hvbox"] + list(argv))

    def run(self, argv, check=True, timeout=600, env=None, **kw):
        p = subprocess.run(self.command(argv, env), capture_output=True, text=True, timeout=timeout, **kw)
        if check and p.returncode != 0:
            raise BoxError("%s: exit %d\n%s%s" % (" ".join(argv), p.returncode, p.stdout, p.stderr))
        return p

    def call(self, argv, timeout, env=None):
        """Runs argv inside with stdin/stdout/stderr passed through; returns
        its exit status, 124 when timeout (s) passes first."""
        # `timeout` runs inside the box, so what it kills is reaped there.
        proc = subprocess.Popen(self.command(["timeout", "-k", "10", str(int(timeout))] + list(argv), env))
        self.children.append(proc)
        try:
            return proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    # ------------------------------------------------------------ teardown
    def _kill_strays(self):
        """SIGKILL what runs in the box but outside the cgroups its systemd
        manages (commands run with nsenter and what they left behind)."""
        if not self.leader or not alive(self.leader):
            return
        try:
            ns = os.readlink("/proc/%d/ns/pid" % self.leader)
            with open("/proc/%d/cgroup" % self.leader) as f:
                payload = [ln.split(":", 2)[2].strip() for ln in f if ln.startswith("0::")][0]
        except (OSError, IndexError):
            return
        payload = payload[: -len("/init.scope")] if payload.endswith("/init.scope") else None
        if not payload:
            return
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                if os.readlink("/proc/%s/ns/pid" % p) != ns:
                    continue
                with open("/proc/%s/cgroup" % p) as f:
                    cg = [ln.split(":", 2)[2].strip() for ln in f if ln.startswith("0::")][0]
            except (OSError, IndexError):
                continue
            if cg != payload and not cg.startswith(payload + "/"):
                try:
                    os.kill(int(p), signal.SIGKILL)
                except OSError:
                    pass

    def close(self):
        if self.closed:
            return
        self.closed = True
        old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            for c in self.children[1:]:
                if c.poll() is None:
                    c.kill()
                    c.wait()
            self._kill_strays()
            if self.nspawn_pid and alive(self.nspawn_pid):
                os.kill(self.nspawn_pid, signal.SIGTERM)  # nspawn: a clean halt of the box
                if not wait_gone(self.nspawn_pid, 30):
                    say("box did not halt within 30 s, killing it")
                    os.kill(self.nspawn_pid, signal.SIGKILL)
                    wait_gone(self.nspawn_pid, 10)
            for c in self.children[:1]:
                try:
                    c.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    c.kill()
                    c.wait()
            if self.scope:
                subprocess.call(["systemctl", "stop", self.scope], stderr=subprocess.DEVNULL)
            kill_cgroups(self.cgroups)
            left = remove_cgroups(self.cgroups)
            if self.console_log:
                try:
                    shutil.copy(os.path.join(self.run_dir, "console.log"), self.console_log)
                except OSError:
                    pass
            if _mounted_below(self.run_dir):
                left.append("mounts below %s" % self.run_dir)
            else:
                shutil.rmtree(self.run_dir, ignore_errors=True)
            if left:
                say("teardown left: %s" % ", ".join(left))
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def install_tree(build, dest):
    """meson install --destdir of the build tree: the files the package ships."""
    p = subprocess.run(["meson", "install", "-C", build, "--no-rebuild", "--quiet", "--destdir", dest],
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise BoxError("meson install failed:\n%s%s" % (p.stdout, p.stderr))


def build_many(suites, rebuild):
    """Builds the rootfs of several suites side by side (debootstrap waits on
    the mirror and on dpkg more than on a core); 0 when all are there."""
    import threading
    errors = []

    def one(suite):
        try:
            _, built = build_rootfs(suite, rebuild)
            print("box: rootfs %s: %s" % (suite, "built in %.1f s" % built if built else "cached"), file=sys.stderr)
        except BoxError as e:
            errors.append(str(e))
    threads = [threading.Thread(target=one, args=(s,)) for s in suites]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in errors:
        print("box: error: %s" % e, file=sys.stderr)
    return FAIL if errors else 0


def _comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def _raise_exit(signum, frame):
    raise SystemExit(128 + signum)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", choices=SUITES, action="append",
                    help="Debian release of the box (default bookworm); --build-only takes several")
    ap.add_argument("--build", help="meson build directory to install into the box")
    ap.add_argument("--kvm", action="store_true", help="pass /dev/kvm into the box when it exists")
    ap.add_argument("--timeout", type=int, default=1200, help="time limit of COMMAND (s)")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="extra environment variable for COMMAND (repeatable)")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached rootfs first")
    ap.add_argument("--build-only", action="store_true", help="only make sure the cached rootfs exists")
    ap.add_argument("command", nargs="*", help="run inside as root (default: systemctl is-system-running)")
    a = ap.parse_args()
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, _raise_exit)
    why = why_unavailable()
    if why:
        print("box: SKIP: cannot boot a box on this machine: %s" % why, file=sys.stderr)
        return SKIP
    suites = a.suite or ["bookworm"]
    try:
        reap_stale_runs()
        if a.build_only:
            return build_many(suites, a.rebuild)
        if len(suites) > 1:
            raise BoxError("one --suite per box (several only with --build-only)")
        a.suite = suites[0]
        rootfs, built = build_rootfs(a.suite, a.rebuild)
        print("box: rootfs %s: %s" % (a.suite, "built in %.1f s" % built if built else "cached"), file=sys.stderr)
        box = Box(a.suite, rootfs, kvm=a.kvm, console_log=os.environ.get("HVMAP_BOX_KEEP_LOG"))
        with box:
            if a.build:
                box.dist = os.path.join(box.make_run_dir(), "dist")
                install_tree(os.path.realpath(a.build), box.dist)
            box.boot()
            env = dict(e.split("=", 1) for e in a.env)
            env.update(HVMAP_BOX_BOOT_S="%.1f" % box.boot_seconds, HVMAP_BOX_ROOTFS_S="%.1f" % built)
            rc = box.call(a.command or ["systemctl", "is-system-running"], a.timeout, env=env)
            if rc in (124, 137):
                say("command timed out after %d s" % a.timeout)
            return rc
    except BoxError as e:
        print("box: error: %s" % e, file=sys.stderr)
        return FAIL


if __name__ == "__main__":
    sys.exit(main())
