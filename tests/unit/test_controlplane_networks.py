"""controlplane_networks without a server: the objects it builds from one description of the
networks and workers, and the validation that fails naming the network or worker and the field
before anything is sent. Also controlplane_secrets' planning (what it writes, never a value)."""

import base64
import copy
import json

import pytest

from ansible_collections.tenrec.dataplane.plugins.module_utils.k8s import ControlPlaneError
from ansible_collections.tenrec.dataplane.plugins.modules import controlplane_networks as cn
from ansible_collections.tenrec.dataplane.plugins.modules import controlplane_secrets as cs


def net(name, vlan, prefix, **extra):
    out = {"name": name, "vlan": vlan, "cidr": prefix + ".0/24", "gateway": None, "mtu": 1500, "dns_domain": "",
           "allocation_ranges": [{"start": prefix + ".100", "end": prefix + ".250"}],
           "nad_range": {"start": prefix + ".30", "end": prefix + ".70"},
           "metallb_range": {"start": prefix + ".80", "end": prefix + ".90"},
           "metallb_auto_assign": True, "interface": "", "nad_type": "macvlan"}
    out.update(extra)
    return out


NETWORKS = [net("ctlplane", None, "192.168.122", gateway="192.168.122.1"), net("internalapi", 20, "172.17.0"),
            net("storage", 21, "172.18.0"), net("tenant", 22, "172.19.0")]


def worker(index, nic="enp6s0"):
    return {"name": "worker-%d" % index, "interface": nic,
            "addresses": {"ctlplane": "192.168.122.%d" % (10 + index), "internalapi": "172.17.0.%d" % (10 + index),
                          "storage": "172.18.0.%d" % (10 + index), "tenant": "172.19.0.%d" % (10 + index)}}


def params(**extra):
    return dict({"networks": copy.deepcopy(NETWORKS), "workers": [worker(0), worker(1)], "namespace": "openstack",
                 "metallb_namespace": "metallb-system", "netconfig_name": "netconfig"}, **extra)


def by_kind(objects):
    out = {}
    for namespace, body in objects:
        out.setdefault(body["kind"], []).append((namespace, body))
    return out


def test_builds_every_object_in_apply_order():
    objects = cn.build(params())
    kinds = [body["kind"] for _ns, body in objects]
    assert kinds[:2] == ["NodeNetworkConfigurationPolicy"] * 2 and kinds[-1] == "NetConfig"
    found = by_kind(objects)
    assert [b["metadata"]["name"] for _n, b in found["NodeNetworkConfigurationPolicy"]] == [
        "enp6s0-worker-0", "enp6s0-worker-1"]
    assert all(ns is None for ns, _b in found["NodeNetworkConfigurationPolicy"])
    assert [(ns, b["metadata"]["name"]) for ns, b in found["NetworkAttachmentDefinition"]] == [
        ("openstack", n) for n in ("ctlplane", "internalapi", "storage", "tenant")]
    assert [ns for ns, _b in found["IPAddressPool"] + found["L2Advertisement"]] == ["metallb-system"] * 8


def test_nncp_has_the_bridge_and_vlan_interfaces_with_static_addresses():
    nncp = cn.build(params())[1][1]
    assert nncp["spec"]["nodeSelector"] == {"kubernetes.io/hostname": "worker-1", "node-role.kubernetes.io/worker": ""}
    assert nncp["metadata"]["labels"] == {"osp/interface": "enp6s0"}
    ifaces = nncp["spec"]["desiredState"]["interfaces"]
    assert [i["name"] for i in ifaces] == ["ospbr", "enp6s0.20", "enp6s0.21", "enp6s0.22"]
    bridge, internalapi = ifaces[0], ifaces[1]
    assert bridge["type"] == "linux-bridge" and bridge["bridge"]["port"] == [{"name": "enp6s0", "vlan": {}}]
    assert bridge["ipv4"] == {"enabled": True, "dhcp": False, "address": [{"ip": "192.168.122.11", "prefix-length": 24}]}
    assert internalapi["type"] == "vlan" and internalapi["vlan"] == {"base-iface": "enp6s0", "id": 20}
    assert internalapi["ipv4"]["address"] == [{"ip": "172.17.0.11", "prefix-length": 24}]
    assert internalapi["ipv6"] == {"enabled": False} and internalapi["state"] == "up"


