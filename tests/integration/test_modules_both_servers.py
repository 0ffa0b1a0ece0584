"""The control-plane modules through Ansible against both servers (``api_server``): the test server
and a real kube-apiserver v1.20. Everything is written through the API, and a small operator thread
(``ReadyOperator``) plays openstack-operator's part for OpenStackControlPlane: it writes ``Ready`` and
``status.observedGeneration`` through the status subresource for each new generation."""

import copy
import threading
import time

import pytest
import yaml
from kubernetes import client, config

from kube_support import CRDS, ROOT, run_play

pytestmark = pytest.mark.skipif(not CRDS.is_dir(), reason="../shared/crds is not there")

CR = yaml.safe_load((ROOT / "lab/openstackcontrolplane.yaml").read_text())
CP = ("core.openstack.org", "v1beta1", "openstack", "openstackcontrolplanes")
NS_KEY = ("dataplane.openstack.org", "v1beta1", "openstack", "openstackdataplanenodesets")


OURS = ("both-cp", "returned-cp", "dry-cp", "held-cp")  # the control planes these tests create


class ReadyOperator(threading.Thread):
    """Marks this module's OpenStackControlPlanes (``OURS``) Ready at their generation, through the
    API (list, then a merge patch of the status subresource), every ``interval`` seconds; names in
    ``hold`` are left alone (their wait must time out)."""

    def __init__(self, custom, interval=0.5):
        super().__init__(daemon=True)
        self.custom, self.interval, self.hold = custom, interval, set()
        self.halt = threading.Event()

    def run(self):
        while not self.halt.wait(self.interval):
            try:
                items = self.custom.list_namespaced_custom_object(*CP)["items"]
            except client.exceptions.ApiException:
                continue
            for obj in items:
                meta, status = obj["metadata"], obj.get("status") or {}
                if (meta["name"] not in OURS or meta["name"] in self.hold
                        or status.get("observedGeneration") == meta["generation"]):
                    continue
                now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                status = {"observedGeneration": meta["generation"], "conditions": [
                    {"type": "Ready", "status": "True", "reason": "Ready", "message": "Setup complete",
                     "lastTransitionTime": now}]}
                try:
                    self.custom.patch_namespaced_custom_object_status(*CP, meta["name"], {"status": status})
                except client.exceptions.ApiException:
                    pass


@pytest.fixture(scope="module")
def cluster(api_server, api_kubeconfig):
    custom = client.CustomObjectsApi(config.new_client_from_config(config_file=api_kubeconfig))
    operator = ReadyOperator(custom)
    operator.start()
    yield {"server": api_server, "kubeconfig": api_kubeconfig, "custom": custom, "operator": operator}
    operator.halt.set()
    operator.join()
    for name in OURS:
        try:
            custom.delete_namespaced_custom_object(*CP, name)
        except client.exceptions.ApiException:
            pass


def apply_task(cluster, definition, register="cp", **args):
    args = dict({"kubeconfig": cluster["kubeconfig"], "definition": definition, "wait_timeout": 20,
                 "wait_sleep": 1}, **args)
    return {"name": "Apply the control plane", "tenrec.dataplane.openstack_controlplane": args,
            "register": register}


def named(name, cr=None):
    out = copy.deepcopy(cr or CR)
    out["metadata"]["name"] = name
    return out


def test_controlplane_apply_waits_ready_then_reapply_is_unchanged(cluster, tmp_path):
    rc, out, res = run_play(tmp_path, [apply_task(cluster, named("both-cp"), "first"),
                                       apply_task(cluster, named("both-cp"), "second")])
    assert rc == 0, out
    assert res["first"]["changed"] is True and res["second"]["changed"] is False
    result = res["second"]["result"]
    assert result["status"]["observedGeneration"] == result["metadata"]["generation"] == 1


def test_controlplane_reapply_of_the_object_the_module_returned(cluster, tmp_path):
    """The module's ``result`` (managedFields, resourceVersion, uid, status) applied again as a
    definition: a real API server refuses managedFields in an apply body (400) and a stale
    resourceVersion (409), so the module must send neither."""
    rc, out, res = run_play(tmp_path, [apply_task(cluster, named("returned-cp"), "first")])
    assert rc == 0, out
    returned = res["first"]["result"]
    assert returned["metadata"]["managedFields"] and returned["metadata"]["resourceVersion"]
    cluster["custom"].patch_namespaced_custom_object(*CP, "returned-cp", {"metadata": {"labels": {"touched": "yes"}}})
    rc, out, res = run_play(tmp_path, [apply_task(cluster, returned, "again")])
    assert rc == 0, out
    assert res["again"]["changed"] is False


