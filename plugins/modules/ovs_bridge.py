#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ovs_bridge
short_description: Create or remove an Open vSwitch bridge with its datapath type, fail mode and ports
version_added: 0.1.0
author: tenrec.dataplane developers (@tenrec)
description:
  - Creates the bridge when missing, then sets C(datapath_type) and C(fail_mode) only where they
    differ, and adds listed ports that are missing. Reports C(changed) only on a real change.
  - Use C(datapath_type=netdev) (userspace datapath) on hosts without the openvswitch kernel module.
  - Needs C(ovs-vsctl) and a running ovsdb-server on the host.
options:
  name:
    description: Bridge name.
    type: str
    required: true
  state:
    description: Whether the bridge should exist.
    type: str
    default: present
    choices: [present, absent]
  datapath_type:
    description: C(system) (kernel datapath) or C(netdev) (userspace datapath).
    type: str
    default: system
    choices: [system, netdev]
  fail_mode:
    description: Bridge fail mode; empty leaves it unset.
    type: str
    default: ""
    choices: ["", secure, standalone]
  ports:
    description: Ports that must be on the bridge; other ports are left alone.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - tenrec.dataplane.attributes
"""

EXAMPLES = r"""
- name: Integration bridge for ovn-controller, userspace datapath
  tenrec.dataplane.ovs_bridge:
    name: br-int
    datapath_type: netdev
    fail_mode: secure

- name: Underlay bridge carrying eth0
  tenrec.dataplane.ovs_bridge:
    name: br-phy
    datapath_type: netdev
    ports: [eth0]
"""

RETURN = r"""
commands:
  description: The ovs-vsctl commands that were (or, in check mode, would be) run.
  returned: always
  type: list
  elements: str
  sample: ["add-br br-int -- set Bridge br-int datapath_type=netdev"]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.tenrec.dataplane.plugins.module_utils.ovs import OvsError, Vsctl


def plan(exists, current, params):
    """Return the list of ovs-vsctl argument lists needed to reach ``params``.

    :param exists: whether the bridge exists now.
    :param current: ``{"datapath_type": str, "fail_mode": str, "ports": list}`` of the bridge now.
    :param params: the module parameters.
    """
    name = params["name"]
    if params["state"] == "absent":
        return [["del-br", name]] if exists else []
    cmds = []
    settings = {"datapath_type": params["datapath_type"]}
    if params["fail_mode"]:
        settings["fail_mode"] = params["fail_mode"]
    if not exists:
        cmds.append(["add-br", name, "--", "set", "Bridge", name] +
                    ["%s=%s" % kv for kv in sorted(settings.items())])
        current = {"ports": []}
    else:
        diff = ["%s=%s" % (k, v) for k, v in sorted(settings.items()) if (current.get(k) or "") != v]
        if diff:
            cmds.append(["set", "Bridge", name] + diff)
    for port in params["ports"]:
        if port not in current.get("ports", []):
            cmds.append(["add-port", name, port])
    return cmds


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            datapath_type=dict(type="str", default="system", choices=["system", "netdev"]),
            fail_mode=dict(type="str", default="", choices=["", "secure", "standalone"]),
            ports=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    name = module.params["name"]
    vsctl = Vsctl(module)
    try:
        exists = vsctl.bridge_exists(name)
        current = {}
        if exists:
            dp = vsctl.get_column("Bridge", name, "datapath_type")
            fm = vsctl.get_column("Bridge", name, "fail_mode")
            current = {
                "datapath_type": dp or "system",
                "fail_mode": fm if isinstance(fm, str) else "",
                "ports": vsctl.run("list-ports", name).split(),
            }
        cmds = plan(exists, current, module.params)
        if cmds and not module.check_mode:
            for cmd in cmds:
                vsctl.run(*cmd)
    except OvsError as exc:
        module.fail_json(msg=str(exc))
    before = dict(current, exists=exists)
    after = {"exists": module.params["state"] == "present"}
    if after["exists"]:
        after.update(datapath_type=module.params["datapath_type"],
                     fail_mode=module.params["fail_mode"] or current.get("fail_mode", ""),
                     ports=sorted(set(current.get("ports", [])) | set(module.params["ports"])))
    module.exit_json(changed=bool(cmds), commands=[" ".join(c) for c in cmds],
                     diff=dict(before=before, after=after))


if __name__ == "__main__":
    main()
