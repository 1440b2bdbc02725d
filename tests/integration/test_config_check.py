# SPDX-License-Identifier: GPL-2.0-or-later
"""`hvmap config --check` on broken configurations: one table, each case
exits 78 with a message naming the file and line."""

import os
import shutil
import subprocess
import tempfile
import unittest

HVMAP = os.environ.get("HVMAP", "hvmap")

GOOD = "[server]\nurl = https://cp.example.com/candlepin\nca_dir = {ca}\n"


class ConfigCheck(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="hvmap-cc-")
        self.addCleanup(shutil.rmtree, self.tmp)
        self.ca = os.path.join(self.tmp, "ca")
        os.makedirs(self.ca)
        with open(os.path.join(self.ca, "server.pem"), "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\n")

    def check(self, text, rhsm=None):
        conf = os.path.join(self.tmp, "etc")
        os.makedirs(conf, exist_ok=True)
        path = os.path.join(conf, "hvmap.conf")
        with open(path, "w") as f:
            f.write(text.format(ca=self.ca))
        rhsm_path = ""
        if rhsm is not None:
            rhsm_path = os.path.join(self.tmp, "rhsm.conf")
            with open(rhsm_path, "w") as f:
                f.write(rhsm)
        p = subprocess.run([HVMAP, "--config-dir", conf, "--rhsm-conf", rhsm_path, "config", "--check"],
                           capture_output=True, text=True, timeout=30)
        return p, path

    def test_good_config_prints_values_and_origins(self):
        p, path = self.check(GOOD + "[report]\ninterval = 2h\n[proxy]\npassword = s3cret-pw\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("interval = 2h", p.stdout)
        self.assertIn("%s:5" % path, p.stdout)
        self.assertNotIn("s3cret-pw", p.stdout + p.stderr)
        self.assertIn("password = ********", p.stdout)

    def test_broken_configs(self):
        cases = [
            ("unknown key", GOOD + "[report]\nintervall = 30\n", ':5: unknown key "intervall" in [report] (did you mean "interval"?)'),
            ("bad number", GOOD.replace("[server]\n", "[server]\nport = 44x\n"), ':2: port = "44x" is not a number'),
            ("interval=0", GOOD + "[report]\ninterval = 0\n", ":5: interval = 0 is out of range (10s..30d)"),
            ("missing server", "[report]\ninterval = 1h\n", "no server configured"),
            ("unreadable CA dir", GOOD.replace("{ca}", "/nonexistent/ca"), ':3: CA directory "/nonexistent/ca" cannot be read'),
            ("CA dir without *.pem", GOOD.replace("{ca}", "{ca}/.."), "holds no *.pem file"),
            ("bad boolean", GOOD + "[libvirt]\nread_only = perhaps\n", ':5: read_only = "perhaps" is not a boolean'),
            ("key outside a section", "interval = 1h\n" + GOOD, ':1: "interval" is outside any section'),
            # Issue 16: what `run` refuses, `config --check` refuses.
            ("http:// with insecure", "[server]\nurl = http://cp.example.com/candlepin\ninsecure = yes\n",
             ':2: url = "http://cp.example.com/candlepin" is not a valid https://HOST[:PORT]/PREFIX URL'),
            ("name over 250 bytes", GOOD + "[host]\nname = " + "n" * 251 + "\n",
             ":5: name is 251 bytes long, the server accepts at most 250"),
            ("name starting with #", GOOD + "[host]\nname = #kvm\n", ":5: name = \"#kvm\" starts with '#'"),
        ]
        for name, text, want in cases:
            with self.subTest(case=name):
                p, path = self.check(text)
                self.assertEqual(p.returncode, 78, "%s: exit %d, stderr %s" % (name, p.returncode, p.stderr))
                self.assertIn(want, p.stderr)
                if want.startswith(":"):
                    self.assertIn(path + want, p.stderr)
                self.assertEqual(p.stdout, "", "nothing printed as if valid")

    def test_errors_never_show_a_secret(self):
        # Issue 16: the rhsm.conf habit "password: x" was echoed verbatim.
        for text, want in (
                (GOOD + "[proxy]\npassword: S3cret-cc\n",
                 ':5: expected "key = value"; if this sets password, write "password = ..."'),
                (GOOD + "[proxy S3cret-cc\n", ":4: malformed section header")):
            with self.subTest(text=text):
                p, path = self.check(text)
                self.assertEqual(p.returncode, 78, p.stderr)
                self.assertIn(path + want, p.stderr)
                self.assertNotIn("S3cret-cc", p.stdout + p.stderr)

    def test_rhsm_conf_supplies_the_server(self):
        rhsm = "[server]\nhostname = sat.example.com\nprefix = /rhsm\n[rhsm]\nca_cert_dir = %s/\n" % self.ca
        p, _ = self.check("[report]\ninterval = 1h\n", rhsm=rhsm)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("hostname = sat.example.com", p.stdout)
        p, _ = self.check("", rhsm="[server]\nport = eighty\n")
        self.assertEqual(p.returncode, 78)
        self.assertIn("rhsm.conf:2: [server] port", p.stderr)


if __name__ == "__main__":
    unittest.main()
