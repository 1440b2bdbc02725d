# SPDX-License-Identifier: GPL-2.0-or-later
"""rpm/selinux/: the hvmap policy module compiles with the distribution's
SELinux development Makefile, its file contexts name the installed paths,
and, installed into a copy of the host's policy store the way the RPM does
it (semodule -X 200), it grants exactly the accesses hvmap needs: read
/etc/rhsm (rhsmcertd_config_t) and subscription-manager's identity
(/etc/pki/consumer, cert_t), connect to libvirt's sockets, and write none of
them. sesearch reads the rules from the compiled kernel policy. A mutant
module without those rules must fail every one of the checks.

Debian's policy (refpolicy) has no rhsmcertd module: the types Fedora's
policy has and the host's lacks are declared by a small test-only module,
as Fedora's rhsmcertd.te declares them, so that the module's
optional_policy blocks are enabled as on Fedora and RHEL."""

import os
import re
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pkgtest import BUILD, SRC, need, run  # noqa: E402

MAKEFILE = "/usr/share/selinux/devel/Makefile"
PRIORITY = "200"  # what the spec's %selinux_modules_install uses

# Types of Fedora's/RHEL's policy that hvmap's module refers to, with the
# declaration their own module makes (policy/modules/contrib/rhsmcertd.te).
FEDORA_TYPES = {
    "rhsmcertd_config_t": "type rhsmcertd_config_t;\nfiles_config_file(rhsmcertd_config_t)\n",
}

READ_FILE = {"read", "open", "getattr"}
WRITE = {"write", "append", "create", "unlink", "rename", "setattr", "add_name", "remove_name"}


def need_makefile():
    if not os.path.exists(MAKEFILE):
        raise unittest.SkipTest("%s missing (scripts/setup installs Debian selinux-policy-dev, "
                                "Fedora selinux-policy-devel)" % MAKEFILE)


def compile_module(tmp, name, te, fc="", if_=""):
    d = os.path.join(tmp, name + "-src")
    os.makedirs(d)
    for ext, text in (("te", te), ("fc", fc), ("if", if_)):
        with open(os.path.join(d, name + "." + ext), "w") as f:
            f.write(text)
    p = run(["make", "-f", MAKEFILE, name + ".pp"], cwd=d, timeout=120)
    pp = os.path.join(d, name + ".pp")
    if not os.path.exists(pp):
        raise AssertionError("no %s.pp:\n%s%s" % (name, p.stdout, p.stderr))
    return pp, p


def source(ext):
    with open(os.path.join(SRC, "rpm", "selinux", "hvmap." + ext)) as f:
        return f.read()


def policy_type():
    try:
        with open("/etc/selinux/config") as f:
            m = re.search(r"(?m)^SELINUXTYPE=(\S+)", f.read())
    except OSError:
        m = None
    return m.group(1) if m else None


class Module(unittest.TestCase):
    def test_compiles(self):
        need_makefile()
        tmp = tempfile.mkdtemp(prefix="hvpkg-se-")
        self.addCleanup(shutil.rmtree, tmp, True)
        pp, p = compile_module(tmp, "hvmap", source("te"), source("fc"), source("if"))
        self.assertNotIn("error", p.stderr.lower(), p.stderr)
        self.assertTrue(os.path.getsize(pp) > 1000, p.stdout + p.stderr)

    def test_contexts_cover_the_installed_paths(self):
        fc, te = source("fc"), source("te")
        with open(os.path.join(BUILD, "units", "hvmap.service")) as f:
            unit = f.read()
        exe = re.search(r"(?m)^ExecStart=(\S+)", unit).group(1)
        for path, ctx in ((exe, "hvmap_exec_t"), ("/usr/lib/systemd/system/hvmap.service", "hvmap_unit_file_t"),
                          ("/etc/hvmap/hvmap.conf", "hvmap_conf_t"), ("/etc/hvmap/ca/katello-server-ca.pem",
                                                                     "hvmap_conf_t"),
                          ("/var/lib/hvmap/key.pem", "hvmap_var_lib_t")):
            hits = [ln for ln in fc.splitlines()
                    if ln and not ln.startswith("#") and re.fullmatch(ln.split()[0], path)]
            self.assertEqual(len(hits), 1, "%s: %r" % (path, hits))
            self.assertIn(ctx, hits[0])
            self.assertRegex(te, r"(?m)^type %s;" % ctx)
        self.assertIn("init_daemon_domain(hvmap_t, hvmap_exec_t)", te)


