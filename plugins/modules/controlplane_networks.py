#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: controlplane_networks
short_description: Apply the control plane's isolated networks - NNCPs, NADs, MetalLB pools, NetConfig
version_added: 0.1.0
author: tenrec.dataplane developers (@tenrec)
description:
  - Builds, from one description of the networks (O(networks)) and of the OpenShift workers
    (O(workers)), the objects openstack-operator's own tooling (install_yamls, the architecture
    kustomize tree) creates before the control plane, and applies them with server-side apply under
    one field manager, in that tooling's order
  - 1. One C(NodeNetworkConfigurationPolicy) (nmstate.io/v1, cluster-scoped) per worker, named
    C(<worker interface>-<worker name>) and labelled C(osp/interface=<worker interface>) as
    install_yamls names them, with C(nodeSelector) C(kubernetes.io/hostname=<worker>) and
    C(node-role.kubernetes.io/worker=""). Its C(desiredState.interfaces) hold, on the worker's base
    NIC, a C(linux-bridge) (default C(ospbr), NIC as its port) with the static address of the network
    without O(networks[].vlan), and one C(vlan) interface per network with a VLAN (default name
    C(<NIC>.<vlan>)) with the worker's static address; IPv6 is disabled where the network is IPv4 and
    the other way round.
  - With O(wait), waits for each policy's C(Available) condition C(True) with reason
    C(SuccessfullyConfigured). A policy C(Degraded) (reason C(FailedToConfigure)), one that matches no
    node (C(Ignored)), or the timeout fail the module naming the policy, its node, the condition's
    reason and message and, where nmstate's C(NodeNetworkConfigurationEnactment) objects are served,
    each failing node's enactment message. While an enactment reports an older C(policyGeneration)
    than the policy's C(metadata.generation) the policy counts as not processed yet.
  - 2. One C(NetworkAttachmentDefinition) (k8s.cni.cncf.io/v1) per network with O(networks[].nad_range),
    in O(namespace), named after the network. C(spec.config) is CNI JSON - C(macvlan) with C(master)
    the network's worker interface, or C(bridge) with C(bridge) the linux-bridge - and C(whereabouts)
    IPAM with C(range) (the CIDR), C(range_start), C(range_end) (and C(gateway) when set).
  - 3. One C(IPAddressPool) and one C(L2Advertisement) (metallb.io/v1beta1) per network with
    O(networks[].metallb_range), in O(metallb_namespace), named after the network. The pool holds
    C(<start>-<end>) and C(autoAssign); the advertisement names the pool and the network's worker
    interface.
  - 4. The C(NetConfig) O(netconfig_name) (network.openstack.org/v1beta1) in O(namespace), one entry per
    network with C(dnsDomain), C(mtu) and one subnet C(subnet1) (C(cidr), C(vlan), C(gateway),
    C(allocationRanges) from O(networks[].allocation_ranges)). The data plane's IPAM takes node
    addresses from it. Its CRD is served once openstack-operator's initialization installed
    infra-operator.
  - Every name, address, CIDR and range is validated with netaddr before anything is sent - an
    address outside its CIDR, a range whose start is after its end or that leaves the CIDR, ranges
    that overlap each other or a worker's address, a VLAN outside 1-4094, a name that is not a DNS
    label - and fails naming the network or worker and the field.
  - Nothing is ever deleted. A network or worker left out of a later run keeps its objects; remove
    them by hand (C(oc delete nncp/net-attach-def/ipaddresspool/l2advertisement)) when they are no
    longer wanted. Fields a later run no longer sets are given up by the field manager as server-side
    apply does (for example a removed network disappears from the NetConfig).
  - Check mode sends every request with C(dryRun=All) (nothing is stored) and waits only for the
    policies it would not change. On a cluster where the kinds are not served yet (the OLM step that
    installs NMState, or openstack-operator's init that brings NetConfig, was itself only dry-run)
    or the namespace does not exist yet, those objects are reported as created, with a warning, and
    listed in RV(unvalidated).
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - tenrec.dataplane.attributes
  - kubernetes.core.k8s_auth_options
  - tenrec.dataplane.apply
  - tenrec.dataplane.k8s_auth
options:
  networks:
    description:
      - The isolated networks, for example C(ctlplane) (no VLAN), C(internalapi) (VLAN 20),
        C(storage) (21), C(tenant) (22).
      - At most one network has no VLAN - it is carried by the linux-bridge on the base NIC.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Network name (a DNS label of 2 to 63 characters - lower case letters, digits, C(-)).
            Names the NetworkAttachmentDefinition, the IPAddressPool, the L2Advertisement and the
            NetConfig entry.
        type: str
        required: true
      vlan:
        description: VLAN id (1-4094); none for the network carried untagged by the linux-bridge (ctlplane).
        type: int
      cidr:
        description: The network's CIDR, for example C(172.17.0.0/24) (IPv4 or IPv6).
        type: str
        required: true
      gateway:
        description: Gateway address (inside O(networks[].cidr)) for the NetConfig subnet and the NAD's IPAM.
        type: str
      mtu:
        description: MTU of the worker interface and of the NetConfig entry (68-65535).
        type: int
        default: 1500
      dns_domain:
        description: C(dnsDomain) of the NetConfig entry; empty means C(<name>.example.com) as install_yamls uses.
        type: str
        default: ""
      allocation_ranges:
        description: The NetConfig subnet's C(allocationRanges) - where the data plane's IPAM takes node addresses.
        type: list
        elements: dict
        default: []
        suboptions:
          start:
            description: First address.
            type: str
            required: true
          end:
            description: Last address.
            type: str
            required: true
      nad_range:
        description:
          - The whereabouts IPAM range the NetworkAttachmentDefinition hands to pods; without it the
            network has no NetworkAttachmentDefinition.
        type: dict
        suboptions:
          start:
            description: First address.
            type: str
            required: true
          end:
            description: Last address.
            type: str
            required: true
      metallb_range:
        description: The MetalLB IPAddressPool's addresses; without it the network has no pool nor L2Advertisement.
        type: dict
        suboptions:
          start:
            description: First address.
            type: str
            required: true
          end:
            description: Last address.
            type: str
            required: true
      metallb_auto_assign:
        description: C(autoAssign) of the IPAddressPool.
        type: bool
        default: true
      interface:
        description:
          - Name of the worker interface carrying the network (the NAD's C(master), the
            L2Advertisement's interface). Empty means C(<worker NIC>.<vlan>) for a VLAN network
            (then every worker must have the same NIC) and C(ospbr) for the network without VLAN.
          - At most 15 characters (Linux interface names).
        type: str
        default: ""
      nad_type:
        description:
          - CNI plugin of the NetworkAttachmentDefinition. C(bridge) needs a linux-bridge, so only the
            network without VLAN can use it.
        type: str
        choices: [macvlan, bridge]
        default: macvlan
  workers:
    description: The OpenShift worker nodes that carry the networks; one NodeNetworkConfigurationPolicy each.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The node's name (its C(kubernetes.io/hostname) label), a DNS subdomain.
        type: str
        required: true
      interface:
        description: The base NIC the VLAN interfaces and the linux-bridge sit on, for example C(enp6s0).
        type: str
        required: true
      addresses:
        description:
          - The worker's static address per network (network name -> address), one for every network in
            O(networks), each inside its CIDR and outside the network's NAD, MetalLB and allocation ranges.
        type: dict
        required: true
  metallb_namespace:
    description: Namespace of the MetalLB IPAddressPools and L2Advertisements.
    type: str
    default: metallb-system
  netconfig_name:
    description: Name of the NetConfig in O(namespace).
    type: str
    default: netconfig
  wait:
    description: Wait for every NodeNetworkConfigurationPolicy to be configured (C(SuccessfullyConfigured)).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait, for all policies together.
    type: int
    default: 600
  wait_sleep:
    description: Seconds between two reads of the policies while waiting.
    type: int
    default: 5
requirements:
  - netaddr
"""

EXAMPLES = r"""
- name: Isolated networks of the control plane (install_yamls' defaults)
  tenrec.dataplane.controlplane_networks:
    workers:
      - name: worker-0
        interface: enp6s0
        addresses: {ctlplane: 192.168.122.10, internalapi: 172.17.0.10, storage: 172.18.0.10, tenant: 172.19.0.10}
      - name: worker-1
        interface: enp6s0
        addresses: {ctlplane: 192.168.122.11, internalapi: 172.17.0.11, storage: 172.18.0.11, tenant: 172.19.0.11}
    networks:
      - name: ctlplane
        cidr: 192.168.122.0/24
        gateway: 192.168.122.1
        allocation_ranges: [{start: 192.168.122.100, end: 192.168.122.250}]
        nad_range: {start: 192.168.122.30, end: 192.168.122.70}
        metallb_range: {start: 192.168.122.80, end: 192.168.122.90}
      - name: internalapi
        vlan: 20
        cidr: 172.17.0.0/24
        allocation_ranges: [{start: 172.17.0.100, end: 172.17.0.250}]
        nad_range: {start: 172.17.0.30, end: 172.17.0.70}
        metallb_range: {start: 172.17.0.80, end: 172.17.0.90}
      - name: storage
        vlan: 21
        cidr: 172.18.0.0/24
        allocation_ranges: [{start: 172.18.0.100, end: 172.18.0.250}]
        nad_range: {start: 172.18.0.30, end: 172.18.0.70}
        metallb_range: {start: 172.18.0.80, end: 172.18.0.90}
      - name: tenant
        vlan: 22
        cidr: 172.19.0.0/24
        allocation_ranges: [{start: 172.19.0.100, end: 172.19.0.250}]
        nad_range: {start: 172.19.0.30, end: 172.19.0.70}
        metallb_range: {start: 172.19.0.80, end: 172.19.0.90}
    wait_timeout: 900
"""

RETURN = r"""
objects:
  description: Names of the objects this run applies, per kind (namespaced kinds in O(namespace), MetalLB's in O(metallb_namespace)).
  returned: success
  type: dict
  sample:
    NodeNetworkConfigurationPolicy: [enp6s0-worker-0, enp6s0-worker-1]
    NetworkAttachmentDefinition: [ctlplane, internalapi]
    IPAddressPool: [ctlplane, internalapi]
    L2Advertisement: [ctlplane, internalapi]
    NetConfig: [netconfig]
changed_objects:
  description: The objects whose stored form this run changed (or would change in check mode), as C(<Kind> <name>).
  returned: success
  type: list
  elements: str
  sample: ["NodeNetworkConfigurationPolicy enp6s0-worker-0", "NetConfig netconfig"]
policies:
  description: Each NodeNetworkConfigurationPolicy's node and C(Available) condition after the wait (empty reason when not waited for).
  returned: success
  type: list
  elements: dict
  sample: [{"name": "enp6s0-worker-0", "node": "worker-0", "reason": "SuccessfullyConfigured",
            "message": "1/1 nodes successfully configured"}]
unvalidated:
  description: Objects check mode reports as created without a dry run (their kind or namespace not there yet), as C(<Kind> <name>[ in namespace <ns>]).
  returned: success
  type: list
  elements: str
duration:
  description: Seconds spent applying and waiting.
  returned: success
  type: float
"""

import json
import re
import time

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.tenrec.dataplane.plugins.module_utils.apply import APPLY_ARGS, Applier, spec_diff
from ansible_collections.tenrec.dataplane.plugins.module_utils.k8s import (
    ControlPlaneError, DynamicApiError, auth_argument_spec, call_or_fail, describe_api_error)

try:
    import netaddr
    HAS_NETADDR = True
except ImportError:
    HAS_NETADDR = False

try:
    from kubernetes.dynamic.exceptions import ResourceNotFoundError
except ImportError:  # reported by AnsibleK8SModule's requirement checks
    ResourceNotFoundError = Exception

NNCP = ("nmstate.io/v1", "NodeNetworkConfigurationPolicy")
NNCE = ("nmstate.io/v1beta1", "NodeNetworkConfigurationEnactment")
NAD = ("k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition")
POOL = ("metallb.io/v1beta1", "IPAddressPool")
L2ADV = ("metallb.io/v1beta1", "L2Advertisement")
NETCONFIG = ("network.openstack.org/v1beta1", "NetConfig")
KINDS = (NNCP, NAD, POOL, L2ADV, NETCONFIG)
# who serves each kind, for the message when the API does not
SERVED_BY = {NNCP[1]: "the NMState operator", NAD[1]: "Multus (OpenShift's cluster network operator)",
             POOL[1]: "the MetalLB operator", L2ADV[1]: "the MetalLB operator",
             NETCONFIG[1]: "infra-operator (openstack-operator's initialization)"}
DEFAULT_BRIDGE = "ospbr"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
IFNAME = re.compile(r"^[^\s/:]{1,15}$")


# ----- validation ----------------------------------------------------------------------------------
def _address(value, where):
    try:
        return netaddr.IPAddress(str(value))
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise ControlPlaneError("%s: %r is not an IP address" % (where, value))


def _label(value, where, minimum=1):
    if not value or len(value) < minimum or len(value) > 63 or not DNS_LABEL.match(value):
        raise ControlPlaneError("%s: %r is not a DNS label (%d to 63 characters - lower case letters, digits, "
                                "'-', starting and ending with a letter or digit)" % (where, value, minimum))


def _subdomain(value, where):
    if not value or len(value) > 253 or not all(DNS_LABEL.match(part) and len(part) <= 63
                                                for part in value.split(".")):
        raise ControlPlaneError("%s: %r is not a DNS subdomain (lower case letters, digits, '-' and '.')"
                                % (where, value))


def _ifname(value, where):
    if not IFNAME.match(value or ""):
        raise ControlPlaneError("%s: %r is not a Linux interface name (1 to 15 characters, no space, '/' or ':')"
                                % (where, value))


def _range(rng, cidr, where):
    """``(first, last)`` netaddr.IPAddress of ``rng`` ({start, end}), validated inside ``cidr``."""
    first = _address(rng.get("start"), where + ".start")
    last = _address(rng.get("end"), where + ".end")
    for field, addr in (("start", first), ("end", last)):
        if addr not in cidr:
            raise ControlPlaneError("%s.%s: %s is outside the network's cidr %s" % (where, field, addr, cidr))
    if first > last:
        raise ControlPlaneError("%s: start %s is after end %s" % (where, first, last))
    return first, last


def validate(networks, workers):
    """Check every field; return ``{network name: facts}`` (netaddr objects, interface names).

    :raises ControlPlaneError: naming the network or worker and the field.
    """
    if not networks:
        raise ControlPlaneError("networks: at least one network is required")
    if not workers:
        raise ControlPlaneError("workers: at least one worker is required")
    bases = sorted(set(w.get("interface") or "" for w in workers))
    out, vlans, ifaces, untagged = {}, {}, {}, None
    for index, net in enumerate(networks):
        name = net.get("name")
        where = "networks[%d] (%s)" % (index, name)
        _label(name, where + ".name", minimum=2)
        if name in out:
            raise ControlPlaneError("%s.name: network %s appears twice" % (where, name))
        try:
            cidr = netaddr.IPNetwork(str(net.get("cidr")))
        except (netaddr.AddrFormatError, ValueError, TypeError):
            raise ControlPlaneError("%s.cidr: %r is not a CIDR" % (where, net.get("cidr")))
        if "/" not in str(net.get("cidr")) or cidr.ip != cidr.network:
            raise ControlPlaneError("%s.cidr: %r is not a network address with its prefix length (e.g. %s)"
                                    % (where, net.get("cidr"), cidr.cidr))
        vlan = net.get("vlan")
        if vlan is not None:
            if not 1 <= vlan <= 4094:
                raise ControlPlaneError("%s.vlan: %s is outside 1-4094" % (where, vlan))
            if vlan in vlans:
                raise ControlPlaneError("%s.vlan: VLAN %d is also network %s's" % (where, vlan, vlans[vlan]))
            vlans[vlan] = name
        elif untagged:
            raise ControlPlaneError("%s.vlan: only one network can go without a VLAN (network %s does already: "
                                    "both would be the linux-bridge on the worker NIC)" % (where, untagged))
        else:
            untagged = name
        mtu = net.get("mtu") or 1500
        if not 68 <= mtu <= 65535:
            raise ControlPlaneError("%s.mtu: %s is outside 68-65535" % (where, mtu))
        gateway = None
        if net.get("gateway"):
            gateway = _address(net["gateway"], where + ".gateway")
            if gateway not in cidr:
                raise ControlPlaneError("%s.gateway: %s is outside the network's cidr %s" % (where, gateway, cidr))
        ranges = []
        for rindex, rng in enumerate(net.get("allocation_ranges") or []):
            ranges.append(("allocation_ranges[%d]" % rindex, _range(rng, cidr, "%s.allocation_ranges[%d]"
                                                                    % (where, rindex))))
        nad = _range(net["nad_range"], cidr, where + ".nad_range") if net.get("nad_range") else None
        metallb = _range(net["metallb_range"], cidr, where + ".metallb_range") if net.get("metallb_range") else None
        ranges += [(field, rng) for field, rng in (("nad_range", nad), ("metallb_range", metallb)) if rng]
        for i, (field_a, (a1, a2)) in enumerate(ranges):
            for field_b, (b1, b2) in ranges[i + 1:]:
                if a1 <= b2 and b1 <= a2:
                    raise ControlPlaneError("%s.%s: %s-%s overlaps %s %s-%s" % (where, field_a, a1, a2, field_b, b1, b2))
        iface = net.get("interface") or ""
        if not iface:
            if vlan is None:
                iface = DEFAULT_BRIDGE
            elif len(bases) > 1:
                raise ControlPlaneError("%s.interface: the workers' NICs differ (%s), so the default <NIC>.%d "
                                        "is not one name for the NetworkAttachmentDefinition and L2Advertisement; "
                                        "name the interface" % (where, ", ".join(bases), vlan))
            else:
                iface = "%s.%d" % (bases[0], vlan)
        _ifname(iface, where + ".interface")
        if iface in ifaces:
            raise ControlPlaneError("%s.interface: %s is also network %s's" % (where, iface, ifaces[iface]))
        if iface in bases:
            raise ControlPlaneError("%s.interface: %s is a worker's base NIC" % (where, iface))
        ifaces[iface] = name
        if net.get("nad_type") == "bridge" and vlan is not None:
            raise ControlPlaneError("%s.nad_type: bridge needs the linux-bridge, which only the network without "
                                    "a VLAN has" % where)
        out[name] = {"cidr": cidr, "vlan": vlan, "mtu": mtu, "gateway": gateway, "interface": iface,
                     "nad": nad, "metallb": metallb, "ranges": ranges}
    seen = {}
    for index, worker in enumerate(workers):
        wname = worker.get("name")
        where = "workers[%d] (%s)" % (index, wname)
        _subdomain(wname, where + ".name")
        if wname in seen:
            raise ControlPlaneError("%s.name: worker %s appears twice" % (where, wname))
        seen[wname] = True
        _ifname(worker.get("interface"), where + ".interface")
        addresses = worker.get("addresses") or {}
        for extra in sorted(set(addresses) - set(out)):
            raise ControlPlaneError("%s.addresses.%s: there is no network %s in networks" % (where, extra, extra))
        for name, facts in out.items():
            if name not in addresses or addresses[name] in (None, ""):
                raise ControlPlaneError("%s.addresses.%s: the worker has no address on network %s" % (where, name, name))
            field = "%s.addresses.%s" % (where, name)
            addr = _address(addresses[name], field)
            cidr = facts["cidr"]
            if addr not in cidr:
                raise ControlPlaneError("%s: %s is outside network %s's cidr %s" % (field, addr, name, cidr))
            if cidr.size > 2 and cidr.version == 4 and addr in (cidr.network, cidr.broadcast):
                raise ControlPlaneError("%s: %s is the network's %s address" % (
                    field, addr, "network" if addr == cidr.network else "broadcast"))
            if addr == facts["gateway"]:
                raise ControlPlaneError("%s: %s is network %s's gateway" % (field, addr, name))
            for rfield, (first, last) in facts["ranges"]:
                if first <= addr <= last:
                    raise ControlPlaneError("%s: %s is inside network %s's %s %s-%s" % (field, addr, name, rfield,
                                                                                        first, last))
            owner = facts.setdefault("owners", {}).get(addr)
            if owner:
                raise ControlPlaneError("%s: %s is also worker %s's address" % (field, addr, owner))
            facts["owners"][addr] = wname
    return out


# ----- objects -------------------------------------------------------------------------------------
def _ip_config(addr, cidr):
    enabled = {"enabled": True, "dhcp": False, "address": [{"ip": str(addr), "prefix-length": cidr.prefixlen}]}
    if cidr.version == 4:
        return {"ipv4": enabled, "ipv6": {"enabled": False}}
    enabled["autoconf"] = False
    return {"ipv4": {"enabled": False}, "ipv6": enabled}


def nncp_name(worker):
    return "%s-%s" % (worker["interface"].lower().replace("_", "-").replace(".", "-"), worker["name"])


def build_nncp(worker, networks, facts):
    """The NodeNetworkConfigurationPolicy (dict) for one worker."""
    base = worker["interface"]
    interfaces = []
    for net in sorted(networks, key=lambda n: facts[n["name"]]["vlan"] is not None):  # the bridge first
        f = facts[net["name"]]
        addr = netaddr.IPAddress(str(worker["addresses"][net["name"]]))
        iface = {"name": f["interface"], "state": "up", "mtu": f["mtu"]}
        if f["vlan"] is None:
            iface.update(type="linux-bridge", description="%s linux-bridge over %s" % (net["name"], base),
                         bridge={"options": {"stp": {"enabled": False}}, "port": [{"name": base, "vlan": {}}]})
        else:
            iface.update(type="vlan", description="%s vlan interface" % net["name"],
                         vlan={"base-iface": base, "id": f["vlan"]})
        iface.update(_ip_config(addr, f["cidr"]))
        interfaces.append(iface)
    name = nncp_name(worker)
    _subdomain(name, "workers (%s): the NodeNetworkConfigurationPolicy name" % worker["name"])
    return {"apiVersion": NNCP[0], "kind": NNCP[1],
            "metadata": {"name": name, "labels": {"osp/interface": base.replace(".", "-")}},
            "spec": {"nodeSelector": {"kubernetes.io/hostname": worker["name"], "node-role.kubernetes.io/worker": ""},
                     "desiredState": {"interfaces": interfaces}}}


def build_nad(net, f):
    ipam = {"type": "whereabouts", "range": str(f["cidr"]), "range_start": str(f["nad"][0]),
            "range_end": str(f["nad"][1])}
    if f["gateway"] is not None:
        ipam["gateway"] = str(f["gateway"])
    config = {"cniVersion": "0.3.1", "name": net["name"], "type": net.get("nad_type") or "macvlan"}
    if config["type"] == "bridge":
        config["bridge"] = f["interface"]
    else:
        config["master"] = f["interface"]
    config["mtu"] = f["mtu"]
    config["ipam"] = ipam
    return {"apiVersion": NAD[0], "kind": NAD[1],
            "metadata": {"name": net["name"], "labels": {"osp/net": net["name"]}},
            "spec": {"config": json.dumps(config, indent=2)}}


def build_metallb(net, f):
    name = net["name"]
    pool = {"apiVersion": POOL[0], "kind": POOL[1], "metadata": {"name": name, "labels": {"osp/lb-addresses-type": "standard"}},
            "spec": {"addresses": ["%s-%s" % f["metallb"]],
                     "autoAssign": net.get("metallb_auto_assign", True) is not False}}
    adv = {"apiVersion": L2ADV[0], "kind": L2ADV[1], "metadata": {"name": name},
           "spec": {"ipAddressPools": [name], "interfaces": [f["interface"]]}}
    return pool, adv


def build_netconfig(name, networks, facts):
    entries = []
    for net in networks:
        f = facts[net["name"]]
        subnet = {"name": "subnet1", "cidr": str(f["cidr"]),
                  "allocationRanges": [{"start": str(a), "end": str(b)} for field, (a, b) in f["ranges"]
                                       if field.startswith("allocation_ranges")]}
        if f["vlan"] is not None:
            subnet["vlan"] = f["vlan"]
        if f["gateway"] is not None:
            subnet["gateway"] = str(f["gateway"])
        entries.append({"name": net["name"], "dnsDomain": net.get("dns_domain") or "%s.example.com" % net["name"],
                        "mtu": f["mtu"], "subnets": [subnet]})
    return {"apiVersion": NETCONFIG[0], "kind": NETCONFIG[1], "metadata": {"name": name},
            "spec": {"networks": entries}}


def build(params):
    """Every object, validated, as ``[(namespace or None, body)]`` in apply order (NNCPs first).

    :raises ControlPlaneError: a bad field, named (nothing has been sent).
    """
    networks, workers = params["networks"], params["workers"]
    facts = validate(networks, workers)
    _subdomain(params["netconfig_name"], "netconfig_name")
    out = [(None, build_nncp(w, networks, facts)) for w in workers]
    ns, lb_ns = params["namespace"], params["metallb_namespace"]
    out += [(ns, build_nad(n, facts[n["name"]])) for n in networks if facts[n["name"]]["nad"]]
    for net in networks:
        if facts[net["name"]]["metallb"]:
            pool, adv = build_metallb(net, facts[net["name"]])
            out += [(lb_ns, pool), (lb_ns, adv)]
    out.append((ns, build_netconfig(params["netconfig_name"], networks, facts)))
    return out


# ----- waiting -------------------------------------------------------------------------------------
def _conditions(obj):
    return dict((c.get("type"), c) for c in ((obj or {}).get("status") or {}).get("conditions") or [])


def _is_true(cond):
    return bool(cond) and cond.get("status") == "True"


def policy_state(policy, enactments):
    """``("ok" | "failed" | "pending", condition)`` of a NodeNetworkConfigurationPolicy (dict).

    ``enactments`` (list of dicts, or None when the kind is not served): one that reports an older
    ``status.policyGeneration`` means nmstate has not processed the latest spec yet.
    """
    generation = policy["metadata"].get("generation")
    for enactment in enactments or []:
        seen = (enactment.get("status") or {}).get("policyGeneration")
        if seen is not None and generation is not None and seen < generation:
            return "pending", None
    conds = _conditions(policy)
    available = conds.get("Available")
    if _is_true(available) and available.get("reason") == "SuccessfullyConfigured":
        return "ok", available
    for kind in ("Degraded", "Ignored"):
        if _is_true(conds.get(kind)):
            return "failed", conds[kind]
    return "pending", conds.get("Progressing") or available


class PolicyWaiter(object):
    """Reads policies and their enactments and words their failures."""

    def __init__(self, client, applier):
        self.applier = applier
        try:
            self.enactments = client.resource(NNCE[1], NNCE[0])
        except ResourceNotFoundError:
            self.enactments = None  # nmstate without enactments (the lab without them): policies only

    def enactments_of(self, name):
        if self.enactments is None:
            return None
        try:
            found = self.enactments.get(label_selector="nmstate.io/policy=%s" % name).to_dict()
        except DynamicApiError:
            return None
        return found.get("items") or []

    @staticmethod
    def describe(policy, node, cond, enactments, timeout=None):
        name = policy["metadata"]["name"]
        if timeout is None:
            head = "NodeNetworkConfigurationPolicy %s failed on node %s: %s=True (%s): %s" % (
                name, node, cond.get("type"), cond.get("reason") or "no reason", cond.get("message") or "no message")
        else:
            state = ("%s=%s (%s): %s" % (cond.get("type"), cond.get("status"), cond.get("reason") or "no reason",
                                         cond.get("message") or "no message")) if cond else "no conditions reported"
            head = "NodeNetworkConfigurationPolicy %s (node %s) is not SuccessfullyConfigured after %d s: %s" % (
                name, node, timeout, state)
        parts = [head]
        for enactment in enactments or []:
            econds = _conditions(enactment)
            failing = econds.get("Failing")
            if _is_true(failing):
                message = (failing.get("message") or "").strip().splitlines()
                parts.append("enactment %s (node %s): Failing (%s): %s" % (
                    enactment["metadata"]["name"], (enactment.get("metadata", {}).get("labels") or {}).get(
                        "nmstate.io/node", enactment["metadata"]["name"].split(".")[0]),
                    failing.get("reason") or "no reason", " ".join(m.strip() for m in message)[:2000]))
        return "; ".join(parts)

    def wait(self, policies, timeout, sleep):
        """Wait for ``policies`` ({name: node}); return ``{name: Available condition}``."""
        deadline = time.monotonic() + timeout
        done = {}
        while True:
            for name, node in policies.items():
                if name in done:
                    continue
                policy = self.applier.get(name, None)
                if policy is None:
                    raise ControlPlaneError("NodeNetworkConfigurationPolicy %s (node %s) does not exist" % (name, node))
                enactments = self.enactments_of(name)
                state, cond = policy_state(policy, enactments)
                if state == "ok":
                    done[name] = cond
                elif state == "failed":
                    raise ControlPlaneError(self.describe(policy, node, cond, enactments))
                elif time.monotonic() >= deadline:
                    raise ControlPlaneError(self.describe(policy, node, cond, enactments, timeout))
            if len(done) == len(policies):
                return done
            time.sleep(max(0, min(sleep, deadline - time.monotonic())))


# ----- module --------------------------------------------------------------------------------------
def _where(body, namespace):
    return "%s %s%s" % (body["kind"], body["metadata"]["name"], " in namespace %s" % namespace if namespace else "")


def run(module):
    p = module.params
    started = time.monotonic()
    objects = build(p)  # raises before anything is sent
    client = get_api_client(module)
    appliers = {}
    for api_version, kind in KINDS:
        try:
            appliers[kind] = Applier(client, api_version, kind, p["field_manager"])
        except ResourceNotFoundError:
            if not module.check_mode:
                raise ControlPlaneError("the Kubernetes API does not serve %s (%s): is %s installed?"
                                        % (kind, api_version, SERVED_BY[kind]))
            # check mode on a cluster where the step installing it was only dry-run
            appliers[kind] = None
            module.warn("check mode: the Kubernetes API does not serve %s (%s) yet (%s); its objects are "
                        "reported as they would be created, not validated" % (kind, api_version, SERVED_BY[kind]))
    changed, diffs, names, unvalidated = [], [], dict((kind, []) for _v, kind in KINDS), []

    def apply(namespace, body):
        try:
            if appliers[body["kind"]] is None:
                was_changed, before, after = True, None, body
                unvalidated.append(_where(body, namespace))
            else:
                was_changed, before, after = appliers[body["kind"]].apply(
                    body, namespace, module.check_mode, p["force_conflicts"])
        except DynamicApiError as exc:
            if module.check_mode and getattr(exc, "status", None) == 404 and namespace:
                # the namespace itself would only be created by a step that was dry-run
                was_changed, before, after = True, None, body
                unvalidated.append(_where(body, namespace))
            else:
                raise ControlPlaneError("%s: %s" % (_where(body, namespace), describe_api_error(exc)))
        names[body["kind"]].append(body["metadata"]["name"])
        if was_changed:
            changed.append("%s %s" % (body["kind"], body["metadata"]["name"]))
            diff = spec_diff(before, after)
            diff.update(before_header=_where(body, namespace), after_header=_where(body, namespace))
            diffs.append(diff)
        return was_changed

    policies, pending = [], {}
    for namespace, body in objects:
        if body["kind"] != NNCP[1]:
            continue
        node = body["spec"]["nodeSelector"]["kubernetes.io/hostname"]
        policies.append({"name": body["metadata"]["name"], "node": node, "reason": "", "message": ""})
        if not apply(namespace, body) or not module.check_mode:  # a policy check mode would change cannot be Ready
            pending[body["metadata"]["name"]] = node
    if p["wait"] and pending:
        done = PolicyWaiter(client, appliers[NNCP[1]]).wait(pending, p["wait_timeout"], p["wait_sleep"])
        for policy in policies:
            cond = done.get(policy["name"]) or {}
            policy.update(reason=cond.get("reason") or "", message=cond.get("message") or "")
    for namespace, body in objects:
        if body["kind"] != NNCP[1]:
            apply(namespace, body)
    return dict(changed=bool(changed), objects=names, changed_objects=changed, policies=policies, diff=diffs,
                unvalidated=unvalidated, duration=round(time.monotonic() - started, 1))


def main():
    rng = dict(start=dict(type="str", required=True), end=dict(type="str", required=True))
    network = dict(
        name=dict(type="str", required=True),
        vlan=dict(type="int"),
        cidr=dict(type="str", required=True),
        gateway=dict(type="str"),
        mtu=dict(type="int", default=1500),
        dns_domain=dict(type="str", default=""),
        allocation_ranges=dict(type="list", elements="dict", default=[], options=rng),
        nad_range=dict(type="dict", options=rng),
        metallb_range=dict(type="dict", options=rng),
        metallb_auto_assign=dict(type="bool", default=True),
        interface=dict(type="str", default=""),
        nad_type=dict(type="str", default="macvlan", choices=["macvlan", "bridge"]),
    )
    worker = dict(name=dict(type="str", required=True), interface=dict(type="str", required=True),
                  addresses=dict(type="dict", required=True))
    module = AnsibleK8SModule(
        argument_spec=auth_argument_spec(
            namespace=dict(type="str", default="openstack"),
            networks=dict(type="list", elements="dict", required=True, options=network),
            workers=dict(type="list", elements="dict", required=True, options=worker),
            metallb_namespace=dict(type="str", default="metallb-system"),
            netconfig_name=dict(type="str", default="netconfig"),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=600),
            wait_sleep=dict(type="int", default=5),
            **APPLY_ARGS
        ),
        supports_check_mode=True,
    )
    if not HAS_NETADDR:
        module.fail_json(msg=missing_required_lib("netaddr"))
    module.exit_json(**call_or_fail(module, lambda: run(module)))


if __name__ == "__main__":
    main()