def test_nad_config_is_cni_json_with_whereabouts():
    found = by_kind(cn.build(params()))
    ctl = json.loads(found["NetworkAttachmentDefinition"][0][1]["spec"]["config"])
    assert ctl["type"] == "macvlan" and ctl["master"] == "ospbr" and ctl["name"] == "ctlplane"
    assert ctl["ipam"] == {"type": "whereabouts", "range": "192.168.122.0/24", "range_start": "192.168.122.30",
                           "range_end": "192.168.122.70", "gateway": "192.168.122.1"}
    api = json.loads(found["NetworkAttachmentDefinition"][1][1]["spec"]["config"])
    assert api["master"] == "enp6s0.20" and "gateway" not in api["ipam"]
    networks = copy.deepcopy(NETWORKS)
    networks[0]["nad_type"] = "bridge"
    bridged = json.loads(by_kind(cn.build(params(networks=networks)))["NetworkAttachmentDefinition"][0][1]["spec"]["config"])
    assert bridged["type"] == "bridge" and bridged["bridge"] == "ospbr" and "master" not in bridged


def test_metallb_pool_and_advertisement_only_where_a_range_is_given():
    networks = copy.deepcopy(NETWORKS)
    networks[3]["metallb_range"] = None
    networks[1]["metallb_auto_assign"] = False
    found = by_kind(cn.build(params(networks=networks)))
    pools = dict((b["metadata"]["name"], b["spec"]) for _n, b in found["IPAddressPool"])
    assert sorted(pools) == ["ctlplane", "internalapi", "storage"]
    assert pools["internalapi"] == {"addresses": ["172.17.0.80-172.17.0.90"], "autoAssign": False}
    adv = dict((b["metadata"]["name"], b["spec"]) for _n, b in found["L2Advertisement"])
    assert adv["storage"] == {"ipAddressPools": ["storage"], "interfaces": ["enp6s0.21"]}
    assert "tenant" not in adv


def test_netconfig_networks_and_subnets():
    spec = cn.build(params())[-1][1]["spec"]
    ctl, api = spec["networks"][0], spec["networks"][1]
    assert ctl == {"name": "ctlplane", "dnsDomain": "ctlplane.example.com", "mtu": 1500, "subnets": [
        {"name": "subnet1", "cidr": "192.168.122.0/24", "gateway": "192.168.122.1",
         "allocationRanges": [{"start": "192.168.122.100", "end": "192.168.122.250"}]}]}
    assert api["subnets"][0]["vlan"] == 20 and "gateway" not in api["subnets"][0]


def test_named_interfaces_allow_workers_with_different_nics():
    networks = copy.deepcopy(NETWORKS)
    for n in networks[1:]:
        n["interface"] = n["name"]
    objects = cn.build(params(networks=networks, workers=[worker(0), worker(1, nic="eno1")]))
    second = objects[1][1]["spec"]["desiredState"]["interfaces"]
    assert [i["name"] for i in second] == ["ospbr", "internalapi", "storage", "tenant"]
    assert second[1]["vlan"]["base-iface"] == "eno1"


def mutate(path, value, workers=None):
    p = params()
    if workers is not None:
        p["workers"] = workers
    target = p
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return p


