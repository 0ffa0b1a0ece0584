#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: cell_discover_hosts
short_description: Map new compute hosts into a Nova cell (nova-manage cell_v2 discover_hosts)
version_added: 0.1.0
author: tenrec.dataplane developers (@tenrec)
description:
  - Runs C(nova-manage cell_v2 discover_hosts --by-service --verbose) in the cell's conductor Pod
    through the Kubernetes API (C(pods/exec), what C(oc exec) does; needs the C(pods/exec) permission
    in the control plane's namespace, nothing on the cluster nodes).
  - Reports C(changed) only when hosts were newly mapped (nova-manage's
    lines that start with C(Creating host mapping for)).
  - With O(hosts), reads the mappings back (C(nova-manage cell_v2 list_hosts)) and, while some of
    those hosts are not mapped yet (their nova-compute has not registered its service, the known
    race), waits O(delay) seconds and discovers again, until O(timeout) (or O(retries) runs); then
    fails listing the hosts still unmapped.
  - While the conductor Pod cannot take the exec - absent, not C(Running), terminating, its
    container not running, the exec refused for that reason (404, 5xx, no node yet), the connection
    to the Pod or the API server lost or refused (the Pod restarting after a spec change, the API
    server restarting) - retries every O(delay) seconds until O(timeout), then fails naming the Pod
    and the last error. A forbidden exec (no C(pods/exec) permission, with the server's message), an
    unknown container, TLS to the API server that does not verify and nova-manage's own non-zero exit
    (with its output) fail at once.
  - O(timeout) is wall-clock time for the whole module, nova-manage runs included; no run or try
    starts once a pause has reached it.
  - Check mode runs only the read-only C(list_hosts) and reports C(changed) when one of O(hosts) is
    not mapped yet.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - tenrec.dataplane.attributes.no_diff
  - kubernetes.core.k8s_auth_options
  - tenrec.dataplane.k8s_auth
  - tenrec.dataplane.nova_manage
options:
  hosts:
    description: Compute host names (nova's C(host)) that must end up mapped into the cell.
    type: list
    elements: str
    default: []
  timeout:
    description:
      - Seconds (wall clock, from the module's start) for everything - waiting for the conductor Pod,
        the nova-manage runs and the discover reruns while O(hosts) are not all mapped.
    type: int
    default: 60
  retries:
    description: At most this many discover runs while O(hosts) are not all mapped; unset, as many as fit in O(timeout).
    type: int
  delay:
    description: Seconds between two discover runs, and between two tries while the conductor Pod cannot take the exec.
    type: int
    default: 5
"""

EXAMPLES = r"""
- name: Map the new computes into cell1
  tenrec.dataplane.cell_discover_hosts:
    namespace: openstack
    hosts: "{{ groups['computes'] }}"
    timeout: 600
"""

RETURN = r"""
mapped:
  description: Hosts this run mapped (from nova-manage's C(Creating host mapping for service host) lines).
  returned: always
  type: list
  elements: str
  sample: [compute-0]
cell_hosts:
  description: Every host mapped to O(cell) afterwards (C(nova-manage cell_v2 list_hosts)); only with O(hosts).
  returned: always
  type: list
  elements: str
attempts:
  description: How many times discover ran.
  returned: always
  type: int
stdout_lines:
  description: Output of the last discover run.
  returned: always
  type: list
  elements: str
"""

import re

from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.tenrec.dataplane.plugins.module_utils.k8s import ControlPlaneError, auth_argument_spec, call_or_fail
from ansible_collections.tenrec.dataplane.plugins.module_utils.nova_manage import CONDUCTOR_ARGS, NovaManage, parse_list_hosts  # noqa: F401 pylint: disable=unused-import

DISCOVER = ["nova-manage", "cell_v2", "discover_hosts", "--by-service", "--verbose"]
CREATED = re.compile(r"Creating host mapping for (?:service|compute host) '?([^'\s:]+)")


def parse_mapped(text):
    """Host names nova-manage discover_hosts --verbose says it mapped."""
    return CREATED.findall(text)


class Discoverer(NovaManage):
    """Run nova-manage in the conductor Pod (see DOCUMENTATION); one deadline, ``timeout`` seconds
    of ``time.monotonic()`` from construction, bounds everything."""

    def run(self, check_mode):
        wanted = self.p["hosts"]
        if check_mode:
            hosts = self.cell_hosts()
            return dict(changed=bool(set(wanted) - set(hosts)), mapped=[], cell_hosts=hosts, attempts=0,
                        stdout_lines=[])
        mapped, attempts, out, hosts = [], 0, "", []
        while True:
            attempts += 1
            out = self.nova_manage(DISCOVER)
            mapped.extend(h for h in parse_mapped(out) if h not in mapped)
            if not wanted:
                break
            hosts = self.cell_hosts()
            missing = sorted(set(wanted) - set(hosts))
            if not missing:
                break
            exhausted = bool(self.p["retries"]) and attempts >= self.p["retries"]
            last = self.left() <= self.p["delay"]  # this pause reaches the deadline (or it is past)
            if not exhausted:
                self.pause()  # cut to the deadline; no run starts there, it would only be cut short
            if exhausted or last:
                took = int(round(self.p["timeout"] - max(0, self.left())))
                raise ControlPlaneError(
                    "hosts not mapped to %s after %d discover_hosts runs in %d s (%d s apart): %s; their "
                    "nova-compute service has not registered in the cell database (check nova-compute on them "
                    "and its transport_url)" % (self.p["cell"], attempts, took, self.p["delay"], ", ".join(missing)))
        return dict(changed=bool(mapped), mapped=mapped, cell_hosts=hosts, attempts=attempts,
                    stdout_lines=out.splitlines())


def main():
    module = AnsibleK8SModule(
        argument_spec=auth_argument_spec(
            hosts=dict(type="list", elements="str", default=[]),
            timeout=dict(type="int", default=60),
            retries=dict(type="int"),
            delay=dict(type="int", default=5),
            **CONDUCTOR_ARGS
        ),
        supports_check_mode=True,
    )
    result = call_or_fail(module, lambda: Discoverer(get_api_client(module), module.params).run(module.check_mode))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
