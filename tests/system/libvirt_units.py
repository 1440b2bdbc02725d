# SPDX-License-Identifier: GPL-2.0-or-later
"""libvirt's modular-daemon units (virtqemud, virtxend, virtproxyd), rendered
from the dependency lines of libvirt's upstream templates, for boxes whose
distribution ships only the monolithic libvirtd (Debian). Two generations:

  "9":  libvirt 9.x: the daemons' services carry Conflicts=libvirtd.service;
        their sockets conflict with nothing (src/virtd*.socket.in of 9.x).
  "11": libvirt 11.x: each socket also conflicts with libvirtd's socket of
        the same kind (src/virtd.socket.in: Conflicts=libvirtd.socket;
        virtd-ro.socket.in: Conflicts=libvirtd-ro.socket; virtd-admin...),
        so starting one closes libvirtd's at once.

Only the [Unit] dependency lines matter for the tests; they are libvirt's.
Where the distribution has no virtqemud binary, the "daemon" is libvirtd
itself, handed the sockets under the names it looks for
(FileDescriptorName=libvirtd*.socket): a working modular QEMU daemon for
hvmap's purposes (same protocol, same socket paths, same unit graph)."""

import os

DAEMONS = {
    # name: (description, ExecStart binary, ConditionPathExists of the service)
    "virtqemud": ("QEMU", "/usr/sbin/virtqemud", None),
    "virtxend": ("Xen", "/usr/sbin/virtxend", "/proc/xen/capabilities"),
    "virtproxyd": ("proxy", "/usr/sbin/virtproxyd", None),
}
KINDS = (("", "sock", "0666"), ("-ro", "sock-ro", "0666"), ("-admin", "admin-sock", "0600"))


def _sockprefix(daemon):
    # virtproxyd serves libvirtd's own socket paths.
    return "libvirt" if daemon == "virtproxyd" else daemon


def units(style, daemon):
    """{unit file name: text} of one modular daemon in libvirt style "9" or "11"."""
    desc, binary, cond = DAEMONS[daemon]
    emulated = not os.path.exists(binary)
    out = {}
    for suffix, path, mode in KINDS:
        lines = ["[Unit]", "Description=libvirt %s daemon%s socket (test copy)" % (desc, suffix.replace("-", " "))]
        if suffix:
            lines += ["BindsTo=%s.socket" % daemon, "After=%s.socket" % daemon]
        if style == "9":
            lines += ["Before=%s.service" % daemon]
        else:
            lines += ["Conflicts=libvirtd%s.socket" % suffix, "After=libvirtd%s.socket" % suffix]
        lines += ["", "[Socket]", "ListenStream=/run/libvirt/%s-%s" % (_sockprefix(daemon), path),
                  "Service=%s.service" % daemon, "SocketMode=%s" % mode, "RemoveOnStop=yes"]
        if emulated:
            lines += ["FileDescriptorName=libvirtd%s.socket" % suffix]
        lines += ["", "[Install]", "WantedBy=sockets.target", ""]
        out["%s%s.socket" % (daemon, suffix)] = "\n".join(lines)
    exe = "/usr/sbin/libvirtd" if emulated else binary
    svc = ["[Unit]", "Description=libvirt %s daemon (test copy%s)" % (desc, ", run by libvirtd" if emulated else "")]
    if style == "9":
        svc += ["Conflicts=libvirtd.service", "Requires=%s.socket" % daemon]
    else:
        svc += ["BindsTo=%s.socket" % daemon]
    svc += ["Wants=%s-ro.socket" % daemon, "Wants=%s-admin.socket" % daemon, "After=%s.socket" % daemon]
    if style != "9":
        svc += ["Conflicts=libvirtd.service", "After=libvirtd.service"]
    if cond:
        svc += ["ConditionPathExists=%s" % cond]
    svc += ["", "[Service]", "Type=notify", "ExecStart=%s --timeout 120" % exe, "ExecReload=/bin/kill -HUP $MAINPID",
            "Restart=on-failure", "KillMode=process", "", "[Install]", "WantedBy=multi-user.target",
            "Also=%s.socket" % daemon, ""]
    out["%s.service" % daemon] = "\n".join(svc)
    return out


def install(style, daemons=("virtqemud", "virtxend"), unit_dir="/etc/systemd/system"):
    """Writes the units (not enabled, not started, as a package installs
    them); returns the file names."""
    names = []
    for d in daemons:
        for name, text in units(style, d).items():
            with open(os.path.join(unit_dir, name), "w") as f:
                f.write(text)
            names.append(name)
    return names


def remove(names, unit_dir="/etc/systemd/system"):
    for n in names:
        try:
            os.unlink(os.path.join(unit_dir, n))
        except FileNotFoundError:
            pass
