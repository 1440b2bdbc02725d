#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A private root libvirtd WITH the QEMU driver, for the real-QEMU test: its
own mount namespace in which DIR/{run,lib,log,cache,etc} replace
/run/libvirt, /var/lib/libvirt, /var/log/libvirt, /var/cache/libvirt and
/etc/libvirt (for it and the QEMU it starts only), its sockets in DIR, no
virtlogd, no security driver, QEMU as root. Needs root; Debian's QEMU driver
also needs the libvirt-qemu account (normally made by libvirt-daemon-system),
which start() creates when it is missing.

As a module: PrivateQemuLibvirtd(dir).start() / .stop(); .uri (read-write),
.ro_uri (read-only)."""

import os
import shutil
import signal
import subprocess
import time

from privd import SOCK_PATH_MAX, find_libvirtd

BINDS = (("run", "/run/libvirt"), ("lib", "/var/lib/libvirt"), ("log", "/var/log/libvirt"),
         ("cache", "/var/cache/libvirt"), ("etc", "/etc/libvirt"))
QEMU_CONF = """user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
stdio_handler = "file"
namespaces = [ ]
cgroup_controllers = [ ]
"""


def why_unavailable():
    """None when a QEMU-driver libvirtd can run here, else the reason."""
    if os.geteuid() != 0:
        return "needs root (a private libvirtd with the QEMU driver)"
    if not shutil.which("qemu-system-x86_64"):
        return "qemu-system-x86_64 is not installed (scripts/setup installs Debian qemu-system-x86)"
    if not find_libvirtd():
        return "libvirtd is not installed (scripts/setup installs Debian libvirt-daemon)"
    mods = [d for d in ("/usr/lib/x86_64-linux-gnu/libvirt/connection-driver", "/usr/lib64/libvirt/connection-driver",
                        "/usr/lib/libvirt/connection-driver") if os.path.isdir(d)]
    if not any(os.path.exists(os.path.join(d, "libvirt_driver_qemu.so")) for d in mods):
        return "libvirt's QEMU driver is not installed (scripts/setup installs Debian libvirt-daemon-driver-qemu)"
    if not shutil.which("unshare"):
        return "unshare is not installed (util-linux)"
    return None


class PrivateQemuLibvirtd:
    def __init__(self, directory):
        self.dir = os.path.realpath(directory)
        if len(os.path.join(self.dir, "libvirt-sock-ro")) > SOCK_PATH_MAX:
            raise ValueError("directory path too long for a unix socket: %s" % self.dir)
        self.proc = None
        self.sock = os.path.join(self.dir, "libvirt-sock")
        self.sock_ro = os.path.join(self.dir, "libvirt-sock-ro")
        self.uri = "qemu+unix:///system?socket=%s" % self.sock
        self.ro_uri = "qemu+unix:///system?socket=%s" % self.sock_ro

    def start(self, wait_s=30.0):
        if subprocess.call(["getent", "passwd", "libvirt-qemu"], stdout=subprocess.DEVNULL):
            # Debian's driver resolves this account before it reads qemu.conf.
            subprocess.check_call(["sh", "-c", "getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu; "
                                   "useradd -r -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin "
                                   "libvirt-qemu"])
        for sub, target in BINDS:
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
            os.makedirs(target, exist_ok=True)  # mount points
        conf = os.path.join(self.dir, "libvirtd.conf")
        with open(conf, "w") as f:
            f.write('unix_sock_dir = "%s"\nunix_sock_ro_perms = "0777"\nunix_sock_rw_perms = "0700"\n' % self.dir)
            f.write('unix_sock_admin_perms = "0700"\nauth_unix_ro = "none"\nauth_unix_rw = "none"\n')
            f.write('listen_tls = 0\nlisten_tcp = 0\nhost_uuid_source = "machine-id"\n')
            f.write('log_outputs = "3:file:%s"\n' % os.path.join(self.dir, "libvirtd.log"))
        shutil.copy(conf, os.path.join(self.dir, "etc", "libvirtd.conf"))
        with open(os.path.join(self.dir, "etc", "qemu.conf"), "w") as f:
            f.write(QEMU_CONF)
        binds = " && ".join('mount --bind "$D/%s" %s' % b for b in BINDS)
        log = open(os.path.join(self.dir, "stdout.log"), "ab")
        self.proc = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             'D=$1; %s && cd "$D" && exec "$2" --config "$D/libvirtd.conf" --pid-file "$D/libvirtd.pid" '
             '--timeout 600' % binds, "sh", self.dir, find_libvirtd()],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        end = time.monotonic() + wait_s
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                break
            if os.path.exists(self.sock) and os.path.exists(self.sock_ro):
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("libvirtd (QEMU driver) did not start; see %s/stdout.log and libvirtd.log" % self.dir)

    def qemu_pids(self):
        out = []
        piddir = os.path.join(self.dir, "run", "qemu")
        for f in os.listdir(piddir) if os.path.isdir(piddir) else []:
            if f.endswith(".pid"):
                try:
                    with open(os.path.join(piddir, f)) as fh:
                        out.append(int(fh.read().strip()))
                except (OSError, ValueError):
                    pass
        return out

    def stop(self):
        """Destroys the guests (libvirtd leaves them running), stops libvirtd,
        kills any QEMU left by its pid file."""
        if self.proc and self.proc.poll() is None:
            names = subprocess.run(["virsh", "-c", self.uri, "list", "--name"], capture_output=True, text=True,
                                   timeout=60).stdout.split()
            for n in names:
                subprocess.call(["virsh", "-q", "-c", self.uri, "destroy", n], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, timeout=60)
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in self.qemu_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
