"""The compute stack on lab containers: what an operator checks on a node and on the controller."""

import configparser
import json

import pytest

CONTROLLER = "10.88.11.10"
COMPUTES = {"tenrec-cmp-0": "10.88.11.11", "tenrec-cmp-1": "10.88.11.12"}

testinfra_hosts = ["ansible://computes"]


def _admin(ctl, cmd):
    env = ("OS_AUTH_URL=http://%s:5000/v3 OS_USERNAME=admin OS_PASSWORD=lab-molecule-secret "
           "OS_PROJECT_NAME=admin OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default "
           "OS_REGION_NAME=regionOne OS_PLACEMENT_API_VERSION=1.6" % CONTROLLER)
    return json.loads(ctl.check_output("env %s openstack %s -f json" % (env, cmd)))


@pytest.fixture(scope="module")
def ctl(host):
    return host.get_host("ansible://tenrec-ctl", ansible_inventory=host.backend.ansible_inventory)


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
    assert conf["DEFAULT"]["transport_url"] == "rabbit://nova:lab-molecule-secret@%s:5672/" % CONTROLLER
    assert conf["placement"]["auth_url"] == "http://%s:5000/v3" % CONTROLLER
    assert conf["placement"]["region_name"] == "regionOne"
    assert conf["libvirt"]["virt_type"] == "qemu"
    assert conf["oslo_messaging_notifications"]["driver"] == "noop"


def test_libvirt_answers(host):
    assert host.run("virsh --connect qemu:///system list --all").rc == 0


def test_ovs_external_ids_and_br_int(host):
    out = host.check_output("ovs-vsctl --format=json --columns=external_ids list Open_vSwitch .")
    ids = dict(json.loads(out)["data"][0][0][1])
    name = host.check_output("hostname")
    assert ids["ovn-remote"] == "tcp:%s:6642" % CONTROLLER
    assert ids["ovn-encap-type"] == "geneve"
    assert ids["ovn-encap-ip"] == COMPUTES[name]
    assert ids["system-id"] == name
    assert host.run("ovs-vsctl br-exists br-int").rc == 0


def test_compute_is_in(host, ctl):
    name = host.check_output("hostname")
    services = {s["Host"]: s for s in _admin(ctl, "compute service list --service nova-compute")}
    assert services[name]["State"] == "up" and services[name]["Status"] == "enabled"
    hypervisors = [h["Hypervisor Hostname"] for h in _admin(ctl, "hypervisor list")]
    assert name in hypervisors
    mappings = ctl.check_output("nova-manage cell_v2 list_hosts")
    assert name in mappings and "cell1" in mappings
    chassis = json.loads(ctl.check_output(
        "ovn-sbctl --format=json --columns=hostname,encaps find Chassis hostname=%s" % name))["data"]
    assert chassis, "no OVN chassis for %s" % name
    encap = json.loads(ctl.check_output(
        "ovn-sbctl --format=json --columns=type,ip find Encap chassis_name=%s" % name))["data"]
    assert encap[0] == ["geneve", COMPUTES[name]]


def test_placement_resource_provider(host, ctl):
    name = host.check_output("hostname")
    providers = [p["name"] for p in _admin(ctl, "resource provider list")]
    assert name in providers


def test_metadata_agent_conf_and_its_chassis(host, ctl):
    f = host.file("/etc/neutron/neutron_ovn_metadata_agent.ini")
    assert (f.user, f.group, f.mode) == ("root", "neutron", 0o640)
    conf = configparser.ConfigParser(interpolation=None)
    conf.read_string(f.content_string)
    assert (conf["DEFAULT"]["nova_metadata_host"], conf["DEFAULT"]["nova_metadata_port"],
            conf["DEFAULT"]["nova_metadata_protocol"]) == (CONTROLLER, "8775", "http")
    assert conf["DEFAULT"]["metadata_proxy_shared_secret"] == "lab-molecule-metadata"
    assert conf["ovn"]["ovn_sb_connection"] == "tcp:%s:6642" % CONTROLLER
    # the agent announces itself on this node's chassis in the SB DB
    name = host.check_output("hostname")
    rows = json.loads(ctl.check_output(
        "ovn-sbctl --format=json --columns=external_ids find Chassis_Private name=%s" % name))["data"]
    assert rows and "neutron:ovn-metadata-id" in dict(rows[0][0][1]), rows
