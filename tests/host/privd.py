#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A private libvirtd serving only libvirt's test driver, for hvmap's
cross-process tests: its own config, sockets and log in one short directory,
no hypervisor modules (LIBVIRT_DRIVER_DIR points at an empty directory), auth
none, no TCP. Started as our own child so a kill -9 is reaped at once.

As a module: PrivateLibvirtd(dir).start() / .stop() / .kill(sig) / .restart(),
.uri (read-write socket), .ro_uri (read-only socket).
As a script: privd.py DIR  runs one in the foreground until Ctrl-C and
prints its URIs (for trying things by hand).

Remember: the daemon keeps the shared test:///default only while a client
holds a connection to it; the state is fresh after every restart."""

import os
import shutil
import signal
import subprocess
import sys
import time

# Socket paths must fit in sun_path (108 bytes): keep DIR short.
SOCK_PATH_MAX = 100


def find_libvirtd():
    for p in (shutil.which("libvirtd"), "/usr/sbin/libvirtd"):
        if p and os.access(p, os.X_OK):
            return p
    return None


class PrivateLibvirtd:
    def __init__(self, directory, keepalive=(5, 5), timeout_s=600):
        self.dir = os.path.realpath(directory)
        if len(os.path.join(self.dir, "libvirt-sock-ro")) > SOCK_PATH_MAX:
            raise ValueError("directory path too long for a unix socket: %s" % self.dir)
        self.keepalive = keepalive
        self.timeout_s = timeout_s  # leak guard: exits this long after its last client
        self.proc = None
        self.sock = os.path.join(self.dir, "libvirt-sock")
        self.sock_ro = os.path.join(self.dir, "libvirt-sock-ro")
        self.uri = "test+unix:///default?socket=%s" % self.sock
        self.ro_uri = "test+unix:///default?socket=%s" % self.sock_ro

    def file_uri(self, path, read_only=True):
        """A test-driver node file opened through this daemon."""
        return "test+unix://%s?socket=%s" % (path, self.sock_ro if read_only else self.sock)

    def _write_config(self):
        os.makedirs(os.path.join(self.dir, "nodrivers"), exist_ok=True)
        conf = os.path.join(self.dir, "libvirtd.conf")
        with open(conf, "w") as f:
            f.write('unix_sock_dir = "%s"\n' % self.dir)
            f.write('unix_sock_ro_perms = "0777"\nunix_sock_rw_perms = "0770"\n')
            f.write('unix_sock_admin_perms = "0700"\n')
            f.write('auth_unix_ro = "none"\nauth_unix_rw = "none"\n')
            f.write("listen_tls = 0\nlisten_tcp = 0\n")
            f.write('log_outputs = "3:file:%s"\n' % os.path.join(self.dir, "libvirtd.log"))
            f.write("keepalive_interval = %d\nkeepalive_count = %d\n" % self.keepalive)
        return conf

    def start(self, wait_s=10.0):
        if self.proc and self.proc.poll() is None:
            raise RuntimeError("libvirtd already running, pid %d" % self.proc.pid)
        conf = self._write_config()
        for name in ("libvirt-sock", "libvirt-sock-ro", "libvirt-admin-sock", "libvirtd.pid"):
            try:
                os.unlink(os.path.join(self.dir, name))
            except FileNotFoundError:
                pass
        env = dict(os.environ, LIBVIRT_DRIVER_DIR=os.path.join(self.dir, "nodrivers"))
        exe = find_libvirtd()
        if not exe:
            raise RuntimeError("libvirtd not found (apt-get install libvirt-daemon)")
        log = open(os.path.join(self.dir, "stdout.log"), "ab")
        self.proc = subprocess.Popen(
            [exe, "--config", conf, "--pid-file", os.path.join(self.dir, "libvirtd.pid"),
             "--timeout", str(self.timeout_s)],
            cwd=self.dir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        end = time.monotonic() + wait_s
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                break
            if os.path.exists(self.sock) and os.path.exists(self.sock_ro):
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("libvirtd did not start; see %s/stdout.log and libvirtd.log" % self.dir)

    @property
    def pid(self):
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    def kill(self, sig):
        """Sends sig; for a deadly one, also waits for (and reaps) the exit."""
        if not self.pid:
            return
        os.kill(self.proc.pid, sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            self.proc.wait(timeout=10)

    def stop(self):
        if not self.proc or self.proc.poll() is not None:
            return
        try:
            os.kill(self.proc.pid, signal.SIGCONT)  # a stopped daemon cannot handle TERM
            self.proc.terminate()
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def restart(self):
        self.stop()
        return self.start()


def main():
    if len(sys.argv) != 2:
        print("usage: privd.py DIR   (runs a private test-driver libvirtd until Ctrl-C)", file=sys.stderr)
        return 2
    d = PrivateLibvirtd(sys.argv[1]).start()
    print("libvirtd pid %d\n  read-write %s\n  read-only  %s" % (d.pid, d.uri, d.ro_uri), flush=True)
    try:
        d.proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        d.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
