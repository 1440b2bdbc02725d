# SPDX-License-Identifier: GPL-2.0-or-later
"""rpm/selinux/: the hvmap policy module compiles with the distribution's
SELinux development Makefile, and its file contexts name the installed paths."""

import os
import re
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pkgtest import BUILD, SRC, run  # noqa: E402

MAKEFILE = "/usr/share/selinux/devel/Makefile"


class Module(unittest.TestCase):
    def test_compiles(self):
        if not os.path.exists(MAKEFILE):
            raise unittest.SkipTest("%s missing (scripts/setup installs Debian selinux-policy-dev, "
                                    "Fedora selinux-policy-devel)" % MAKEFILE)
        tmp = tempfile.mkdtemp(prefix="hvpkg-se-")
        self.addCleanup(shutil.rmtree, tmp, True)
        for ext in ("te", "fc", "if"):
            shutil.copy(os.path.join(SRC, "rpm", "selinux", "hvmap." + ext), tmp)
        p = run(["make", "-f", MAKEFILE, "hvmap.pp"], cwd=tmp, timeout=120)
        self.assertNotIn("error", p.stderr.lower(), p.stderr)
        pp = os.path.join(tmp, "hvmap.pp")
        self.assertTrue(os.path.getsize(pp) > 1000, p.stdout + p.stderr)

    def test_contexts_cover_the_installed_paths(self):
        fc = open(os.path.join(SRC, "rpm", "selinux", "hvmap.fc")).read()
        te = open(os.path.join(SRC, "rpm", "selinux", "hvmap.te")).read()
        unit = open(os.path.join(BUILD, "units", "hvmap.service")).read()
        exe = re.search(r"(?m)^ExecStart=(\S+)", unit).group(1)
        for path, ctx in ((exe, "hvmap_exec_t"), ("/usr/lib/systemd/system/hvmap.service", "hvmap_unit_file_t"),
                          ("/etc/hvmap/hvmap.conf", "hvmap_conf_t"), ("/var/lib/hvmap/key.pem", "hvmap_var_lib_t")):
            hits = [ln for ln in fc.splitlines()
                    if ln and not ln.startswith("#") and re.fullmatch(ln.split()[0], path)]
            self.assertEqual(len(hits), 1, "%s: %r" % (path, hits))
            self.assertIn(ctx, hits[0])
            self.assertRegex(te, r"(?m)^type %s;" % ctx)
        self.assertIn("init_daemon_domain(hvmap_t, hvmap_exec_t)", te)
        self.assertIn("virt_stream_connect(hvmap_t)", te)


if __name__ == "__main__":
    unittest.main()
