"""How the compute roles behave on converged nodes: check mode, overrides, bad input.

Runs the dataplane playbook again through ansible-runner against molecule's inventory.
"""

import os
import tempfile

import ansible_runner
import pytest

testinfra_hosts = ["ansible://tenrec-cmp-0"]

ROOT = os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.getcwd())
CONTRACT = {
    "region": "regionOne",
    "transport_url": "rabbit://nova:lab-molecule-secret@10.88.11.10:5672/",
    "keystone": {"internal_url": "http://10.88.11.10:5000/v3"},
    "service_auth": {"password": "lab-molecule-secret"},
    "ovn_sb_connection": "tcp:10.88.11.10:6642",
    "nova_metadata_url": "http://10.88.11.10:8775",
    "metadata_proxy_shared_secret": "lab-molecule-metadata",
}


def play(extravars=None, check=False):
    """Run playbooks/dataplane.yml on tenrec-cmp-0; return (rc, events, stdout, changed count)."""
    with tempfile.TemporaryDirectory() as tmp:
        result = ansible_runner.run(
            private_data_dir=tmp, playbook=os.path.join(ROOT, "playbooks/dataplane.yml"),
            inventory=os.environ["MOLECULE_INVENTORY_FILE"], limit="tenrec-cmp-0",
            extravars=extravars or {}, cmdline="--check" if check else None, quiet=True,
            envvars={k: v for k, v in os.environ.items() if k.startswith("ANSIBLE_")})
        events = list(result.events)
        changed = result.stats["changed"].get("tenrec-cmp-0", 0) if result.stats else 0
        return result.rc, events, result.stdout.read(), changed


def changed_tasks(events):
    """Names of tasks that reported a change (tasks under no_log hide it: see the changed count)."""
    return [e["event_data"]["task"] for e in events
            if e["event"] == "runner_on_ok" and e["event_data"]["res"].get("changed")]


def failures(events):
    return [e["event_data"] for e in events if e["event"] == "runner_on_failed"]


def nova_state(host):
    pid = host.check_output("systemctl show -p MainPID --value nova-compute")
    return pid, host.file("/etc/nova/nova.conf").sha256sum


def test_check_mode_on_converged_node_changes_nothing():
    rc, events, out, changed = play(check=True)
    assert rc == 0, out[-3000:]
    assert changed == 0, changed_tasks(events)


def test_one_override_changes_nova_conf_and_restarts_once(host):
    pid0, sum0 = nova_state(host)
    try:
        rc, events, out, changed = play({"nova_compute_config_overrides": {"DEFAULT": {"cpu_allocation_ratio": 8.0}}})
        assert rc == 0, out[-3000:]
        # Two changes: nova.conf (its result is hidden by no_log) and one restart by the handler.
        assert changed == 2, changed_tasks(events)
        assert changed_tasks(events) == ["Restart nova-compute"]
        pid1, sum1 = nova_state(host)
        assert sum1 != sum0 and pid1 != pid0
        assert "cpu_allocation_ratio = 8.0" in host.file("/etc/nova/nova.conf").content_string
        assert host.service("nova-compute").is_running
    finally:
        rc, events, out, changed = play()  # back to the converged state
    assert rc == 0 and changed == 2 and changed_tasks(events) == ["Restart nova-compute"]
    assert nova_state(host)[1] == sum0


@pytest.mark.parametrize("extravars,needle", [
    ({"tenrec_controlplane": dict(CONTRACT, transport_url="amqp://nova:lab-molecule-secret@10.88.11.10/")},
     "tenrec_controlplane.transport_url"),
    ({"tenrec_controlplane": dict(CONTRACT, ovn_sb_connection="10.88.11.10:6642")},
     "tenrec_controlplane.ovn_sb_connection"),
    ({"tenrec_controlplane": dict(CONTRACT, keystone={"internal_url": "keystone:5000"})},
     "tenrec_controlplane.keystone.internal_url"),
    ({"tenrec_controlplane": dict(CONTRACT, nova_metadata_url="10.88.11.10:8775")},
     "tenrec_controlplane.nova_metadata_url: must be an http"),
    ({"tenrec_controlplane": dict(CONTRACT, nova_metadata_url="")},
     "tenrec_controlplane.nova_metadata_url is required by neutron_metadata"),
    ({"tenrec_controlplane": dict(CONTRACT, metadata_proxy_shared_secret="")},
     "tenrec_controlplane.metadata_proxy_shared_secret is required by neutron_metadata"),
    ({"neutron_metadata_workers": 0}, "neutron_metadata_workers"),
    ({"nova_compute_reserved_host_memory_mb": "lots"}, "nova_compute_reserved_host_memory_mb"),
    ({"ovn_controller_bridge_mappings": {"physnet1": "br-ex"}}, "ovn_controller_bridge_mappings"),
    ({"bootstrap_timesync": "maybe"}, "bootstrap_timesync"),
])
def test_bad_input_fails_first_and_changes_nothing(host, extravars, needle):
    before = nova_state(host)
    rc, events, out, changed = play(extravars)
    assert rc != 0
    failed = failures(events)
    assert failed, out[-3000:]
    message = str(failed[0]["res"].get("msg", "")) + str(failed[0]["res"].get("argument_errors", ""))
    assert needle in message, message
    assert "lab-molecule-secret" not in out and "lab-molecule-metadata" not in out
    assert changed == 0
    assert nova_state(host) == before
