"""The tenrec.dataplane.nodeset inventory: ansible-inventory against the test API server, whose
CRDs are the real ones (every NodeSet here is validated by the server against the CRD's schema)."""

import copy
import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml
from kubernetes import client, config

from kube_support import CRDS, ROOT

pytestmark = pytest.mark.skipif(not CRDS.is_dir(), reason="../shared/crds is not there")

GROUP, VERSION, PLURAL = "dataplane.openstack.org", "v1beta1", "openstackdataplanenodesets"
NAMESPACE = "tenrec-inventory"  # a namespace of its own: other tests' NodeSets never show up here
SECRET = "s3cr3t-value-in-ansibleVars"

COMPUTES = {
    "apiVersion": "%s/%s" % (GROUP, VERSION), "kind": "OpenStackDataPlaneNodeSet",
    "metadata": {"name": "tenrec-computes", "labels": {"tenrec/site": "dc1"}},
    "spec": {
        "preProvisioned": True,
        "services": [],
        "nodeTemplate": {
            "ansibleSSHPrivateKeySecret": "dataplane-ansible-ssh-private-key-secret",
            "ansible": {"ansibleUser": "cloud-admin", "ansiblePort": 2222,
                        "ansibleVars": {"rack": "r1", "edpm_role": "compute", "tenrec_secret": SECRET,
                                        "nested": {"a": [1, 2]}, "tenrec_template": "{{ 'ren' ~ 'dered' }}"}},
            "networks": [{"name": "ctlplane", "subnetName": "subnet1"}],
        },
        "nodes": {
            # every field set on the node: the node's values win over the template's
            "compute-0": {"hostName": "compute-0.example.com",
                          "ansible": {"ansibleHost": "192.0.2.10", "ansibleUser": "root", "ansiblePort": 22,
                                      "ansibleVars": {"rack": "r2", "only_here": True}},
                          "networks": [{"name": "ctlplane", "subnetName": "subnet1", "fixedIP": "192.0.2.10",
                                        "defaultRoute": True},
                                       {"name": "InternalApi", "subnetName": "subnet1", "fixedIP": "172.17.0.10"}]},
            # nothing but a hostName: ansible_host is the hostName, user and port the template's
            "compute-1": {"hostName": "compute-1"},
            # no hostName either: host and ansible_host are the key
            "compute-2": {},
        },
    },
}
EDGE = {
    "apiVersion": "%s/%s" % (GROUP, VERSION), "kind": "OpenStackDataPlaneNodeSet",
    "metadata": {"name": "edge.computes", "labels": {"tenrec/site": "dc2"}},
    "spec": {
        "preProvisioned": True,
        "services": [],
        "nodeTemplate": {"ansibleSSHPrivateKeySecret": "edge-key"},
        "nodes": {"edge-0": {"hostName": "edge-0", "ansible": {"ansibleHost": "198.51.100.7"}}},
    },
}


@pytest.fixture(scope="module")
def server(api_server):
    """This module's tests run on both servers: the test server, then a real kube-apiserver."""
    return api_server


@pytest.fixture(scope="module")
def kubeconfig(api_kubeconfig):
    return api_kubeconfig


@pytest.fixture(scope="module")
def api(server, kubeconfig):
    """The two NodeSets in their namespace; a CustomObjectsApi to change them."""
    api_client = config.new_client_from_config(config_file=kubeconfig)
    try:
        client.CoreV1Api(api_client).create_namespace({"metadata": {"name": NAMESPACE}})
    except client.exceptions.ApiException as exc:
        if exc.status != 409:  # there already (the session's server, a second module run)
            raise
    custom = client.CustomObjectsApi(config.new_client_from_config(config_file=kubeconfig))
    for body in (COMPUTES, EDGE):
        custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, copy.deepcopy(body))
    yield custom
    for body in (COMPUTES, EDGE):
        custom.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, body["metadata"]["name"])


