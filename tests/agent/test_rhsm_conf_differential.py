"""hvmap's reading of rhsm.conf equals subscription-manager's.

For every file of the rhsm.conf fuzz corpus (which holds real-world samples:
the rhsm.conf subscription-manager ships, one katello-ca-consumer writes for
a Satellite, one with a proxy), the keys hvmap uses are read by
tests/agent/rhsm-conf-dump (hvmap's C reader) and by python-rhsm's own rules:
RhsmConfigParser.get() (rhsm/config.py, copied below) on iniparse's
SafeConfigParser, which is what subscription-manager reads rhsm.conf with.
They must agree value for value, interpolation and errors included, and
hvmap's configuration must be what python-rhsm would use (connection.py:
safe_int for insecure/port/server_timeout, a proxy only with host and port),
clamped where hvmap's own ranges are narrower.

Python's standard configparser is not the reference: subscription-manager
does not use it, and it differs from iniparse (inline ";" comments, "rem"
comment lines, duplicate keys and sections, indented keys, empty lines in
continued values, a BOM).

Run: RHSM_CONF_DUMP=build/tests/agent/rhsm-conf-dump RHSM_CORPUS=tests/fuzz/corpus/config-rhsm \
     python3 tests/agent/test_rhsm_conf_differential.py
"""

import glob
import json
import os
import re
import subprocess
import sys
import unittest

try:
    import iniparse
except ImportError:
    # python3-iniparse is a distribution package (scripts/setup); a Python
    # from elsewhere on PATH (pyenv, a venv) does not see it by itself.
    for d in ["/usr/lib/python3/dist-packages"] + glob.glob("/usr/lib/python3*/site-packages") + \
            glob.glob("/usr/lib64/python3*/site-packages"):
        if os.path.isdir(os.path.join(d, "iniparse")) and d not in sys.path:
            sys.path.append(d)
    import iniparse   # noqa: F811 - fails loudly when it is not installed
from iniparse import ini
from iniparse.compat import NoOptionError, NoSectionError, InterpolationMissingOptionError

# rhsm/config.py DEFAULTS (subscription-manager 3a53d82)
DEFAULTS = {
    "server": {"hostname": "subscription.rhsm.redhat.com", "prefix": "/subscription", "port": "443",
               "server_timeout": "180", "insecure": "0", "proxy_hostname": "", "proxy_scheme": "http",
               "proxy_user": "", "proxy_port": "", "proxy_password": "", "no_proxy": ""},
    "rhsm": {"baseurl": "https://cdn.redhat.com", "repomd_gpg_url": "", "ca_cert_dir": "/etc/rhsm/ca/",
             "repo_ca_cert": "%(ca_cert_dir)sredhat-uep.pem", "productcertdir": "/etc/pki/product",
             "entitlementcertdir": "/etc/pki/entitlement", "consumercertdir": "/etc/pki/consumer",
             "manage_repos": "1", "full_refresh_on_yum": "0", "report_package_profile": "1",
             "plugindir": "/usr/share/rhsm-plugins", "pluginconfdir": "/etc/rhsm/pluginconf.d",
             "auto_enable_yum_plugins": "1", "package_profile_on_trans": "0", "inotify": "1",
             "progress_messages": "1", "certificate_algorithms": "legacy"},
    "rhsmcertd": {"certcheckinterval": "240", "splay": "1", "disable": "0", "auto_registration": "0",
                  "auto_registration_interval": "1", "auto_registration_identity_interval": "10"},
    "logging": {"default_log_level": "INFO"},
}

# The keys hvmap reads, in hvmap's order (agent/conf.c config_keys).
KEYS = [("server", "hostname"), ("server", "port"), ("server", "prefix"), ("rhsm", "ca_cert_dir"),
        ("server", "insecure"), ("server", "server_timeout"), ("server", "proxy_hostname"),
        ("server", "proxy_port"), ("server", "proxy_user"), ("server", "proxy_password"),
        ("server", "no_proxy"), ("rhsm", "consumerCertDir")]

HVMAP_DEFAULTS = {"port": 443, "prefix": "/subscription", "timeout_s": 60, "proxy_port": 3128,
                  "ca_dir": "/etc/rhsm/ca"}
TIMEOUT_RANGE = (1, 900)


class RhsmConfigParser(iniparse.SafeConfigParser):
    """python-rhsm's RhsmConfigParser.get(), as in rhsm/config.py."""

    def get(self, section, prop):
        try:
            return iniparse.SafeConfigParser.get(self, section, prop)
        except InterpolationMissingOptionError:
            raw_val = super().get(section, prop, True)
            interpolations = re.findall(r"%\((.*?)\)s", raw_val)
            changed = False
            for interp in interpolations:
                if self.has_option(section, interp):
                    super().set(section, interp, self.get(section, interp))
                    changed = True
            if changed:
                return self.get(section, prop)
            raise
        except (NoOptionError, NoSectionError) as er:
            try:
                return DEFAULTS[section][prop.lower()]
            except KeyError:
                raise er

    def has_option(self, section, prop):
        try:
            self.get(section, prop)
            return True
        except NoOptionError:
            return False

    def in_file(self, section, prop):
        return self.has_section(section) and iniparse.SafeConfigParser.has_option(self, section, prop)


