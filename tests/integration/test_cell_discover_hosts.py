"""pods/exec through the test API server (as kubectl exec reaches a container), and what
cell_discover_hosts does with the failures a user meets on a cluster: the conductor Pod absent or
restarting (retried until O(timeout)), an unknown container and nova-manage failing in it (at once);
and the discover playbook's chassis wait bounded by tenrec_discover_timeout. The successful
discovery against the real nova-manage runs in the site scenario."""

import json
import os
import re
import threading
import time

import pytest
import yaml
from kubernetes import client
from kubernetes.stream import stream

from kube_support import ROOT, run_play
from kubeapi.execws import EXEC_PREFIX_ANNOTATION

pytestmark = pytest.mark.test_server_only("pods/exec (nova-manage in the conductor Pod) needs a kubelet; a real kube-apiserver has none here")


NS = "openstack"


def pod(name, prefix, container=None, phase="Running"):
    """A Pod whose exec runs ``prefix`` + the command here; no prefix: not running anywhere yet."""
    annotations = {EXEC_PREFIX_ANNOTATION: json.dumps(prefix)} if prefix else {}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "annotations": annotations},
            "spec": {"containers": [{"name": container or name, "image": "nova-conductor"}]},
            "status": {"phase": phase}}


# nova-manage in a conductor whose cell1 maps compute-0: discover_hosts maps it, list_hosts lists it
NOVA_MANAGE = ["sh", "-c", 'case "$3" in discover_hosts) echo "Creating host mapping for service compute-0";; '
               'list_hosts) echo "| cell1 | 1c0d | compute-0 |";; esac', "sh"]


@pytest.fixture
def core(k8s):
    api = client.CoreV1Api(k8s)
    made, timers = [], []

    def create(name, prefix, after=0.0, **kwargs):
        """Create the Pod now, or ``after`` seconds from now (in the background)."""
        def make():
            api.create_namespaced_pod(NS, pod(name, prefix, **kwargs))
        made.append(name)
        if after:
            timers.append(threading.Timer(after, make))
            timers[-1].start()
        else:
            make()

    yield api, create
    for timer in timers:
        timer.cancel()
        timer.join()
    for name in made:
        try:
            api.delete_namespaced_pod(name, NS)
        except client.exceptions.ApiException:
            pass


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


def timed_play(tmp_path, tasks):
    started = time.monotonic()
    rc, out, res = run_play(tmp_path, tasks)
    return rc, out, res, time.monotonic() - started


def test_missing_conductor_pod_is_named_after_the_timeout(kubeconfig, tmp_path):
    rc, out, res, took = timed_play(tmp_path, [discover_task(kubeconfig, cell="cell7", timeout=4)])
    assert rc != 0
    assert ("nova-manage cell_v2 discover_hosts --by-service --verbose could not run in Pod nova-cell7-conductor-0 "
            "(namespace openstack) within 4 s; last error: Pod nova-cell7-conductor-0 not found in namespace "
            "openstack") in out
    assert 4 <= took < 4 + 20, took  # wall clock: the timeout, plus ansible's start-up


def test_conductor_pod_that_appears_later_is_waited_for(core, kubeconfig, tmp_path):
    """The conductor Pod replaced after a spec change: absent for a few seconds, then back."""
    _api, create = core
    create("nova-cell1-conductor-0", NOVA_MANAGE, after=3, container="nova-cell1-conductor")
    rc, out, res, _took = timed_play(tmp_path, [discover_task(kubeconfig, timeout=60)])
    assert rc == 0, out
    assert res["found"]["mapped"] == ["compute-0"] and res["found"]["changed"] is True
    assert res["found"]["cell_hosts"] == ["compute-0"] and res["found"]["attempts"] == 1


def test_conductor_pod_pending_is_waited_for_until_running(core, kubeconfig, tmp_path):
    """A Pending Pod (its container not started: nothing to exec into) is not exec'd; once Running it is."""
    api, create = core
    create("nova-cell1-conductor-0", None, container="nova-cell1-conductor", phase="Pending")

    def start():
        api.patch_namespaced_pod("nova-cell1-conductor-0", NS, {
            "metadata": {"annotations": {EXEC_PREFIX_ANNOTATION: json.dumps(NOVA_MANAGE)}},
            "status": {"phase": "Running"}})

    timer = threading.Timer(3, start)
    timer.start()
    try:
        rc, out, res, _took = timed_play(tmp_path, [discover_task(kubeconfig, timeout=60)])
    finally:
        timer.join()
    assert rc == 0, out
    assert res["found"]["mapped"] == ["compute-0"]


