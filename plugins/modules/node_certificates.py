#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: node_certificates
short_description: Issue per-node TLS certificates through cert-manager and return them
version_added: 0.1.0
author: tenrec.dataplane developers (@tenrec)
description:
  - Does on the cluster side what openstack-operator's data-plane C(install-certs) service does - for
    every node of O(nodes) and every service of O(services), a cert-manager C(Certificate)
    (C(cert-manager.io/v1)) in O(namespace), signed by that service's C(Issuer) - then waits until each
    is C(Ready) and reads its Secret (C(tls.crt), C(tls.key), C(ca.crt)).
  - The Certificate is named C(<service>-<node>) (C(_) in either becomes C(-), the node name is lower
    cased; a node whose name cannot be made a DNS-1123 name fails, named), its Secret
    C(cert-<service>-<node>). C(commonName) is the node's first DNS name, C(dnsNames) and
    C(ipAddresses) its SANs; C(issuerRef) is the service's Issuer (kind C(Issuer), group
    C(cert-manager.io)); C(privateKey) uses O(private_key_algorithm) with C(rotationPolicy=Always).
    Labels C(app.kubernetes.io/managed-by=tenrec.dataplane), C(tenrec.dev/node=<node>),
    C(tenrec.dev/service=<service>) (also on the Secret, through C(secretTemplate)).
  - Server-side apply under one field manager; C(changed) only when a Certificate is created or its
    spec or labels change, which makes cert-manager issue it again. A re-run picks up whatever is in
    the Secrets, so certificates cert-manager renewed reach the nodes on the next run
    (docs/certificates.md).
  - Every input is checked before the API is called (no nodes, a node without DNS name and IP, a bad
    DNS name or IP, an unknown service or usage, a duration under 1h).
  - A Certificate not C(Ready) at its generation after O(wait_timeout) fails naming the Certificate,
    its C(Ready) condition's reason and message, and the state of its Issuer.
  - Check mode sends the applies with C(dryRun=All) and does not wait for Certificates that are new or
    would change; RV(certificates) then holds what their Secrets already hold (nothing for new
    ones). Diff shows the Certificates' specs and labels, never Secret data.
  - B(The result holds private keys.) Run the task with C(no_log) on, as the examples do (a key in the
    result cannot hide it from C(-v) output or job events).
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - tenrec.dataplane.attributes
  - kubernetes.core.k8s_auth_options
  - tenrec.dataplane.k8s_auth
options:
  nodes:
    description: The nodes to certify.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Inventory host name of the node; the key of the results and the C(tenrec.dev/node) label
            (at most 63 characters).
        type: str
        required: true
      dns_names:
        description: DNS names of the node (SANs); the first is also the C(commonName).
        type: list
        elements: str
        default: []
      ip_addresses:
        description: IP addresses of the node (SANs), e.g. its addresses on the networks the service listens on.
        type: list
        elements: str
        default: []
  services:
    description:
      - The services to issue a certificate for on every node.
      - C(ovn) is ovn-controller's client certificate towards the OVN Southbound DB, C(neutron_metadata)
        neutron-ovn-metadata-agent's, C(libvirt) libvirt's server and client certificate for TLS
        migration.
    type: list
    elements: dict
    default:
      - name: ovn
        issuer: rootca-ovn
        usages: [digital signature, key encipherment, server auth, client auth]
      - name: neutron_metadata
        issuer: rootca-ovn
        usages: [digital signature, key encipherment, client auth]
      - name: libvirt
        issuer: rootca-libvirt
        usages: [digital signature, key encipherment, server auth, client auth]
    suboptions:
      name:
        description: The service, a key of the contract's C(certificates) field.
        type: str
        required: true
        choices: [ovn, neutron_metadata, libvirt]
      issuer:
        description:
          - cert-manager C(Issuer) in O(namespace) that signs it.
          - Empty means the default - C(rootca-ovn) for C(ovn) and C(neutron_metadata), C(rootca-libvirt)
            for C(libvirt) (the Issuers openstack-operator creates).
        type: str
      usages:
        description:
          - cert-manager key usages (C(.spec.usages)), by cert-manager's names (C(digital signature),
            C(key encipherment), C(server auth), C(client auth), ...); an unknown name fails, listing them.
          - Empty means the default - C(ovn) and C(libvirt) C([digital signature, key encipherment, server auth,
            client auth]), C(neutron_metadata) C([digital signature, key encipherment, client auth]).
        type: list
        elements: str
  duration:
    description: Requested lifetime (cert-manager C(.spec.duration), a Go duration, at least C(1h)).
    type: str
    default: 8760h
  private_key_algorithm:
    description: Algorithm of the keys cert-manager generates (C(ECDSA) P-256 or C(RSA) 2048 bits).
    type: str
    choices: [ECDSA, RSA]
    default: ECDSA
  wait_timeout:
    description: Seconds (wall clock) to wait for all Certificates to be C(Ready).
    type: int
    default: 300
  wait_sleep:
    description: Seconds between two reads of the Certificates while waiting.
    type: int
    default: 2