@pytest.mark.parametrize("path,value,message", [
    (("networks", 1, "cidr"), "172.17.0.0/33", "networks[1] (internalapi).cidr: '172.17.0.0/33' is not a CIDR"),
    (("networks", 1, "cidr"), "172.17.0.5/24", "networks[1] (internalapi).cidr: '172.17.0.5/24' is not a network"),
    (("networks", 1, "cidr"), "172.17.0.0", "networks[1] (internalapi).cidr"),
    (("networks", 2, "vlan"), 4095, "networks[2] (storage).vlan: 4095 is outside 1-4094"),
    (("networks", 2, "vlan"), 20, "networks[2] (storage).vlan: VLAN 20 is also network internalapi's"),
    (("networks", 3, "vlan"), None, "networks[3] (tenant).vlan: only one network can go without a VLAN"),
    (("networks", 1, "name"), "Internal_API", "networks[1] (Internal_API).name: 'Internal_API' is not a DNS label"),
    (("networks", 1, "name"), "ctlplane", "networks[1] (ctlplane).name: network ctlplane appears twice"),
    (("networks", 1, "gateway"), "172.18.0.1", "networks[1] (internalapi).gateway: 172.18.0.1 is outside"),
    (("networks", 1, "nad_range"), {"start": "172.17.0.70", "end": "172.17.0.30"},
     "networks[1] (internalapi).nad_range: start 172.17.0.70 is after end 172.17.0.30"),
    (("networks", 1, "nad_range"), {"start": "172.17.0.30", "end": "172.17.1.70"},
     "networks[1] (internalapi).nad_range.end: 172.17.1.70 is outside the network's cidr 172.17.0.0/24"),
    (("networks", 1, "nad_range"), {"start": "172.17.0.x", "end": "172.17.0.70"},
     "networks[1] (internalapi).nad_range.start: '172.17.0.x' is not an IP address"),
    (("networks", 1, "metallb_range"), {"start": "172.17.0.60", "end": "172.17.0.90"},
     "networks[1] (internalapi).nad_range: 172.17.0.30-172.17.0.70 overlaps metallb_range 172.17.0.60-172.17.0.90"),
    (("networks", 1, "mtu"), 10, "networks[1] (internalapi).mtu: 10 is outside 68-65535"),
    (("networks", 1, "interface"), "a-very-long-interface", "networks[1] (internalapi).interface: 'a-very-long-interface'"),
    (("networks", 1, "nad_type"), "bridge", "networks[1] (internalapi).nad_type: bridge needs the linux-bridge"),
    (("workers", 1, "addresses", "internalapi"), "172.18.0.11",
     "workers[1] (worker-1).addresses.internalapi: 172.18.0.11 is outside network internalapi's cidr 172.17.0.0/24"),
    (("workers", 1, "addresses", "internalapi"), "172.17.0.35",
     "workers[1] (worker-1).addresses.internalapi: 172.17.0.35 is inside network internalapi's nad_range"),
    (("workers", 1, "addresses", "internalapi"), "172.17.0.10",
     "workers[1] (worker-1).addresses.internalapi: 172.17.0.10 is also worker worker-0's address"),
    (("workers", 1, "addresses", "ctlplane"), "192.168.122.1",
     "workers[1] (worker-1).addresses.ctlplane: 192.168.122.1 is network ctlplane's gateway"),
    (("workers", 1, "addresses", "tenant"), "172.19.0.255", "172.19.0.255 is the network's broadcast address"),
    (("workers", 1, "addresses", "external"), "10.0.0.1", "workers[1] (worker-1).addresses.external: there is no network"),
    (("workers", 1, "name"), "Worker_1", "workers[1] (Worker_1).name: 'Worker_1' is not a DNS subdomain"),
    (("workers", 1, "name"), "worker-0", "workers[1] (worker-0).name: worker worker-0 appears twice"),
])
def test_validation_names_the_network_or_worker_and_field(path, value, message):
    with pytest.raises(ControlPlaneError) as err:
        cn.build(mutate(path, value))
    assert message in str(err.value)


def test_a_worker_without_an_address_on_a_network():
    p = params()
    del p["workers"][0]["addresses"]["storage"]
    with pytest.raises(ControlPlaneError, match=r"workers\[0\] \(worker-0\)\.addresses\.storage: the worker has no "
                                                r"address on network storage"):
        cn.build(p)


def test_different_nics_without_named_interfaces():
    with pytest.raises(ControlPlaneError, match=r"networks\[1\] \(internalapi\)\.interface: the workers' NICs differ "
                                                r"\(eno1, enp6s0\)"):
        cn.build(params(workers=[worker(0), worker(1, nic="eno1")]))


def test_ipv6_network():
    networks = [net("ctlplane", None, "192.168.122"),
                {"name": "storage6", "vlan": 30, "cidr": "fd00:30::/64", "gateway": None, "mtu": 9000, "dns_domain": "",
                 "allocation_ranges": [], "nad_range": {"start": "fd00:30::30", "end": "fd00:30::70"},
                 "metallb_range": None, "metallb_auto_assign": True, "interface": "", "nad_type": "macvlan"}]
    workers = [{"name": "worker-0", "interface": "enp6s0",
                "addresses": {"ctlplane": "192.168.122.10", "storage6": "fd00:30::10"}}]
    objects = cn.build(params(networks=networks, workers=workers))
    iface = objects[0][1]["spec"]["desiredState"]["interfaces"][1]
    assert iface["ipv4"] == {"enabled": False}
    assert iface["ipv6"] == {"enabled": True, "dhcp": False, "autoconf": False,
                             "address": [{"ip": "fd00:30::10", "prefix-length": 64}]}


# ----- waiting ---------------------------------------------------------------------------------------
def policy(generation, *conds):
    return {"metadata": {"name": "enp6s0-worker-0", "generation": generation},
            "status": {"conditions": [dict(zip(("type", "status", "reason", "message"), c)) for c in conds]}}


