#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ovs_map
short_description: Set keys of an Open vSwitch map column (external_ids, other_config)
version_added: 0.1.0
author: tenrec.dataplane developers (@tenrec)
description:
  - Sets or removes keys in a map column of one OVSDB record, such as the C(Open_vSwitch) table's
    C(external_ids) (C(system-id), C(ovn-remote), C(ovn-encap-ip), C(ovn-bridge-mappings)).
  - Reads the column first and writes only the keys that differ, so C(changed) is true only when
    the database really changed. Keys not named are left alone.
  - Needs C(ovs-vsctl) and a running ovsdb-server on the host.
options:
  table:
    description: OVSDB table.
    type: str
    default: Open_vSwitch
  record:
    description: Record name or UUID (C(.) is the single C(Open_vSwitch) row).
    type: str
    default: "."
  column:
    description: Map column.
    type: str
    default: external_ids
  values:
    description:
      - Keys to set (with C(state=present)) or remove (C(state=absent)); values are strings.
    type: dict
    required: true
  state:
    description: Whether the keys should be present with these values, or absent.
    type: str
    default: present
    choices: [present, absent]
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - tenrec.dataplane.attributes
"""

EXAMPLES = r"""
- name: Point ovn-controller at the OVN Southbound DB
  tenrec.dataplane.ovs_map:
    values:
      system-id: compute-0
      ovn-remote: tcp:172.17.0.30:6642
      ovn-encap-type: geneve
      ovn-encap-ip: 172.19.0.100

- name: Keep br-int out of in-band control
  tenrec.dataplane.ovs_map:
    table: Bridge
    record: br-int
    column: other_config
    values:
      disable-in-band: "true"
"""

RETURN = r"""
before:
  description: The managed keys before the change (absent keys are left out).
  returned: always
  type: dict
  sample: {"ovn-encap-type": "geneve"}
after:
  description: The managed keys after the change.
  returned: always
  type: dict
  sample: {"ovn-encap-type": "geneve", "system-id": "compute-0"}
commands:
  description: The ovs-vsctl arguments that were (or, in check mode, would be) run.
  returned: always
  type: list
  elements: str
  sample: ['set Open_vSwitch . external_ids:system-id="compute-0"']
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.tenrec.dataplane.plugins.module_utils.ovs import OvsError, Vsctl, quote


def main():
    module = AnsibleModule(
        argument_spec=dict(
            table=dict(type="str", default="Open_vSwitch"),
            record=dict(type="str", default="."),
            column=dict(type="str", default="external_ids"),
            values=dict(type="dict", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
        ),
        supports_check_mode=True,
    )
    p = module.params
    wanted = dict((str(k), "" if v is None else str(v)) for k, v in p["values"].items())
    vsctl = Vsctl(module)
    try:
        current = vsctl.get_column(p["table"], p["record"], p["column"])
    except OvsError as exc:
        module.fail_json(msg=str(exc))
    if current is None:
        module.fail_json(msg="%s record %s not found" % (p["table"], p["record"]))
    before = dict((k, current[k]) for k in wanted if k in current)
    if p["state"] == "present":
        after = dict(wanted)
        args = ["%s:%s=%s" % (p["column"], k, quote(v)) for k, v in sorted(wanted.items()) if current.get(k) != v]
        verb = "set"
    else:
        after = {}
        args = ["%s" % quote(k) for k in sorted(wanted) if k in current]
        verb = "remove"
    commands = []
    if args:
        if verb == "set":
            cmd = ["set", p["table"], p["record"]] + args
        else:
            cmd = ["remove", p["table"], p["record"], p["column"]] + args
        commands.append(" ".join(cmd))
        if not module.check_mode:
            try:
                vsctl.run(*cmd)
            except OvsError as exc:
                module.fail_json(msg=str(exc))
    module.exit_json(
        changed=bool(args), before=before, after=after, commands=commands,
        diff=dict(before=before, after=after,
                  before_header="%s %s %s" % (p["table"], p["record"], p["column"]),
                  after_header="%s %s %s" % (p["table"], p["record"], p["column"])),
    )


if __name__ == "__main__":
    main()