notes:
  - docs/certificates.md describes what the module creates, rotation, and how the keys stay out of logs.
  - Needs C(get), C(list) and C(patch) on C(certificates.cert-manager.io), C(get) on
    C(issuers.cert-manager.io) (for the timeout message) and C(get) on C(secrets) in O(namespace).
"""

EXAMPLES = r"""
- name: Describe each compute (its FQDN and control-plane address)
  ansible.builtin.set_fact:
    __cert_nodes: "{{ __cert_nodes | default([]) + [{'name': item, 'dns_names': [hostvars[item].ansible_fqdn],
                                                      'ip_addresses': [hostvars[item].ansible_host]}] }}"
  loop: "{{ groups['computes'] }}"

- name: Issue the computes' certificates (the result holds private keys)
  tenrec.dataplane.node_certificates:
    kubeconfig: ~/.kube/config
    namespace: openstack
    nodes: "{{ __cert_nodes }}"
  register: certs
  no_log: true  # certificates holds the nodes' private keys

- name: Two nodes, OVN only, explicit SANs
  tenrec.dataplane.node_certificates:
    nodes:
      - name: compute-0
        dns_names: [compute-0.ctlplane.example.com, compute-0.internalapi.example.com]
        ip_addresses: [192.168.122.100, 172.17.0.100]
      - name: compute-1
        dns_names: [compute-1.ctlplane.example.com]
        ip_addresses: [192.168.122.101]
    services:
      - name: ovn
    wait_timeout: 120
  register: certs_ovn
  no_log: true

- name: Show when each expires (info holds no secret)
  ansible.builtin.debug:
    msg: "{{ certs.info }}"

# In a play on the computes, after the one above on localhost: each node gets its own entry
- name: Put this node's certificates into its contract
  ansible.builtin.set_fact:
    tenrec_controlplane: "{{ tenrec_controlplane | combine({'certificates':
                             hostvars['localhost'].certs.certificates[inventory_hostname]}) }}"
  no_log: true
"""

RETURN = r"""
certificates:
  description:
    - Per node (the O(nodes[].name)) and per service, the issued material from the Certificate's Secret.
    - Secret (private keys) - register the task with C(no_log) on.
    - In check mode a new Certificate, or one that would change and has no Secret yet, has no entry.
  returned: success
  type: dict
  sample:
    compute-0:
      ovn:
        certificate: "-----BEGIN CERTIFICATE-----..."
        private_key: "-----BEGIN EC PRIVATE KEY-----..."
        ca_certificate: "-----BEGIN CERTIFICATE-----..."
  contains:
    certificate:
      description: PEM leaf (Secret key C(tls.crt); followed by any intermediate CA).
      type: str
    private_key:
      description: PEM private key (Secret key C(tls.key)).
      type: str
    ca_certificate:
      description: PEM of the issuing CA (Secret key C(ca.crt)).
      type: str
