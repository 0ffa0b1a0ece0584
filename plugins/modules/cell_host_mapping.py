#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: cell_host_mapping
short_description: Remove compute hosts' mappings from a Nova cell (nova-manage cell_v2 delete_host)
version_added: 0.2.0
author: tenrec.dataplane developers (@tenrec)
description:
  - Reads the cell's host mappings (C(nova-manage cell_v2 list_hosts)) in the cell's conductor Pod
    through the Kubernetes API (C(pods/exec)), and for each of O(hosts) still mapped runs
    C(nova-manage cell_v2 delete_host --cell_uuid <cell> --host <host>) there.
  - Deleting a host's nova-compute service through the Compute API removes its mapping already; this
    module is for the mappings left behind (a service removed another way) and to prove none is left.
  - nova-manage refuses to delete a host that still has instances or compute nodes in the cell; the
    module fails then with nova-manage's output.
  - Changed only when a mapping was deleted; check mode runs only C(list_hosts) and reports
    C(changed) when one of O(hosts) is mapped.
  - The Pod, the retries while it cannot take the exec and O(timeout) behave as in
    M(tenrec.dataplane.cell_discover_hosts).
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - tenrec.dataplane.attributes.no_diff
  - kubernetes.core.k8s_auth_options
  - tenrec.dataplane.k8s_auth
  - tenrec.dataplane.nova_manage
options:
  hosts:
    description: Compute host names (nova's C(host)) that must not be mapped into the cell.
    type: list
    elements: str
    required: true
  state:
    description: Only C(absent).
    type: str
    choices: [absent]
    default: absent
  timeout:
    description: Seconds (wall clock, from the module's start) for everything.
    type: int
    default: 60
  delay:
    description: Seconds between two tries while the conductor Pod cannot take the exec.
    type: int
    default: 5
"""

EXAMPLES = r"""
- name: No mapping left for compute-1 in cell1
  tenrec.dataplane.cell_host_mapping:
    namespace: openstack
    hosts: [compute-1]
    state: absent
"""

RETURN = r"""
deleted:
  description: Hosts whose mapping this run deleted (or would delete, in check mode).
  returned: always
  type: list
  elements: str
cell_hosts:
  description: Every host mapped to O(cell) afterwards (before, in check mode).
  returned: always
  type: list
  elements: str
"""

from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.tenrec.dataplane.plugins.module_utils.k8s import auth_argument_spec, call_or_fail
from ansible_collections.tenrec.dataplane.plugins.module_utils.nova_manage import CONDUCTOR_ARGS, NovaManage


def remove(manage, hosts, check_mode):
    """Delete the mappings of ``hosts`` (list of str) still in the cell; the module's result (dict)."""
    mapped = manage.cell_hosts()
    doomed = [h for h in hosts if h in mapped]
    if check_mode or not doomed:
        return dict(changed=bool(doomed), deleted=doomed, cell_hosts=mapped)
    uuid = manage.cell_uuid()
    for host in doomed:
        manage.nova_manage(["nova-manage", "cell_v2", "delete_host", "--cell_uuid", uuid, "--host", host])
    return dict(changed=True, deleted=doomed, cell_hosts=manage.cell_hosts())


def main():
    module = AnsibleK8SModule(
        argument_spec=auth_argument_spec(
            hosts=dict(type="list", elements="str", required=True),
            state=dict(type="str", default="absent", choices=["absent"]),
            timeout=dict(type="int", default=60),
            delay=dict(type="int", default=5),
            **CONDUCTOR_ARGS
        ),
        supports_check_mode=True,
    )
    result = call_or_fail(module, lambda: remove(NovaManage(get_api_client(module), module.params),
                                                 module.params["hosts"], module.check_mode))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
