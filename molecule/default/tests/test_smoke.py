"""Smoke: the ovn_controller role's services run on both lab containers, configured as asked."""

import json


def test_systemd_runs_as_pid1(host):
    state = host.run("systemctl is-system-running").stdout.strip()
    assert state in ("running", "degraded"), state


def test_services_active(host):
    assert host.service("openvswitch-switch").is_running
    assert host.service("ovn-controller").is_running
    assert host.service("ovn-controller").is_enabled


def test_external_ids_from_contract(host):
    out = host.check_output("ovs-vsctl --format=json --columns=external_ids list Open_vSwitch .")
    ids = dict(json.loads(out)["data"][0][0][1])
    assert ids["ovn-remote"] == "tcp:10.88.10.10:6642"
    assert ids["ovn-encap-type"] == "geneve"
    assert ids["system-id"] == host.check_output("hostname")
    assert ids["ovn-encap-ip"] == host.interface("eth0").addresses[0]


def test_integration_bridge(host):
    assert host.run("ovs-vsctl br-exists br-int").rc == 0
    assert host.check_output("ovs-vsctl get Bridge br-int datapath_type") == "netdev"
    assert host.check_output("ovs-vsctl get Bridge br-int fail_mode") == "secure"