def ansible_inventory(tmp_path, options, *args, name="tenrec.nodeset.yml", env_extra=None):
    """Run ``ansible-inventory -i <file> <args>`` with ``options`` as the inventory file.

    :returns: ``(rc, stdout, stderr)``.
    """
    path = tmp_path / name
    path.write_text(yaml.safe_dump(dict({"plugin": "tenrec.dataplane.nodeset"}, **options)))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"),
               # a source that fails to parse is an error, not a warning and an empty inventory
               ANSIBLE_INVENTORY_UNPARSED_FAILED="true", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_CALLBACKS_ENABLED="")
    for key in [k for k in env if k.startswith("K8S_AUTH_")]:
        del env[key]
    env.update(env_extra or {})
    exe = shutil.which("ansible-inventory", path=os.path.dirname(sys.executable)) or "ansible-inventory"
    proc = subprocess.run([exe, "-i", str(path)] + list(args), capture_output=True, text=True, env=env,
                          timeout=120, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def plain(value):
    """``value`` without ansible-inventory's ``{"__ansible_unsafe": ...}`` wrapping: the plugin leaves
    the API's values untrusted (never templated), and --list shows every such string wrapped."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return dict((k, plain(v)) for k, v in value.items())
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def listed(tmp_path, options, *args):
    rc, out, err = ansible_inventory(tmp_path, options, "--list", *args)
    assert rc == 0, err
    return plain(json.loads(out))


def hosts_of(data, group):
    """Hosts of ``group`` and of its descendants in ``--list`` output."""
    entry = data.get(group) or {}
    found = set(entry.get("hosts") or [])
    for child in entry.get("children") or []:
        found |= hosts_of(data, child)
    return found


def base(kubeconfig, **extra):
    return dict({"kubeconfig": kubeconfig, "namespace": NAMESPACE}, **extra)


def test_groups_hosts_and_variable_precedence(api, kubeconfig, tmp_path):
    data = listed(tmp_path, base(kubeconfig))
    # NodeSet groups, sanitized, both under computes
    assert sorted(data["computes"]["children"]) == ["edge_computes", "tenrec_computes"]
    assert sorted(data["tenrec_computes"]["hosts"]) == ["compute-0", "compute-1", "compute-2"]
    assert data["edge_computes"]["hosts"] == ["edge-0"]
    assert hosts_of(data, "computes") == {"compute-0", "compute-1", "compute-2", "edge-0"}
    hostvars = data["_meta"]["hostvars"]
    # --list flattens group vars into hostvars: what each host really gets
    c0, c1, c2, e0 = (hostvars[h] for h in ("compute-0", "compute-1", "compute-2", "edge-0"))
    assert (c0["ansible_host"], c0["ansible_user"], c0["ansible_port"]) == ("192.0.2.10", "root", 22)
    assert (c1["ansible_host"], c1["ansible_user"], c1["ansible_port"]) == ("compute-1", "cloud-admin", 2222)
    assert (c2["ansible_host"], c2["ansible_user"], c2["ansible_port"]) == ("compute-2", "cloud-admin", 2222)
    assert e0["ansible_host"] == "198.51.100.7" and "ansible_user" not in e0 and "ansible_port" not in e0
    assert c0["rack"] == "r2" and c0["only_here"] is True and c1["rack"] == "r1" and "only_here" not in c1
    assert c1["nested"] == {"a": [1, 2]} and c1["edpm_role"] == "compute"
    assert c0["ctlplane_ip"] == "192.0.2.10" and c0["internalapi_ip"] == "172.17.0.10"
    assert "ctlplane_ip" not in c1
    assert c0["edpm_nodeset_name"] == "tenrec-computes" and e0["edpm_nodeset_name"] == "edge.computes"
    assert "rack" not in e0


def test_group_vars_and_host_vars_stay_apart(api, kubeconfig, tmp_path):
    """--export keeps the structure: the template's values on the NodeSet's group, the node's on the host.
    The API's strings are untrusted: a template among them stays text."""
    rc, out, err = ansible_inventory(tmp_path, base(kubeconfig), "--list", "--export")
    assert rc == 0, err
    raw = json.loads(out)
    assert raw["tenrec_computes"]["vars"]["tenrec_template"] == {"__ansible_unsafe": "{{ 'ren' ~ 'dered' }}"}
    data = plain(raw)
    group = data["tenrec_computes"]["vars"]
    assert group["ansible_user"] == "cloud-admin" and group["ansible_port"] == 2222 and group["rack"] == "r1"
    host = data["_meta"]["hostvars"]["compute-0"]
    assert host["ansible_user"] == "root" and host["rack"] == "r2"
    assert "ansible_user" not in data["_meta"]["hostvars"]["compute-1"]


def test_nodesets_label_selector_and_group_option(api, kubeconfig, tmp_path):
    data = listed(tmp_path, base(kubeconfig, nodesets=["edge.computes"], group="edpm"))
    assert data["edpm"]["children"] == ["edge_computes"] and "tenrec_computes" not in data
    assert "computes" not in data
    data = listed(tmp_path, base(kubeconfig, label_selector="tenrec/site=dc1"))
    assert data["computes"]["children"] == ["tenrec_computes"]
    data = listed(tmp_path, base(kubeconfig, group=""))
    assert "computes" not in data and set(data["all"]["children"]) >= {"tenrec_computes", "edge_computes"}


def test_missing_nodeset_fails_naming_it(api, kubeconfig, tmp_path):
    rc, _out, err = ansible_inventory(tmp_path, base(kubeconfig, nodesets=["tenrec-computes", "missing"]), "--list")
    assert rc != 0
    assert "OpenStackDataPlaneNodeSet missing not found in namespace %s" % NAMESPACE in err
    rc, _out, err = ansible_inventory(
        tmp_path, base(kubeconfig, nodesets=["edge.computes"], label_selector="tenrec/site=dc1"), "--list")
    assert rc != 0
    assert ("OpenStackDataPlaneNodeSet edge.computes in namespace %s does not match label_selector tenrec/site=dc1"
            % NAMESPACE) in err


def test_refused_credentials_fail_without_the_variables(api, server, tmp_path):
    wrong = server.write_kubeconfig(str(tmp_path / "wrong"), token="not-the-token")
    rc, out, err = ansible_inventory(tmp_path, base(wrong), "--list")
    assert rc != 0
    assert "authentication to the Kubernetes API failed (401 Unauthorized)" in err
    assert SECRET not in err and SECRET not in out


def test_constructed_options(api, kubeconfig, tmp_path):
    data = listed(tmp_path, base(kubeconfig, compose={"tenrec_where": "rack ~ '-' ~ ansible_host"},
                                 groups={"root_login": "ansible_user | default('') == 'root'"},
                                 keyed_groups=[{"key": "rack", "prefix": "rack", "default_value": "none"}]))
    assert data["_meta"]["hostvars"]["compute-0"]["tenrec_where"] == "r2-192.0.2.10"
    assert data["_meta"]["hostvars"]["compute-1"]["tenrec_where"] == "r1-compute-1"
    assert data["root_login"]["hosts"] == ["compute-0"]
    assert data["rack_r2"]["hosts"] == ["compute-0"]
    assert sorted(data["rack_r1"]["hosts"]) == ["compute-1", "compute-2"]


def test_graph_shows_the_hosts_under_computes(api, kubeconfig, tmp_path):
    rc, out, err = ansible_inventory(tmp_path, base(kubeconfig), "--graph", "computes")
    assert rc == 0, err
    lines = [line.strip(" |-") for line in out.splitlines()]
    assert lines[0] == "@computes:"
    for name in ("@tenrec_computes:", "compute-0", "compute-1", "compute-2", "@edge_computes:", "edge-0"):
        assert name in lines, out


def test_cache_serves_the_second_run(api, server, kubeconfig, tmp_path):
    """With cache on, the second run reads the cache: a changed object and an unreachable API do not
    show; --flush-cache reads the API again."""
    cache_dir = tmp_path / "cache"
    moving = copy.deepcopy(EDGE)
    moving["metadata"]["name"] = "cached"
    api.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, moving)
    try:
        kc = tmp_path / "kubeconfig"
        shutil.copy(kubeconfig, kc)
        options = base(str(kc), nodesets=["cached"], cache=True, cache_plugin="ansible.builtin.jsonfile",
                       cache_connection=str(cache_dir), cache_timeout=3600)
        first = listed(tmp_path, options)
        assert first["_meta"]["hostvars"]["edge-0"]["ansible_host"] == "198.51.100.7"
        assert len(list(cache_dir.iterdir())) == 1
        api.patch_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, "cached", {
            "spec": {"nodes": {"edge-0": {"ansible": {"ansibleHost": "198.51.100.99"}}}}})
        # the API down: the kubeconfig now points at a port nothing listens on
        down = yaml.safe_load(kc.read_text())
        down["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
        kc.write_text(yaml.safe_dump(down))
        second = listed(tmp_path, options)
        assert second == first
        rc, _out, err = ansible_inventory(tmp_path, options, "--list", "--flush-cache")
        assert rc != 0 and "cannot reach the Kubernetes API" in err, err
        shutil.copy(kubeconfig, kc)  # the API back
        third = listed(tmp_path, options)
        assert third["_meta"]["hostvars"]["edge-0"]["ansible_host"] == "198.51.100.7"  # still the cache
        fresh = listed(tmp_path, options, "--flush-cache")
        assert fresh["_meta"]["hostvars"]["edge-0"]["ansible_host"] == "198.51.100.99"
        assert listed(tmp_path, options) == fresh  # the flush refreshed the cache
    finally:
        api.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, "cached")


