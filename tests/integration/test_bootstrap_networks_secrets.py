"""The bootstrap's networks and secrets steps through Ansible (ansible-runner) against the test API
server: controlplane_networks with the lab's nmstate stand-in (kubeapi.nmstate) turning the
NodeNetworkConfigurationPolicies Available, and controlplane_secrets - on the test server and on a
real kube-apiserver - with a check that no value reaches -vvv output or job events, and a proof
that this check finds a value that does."""

import base64
import hashlib
import json
import os
import re
import uuid

import ansible_runner
import pytest
import yaml
from kubernetes import client, config

from kube_support import CRDS, ROOT, run_play
from kubeapi import KubeAPIServer
from kubeapi.nmstate import NMState

needs_crds = pytest.mark.skipif(not CRDS.is_dir(), reason="../shared/crds is not there")
stand_in = pytest.mark.test_server_only("nmstate is a stand-in in the test server")

# BOOTSTRAP-NOTES §4-7 (install_yamls' defaults): ctlplane on the linux-bridge ospbr, three VLANs
NETWORKS = [
    {"name": "ctlplane", "cidr": "192.168.122.0/24", "gateway": "192.168.122.1",
     "allocation_ranges": [{"start": "192.168.122.100", "end": "192.168.122.250"}],
     "nad_range": {"start": "192.168.122.30", "end": "192.168.122.70"},
     "metallb_range": {"start": "192.168.122.80", "end": "192.168.122.90"}},
] + [{"name": name, "vlan": vlan, "cidr": "172.%d.0.0/24" % third,
      "allocation_ranges": [{"start": "172.%d.0.100" % third, "end": "172.%d.0.250" % third}],
      "nad_range": {"start": "172.%d.0.30" % third, "end": "172.%d.0.70" % third},
      "metallb_range": {"start": "172.%d.0.80" % third, "end": "172.%d.0.90" % third}}
     for name, vlan, third in (("internalapi", 20, 17), ("storage", 21, 18), ("tenant", 22, 19))]


def workers(*indexes, nic="enp6s0"):
    return [{"name": "worker-%d" % i, "interface": nic,
             "addresses": {"ctlplane": "192.168.122.%d" % (10 + i), "internalapi": "172.17.0.%d" % (10 + i),
                           "storage": "172.18.0.%d" % (10 + i), "tenant": "172.19.0.%d" % (10 + i)}}
            for i in indexes]


# ----- networks ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A server of its own (the stand-in adds nmstate's enactment CRD to it) and the nmstate stand-in."""
    server = KubeAPIServer(crd_dir=str(CRDS), state_dir=str(tmp_path_factory.mktemp("kubeapi")),
                           namespaces=("openstack", "metallb-system")).start()
    kubeconfig = server.write_kubeconfig(str(tmp_path_factory.mktemp("kc") / "kubeconfig"))
    nmstate = NMState(server, interval=0.2)
    nmstate.start()
    api = config.new_client_from_config(config_file=kubeconfig)
    yield {"server": server, "kubeconfig": kubeconfig, "custom": client.CustomObjectsApi(api),
           "core": client.CoreV1Api(api)}
    nmstate.stop()
    server.stop()


def networks_task(cluster, **args):
    args = dict({"kubeconfig": cluster["kubeconfig"], "networks": NETWORKS, "workers": workers(0, 1),
                 "wait_timeout": 30, "wait_sleep": 1}, **args)
    return {"name": "Apply the networks", "tenrec.dataplane.controlplane_networks": args, "register": "nets"}


def listed(cluster, group, version, plural, namespace=None):
    custom = cluster["custom"]
    if namespace is None:
        items = custom.list_cluster_custom_object(group, version, plural)["items"]
    else:
        items = custom.list_namespaced_custom_object(group, version, namespace, plural)["items"]
    return sorted(i["metadata"]["name"] for i in items)


def fresh_namespaces(cluster, *names):
    for name in names:
        cluster["core"].create_namespace({"metadata": {"name": name}})


