"""Day 2 on the converged lab: scale in a compute with an instance on it, then scale it back out.

This file sorts after test_site.py (which checks an instance on every compute) and before
test_tls_off.py: it moves the last compute's instance away for good. In order, as an operator would:
scale in without drain (refused, nothing changed), with drain (the instance live-migrates over libvirt
TLS and keeps answering ping; the node's service, resource provider, host mapping, chassis and
NodeSet entry go), again (changed=0), then the main job with ``--limit <node>,localhost`` (the node
rejoins, nothing else changes) and a new instance on it that reaches the migrated one.
"""

import base64
import json
import os
import time

import pytest

import test_site
from test_site import COMPUTES, FIRST, ROOT, cmp, console, failures, lab_nodeset, run_playbook

cloud = test_site.cloud  # the module's openstacksdk connection fixture

testinfra_hosts = ["ansible://tenrec-lab-ctl"]
pytestmark = pytest.mark.skipif(len(COMPUTES) < 2, reason="scale in needs a compute to drain to (TENREC_LAB_COMPUTES)")

NODE = sorted(COMPUTES)[-1]
PREFIX = "tenrec-lab"
SCALE_IN = os.path.join(ROOT, "playbooks/scale_in.yml")
SITE = os.path.join(ROOT, "playbooks/site.yml")


def changed_hosts(stats):
    return {h: n for h, n in (stats.get("changed") or {}).items() if n}


def node_state(host, conn):
    """What the control plane knows of NODE: service, resource providers, cell mapping, chassis, NodeSet entry."""
    service = [s for s in conn.compute.services(binary="nova-compute") if s.host == NODE]
    providers = [p.name for p in conn.placement.resource_providers() if p.name == NODE]
    mapped = NODE in host.check_output("nova-manage cell_v2 list_hosts")
    chassis = json.loads(host.check_output("ovn-sbctl --format=json --columns=hostname find Chassis hostname=%s", NODE))
    return dict(service=[(s.status, s.state, s.disabled_reason) for s in service], providers=providers, mapped=mapped,
                chassis=len(chassis["data"]), nodeset=NODE in lab_nodeset()["spec"]["nodes"])


def pings(host, compute, port):
    ip = port.fixed_ips[0]["ip_address"]
    return cmp(host, compute).run("ip netns exec ovnmeta-%s ping -c 3 -W 2 %s", port.network_id, ip)


@pytest.fixture(scope="module")
def vm(cloud):
    server = cloud.compute.find_server("%s-vm-%s" % (PREFIX, NODE), ignore_missing=False)
    return cloud.compute.get_server(server.id), list(cloud.network.ports(device_id=server.id))[0]


def test_scale_in_without_drain_refuses_naming_the_instance_and_changes_nothing(host, cloud, vm):
    before = node_state(host, cloud)
    assert before == dict(service=[("enabled", "up", None)], providers=[NODE], mapped=True, chassis=1, nodeset=True)
    rc, events, out, stats = run_playbook(SCALE_IN, {"tenrec_scale_in_nodes": NODE})
    assert rc != 0
    failed = failures(events)
    assert list(failed) == ["localhost"], failed
    assert vm[0].name in failed["localhost"][2] and "tenrec_scale_in_drain" in failed["localhost"][2], failed
    assert changed_hosts(stats) == {}, stats
    assert node_state(host, cloud) == before


def test_scale_in_refuses_without_a_named_node(host):  # every test takes host: testinfra keeps them in order
    rc, events, _out, stats = run_playbook(SCALE_IN)
    assert rc != 0
    assert "tenrec_scale_in_nodes" in " ".join(f[2] for f in failures(events).values())
    assert changed_hosts(stats) == {}, stats


def test_scale_in_with_drain_moves_the_instance_and_removes_the_node(host, cloud, vm):
    server, port = vm
    t0 = time.monotonic()
    rc, events, out, stats = run_playbook(SCALE_IN, {"tenrec_scale_in_nodes": NODE, "tenrec_scale_in_drain": True})
    took = time.monotonic() - t0
    assert rc == 0, (failures(events), out[-3000:])
    moved = cloud.compute.get_server(server.id)
    assert (moved.status, moved.compute_host) == ("ACTIVE", FIRST), (moved.status, moved.compute_host, moved.fault)
    port = cloud.network.get_port(port.id)
    assert (port.binding_host_id, port.status) == (FIRST, "ACTIVE"), port
    out = pings(host, FIRST, port)
    assert out.rc == 0 and " 0% packet loss" in out.stdout, out.stdout + out.stderr
    assert node_state(host, cloud) == dict(service=[], providers=[], mapped=False, chassis=0, nodeset=False)
    assert set(lab_nodeset()["spec"]["nodes"]) == set(COMPUTES) - {NODE}
    node = cmp(host, NODE)
    for unit in ("nova-compute", "ovn-controller", "neutron-ovn-metadata-agent"):
        assert not node.service(unit).is_running, unit
    for unit in ("nova-compute", "neutron-ovn-metadata-agent", "ovn-host"):  # ovn-host starts the static ovn-controller
        assert not node.service(unit).is_enabled, unit
    print("scale in with drain of %s: %.0f s" % (NODE, took))


