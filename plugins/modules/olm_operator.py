#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: olm_operator
short_description: Install one operator through OLM and wait until its ClusterServiceVersion Succeeds
version_added: 0.2.0
author: tenrec.dataplane developers (@tenrec)
description:
  - Applies, with server-side apply under one field manager, the objects OLM installs an operator
    from - the Namespace (created if absent), an OperatorGroup, a CatalogSource when an index image
    is given, and the Subscription - so a re-run with the same input reports C(changed=false).
  - With O(wait), waits as openstack-operator's own tooling does - the Subscription has
    C(status.installPlanRef), its InstallPlan is in phase C(Complete), and the ClusterServiceVersion
    it names (C(status.installedCSV), else C(status.currentCSV)) is in phase C(Succeeded).
  - On timeout it fails with one message naming the Subscription (namespace/name), its conditions
    that report a problem (for example C(ResolutionFailed) with OLM's C(constraints not satisfiable)
    message), the InstallPlan's phase and conditions, and the CSV's phase, reason and message.
  - It fails early, without waiting for O(timeout), when the Subscription's C(ResolutionFailed)
    condition stays C(True) for O(resolution_grace) seconds (a wrong package, channel, source or
    starting CSV), or when the InstallPlan is C(Failed) (OLM does not retry it).
  - Check mode sends the same requests with C(dryRun=All); nothing is stored. When the Namespace does
    not exist yet, the objects in it cannot be dry-run (the API answers 404 for the namespace) and are
    reported as they would be created, not validated by the server. When the Subscription exists
    already, check mode still waits for and verifies the installed CSV.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - tenrec.dataplane.attributes
  - kubernetes.core.k8s_auth_options
  - tenrec.dataplane.apply
  - tenrec.dataplane.k8s_auth
options:
  namespace:
    description:
      - Namespace the operator is installed in (the OperatorGroup, the Subscription, the CatalogSource).
      - It is created if absent.
    type: str
    required: true
    default: null
  namespace_labels:
    description:
      - Labels of the Namespace (for example C(pod-security.kubernetes.io/enforce) C(privileged)).
      - Labels set by others are left alone.
    type: dict
    default: {}
  operator_group:
    description:
      - The OperatorGroup of O(namespace). Leave it out when the namespace has one already (OLM
        installs nothing in a namespace with none or with two).
    type: dict
    suboptions:
      name:
        description: Name of the OperatorGroup.
        type: str
        required: true
      target_namespaces:
        description:
          - C(spec.targetNamespaces). Left out (or empty), the OperatorGroup has no spec - the operator
            watches all namespaces.
        type: list
        elements: str
  catalog_source:
    description:
      - A CatalogSource in O(namespace) serving an index image (upstream installs). Leave it out to
        install from a catalog the cluster has, for example C(redhat-operators) in C(openshift-marketplace).
    type: dict
    suboptions:
      name:
        description: Name of the CatalogSource.
        type: str
        required: true
      image:
        description: The index image.
        type: str
        required: true
      source_type:
        description: C(spec.sourceType).
        type: str
        choices: [grpc]
        default: grpc
      display_name:
        description: C(spec.displayName).
        type: str
  subscription:
    description: The Subscription.
    type: dict
    required: true
    suboptions:
      name:
        description: Name of the Subscription; defaults to O(subscription.package).
        type: str
      package:
        description: The package (C(spec.name)), for example C(openstack-operator).
        type: str
        required: true
      channel:
        description: The channel; left out, OLM takes the package's default channel.
        type: str
      source:
        description: The CatalogSource; defaults to O(catalog_source.name) when that is given.
        type: str
      source_namespace:
        description:
          - Namespace of the CatalogSource; defaults to O(namespace) when O(catalog_source) is given,
            else to C(openshift-marketplace).
        type: str
      install_plan_approval:
        description:
          - C(spec.installPlanApproval). With C(Manual) the InstallPlan waits in phase
            C(RequiresApproval) until someone sets its C(spec.approved) - the wait reports it.
        type: str
        choices: [Automatic, Manual]
        default: Automatic
      starting_csv:
        description: C(spec.startingCSV), the CSV to install first.
        type: str
  wait:
    description: Wait until the CSV Succeeds.
    type: bool
    default: true
  timeout:
    description: Seconds (wall clock) to wait.
    type: int
    default: 600
  delay:
    description: Seconds between two reads while waiting.
    type: int
    default: 5
  resolution_grace:
    description:
      - Seconds C(ResolutionFailed) may stay C(True) before the wait fails without waiting for O(timeout).
      - OLM reports it for a short while when a new CatalogSource starts serving, or until it
        re-resolves a Subscription this task changed.
    type: int
    default: 30
  installed_crd:
    description:
      - A CRD (C(<plural>.<group>), for example C(certificates.cert-manager.io)) that shows the operator
        is installed already. When the API serves it and O(namespace) has no Subscription of this
        name, the operator was installed some other way - nothing is applied or waited for, and
        RV(installed_elsewhere) is true.
      - When the Subscription exists, the module goes on as without this option.
    type: str
