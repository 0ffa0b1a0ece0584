"""The main job on the lab: what an operator checks after `ansible-playbook tenrec.dataplane.site`.

Nova and Placement through openstacksdk, cell mapping with nova-manage, OVN chassis with ovn-sbctl,
the control plane's objects through the lab's Kubernetes API, and
prechecks failing on every node (and changing nothing) when RabbitMQ is down.
"""

import json
import os
import tempfile

import ansible_runner
import openstack
import pytest
import yaml

testinfra_hosts = ["ansible://tenrec-lab-ctl"]

ROOT = os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.getcwd())
INVENTORY = os.path.dirname(os.environ.get("MOLECULE_INVENTORY_FILE", os.path.join(ROOT, "inventories/lab/x")))
VARS = yaml.safe_load(open(os.path.join(ROOT, "inventories/lab/group_vars/all.yml")))
PASSWORD = VARS["lab_controlplane_password"]
CTL_IP = "10.88.20.10"
COMPUTES = {"tenrec-lab-cmp-0": "10.88.20.11", "tenrec-lab-cmp-1": "10.88.20.12"}


@pytest.fixture(scope="module")
def cloud():
    conn = openstack.connect(auth={"auth_url": "http://%s:5000/v3" % CTL_IP, "username": "admin",
                                   "password": PASSWORD, "project_name": "admin", "user_domain_name": "Default",
                                   "project_domain_name": "Default"}, region_name="regionOne")
    yield conn
    conn.close()


def cmp(host, name):
    return host.get_host("ansible://%s" % name, ansible_inventory=host.backend.ansible_inventory)


def test_computes_up_with_hypervisor_and_resource_provider(cloud):
    services = {s.host: s for s in cloud.compute.services(binary="nova-compute")}
    hypervisors = {h.name: h for h in cloud.compute.hypervisors(details=True)}
    providers = {p.name: p for p in cloud.placement.resource_providers()}
    for name in COMPUTES:
        assert services[name].state == "up" and services[name].status == "enabled", name
        assert name in hypervisors, sorted(hypervisors)
        assert providers[name].id == hypervisors[name].id


def test_computes_mapped_to_cell1(host):
    out = host.check_output("nova-manage cell_v2 list_hosts")
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in out.splitlines() if line.startswith("|")]
    assert {r[2] for r in rows if r[0] == "cell1"} >= set(COMPUTES)


def test_ovn_chassis_with_geneve_and_encap_ip(host):
    data = json.loads(host.check_output("ovn-sbctl --format=json --columns=hostname,encaps list Chassis"))
    chassis = {row[0]: row[1] for row in data["data"]}
    encaps = json.loads(host.check_output("ovn-sbctl --format=json --columns=_uuid,type,ip list Encap"))
    by_uuid = {row[0][1]: (row[1], row[2]) for row in encaps["data"]}
    for name, ip in COMPUTES.items():
        assert name in chassis, sorted(chassis)
        ref = chassis[name]
        uuids = [ref[1]] if ref[0] == "uuid" else [u[1] for u in ref[1]]
        assert ("geneve", ip) in [by_uuid[u] for u in uuids]


def test_controlplane_objects_in_the_lab_api():
    from kubernetes import client, config
    api = client.CustomObjectsApi(config.new_client_from_config(os.path.join(ROOT, "lab/state/kubeconfig")))
    cp = api.get_namespaced_custom_object("core.openstack.org", "v1beta1", "openstack", "openstackcontrolplanes",
                                          "openstack")
    assert cp["status"]["observedGeneration"] == cp["metadata"]["generation"]
    assert [c["status"] for c in cp["status"]["conditions"] if c["type"] == "Ready"] == ["True"]
    nodeset = api.get_namespaced_custom_object("dataplane.openstack.org", "v1beta1", "openstack",
                                               "openstackdataplanenodesets", "tenrec-computes")
    assert nodeset["spec"]["preProvisioned"] is True
    assert {n: v["networks"][0]["fixedIP"] for n, v in nodeset["spec"]["nodes"].items()} == COMPUTES


def run_prechecks():
    with tempfile.TemporaryDirectory() as tmp:
        result = ansible_runner.run(private_data_dir=tmp, playbook=os.path.join(ROOT, "playbooks/prechecks.yml"),
                                    inventory=INVENTORY, quiet=True,
                                    envvars={k: v for k, v in os.environ.items()
                                             if k.startswith(("ANSIBLE_", "K8S_"))})
        return result.rc, list(result.events), result.stdout.read(), result.stats or {}


def test_prechecks_pass_then_fail_on_every_node_when_rabbitmq_is_down(host):
    rc, _events, out, stats = run_prechecks()
    assert rc == 0, out[-3000:]
    sums = {n: cmp(host, n).file("/etc/nova/nova.conf").sha256sum for n in COMPUTES}
    host.check_output("systemctl stop rabbitmq-server")
    try:
        rc, events, out, stats = run_prechecks()
    finally:
        host.check_output("systemctl start rabbitmq-server")
    assert rc != 0
    failed = {e["event_data"]["host"]: e["event_data"]["res"].get("msg", "") for e in events
              if e["event"] == "runner_on_failed" and e["event_data"]["task"] == "Report every failed check of this node at once"}
    assert set(failed) == set(COMPUTES), out[-3000:]
    for name, msg in failed.items():
        assert "AMQP endpoint amqp://%s:5672/" % CTL_IP in msg and "TCP connection failed" in msg, msg
    assert PASSWORD not in out
    assert not any(stats.get("changed", {}).get(n) for n in COMPUTES)
    assert {n: cmp(host, n).file("/etc/nova/nova.conf").sha256sum for n in COMPUTES} == sums