def strip_blocks(te, *markers):
    """hvmap.te without the optional_policy blocks (and plain lines) that
    mention any of markers: the mutant whose rules the checks must miss."""
    out = te
    for mk in markers:
        out = re.sub(r"(?ms)^optional_policy\(`(?:(?!^'\)).)*?%s.*?^'\)\n" % re.escape(mk), "", out)
        out = re.sub(r"(?m)^.*%s.*\n" % re.escape(mk), "", out)
    return out


class PolicyRules(unittest.TestCase):
    """The compiled module inside a whole policy, read back with sesearch."""

    @classmethod
    def setUpClass(cls):
        need_makefile()
        for tool, pkg in (("sesearch", "setools"), ("seinfo", "setools"), ("semodule", "policycoreutils")):
            need(tool, pkg)
        cls.ptype = policy_type()
        store = "/var/lib/selinux/%s" % cls.ptype
        if not cls.ptype or not os.path.exists(os.path.join(store, "active", "policy.kern")):
            raise unittest.SkipTest("no SELinux policy store (/etc/selinux/config, %s): scripts/setup installs "
                                    "Debian selinux-policy-default, Fedora selinux-policy-targeted" % store)
        cls.store = store
        cls.tmp = tempfile.mkdtemp(prefix="hvpkg-sepol-")
        kern = os.path.join(store, "active", "policy.kern")
        cls.declared = [t for t in FEDORA_TYPES
                        if re.search(r"Types: 0\b", run(["seinfo", "-t", t, kern]).stdout)]
        extra = []
        if cls.declared:
            te = "policy_module(hvmaptestdecl, 1.0.0)\n" + "".join(FEDORA_TYPES[t] for t in cls.declared)
            extra.append(compile_module(cls.tmp, "hvmaptestdecl", te)[0])
        cls.policy = cls.build("good", source("te"), extra)
        mutant = strip_blocks(source("te"), "virt_stream_connect", "rhsmcertd_config_t",
                              "miscfiles_read_generic_certs")
        assert mutant != source("te")
        cls.mutant = cls.build("mutant", mutant, extra)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, True)

    @classmethod
    def build(cls, name, te, extra):
        """A kernel policy: the host's store, plus extra modules, plus hvmap
        (from te) at the RPM's priority, built by semodule in a private root."""
        root = os.path.join(cls.tmp, name, "root")
        os.makedirs(os.path.join(root, "var", "lib", "selinux"))
        os.makedirs(os.path.join(root, "etc", "selinux", cls.ptype))
        shutil.copytree(cls.store, os.path.join(root, "var", "lib", "selinux", cls.ptype), symlinks=True)
        pp = compile_module(os.path.join(cls.tmp, name), "hvmap", te, source("fc"), source("if"))[0]
        args = ["semodule", "-p", root, "-s", cls.ptype, "-n"]
        if extra:
            args += ["-X", "100"] + [a for m in extra for a in ("-i", m)]
        run(args + ["-X", PRIORITY, "-i", pp], timeout=300)
        listing = run(["semodule", "-p", root, "-s", cls.ptype, "--list-modules=full"]).stdout
        assert re.search(r"(?m)^%s\s+hvmap\s+pp" % PRIORITY, listing), listing
        pol = os.path.join(root, "etc", "selinux", cls.ptype, "policy")
        files = [f for f in os.listdir(pol) if re.fullmatch(r"policy\.\d+", f)]
        assert files, os.listdir(pol)
        return os.path.join(pol, files[0])

    def has_type(self, t):
        return not re.search(r"Types: 0\b", run(["seinfo", "-t", t, self.policy]).stdout)

    def allowed(self, policy, target, cls, perms):
        """The permissions of perms that some rule whose source is hvmap_t
        itself (not an attribute it belongs to) grants on target:cls."""
        p = run(["sesearch", "-A", "-s", "hvmap_t", "-ds", "-t", target, "-c", cls, policy])
        got = set()
        for line in p.stdout.splitlines():
            m = re.match(r"allow hvmap_t \S+:%s (?:\{ ([^}]*) \}|(\S+));" % re.escape(cls), line.strip())
            if m:
                got |= set((m.group(1) or m.group(2)).split())
        return got & set(perms)

    def rules(self):
        """(what, target, class, permissions) hvmap needs."""
        sock = "virt_var_run_t"  # Fedora's; refpolicy's virt_runtime_t has it as an alias
        out = [
            ("read /etc/rhsm/rhsm.conf and /etc/rhsm/ca/*.pem", "rhsmcertd_config_t", "file", READ_FILE),
            ("list /etc/rhsm/ca", "rhsmcertd_config_t", "dir", {"search", "read", "open"}),
            ("follow links in /etc/rhsm/ca", "rhsmcertd_config_t", "lnk_file", {"read"}),
            ("read /etc/pki/consumer/{cert,key}.pem", "cert_t", "file", READ_FILE),
            ("search /etc/pki/consumer", "cert_t", "dir", {"search"}),
            ("connect to libvirtd's socket", "virtd_t", "unix_stream_socket", {"connectto"}),
            ("open /run/libvirt/libvirt-sock-ro", sock, "sock_file", {"write"}),
            ("search /run/libvirt", sock, "dir", {"search"}),
        ]
        if self.has_type("virtqemud_t"):  # Fedora's modular daemons
            out += [("connect to virtqemud's socket", "virtqemud_t", "unix_stream_socket", {"connectto"}),
                    ("open /run/libvirt/virtqemud-sock-ro", "virtqemud_var_run_t", "sock_file", {"write"})]
        return out

    def test_types_present(self):
        for t in ("hvmap_t", "rhsmcertd_config_t", "cert_t", "virtd_t"):
            self.assertTrue(self.has_type(t), t)
        print("\npolicy %s (store %s); declared for the test: %s"
              % (self.policy, self.store, ", ".join(self.declared) or "none"))

    def test_hvmap_gets_what_it_needs(self):
        for what, target, cls, perms in self.rules():
            with self.subTest(what):
                self.assertEqual(self.allowed(self.policy, target, cls, perms), set(perms),
                                 "%s: hvmap_t lacks %s:%s %s" % (what, target, cls, sorted(perms)))

    def test_read_only(self):
        for target in ("rhsmcertd_config_t", "cert_t", "virt_var_run_t"):
            for cls in ("file", "dir", "lnk_file"):
                with self.subTest(target=target, cls=cls):
                    self.assertEqual(self.allowed(self.policy, target, cls, WRITE), set(),
                                     "hvmap_t may change %s:%s" % (target, cls))

    def test_own_files(self):
        self.assertEqual(self.allowed(self.policy, "hvmap_conf_t", "file", READ_FILE), READ_FILE)
        self.assertEqual(self.allowed(self.policy, "hvmap_conf_t", "file", WRITE), set())
        self.assertEqual(self.allowed(self.policy, "hvmap_var_lib_t", "file", {"create", "write", "rename"}),
                         {"create", "write", "rename"})

    def test_checks_fail_without_the_rules(self):
        """The mutant lacks the rhsmcertd and virt blocks and the cert_t read:
        every rule check above must see that."""
        for what, target, cls, perms in self.rules():
            with self.subTest(what):
                self.assertNotEqual(self.allowed(self.mutant, target, cls, perms), set(perms),
                                    "%s: the check passes even without the rule" % what)


if __name__ == "__main__":
    unittest.main()
