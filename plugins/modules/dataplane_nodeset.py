#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: dataplane_nodeset
short_description: Register compute nodes with the control plane as an OpenStackDataPlaneNodeSet
version_added: 0.1.0
author: tenrec.dataplane developers (@tenrec)
description:
  - Applies an C(OpenStackDataPlaneNodeSet) with C(preProvisioned=true) describing the compute nodes
    this collection provisions (host name, Ansible host/user/port, networks with fixed IPs), so the
    control plane knows them.
  - Server-side apply. The NodeSet as a whole (template, services, this run's nodes) is applied under
    O(field_manager), then each node again under a field manager of its own,
    C(<field_manager>/<hostname>), which keeps owning that node. So a run that lists only some nodes
    (an AWX job slice, a scale-out run with other nodes) never removes nodes an earlier or
    concurrent run registered, and a node left out of every later run stays registered until it is
    removed on purpose - O(prune=true) removes the nodes this run does not list, O(state=absent)
    deletes the whole NodeSet.
  - A re-run with the same nodes reports C(changed=false). Check mode uses the server's dry run for
    every request; diff shows the spec before and after.
  - Every IP address (O(nodes[].ansible_host) when it is an address, O(nodes[].networks[].fixed_ip))
    is validated with netaddr before anything is sent; a bad one fails naming the node and field.
  - C(spec.services) is always sent, as O(services) gives it - an empty list when O(services) is not
    given. Left out, the CRD would default it to openstack-operator's own list (C(bootstrap),
    C(configure-network), C(install-os), C(reboot-os), C(ovn), C(libvirt), C(nova), ...), and a later
    C(OpenStackDataPlaneDeployment) of the NodeSet would run those services, and a reboot, over nodes
    this collection configures itself. With the empty list such a deployment has no service to run
    unless it names services itself (its C(servicesOverride)).
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - tenrec.dataplane.attributes
  - kubernetes.core.k8s_auth_options
  - tenrec.dataplane.apply
  - tenrec.dataplane.k8s_auth
