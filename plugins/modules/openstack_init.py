#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: openstack_init
short_description: Apply openstack-operator's OpenStack initialization resource and wait for the service CRDs
version_added: 0.2.0
author: tenrec.dataplane developers (@tenrec)
description:
  - Applies the C(OpenStack) resource (operator.openstack.org/v1beta1) with server-side apply, so a
    re-run with the same input reports C(changed=false). Its controller, part of openstack-operator,
    installs the service operators and their CRDs.
  - The CRD C(openstacks.operator.openstack.org) comes with openstack-operator's ClusterServiceVersion;
    when the API does not serve it the module fails naming it and the OLM step that installs it
    (M(tenrec.dataplane.olm_operator)).
  - With O(wait), waits for the resource's C(Ready) condition (at its generation; a timeout lists
    every condition that is not C(True)), then until the API serves every CRD of O(crds); a timeout
    names the CRDs still missing.
  - Whether a CRD is served is read from the API's discovery documents (C(/apis/<group>/<version>)) on
    every check, not from the client's discovery cache, so CRDs registered during the run are seen;
    the cache is refreshed afterwards for the tasks that follow.
  - Check mode sends the apply with C(dryRun=All). An existing resource is still waited for and its
    CRDs verified. When the OpenStack CRD is not served in check mode - the OLM step before it was
    only dry-run - the module reports the resource as to be created (C(changed=true)) with a warning,
    and verifies nothing.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - tenrec.dataplane.attributes
  - kubernetes.core.k8s_auth_options
  - tenrec.dataplane.apply
  - tenrec.dataplane.k8s_auth
