#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: controlplane_info
short_description: Read the tenrec_controlplane contract off an openstack-operator control plane
version_added: 0.1.0
author: tenrec.dataplane developers (@tenrec)
description:
  - Reads, through the Kubernetes API, what compute nodes need from the control plane and returns
    it as the C(tenrec_controlplane) contract (see docs/contract.md).
  - AMQP from TransportURL C(.status.secretName) -> Secret key C(transport_url) (cell and
    notifications); Keystone from KeystoneAPI C(.status.apiEndpoints) and C(.spec.region); the
    service password from the password Secret; OVN SB from OVNDBCluster C(.status.dbAddress), the
    address for nodes outside the cluster (C(.status.internalDbAddress) is the pods' address and is
    never used; without C(dbAddress) the module fails naming the object and field).
  - TLS from OpenStackControlPlane O(controlplane_name) C(.spec.tls.podLevel.enabled) (CRD default
    C(true); absent means true); the CA bundle from the Secret named by its
    C(.status.tls.caBundleSecretName), key C(tls-ca-bundle.pem), or from O(ca_bundle_secret) when
    given. With TLS on and no CA bundle published the module fails naming
    C(status.tls.caBundleSecretName) of that OpenStackControlPlane.
  - What instances need, read from what openstack-operator's service operators write for the data
    plane; each is left empty when its Secret or key is absent (the roles that need it then fail
    naming the field), never guessed. The metadata shared secret from the password Secret
    (key C(metadata_secret_key)); the Nova metadata endpoint from neutron-operator's Secret
    C(metadata_agent_config_secret), key C(10-neutron-metadata.conf) (C([DEFAULT])
    C(nova_metadata_protocol), C(nova_metadata_host), C(nova_metadata_port)); the noVNC proxy base
    URL from nova-operator's Secret C(compute_config_secret), key C(01-nova.conf)
    (C([vnc] novncproxy_base_url)).
  - Anything else missing fails with the object and field to look at.
  - The result holds passwords and other secrets, so run the task with C(no_log) on, as the
    examples do (a key in the result cannot hide it from C(-v) output or job events).
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - tenrec.dataplane.attributes.no_diff
  - kubernetes.core.k8s_auth_options
  - tenrec.dataplane.k8s_auth
