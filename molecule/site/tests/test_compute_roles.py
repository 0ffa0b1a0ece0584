"""The compute roles on the converged lab nodes: what an operator checks on a node, and how the roles
behave when run again (check mode, one override, bad input). Moved here from the former ``compute``
scenario so the test command builds one control plane, not one per scenario."""

import configparser
import json
import os

import pytest
import testinfra

from test_site import CTL_IP, COMPUTES, FIRST, PASSWORD, ROOT, VARS, failures, run_playbook, set_contract

testinfra_hosts = ["ansible://computes"]
METADATA_SECRET = VARS["lab_controlplane_metadata_secret"]


def test_packages_and_services(host):
    for pkg in ("nova-compute", "libvirt-daemon-system", "openvswitch-switch", "ovn-host",
                "neutron-ovn-metadata-agent", "haproxy"):
        assert host.package(pkg).is_installed, pkg
    for svc in ("nova-compute", "libvirtd", "openvswitch-switch", "ovn-controller", "neutron-ovn-metadata-agent"):
        assert host.service(svc).is_running, svc
        assert host.service(svc).is_enabled, svc


def test_nova_conf_from_contract(host):
    f = host.file("/etc/nova/nova.conf")
    assert (f.user, f.group, f.mode) == ("root", "nova", 0o640)
    conf = configparser.ConfigParser(interpolation=None)
    conf.read_string(f.content_string)
    name = host.check_output("hostname")
    assert conf["DEFAULT"]["host"] == name
    assert conf["DEFAULT"]["my_ip"] == COMPUTES[name]
    assert conf["DEFAULT"]["transport_url"] == "rabbit://nova:%s@%s:5671/?ssl=1" % (PASSWORD, CTL_IP)
    for section in ("placement", "neutron", "service_user"):
        assert conf[section]["auth_url"] == "https://%s:5000" % CTL_IP, section
    for section in ("placement", "neutron", "glance", "service_user"):  # glance: the user's token, no auth
        assert conf[section]["region_name"] == "regionOne", section
        assert host.file(conf[section]["cafile"]).contains("BEGIN CERTIFICATE"), section
    assert conf["libvirt"]["virt_type"] == "qemu"
    assert conf["oslo_messaging_notifications"]["driver"] == "noop"


def test_libvirt_answers(host):
    assert host.run("virsh --connect qemu:///system list --all").rc == 0


def test_ovs_external_ids_and_br_int(host):
    out = host.check_output("ovs-vsctl --format=json --columns=external_ids list Open_vSwitch .")
    ids = dict(json.loads(out)["data"][0][0][1])
    name = host.check_output("hostname")
    assert ids["ovn-remote"] == "ssl:%s:6642" % CTL_IP
    assert ids["ovn-encap-type"] == "geneve"
    assert ids["ovn-encap-ip"] == COMPUTES[name]
    assert ids["system-id"] == name
    assert host.run("ovs-vsctl br-exists br-int").rc == 0


def test_metadata_agent_conf(host):
    f = host.file("/etc/neutron/neutron_ovn_metadata_agent.ini")
    assert (f.user, f.group, f.mode) == ("root", "neutron", 0o640)
    conf = configparser.ConfigParser(interpolation=None)
    conf.read_string(f.content_string)
    assert (conf["DEFAULT"]["nova_metadata_host"], conf["DEFAULT"]["nova_metadata_port"],
            conf["DEFAULT"]["nova_metadata_protocol"]) == (CTL_IP, "8775", "https")
    assert conf["DEFAULT"]["metadata_proxy_shared_secret"] == METADATA_SECRET
    assert conf["ovn"]["ovn_sb_connection"] == "ssl:%s:6642" % CTL_IP
    key = host.file(conf["ovn"]["ovn_sb_private_key"])
    assert key.mode == 0o600, key.path


