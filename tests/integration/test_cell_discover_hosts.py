"""pods/exec through the test API server (as kubectl exec reaches a container), and the failures of
cell_discover_hosts a user meets on a cluster: no conductor Pod, nova-manage failing in it. The
successful discovery against the real nova-manage runs in the site scenario."""

import json

import pytest
from kubernetes import client
from kubernetes.stream import stream

from kube_support import run_play
from kubeapi.execws import EXEC_PREFIX_ANNOTATION

NS = "openstack"


def pod(name, prefix):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "annotations": {EXEC_PREFIX_ANNOTATION: json.dumps(prefix)}},
            "spec": {"containers": [{"name": name, "image": "nova-conductor"}]}}


@pytest.fixture
def core(k8s):
    api = client.CoreV1Api(k8s)
    made = []

    def create(name, prefix):
        api.create_namespaced_pod(NS, pod(name, prefix))
        made.append(name)

    yield api, create
    for name in made:
        api.delete_namespaced_pod(name, NS)


def test_exec_streams_stdout_stderr_and_exit_code(core):
    api, create = core
    create("shell-0", ["sh", "-c", 'echo "out $1"; echo "err $2" >&2; exit 3', "sh"])
    resp = stream(api.connect_get_namespaced_pod_exec, "shell-0", NS, command=["one", "two"],
                  stdout=True, stderr=True, stdin=False, tty=False, _preload_content=False)
    resp.run_forever(timeout=10)
    assert resp.read_stdout() == "out one\n"
    assert resp.read_stderr() == "err two\n"
    assert resp.returncode == 3


def discover_task(kubeconfig, **args):
    return {"name": "Discover", "register": "found", "tenrec.dataplane.cell_discover_hosts": dict(
        {"kubeconfig": kubeconfig, "hosts": ["compute-0"], "retries": 2, "delay": 1}, **args)}


def test_missing_conductor_pod_is_named(kubeconfig, tmp_path):
    rc, out, _res = run_play(tmp_path, [discover_task(kubeconfig, cell="cell7")])
    assert rc != 0
    assert "Pod nova-cell7-conductor-0 not found in namespace openstack" in out


def test_nova_manage_failure_surfaces_with_its_message(core, kubeconfig, tmp_path):
    _api, create = core
    create("nova-cell1-conductor-0", ["sh", "-c", "echo 'DBConnectionError: cell1 database unreachable' >&2; exit 1",
                                      "sh"])
    rc, out, _res = run_play(tmp_path, [discover_task(kubeconfig)])
    assert rc != 0
    assert ("nova-manage cell_v2 discover_hosts --by-service --verbose in Pod nova-cell1-conductor-0 "
            "(namespace openstack) exited 1: DBConnectionError: cell1 database unreachable") in out
