# SPDX-License-Identifier: GPL-2.0-or-later
"""scripts/rpm: builds the RPMs from a release tarball, rpmlint reports no
error, and the package holds exactly what `meson install` installs plus the
license and docs, with the config marked %config(noreplace) and the
systemd/sysusers scriptlets in place; hvmap-selinux follows Fedora's
guidelines for a policy module: pulled in by hvmap wherever the policy is
installed, requiring hvmap, its module in the store %ghost, installed and
removed at the same priority."""

import os
import re
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pkgtest import SRC, need, run  # noqa: E402
from test_units import EXPECTED_INSTALL  # noqa: E402


class Rpm(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        need("rpmbuild", "rpm")
        need("rpmlint", "rpmlint")
        cls.out = tempfile.mkdtemp(prefix="hvpkg-rpm-")
        cls.build = run([os.path.join(SRC, "scripts", "rpm"), "--outdir", cls.out], timeout=840)
        print(cls.build.stdout)
        rpms = os.path.join(cls.out, "RPMS")
        cls.pkgs = {f.rsplit("-", 2)[0]: os.path.join(d, f) for d, _, fs in os.walk(rpms) for f in fs}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.out, True)

    def test_rpmlint_no_errors(self):
        self.assertIn("scripts/rpm: ok: rpmlint", self.build.stdout)
        self.assertRegex(self.build.stdout, r" 0 errors, \d+ warnings")

    def test_file_list_matches_the_install(self):
        # rpm's build-id links to the binary are rpm's own, not ours.
        files = [f for f in run(["rpm", "-qlp", self.pkgs["hvmap"]]).stdout.split()
                 if not f.startswith("/usr/lib/.build-id")]
        unit = [f for f in files if f.endswith("/hvmap.service")][0]
        want = set()
        for f in EXPECTED_INSTALL:
            f = "/" + f.replace("UNITDIR", os.path.dirname(unit)[1:]).rstrip("/")
            want.add(f + ".gz" if "/man/" in f else f)
        # %license and %doc: hvmap/ on Fedora, hvmap-VERSION/ on Debian's rpm.
        docs = [f for f in files if re.fullmatch(r"/usr/share/(doc|licenses)/hvmap(-[0-9.]+)?", f)]
        self.assertEqual(len(docs), 2, files)
        want |= {"/etc/hvmap", "/usr/libexec/hvmap"} | set(docs)
        want |= {[d for d in docs if "/licenses/" in d][0] + "/LICENSE", [d for d in docs if "/doc/" in d][0]
                 + "/README.md"}
        self.assertEqual(set(files), want)
        self.assertEqual(unit, "/usr/lib/systemd/system/hvmap.service")

    def test_config_scriptlets_and_state_dir(self):
        self.assertEqual(run(["rpm", "-qcp", self.pkgs["hvmap"]]).stdout.split(), ["/etc/hvmap/hvmap.conf"])
        fmt = "[%{FILENAMES} %{FILEMODES:perms} %{FILEUSERNAME} %{FILEFLAGS:fflags}\n]"
        modes = run(["rpm", "-qp", "--qf", fmt, self.pkgs["hvmap"]]).stdout
        self.assertIn("/var/lib/hvmap drwx------ hvmap", modes)
        self.assertRegex(modes, r"/etc/hvmap/hvmap.conf -rw-r--r-- root cn")  # config, noreplace
        scripts = run(["rpm", "-qp", "--scripts", self.pkgs["hvmap"]]).stdout
        for what in ("hvmap.service", "hvmap-metrics.timer", "useradd", "systemd-update-helper"):
            self.assertIn(what, scripts)

    def test_requires_the_selinux_module_where_the_policy_is(self):
        if "hvmap-selinux" not in self.pkgs:
            self.skipTest("built --without selinux (no selinux-policy-dev)")
        vr = run(["rpm", "-qp", "--qf", "%{VERSION}-%{RELEASE}", self.pkgs["hvmap"]]).stdout
        requires = run(["rpm", "-qp", "--requires", self.pkgs["hvmap"]]).stdout.splitlines()
        self.assertIn("(hvmap-selinux = %s if selinux-policy-targeted)" % vr, requires)
        recommends = run(["rpm", "-qp", "--recommends", self.pkgs["hvmap"]]).stdout
        self.assertNotIn("hvmap-selinux", recommends, "a Recommends is skipped on minimal installs")
        se_requires = run(["rpm", "-qp", "--requires", self.pkgs["hvmap-selinux"]]).stdout.splitlines()
        self.assertIn("hvmap = %s" % vr, se_requires)

    def test_selinux_subpackage(self):
        if "hvmap-selinux" not in self.pkgs:
            self.skipTest("built --without selinux (no selinux-policy-dev)")
        files = run(["rpm", "-qlp", self.pkgs["hvmap-selinux"]]).stdout.split()
        self.assertIn("/usr/share/selinux/packages/targeted/hvmap.pp.bz2", files)
        fmt = "[%{FILENAMES} %{FILEFLAGS:fflags} %{FILEVERIFYFLAGS:hex}\n]"
        flags = run(["rpm", "-qp", "--qf", fmt, self.pkgs["hvmap-selinux"]]).stdout
        ghost = "/var/lib/selinux/targeted/active/modules/200/hvmap"
        self.assertRegex(flags, r"(?m)^%s g\S* " % re.escape(ghost), "the module in the store is not %%ghost:\n"
                         + flags)
        scripts = run(["rpm", "-qp", "--scripts", self.pkgs["hvmap-selinux"]]).stdout
        post = scripts.split("postuninstall scriptlet")[0]
        postun = scripts.split("postuninstall scriptlet")[1]
        self.assertRegex(post, r"semodule .*-X 200 .*-i .*hvmap\.pp\.bz2")
        self.assertRegex(postun, r"semodule .*-X 200 .*-r hvmap")


if __name__ == "__main__":
    unittest.main()