def test_controlplane_check_mode_writes_nothing(cluster, tmp_path):
    rc, out, _res = run_play(tmp_path, [apply_task(cluster, named("dry-cp"))])
    assert rc == 0, out
    before = cluster["custom"].get_namespaced_custom_object(*CP, "dry-cp")
    changed = named("dry-cp")
    changed["spec"]["storageClass"] = "ceph-rbd"
    rc, out, res = run_play(tmp_path, [apply_task(cluster, changed)], check=True, diff=True)
    assert rc == 0 and res["cp"]["changed"] is True, out
    after = cluster["custom"].get_namespaced_custom_object(*CP, "dry-cp")
    assert after["spec"]["storageClass"] == before["spec"]["storageClass"] == "local-storage"
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_controlplane_invalid_resource_surfaces_422_causes(cluster, tmp_path):
    bad = named("invalid-cp")
    del bad["spec"]["secret"]
    rc, out, _res = run_play(tmp_path, [apply_task(cluster, bad)])
    assert rc != 0
    assert "422" in out and "spec.secret: Required value" in out, out[-3000:]
    with pytest.raises(client.exceptions.ApiException):
        cluster["custom"].get_namespaced_custom_object(*CP, "invalid-cp")


def test_controlplane_timeout_names_the_generations(cluster, tmp_path):
    cluster["operator"].hold.add("held-cp")
    rc, out, _res = run_play(tmp_path, [apply_task(cluster, named("held-cp"), wait_timeout=3)])
    assert rc != 0
    assert "OpenStackControlPlane held-cp in namespace openstack is not Ready after 3 s" in out
    assert "status.observedGeneration is None, metadata.generation is 1" in out


NODES = [{"hostname": "compute-0", "ansible_host": "10.88.11.11",
          "networks": [{"name": "ctlplane", "fixed_ip": "10.88.11.11", "default_route": True}]},
         {"hostname": "compute-1", "ansible_host": "compute-1.lab",
          "networks": [{"name": "ctlplane", "fixed_ip": "10.88.11.12"}]}]


def nodeset_task(cluster, nodes, register="ns", **args):
    return {"name": "Register the nodes", "register": register, "tenrec.dataplane.dataplane_nodeset": dict(
        {"kubeconfig": cluster["kubeconfig"], "name": "tenrec-computes", "nodes": nodes}, **args)}


def test_nodeset_registers_nodes_idempotently(cluster, tmp_path):
    """Registered once, unchanged the second time; check mode adds nothing. The NodeSet is deleted
    after (the session's servers are shared: test_nodeset_inventory registers one of this name)."""
    try:
        rc, out, res = run_play(tmp_path, [nodeset_task(cluster, NODES, "first"), nodeset_task(cluster, NODES, "second"),
                                           {"name": "Read it with kubernetes.core", "register": "info",
                                            "kubernetes.core.k8s_info": {
                                                "kubeconfig": cluster["kubeconfig"], "namespace": "openstack",
                                                "api_version": "dataplane.openstack.org/v1beta1",
                                                "kind": "OpenStackDataPlaneNodeSet", "name": "tenrec-computes"}}])
        assert rc == 0, out
        assert res["first"]["changed"] is True and res["second"]["changed"] is False
        spec = res["info"]["resources"][0]["spec"]
        assert spec["preProvisioned"] is True
        assert spec["nodes"]["compute-0"]["networks"][0]["fixedIP"] == "10.88.11.11"
        assert spec["nodes"]["compute-1"]["ansible"]["ansibleHost"] == "compute-1.lab"
        more = NODES + [{"hostname": "compute-2", "networks": [{"name": "ctlplane", "fixed_ip": "10.88.11.13"}]}]
        rc, out, res = run_play(tmp_path, [nodeset_task(cluster, more)], check=True)
        assert rc == 0 and res["ns"]["changed"] is True, out
        current = cluster["custom"].get_namespaced_custom_object("dataplane.openstack.org", "v1beta1", "openstack",
                                                                 "openstackdataplanenodesets", "tenrec-computes")
        assert sorted(current["spec"]["nodes"]) == ["compute-0", "compute-1"]
    finally:
        cluster["custom"].delete_namespaced_custom_object(*NS_KEY, "tenrec-computes")