def test_file_names_the_plugin_accepts(api, kubeconfig, tmp_path):
    for name in ("nodeset.yml", "tenrec_nodeset.yaml", "lab.nodeset.yml"):
        rc, out, err = ansible_inventory(tmp_path, base(kubeconfig), "--list", name=name)
        assert rc == 0, (name, err)
        assert "edge-0" in json.loads(out)["_meta"]["hostvars"], name
    rc, _out, err = ansible_inventory(tmp_path, base(kubeconfig), "--list", name="computes.yml")
    assert rc != 0 and "tenrec.dataplane.nodeset" in err


def test_auth_from_k8s_auth_environment(api, kubeconfig, tmp_path):
    """No auth option in the file: kubernetes.core's K8S_AUTH_* variables (an AWX Kubernetes credential's)."""
    rc, out, err = ansible_inventory(tmp_path, {"namespace": NAMESPACE, "nodesets": ["edge.computes"]}, "--list",
                                     env_extra={"K8S_AUTH_KUBECONFIG": kubeconfig})
    assert rc == 0, err
    assert plain(json.loads(out))["_meta"]["hostvars"]["edge-0"]["ansible_host"] == "198.51.100.7"


def test_lab_example_file(server, kubeconfig, tmp_path):
    """inventories/lab-nodeset/tenrec.nodeset.yml, pointed at the test server, on a NodeSet shaped as
    playbooks/controlplane.yml registers the lab's (namespace openstack, the plugin's default)."""
    options = yaml.safe_load((ROOT / "inventories/lab-nodeset/tenrec.nodeset.yml").read_text())
    assert options.pop("plugin") == "tenrec.dataplane.nodeset" and options["kubeconfig"] == "lab/state/kubeconfig"
    options["kubeconfig"] = kubeconfig
    node = {"hostName": "tenrec-lab-cmp-0", "ansible": {"ansibleHost": "10.88.20.11", "ansibleUser": "cloud-admin",
                                                        "ansiblePort": 22},
            "networks": [{"name": "ctlplane", "subnetName": "subnet1", "fixedIP": "10.88.20.11", "defaultRoute": True}]}
    lab = {"apiVersion": "%s/%s" % (GROUP, VERSION), "kind": "OpenStackDataPlaneNodeSet",
           "metadata": {"name": "tenrec-computes"},
           "spec": {"preProvisioned": True, "services": [], "nodes": {"tenrec-lab-cmp-0": node},
                    "nodeTemplate": {"ansibleSSHPrivateKeySecret": "dataplane-ansible-ssh-private-key-secret"}}}
    custom = client.CustomObjectsApi(config.new_client_from_config(config_file=kubeconfig))
    custom.create_namespaced_custom_object(GROUP, VERSION, "openstack", PLURAL, lab)
    try:
        data = listed(tmp_path, options)
    finally:
        custom.delete_namespaced_custom_object(GROUP, VERSION, "openstack", PLURAL, "tenrec-computes")
    assert data["computes"]["children"] == ["tenrec_computes"]
    host = data["_meta"]["hostvars"]["tenrec-lab-cmp-0"]
    assert host["ansible_become"] is True and host["tenrec_lab_ip"] == "10.88.20.11"
    assert host["ansible_ssh_private_key_file"] == "lab/state/ssh/id_ed25519"
    assert (host["ansible_host"], host["ansible_user"], host["ansible_port"]) == ("10.88.20.11", "cloud-admin", 22)