def test_scale_in_again_changes_nothing(host):
    rc, events, out, stats = run_playbook(SCALE_IN, {"tenrec_scale_in_nodes": NODE, "tenrec_scale_in_drain": True})
    assert rc == 0, (failures(events), out[-3000:])
    assert changed_hosts(stats) == {}, stats


def test_scale_out_with_limit_rejoins_the_node_alone_and_it_runs_an_instance(host, cloud, vm):
    rc, events, out, stats = run_playbook(SITE, cmdline="--limit %s,localhost" % NODE)
    assert rc == 0, (failures(events), out[-3000:])
    assert set(stats.get("ok", {})) == {NODE, "localhost"}, stats  # the other computes are not in the run
    assert node_state(host, cloud) == dict(service=[("enabled", "up", None)], providers=[NODE], mapped=True,
                                           chassis=1, nodeset=True)
    assert set(lab_nodeset()["spec"]["nodes"]) == set(COMPUTES)
    # a new instance on the node, reaching the migrated one across the tunnel
    peer_ip = vm[1].fixed_ips[0]["ip_address"]
    image = cloud.image.find_image("%s-guest" % PREFIX, ignore_missing=False)
    flavor = cloud.compute.find_flavor("%s-guest" % PREFIX, ignore_missing=False)
    net = cloud.network.find_network("%s-net" % PREFIX, ignore_missing=False)
    group = cloud.network.find_security_group("%s-icmp" % PREFIX, ignore_missing=False)
    name = "%s-vm2-%s" % (PREFIX, NODE)
    old = cloud.compute.find_server(name)
    if old:
        cloud.compute.delete_server(old)
        cloud.compute.wait_for_delete(old)
    server = cloud.compute.create_server(
        name=name, image_id=image.id, flavor_id=flavor.id, networks=[{"uuid": net.id}],
        security_groups=[{"name": group.name}], availability_zone="nova:%s" % NODE,
        user_data=base64.b64encode(("peer=%s\n" % peer_ip).encode()).decode())
    server = cloud.compute.wait_for_server(server, status="ACTIVE", wait=600)
    assert server.compute_host == NODE
    deadline = time.monotonic() + 300
    while "tenrec-guest: ready" not in console(cloud, server) and time.monotonic() < deadline:
        time.sleep(5)
    log = console(cloud, server)
    assert "tenrec-guest: ready" in log and "tenrec-guest: ping %s ok" % peer_ip in log, \
        [line for line in log.splitlines() if "tenrec-guest" in line]


DRIFT = os.path.join(ROOT, "playbooks/drift.yml")


def drift_run(tmp_path):
    """The drift report as a scheduled AWX job runs it: --check --diff with the callback on."""
    report_dir = tmp_path / "drift"
    tmp_path.mkdir(parents=True, exist_ok=True)
    rc, events, out, stats = run_playbook(
        DRIFT, cmdline="--check --diff",
        env={"ANSIBLE_CALLBACKS_ENABLED": "tenrec.dataplane.play_times,tenrec.dataplane.drift",
             "TENREC_DRIFT_REPORT_DIR": str(report_dir)})
    reports = {name: json.loads((report_dir / ("%s.json" % name)).read_text())
               for name in COMPUTES if (report_dir / ("%s.json" % name)).exists()}
    return rc, events, out, stats, reports


def test_drift_report_of_the_converged_fleet_says_no_drift(host, tmp_path):
    """Nothing would change on any compute; the only drift is a managed package the lab's image holds
    at an older version than the mirror's (what apt itself says is upgradable). Once an operator
    upgrades it, the report says no drift and the run passes."""
    rc, events, out, stats, reports = drift_run(tmp_path / "before")
    assert sorted(reports) == sorted(COMPUTES)
    assert {name: (r["changes"], r["failures"]) for name, r in reports.items()} == \
        {name: ([], []) for name in COMPUTES}, out[-3000:]
    assert changed_hosts(stats) == {}, stats
    behind = {}
    for name in COMPUTES:
        names = sorted(p["name"] for p in reports[name]["packages_behind"])
        upgradable = cmp(host, name).check_output("apt list --upgradable 2>/dev/null")
        for package in names:
            assert package + "/" in upgradable, (name, package, upgradable)
        behind[name] = names
    assert (rc == 0) == (not any(behind.values())), (rc, behind)
    for name, names in behind.items():
        if names:
            cmp(host, name).check_output("DEBIAN_FRONTEND=noninteractive apt-get install -y --only-upgrade %s"
                                         % " ".join(names))
    rc, events, out, stats, reports = drift_run(tmp_path / "after")
    assert rc == 0, (failures(events), out[-3000:])
    assert {name: (r["drifted"], r["changes"], r["packages_behind"]) for name, r in reports.items()} == \
        {name: (False, [], []) for name in COMPUTES}
    assert changed_hosts(stats) == {}, stats
    print("packages behind before the upgrade: %s" % behind)