options:
  cell:
    description: Cell whose TransportURL the computes use (C(nova-<cell>-transport)).
    type: str
    default: cell1
  transport_url_name:
    description: TransportURL of the cell; empty means C(nova-<cell>-transport).
    type: str
    default: ""
  notification_transport_url_name:
    description: TransportURL for notifications; empty means no notifications.
    type: str
    default: ""
  keystone_api_name:
    description: KeystoneAPI object name.
    type: str
    default: keystone
  ovn_sb_cluster_name:
    description: OVNDBCluster of the Southbound DB.
    type: str
    default: ovndbcluster-sb
  password_secret:
    description:
      - Secret holding service passwords; empty means what the OpenStackControlPlane names
        (C(.spec.nova.template.secret), else C(.spec.secret)), C(osp-secret) without one.
    type: str
    default: ""
  password_key:
    description:
      - Key of the nova service password in C(password_secret); empty means the OpenStackControlPlane's
        C(.spec.nova.template.passwordSelectors.service) (CRD default C(NovaPassword)).
    type: str
    default: ""
  service_username:
    description:
      - Nova's service user; empty means the OpenStackControlPlane's C(.spec.nova.template.serviceUser)
        (what the Nova CR's C(.spec.serviceUser) is made from; CRD default C(nova)).
    type: str
    default: ""
  ca_bundle_secret:
    description:
      - Secret holding the CA bundle (key C(tls-ca-bundle.pem)), read instead of the one named by
        the OpenStackControlPlane's C(.status.tls.caBundleSecretName).
      - Empty means that one (none when the control plane publishes none and TLS is off).
    type: str
    default: ""
  controlplane_name:
    description:
      - OpenStackControlPlane to read the TLS flag (C(.spec.tls.podLevel.enabled)) and the CA bundle
        Secret's name (C(.status.tls.caBundleSecretName)) from; it must exist.
      - Empty reads no OpenStackControlPlane (a control plane not run by openstack-operator) -
        C(tls_internal) is then false and the CA bundle comes only from O(ca_bundle_secret).
    type: str
    default: openstack
  metadata_secret_key:
    description:
      - Key of the metadata shared secret in C(password_secret); empty means the OpenStackControlPlane's
        C(.spec.nova.template.passwordSelectors.metadataSecret) (CRD default C(MetadataSecret)).
    type: str
    default: ""
  metadata_agent_config_secret:
    description: Secret neutron-operator writes for the data plane's metadata agent.
    type: str
    default: neutron-ovn-metadata-agent-neutron-config
  compute_config_secret:
    description: Secret nova-operator writes for the cell's computes; empty means C(nova-<cell>-compute-config).
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Read the control-plane contract
  tenrec.dataplane.controlplane_info:
    kubeconfig: ~/.kube/config
    namespace: openstack
  register: cp
  no_log: true  # the contract holds passwords and transport_url

- name: Hand it to the compute roles
  ansible.builtin.set_fact:
    tenrec_controlplane: "{{ cp.controlplane }}"
"""

RETURN = r"""
controlplane:
  description:
    - The C(tenrec_controlplane) contract; every field and its source is in docs/contract.md.
    - C(transport_url), C(notification_transport_url), C(service_auth.password) and
      C(metadata_proxy_shared_secret) are secrets.
  returned: success
  type: dict
  contains:
    region:
      description: KeystoneAPI C(.spec.region).
      type: str
      sample: regionOne
    transport_url:
      description: Secret named by TransportURL C(.status.secretName), key C(transport_url).
      type: str
    notification_transport_url:
      description: Same, from the notifications TransportURL; empty when none.
      type: str
    messaging:
      description: C(ssl) (from the URL), C(quorum_queues) (TransportURL C(.status.queueType)), heartbeat.
      type: dict
    keystone:
      description: KeystoneAPI C(.status.apiEndpoints) C(internal) and C(public).
      type: dict
    service_auth:
      description: Service user (C(service_username)) and password (C(password_secret)/C(password_key)).
      type: dict
    ovn_sb_connection:
      description: OVNDBCluster O(ovn_sb_cluster_name) C(.status.dbAddress) (the address for external nodes).
      type: str
      sample: ssl:172.17.0.80:6642
    ca_bundle:
      description:
        - PEM bundle, key C(tls-ca-bundle.pem) of the Secret named by OpenStackControlPlane
          C(.status.tls.caBundleSecretName) (or O(ca_bundle_secret)); empty when neither names one.
      type: str
    tls_internal:
      description: OpenStackControlPlane C(.spec.tls.podLevel.enabled); true when absent (CRD default).
      type: bool
    certificates:
      description: Always C({}) here; the per-node certificates are filled per host (M(tenrec.dataplane.node_certificates)).
      type: dict
    nova_metadata_url:
      description: C(nova_metadata_protocol://nova_metadata_host:nova_metadata_port) from C(metadata_agent_config_secret); empty when absent.
      type: str
      sample: http://nova-metadata-internal.openstack.svc:8775
    metadata_proxy_shared_secret:
      description: C(password_secret), key C(metadata_secret_key); empty when absent.
      type: str
    novncproxy_base_url:
      description: C([vnc] novncproxy_base_url) from C(compute_config_secret); empty when absent.
      type: str
"""

from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.tenrec.dataplane.plugins.module_utils.contract import build
from ansible_collections.tenrec.dataplane.plugins.module_utils.k8s import (
    ControlPlaneError, Reader, auth_argument_spec, call_or_fail)


def read_tls(reader, controlplane_name, ca_bundle_secret):
    """Return ``(tls_internal, ca_bundle)``: bool, PEM str ("" when none).

    ``tls_internal`` is OpenStackControlPlane ``controlplane_name`` ``.spec.tls.podLevel.enabled``
    (true when absent, the CRD's default; false when ``controlplane_name`` is empty). ``ca_bundle``
    is key ``tls-ca-bundle.pem`` of Secret ``ca_bundle_secret`` when given, else of the Secret named
    by the control plane's ``.status.tls.caBundleSecretName``.

    :raises ControlPlaneError: the control plane does not exist; TLS is on and no CA bundle Secret
        is named (naming ``status.tls.caBundleSecretName``); the named Secret or key is absent.
    """
    tls, secret = False, ca_bundle_secret
    if controlplane_name:
        cp = reader.get("core.openstack.org/v1beta1", "OpenStackControlPlane", controlplane_name)
        enabled = (((cp.get("spec") or {}).get("tls") or {}).get("podLevel") or {}).get("enabled")
        tls = True if enabled is None else bool(enabled)
        if not secret:
            secret = ((cp.get("status") or {}).get("tls") or {}).get("caBundleSecretName") or ""
        if tls and not secret:
            try:
                reader.field(cp, "status.tls.caBundleSecretName")
            except ControlPlaneError as exc:
                raise ControlPlaneError("%s: spec.tls.podLevel.enabled is true, so the computes need the CA bundle "
                                        "(or give ca_bundle_secret)" % exc)
    return tls, (reader.secret_value(secret, "tls-ca-bundle.pem") if secret else "")


def nova_settings(reader, p):
    """Return ``(secret, password_key, metadata_key, service_user)`` (str each): the parameters when
    given, else the OpenStackControlPlane's ``.spec.nova.template`` (``secret`` or the control
    plane's ``.spec.secret``; ``passwordSelectors.service`` / ``.metadataSecret``; ``serviceUser``),
    else openstack-operator's CRD defaults (osp-secret, NovaPassword, MetadataSecret, nova).
    """
    spec = {}
    if p["controlplane_name"]:
        spec = reader.get("core.openstack.org/v1beta1", "OpenStackControlPlane", p["controlplane_name"]).get("spec") or {}
    nova = (spec.get("nova") or {}).get("template") or {}
    selectors = nova.get("passwordSelectors") or {}
    return (p["password_secret"] or nova.get("secret") or spec.get("secret") or "osp-secret",
            p["password_key"] or selectors.get("service") or "NovaPassword",
            p["metadata_secret_key"] or selectors.get("metadataSecret") or "MetadataSecret",
            p["service_username"] or nova.get("serviceUser") or "nova")


def read_contract(reader, p):
    """Assemble the contract from the control plane's objects (see DOCUMENTATION for sources)."""

    def transport(name):
        turl = reader.get("rabbitmq.openstack.org/v1beta1", "TransportURL", name)
        secret = reader.field(turl, "status.secretName")
        return reader.secret_value(secret, "transport_url"), turl.get("status", {}).get("queueType") == "Quorum"

    cell_url, quorum = transport(p["transport_url_name"] or "nova-%s-transport" % p["cell"])
    notif_url = transport(p["notification_transport_url_name"])[0] if p["notification_transport_url_name"] else ""
    keystone = reader.get("keystone.openstack.org/v1beta1", "KeystoneAPI", p["keystone_api_name"])
    internal = reader.field(keystone, "status.apiEndpoints.internal")
    public = (keystone.get("status", {}).get("apiEndpoints") or {}).get("public", "")
    region = keystone.get("spec", {}).get("region") or "regionOne"
    ovn = reader.get("ovn.openstack.org/v1beta1", "OVNDBCluster", p["ovn_sb_cluster_name"])
    sb = reader.field(ovn, "status.dbAddress")  # the external nodes' address, never internalDbAddress
    password_secret, password_key, metadata_key, service_user = nova_settings(reader, p)
    password = reader.secret_value(password_secret, password_key)
    tls, ca = read_tls(reader, p["controlplane_name"], p["ca_bundle_secret"])
    agent = reader.secret_ini(p["metadata_agent_config_secret"], "10-neutron-metadata.conf", "DEFAULT",
                              ("nova_metadata_protocol", "nova_metadata_host", "nova_metadata_port"))
    metadata_url = ""
    if agent.get("nova_metadata_host"):
        metadata_url = "%s://%s:%s" % (agent.get("nova_metadata_protocol") or "http", agent["nova_metadata_host"],
                                       agent.get("nova_metadata_port") or "8775")
    compute = reader.secret_ini(p["compute_config_secret"] or "nova-%s-compute-config" % p["cell"], "01-nova.conf",
                                "vnc", ("novncproxy_base_url",))
    try:
        return build(region=region, transport_url=cell_url, keystone_internal_url=internal,
                     service_password=password, ovn_sb_connection=sb, notification_transport_url=notif_url,
                     keystone_public_url=public, service_username=service_user,
                     quorum_queues=quorum, ca_bundle=ca, tls_internal=tls, nova_metadata_url=metadata_url,
                     metadata_proxy_shared_secret=reader.secret_value(
                         password_secret, metadata_key, optional=True),
                     novncproxy_base_url=compute.get("novncproxy_base_url", ""))
    except ValueError as exc:
        raise ControlPlaneError("the control plane publishes values the computes cannot use: %s" % exc)


def main():
    module = AnsibleK8SModule(
        argument_spec=auth_argument_spec(
            namespace=dict(type="str", default="openstack"),
            cell=dict(type="str", default="cell1"),
            transport_url_name=dict(type="str", default=""),
            notification_transport_url_name=dict(type="str", default=""),
            keystone_api_name=dict(type="str", default="keystone"),
            ovn_sb_cluster_name=dict(type="str", default="ovndbcluster-sb"),
            password_secret=dict(type="str", default="", no_log=False),
            password_key=dict(type="str", default="", no_log=False),
            service_username=dict(type="str", default=""),
            ca_bundle_secret=dict(type="str", default="", no_log=False),
            controlplane_name=dict(type="str", default="openstack"),
            metadata_secret_key=dict(type="str", default="", no_log=False),
            metadata_agent_config_secret=dict(type="str", default="neutron-ovn-metadata-agent-neutron-config",
                                              no_log=False),
            compute_config_secret=dict(type="str", default="", no_log=False),
        ),
        supports_check_mode=True,
    )
    contract = call_or_fail(module, lambda: read_contract(
        Reader(get_api_client(module), module.params["namespace"]), module.params))
    module.exit_json(changed=False, controlplane=contract)


if __name__ == "__main__":
    main()
