"""openstack_controlplane and dataplane_nodeset through Ansible against the test API server, with the
lab's stand-in operator reporting Ready from real TCP probes."""

import copy
import re
import socket
import time

import pytest
import yaml
from kubernetes import client, config

from kube_support import CRDS, ROOT, run_play
from kubeapi import KubeAPIServer
from kubeapi.labop import Reconciler

pytestmark = pytest.mark.skipif(not CRDS.is_dir(), reason="../shared/crds is not there")

CR = yaml.safe_load((ROOT / "lab/openstackcontrolplane.yaml").read_text())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A server of its own, an operator whose probes the tests set, and a live TCP listener."""
    server = KubeAPIServer(crd_dir=str(CRDS), state_dir=str(tmp_path_factory.mktemp("kubeapi")),
                           namespaces=("openstack",)).start()
    kubeconfig = server.write_kubeconfig(str(tmp_path_factory.mktemp("kc") / "kubeconfig"))
    listener = socket.create_server(("127.0.0.1", 0))
    operator = Reconciler(server, [], interval=0.5)
    operator.start()
    api = config.new_client_from_config(config_file=kubeconfig)
    yield {"server": server, "kubeconfig": kubeconfig, "operator": operator, "custom": client.CustomObjectsApi(api),
           "up": ("Keystone", "127.0.0.1", listener.getsockname()[1])}
    operator.stop()
    listener.close()
    server.stop()


def apply_task(cluster, definition, **args):
    args = dict({"kubeconfig": cluster["kubeconfig"], "definition": definition, "wait_timeout": 20,
                 "wait_sleep": 1}, **args)
    return {"name": "Apply the control plane", "tenrec.dataplane.openstack_controlplane": args, "register": "cp"}


def stored(cluster, name="openstack"):
    return cluster["custom"].get_namespaced_custom_object("core.openstack.org", "v1beta1", "openstack",
                                                          "openstackcontrolplanes", name)


def test_apply_waits_ready_then_reapply_is_unchanged(cluster, tmp_path):
    cluster["operator"].probes = [cluster["up"]]
    rc, out, res = run_play(tmp_path, [apply_task(cluster, CR)])
    assert rc == 0, out
    assert res["cp"]["changed"] is True
    assert res["cp"]["result"]["status"]["observedGeneration"] == res["cp"]["result"]["metadata"]["generation"]
    assert res["cp"]["conditions"] == []
    rc, out, res = run_play(tmp_path, [apply_task(cluster, CR)])
    assert rc == 0 and res["cp"]["changed"] is False, out
    assert stored(cluster)["metadata"]["generation"] == 1


def test_verify_only_through_the_k8s_group_defaults(cluster, tmp_path):
    """module_defaults: group/tenrec.dataplane.k8s carries the connection; with only a name the
    module verifies (Ready, nothing written) and names a resource that is not there."""
    cluster["operator"].probes = [cluster["up"]]
    defaults = {"group/tenrec.dataplane.k8s": {"kubeconfig": cluster["kubeconfig"], "namespace": "openstack"}}
    generation = stored(cluster)["metadata"]["generation"]
    tasks = [{"name": "Verify", "register": "verified", "module_defaults": defaults,
              "tenrec.dataplane.openstack_controlplane": {"name": "openstack", "wait_timeout": 10, "wait_sleep": 1}},
             {"name": "Verify one that is not there", "register": "missing", "module_defaults": defaults,
              "tenrec.dataplane.openstack_controlplane": {"name": "nope", "wait_timeout": 5}}]
    rc, out, res = run_play(tmp_path, tasks)
    assert rc != 0
    assert res["verified"]["changed"] is False and res["verified"]["conditions"] == [], out
    assert "OpenStackControlPlane nope not found in namespace openstack" in out
    assert stored(cluster)["metadata"]["generation"] == generation


def test_check_mode_writes_nothing_and_diff_shows_spec(cluster, tmp_path):
    cluster["operator"].probes = [cluster["up"]]
    changed = copy.deepcopy(CR)
    changed["spec"]["storageClass"] = "ceph-rbd"
    before = stored(cluster)
    rc, out, res = run_play(tmp_path, [apply_task(cluster, changed)], check=True, diff=True)
    assert rc == 0, out
    assert res["cp"]["changed"] is True
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert re.search(r"^-\s+storageClass: local-storage$", plain, re.M), plain
    assert re.search(r"^\+\s+storageClass: ceph-rbd$", plain, re.M)
    after = stored(cluster)
    assert after["spec"]["storageClass"] == "local-storage"
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_timeout_lists_conditions_that_are_not_true(cluster, tmp_path):
    cluster["operator"].probes = [cluster["up"], ("RabbitMQ", "127.0.0.1", 1)]
    changed = copy.deepcopy(CR)
    changed["metadata"]["name"] = "broken"
    rc, out, res = run_play(tmp_path, [apply_task(cluster, changed, wait_timeout=4)])
    assert rc != 0
    assert "OpenStackControlPlane broken in namespace openstack is not Ready after 4 s" in out
    assert "OpenStackControlPlaneRabbitMQReady=False (Error): RabbitMQ 127.0.0.1:1 unreachable" in out
    assert "Ready=False" in out and "OpenStackControlPlaneKeystoneReady" not in out
    assert res["cp"]["failed"] is True


def ready_of(obj):
    status = obj.get("status") or {}
    return status.get("observedGeneration"), [c["status"] for c in status.get("conditions") or []
                                              if c["type"] == "Ready"]


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_stand_in_operator_reconciles_each_generation_then_leaves_it(cluster, tmp_path):
    """The lab's operator brings a new generation to Ready; a service failing later does not flip it
    (that is the prechecks' job); a spec change is reconciled again and sees the failure."""
    cluster["operator"].probes = [cluster["up"]]
    later = copy.deepcopy(CR)
    later["metadata"]["name"] = "later"
    rc, out, res = run_play(tmp_path, [apply_task(cluster, later)])
    assert rc == 0, out
    assert ready_of(stored(cluster, "later")) == (1, ["True"])
    cluster["operator"].probes = [cluster["up"], ("RabbitMQ", "127.0.0.1", 1)]
    time.sleep(3 * cluster["operator"].interval)
    assert ready_of(stored(cluster, "later")) == (1, ["True"])
    later["spec"]["storageClass"] = "ceph-rbd"
    rc, out, res = run_play(tmp_path, [apply_task(cluster, later, wait_timeout=3)])
    assert rc != 0 and "OpenStackControlPlaneRabbitMQReady=False" in out, out
    assert wait_for(lambda: ready_of(stored(cluster, "later")) == (2, ["False"]))
    cluster["operator"].probes = [cluster["up"]]
    assert wait_for(lambda: ready_of(stored(cluster, "later")) == (2, ["True"]))
    cluster["custom"].delete_namespaced_custom_object("core.openstack.org", "v1beta1", "openstack",
                                                      "openstackcontrolplanes", "later")


def test_invalid_resource_surfaces_422_causes(cluster, tmp_path):
    bad = copy.deepcopy(CR)
    bad["metadata"]["name"] = "invalid"
    del bad["spec"]["secret"]
    bad["spec"]["nova"]["template"]["cellTemplates"]["cell1"]["messagingBus"] = {}
    rc, out, _res = run_play(tmp_path, [apply_task(cluster, bad)])
    assert rc != 0
    assert "422" in out and "spec.secret: Required value" in out
    assert "spec.nova.template.cellTemplates.cell1.messagingBus.cluster: Required value" in out
    with pytest.raises(client.exceptions.ApiException):
        stored(cluster, "invalid")


def test_absent_deletes_and_k8s_info_agrees(cluster, tmp_path):
    cluster["operator"].probes = [cluster["up"]]
    tasks = [
        {"name": "Delete", "register": "gone", "tenrec.dataplane.openstack_controlplane": {
            "kubeconfig": cluster["kubeconfig"], "name": "broken", "state": "absent", "wait_timeout": 10}},
        {"name": "Delete again", "register": "again", "tenrec.dataplane.openstack_controlplane": {
            "kubeconfig": cluster["kubeconfig"], "name": "broken", "state": "absent"}},
        {"name": "List with kubernetes.core", "register": "listing", "kubernetes.core.k8s_info": {
            "kubeconfig": cluster["kubeconfig"], "api_version": "core.openstack.org/v1beta1",
            "kind": "OpenStackControlPlane", "namespace": "openstack"}},
    ]
    rc, out, res = run_play(tmp_path, tasks)
    assert rc == 0, out
    assert res["gone"]["changed"] is True and res["again"]["changed"] is False
    assert [r["metadata"]["name"] for r in res["listing"]["resources"]] == ["openstack"]
    ready = [c for c in res["listing"]["resources"][0]["status"]["conditions"] if c["type"] == "Ready"]
    assert ready and ready[0]["status"] == "True"


NODES = [{"hostname": "compute-0", "ansible_host": "10.88.11.11",
          "networks": [{"name": "ctlplane", "fixed_ip": "10.88.11.11", "default_route": True}]},
         {"hostname": "compute-1", "ansible_host": "compute-1.lab",
          "networks": [{"name": "ctlplane", "fixed_ip": "10.88.11.12"}]}]


def nodeset_task(cluster, nodes, register="ns", **args):
    return {"name": "Register the nodes", "register": register, "tenrec.dataplane.dataplane_nodeset": dict(
        {"kubeconfig": cluster["kubeconfig"], "name": "tenrec-computes", "nodes": nodes}, **args)}


def test_nodeset_registers_nodes_idempotently(cluster, tmp_path):
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


def stored_nodeset(cluster, name):
    return cluster["custom"].get_namespaced_custom_object("dataplane.openstack.org", "v1beta1", "openstack",
                                                          "openstackdataplanenodesets", name)


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


def test_k8s_module_applies_a_custom_resource(cluster, tmp_path):
    """kubernetes.core.k8s itself against the server: apply, then idempotent re-apply."""
    turl = {"apiVersion": "rabbitmq.openstack.org/v1beta1", "kind": "TransportURL",
            "metadata": {"name": "nova-cell1-transport", "namespace": "openstack"},
            "spec": {"rabbitmqClusterName": "rabbitmq-cell1"}}
    task = {"kubernetes.core.k8s": {"kubeconfig": cluster["kubeconfig"], "definition": turl, "apply": True}}
    rc, out, res = run_play(tmp_path, [dict(task, name="Apply", register="one"),
                                       dict(task, name="Apply again", register="two")])
    assert rc == 0, out
    assert res["one"]["changed"] is True and res["two"]["changed"] is False


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