@needs_crds
@stand_in
def test_networks_applied_policies_available_then_rerun_unchanged(cluster, tmp_path):
    rc, out, res = run_play(tmp_path, [networks_task(cluster)])
    assert rc == 0, out
    nets = res["nets"]
    assert nets["changed"] is True
    assert nets["objects"] == {
        "NodeNetworkConfigurationPolicy": ["enp6s0-worker-0", "enp6s0-worker-1"],
        "NetworkAttachmentDefinition": ["ctlplane", "internalapi", "storage", "tenant"],
        "IPAddressPool": ["ctlplane", "internalapi", "storage", "tenant"],
        "L2Advertisement": ["ctlplane", "internalapi", "storage", "tenant"], "NetConfig": ["netconfig"]}
    assert len(nets["changed_objects"]) == 15
    assert [(p["node"], p["reason"], p["message"]) for p in nets["policies"]] == [
        ("worker-0", "SuccessfullyConfigured", "1/1 nodes successfully configured"),
        ("worker-1", "SuccessfullyConfigured", "1/1 nodes successfully configured")]
    custom = cluster["custom"]
    nncp = custom.get_cluster_custom_object("nmstate.io", "v1", "nodenetworkconfigurationpolicies", "enp6s0-worker-1")
    available = [c for c in nncp["status"]["conditions"] if c["type"] == "Available"][0]
    assert (available["status"], available["reason"]) == ("True", "SuccessfullyConfigured")
    assert [i["name"] for i in nncp["spec"]["desiredState"]["interfaces"]] == ["ospbr", "enp6s0.20", "enp6s0.21",
                                                                               "enp6s0.22"]
    enactment = custom.get_cluster_custom_object("nmstate.io", "v1beta1", "nodenetworkconfigurationenactments",
                                                 "worker-1.enp6s0-worker-1")
    assert enactment["status"]["policyGeneration"] == nncp["metadata"]["generation"]
    nad = custom.get_namespaced_custom_object("k8s.cni.cncf.io", "v1", "openstack", "network-attachment-definitions",
                                              "internalapi")
    config = json.loads(nad["spec"]["config"])
    assert (config["type"], config["master"]) == ("macvlan", "enp6s0.20")
    assert config["ipam"] == {"type": "whereabouts", "range": "172.17.0.0/24", "range_start": "172.17.0.30",
                              "range_end": "172.17.0.70"}
    pool = custom.get_namespaced_custom_object("metallb.io", "v1beta1", "metallb-system", "ipaddresspools", "storage")
    assert pool["spec"]["addresses"] == ["172.18.0.80-172.18.0.90"] and pool["spec"]["autoAssign"] is True
    adv = custom.get_namespaced_custom_object("metallb.io", "v1beta1", "metallb-system", "l2advertisements", "ctlplane")
    assert adv["spec"] == {"ipAddressPools": ["ctlplane"], "interfaces": ["ospbr"]}
    netconfig = custom.get_namespaced_custom_object("network.openstack.org", "v1beta1", "openstack", "netconfigs",
                                                    "netconfig")
    assert [n["name"] for n in netconfig["spec"]["networks"]] == ["ctlplane", "internalapi", "storage", "tenant"]
    assert netconfig["spec"]["networks"][1]["subnets"] == [
        {"name": "subnet1", "cidr": "172.17.0.0/24", "vlan": 20,
         "allocationRanges": [{"start": "172.17.0.100", "end": "172.17.0.250"}]}]
    generations = {n: custom.get_cluster_custom_object("nmstate.io", "v1", "nodenetworkconfigurationpolicies", n)
                   ["metadata"]["generation"] for n in ("enp6s0-worker-0", "enp6s0-worker-1")}

    rc, out, res = run_play(tmp_path, [networks_task(cluster)])
    assert rc == 0, out
    assert res["nets"]["changed"] is False and res["nets"]["changed_objects"] == [], out
    assert all(p["reason"] == "SuccessfullyConfigured" for p in res["nets"]["policies"])
    assert generations == {n: custom.get_cluster_custom_object("nmstate.io", "v1", "nodenetworkconfigurationpolicies",
                                                               n)["metadata"]["generation"] for n in generations}