def test_a_changed_nova_conf_shows_in_the_drift_report_of_that_node_only(host, tmp_path):
    node = cmp(host, NODE)
    node.check_output("sed -i 's/^reserved_host_memory_mb = 512$/reserved_host_memory_mb = 1024/' /etc/nova/nova.conf")
    try:
        assert "reserved_host_memory_mb = 1024" in node.check_output("cat /etc/nova/nova.conf")
        rc, events, out, _stats, reports = drift_run(tmp_path)
    finally:
        node.check_output("sed -i 's/^reserved_host_memory_mb = 1024$/reserved_host_memory_mb = 512/' /etc/nova/nova.conf")
    assert rc != 0
    assert "drift on %s;" % NODE in out, out[-2000:]
    assert {name: r["drifted"] for name, r in reports.items()} == {name: name == NODE for name in COMPUTES}
    changes = {c["task"]: c for c in reports[NODE]["changes"]}
    # the file, and the restart its change would notify
    assert {(t, c["role"], c["handler"]) for t, c in changes.items()} == {
        ("Write nova.conf", "tenrec.dataplane.nova_compute", False),
        ("Restart nova-compute", "tenrec.dataplane.nova_compute", True)}, reports[NODE]["changes"]
    diff = changes["Write nova.conf"]["diff"][0]
    assert "reserved_host_memory_mb = 1024" in diff["before"] and "reserved_host_memory_mb = 512" in diff["after"]
    assert "transport_url = ********" in diff["after"] and "password = ********" in diff["after"]
    text = json.dumps(reports) + json.dumps(events) + out
    assert test_site.PASSWORD not in text


def test_a_firewall_rule_changed_by_hand_shows_in_the_drift_report_of_that_node_only(host, tmp_path):
    node = cmp(host, NODE)
    node.check_output("nft add chain inet tenrec_dataplane input '{ policy accept; }'")
    try:
        rc, _events, out, _stats, reports = drift_run(tmp_path)
    finally:
        node.check_output("nft -f /etc/nftables.d/tenrec-dataplane.nft")  # what the main job would load
    assert rc != 0 and "drift on %s;" % NODE in out, out[-2000:]
    assert {name: r["drifted"] for name, r in reports.items()} == {name: name == NODE for name in COMPUTES}
    assert [(c["role"], c["task"]) for c in reports[NODE]["changes"]] == [
        ("tenrec.dataplane.firewall", "Load the ruleset when it changed, is missing or was changed in the kernel (check mode)")]


def reaches(node, ip, port):
    """Whether ``node`` (a testinfra host) opens a TCP connection to ip:port within 3 s."""
    return node.run("timeout 3 bash -c '</dev/tcp/%s/%s'", ip, str(port)).rc == 0


def test_firewall_opens_libvirt_tls_to_computes_only_and_drops_other_ports(host):
    first, other = cmp(host, FIRST), cmp(host, NODE)
    for node in (first, other):
        assert "policy drop" in node.check_output("nft list chain inet tenrec_dataplane input")
    # libvirt's TLS socket: from the other compute, not from the controller (not a compute)
    assert reaches(other, COMPUTES[FIRST], 16514)
    assert not reaches(host, COMPUTES[FIRST], 16514)
    # a service the firewall does not know: listening on every address, reached locally only
    first.check_output("systemd-run --unit tenrec-fw-probe python3 -m http.server 7777 --bind 0.0.0.0")
    try:
        deadline = time.monotonic() + 10
        while not reaches(first, "127.0.0.1", 7777) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert reaches(first, "127.0.0.1", 7777)
        assert not reaches(other, COMPUTES[FIRST], 7777)
        assert not reaches(host, COMPUTES[FIRST], 7777)
    finally:
        first.run("systemctl stop tenrec-fw-probe")
    # SSH, the way Ansible reaches the node, stays open from anywhere
    assert reaches(host, COMPUTES[FIRST], 22)
