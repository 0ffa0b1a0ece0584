"""dataplane_nodeset and openstack_controlplane without a server: what they register and send, and
that the apply options they accept are the ones they document.

The kubernetes.core client set-up (``get_api_client``) and the Applier are replaced by recorders.
"""

import json

import pytest
import yaml
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import api_exception

from ansible_collections.tenrec.dataplane.plugins.doc_fragments import apply as apply_fragment
from ansible_collections.tenrec.dataplane.plugins.module_utils.k8s import call_or_fail
from ansible_collections.tenrec.dataplane.plugins.modules import dataplane_nodeset, openstack_controlplane

NODES = [{"hostname": "compute-0", "ansible_host": "192.168.122.100", "ansible_user": "root", "ansible_port": 22,
          "networks": [{"name": "ctlplane", "subnet_name": "subnet1", "fixed_ip": "192.168.122.100",
                        "default_route": True}]},
         {"hostname": "compute-1", "ansible_host": None, "ansible_user": "root", "ansible_port": 22, "networks": []}]


def nodeset_params(**extra):
    return dict({"name": "tenrec-computes", "namespace": "openstack", "state": "present", "nodes": NODES,
                 "ssh_key_secret": "dataplane-ansible-ssh-private-key-secret", "services": [],
                 "node_template_vars": {}, "field_manager": "tenrec-dataplane", "force_conflicts": False,
                 "prune": False}, **extra)


# ----- what a NodeSet registers ---------------------------------------------------------------------
def test_nodeset_without_services_registers_an_empty_list():
    """An absent spec.services would be defaulted by the CRD to openstack-operator's list (bootstrap,
    ..., reboot-os, ..., nova): the NodeSet always carries the list, empty unless services are given."""
    assert dataplane_nodeset.build(nodeset_params())["spec"]["services"] == []
    given = ["tenrec-prechecks", "tenrec-dataplane"]
    assert dataplane_nodeset.build(nodeset_params(services=given))["spec"]["services"] == given


class RecordingApplier(object):
    """dataplane_nodeset's Applier, recording each apply and answering with the body merged in."""

    applies = []

    def __init__(self, client, api_version, kind, field_manager="tenrec-dataplane"):
        self.field_manager = field_manager
        self.stored = None

    def apply(self, definition, namespace, check_mode=False, force_conflicts=False, field_manager=None,
              before=False):
        type(self).applies.append({"manager": field_manager or self.field_manager, "force": force_conflicts,
                                   "nodes": sorted(definition["spec"].get("nodes") or {})})
        old = self.stored
        merged = dict(old or {}, metadata=definition["metadata"])
        merged["spec"] = dict((old or {}).get("spec") or {})
        merged["spec"].update(definition["spec"])
        merged["spec"]["nodes"] = dict(((old or {}).get("spec") or {}).get("nodes") or {},
                                       **definition["spec"].get("nodes", {}))
        self.stored = merged
        return old != merged, old, merged


class FakeModule(object):
    check_mode = False

    def __init__(self, params):
        self.params = params


@pytest.mark.parametrize("force", [False, True])
def test_nodeset_passes_force_conflicts_to_every_apply(monkeypatch, force):
    """force_conflicts reaches the whole NodeSet's apply and each node's (under its own manager)."""
    RecordingApplier.applies = []
    monkeypatch.setattr(dataplane_nodeset, "Applier", RecordingApplier)
    monkeypatch.setattr(dataplane_nodeset, "get_api_client", lambda module: object())
    result = dataplane_nodeset.run(FakeModule(nodeset_params(force_conflicts=force)))
    assert result["nodes"] == ["compute-0", "compute-1"]
    assert RecordingApplier.applies == [
        {"manager": "tenrec-dataplane", "force": force, "nodes": ["compute-0", "compute-1"]},
        {"manager": "tenrec-dataplane/compute-0", "force": force, "nodes": ["compute-0"]},
        {"manager": "tenrec-dataplane/compute-1", "force": force, "nodes": ["compute-1"]},
    ]


# ----- the apply options: accepted and documented -----------------------------------------------------
class SpecSeen(Exception):
    pass


def argument_spec(module, monkeypatch):
    """The argument_spec ``module.main()`` builds its AnsibleK8SModule with."""
    def capture(**kwargs):
        raise SpecSeen(kwargs["argument_spec"])

    monkeypatch.setattr(module, "AnsibleK8SModule", capture)
    with pytest.raises(SpecSeen) as seen:
        module.main()
    return seen.value.args[0]


@pytest.mark.parametrize("module", [dataplane_nodeset, openstack_controlplane], ids=lambda m: m.__name__.split(".")[-1])
def test_force_conflicts_is_an_option_documented_default_false(monkeypatch, module):
    spec = argument_spec(module, monkeypatch)
    assert spec["force_conflicts"] == {"type": "bool", "default": False}
    assert spec["field_manager"] == {"type": "str", "default": "tenrec-dataplane"}
    doc = yaml.safe_load(module.DOCUMENTATION)
    options = dict(doc.get("options") or {})
    if "tenrec.dataplane.apply" in doc.get("extends_documentation_fragment", []):
        options.update(yaml.safe_load(apply_fragment.ModuleDocFragment.DOCUMENTATION)["options"])
    assert options["force_conflicts"]["type"] == "bool" and options["force_conflicts"]["default"] is False
    description = options["force_conflicts"]["description"]
    assert "conflict" in (description if isinstance(description, str) else " ".join(description))


# ----- a field another manager owns -------------------------------------------------------------------
REAL_CONFLICT = {
    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "Conflict", "code": 409,
    "message": 'Apply failed with 1 conflict: conflict with "other-manager" using dataplane.openstack.org/v1beta1: '
               '.spec.nodes.x.hostName',
    "details": {"causes": [{"reason": "FieldManagerConflict",
                            "message": 'conflict with "other-manager" using dataplane.openstack.org/v1beta1',
                            "field": ".spec.nodes.x.hostName"}]}}


class ConflictingApplier(RecordingApplier):
    def apply(self, *args, **kwargs):
        raise api_exception(ApiException(status=409, reason="Conflict", body=json.dumps(REAL_CONFLICT)))


class Failed(Exception):
    pass


def test_nodeset_conflict_fails_naming_manager_and_field(monkeypatch):
    """The 409 a real kube-apiserver answers reaches the user as the manager and field, not as JSON."""
    monkeypatch.setattr(dataplane_nodeset, "Applier", ConflictingApplier)
    monkeypatch.setattr(dataplane_nodeset, "get_api_client", lambda module: object())
    module = FakeModule(nodeset_params())

    def fail_json(**kwargs):
        raise Failed(kwargs["msg"])

    module.fail_json = fail_json
    with pytest.raises(Failed) as failed:
        call_or_fail(module, lambda: dataplane_nodeset.run(module))
    assert str(failed.value) == ('apply conflict: field .spec.nodes.x.hostName is owned by field manager '
                                 '"other-manager" (set force_conflicts: true to take it over)')
