# SPDX-License-Identifier: GPL-2.0-or-later
"""deploy/ansible: the example playbook passes --syntax-check and
ansible-lint; the role runs against localhost in check mode, then for real
against the fake Candlepin twice: the first run registers (changed), the
second changes nothing, by hvmap register --json's own "changed"."""

import json
import os
import re
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fake-candlepin"))
from pkgtest import HVMAP, SRC, need, run  # noqa: E402

ANSIBLE = os.path.join(SRC, "deploy", "ansible")
KEY = "hv-key"


def recap(out):
    """(ok, changed, failed) of localhost from a PLAY RECAP."""
    m = re.search(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", out)
    if not m:
        raise AssertionError("no PLAY RECAP in:\n" + out)
    return tuple(int(x) for x in m.groups())


class Ansible(unittest.TestCase):
    def setUp(self):
        need("ansible-playbook", "ansible-core")
        self.tmp = tempfile.mkdtemp(prefix="hvpkg-ans-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.env = dict(os.environ, LC_ALL="C.UTF-8", ANSIBLE_CONFIG=os.path.join(ANSIBLE, "ansible.cfg"),
                        ANSIBLE_LOCAL_TEMP=os.path.join(self.tmp, "a-local"),
                        ANSIBLE_REMOTE_TEMP=os.path.join(self.tmp, "a-remote"),
                        ANSIBLE_ROLES_PATH=os.path.join(ANSIBLE, "roles"), ANSIBLE_NOCOLOR="1",
                        ANSIBLE_RETRY_FILES_ENABLED="0")

    def test_syntax_check(self):
        run(["ansible-playbook", "--syntax-check", "site.yml"], cwd=ANSIBLE, env=self.env)

    def test_lint(self):
        need("ansible-lint", "ansible-lint")
        env = dict(self.env, HOME=self.tmp)  # its cache, not the user's
        p = run(["ansible-lint", "--offline", "--nocolor", "site.yml", "roles/hvmap"], cwd=ANSIBLE, env=env,
                check=False, timeout=180)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("Passed", p.stdout + p.stderr)

    def playbook(self, cp, *extra):
        etc, state = os.path.join(self.tmp, "etc"), os.path.join(self.tmp, "state")
        os.makedirs(etc, exist_ok=True)
        play = os.path.join(self.tmp, "play.yml")
        with open(play, "w") as f:
            f.write("- hosts: localhost\n  connection: local\n  gather_facts: false\n  roles: [hvmap]\n")
        with open(os.path.join(self.tmp, "vars.json"), "w") as f:
            json.dump({
                "hvmap_install_package": False, "hvmap_manage_service": False,
                "hvmap_config_dir": etc, "hvmap_state_dir": state,
                "hvmap_server_url": cp.url, "hvmap_ca_dir": os.path.dirname(cp.ca),
                "hvmap_org": "acme", "hvmap_activation_key": KEY,
                "hvmap_command": HVMAP, "hvmap_command_prefix": [],
                "hvmap_global_args": ["--config-dir", etc, "--rhsm-conf", "", "--uri", "test:///default"],
            }, f)
        p = run(["ansible-playbook", "-i", "localhost,", play, "-e", "@" + os.path.join(self.tmp, "vars.json")]
                + list(extra), env=self.env, check=False, timeout=180)
        self.assertNotIn(KEY, p.stdout + p.stderr, "the activation key leaked into Ansible's output")
        return p

    def test_role_check_mode_then_idempotent_registration(self):
        from fakecp_harness import FakeCandlepin
        cp = FakeCandlepin(os.path.join(self.tmp, "cp"), "--port", "0").start()
        self.addCleanup(cp.kill)

        p = self.playbook(cp, "--check")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(recap(p.stdout)[2], 0)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "etc", "hvmap.conf")), "check mode wrote")
        self.assertEqual(cp.state()["consumers"], [] if isinstance(cp.state()["consumers"], list) else {})

        first = self.playbook(cp)
        self.assertEqual(first.returncode, 0, first.stdout + first.stderr)
        self.assertEqual(recap(first.stdout)[1:], (2, 0), "config and registration change:\n" + first.stdout)
        self.assertRegex(first.stdout, r"changed: \[localhost\]\s*\n.*\n*TASK \[hvmap : Register|"
                                       r"Register this hypervisor[^\n]*\nchanged")
        run([HVMAP, "--config-dir", os.path.join(self.tmp, "etc"), "--rhsm-conf", "", "config", "--check"])

        second = self.playbook(cp)
        self.assertEqual(second.returncode, 0, second.stdout + second.stderr)
        self.assertEqual(recap(second.stdout)[1:], (0, 0), "second run changed something:\n" + second.stdout)
        self.assertEqual(len(cp.state()["consumers"]), 1, "a duplicate consumer")


if __name__ == "__main__":
    unittest.main()