def test_unknown_container_fails_at_once(core, kubeconfig, tmp_path):
    _api, create = core
    create("nova-cell1-conductor-0", NOVA_MANAGE, container="nova-cell1-conductor")
    rc, out, _res, took = timed_play(tmp_path, [discover_task(kubeconfig, container="nova-conductor", timeout=60)])
    assert rc != 0
    assert ("Pod nova-cell1-conductor-0 in namespace openstack has no container nova-conductor "
            "(containers: nova-cell1-conductor)") in out
    assert took < 30, took


def test_timeout_is_wall_clock_with_slow_nova_manage(core, kubeconfig, tmp_path):
    """Each nova-manage run takes 2 s: the module stops at its timeout, cutting the run that would
    outlast it, not after retries x (delay + the runs' time)."""
    _api, create = core
    create("nova-cell1-conductor-0", ["sh", "-c", "sleep 2; echo", "sh"], container="nova-cell1-conductor")
    rc, out, res, took = timed_play(tmp_path, [discover_task(kubeconfig, retries=None, timeout=3)])
    assert rc != 0
    assert "nova-manage cell_v2 list_hosts in Pod nova-cell1-conductor-0 did not finish within 1 s" in out
    assert took < 3 + 20, took


def test_hosts_never_mapped_fail_at_the_timeout(core, kubeconfig, tmp_path):
    _api, create = core
    create("nova-cell1-conductor-0", ["sh", "-c", "echo", "sh"], container="nova-cell1-conductor")
    rc, out, res, took = timed_play(tmp_path, [discover_task(kubeconfig, retries=None, timeout=3)])
    assert rc != 0
    assert re.search(r"hosts not mapped to cell1 after \d+ discover_hosts runs in 3 s \(1 s apart\): compute-0", out)
    assert res["found"]["failed"] is True
    assert 3 <= took < 3 + 20, took


def test_nova_manage_failure_surfaces_with_its_message(core, kubeconfig, tmp_path):
    _api, create = core
    create("nova-cell1-conductor-0", ["sh", "-c", "echo 'DBConnectionError: cell1 database unreachable' >&2; exit 1",
                                      "sh"], container="nova-cell1-conductor")
    rc, out, _res, took = timed_play(tmp_path, [discover_task(kubeconfig, timeout=60)])
    assert rc != 0
    assert took < 30, took  # nova-manage's own failure is not retried
    assert ("nova-manage cell_v2 discover_hosts --by-service --verbose in Pod nova-cell1-conductor-0 "
            "(namespace openstack) exited 1: DBConnectionError: cell1 database unreachable") in out


# ----- the discover playbook's chassis wait ------------------------------------------------------
def chassis_task(playbook):
    """The chassis lookup of ``playbook`` (discover.yml) with its play's vars, to run on localhost."""
    plays = yaml.safe_load(playbook.read_text())
    play = next(p for p in plays if p.get("name") == "OVN chassis of each compute in the Southbound DB")
    task = dict(play["tasks"][0])
    task["vars"] = dict(play.get("vars") or {}, **task.get("vars", {}))
    return task


def test_chassis_wait_is_bounded_by_the_discover_timeout(tmp_path):
    """An SB DB that never answers: each ovn-sbctl waits its --timeout. The lookup gives up once
    tenrec_discover_timeout is spent, not after timeout/5 retries of 10 s runs plus 5 s delays."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "ovs-vsctl").write_text("#!/bin/sh\nexit 0\n")
    (fake / "ovn-sbctl").write_text('#!/bin/sh\nfor a; do case "$a" in --timeout=*) t=${a#--timeout=};; esac; done\n'
                                    'sleep "$t"; echo "ovn-sbctl: tcp:192.0.2.1:6642: database connection failed" >&2\n'
                                    "exit 1\n")
    for tool in fake.iterdir():
        tool.chmod(0o755)
    task = dict(chassis_task(ROOT / "playbooks" / "discover.yml"), environment={"PATH": "%s:%s" % (
        fake, os.environ["PATH"])})
    extravars = {"tenrec_discover_timeout": 6, "tenrec_ovn_system_id": "0b9c",
                 "tenrec_controlplane": {"ovn_sb_connection": "tcp:192.0.2.1:6642"}}
    started = time.monotonic()
    rc, out, _res = run_play(tmp_path, [task], extravars=extravars)
    took = time.monotonic() - started
    assert rc != 0
    assert "chassis 0b9c not in the OVN SB DB tcp:192.0.2.1:6642 by the discover deadline" in out, out
    assert "database connection failed" in out
    assert took < 6 + 12, took
