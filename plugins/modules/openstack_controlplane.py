#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: openstack_controlplane
short_description: Apply an OpenStackControlPlane and wait until openstack-operator reports it Ready
version_added: 0.1.0
author: tenrec.dataplane developers (@tenrec)
description:
  - Applies the C(OpenStackControlPlane) custom resource with server-side apply under one field
    manager, so a re-run with the same input changes nothing and reports C(changed=false).
  - With O(wait), waits until C(status.observedGeneration) equals C(metadata.generation) and the
    C(Ready) condition is C(True). On timeout it fails listing every condition that is not C(True)
    (type, status, reason, message).
  - Check mode sends the same request with C(dryRun=All) (the server validates and defaults it;
    nothing is stored); diff shows the spec before and after.
  - An invalid resource fails with the API server's validation causes (HTTP 422).
  - The definition may be an object the API server returned (for example this module's RV(result));
    its C(status) and the metadata the server sets (C(managedFields), C(resourceVersion), C(uid),
    C(creationTimestamp), C(generation), C(selfLink)) are dropped before the apply.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - tenrec.dataplane.attributes
  - kubernetes.core.k8s_auth_options
  - tenrec.dataplane.apply
  - tenrec.dataplane.k8s_auth
options:
  state:
    description: C(present) applies the resource; C(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  definition:
    description:
      - The OpenStackControlPlane (dict or YAML text). C(apiVersion) and C(kind) may be left out.
      - At most one of O(definition) and O(src). With only O(name) (or a definition without C(spec)),
        the module verifies - the resource must exist - and waits for C(Ready) without writing.
      - With O(state=absent) only the name is used.
    type: raw
  src:
    description: Path (on the controller host running the module) of a YAML file holding the resource.
    type: path
  name:
    description: Name of the resource; overrides C(metadata.name) of the definition.
    type: str
  wait:
    description: Wait for C(Ready) (state=present) or for deletion (state=absent).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 1800
  wait_sleep:
    description: Seconds between two reads of the resource while waiting.
    type: int
    default: 5
"""

EXAMPLES = r"""
- name: Bring the control plane to Ready
  tenrec.dataplane.openstack_controlplane:
    src: files/openstackcontrolplane.yaml
    namespace: openstack
    wait_timeout: 3600

- name: Verify it only (fails listing the conditions that are not True)
  tenrec.dataplane.openstack_controlplane:
    name: openstack
    definition: "{{ lookup('ansible.builtin.file', 'openstackcontrolplane.yaml') }}"
    wait_timeout: 60
  check_mode: true
"""

RETURN = r"""
result:
  description: The OpenStackControlPlane as the API server returned it (after apply and wait).
  returned: success
  type: dict
conditions:
  description: C(status.conditions) of the resource that are not C(True) (empty when all are).
  returned: success
  type: list
  elements: dict
  sample: [{"type": "OpenStackControlPlaneNovaReady", "status": "False", "reason": "Requested", "message": "..."}]
duration:
  description: Seconds spent applying and waiting.
  returned: success
  type: float
"""

import time

from ansible.module_utils.six import string_types
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.tenrec.dataplane.plugins.module_utils.apply import APPLY_ARGS, Applier, not_true_conditions, spec_diff
from ansible_collections.tenrec.dataplane.plugins.module_utils.k8s import (
    ControlPlaneError, auth_argument_spec, call_or_fail)

try:
    import yaml
except ImportError:  # reported by AnsibleK8SModule's requirement checks (PyYAML ships with Ansible)
    yaml = None

API_VERSION = "core.openstack.org/v1beta1"
KIND = "OpenStackControlPlane"


def load_definition(params):
    """The resource as a dict from ``definition`` or ``src``; raise ControlPlaneError on bad input."""
    raw = params["definition"]
    if params["src"]:
        try:
            with open(params["src"]) as handle:
                raw = handle.read()
        except (IOError, OSError) as exc:
            raise ControlPlaneError("src %s cannot be read: %s" % (params["src"], exc))
    if isinstance(raw, string_types):
        try:
            raw = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ControlPlaneError("definition is not valid YAML: %s" % exc)
    if not isinstance(raw, dict):
        raise ControlPlaneError("definition must be a mapping (an OpenStackControlPlane), got %s"
                                % type(raw).__name__)
    body = dict(raw)
    for key, expected in (("apiVersion", API_VERSION), ("kind", KIND)):
        if body.get(key, expected) != expected:
            raise ControlPlaneError("definition.%s is %s; this module manages %s %s"
                                    % (key, body[key], API_VERSION, KIND))
    body["metadata"] = dict(body.get("metadata") or {})
    if params["name"]:
        body["metadata"]["name"] = params["name"]
    if not body["metadata"].get("name"):
        raise ControlPlaneError("definition.metadata.name (or name) is required")
    return body


def run(module):
    p = module.params
    started = time.monotonic()
    body = load_definition(p)
    name = body["metadata"]["name"]
    namespace = body["metadata"].get("namespace") or p["namespace"]
    applier = Applier(get_api_client(module), API_VERSION, KIND, p["field_manager"])
    if p["state"] == "absent":
        changed, before = applier.delete(name, namespace, module.check_mode)
        if changed and p["wait"] and not module.check_mode:
            applier.wait_gone(name, namespace, p["wait_timeout"], p["wait_sleep"])
        return dict(changed=changed, result={}, conditions=[], diff=spec_diff(before, None),
                    duration=round(time.monotonic() - started, 1))
    if not body.get("spec"):  # verify only
        before = applier.get(name, namespace)
        if before is None:
            raise ControlPlaneError("%s %s not found in namespace %s" % (KIND, name, namespace))
        after = applier.wait_ready(name, namespace, p["wait_timeout"], p["wait_sleep"]) if p["wait"] else before
        return dict(changed=False, result=after, conditions=not_true_conditions(after), diff=spec_diff(before, after),
                    duration=round(time.monotonic() - started, 1))
    changed, before, after = applier.apply(body, namespace, module.check_mode, p["force_conflicts"])
    if p["wait"] and not (module.check_mode and changed):
        # in check mode a pending change cannot become Ready; an unchanged resource is verified
        after = applier.wait_ready(name, namespace, p["wait_timeout"], p["wait_sleep"])
    return dict(changed=changed, result=after, conditions=not_true_conditions(after),
                diff=spec_diff(before, after), duration=round(time.monotonic() - started, 1))


def main():
    module = AnsibleK8SModule(
        argument_spec=auth_argument_spec(
            namespace=dict(type="str", default="openstack"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            definition=dict(type="raw"),
            src=dict(type="path"),
            name=dict(type="str"),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=1800),
            wait_sleep=dict(type="int", default=5),
            **APPLY_ARGS
        ),
        mutually_exclusive=[("definition", "src")],
        required_one_of=[("definition", "src", "name")],
        supports_check_mode=True,
    )
    if module.params["definition"] is None and module.params["src"] is None:
        module.params["definition"] = {}
    module.exit_json(**call_or_fail(module, lambda: run(module)))


if __name__ == "__main__":
    main()
