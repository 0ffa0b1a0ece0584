#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: compute_service_info
short_description: Per compute host, nova-compute service, hypervisor and Placement resource provider
version_added: 0.1.0
author: tenrec.dataplane developers (@tenrec)
description:
  - Reads, through openstacksdk, for each of O(hosts) the nova-compute service (Compute API
    C(os-services)), its hypervisor (C(os-hypervisors), matched by the hypervisor's service host) and
    the Placement resource provider of that hypervisor (same UUID, or same name).
  - A host is C(ready) when its nova-compute service is C(state=up) and C(status=enabled), its
    hypervisor exists, its resource provider exists and Neutron reports each of O(agent_types) alive
    on it (Networking API C(agents), matched by host). Neutron binds no port to a host whose OVN
    Controller agent it holds dead, so an instance could not boot there yet.
  - With O(wait), polls until every host is ready, then returns; after O(timeout) seconds (wall
    clock, counted from the module's start) fails
    listing each host still not ready and what it lacks. API errors while waiting count as not
    ready yet (the last one is reported); without O(wait) they fail at once.
  - Credentials come from the usual openstack.cloud options (C(cloud) name or dict, C(auth), ...);
    the user needs the admin role to list services and hypervisors.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - tenrec.dataplane.attributes.no_diff
  - openstack.cloud.openstack
options:
  hosts:
    description: Compute host names (nova's C(host) option on each node).
    type: list
    elements: str
    required: true
  wait:
    description: Wait until every host is ready.
    type: bool
    default: false
  timeout:
    description: Seconds to wait with O(wait), counted from the module's start; C(0) polls once.
    type: int
    default: 300
  delay:
    description: Seconds between two polls with O(wait).
    type: int
    default: 5
  agent_types:
    description:
      - Neutron agent types (C(agent_type) as C(openstack network agent list) shows it) that must be
        alive on each host; an empty list checks none (and makes no Networking API call).
    type: list
    elements: str
    default: [OVN Controller agent]
"""

EXAMPLES = r"""
- name: Wait until the new computes are up, with hypervisor and resource provider
  tenrec.dataplane.compute_service_info:
    cloud: overcloud
    hosts: "{{ groups['computes'] }}"
    wait: true
    timeout: 600
"""

RETURN = r"""
hosts:
  description: One entry per requested host, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    host:
      description: The host name.
      type: str
    ready:
      description: Service up and enabled, hypervisor and resource provider present.
      type: bool
    missing:
      description: What keeps it from being ready, e.g. C(nova-compute service state is down).
      type: list
      elements: str
    service:
      description: From C(os-services) (binary nova-compute) - C(id), C(state), C(status), C(zone), C(updated_at).
      type: dict
    hypervisor:
      description: From C(os-hypervisors) - C(id), C(name) (hypervisor_hostname), C(state), C(status), C(type).
      type: dict
    resource_provider:
      description: From Placement C(/resource_providers) - C(id), C(name), C(generation).
      type: dict
    agents:
      description: The host's Neutron agents of O(agent_types) - C(id), C(agent_type), C(alive).
      type: list
      elements: dict
"""

import time

from ansible_collections.openstack.cloud.plugins.module_utils.openstack import OpenStackModule
from ansible_collections.tenrec.dataplane.plugins.module_utils.compute import named_like_host


def _pick(obj, **names):
    return dict((key, getattr(obj, attr, None)) for key, attr in names.items()) if obj is not None else {}


class ComputeServiceInfoModule(OpenStackModule):
    argument_spec = dict(
        hosts=dict(type="list", elements="str", required=True),
        wait=dict(type="bool", default=False),
        timeout=dict(type="int", default=300),
        delay=dict(type="int", default=5),
        agent_types=dict(type="list", elements="str", default=["OVN Controller agent"]),
    )
    module_kwargs = dict(supports_check_mode=True)

    def snapshot(self):
        """Per-host state from the Compute and Placement APIs (see RETURN)."""
        services = {s.host: s for s in self.conn.compute.services(binary="nova-compute")}
        hypervisors = list(self.conn.compute.hypervisors(details=True))
        providers = list(self.conn.placement.resource_providers())
        types = self.params["agent_types"]
        agents = [a for a in self.conn.network.agents() if a.agent_type in types] if types else []
        out = []
        for host in self.params["hosts"]:
            svc = services.get(host)
            hyp = None
            for candidate in hypervisors:
                details = getattr(candidate, "service_details", None) or {}
                if details.get("host") == host or named_like_host(candidate.name, host):
                    hyp = candidate
                    break
            rp = None
            if hyp is not None:
                rp = next((p for p in providers if p.id == hyp.id or p.name == hyp.name), None)
            missing = []
            if svc is None:
                missing.append("no nova-compute service")
            else:
                if svc.state != "up":
                    missing.append("nova-compute service state is %s" % svc.state)
                if svc.status != "enabled":
                    missing.append("nova-compute service status is %s" % svc.status)
            if hyp is None:
                missing.append("no hypervisor")
            if rp is None:
                missing.append("no Placement resource provider")
            mine = [a for a in agents if a.host == host]
            for kind in types:
                if not any(a.agent_type == kind and a.is_alive for a in mine):
                    missing.append("no %s alive in Neutron" % kind)
            out.append(dict(
                host=host, ready=not missing, missing=missing,
                service=_pick(svc, id="id", state="state", status="status", zone="availability_zone",
                              updated_at="updated_at"),
                hypervisor=_pick(hyp, id="id", name="name", state="state", status="status", type="hypervisor_type"),
                resource_provider=_pick(rp, id="id", name="name", generation="generation"),
                agents=[dict(id=a.id, agent_type=a.agent_type, alive=a.is_alive) for a in mine]))
        return out

    def run(self):
        deadline = time.monotonic() + self.params["timeout"]
        while True:
            try:
                hosts, error = self.snapshot(), None
            except self.sdk.exceptions.SDKException as exc:
                if not self.params["wait"]:
                    raise
                # while waiting, an API error (a 5xx while nova-compute registers, a restarting API)
                # is one more reason to poll again; the last one is reported on timeout
                hosts, error = [dict(host=h, ready=False, missing=["API error: %s" % exc], service={},
                                     hypervisor={}, resource_provider={}, agents=[]) for h in self.params["hosts"]], exc
            waiting = [h for h in hosts if not h["ready"]]
            if not (self.params["wait"] and waiting):
                self.exit_json(changed=False, hosts=hosts)
            if time.monotonic() >= deadline:
                self.fail_json(msg="compute hosts not ready after %d s: %s" % (
                    self.params["timeout"], "; ".join("%s: %s" % (h["host"], ", ".join(h["missing"])) for h in waiting)),
                    hosts=hosts, last_error=str(error or ""))
            time.sleep(max(0, min(self.params["delay"], deadline - time.monotonic())))


def main():
    module = ComputeServiceInfoModule()
    module()


if __name__ == "__main__":
    main()
