"""Day 2 on the converged lab: scale in a compute with an instance on it, then scale it back out.

This file sorts after test_site.py (which checks an instance on every compute) and before
test_tls_off.py: it moves the last compute's instance away for good. In order, as an operator would:
scale in without drain (refused, nothing changed), with drain (the instance live-migrates over libvirt
TLS and keeps answering ping; the node's service, resource provider, host mapping, chassis and
NodeSet entry go), again (changed=0), then the main job with ``--limit <node>,localhost`` (the node
rejoins, nothing else changes) and a new instance on it that reaches the migrated one; the rolling
update (a broken canary stops it; fixed, it updates every node with its instances moved away and
back, pings counted), again (changed=0); the drift report; the firewall.
"""

import base64
import json
import os
import subprocess
import threading
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
    # Neutron marks the port ACTIVE once OVN reports it up on the destination (seen a few seconds after)
    deadline = time.monotonic() + 60
    while (cloud.network.get_port(port.id).status != "ACTIVE") and time.monotonic() < deadline:
        time.sleep(2)
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


UPDATE = os.path.join(ROOT, "playbooks/update.yml")
BROKEN_APT = "/etc/apt/apt.conf.d/00tenrec-broken-on-purpose"
OLDER = "ca-certificates"  # the managed package the lab image holds older than the mirror (bootstrap's)