options:
  namespace:
    description: Namespace of the OpenStack resource - openstack-operator's namespace.
    type: str
    default: openstack-operators
  name:
    description: Name of the OpenStack resource (openstack-operator's controller keeps only one).
    type: str
    default: openstack
  spec:
    description:
      - C(spec) of the resource, for example C(operatorOverrides) (a list of C(name), C(replicas),
        C(controllerManager.resources), C(tolerations)). Empty, every service operator runs with its defaults.
    type: dict
    default: {}
  crds:
    description:
      - CRDs (C(<plural>.<group>)) that must be served before the module returns.
      - The default is the kinds the next bootstrap steps and the control-plane phase use.
    type: list
    elements: str
    default:
      - openstackcontrolplanes.core.openstack.org
      - netconfigs.network.openstack.org
      - openstackdataplanenodesets.dataplane.openstack.org
      - transporturls.rabbitmq.openstack.org
      - keystoneapis.keystone.openstack.org
      - ovndbclusters.ovn.openstack.org
  wait:
    description: Wait for C(Ready) and for O(crds).
    type: bool
    default: true
  timeout:
    description: Seconds (wall clock) for both waits together.
    type: int
    default: 600
  delay:
    description: Seconds between two reads while waiting.
    type: int
    default: 5
notes:
  - C(module_defaults) for C(group/tenrec.dataplane.k8s) that set C(namespace) (the control plane's,
    C(openstack)) apply to this module too - set O(namespace) on the task.
"""

EXAMPLES = r"""
- name: Initialize openstack-operator (after tenrec.dataplane.olm_operator installed it)
  tenrec.dataplane.openstack_init:
    timeout: 900

- name: Initialize with one service operator scaled down
  tenrec.dataplane.openstack_init:
    spec:
      operatorOverrides:
        - name: ironic
          replicas: 0
    crds:
      - openstackcontrolplanes.core.openstack.org
      - netconfigs.network.openstack.org
"""

RETURN = r"""
result:
  description: The OpenStack resource as the API server returned it (empty when its CRD is not served in check mode).
  returned: always
  type: dict
conditions:
  description: Its conditions that are not C(True) (empty when all are).
  returned: always
  type: list
  elements: dict
crds:
  description: The CRDs of O(crds) the API serves.
  returned: always
  type: list
  elements: str
missing_crds:
  description: The CRDs of O(crds) the API does not serve (empty after a successful wait).
  returned: always
  type: list
  elements: str
duration:
  description: Seconds spent applying and waiting.
  returned: always
  type: float
"""

import time

from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.tenrec.dataplane.plugins.module_utils.apply import APPLY_ARGS, Applier, not_true_conditions, spec_diff
from ansible_collections.tenrec.dataplane.plugins.module_utils.k8s import ControlPlaneError, auth_argument_spec, call_or_fail
from ansible_collections.tenrec.dataplane.plugins.module_utils.olm import missing_crds

API_VERSION = "operator.openstack.org/v1beta1"
KIND = "OpenStack"
CRD = "openstacks.operator.openstack.org"
DEFAULT_CRDS = ["openstackcontrolplanes.core.openstack.org", "netconfigs.network.openstack.org",
                "openstackdataplanenodesets.dataplane.openstack.org", "transporturls.rabbitmq.openstack.org",
                "keystoneapis.keystone.openstack.org", "ovndbclusters.ovn.openstack.org"]


def wait_crds(client, names, deadline, timeout, delay, what):
    """Wait until the API serves every CRD of ``names``; return the ones still missing at the deadline
    (raise ControlPlaneError naming them when ``timeout`` is not None)."""
    while True:
        missing = missing_crds(client, names)
        if not missing or time.monotonic() >= deadline:
            break
        time.sleep(max(0.1, min(delay, deadline - time.monotonic())))
    if missing and timeout is not None:
        raise ControlPlaneError("the API does not serve %s after %d s (%s): %s" % (
            "this CRD" if len(missing) == 1 else "these CRDs", timeout, what, ", ".join(missing)))
    return missing


def run(module):
    p = module.params
    started = time.monotonic()
    deadline = started + p["timeout"]
    client = get_api_client(module)
    ns, name = p["namespace"], p["name"]
    body = {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name, "namespace": ns}}
    if p["spec"]:
        body["spec"] = p["spec"]
    if missing_crds(client, [CRD]):
        if not module.check_mode:
            raise ControlPlaneError(
                "the API does not serve the CRD %s: openstack-operator's ClusterServiceVersion brings it - install "
                "openstack-operator through OLM first (tenrec.dataplane.olm_operator, waiting for its CSV to "
                "Succeed), then apply %s %s/%s" % (CRD, KIND, ns, name))
        module.warn("the CRD %s is not served: in check mode the OLM step that installs openstack-operator was only "
                    "dry-run; %s %s/%s would be created, nothing verified" % (CRD, KIND, ns, name))
        return dict(changed=True, result={}, conditions=[], crds=[], missing_crds=list(p["crds"]),
                    diff=spec_diff(None, body), duration=round(time.monotonic() - started, 1))
    applier = Applier(client, API_VERSION, KIND, p["field_manager"])
    changed, before, after = applier.apply(body, ns, module.check_mode, p["force_conflicts"])
    missing = list(p["crds"])
    if p["wait"] and not (module.check_mode and before is None):
        # in check mode a resource still to be created cannot become Ready; an existing one is verified
        after = applier.wait_ready(name, ns, max(0, deadline - time.monotonic()), p["delay"])
        first = missing_crds(client, p["crds"])
        missing = wait_crds(client, first, deadline, p["timeout"], p["delay"],
                            "%s %s/%s is Ready" % (KIND, ns, name)) if first else []
        if first:  # kubernetes.core keeps its discovery cache in a file: let the next tasks see the new CRDs
            client.resources.invalidate_cache()
    else:
        missing = missing_crds(client, p["crds"])
    return dict(changed=changed, result=after, conditions=not_true_conditions(after),
                crds=[c for c in p["crds"] if c not in missing], missing_crds=missing,
                diff=spec_diff(before, after), duration=round(time.monotonic() - started, 1))


def main():
    module = AnsibleK8SModule(
        argument_spec=auth_argument_spec(
            namespace=dict(type="str", default="openstack-operators"),
            name=dict(type="str", default="openstack"),
            spec=dict(type="dict", default={}),
            crds=dict(type="list", elements="str", default=list(DEFAULT_CRDS)),
            wait=dict(type="bool", default=True),
            timeout=dict(type="int", default=600),
            delay=dict(type="int", default=5),
            **APPLY_ARGS
        ),
        supports_check_mode=True,
    )
    module.exit_json(**call_or_fail(module, lambda: run(module)))


if __name__ == "__main__":
    main()
