"""cell_discover_hosts' pods/exec failures on a real kube-apiserver (v1.20, no kubelet), as a user meets
them on a cluster: an exec the user's RBAC does not allow (403) and an exec into a Pod no node runs
(400). The module must print the server's own words, not ``Kubernetes API error 0: None``.

A kube-apiserver of its own, with ``--authorization-mode=RBAC`` and a user ``tenrec-reader`` who may
read Pods but not create ``pods/exec``; the conductor Pod is made ``Running`` through ``pods/status``
(there is no kubelet to do it), so the module gets as far as the exec.
"""

import pytest
from kubernetes import client, config

from kube_support import run_play
from real_kubeapi import RealKubeAPIServer

NS = "openstack"
READER = "tenrec-reader-token"
POD = "nova-cell1-conductor-0"


@pytest.fixture(scope="module")
def rbac(real_kubeapi, tmp_path_factory):
    """An RBAC kube-apiserver (the session's real one shows the build is there), its admin client."""
    del real_kubeapi  # only for the skip/fail when the real server is not built, and the real lane
    server = RealKubeAPIServer(state_dir=str(tmp_path_factory.mktemp("kube-rbac")), namespaces=("default", NS),
                               authorization_mode="RBAC",
                               users={READER: ("tenrec-reader", ["tenrec-readers"])}).start()
    admin = config.new_client_from_config(config_file=server.write_kubeconfig(
        str(tmp_path_factory.mktemp("kc-rbac-admin") / "kubeconfig")))
    rbac_api = client.RbacAuthorizationV1Api(admin)
    rbac_api.create_namespaced_role(NS, {"metadata": {"name": "pod-reader"}, "rules": [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]})
    rbac_api.create_namespaced_role_binding(NS, {
        "metadata": {"name": "pod-reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "tenrec-readers"}]})
    yield server, client.CoreV1Api(admin)
    server.stop()


def running_pod(core, name, node=None):
    """A conductor Pod, made Running through pods/status; on ``node`` when given (never runs there)."""
    spec = {"containers": [{"name": name, "image": "nova-conductor"}]}
    if node:
        spec["nodeName"] = node
    core.create_namespaced_pod(NS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})
    core.patch_namespaced_pod_status(name, NS, {"status": {"phase": "Running", "containerStatuses": [
        {"name": name, "ready": True, "restartCount": 0, "image": "nova-conductor", "imageID": "",
         "state": {"running": {"startedAt": "2026-12-04T00:00:00Z"}}}]}})


def discover(tmp_path, kubeconfig, pod):
    return run_play(tmp_path, [{"name": "Discover", "register": "found", "tenrec.dataplane.cell_discover_hosts": {
        "kubeconfig": kubeconfig, "namespace": NS, "pod": pod, "container": pod, "hosts": ["compute-0"],
        "timeout": 20, "delay": 1}}])


def test_exec_without_permission_gives_the_servers_reason(rbac, tmp_path):
    server, core = rbac
    running_pod(core, POD, node="worker-0")
    try:
        kubeconfig = server.write_kubeconfig(str(tmp_path / "reader"), token=READER)
        rc, out, _res = discover(tmp_path, kubeconfig, POD)
        assert rc != 0
        assert "Kubernetes API error 0" not in out, out[-2000:]
        # the server's own words (the exec is a WebSocket GET, so RBAC names the verb get)
        assert ('pods "%s" is forbidden: User "tenrec-reader" cannot get resource "pods/exec"' % POD) in out, out[-2000:]
        assert "403 Forbidden" in out
    finally:
        core.delete_namespaced_pod(POD, NS)


def test_exec_into_a_pod_without_a_node_gives_the_servers_reason(rbac, tmp_path):
    server, core = rbac
    name = "nova-cell2-conductor-0"
    running_pod(core, name)
    try:
        kubeconfig = server.write_kubeconfig(str(tmp_path / "admin"))
        rc, out, _res = discover(tmp_path, kubeconfig, name)
        assert rc != 0
        assert "Kubernetes API error 0" not in out, out[-2000:]
        assert "does not have a host assigned" in out, out[-2000:]
    finally:
        core.delete_namespaced_pod(name, NS)