def dataplane(extravars=None, tasks=None):
    """playbooks/dataplane.yml on the first compute, after ``tasks`` (set_contract) when given."""
    plays = [{"ansible.builtin.import_playbook": os.path.join(ROOT, "playbooks/certificates.yml")}]
    if tasks:
        plays.append({"name": "Change the contract", "hosts": FIRST, "gather_facts": False, "tasks": tasks})
    plays.append({"ansible.builtin.import_playbook": os.path.join(ROOT, "playbooks/dataplane.yml")})
    return run_playbook(plays, dict(extravars or {}, tenrec_dataplane_hosts=FIRST))


def nova_state(node):
    pid = node.check_output("systemctl show -p MainPID --value nova-compute")
    return pid, node.file("/etc/nova/nova.conf").sha256sum


def changed_tasks(events):
    """Names of tasks on the node that reported a change (no_log tasks hide it: see the stats)."""
    return [e["event_data"]["task"] for e in events if e["event"] == "runner_on_ok"
            and e["event_data"].get("host") == FIRST and e["event_data"]["res"].get("changed")]


@pytest.fixture(scope="module")
def first(request):
    """The first compute (the tests below run once, on it, not once per compute)."""
    return testinfra.get_host("ansible://" + FIRST, ansible_inventory=request.config.option.ansible_inventory)


def test_one_override_changes_nova_conf_and_restarts_once(first):
    pid0, sum0 = nova_state(first)
    try:
        rc, events, out, stats = dataplane({"nova_compute_config_overrides": {"DEFAULT": {"cpu_allocation_ratio": 8.0}}})
        assert rc == 0, out[-3000:]
        # Two changes: nova.conf (its result is hidden by no_log) and one restart by the handler.
        assert stats["changed"].get(FIRST) == 2, changed_tasks(events)
        assert changed_tasks(events) == ["Restart nova-compute"]
        pid1, sum1 = nova_state(first)
        assert sum1 != sum0 and pid1 != pid0
        assert "cpu_allocation_ratio = 8.0" in first.file("/etc/nova/nova.conf").content_string
        assert first.service("nova-compute").is_running
    finally:
        rc, events, out, stats = dataplane()  # back to the converged state
    assert rc == 0 and stats["changed"].get(FIRST) == 2 and changed_tasks(events) == ["Restart nova-compute"]
    assert nova_state(first)[1] == sum0


# One case per kind of check, on the node through playbooks/dataplane.yml: a contract field (the contract
# role), a contract field a later role needs (neutron_metadata), and role variables of the first, a
# middle and the last role. Every other value each check refuses is tested
# offline (tests/unit/test_contract.py, tests/unit/test_role_validate.py).
@pytest.mark.parametrize("change,extravars,needle", [
    ("cp | combine({'transport_url': 'amqp://nova:%s@%s/'})" % (PASSWORD, CTL_IP), {},
     "tenrec_controlplane.transport_url"),
    ("cp | combine({'metadata_proxy_shared_secret': ''})", {},
     "tenrec_controlplane.metadata_proxy_shared_secret is required by neutron_metadata"),
    (None, {"nova_compute_reserved_host_memory_mb": "lots"}, "nova_compute_reserved_host_memory_mb"),
    (None, {"ovn_controller_bridge_mappings": {"physnet1": "br-ex"}}, "ovn_controller_bridge_mappings"),
    (None, {"bootstrap_timesync": "maybe"}, "bootstrap_timesync"),
])
def test_bad_input_fails_first_and_changes_nothing(first, change, extravars, needle):
    before = nova_state(first)
    rc, events, out, stats = dataplane(extravars, [set_contract(change)] if change else None)
    assert rc != 0
    failed = failures(events)
    assert FIRST in failed, out[-3000:]
    play, _task, message = failed[FIRST]
    assert play == "Compute nodes", failed
    message = str(message) + str([e["event_data"]["res"].get("argument_errors", "") for e in events
                                  if e["event"] == "runner_on_failed"])
    assert needle in message, message
    assert PASSWORD not in out and METADATA_SECRET not in out
    assert not stats.get("changed", {}).get(FIRST)
    assert nova_state(first) == before