@needs_crds
@stand_in
def test_check_mode_on_a_fresh_namespace_writes_nothing(cluster, tmp_path):
    fresh_namespaces(cluster, "openstack-check", "metallb-check")
    rv = cluster["server"].store.rv
    task = networks_task(cluster, namespace="openstack-check", metallb_namespace="metallb-check",
                         workers=workers(5, 6))
    rc, out, res = run_play(tmp_path, [task], check=True, diff=True)
    assert rc == 0, out
    nets = res["nets"]
    assert nets["changed"] is True and len(nets["changed_objects"]) == 15
    assert "NodeNetworkConfigurationPolicy enp6s0-worker-5" in nets["changed_objects"]
    assert all(p["reason"] == "" for p in nets["policies"])  # a policy that would change is not waited for
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert "NetworkAttachmentDefinition internalapi in namespace openstack-check" in plain
    assert re.search(r"^\+\s+- 172\.19\.0\.80-172\.19\.0\.90$", plain, re.M), plain
    assert cluster["server"].store.rv == rv  # not one write
    for plural, group, version in (("network-attachment-definitions", "k8s.cni.cncf.io", "v1"),
                                   ("netconfigs", "network.openstack.org", "v1beta1")):
        assert listed(cluster, group, version, plural, "openstack-check") == []
    assert listed(cluster, "metallb.io", "v1beta1", "ipaddresspools", "metallb-check") == []
    assert "enp6s0-worker-5" not in listed(cluster, "nmstate.io", "v1", "nodenetworkconfigurationpolicies")


@needs_crds
@stand_in
def test_bad_cidr_fails_naming_network_and_field_before_any_write(cluster, tmp_path):
    fresh_namespaces(cluster, "openstack-bad")
    rv = cluster["server"].store.rv
    networks = [dict(n) for n in NETWORKS]
    networks[2]["cidr"] = "172.18.0.0/33"
    rc, out, res = run_play(tmp_path, [networks_task(cluster, namespace="openstack-bad", networks=networks,
                                                     workers=workers(7))])
    assert rc != 0
    assert "networks[2] (storage).cidr: '172.18.0.0/33' is not a CIDR" in out
    assert res["nets"]["failed"] is True
    assert cluster["server"].store.rv == rv
    assert listed(cluster, "k8s.cni.cncf.io", "v1", "network-attachment-definitions", "openstack-bad") == []


@needs_crds
@stand_in
def test_failing_policy_names_the_node_and_reason(cluster, tmp_path):
    """A worker NIC nmstate cannot find (the stand-in's fail-* marker): the policy turns Degraded; the
    module names the policy, the node, nmstate's reason and the enactment's error, and writes nothing
    after the policies."""
    fresh_namespaces(cluster, "openstack-fail")
    task = networks_task(cluster, namespace="openstack-fail", workers=workers(8, nic="fail-nic0"), wait_timeout=20)
    rc, out, res = run_play(tmp_path, [task])
    assert rc != 0
    msg = res["nets"]["msg"]
    assert msg.startswith("NodeNetworkConfigurationPolicy fail-nic0-worker-8 failed on node worker-8: Degraded=True "
                          "(FailedToConfigure): 1/1 nodes failed to configure; enactment worker-8.fail-nic0-worker-8 "
                          "(node worker-8): Failing (FailedToConfigure): error reconciling "
                          "NodeNetworkConfigurationPolicy on node worker-8"), msg
    assert "no such NIC fail-nic0" in msg
    assert listed(cluster, "k8s.cni.cncf.io", "v1", "network-attachment-definitions", "openstack-fail") == []


# ----- secrets -------------------------------------------------------------------------------------
OSP_KEYS = sorted(["AdminPassword", "AodhPassword", "BarbicanPassword", "BarbicanSimpleCryptoKEK", "CeilometerPassword",
                   "CloudKittyPassword", "DbRootPassword", "DatabasePassword", "DesignatePassword", "PlacementPassword",
                   "GlancePassword", "NeutronPassword", "CinderPassword", "IronicPassword", "IronicInspectorPassword",
                   "KeystoneOIDCClientSecret", "KeystoneOIDCCryptoPassphrase", "OctaviaPassword",
                   "OctaviaHeartbeatKey", "NovaPassword", "ManilaPassword", "MetadataSecret", "HeatPassword",
                   "HeatAuthEncryptionKey", "HeatStackDomainAdminPassword", "SwiftPassword", "WatcherPassword"])
EXPECTED = {"osp-secret": OSP_KEYS, "libvirt-secret": ["LibvirtPassword"],
            "octavia-ca-passphrase": ["server-ca-passphrase"]}


