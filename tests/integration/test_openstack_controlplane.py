"""openstack_controlplane through Ansible against the test API server, with the lab's stand-in
operator reporting Ready from real TCP probes. The stand-in reaches into the test server's store, so
these run on the test server only; test_modules_both_servers.py runs the modules against a real
kube-apiserver too."""

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

pytestmark = [pytest.mark.skipif(not CRDS.is_dir(), reason="../shared/crds is not there"),
              pytest.mark.test_server_only("the lab's stand-in operator (kubeapi.labop) writes into the test "
                                           "server's store")]

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
