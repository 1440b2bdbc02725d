# SPDX-License-Identifier: GPL-2.0-or-later
"""units/: the rendered hvmap.service, hvmap-metrics.service and
hvmap-metrics.timer pass systemd-analyze verify and score an exposure of at
most 2.5; write-metrics publishes status --format=openmetrics atomically and
only when complete; sysusers/tmpfiles make the user and the state dir; the
sample hvmap.conf is the config table; meson install lays out every file."""

import os
import re
import shutil
import stat
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pkgtest import BUILD, HVMAP, config_table, need, parse_sample, run  # noqa: E402

UNIT = os.path.join(BUILD, "units", "hvmap.service")
METRICS_UNIT = os.path.join(BUILD, "units", "hvmap-metrics.service")
METRICS_TIMER = os.path.join(BUILD, "units", "hvmap-metrics.timer")
WRITE_METRICS = os.path.join(BUILD, "units", "write-metrics")
MAX_EXPOSURE = 2.5


def unit_lines(section, unit=UNIT):
    """[(line number, text)] of one section of a rendered unit."""
    out, cur = [], None
    with open(unit) as f:
        for i, line in enumerate(f.read().splitlines(), 1):
            m = re.match(r"^\[(\w+)\]$", line)
            if m:
                cur = m.group(1)
            elif cur == section:
                out.append((i, line))
    return out