@pytest.fixture
def namespace(api_client):
    """A namespace of the test's own on ``api_server``."""
    name = "secrets-" + uuid.uuid4().hex[:8]
    client.CoreV1Api(api_client).create_namespace({"metadata": {"name": name}})
    return name


def secrets_task(kubeconfig, namespace, **args):
    return {"name": "Ensure the control plane's secrets", "register": "sec",
            "tenrec.dataplane.controlplane_secrets": dict({"kubeconfig": kubeconfig, "namespace": namespace}, **args)}


def read_secrets(api_client, namespace):
    """{secret: {key: decoded value}} and {secret: raw data} of the three Secrets, read from the API."""
    core = client.CoreV1Api(api_client)
    decoded, raw = {}, {}
    for name in EXPECTED:
        try:
            data = core.read_namespaced_secret(name, namespace).data or {}
        except client.exceptions.ApiException as exc:
            if exc.status == 404:
                continue
            raise
        raw[name] = data
        decoded[name] = dict((k, base64.b64decode(v).decode()) for k, v in data.items())
    return decoded, raw


def expected_hash(data):
    return hashlib.sha256("".join("%s=%s\n" % (k, data[k]) for k in sorted(data)).encode()).hexdigest()


def test_secrets_created_with_every_key_then_rerun_unchanged(api_server, api_kubeconfig, api_client, namespace,
                                                             tmp_path):
    rc, out, res = run_play(tmp_path, [secrets_task(api_kubeconfig, namespace)])
    assert rc == 0, out
    sec = res["sec"]
    assert sec["changed"] is True
    values, raw = read_secrets(api_client, namespace)
    assert dict((n, sorted(v)) for n, v in values.items()) == EXPECTED
    for name, keys in EXPECTED.items():
        report = sec["secrets"][name]
        assert report["created"] is True and sorted(report["added_keys"]) == keys and report["kept_keys"] == []
        assert report["sha256"] == expected_hash(raw[name])
    osp = values["osp-secret"]
    assert len(base64.b64decode(osp["BarbicanSimpleCryptoKEK"])) == 32
    assert re.match(r"^[0-9a-f]{32}$", osp["HeatAuthEncryptionKey"])
    assert all(re.match(r"^[A-Za-z0-9]{32}$", osp[k]) for k in OSP_KEYS
               if k not in ("BarbicanSimpleCryptoKEK", "HeatAuthEncryptionKey"))
    assert len(set(osp.values())) == len(osp)  # each generated on its own

    rc, out, res = run_play(tmp_path, [secrets_task(api_kubeconfig, namespace)])
    assert rc == 0, out
    assert res["sec"]["changed"] is False
    assert dict((n, r["sha256"]) for n, r in res["sec"]["secrets"].items()) == dict(
        (n, r["sha256"]) for n, r in sec["secrets"].items())
    assert all(r["added_keys"] == [] and r["created"] is False for r in res["sec"]["secrets"].values())
    assert read_secrets(api_client, namespace)[0] == values


def test_user_set_key_kept_and_preexisting_key_not_rotated(api_server, api_kubeconfig, api_client, namespace,
                                                           tmp_path):
    core = client.CoreV1Api(api_client)
    core.create_namespaced_secret(namespace, {"metadata": {"name": "osp-secret"}, "stringData": {
        "AdminPassword": "PreExistingAdminPw1", "SiteExtraKey": "SomeoneElsesValue1"}})
    values = {"osp-secret": {"DbRootPassword": "UserChosenDbRootPw1"}, "libvirt-secret": {"LibvirtPassword": "UserLibvirt1"}}
    rc, out, res = run_play(tmp_path, [secrets_task(api_kubeconfig, namespace, values=values)])
    assert rc == 0, out
    osp = res["sec"]["secrets"]["osp-secret"]
    assert osp["created"] is False and osp["set_keys"] == ["DbRootPassword"]
    assert osp["kept_keys"] == ["AdminPassword", "SiteExtraKey"]
    assert "AdminPassword" not in osp["added_keys"] and len(osp["added_keys"]) == len(OSP_KEYS) - 2
    stored = read_secrets(api_client, namespace)[0]
    assert stored["osp-secret"]["AdminPassword"] == "PreExistingAdminPw1"
    assert stored["osp-secret"]["SiteExtraKey"] == "SomeoneElsesValue1"
    assert stored["osp-secret"]["DbRootPassword"] == "UserChosenDbRootPw1"
    assert stored["libvirt-secret"] == {"LibvirtPassword": "UserLibvirt1"}

    rc, out, res = run_play(tmp_path, [secrets_task(api_kubeconfig, namespace, values=values)])
    assert rc == 0 and res["sec"]["changed"] is False, out
    rc, out, res = run_play(tmp_path, [secrets_task(api_kubeconfig, namespace)])  # values no longer given
    assert rc == 0 and res["sec"]["changed"] is False, out
    assert read_secrets(api_client, namespace)[0] == stored
    assert "DbRootPassword" in res["sec"]["secrets"]["osp-secret"]["kept_keys"]