class PingProbe(threading.Thread):
    """Pings every instance once a round (about 1 s apart) from the tenant network: from the OVN
    metadata namespace of each compute that has one (the namespace is where the node's metadata
    agent reaches its instances). An instance answers a round when any namespace got its reply;
    ``lost`` counts the rounds it did not."""

    def __init__(self, ports):
        super().__init__(daemon=True)
        self.ips = [port.fixed_ips[0]["ip_address"] for port in ports]
        self.netns = "ovnmeta-%s" % ports[0].network_id
        self.sent = dict.fromkeys(self.ips, 0)
        self.lost = dict.fromkeys(self.ips, 0)
        self.done = threading.Event()

    def round(self):
        script = "for ip in %s; do ping -c 1 -W 1 $ip >/dev/null 2>&1 && echo $ip & done; wait" % " ".join(self.ips)
        calls = [subprocess.Popen(["podman", "exec", name, "ip", "netns", "exec", self.netns, "sh", "-c", script],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for name in COMPUTES]
        answered = set()
        for call in calls:
            answered.update(call.communicate()[0].split())
        for ip in self.ips:
            self.sent[ip] += 1
            self.lost[ip] += ip not in answered

    def run(self):
        while not self.done.is_set():
            started = time.monotonic()
            self.round()
            self.done.wait(max(0.0, 1.0 - (time.monotonic() - started)))

    def stop(self):
        self.done.set()
        self.join(30)
        return {ip: (self.sent[ip], self.lost[ip]) for ip in self.ips}


def servers_by_host(conn):
    return {s.name: s.compute_host for s in conn.compute.servers(all_projects=True)}


def behind(host, name):
    return OLDER + "/" in cmp(host, name).check_output("apt list --upgradable 2>/dev/null")


def started_at(host, name, unit):
    return cmp(host, name).check_output("systemctl show -P ActiveEnterTimestampMonotonic %s", unit)


def test_rolling_update_stops_at_a_broken_canary_and_leaves_it_disabled(host, cloud):
    """The lab image holds OLDER behind the mirror on every compute. The canary's package manager is
    broken on purpose (a dpkg hook that fails): the canary is drained, then its update fails; the
    rollout stops there, names it and the reason, leaves its service disabled and touches no other node."""
    canary, rest = sorted(COMPUTES)[0], sorted(COMPUTES)[1:]
    for name in COMPUTES:
        assert behind(host, name), name
    cmp(host, canary).check_output("echo 'DPkg::Pre-Invoke {\"echo broken on purpose >&2; exit 1\";};' > %s", BROKEN_APT)
    try:
        rc, events, out, stats = run_playbook(UPDATE, {"tenrec_update_timeout": 300})
    finally:
        cmp(host, canary).check_output("rm -f %s", BROKEN_APT)
    assert rc != 0
    failed = failures(events)
    assert list(failed) == [canary], failed
    msg = failed[canary][2]
    assert msg.startswith("rolling update stopped at %s" % canary) and "stays disabled" in msg, msg
    plans = {e["event_data"]["host"]: e["event_data"]["res"]["behind"] for e in events
             if e["event"] == "runner_on_ok" and e["event_data"]["task"].startswith("Plan - the managed packages")}
    assert set(plans) == {canary}, plans  # the later batches never ran
    assert OLDER in [b["name"] for b in plans[canary]], plans
    services = {s.host: (s.status, s.disabled_reason) for s in cloud.compute.services(binary="nova-compute")}
    assert services[canary] == ("disabled", "rolling update by tenrec.dataplane"), services
    assert [s for s, h in servers_by_host(cloud).items() if h == canary] == []  # drained before the update
    for name in rest:
        assert services[name] == ("enabled", None) and behind(host, name), (name, services)
        assert not changed_hosts(stats).get(name), stats


def test_rolling_update_moves_instances_away_and_back_and_they_keep_answering_ping(host, cloud):
    """The rollout the operator runs once the canary is fixed, with tenrec_update_move_back: every
    node's instances move away before its packages change and come back after; the probe counts the
    pings lost (zero is the goal); services restart only where their packages changed (here none)."""
    before = servers_by_host(cloud)
    assert len(before) >= 2, before
    ports = [p for name in before for p in cloud.network.ports(device_id=cloud.compute.find_server(name).id)]
    restarts = {(name, unit): started_at(host, name, unit) for name in COMPUTES
                for unit in ("nova-compute", "ovn-controller", "neutron-ovn-metadata-agent")}
    probe = PingProbe(ports)
    probe.start()
    t0 = time.monotonic()
    try:
        rc, events, out, stats = run_playbook(UPDATE, {"tenrec_update_move_back": True, "tenrec_update_timeout": 300})
    finally:
        counts = probe.stop()
    took = time.monotonic() - t0
    assert rc == 0, (failures(events), out[-3000:])
    for name in COMPUTES:
        assert not behind(host, name), name
    services = {s.host: (s.status, s.state) for s in cloud.compute.services(binary="nova-compute")}
    assert all(services[name] == ("enabled", "up") for name in COMPUTES), services
    assert servers_by_host(cloud) == before
    for server in cloud.compute.servers(all_projects=True):
        assert server.status == "ACTIVE", (server.name, server.status)
    # on each node, its instances moved away before its packages changed
    order = [(e["event_data"]["host"], e["event_data"]["task"]) for e in events if e["event"] == "runner_on_ok"]
    for name in COMPUTES:
        drain = order.index((name, "Move every server off the node, one at a time"))
        update = order.index((name, "Update the base packages with a newer version"))
        assert drain < update, (name, drain, update)
    # no package or configuration of nova, OVN or the metadata agent changed: none of them restarted
    assert {k: started_at(host, *k) for k in restarts} == restarts
    # how often each instance moved in this run (away, and back), from the drain's results
    ip_of = {p.device_id: p.fixed_ips[0]["ip_address"] for p in ports}
    moves = dict.fromkeys(ip_of.values(), 0)
    for e in events:
        if e["event"] == "runner_on_ok" and e["event_data"]["task"] in (
                "Move every server off the node, one at a time", "Move the servers back"):
            res = e["event_data"]["res"]
            for one in res.get("results") or [res]:  # the move back loops over the servers
                for move in one.get("moved") or []:
                    moves[ip_of[move["id"]]] += 1
    print("rolling update with move back of %d nodes: %.0f s; per instance: pings sent, lost, live migrations: %s"
          % (len(COMPUTES), took, {ip: counts[ip] + (moves[ip],) for ip in counts}))
    assert sum(moves.values()) >= 2, moves
    for ip, (sent, lost) in counts.items():
        assert sent >= 10, counts
        # zero is the goal; OVN moves the port to the destination chassis as the migration ends, which
        # costs a few rounds per move here (2 to 3 seen)
        assert lost <= 5 * moves[ip], (ip, counts[ip], moves[ip])


def test_rolling_update_again_changes_nothing(host):
    rc, events, out, stats = run_playbook(UPDATE)
    assert rc == 0, (failures(events), out[-3000:])
    assert changed_hosts(stats) == {}, stats
    assert out.count("left alone") == len(COMPUTES), out[-3000:]


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
    """Nothing would change on any compute and, after the rolling update above, no managed package is
    behind (the lab image's older one was the update's work; should the mirror hold a newer version of
    another, apt itself must say it is upgradable, and once upgraded the report says no drift)."""
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
    if any(behind.values()):  # else the run above is already the converged fleet's
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