options:
  name:
    description: Name of the NodeSet.
    type: str
    required: true
  state:
    description: C(present) applies the NodeSet; C(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  nodes:
    description: The compute nodes.
    type: list
    elements: dict
    default: []
    suboptions:
      hostname:
        description: Host name of the node (nova's C(host), the OVN chassis hostname).
        type: str
        required: true
      ansible_host:
        description: Address Ansible reaches the node at.
        type: str
      ansible_user:
        description: User Ansible logs in as.
        type: str
        default: root
      ansible_port:
        description: SSH port.
        type: int
        default: 22
      networks:
        description: Networks of the node (C(name), C(subnet_name), C(fixed_ip), C(default_route)).
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description: Network name (NetConfig), e.g. C(ctlplane), C(internalapi), C(tenant).
            type: str
            required: true
          subnet_name:
            description: Subnet of that network.
            type: str
            default: subnet1
          fixed_ip:
            description: The node's address on it.
            type: str
          default_route:
            description: Whether the default route goes through this network.
            type: bool
            default: false
  ssh_key_secret:
    description: Secret holding the SSH private key (C(spec.nodeTemplate.ansibleSSHPrivateKeySecret)).
    type: str
    default: dataplane-ansible-ssh-private-key-secret
  services:
    description:
      - C(spec.services) - the services an C(OpenStackDataPlaneDeployment) of this NodeSet runs over
        its nodes (unless the deployment sets C(servicesOverride)). Always sent, so the CRD's default
        list never applies.
      - The default, an empty list (valid in the CRD's schema), registers none, because this
        collection configures these nodes itself; the CRD's default list (C(bootstrap),
        C(configure-network), C(install-os), C(reboot-os), C(ovn), C(libvirt), C(nova), ...) would let
        a later deployment reconfigure and reboot them.
      - Name services here only for a deployment you mean to run over these nodes (for example the
        collection's C(tenrec-prechecks), C(tenrec-dataplane), C(tenrec-discover) from C(deploy/services)).
      - A run with other services (or none) replaces the list the previous run registered.
    type: list
    elements: str
    default: []
  prune:
    description:
      - Remove from the NodeSet every node this run does not list in O(nodes) - for a run whose
        O(nodes) is the whole fleet (a node taken out of the inventory then leaves the NodeSet).
      - Each such node's own field manager (C(<field_manager>/<hostname>)) applies an empty object,
        which gives up the node's fields; the API server removes the node once no manager holds it.
        A node another manager still holds fails the module, naming that manager.
      - Leave it C(false) for a run over some nodes only (an AWX job slice, a scale-out run with a
        partial inventory) - it would remove the other runs' nodes.
    type: bool
    default: false
  absent_nodes:
    description:
      - Host names to remove from the NodeSet (a scale-in); they must not be in O(nodes). Each is
        removed as O(prune) removes a node - its own field manager gives it up, and another manager
        still holding it fails the module naming that manager. A name not in the NodeSet is no change.
    type: list
    elements: str
    default: []
  node_template_vars:
    description: C(spec.nodeTemplate.ansible.ansibleVars) shared by all nodes (no secrets here).
    type: dict
    default: {}
requirements:
  - netaddr
"""

EXAMPLES = r"""
- name: Register the inventory's computes by host name
  tenrec.dataplane.dataplane_nodeset:
    name: tenrec-computes
    nodes: "{{ groups['computes'] | map('community.general.dict_kv', 'hostname') | list }}"

- name: Register two nodes explicitly
  tenrec.dataplane.dataplane_nodeset:
    name: edpm-compute
    nodes:
      - hostname: compute-0
        ansible_host: 192.168.122.100
        networks:
          - {name: ctlplane, fixed_ip: 192.168.122.100, default_route: true}
          - {name: internalapi, fixed_ip: 172.17.0.100}
"""

RETURN = r"""
result:
  description: The OpenStackDataPlaneNodeSet as the API server returned it.
  returned: success
  type: dict
nodes:
  description: Names of the nodes this run registered (its O(nodes)).
  returned: success
  type: list
  elements: str
removed:
  description: Names of the nodes O(prune) or O(absent_nodes) removed (or would remove, in check mode).
  returned: success
  type: list
  elements: str
"""

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.tenrec.dataplane.plugins.module_utils.apply import APPLY_ARGS, Applier, comparable, spec_diff
from ansible_collections.tenrec.dataplane.plugins.module_utils.k8s import (
    ControlPlaneError, auth_argument_spec, call_or_fail)

try:
    import netaddr
    HAS_NETADDR = True
except ImportError:
    HAS_NETADDR = False

API_VERSION = "dataplane.openstack.org/v1beta1"
KIND = "OpenStackDataPlaneNodeSet"


def _address(value, where):
    try:
        return str(netaddr.IPAddress(value))
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise ControlPlaneError("%s: %r is not an IP address" % (where, value))


def _looks_like_ip(value):
    return bool(value) and (value.count(".") == 3 and value.replace(".", "").isdigit() or ":" in value)


def build(p):
    """The NodeSet resource (dict) for the module parameters; raise ControlPlaneError on a bad node."""
    nodes = {}
    for index, node in enumerate(p["nodes"]):
        where = "nodes[%d] (%s)" % (index, node["hostname"])
        if node["hostname"] in nodes:
            raise ControlPlaneError("%s: hostname appears twice" % where)
        ansible = {"ansibleUser": node["ansible_user"], "ansiblePort": node["ansible_port"]}
        if node.get("ansible_host"):
            host = node["ansible_host"]
            ansible["ansibleHost"] = _address(host, where + ".ansible_host") if _looks_like_ip(host) else host
        networks = []
        for net in node["networks"]:
            item = {"name": net["name"], "subnetName": net["subnet_name"], "defaultRoute": net["default_route"]}
            if net.get("fixed_ip"):
                item["fixedIP"] = _address(net["fixed_ip"], "%s.networks[%s].fixed_ip" % (where, net["name"]))
            networks.append(item)
        entry = {"hostName": node["hostname"], "ansible": ansible}
        if networks:
            entry["networks"] = networks
        nodes[node["hostname"]] = entry
    spec = {"preProvisioned": True, "nodes": nodes,
            "nodeTemplate": {"ansibleSSHPrivateKeySecret": p["ssh_key_secret"]}}
    if p["node_template_vars"]:
        spec["nodeTemplate"]["ansible"] = {"ansibleVars": p["node_template_vars"]}
    spec["services"] = list(p["services"])  # an absent list would become the CRD's default (see DOCUMENTATION)
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": p["name"]}, "spec": spec}


def run(module):
    p = module.params
    both = sorted(set(p.get("absent_nodes") or []) & set(n["hostname"] for n in p["nodes"]))
    if both:
        raise ControlPlaneError("absent_nodes and nodes both name %s" % ", ".join(both))
    body = build(p)
    applier = Applier(get_api_client(module), API_VERSION, KIND, p["field_manager"])
    if p["state"] == "absent":
        changed, before = applier.delete(p["name"], p["namespace"], module.check_mode)
        return dict(changed=changed, result={}, nodes=[], removed=[], diff=spec_diff(before, None))
    force = p["force_conflicts"]
    _changed, before, after = applier.apply(body, p["namespace"], module.check_mode, force)
    # Each node under its own manager, after the whole: the whole's manager drops the nodes a run
    # leaves out, and the node managers keep those nodes (see DOCUMENTATION).
    current = after
    nodes = dict(after["spec"].get("nodes") or {})
    # A dry run of a node alone, on a NodeSet that does not exist yet, would be refused as incomplete:
    # the dry run of the whole says all there is to say then.
    if before is not None or not module.check_mode:
        for hostname, entry in sorted(body["spec"]["nodes"].items()):
            part = {"metadata": {"name": p["name"]}, "spec": {"nodes": {hostname: entry}}}
            _changed, _old, current = applier.apply(part, p["namespace"], module.check_mode, force,
                                                    field_manager="%s/%s" % (p["field_manager"], hostname),
                                                    before=current)
            nodes[hostname] = current["spec"]["nodes"][hostname]
    removed = []
    present = set(current["spec"].get("nodes") or {}) if before is not None else set()
    doomed = present - set(body["spec"]["nodes"]) if p["prune"] else present & set(p.get("absent_nodes") or [])
    if doomed:
        for hostname in sorted(doomed):
            current = prune_node(applier, p, hostname, current, module.check_mode, force,
                                 why="prune" if p["prune"] else "absent_nodes")
            nodes.pop(hostname, None)
            removed.append(hostname)
    if module.check_mode:  # dry runs do not add up: what they would store, put together
        after = dict(after, spec=dict(after["spec"], nodes=nodes))
    else:
        after = current
    changed = comparable(before) != comparable(after)
    return dict(changed=changed, result=after, nodes=sorted(body["spec"]["nodes"]), removed=removed,
                diff=spec_diff(before, after))


def holders(obj, hostname, own=()):
    """Field managers of ``obj`` (dict) whose managedFields hold ``spec.nodes.<hostname>``, as
    ``["<manager> (<operation>)"]``, leaving out the Apply managers named in ``own``."""
    out = []
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        if entry.get("operation") == "Apply" and entry.get("manager") in own:
            continue
        fields = ((entry.get("fieldsV1") or {}).get("f:spec") or {}).get("f:nodes") or {}
        if "f:%s" % hostname in fields:
            out.append("%s (%s)" % (entry.get("manager"), entry.get("operation")))
    return out


def prune_node(applier, p, hostname, current, check_mode, force, why="prune"):
    """Give up ``hostname``'s fields under its own manager; return the NodeSet after (dict).

    The whole NodeSet's manager gave the node up already (this run does not list it). Raises
    ControlPlaneError naming the other managers that hold the node, before any request (in check
    mode too: that is what a dry run of the release would find). ``force`` does not take over
    their fields: a prune removes only what this collection registered. ``why`` (``prune`` or
    ``absent_nodes``, the option that asked for the removal) starts each error message."""
    mine = "%s/%s" % (p["field_manager"], hostname)
    others = holders(current, hostname, own=(p["field_manager"], mine))
    if others:
        raise ControlPlaneError("%s: node %s of NodeSet %s is also held by other field managers: %s; remove it "
                                "there, or leave %s" % (why, hostname, p["name"], ", ".join(others),
                                                        "prune false" if why == "prune" else "it out of absent_nodes"))
    if check_mode:  # a dry run would still see the whole's manager holding it (its apply was a dry run)
        return current
    _changed, _old, after = applier.apply({"metadata": {"name": p["name"]}}, p["namespace"], False, force,
                                          field_manager=mine, before=current)
    if hostname in (after["spec"].get("nodes") or {}):
        raise ControlPlaneError("%s: node %s stays in NodeSet %s after its manager %s gave it up; held by: %s"
                                % (why, hostname, p["name"], mine, ", ".join(holders(after, hostname)) or "unknown"))
    return after


def main():
    network = dict(name=dict(type="str", required=True), subnet_name=dict(type="str", default="subnet1"),
                   fixed_ip=dict(type="str"), default_route=dict(type="bool", default=False))
    node = dict(hostname=dict(type="str", required=True), ansible_host=dict(type="str"),
                ansible_user=dict(type="str", default="root"), ansible_port=dict(type="int", default=22),
                networks=dict(type="list", elements="dict", default=[], options=network))
    module = AnsibleK8SModule(
        argument_spec=auth_argument_spec(
            namespace=dict(type="str", default="openstack"),
            name=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            nodes=dict(type="list", elements="dict", default=[], options=node),
            ssh_key_secret=dict(type="str", default="dataplane-ansible-ssh-private-key-secret", no_log=False),
            services=dict(type="list", elements="str", default=[]),
            node_template_vars=dict(type="dict", default={}),
            prune=dict(type="bool", default=False),
            absent_nodes=dict(type="list", elements="str", default=[]),
            **APPLY_ARGS
        ),
        supports_check_mode=True,
    )
    if not HAS_NETADDR:
        module.fail_json(msg=missing_required_lib("netaddr"))
    module.exit_json(**call_or_fail(module, lambda: run(module)))


if __name__ == "__main__":
    main()