notes:
  - openstack-operator upstream (install_yamls, ci-framework) - namespace C(openstack-operators),
    OperatorGroup C(openstack) with no spec, CatalogSource C(openstack-operator-index) (grpc, the
    upstream index image), Subscription C(openstack-operator) on channel C(alpha) from that source.
  - openstack-operator downstream - channel C(stable-v1.0) from C(redhat-operators) in
    C(openshift-marketplace), no CatalogSource of its own. See EXAMPLES.
  - C(module_defaults) for C(group/tenrec.dataplane.k8s) that set C(namespace) (the control plane's,
    C(openstack)) apply to this module too - set O(namespace) on the task.
  - A Subscription whose channel this task changes may still report the CSV installed from the old
    channel until OLM resolves it again; the wait accepts the CSV the Subscription names.
"""

EXAMPLES = r"""
- name: Install openstack-operator (upstream - its own index image, channel alpha)
  tenrec.dataplane.olm_operator:
    namespace: openstack-operators
    namespace_labels:
      pod-security.kubernetes.io/enforce: privileged
      security.openshift.io/scc.podSecurityLabelSync: "false"
    operator_group:
      name: openstack
    catalog_source:
      name: openstack-operator-index
      image: quay.io/openstack-k8s-operators/openstack-operator-index:latest
    subscription:
      name: openstack-operator
      package: openstack-operator
      channel: alpha
    timeout: 900

- name: Install openstack-operator (downstream - redhat-operators, channel stable-v1.0)
  tenrec.dataplane.olm_operator:
    namespace: openstack-operators
    operator_group:
      name: openstack
    subscription:
      package: openstack-operator
      channel: stable-v1.0
      source: redhat-operators
      source_namespace: openshift-marketplace

- name: Install NMState (its OperatorGroup targets its own namespace)
  tenrec.dataplane.olm_operator:
    namespace: openshift-nmstate
    operator_group:
      name: openshift-nmstate
      target_namespaces: [openshift-nmstate]
    subscription:
      package: kubernetes-nmstate-operator
      channel: stable
      source: redhat-operators

- name: Report what would be created, writing nothing
  tenrec.dataplane.olm_operator:
    namespace: metallb-system
    operator_group:
      name: metallb-operator
    subscription:
      name: metallb-operator-sub
      package: metallb-operator
      channel: stable
      source: redhat-operators
  check_mode: true
"""

RETURN = r"""
csv:
  description: Name of the ClusterServiceVersion the Subscription installed (empty when not waited for).
  returned: always
  type: str
  sample: openstack-operator.v1.0.6
phase:
  description: The CSV's C(status.phase) (empty when not waited for).
  returned: always
  type: str
  sample: Succeeded