info:
  description: Per node and per service, what was issued; holds no secret.
  returned: success
  type: dict
  sample:
    compute-0:
      ovn:
        name: ovn-compute-0
        secret: cert-ovn-compute-0
        not_after: "2027-01-01T00:00:00Z"
        ready: true
  contains:
    name:
      description: The Certificate.
      type: str
    secret:
      description: Its Secret (C(.spec.secretName)).
      type: str
    not_after:
      description: Certificate C(.status.notAfter) (RFC 3339); empty when not issued yet.
      type: str
    ready:
      description: C(Ready) at its generation (false only in check mode, for new or changing ones).
      type: bool
"""

from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.tenrec.dataplane.plugins.module_utils.apply import Applier, spec_diff
from ansible_collections.tenrec.dataplane.plugins.module_utils.certificates import (
    API_VERSION, DEFAULT_SERVICES, KIND, plan, read_material, wait_ready)
from ansible_collections.tenrec.dataplane.plugins.module_utils.k8s import (
    ControlPlaneError, Reader, auth_argument_spec, call_or_fail)

try:
    from kubernetes.dynamic.exceptions import ResourceNotFoundError
except ImportError:  # reported by AnsibleK8SModule's requirement checks
    ResourceNotFoundError = Exception


def run(module):
    p = module.params
    ns = p["namespace"]
    planned = plan(p["nodes"], p["services"], p["duration"], p["private_key_algorithm"])  # before any API call
    client = get_api_client(module)
    try:
        applier = Applier(client, API_VERSION, KIND)
    except ResourceNotFoundError:
        raise ControlPlaneError("the cluster does not serve %s %s: is cert-manager installed?" % (API_VERSION, KIND))
    applied, diff, changed_any = [], {"before": {}, "after": {}}, False
    for node, service, body in planned:
        changed, before, after = applier.apply(body, ns, module.check_mode)
        name = body["metadata"]["name"]
        if changed:
            changed_any = True
            views = spec_diff(before, after)
            diff["before"][name], diff["after"][name] = views["before"], views["after"]
        applied.append((node, service, body, changed, before))
    # in check mode a new or changed Certificate cannot be issued; an unchanged one is verified
    waited = [b["metadata"]["name"] for _n, _s, b, changed, _before in applied if not (module.check_mode and changed)]
    ready = wait_ready(client, ns, waited, p["wait_timeout"], p["wait_sleep"]) if waited else {}
    reader = Reader(client, ns)
    certificates, info = {}, {}
    for node, service, body, changed, before in applied:
        name, secret = body["metadata"]["name"], body["spec"]["secretName"]
        obj = ready.get(name)
        certificates.setdefault(node, {})
        if obj is not None:
            certificates[node][service] = read_material(reader, secret)
        elif before is not None:  # check mode: what already exists
            try:
                certificates[node][service] = read_material(reader, secret)
            except ControlPlaneError:
                pass
        current = obj if obj is not None else before
        info.setdefault(node, {})[service] = {
            "name": name, "secret": secret, "ready": obj is not None,
            "not_after": ((current or {}).get("status") or {}).get("notAfter") or ""}
    return dict(changed=changed_any, certificates=certificates, info=info, diff=diff)


def main():
    node = dict(name=dict(type="str", required=True),
                dns_names=dict(type="list", elements="str", default=[]),
                ip_addresses=dict(type="list", elements="str", default=[]))
    service = dict(name=dict(type="str", required=True, choices=list(DEFAULT_SERVICES)),
                   issuer=dict(type="str"),
                   usages=dict(type="list", elements="str"))  # checked against cert-manager's names by plan()
    module = AnsibleK8SModule(
        argument_spec=auth_argument_spec(
            namespace=dict(type="str", default="openstack"),
            nodes=dict(type="list", elements="dict", required=True, options=node),
            services=dict(type="list", elements="dict", options=service,
                          default=[dict(name=n, issuer=i, usages=list(u)) for n, (i, u) in DEFAULT_SERVICES.items()]),
            duration=dict(type="str", default="8760h"),
            private_key_algorithm=dict(type="str", default="ECDSA", choices=["ECDSA", "RSA"]),
            wait_timeout=dict(type="int", default=300),
            wait_sleep=dict(type="int", default=2),
        ),
        supports_check_mode=True,
    )
    module.exit_json(**call_or_fail(module, lambda: run(module)))


if __name__ == "__main__":
    main()
