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
    service password from the password Secret; OVN SB from OVNDBCluster C(.status.internalDbAddress);
    the CA bundle from its Secret; TLS from OpenStackControlPlane C(.spec.tls.podLevel.enabled).
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
    description: Secret holding service passwords (OpenStackControlPlane C(.spec.secret)).
    type: str
    default: osp-secret
  password_key:
    description: Key of the nova service password in C(password_secret).
    type: str
    default: NovaPassword
  service_username:
    description: Nova's service user (Nova C(.spec.serviceUser)).
    type: str
    default: nova
  ca_bundle_secret:
    description: Secret holding the CA bundle (key C(tls-ca-bundle.pem)); empty means none.
    type: str
    default: ""
  controlplane_name:
    description: OpenStackControlPlane to read the TLS flag from; empty skips it (TLS off).
    type: str
    default: ""
  metadata_secret_key:
    description: Key of the metadata shared secret in C(password_secret) (Nova C(.spec.passwordSelectors.metadataSecret)).
    type: str
    default: MetadataSecret
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
      description: OVNDBCluster C(.status.internalDbAddress).
      type: str
      sample: tcp:ovsdbserver-sb-0.openstack.svc:6642
    ca_bundle:
      description: Secret C(ca_bundle_secret), key C(tls-ca-bundle.pem).
      type: str
    tls_internal:
      description: OpenStackControlPlane C(.spec.tls.podLevel.enabled).
      type: bool
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
    sb = reader.field(ovn, "status.internalDbAddress")
    password = reader.secret_value(p["password_secret"], p["password_key"])
    ca = reader.secret_value(p["ca_bundle_secret"], "tls-ca-bundle.pem") if p["ca_bundle_secret"] else ""
    tls = False
    if p["controlplane_name"]:
        cp = reader.get("core.openstack.org/v1beta1", "OpenStackControlPlane", p["controlplane_name"])
        tls = bool(((cp.get("spec", {}).get("tls") or {}).get("podLevel") or {}).get("enabled"))
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
                     keystone_public_url=public, service_username=p["service_username"],
                     quorum_queues=quorum, ca_bundle=ca, tls_internal=tls, nova_metadata_url=metadata_url,
                     metadata_proxy_shared_secret=reader.secret_value(
                         p["password_secret"], p["metadata_secret_key"], optional=True),
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
            password_secret=dict(type="str", default="osp-secret", no_log=False),
            password_key=dict(type="str", default="NovaPassword", no_log=False),
            service_username=dict(type="str", default="nova"),
            ca_bundle_secret=dict(type="str", default="", no_log=False),
            controlplane_name=dict(type="str", default=""),
            metadata_secret_key=dict(type="str", default="MetadataSecret", no_log=False),
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