def test_policy_state():
    ok = policy(2, ("Available", "True", "SuccessfullyConfigured", "1/1 nodes successfully configured"))
    assert cn.policy_state(ok, None)[0] == "ok"
    assert cn.policy_state(ok, [{"status": {"policyGeneration": 1}}])[0] == "pending"  # not processed yet
    assert cn.policy_state(ok, [{"status": {"policyGeneration": 2}}])[0] == "ok"
    failed = policy(1, ("Available", "False", "FailedToConfigure", ""),
                    ("Degraded", "True", "FailedToConfigure", "1/1 nodes failed to configure"))
    state, cond = cn.policy_state(failed, [])
    assert state == "failed" and cond["reason"] == "FailedToConfigure"
    assert cn.policy_state(policy(1, ("Progressing", "True", "ConfigurationProgressing", "")), None)[0] == "pending"
    assert cn.policy_state(policy(1), None) == ("pending", None)
    enactment = {"metadata": {"name": "worker-0.enp6s0-worker-0", "labels": {"nmstate.io/node": "worker-0"}},
                 "status": {"conditions": [{"type": "Failing", "status": "True", "reason": "FailedToConfigure",
                                            "message": "error on node worker-0:\n no such NIC"}]}}
    text = cn.PolicyWaiter.describe(failed, "worker-0", cond, [enactment])
    assert text == ("NodeNetworkConfigurationPolicy enp6s0-worker-0 failed on node worker-0: Degraded=True "
                    "(FailedToConfigure): 1/1 nodes failed to configure; enactment worker-0.enp6s0-worker-0 "
                    "(node worker-0): Failing (FailedToConfigure): error on node worker-0: no such NIC")


# ----- controlplane_secrets' plan -------------------------------------------------------------------
def b64(text):
    return base64.b64encode(text.encode()).decode()


def test_secrets_plan_generates_missing_keeps_present_and_sets_user_values():
    existing = {"type": "Opaque", "data": {"AdminPassword": b64("kept-admin"), "Other": b64("someone-elses")},
                "metadata": {"managedFields": [{"manager": "tenrec-dataplane", "operation": "Apply",
                                                "fieldsV1": {"f:data": {".": {}, "f:Dropped": {}}}}]}}
    existing["data"]["Dropped"] = b64("was-ours")
    body, report, new = cs.plan("osp-secret", ["AdminPassword", "NovaPassword", "HeatAuthEncryptionKey",
                                               "BarbicanSimpleCryptoKEK", "DbRootPassword"],
                                existing, {"DbRootPassword": "chosen"}, "tenrec-dataplane", 32)
    assert report == {"created": False, "added_keys": ["NovaPassword", "HeatAuthEncryptionKey", "BarbicanSimpleCryptoKEK"],
                      "set_keys": ["DbRootPassword"], "kept_keys": ["AdminPassword", "Dropped", "Other"]}
    assert body["data"]["AdminPassword"] == b64("kept-admin") and body["data"]["DbRootPassword"] == b64("chosen")
    assert body["data"]["Dropped"] == b64("was-ours")  # applied before: still applied, so not removed
    assert "Other" not in body["data"]  # another writer's key: left to it
    assert len(new["NovaPassword"]) == 32 and new["NovaPassword"].isalnum()
    assert len(new["HeatAuthEncryptionKey"]) == 32 and int(new["HeatAuthEncryptionKey"], 16) >= 0
    assert len(base64.b64decode(new["BarbicanSimpleCryptoKEK"])) == 32


def test_secrets_plan_writes_nothing_when_complete():
    existing = {"data": {"LibvirtPassword": b64("x" * 32)}, "metadata": {}}
    body, report, new = cs.plan("libvirt-secret", ["LibvirtPassword"], existing, {}, "tenrec-dataplane", 32)
    assert body is None and new == {} and report["kept_keys"] == ["LibvirtPassword"]


def test_secrets_defaults_and_names():
    targets = cs.wanted({"secrets": None, "values": {"osp-secret": {"Extra": "v"}, "mine": {"k": "v"}}})
    assert len(targets["osp-secret"]) == 28 and targets["osp-secret"][-1] == "Extra"
    assert targets["libvirt-secret"] == ["LibvirtPassword"] and targets["octavia-ca-passphrase"] == ["server-ca-passphrase"]
    assert targets["mine"] == ["k"]
    with pytest.raises(ControlPlaneError, match="'Bad_Name' is not a Secret name"):
        cs.wanted({"secrets": {"Bad_Name": ["k"]}, "values": {}})
    with pytest.raises(ControlPlaneError, match=r"secrets.s: 'a b' is not a Secret key"):
        cs.wanted({"secrets": {"s": ["a b"]}, "values": {}})
    with pytest.raises(ControlPlaneError) as err:
        cs.wanted({"secrets": {}, "values": {"s": {"k": 12345678}}})
    assert "12345678" not in str(err.value)


def test_secrets_diff_and_hash_hold_no_value():
    before = {"data": {"AdminPassword": b64("S3cretAdminValue")}}
    diff = cs.masked_diff("osp-secret", "openstack", before, {"added_keys": ["NovaPassword"], "set_keys": []})
    assert "S3cretAdminValue" not in json.dumps(diff) and b64("S3cretAdminValue") not in json.dumps(diff)
    assert diff["after"]["data"] == {"AdminPassword": "<hidden>", "NovaPassword": "<hidden> (generated)"}
    assert cs.data_hash({"b": "Mg==", "a": "MQ=="}) == cs.data_hash({"a": "MQ==", "b": "Mg=="})
