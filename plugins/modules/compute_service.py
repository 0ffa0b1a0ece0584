#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: compute_service
short_description: Enable, disable (with a reason) or delete a host's nova-compute service
version_added: 0.2.0
author: tenrec.dataplane developers (@tenrec)
description:
  - Acts, through openstacksdk, on the nova-compute service of O(host) (Compute API C(os-services)).
  - O(state=disabled) disables it with O(disabled_reason), so the scheduler places nothing new there
    (the step that starts a drain); O(state=enabled) enables it again. Changed only when the status
    (or, disabled, the reason) differs.
  - O(state=absent) deletes the service, which makes nova delete the host's compute node, its
    Placement resource provider and its cell host mapping. Refused while servers of any project are
    on the host (naming them) - drain it first (M(tenrec.dataplane.compute_drain)); stop nova-compute on
    the node first too, or it registers the service again. Then waits up to O(timeout) seconds until
    Placement has no resource provider for the host's hypervisor, failing naming the provider
    otherwise. A host with no service reports C(changed=false), after the same Placement check.
  - A host that has no nova-compute service fails O(state=enabled) and O(state=disabled).
  - Check mode changes nothing and reports what would change.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - tenrec.dataplane.attributes.no_diff
  - openstack.cloud.openstack
options:
  host:
    description: The compute host (nova's C(host)).
    type: str
    required: true
  state:
    description: What the service should be.
    type: str
    choices: [enabled, disabled, absent]
    required: true
  disabled_reason:
    description: Reason recorded with O(state=disabled) (C(openstack compute service list --long) shows it).
    type: str
    default: disabled by tenrec.dataplane
  timeout:
    description: Seconds to wait, with O(state=absent), for Placement to drop the resource provider.
    type: int
    default: 60
"""

EXAMPLES = r"""
- name: Keep new instances off compute-1
  tenrec.dataplane.compute_service:
    cloud: overcloud
    host: compute-1
    state: disabled
    disabled_reason: scale in

- name: Remove compute-1 from nova and Placement (nova-compute stopped on it, no server left)
  tenrec.dataplane.compute_service:
    cloud: overcloud
    host: compute-1
    state: absent
"""

RETURN = r"""
service:
  description: The service after the change (empty once deleted) - C(id), C(host), C(state), C(status), C(disabled_reason).
  returned: always
  type: dict
resource_providers:
  description: With O(state=absent), Placement resource providers named like the host's hypervisor that were left (empty when done).
  returned: always
  type: list
  elements: str
"""

import time

from ansible_collections.openstack.cloud.plugins.module_utils.openstack import OpenStackModule
from ansible_collections.tenrec.dataplane.plugins.module_utils.compute import named_like_host, servers_on_host


def _view(service):
    if service is None:
        return {}
    return dict(id=service.id, host=service.host, state=service.state, status=service.status,
                disabled_reason=service.disabled_reason)


class ComputeServiceModule(OpenStackModule):
    argument_spec = dict(
        host=dict(type="str", required=True),
        state=dict(type="str", required=True, choices=["enabled", "disabled", "absent"]),
        disabled_reason=dict(type="str", default="disabled by tenrec.dataplane"),
        timeout=dict(type="int", default=60),
    )
    module_kwargs = dict(supports_check_mode=True)

    def service(self):
        host = self.params["host"]
        return next((s for s in self.conn.compute.services(binary="nova-compute", host=host) if s.host == host), None)

    def providers(self, names):
        """Names (list of str) of Placement resource providers among ``names`` (hypervisor names) or named like the host."""
        host = self.params["host"]
        return sorted(p.name for p in self.conn.placement.resource_providers()
                      if p.name in names or named_like_host(p.name, host))

    def hypervisor_names(self):
        """Names of the hypervisors named like the host (the list without details: the detailed one asks
        every compute over RPC for its uptime, and a stopped one makes it fail after a timeout)."""
        host = self.params["host"]
        return set(h.name for h in self.conn.compute.hypervisors(details=False)
                   if named_like_host(h.name, host))

    def absent(self, service):
        host = self.params["host"]
        names = self.hypervisor_names()
        if service is not None:
            servers = servers_on_host(self.conn, host)
            if servers:
                self.fail_json(msg="refusing to delete the nova-compute service of %s: servers are on it: %s; "
                                   "drain it first" % (host, ", ".join("%s (%s)" % (s.name, s.id) for s in servers)),
                               service=_view(service), resource_providers=[])
            if self.ansible.check_mode:
                self.exit_json(changed=True, service={}, resource_providers=[])
            self.conn.compute.delete_service(service, ignore_missing=True)
        deadline = time.monotonic() + self.params["timeout"]
        left = self.providers(names)
        while left and not self.ansible.check_mode and time.monotonic() < deadline:
            time.sleep(2)
            left = self.providers(names)
        if left:
            self.fail_json(msg="Placement still has resource providers of %s (%s); nova-compute may have "
                               "registered again (stop it on the node) or the provider has allocations"
                           % (host, ", ".join(left)), service={}, resource_providers=left)
        self.exit_json(changed=service is not None, service={}, resource_providers=[])

    def run(self):
        state, host = self.params["state"], self.params["host"]
        service = self.service()
        if state == "absent":
            self.absent(service)
        if service is None:
            self.fail_json(msg="host %s has no nova-compute service to %s" % (host, state[:-1]),
                           service={}, resource_providers=[])
        if state == "enabled":
            changed = service.status != "enabled"
            if changed and not self.ansible.check_mode:
                service = self.conn.compute.enable_service(service, host=host, binary="nova-compute")
        else:
            reason = self.params["disabled_reason"]
            changed = service.status != "disabled" or service.disabled_reason != reason
            if changed and not self.ansible.check_mode:
                service = self.conn.compute.disable_service(service, host=host, binary="nova-compute",
                                                            disabled_reason=reason)
        self.exit_json(changed=changed, service=_view(service), resource_providers=[])


def main():
    module = ComputeServiceModule()
    module()


if __name__ == "__main__":
    main()