install_plan:
  description: Name of the Subscription's InstallPlan (empty when not waited for).
  returned: always
  type: str
  sample: install-8dd3f
objects:
  description: The objects applied - kind, name, namespace, whether they changed and whether the server validated them.
  returned: always
  type: list
  elements: dict
  sample: [{"kind": "Subscription", "name": "openstack-operator", "namespace": "openstack-operators",
            "changed": true, "validated": true}]
conditions:
  description: The Subscription's C(status.conditions) after the wait.
  returned: success
  type: list
  elements: dict
installed_elsewhere:
  description: True when O(installed_crd) is served without a Subscription of this name (nothing was done).
  returned: success
  type: bool
duration:
  description: Seconds spent applying and waiting.
  returned: always
  type: float
"""

import time

from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.tenrec.dataplane.plugins.module_utils.apply import APPLY_ARGS, Applier, comparable, spec_diff
from ansible_collections.tenrec.dataplane.plugins.module_utils.k8s import (
    ControlPlaneError, NotFoundError, auth_argument_spec, call_or_fail)
from ansible_collections.tenrec.dataplane.plugins.module_utils.olm import OLM_GROUP, wait_installed

GLOBAL_CATALOG_NAMESPACE = "openshift-marketplace"


def build(params):
    """The objects to apply, in order: ``[(api_version, kind, namespace or None, body)]``."""
    ns = params["namespace"]
    objects = [("v1", "Namespace", None, {"metadata": dict(
        {"name": ns}, **({"labels": params["namespace_labels"]} if params["namespace_labels"] else {}))})]
    group = params["operator_group"]
    if group:
        body = {"metadata": {"name": group["name"]}}
        if group.get("target_namespaces"):
            body["spec"] = {"targetNamespaces": list(group["target_namespaces"])}
        objects.append(("%s/v1" % OLM_GROUP, "OperatorGroup", ns, body))
    catalog = params["catalog_source"]
    if catalog:
        spec = {"sourceType": catalog.get("source_type") or "grpc", "image": catalog["image"]}
        if catalog.get("display_name"):
            spec["displayName"] = catalog["display_name"]
        objects.append(("%s/v1alpha1" % OLM_GROUP, "CatalogSource", ns, {"metadata": {"name": catalog["name"]},
                                                                         "spec": spec}))
    sub = params["subscription"]
    source = sub.get("source") or (catalog or {}).get("name")
    if not source:
        raise ControlPlaneError("subscription.source is required when no catalog_source is given "
                                "(for example redhat-operators)")
    source_ns = sub.get("source_namespace") or (ns if catalog and source == catalog["name"] else
                                                GLOBAL_CATALOG_NAMESPACE)
    spec = {"name": sub["package"], "source": source, "sourceNamespace": source_ns,
            "installPlanApproval": sub.get("install_plan_approval") or "Automatic"}
    if sub.get("channel"):
        spec["channel"] = sub["channel"]
    if sub.get("starting_csv"):
        spec["startingCSV"] = sub["starting_csv"]
    objects.append(("%s/v1alpha1" % OLM_GROUP, "Subscription", ns,
                    {"metadata": {"name": sub.get("name") or sub["package"]}, "spec": spec}))
    return objects


def label(kind, namespace, name):
    return "%s %s/%s" % (kind, namespace, name) if namespace else "%s %s" % (kind, name)


def installed_elsewhere(client, crd, namespace, subscription):
    """True when the CRD ``crd`` (``<plural>.<group>``) is served and ``namespace`` has no Subscription
    ``subscription``: the operator was installed some other way, so it is left alone."""
    crds = client.resource("CustomResourceDefinition", "apiextensions.k8s.io/v1")
    try:
        crds.get(name=crd)
    except NotFoundError:
        return False
    subs = client.resource("Subscription", "operators.coreos.com/v1alpha1")
    try:
        subs.get(name=subscription, namespace=namespace)
    except NotFoundError:
        return True
    return False


def run(module):
    p = module.params
    started = time.monotonic()
    client = get_api_client(module)
    objects = build(p)
    ns = p["namespace"]
    if p["installed_crd"] and installed_elsewhere(client, p["installed_crd"], ns, objects[-1][3]["metadata"]["name"]):
        return dict(changed=False, objects=[], diff={"before": {}, "after": {}}, csv="", phase="", install_plan="",
                    conditions=[], installed_elsewhere=True, duration=round(time.monotonic() - started, 1))
    namespace_exists = True
    report, before_all, after_all, changed_any = [], {}, {}, False
    sub_before = None
    for api_version, kind, where, body in objects:
        applier = Applier(client, api_version, kind, p["field_manager"])
        name = body["metadata"]["name"]
        key = label(kind, where, name)
        if where is not None and not namespace_exists:
            # check mode, Namespace absent: a dry-run in it is a 404; report what would be created
            after = dict(body, apiVersion=api_version, kind=kind)
            after["metadata"] = dict(body["metadata"], namespace=where)
            changed, before, validated = True, None, False
        else:
            changed, before, after = applier.apply(body, where, module.check_mode, p["force_conflicts"])
            validated = True
        if kind == "Namespace":
            namespace_exists = before is not None or not module.check_mode
        if kind == "Subscription":
            sub_before = before
        diff = spec_diff(before, after)
        if comparable(before) is not None:
            before_all[key] = diff["before"]
        after_all[key] = diff["after"]
        changed_any = changed_any or changed
        report.append({"kind": kind, "name": name, "namespace": where or "", "changed": changed,
                       "validated": validated})
    result = dict(changed=changed_any, objects=report, diff={"before": before_all, "after": after_all},
                  csv="", phase="", install_plan="", conditions=[], installed_elsewhere=False)
    sub_name = objects[-1][3]["metadata"]["name"]
    if p["wait"] and (not module.check_mode or sub_before is not None):
        readers = {}

        def get(api_version, kind, name):
            if kind not in readers:
                readers[kind] = client.resource(kind, api_version)
            try:
                return readers[kind].get(name=name, namespace=ns).to_dict()
            except NotFoundError:
                return None

        state = wait_installed(get, ns, sub_name, p["timeout"], p["delay"], p["resolution_grace"])
        result.update(csv=state.csv_name, phase=state.csv_phase, install_plan=state.plan_name,
                      conditions=state.conditions)
    result["duration"] = round(time.monotonic() - started, 1)
    return result


def main():
    group_options = dict(name=dict(type="str", required=True),
                         target_namespaces=dict(type="list", elements="str"))
    catalog_options = dict(name=dict(type="str", required=True), image=dict(type="str", required=True),
                           source_type=dict(type="str", choices=["grpc"], default="grpc"),
                           display_name=dict(type="str"))
    subscription_options = dict(name=dict(type="str"), package=dict(type="str", required=True),
                                channel=dict(type="str"), source=dict(type="str"), source_namespace=dict(type="str"),
                                install_plan_approval=dict(type="str", choices=["Automatic", "Manual"],
                                                           default="Automatic"),
                                starting_csv=dict(type="str"))
    module = AnsibleK8SModule(
        argument_spec=auth_argument_spec(
            namespace=dict(type="str", required=True),
            namespace_labels=dict(type="dict", default={}),
            operator_group=dict(type="dict", options=group_options),
            catalog_source=dict(type="dict", options=catalog_options),
            subscription=dict(type="dict", required=True, options=subscription_options),
            wait=dict(type="bool", default=True),
            timeout=dict(type="int", default=600),
            delay=dict(type="int", default=5),
            resolution_grace=dict(type="int", default=30),
            installed_crd=dict(type="str"),
            **APPLY_ARGS
        ),
        supports_check_mode=True,
    )
    module.exit_json(**call_or_fail(module, lambda: run(module)))


if __name__ == "__main__":
    main()