def stored_nodeset(cluster, name):
    return cluster["custom"].get_namespaced_custom_object(*NS_KEY, name)


def test_nodeset_registers_no_services_unless_given(cluster, tmp_path):
    """Without services the NodeSet holds an empty list, not the CRD's default (bootstrap ...
    reboot-os ... nova): an OpenStackDataPlaneDeployment of it runs nothing over these nodes. A list
    given is registered as is, and taking it away empties it again."""
    crd = yaml.safe_load((CRDS / "dataplane.openstack.org_openstackdataplanenodesets.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["services"]
    assert "reboot-os" in schema["default"] and "minItems" not in schema  # what an absent list would become
    name = "tenrec-services"
    rc, out, res = run_play(tmp_path, [nodeset_task(cluster, NODES, "plain", name=name)])
    assert rc == 0, out
    assert stored_nodeset(cluster, name)["spec"]["services"] == []
    assert res["plain"]["result"]["spec"]["services"] == []
    rc, out, res = run_play(tmp_path, [nodeset_task(cluster, NODES, "some", name=name, services=["ovn", "libvirt"],
                                                    force_conflicts=True),
                                       nodeset_task(cluster, NODES, "emptied", name=name)])
    assert rc == 0, out
    assert res["some"]["changed"] is True and res["some"]["result"]["spec"]["services"] == ["ovn", "libvirt"]
    assert res["emptied"]["changed"] is True
    assert stored_nodeset(cluster, name)["spec"]["services"] == []
    cluster["custom"].delete_namespaced_custom_object("dataplane.openstack.org", "v1beta1", "openstack",
                                                      "openstackdataplanenodesets", name)


def test_nodeset_bad_ip_names_node_and_field(cluster, tmp_path):
    bad = [{"hostname": "compute-9", "networks": [{"name": "ctlplane", "fixed_ip": "10.88.11.300"}]}]
    rc, out, _res = run_play(tmp_path, [nodeset_task(cluster, bad)])
    assert rc != 0
    assert "nodes[0] (compute-9).networks[ctlplane].fixed_ip: '10.88.11.300' is not an IP address" in out


def test_nodeset_slices_never_remove_each_others_nodes(cluster, tmp_path):
    """AWX job slices (or a scale-out run) register only their own nodes: one after the other and at the
    same time, every slice's nodes stay, each under its own field manager; a node no run lists any
    more stays too. A re-run of one slice changes nothing."""
    import threading
    name = "tenrec-sliced"
    slices = [[dict(NODES[0])], [dict(NODES[1])],
              [{"hostname": "compute-%d" % i, "networks": [{"name": "ctlplane", "fixed_ip": "10.88.11.%d" % (20 + i)}]}
               for i in (2, 3)],
              [{"hostname": "compute-4"}]]
    rc, out, _res = run_play(tmp_path / "s0", [nodeset_task(cluster, slices[0], name=name)])
    assert rc == 0, out
    rc, out, res = run_play(tmp_path / "s1", [nodeset_task(cluster, slices[1], name=name)])
    assert rc == 0, out
    assert res["ns"]["changed"] is True and res["ns"]["nodes"] == ["compute-1"]
    assert sorted(stored_nodeset(cluster, name)["spec"]["nodes"]) == ["compute-0", "compute-1"]
    # two slices at once
    results = {}

    def run_slice(index):
        results[index] = run_play(tmp_path / ("c%d" % index), [nodeset_task(cluster, slices[index], name=name)])

    threads = [threading.Thread(target=run_slice, args=(i,)) for i in (2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [results[i][0] for i in (2, 3)] == [0, 0], [results[i][1][-2000:] for i in (2, 3)]
    stored = stored_nodeset(cluster, name)
    assert sorted(stored["spec"]["nodes"]) == ["compute-%d" % i for i in range(5)]
    managers = {m["manager"] for m in stored["metadata"]["managedFields"]}
    assert {"tenrec-dataplane/compute-%d" % i for i in range(5)} <= managers, managers
    # a slice run again: nothing changes, in check mode or not
    for check in (True, False):
        rc, out, res = run_play(tmp_path / ("again%s" % check), [nodeset_task(cluster, slices[0], name=name)],
                                check=check)
        assert rc == 0 and res["ns"]["changed"] is False, (check, out[-2000:])
    assert sorted(stored_nodeset(cluster, name)["spec"]["nodes"]) == ["compute-%d" % i for i in range(5)]
    cluster["custom"].delete_namespaced_custom_object("dataplane.openstack.org", "v1beta1", "openstack",
                                                      "openstackdataplanenodesets", name)


def test_k8s_module_applies_a_custom_resource(cluster, tmp_path):
    """kubernetes.core.k8s itself against the server: apply, then idempotent re-apply."""
    turl = {"apiVersion": "rabbitmq.openstack.org/v1beta1", "kind": "TransportURL",
            "metadata": {"name": "k8s-module-transport", "namespace": "openstack"},
            "spec": {"rabbitmqClusterName": "rabbitmq-cell1"}}
    task = {"kubernetes.core.k8s": {"kubeconfig": cluster["kubeconfig"], "definition": turl, "apply": True}}
    rc, out, res = run_play(tmp_path, [dict(task, name="Apply", register="one"),
                                       dict(task, name="Apply again", register="two")])
    assert rc == 0, out
    assert res["one"]["changed"] is True and res["two"]["changed"] is False
    cluster["custom"].delete_namespaced_custom_object("rabbitmq.openstack.org", "v1beta1", "openstack",
                                                      "transporturls", "k8s-module-transport")


def other_manager_applies(cluster, name, nodes, manager="someone-else"):
    """Server-side apply of ``spec.nodes`` under another field manager, as another tool would."""
    from kubernetes.dynamic import DynamicClient
    dynamic = DynamicClient(cluster["custom"].api_client)
    resource = dynamic.resources.get(api_version="dataplane.openstack.org/v1beta1", kind="OpenStackDataPlaneNodeSet")
    body = {"apiVersion": "dataplane.openstack.org/v1beta1", "kind": "OpenStackDataPlaneNodeSet",
            "metadata": {"name": name, "namespace": "openstack"}, "spec": {"nodes": nodes}}
    dynamic.server_side_apply(resource, body=body, name=name, namespace="openstack", field_manager=manager,
                              force_conflicts=True)


def test_nodeset_prune_removes_a_node_the_run_leaves_out(cluster, tmp_path):
    """A node taken out of the run's nodes stays without prune (what a slice must do) and leaves the
    NodeSet with prune, changed=true; the re-run changes nothing; check mode says so first and writes
    nothing."""
    name = "tenrec-pruned"
    rc, out, res = run_play(tmp_path / "all", [nodeset_task(cluster, NODES, name=name)])
    assert rc == 0, out
    rc, out, res = run_play(tmp_path / "slice", [nodeset_task(cluster, NODES[:1], name=name)])
    assert rc == 0 and res["ns"]["changed"] is False and res["ns"]["removed"] == [], out
    assert sorted(stored_nodeset(cluster, name)["spec"]["nodes"]) == ["compute-0", "compute-1"]
    rc, out, res = run_play(tmp_path / "dry", [nodeset_task(cluster, NODES[:1], name=name, prune=True)], check=True)
    assert rc == 0 and res["ns"]["changed"] is True and res["ns"]["removed"] == ["compute-1"], out
    assert sorted(res["ns"]["result"]["spec"]["nodes"]) == ["compute-0"]
    assert sorted(stored_nodeset(cluster, name)["spec"]["nodes"]) == ["compute-0", "compute-1"]
    rc, out, res = run_play(tmp_path / "prune", [nodeset_task(cluster, NODES[:1], name=name, prune=True),
                                                 nodeset_task(cluster, NODES[:1], "again", name=name, prune=True)])
    assert rc == 0, out
    assert res["ns"]["changed"] is True and res["ns"]["removed"] == ["compute-1"]
    assert res["again"]["changed"] is False and res["again"]["removed"] == []
    stored = stored_nodeset(cluster, name)
    assert sorted(stored["spec"]["nodes"]) == ["compute-0"]
    assert "tenrec-dataplane/compute-1" not in {m["manager"] for m in stored["metadata"]["managedFields"]}
    cluster["custom"].delete_namespaced_custom_object(*NS_KEY, name)


def test_nodeset_absent_nodes_removes_only_the_named_node(cluster, tmp_path):
    """Scale in: a run over the remaining nodes with absent_nodes removes that node and keeps a node
    another run (a slice) registered; check mode says so first and writes nothing; the re-run
    changes nothing; naming a node in both lists fails before any request."""
    name = "tenrec-scaled-in"
    three = NODES + [{"hostname": "compute-2", "ansible_host": "10.88.11.13",
                      "networks": [{"name": "ctlplane", "fixed_ip": "10.88.11.13"}]}]
    rc, out, res = run_play(tmp_path / "all", [nodeset_task(cluster, three[:2], name=name),
                                               nodeset_task(cluster, three[2:], "slice", name=name)])
    assert rc == 0, out
    assert sorted(stored_nodeset(cluster, name)["spec"]["nodes"]) == ["compute-0", "compute-1", "compute-2"]
    rc, out, res = run_play(tmp_path / "dry", [nodeset_task(cluster, NODES[:1], name=name, absent_nodes=["compute-1"])],
                            check=True)
    assert rc == 0 and res["ns"]["changed"] is True and res["ns"]["removed"] == ["compute-1"], out
    assert sorted(stored_nodeset(cluster, name)["spec"]["nodes"]) == ["compute-0", "compute-1", "compute-2"]
    rc, out, res = run_play(tmp_path / "in", [nodeset_task(cluster, NODES[:1], name=name, absent_nodes=["compute-1"]),
                                              nodeset_task(cluster, NODES[:1], "again", name=name,
                                                           absent_nodes=["compute-1"])])
    assert rc == 0, out
    assert res["ns"]["changed"] is True and res["ns"]["removed"] == ["compute-1"]
    assert res["again"]["changed"] is False and res["again"]["removed"] == []
    assert sorted(stored_nodeset(cluster, name)["spec"]["nodes"]) == ["compute-0", "compute-2"]
    rc, out, _res = run_play(tmp_path / "both", [nodeset_task(cluster, NODES[:1], name=name, absent_nodes=["compute-0"])])
    assert rc != 0 and "absent_nodes and nodes both name compute-0" in out, out[-2000:]
    cluster["custom"].delete_namespaced_custom_object(*NS_KEY, name)


def test_nodeset_field_of_another_manager_fails_naming_it_unless_forced(cluster, tmp_path):
    """Another tool owns a node's ansibleUser with another value: the module fails naming that manager
    and the field; force_conflicts takes it over. Prune will not remove a node another manager holds."""
    name = "tenrec-conflict"
    rc, out, _res = run_play(tmp_path / "first", [nodeset_task(cluster, NODES, name=name)])
    assert rc == 0, out
    other_manager_applies(cluster, name, {"compute-0": {"hostName": "compute-0", "ansible": {"ansibleUser": "zuul"}}})
    rc, out, _res = run_play(tmp_path / "conflict", [nodeset_task(cluster, NODES, name=name)])
    assert rc != 0
    assert 'someone-else' in out and ".spec.nodes.compute-0.ansible.ansibleUser" in out, out[-3000:]
    assert "force_conflicts" in out
    rc, out, res = run_play(tmp_path / "force", [nodeset_task(cluster, NODES, name=name, force_conflicts=True)])
    assert rc == 0 and res["ns"]["changed"] is True, out
    assert stored_nodeset(cluster, name)["spec"]["nodes"]["compute-0"]["ansible"]["ansibleUser"] == "root"
    other_manager_applies(cluster, name, {"compute-9": {"hostName": "compute-9"}})
    rc, out, _res = run_play(tmp_path / "prune", [nodeset_task(cluster, NODES, name=name, prune=True)])
    assert rc != 0
    assert "node compute-9 of NodeSet tenrec-conflict is also held by other field managers: someone-else (Apply)" in out
    assert "compute-9" in stored_nodeset(cluster, name)["spec"]["nodes"]
    cluster["custom"].delete_namespaced_custom_object(*NS_KEY, name)