class Unit(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="hvpkg-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def verify(self, units):
        """systemd-analyze verify of {file name: text}, with the man pages
        Documentation= names found in the build tree."""
        need("systemd-analyze", "systemd")
        paths = []
        for name, text in units.items():
            paths.append(os.path.join(self.tmp, name))
            with open(paths[-1], "w") as f:
                f.write(text)
        for sec, page in (("8", "hvmap.8"), ("5", "hvmap.conf.5")):
            os.makedirs(os.path.join(self.tmp, "man", "man" + sec), exist_ok=True)
            shutil.copy(os.path.join(BUILD, "man", page), os.path.join(self.tmp, "man", "man" + sec))
        env = dict(os.environ, MANPATH=os.path.join(self.tmp, "man"))
        p = run(["systemd-analyze", "verify"] + paths, check=False, env=env)
        self.assertEqual((p.returncode, p.stderr.strip()), (0, ""), "systemd-analyze verify:\n" + p.stderr)

    def test_verify(self):
        # verify checks that ExecStart= exists: point it at the build tree,
        # change nothing else.
        with open(UNIT) as f:
            text = f.read()
        self.assertRegex(text, r"(?m)^ExecStart=/\S+/hvmap run$")
        self.verify({"hvmap.service": re.sub(r"(?m)^ExecStart=\S+", "ExecStart=" + HVMAP, text)})

    def test_verify_metrics_timer(self):
        # The timer with the service it starts; the helper is run with sh
        # from the build tree (configure_file does not make it executable).
        with open(METRICS_UNIT) as f:
            text = f.read()
        self.assertRegex(text, r"(?m)^ExecStart=/\S+/hvmap/write-metrics /\S+/hvmap \$\{TEXTFILE_DIR\}$")
        with open(METRICS_TIMER) as f:
            timer = f.read()
        self.verify({"hvmap-metrics.timer": timer,
                     "hvmap-metrics.service": re.sub(r"(?m)^ExecStart=\S+", "ExecStart=/bin/sh " + WRITE_METRICS,
                                                     text)})

    def test_exposure_at_most_2_5(self):
        need("systemd-analyze", "systemd")
        for unit in (UNIT, METRICS_UNIT):
            name = os.path.basename(unit)
            p = run(["systemd-analyze", "security", "--offline=yes", "--no-pager", unit], check=False)
            m = re.search(r"Overall exposure level for %s: (\d+\.\d+)" % re.escape(name), p.stdout)
            self.assertIsNotNone(m, "no exposure score in:\n" + p.stdout + p.stderr)
            score = float(m.group(1))
            remaining = [ln for ln in p.stdout.splitlines() if ln.startswith("✗")]
            print("\n%s: exposure %.1f; remaining:\n%s" % (name, score, "\n".join(remaining)))
            self.assertLessEqual(score, MAX_EXPOSURE, p.stdout)

    def test_service_settings(self):
        with open(UNIT) as f:
            text = f.read()
        for line in ("Type=notify", "ExecReload=kill -HUP $MAINPID", "Restart=on-failure",
                     "StateDirectory=hvmap", "StateDirectoryMode=0700", "ConfigurationDirectory=hvmap",
                     "UMask=0077", "User=hvmap", "CapabilityBoundingSet=", "NoNewPrivileges=yes",
                     "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes",
                     "ProtectKernelTunables=yes", "ProtectKernelModules=yes", "ProtectKernelLogs=yes",
                     "ProtectControlGroups=yes", "ProtectClock=yes", "ProtectHostname=yes",
                     "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "RestrictNamespaces=yes",
                     "LockPersonality=yes", "MemoryDenyWriteExecute=yes", "RestrictRealtime=yes",
                     "RestrictSUIDSGID=yes", "SystemCallArchitectures=native",
                     "SystemCallFilter=@system-service", "After=network-online.target",
                     "Wants=network-online.target",
                     "After=libvirtd.service virtproxyd.service virtqemud.service virtxend.service"):
            self.assertRegex(text, r"(?m)^" + re.escape(line) + "$")
        self.assertRegex(text, r"(?m)^WatchdogSec=[1-9]")
        self.assertRegex(text, r"(?m)^RestartSec=[1-9]")
        self.assertNotIn("@", text.replace("@system-service", "").replace("@privileged", "")
                         .replace("@resources", "").replace("@chown", "").replace("@setuid", "")
                         .replace("@keyring", "").replace("@memlock", ""), "an unrendered @var@")

    def test_never_pulls_in_libvirt_units(self):
        # Wants=/Requires= on a libvirt socket of the other design (monolithic
        # libvirtd vs. modular virt*d) stops the host's running libvirt through
        # libvirt's Conflicts=; ordering only (tests/system shows it for real).
        pulls = [(n, ln) for n, ln in unit_lines("Unit")
                 if re.match(r"^(Wants|Requires|Requisite|BindsTo|PartOf|Upholds)=", ln)
                 and re.search(r"\b(libvirtd|virt\w*d)[-.\w]*\.(socket|service)\b", ln)]
        self.assertEqual(pulls, [], "hvmap.service pulls in libvirt units")
        after = " ".join(ln[len("After="):] for _, ln in unit_lines("Unit") if ln.startswith("After="))
        for u in ("libvirtd-ro.socket", "virtqemud-ro.socket", "virtxend-ro.socket", "libvirtd.service"):
            self.assertIn(u, after.split(), "ordered after " + u)

    def test_every_service_setting_says_why(self):
        for unit in (UNIT, METRICS_UNIT):
            with self.subTest(unit=os.path.basename(unit)):
                self.every_setting_says_why(unit)

    def every_setting_says_why(self, unit):
        lines = unit_lines("Service", unit)
        for idx, (n, line) in enumerate(lines):
            if not line or line.startswith("#"):
                continue
            prev = [ln for _, ln in lines[:idx]]
            # A setting belongs to the comment just above it or to a block of
            # settings right under one comment (Restart=, RestartSec=, ...).
            j = len(prev) - 1
            while j >= 0 and prev[j] and not prev[j].startswith("#"):
                j -= 1
            self.assertTrue(j >= 0 and prev[j].startswith("#"), "%s:%d %r has no comment" % (unit, n, line))

    def test_sysusers_and_tmpfiles(self):
        need("systemd-sysusers", "systemd")
        root = os.path.join(self.tmp, "root")
        os.makedirs(os.path.join(root, "etc"))
        run(["systemd-sysusers", "--root=" + root, os.path.join(BUILD, "units", "hvmap.sysusers")])
        with open(os.path.join(root, "etc", "passwd")) as f:
            pw = [ln.split(":") for ln in f]
        hv = [e for e in pw if e[0] == "hvmap"]
        self.assertEqual(len(hv), 1, pw)
        self.assertLess(int(hv[0][2]), 1000, "not a system user")
        self.assertIn("nologin", hv[0][6])
        run(["systemd-tmpfiles", "--root=" + root, "--create", os.path.join(BUILD, "units", "hvmap.tmpfiles")])
        st = os.stat(os.path.join(root, "var", "lib", "hvmap"))
        self.assertEqual((oct(st.st_mode & 0o7777), st.st_uid), (oct(0o700), int(hv[0][2])))


STUB = """#!/bin/sh
# A stand-in for hvmap: records its arguments and what the collector
# directory holds while it writes, prints $STUB_OUT, exits $STUB_RC.
printf '%%s\\n' "$*" > "%(rec)s/args"
ls -A . > "%(rec)s/during"
printf '%%s' "$STUB_OUT"
exit "$STUB_RC"
"""
EXPOSITION = "# TYPE hvmap_guests gauge\nhvmap_guests 3\n# EOF\n"


class WriteMetrics(unittest.TestCase):
    """units/write-metrics, the ExecStart of hvmap-metrics.service."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="hvpkg-wm-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.dir = os.path.join(self.tmp, "textfile")
        self.rec = os.path.join(self.tmp, "rec")
        os.makedirs(self.dir)
        os.makedirs(self.rec)
        self.stub = os.path.join(self.tmp, "hvmap")
        with open(self.stub, "w") as f:
            f.write(STUB % {"rec": self.rec})
        os.chmod(self.stub, 0o755)

    def write(self, out, rc, directory=None):
        env = dict(os.environ, STUB_OUT=out, STUB_RC=str(rc))
        return run(["sh", WRITE_METRICS, self.stub, directory or self.dir], check=False, env=env)

    def published(self):
        with open(os.path.join(self.dir, "hvmap.prom")) as f:
            return f.read()

    def test_complete_exposition_is_published_atomically_whatever_the_exit_status(self):
        for rc in (0, 1, 2, 3):
            with self.subTest(status_exit=rc):
                out = EXPOSITION.replace("3", str(rc + 10))
                p = self.write(out, rc)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertEqual(self.published(), out)
                with open(os.path.join(self.rec, "args")) as f:
                    self.assertEqual(f.read().strip(), "status --format=openmetrics")
                with open(os.path.join(self.rec, "during")) as f:
                    during = f.read().split()
                # Written beside the target under a name node_exporter skips
                # (it reads *.prom only).
                temps = [n for n in during if n != "hvmap.prom"]
                self.assertEqual(len(temps), 1, during)
                self.assertRegex(temps[0], r"^\.hvmap\.prom\.\d+$")
                self.assertEqual(sorted(os.listdir(self.dir)), ["hvmap.prom"], "a temporary file was left")
                self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.dir, "hvmap.prom")).st_mode), 0o644)

    def test_incomplete_output_keeps_the_previous_file(self):
        self.assertEqual(self.write(EXPOSITION, 0).returncode, 0)
        for out, rc in (("# TYPE hvmap_guests gauge\nhvmap_guests 3\n", 2), ("", 64), ("", 0)):
            with self.subTest(out=out, rc=rc):
                p = self.write(out, rc)
                self.assertEqual(p.returncode, 1)
                self.assertIn("exited %d without a complete exposition" % rc, p.stderr)
                self.assertIn("hvmap.prom left as it was", p.stderr)
                self.assertEqual(self.published(), EXPOSITION)
                self.assertEqual(sorted(os.listdir(self.dir)), ["hvmap.prom"], "a temporary file was left")

    def test_missing_directory_is_named(self):
        p = self.write(EXPOSITION, 0, directory=os.path.join(self.tmp, "nope"))
        self.assertEqual(p.returncode, 78)
        self.assertIn("cannot enter %s/nope" % self.tmp, p.stderr)
        self.assertIn("TEXTFILE_DIR", p.stderr)

    def test_real_hvmap(self):
        """Against the built hvmap, once status has --format=openmetrics."""
        help_text = run([HVMAP, "status", "--help"], check=False)
        if "openmetrics" not in help_text.stdout + help_text.stderr:
            self.skipTest("hvmap status has no --format=openmetrics yet")
        env = dict(os.environ)
        wrapper = os.path.join(self.tmp, "hvmap-real")
        with open(wrapper, "w") as f:
            f.write('#!/bin/sh\nexec %s --config-dir %s --state-dir %s --rhsm-conf "" "$@"\n'
                    % (HVMAP, self.tmp, self.tmp))
        os.chmod(wrapper, 0o755)
        p = run(["sh", WRITE_METRICS, wrapper, self.dir], check=False, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(self.published().endswith("# EOF\n"))


class SampleConfig(unittest.TestCase):
    def test_sample_is_the_config_table(self):
        with open(os.path.join(BUILD, "units", "hvmap.conf")) as f:
            sample = f.read()
        self.assertEqual(sample, run([HVMAP, "--config-dir", "/nonexistent", "--rhsm-conf", "", "config",
                                      "--sample"]).stdout)
        keys = parse_sample(sample)
        table = config_table()
        self.assertEqual(sorted(keys), sorted((r[0], r[1]) for r in table))
        for sec, key, _, dflt, *_ in table:
            if dflt is not None and not dflt.isupper():
                self.assertEqual(keys[(sec, key)], dflt, "[%s] %s" % (sec, key))
        # Every key is commented out: the sample changes nothing.
        self.assertFalse([ln for ln in sample.splitlines() if re.match(r"^\s*\w+\s*=", ln)])

    def test_sample_validates(self):
        tmp = tempfile.mkdtemp(prefix="hvpkg-")
        self.addCleanup(shutil.rmtree, tmp, True)
        shutil.copy(os.path.join(BUILD, "units", "hvmap.conf"), tmp)
        with open(os.path.join(tmp, "hvmap.conf"), "a") as f:
            ca = [d for d in ("/etc/ssl/certs", "/etc/pki/tls/certs") if os.path.isdir(d)][0]
            f.write("\n[server]\nurl = https://cp.example.com/candlepin\nca_dir = %s\n" % ca)
        run([HVMAP, "--config-dir", tmp, "--rhsm-conf", "", "--state-dir", tmp, "config", "--check"])


EXPECTED_INSTALL = {
    "usr/bin/hvmap", "etc/hvmap/hvmap.conf", "etc/hvmap/hvmap.conf.d/", "var/lib/hvmap/",
    "usr/share/man/man8/hvmap.8", "usr/share/man/man5/hvmap.conf.5",
    "UNITDIR/hvmap.service", "usr/lib/sysusers.d/hvmap.conf", "usr/lib/tmpfiles.d/hvmap.conf",
    "UNITDIR/hvmap-metrics.service", "UNITDIR/hvmap-metrics.timer", "usr/libexec/hvmap/write-metrics",
    "usr/share/bash-completion/completions/hvmap",
}


def installed_files(destdir):
    out = set()
    for dirpath, dirnames, filenames in os.walk(destdir):
        rel = os.path.relpath(dirpath, destdir)
        for f in filenames:
            out.add(os.path.normpath(os.path.join(rel, f)))
        if not dirnames and not filenames:
            out.add(rel + "/")
    return out


class Install(unittest.TestCase):
    def test_meson_install_layout(self):
        tmp = tempfile.mkdtemp(prefix="hvpkg-")
        self.addCleanup(shutil.rmtree, tmp, True)
        run(["meson", "install", "-C", BUILD, "--no-rebuild", "--quiet", "--destdir", tmp], timeout=300)
        got = installed_files(tmp)
        unit = [f for f in got if f.endswith("/hvmap.service")]
        self.assertEqual(len(unit), 1, got)
        want = {f.replace("UNITDIR", os.path.dirname(unit[0])) for f in EXPECTED_INSTALL}
        self.assertEqual(got, want)
        self.assertEqual(os.stat(os.path.join(tmp, "var/lib/hvmap")).st_mode & 0o777, 0o700)


if __name__ == "__main__":
    unittest.main()