def test_check_mode_reports_what_it_would_create_and_writes_nothing(
        api_server, api_kubeconfig, api_client, namespace, tmp_path):
    rc, out, res = run_play(tmp_path, [secrets_task(api_kubeconfig, namespace)], check=True, diff=True)
    assert rc == 0, out
    sec = res["sec"]
    assert sec["changed"] is True
    assert all(sec["secrets"][n]["created"] is True and sorted(sec["secrets"][n]["added_keys"]) == k
               and sec["secrets"][n]["sha256"] is None for n, k in EXPECTED.items())
    assert read_secrets(api_client, namespace) == ({}, {})
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert re.search(r"^\+\s+AdminPassword: <hidden> \(generated\)$", plain, re.M), plain


def run_vvv(tmp_path, tasks):
    """``tasks`` through ansible-runner at -vvv with --diff: (rc, stdout, every job event as JSON text)."""
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    (tmp_path / "project").mkdir(parents=True, exist_ok=True)
    (tmp_path / "project" / "play.yml").write_text(yaml.safe_dump(play))
    result = ansible_runner.run(private_data_dir=str(tmp_path), playbook="play.yml", quiet=True, verbosity=3,
                                cmdline="--diff", extravars={"ansible_python_interpreter": os.sys.executable},
                                envvars={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")})
    return result.rc, result.stdout.read(), json.dumps(list(result.events))


def leaks(values, *texts):
    """The ``secret/key`` whose value (as is or base64) is in any of ``texts``."""
    found = []
    for name, data in sorted(values.items()):
        for key, value in sorted(data.items()):
            forms = (value, base64.b64encode(value.encode()).decode())
            if any(form in text for form in forms for text in texts):
                found.append("%s/%s" % (name, key))
    return found


@pytest.mark.parametrize("leak", [False, True], ids=["no-value-printed", "proof-detector-finds-a-printed-value"])
def test_no_secret_value_in_vvv_output_or_job_events(api_server, api_kubeconfig, api_client, namespace, tmp_path, leak):
    """At -vvv with --diff neither the output nor ansible-runner's job events (what AWX stores) hold
    any value of the three Secrets - generated, user-set, or already there. The proof case prints
    one value on purpose (a debug task without no_log) and shows the detector finds it."""
    tasks = [secrets_task(api_kubeconfig, namespace, values={"osp-secret": {"AdminPassword": "UserAdminPw-1234567"}})]
    tasks.append(dict(tasks[0], name="Again (unchanged)", register="again"))
    if leak:
        tasks += [{"name": "Read osp-secret back (test-only leak)", "register": "stored",
                   "kubernetes.core.k8s_info": {"kubeconfig": api_kubeconfig, "kind": "Secret", "namespace": namespace,
                                                "name": "osp-secret"}},
                  {"name": "Print one value (test-only leak)",
                   "ansible.builtin.debug": {"msg": "{{ stored.resources[0].data.NovaPassword | b64decode }}"}}]
    rc, text, events = run_vvv(tmp_path, tasks)
    assert rc == 0, text[-3000:]
    assert "Ensure the control plane's secrets" in text and "ESTABLISH LOCAL CONNECTION" in text, "not a -vvv run"
    values = read_secrets(api_client, namespace)[0]
    assert sorted(values["osp-secret"]) == OSP_KEYS and values["osp-secret"]["AdminPassword"] == "UserAdminPw-1234567"
    found = leaks(values, text, events)
    if leak:
        assert "osp-secret/NovaPassword" in found, "the detector missed a printed value"
    else:
        assert found == [], "secret values in -vvv output or job events: %s" % found
        assert "<hidden> (generated)" in text  # the diff was printed, masked
