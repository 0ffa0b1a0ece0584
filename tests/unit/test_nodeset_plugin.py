"""The tenrec.dataplane.nodeset inventory's reading of the API, with the API's refusals built as the
``kubernetes`` dynamic client raises them (the test server has no RBAC, so 403 is tested here)."""

import json

import pytest
from ansible.errors import AnsibleParserError
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import api_exception

from ansible_collections.tenrec.dataplane.plugins.inventory import nodeset

FORBIDDEN = ('openstackdataplanenodesets.dataplane.openstack.org is forbidden: User "system:serviceaccount:awx:runner" '
             'cannot list resource "openstackdataplanenodesets" in API group "dataplane.openstack.org" in the '
             'namespace "openstack"')


def forbidden():
    body = json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "code": 403,
                       "reason": "Forbidden", "message": FORBIDDEN})
    return api_exception(ApiException(status=403, reason="Forbidden", body=body))


class Resource(object):
    def __init__(self, error):
        self.error = error

    def get(self, **_params):
        raise self.error


class Client(object):
    configuration = type("Configuration", (), {"host": "https://api.example:6443"})()

    def __init__(self, error):
        self.error = error

    def resource(self, kind, api_version):
        assert (kind, api_version) == ("OpenStackDataPlaneNodeSet", "dataplane.openstack.org/v1beta1")
        return Resource(self.error)


@pytest.fixture
def plugin(monkeypatch):
    def make(error, **options):
        monkeypatch.setattr(nodeset, "get_api_client", lambda **auth: Client(error))
        values = dict({"namespace": "openstack", "nodesets": [], "label_selector": ""}, **options)
        module = nodeset.InventoryModule()
        monkeypatch.setattr(module, "get_option", values.get)
        return module
    return make


def test_forbidden_list_names_the_kind_namespace_and_server_reason(plugin):
    with pytest.raises(AnsibleParserError) as err:
        plugin(forbidden()).fetch()
    assert str(err.value).startswith("cannot list OpenStackDataPlaneNodeSets in namespace openstack: "
                                     "the Kubernetes API refused the request (403 Forbidden): ")
    assert FORBIDDEN in str(err.value)


def test_forbidden_get_names_the_nodeset(plugin):
    with pytest.raises(AnsibleParserError) as err:
        plugin(forbidden(), nodesets=["tenrec-computes"]).fetch()
    assert str(err.value).startswith("cannot read OpenStackDataPlaneNodeSet tenrec-computes in namespace openstack: "
                                     "the Kubernetes API refused the request (403 Forbidden)")


def test_nodeset_inventory_precedence_and_names():
    obj = {"metadata": {"name": "tenrec-computes", "namespace": "openstack"},
           "spec": {"nodeTemplate": {"ansible": {"ansibleUser": "cloud-admin", "ansiblePort": 2222,
                                                 "ansibleVars": {"ansible_user": "from-vars", "x": 1}}},
                    "nodes": {"n0": {"hostName": "compute-0.example.com",
                                     "ansible": {"ansiblePort": 22, "ansibleVars": {"x": 2}},
                                     "networks": [{"name": "CtlPlane", "subnetName": "s", "fixedIP": "192.0.2.1"}]},
                              "n1": {}}}}
    inv = nodeset.nodeset_inventory(obj)
    assert inv["group"] == "tenrec_computes"
    # ansibleVars come last, as in openstack-operator: they override ansibleUser of the same section
    assert inv["vars"] == {"ansible_user": "from-vars", "ansible_port": 2222, "edpm_nodeset_name": "tenrec-computes",
                           "x": 1}
    hosts = dict((h["name"], h["vars"]) for h in inv["hosts"])
    assert hosts == {"compute-0": {"ansible_host": "compute-0.example.com", "ansible_port": 22,
                                   "ctlplane_ip": "192.0.2.1", "x": 2},
                     "n1": {"ansible_host": "n1"}}


def test_two_nodes_one_host_name_the_nodeset_and_nodes_not_the_vars():
    obj = {"metadata": {"name": "ns", "namespace": "openstack"},
           "spec": {"nodes": {"a": {"hostName": "compute-0.one", "ansible": {"ansibleVars": {"pw": "hunter2"}}},
                              "b": {"hostName": "compute-0.two"}}}}
    with pytest.raises(AnsibleParserError) as err:
        nodeset.nodeset_inventory(obj)
    assert str(err.value) == ("OpenStackDataPlaneNodeSet ns in namespace openstack: nodes a and b are both the host "
                              "compute-0 (the first label of hostName)")


@pytest.mark.parametrize("name, ok", [("nodeset.yml", True), ("inv/tenrec.nodeset.yaml", True),
                                      ("tenrec_nodeset.yml", True), ("mynodeset.yml", False),
                                      ("nodeset.json", False), ("hosts.yml", False)])
def test_verify_file_names(tmp_path, name, ok):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("plugin: tenrec.dataplane.nodeset\n")
    assert nodeset.InventoryModule().verify_file(str(path)) is ok


class Inventory(object):
    """Enough of InventoryData for populate's checks."""

    def add_group(self, name):
        return name

    def set_variable(self, *_args):
        pass

    def add_child(self, *_args):
        pass

    def add_host(self, *_args, **_kwargs):
        pass


@pytest.mark.parametrize("second, message", [
    ({"name": "a.b", "group": "a_b", "vars": {}, "hosts": [], "vars_from": []},
     "OpenStackDataPlaneNodeSet a-b and OpenStackDataPlaneNodeSet a.b (namespace openstack) are both the group a_b"),
    ({"name": "other", "group": "other", "vars": {}, "vars_from": [],
      "hosts": [{"name": "compute-0", "node": "compute-0", "vars": {"pw": "hunter2"}}]},
     "host compute-0 is in OpenStackDataPlaneNodeSet a-b and OpenStackDataPlaneNodeSet other (namespace openstack)"),
])
def test_two_nodesets_one_group_or_host(plugin, second, message):
    module = plugin(None, group="computes")
    module.inventory = Inventory()
    module.inventory.get_host = lambda name: type("Host", (), {"get_vars": lambda self: {}})()
    first = {"name": "a-b", "group": "a_b", "vars": {}, "vars_from": [],
             "hosts": [{"name": "compute-0", "node": "compute-0", "vars": {}}]}
    with pytest.raises(AnsibleParserError) as err:
        module.populate([first, second])
    assert str(err.value) == message


def test_ansible_vars_from_is_named_for_the_warning(plugin, monkeypatch):
    obj = {"metadata": {"name": "ns", "namespace": "openstack"},
           "spec": {"nodeTemplate": {"ansible": {"ansibleVarsFrom": [{"secretRef": {"name": "s"}}]}},
                    "nodes": {"a": {"ansible": {"ansibleVarsFrom": [{"configMapRef": {"name": "c"}}]}}, "b": {}}}}
    inv = nodeset.nodeset_inventory(obj)
    assert inv["vars_from"] == ["spec.nodeTemplate", "spec.nodes.a"]
    warnings = []
    monkeypatch.setattr(nodeset.display, "warning", warnings.append)
    module = plugin(None, group="computes")
    module.inventory = Inventory()
    module.inventory.get_host = lambda name: type("Host", (), {"get_vars": lambda self: {}})()
    module.populate([inv])
    assert warnings == ["OpenStackDataPlaneNodeSet ns in namespace openstack uses ansibleVarsFrom (spec.nodeTemplate, "
                        "spec.nodes.a), which the tenrec.dataplane.nodeset inventory does not read"]
