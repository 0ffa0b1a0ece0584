#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: package_plan
short_description: Say which of a node's packages are missing or have a newer version, changing nothing
version_added: 0.3.0
author: tenrec.dataplane developers (@tenrec)
description:
  - Asks the node's package manager, read-only, about the packages in O(name) - which are not
    installed, and which installed ones have a newer version available - so a role installs or
    updates exactly those (and guards package scripts only when something is going to be installed).
  - Debian family - C(dpkg-query -W) for what is installed (status C(ii)), C(apt-get --simulate
    --only-upgrade install) for what would be upgraded, from the package lists the node has (the module
    never refreshes them; refresh them first, as C(ansible.builtin.apt update_cache) does).
  - Red Hat family - C(rpm -q) for what is installed, C(dnf list --upgrades) for newer versions
    (with O(cache_only), C(--cacheonly), so no repository is contacted).
  - Always C(changed=false); it runs in check mode as well (it only reads), so check mode's plan is
    the real one.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - tenrec.dataplane.attributes.no_diff
options:
  name:
    description: Package names (as the package manager names them, no versions).
    type: list
    elements: str
    required: true
  state:
    description:
      - C(present) - RV(packages) lists the missing packages only.
      - C(latest) - RV(packages) lists the missing ones and those with a newer version.
      - RV(behind) is filled in either way.
    type: str
    choices: [present, latest]
    default: present
  cache_only:
    description: Red Hat family - read the cached repository metadata only (C(dnf --cacheonly)); Debian never refreshes.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Which nova-compute packages would change
  tenrec.dataplane.package_plan:
    name: [nova-compute, nova-compute-kvm]
    state: latest
  register: plan

- name: Install or update exactly those
  ansible.builtin.package:
    name: "{{ plan.packages }}"
    state: latest
  when: plan.packages | length > 0
"""

RETURN = r"""
installed:
  description: Version installed of each package of O(name) that is installed (Debian C(Version); RPM C(epoch:version-release)).
  returned: always
  type: dict
  sample: {nova-compute: "2:26.2.2-1~deb12u3"}
missing:
  description: Packages of O(name) that are not installed, in O(name) order.
  returned: always
  type: list
  elements: str
behind:
  description: Installed packages of O(name) with a newer version available.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Package name.
      type: str
    installed:
      description: Installed version.
      type: str
    available:
      description: The version an update installs.
      type: str
upgrade:
  description: The installed packages to update - with O(state=latest) the names in RV(behind), else none.
  returned: always
  type: list
  elements: str
packages:
  description: What to hand to the package manager - RV(missing) then RV(upgrade) (C(update) would read as the dict method in Jinja).
  returned: always
  type: list
  elements: str
"""

import re

from ansible.module_utils.basic import AnsibleModule

APT_INST = re.compile(r"^Inst (\S+) \[([^\]]+)\] \((\S+)")


def parse_dpkg_query(text):
    """``{name: version}`` of the installed packages in ``dpkg-query -W -f='${Package}\\t${db:Status-Abbrev}\\t${Version}\\n'``
    output (status ``ii``; packages removed with their configuration kept, ``rc``, are not installed)."""
    out = {}
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) == 3 and fields[1].strip() == "ii":
            out[fields[0].split(":")[0]] = fields[2]
    return out


def parse_apt_simulate(text):
    """``{name: (installed, available)}`` of the upgrades in ``apt-get --simulate install`` output
    (``Inst <name> [<installed>] (<available> <origin> [<arch>])`` lines; new installs have no ``[...]``)."""
    out = {}
    for line in text.splitlines():
        match = APT_INST.match(line)
        if match:
            out[match.group(1).split(":")[0]] = (match.group(2), match.group(3))
    return out


def parse_rpm_query(text):
    """``{name: "epoch:version-release"}`` from ``rpm -q --qf '%{NAME}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n'``
    output (``package X is not installed`` lines are skipped)."""
    out = {}
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) == 2:
            out[fields[0]] = fields[1]
    return out


def parse_dnf_upgrades(text):
    """``{name: version}`` from ``dnf -q list --upgrades`` output (``<name>.<arch> <version> <repo>``
    lines; the ``Available Upgrades`` header and wrapped lines are skipped)."""
    out = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 3 and "." in fields[0] and not line.startswith(" "):
            out[fields[0].rsplit(".", 1)[0]] = fields[1]
    return out


def plan(names, state, installed, upgrades):
    """The module's result from what is installed (``{name: version}``) and the upgrades available
    (``{name: (installed, available)}`` or ``{name: available}``)."""
    missing = [n for n in names if n not in installed]
    behind = []
    for name in names:
        if name in installed and name in upgrades:
            available = upgrades[name][1] if isinstance(upgrades[name], tuple) else upgrades[name]
            behind.append(dict(name=name, installed=installed[name], available=available))
    upgrade = [b["name"] for b in behind] if state == "latest" else []
    return dict(installed=installed, missing=missing, behind=behind, upgrade=upgrade, packages=missing + upgrade)


def run(module, argv, ok=(0,)):
    rc, out, err = module.run_command(argv, environ_update=dict(LANG="C", LC_ALL="C"))
    if rc not in ok:
        module.fail_json(msg="%s failed (rc=%d): %s" % (" ".join(argv[:3]), rc, (err or out).strip()[-2000:]))
    return rc, out


def debian(module, names):
    _rc, out = run(module, ["dpkg-query", "-W", "-f=${Package}\t${db:Status-Abbrev}\t${Version}\n"] + names,
                   ok=(0, 1))  # 1: some name is unknown to dpkg
    installed = parse_dpkg_query(out)
    upgrades = {}
    present = [n for n in names if n in installed]
    if present:
        _rc, out = run(module, ["apt-get", "--simulate", "--only-upgrade", "-o", "Debug::NoLocking=true",
                                "install"] + present)
        upgrades = parse_apt_simulate(out)
    return installed, upgrades


def redhat(module, names):
    _rc, out = run(module, ["rpm", "-q", "--qf", "%{NAME}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\n"] + names,
                   ok=(0,) + tuple(range(1, 256)))  # rpm -q exits with the number of names not installed
    installed = parse_rpm_query(out)
    upgrades = {}
    present = [n for n in names if n in installed]
    if present:
        argv = ["dnf", "-q"] + (["--cacheonly"] if module.params["cache_only"] else []) + ["list", "--upgrades"]
        rc, out = run(module, argv + present, ok=(0, 1))  # 1: no upgrade matches
        upgrades = parse_dnf_upgrades(out) if rc == 0 else {}
    return installed, upgrades


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="list", elements="str", required=True),
            state=dict(type="str", default="present", choices=["present", "latest"]),
            cache_only=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    names = list(dict.fromkeys(module.params["name"]))
    if module.get_bin_path("dpkg-query"):
        installed, upgrades = debian(module, names)
    elif module.get_bin_path("rpm"):
        installed, upgrades = redhat(module, names)
    else:
        module.fail_json(msg="neither dpkg-query nor rpm found: package_plan knows Debian and Red Hat families only")
    module.exit_json(changed=False, **plan(names, module.params["state"], installed, upgrades))


if __name__ == "__main__":
    main()