def safe_int(value):
    try:
        return int(value)
    except Exception:
        return None


def python_reading(path):
    """What subscription-manager reads, in rhsm-conf-dump's shape."""
    ini.INISection._compat_skip_empty_lines.clear()   # class-level state in iniparse
    p = RhsmConfigParser()
    try:
        with open(path, encoding="utf-8") as f:        # RHEL's UTF-8 locale; universal newlines
            p.readfp(f)
    except UnicodeDecodeError:
        return {"parse": "error", "line": 0}, None
    except iniparse.compat.ParsingError as e:
        line = getattr(e, "lineno", None) or e.errors[0][0]
        return {"parse": "error", "line": line}, None
    keys, values = {}, {}
    for s, k in KEYS:
        name = "%s.%s" % (s, k)
        try:
            v = p.get(s, k)
        except NoOptionError:
            keys[name] = None
            continue
        except Exception:       # python-rhsm raises: subscription-manager stops
            keys[name] = {"error": True}
            continue
        if "\x00" in v:
            keys[name] = {"nul": True}
        else:
            keys[name] = {"value" if p.in_file(s, k) else "builtin": v}
        if p.in_file(s, k):
            values[k.lower()] = v
    return {"parse": "ok", "line": 0, "keys": keys}, values


def usable(v):
    return v is not None and v != "" and not any(ord(ch) < 0x20 or ord(ch) == 0x7f for ch in v)


def expected_config(values):
    """hvmap's configuration from python-rhsm's values: connection.py's rules,
    hvmap's ranges (clamped or ignored), empty meaning the default."""
    cfg = dict(HVMAP_DEFAULTS, hostname=None, insecure=False, proxy_hostname=None)
    get = values.get
    if usable(get("hostname")):
        cfg["hostname"] = get("hostname")
    if usable(get("prefix")):
        cfg["prefix"] = get("prefix")
    if usable(get("ca_cert_dir")):
        cfg["ca_dir"] = get("ca_cert_dir")
    if usable(get("insecure")):
        cfg["insecure"] = bool(safe_int(get("insecure")))
    if usable(get("port")):
        n = safe_int(get("port"))
        if n is not None and 1 <= n <= 65535:
            cfg["port"] = n
    if usable(get("server_timeout")):
        n = safe_int(get("server_timeout"))
        if n is not None:
            cfg["timeout_s"] = min(max(n, TIMEOUT_RANGE[0]), TIMEOUT_RANGE[1])
    port_ok = False
    if usable(get("proxy_port")):
        n = safe_int(get("proxy_port"))
        if n is not None and 1 <= n <= 65535:
            cfg["proxy_port"], port_ok = n, True
    if usable(get("proxy_hostname")):
        cfg["proxy_hostname"] = get("proxy_hostname")
        if not port_ok:
            cfg["proxy_port"] = 0       # connection.py: no proxy without a port
    return cfg


class Differential(unittest.TestCase):
    def test_every_corpus_file(self):
        tool = os.environ["RHSM_CONF_DUMP"]
        files = sorted(glob.glob(os.path.join(os.environ["RHSM_CORPUS"], "*")))
        self.assertGreaterEqual(len(files), 10, "the corpus is missing")
        # Under `meson test --setup valgrind` the tool runs under valgrind.
        wrapper = [os.environ["HVMAP_EXE_WRAPPER"]] if os.environ.get("HVMAP_EXE_WRAPPER") else []
        out = subprocess.run(wrapper + [tool] + files, stdout=subprocess.PIPE, check=True, timeout=60).stdout
        ours = [json.loads(line) for line in out.decode().splitlines()]
        self.assertEqual(len(ours), len(files))
        for path, hv in zip(files, ours):
            with self.subTest(file=os.path.basename(path)):
                want, values = python_reading(path)
                self.assertEqual(hv["parse"], want["parse"], hv)
                self.assertEqual(hv["line"], want["line"], "first line subscription-manager refuses")
                if want["parse"] != "ok":
                    self.assertEqual(hv["keys"], {})
                    self.assertTrue(hv["warnings"], "a file hvmap ignores is warned about")
                    continue
                self.assertEqual(hv["keys"], want["keys"])
                cfg = hv["config"]
                cfg["ca_dir"] = cfg["ca_dir"].rstrip("/") if cfg["ca_dir"] != "/" else cfg["ca_dir"]
                exp = expected_config(values)
                exp["ca_dir"] = exp["ca_dir"].rstrip("/") if exp["ca_dir"] != "/" else exp["ca_dir"]
                self.assertEqual(cfg, exp, hv["warnings"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
