"""cell_discover_hosts' waits without a server: pod_exec replaced by a script of answers, time by a
clock the test moves (monotonic time runs, the wall clock is stuck as if stepped back).

What it must do: retry what a conductor Pod restarting explains (ExecUnavailable) until its deadline,
fail at once on what cannot heal (a forbidden exec, an unknown container), and keep the whole module
within ``timeout`` wall-clock seconds however many nova-manage runs it takes.
"""

import pytest

from ansible_collections.tenrec.dataplane.plugins.module_utils.k8s import ControlPlaneError, ExecUnavailable
from ansible_collections.tenrec.dataplane.plugins.module_utils import nova_manage
from ansible_collections.tenrec.dataplane.plugins.modules import cell_discover_hosts
from unit_support import SteppedClock

POD, NS = "nova-cell1-conductor-0", "openstack"
MAPPED = (0, "Creating host mapping for service compute-0\n", "")
LISTED = (0, "| cell1 | 1c0d | compute-0 |\n", "")
NOT_LISTED = (0, "", "")


@pytest.fixture
def discover(monkeypatch):
    """Run the Discoverer against ``answers``: each an (rc, out, err), an exception, or a callable of
    the exec's timeout returning one of those; the last answer repeats."""
    clock = SteppedClock(max_sleeps=200)  # room for this module's longer waits
    monkeypatch.setattr(nova_manage, "time", clock)
    calls = []

    def run(answers, check_mode=False, **params):
        params = dict({"namespace": NS, "cell": "cell1", "pod": "", "container": "", "hosts": ["compute-0"],
                       "timeout": 60, "retries": None, "delay": 5}, **params)
        script = list(answers)

        def fake_exec(client, namespace, pod, container, argv, timeout=600):
            calls.append({"argv": argv, "timeout": timeout, "at": clock.now})
            answer = script.pop(0) if len(script) > 1 else script[0]
            if callable(answer):
                answer = answer(timeout)
            if isinstance(answer, Exception):
                raise answer
            return answer

        monkeypatch.setattr(nova_manage, "pod_exec", fake_exec)
        return cell_discover_hosts.Discoverer(object(), params).run(check_mode)

    run.clock, run.calls = clock, calls
    return run


def test_transient_exec_errors_are_retried_until_the_pod_is_back(discover):
    """The conductor Pod replaced after a spec change: gone, then Pending, then its container starting."""
    result = discover([ExecUnavailable("Pod %s not found in namespace %s" % (POD, NS)),
                       ExecUnavailable("Pod %s in namespace %s is not Running (phase Pending)" % (POD, NS)),
                       ExecUnavailable("cannot exec into Pod %s in namespace %s: Kubernetes API error 500: "
                                       'container not found ("nova-cell1-conductor")' % (POD, NS)),
                       MAPPED, LISTED])
    assert result == dict(changed=True, mapped=["compute-0"], cell_hosts=["compute-0"], attempts=1,
                          stdout_lines=["Creating host mapping for service compute-0"])
    assert [c["at"] for c in discover.calls] == [0, 5, 10, 15, 15]  # delay apart while unavailable


@pytest.mark.parametrize("error", [
    ControlPlaneError("cannot exec into Pod %s in namespace %s: the Kubernetes API refused the request (403 "
                      'Forbidden): pods "%s" is forbidden: User "system:serviceaccount:openstack:tenrec" cannot '
                      'create resource "pods/exec" in API group "" in the namespace "openstack"' % (POD, NS, POD)),
    ControlPlaneError("Pod %s in namespace %s has no container nova-conductor (containers: nova-cell1-conductor)"
                      % (POD, NS)),
], ids=["forbidden", "unknown-container"])
def test_permanent_exec_errors_fail_at_once(discover, error):
    with pytest.raises(ControlPlaneError) as err:
        discover([error, MAPPED])
    assert str(err.value) == str(error)
    assert len(discover.calls) == 1 and discover.clock.sleeps == 0


def test_pod_that_never_comes_back_fails_at_the_deadline_with_the_last_error(discover):
    with pytest.raises(ControlPlaneError) as err:
        discover([ExecUnavailable("Pod %s not found in namespace %s" % (POD, NS))], timeout=12, delay=5)
    assert str(err.value) == ("nova-manage cell_v2 discover_hosts --by-service --verbose could not run in Pod %s "
                              "(namespace %s) within 12 s; last error: Pod %s not found in namespace %s"
                              % (POD, NS, POD, NS))
    assert discover.clock.now == 12  # the last pause is cut to the deadline, no try starts there
    assert [c["at"] for c in discover.calls] == [0, 5, 10]


def test_timeout_is_wall_clock_across_nova_manage_runs(discover):
    """Each nova-manage run takes 4 s and the host never maps: the module stops at its timeout, each
    run given only what is left, not after retries x (delay + the runs' time)."""
    def slow(output):
        def answer(timeout):
            discover.clock.now += min(4, timeout)
            if timeout < 4:
                return ControlPlaneError("%d s left" % timeout)  # what pod_exec raises for a cut run
            return output
        return answer

    with pytest.raises(ControlPlaneError):
        discover([slow(MAPPED), slow(NOT_LISTED)] * 20, timeout=20, delay=2)
    assert discover.clock.now <= 20
    assert all(c["timeout"] <= 20 - c["at"] + 1 for c in discover.calls)  # ceil of what is left


def test_check_mode_runs_only_list_hosts(discover):
    result = discover([NOT_LISTED], check_mode=True)
    assert result["changed"] is True and result["attempts"] == 0
    assert [c["argv"] for c in discover.calls] == [nova_manage.LIST_HOSTS]
