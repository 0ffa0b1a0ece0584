"""playbooks/controlplane_bootstrap.yml through ansible-runner against a test server that starts as
an empty OpenShift cluster: only OLM's CRDs and the redhat-operators CatalogSource OpenShift ships,
with the lab's stand-ins for OLM + openstack-operator's init (kubeapi.olm) and nmstate
(kubeapi.nmstate) answering as those controllers do."""

import base64
import hashlib
import json
import os

import ansible_runner
import pytest
from kubernetes import client, config

from kube_support import CRDS, ROOT
from kubeapi import KubeAPIServer
from kubeapi.nmstate import NMState
from kubeapi.olm import OLM, load_crds, serve_crds

pytestmark = [pytest.mark.skipif(not CRDS.is_dir(), reason="../shared/crds is not there"),
              pytest.mark.test_server_only("OLM, openstack-operator's init and nmstate are stand-ins in the test server")]

PLAYBOOK = ROOT / "playbooks" / "controlplane_bootstrap.yml"
ADMIN = "Adm1n-set-by-the-site"
NETWORKS = [
    {"name": "ctlplane", "cidr": "10.91.0.0/24", "gateway": "10.91.0.1",
     "allocation_ranges": [{"start": "10.91.0.100", "end": "10.91.0.250"}],
     "nad_range": {"start": "10.91.0.30", "end": "10.91.0.70"},
     "metallb_range": {"start": "10.91.0.80", "end": "10.91.0.90"}},
    {"name": "internalapi", "vlan": 20, "cidr": "10.92.0.0/24",
     "allocation_ranges": [{"start": "10.92.0.100", "end": "10.92.0.250"}],
     "nad_range": {"start": "10.92.0.30", "end": "10.92.0.70"},
     "metallb_range": {"start": "10.92.0.80", "end": "10.92.0.90"}},
]
WORKERS = [{"name": "worker-%d" % i, "interface": "enp6s0",
            "addresses": {"ctlplane": "10.91.0.%d" % (10 + i), "internalapi": "10.92.0.%d" % (10 + i)}}
           for i in (0, 1)]
VARS = {"tenrec_bootstrap_networks": NETWORKS, "tenrec_bootstrap_workers": WORKERS,
        "tenrec_bootstrap_secret_values": {"osp-secret": {"AdminPassword": ADMIN}},
        "tenrec_bootstrap_olm_timeout": 120, "tenrec_bootstrap_init_timeout": 120,
        "tenrec_bootstrap_networks_timeout": 120}
PHASES = ["Bootstrap: operators through OLM", "Bootstrap: initialization", "Bootstrap: networks",
          "Bootstrap: secrets"]


@pytest.fixture
def cluster(tmp_path):
    """An empty cluster: the CRDs OpenShift brings (OLM's, Multus' NetworkAttachmentDefinition), the
    namespaces it has, its redhat-operators catalog."""
    server = KubeAPIServer(state_dir=str(tmp_path / "state"), namespaces=("default", "openshift-marketplace")).start()
    serve_crds(server, {n: d for n, d in load_crds(str(CRDS)).items() if n.endswith((".operators.coreos.com", ".k8s.cni.cncf.io"))})
    kubeconfig = server.write_kubeconfig(str(tmp_path / "kubeconfig"))
    api = config.new_client_from_config(config_file=kubeconfig)
    custom = client.CustomObjectsApi(api)
    custom.create_namespaced_custom_object("operators.coreos.com", "v1alpha1", "openshift-marketplace",
                                           "catalogsources", {
                                               "apiVersion": "operators.coreos.com/v1alpha1", "kind": "CatalogSource",
                                               "metadata": {"name": "redhat-operators"},
                                               "spec": {"sourceType": "grpc", "displayName": "Red Hat Operators",
                                                        "image": "registry.redhat.io/redhat/redhat-operator-index:v4.18"}})
    olm = OLM(server, crd_dir=str(CRDS), interval=0.2)
    nmstate = NMState(server, interval=0.2)
    olm.start()
    nmstate.start()
    yield {"server": server, "kubeconfig": kubeconfig, "api": api, "custom": custom}
    nmstate.stop()
    olm.stop()
    server.stop()


def run(tmp_path, cluster, name, check=False, verbosity=0, **extra):
    """The playbook as ansible-playbook runs it; ``(rc, stdout, events)``."""
    data = tmp_path / name
    (data / "inventory").mkdir(parents=True)
    (data / "inventory" / "hosts").write_text("localhost ansible_connection=local\n")
    result = ansible_runner.run(private_data_dir=str(data), playbook=str(PLAYBOOK), quiet=True, verbosity=verbosity,
                                cmdline="--check --diff" if check else None,
                                extravars=dict(VARS, tenrec_kubeconfig=cluster["kubeconfig"],
                                               ansible_python_interpreter=os.sys.executable, **extra),
                                envvars={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")})
    return result.rc, result.stdout.read(), list(result.events)


def stats(events):
    return [e["event_data"] for e in events if e["event"] == "playbook_on_stats"][0]


def stored(cluster):
    """Every object key in the server's store but the CRDs."""
    with cluster["server"].store.lock:
        return sorted(k for k in cluster["server"].store.objects if k[0] != "apiextensions.k8s.io")


def secret_data(cluster, name):
    return client.CoreV1Api(cluster["api"]).read_namespaced_secret(name, "openstack").data


def digest(data):
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def test_empty_cluster_to_the_control_plane_step_then_a_rerun_changes_nothing(cluster, tmp_path):
    rc, out, events = run(tmp_path, cluster, "first", verbosity=3)
    assert rc == 0, out[-4000:]
    custom = cluster["custom"]
    csvs = {c["metadata"]["name"]: c["status"]["phase"] for c in custom.list_cluster_custom_object(
        "operators.coreos.com", "v1alpha1", "clusterserviceversions")["items"]}
    assert len(csvs) == 4 and set(csvs.values()) == {"Succeeded"}, csvs
    init = custom.get_namespaced_custom_object("operator.openstack.org", "v1beta1", "openstack-operators",
                                               "openstacks", "openstack")
    assert {c["type"]: c["status"] for c in init["status"]["conditions"]}["Ready"] == "True"
    # what the control-plane phase needs next is served
    custom.list_namespaced_custom_object("core.openstack.org", "v1beta1", "openstack", "openstackcontrolplanes")
    policies = custom.list_cluster_custom_object("nmstate.io", "v1", "nodenetworkconfigurationpolicies")["items"]
    assert len(policies) == 2
    for policy in policies:
        available = [c for c in policy["status"]["conditions"] if c["type"] == "Available"][0]
        assert available["status"] == "True" and available["reason"] == "SuccessfullyConfigured"
    nads = custom.list_namespaced_custom_object("k8s.cni.cncf.io", "v1", "openstack",
                                                "network-attachment-definitions")["items"]
    assert sorted(n["metadata"]["name"] for n in nads) == ["ctlplane", "internalapi"]
    pools = custom.list_namespaced_custom_object("metallb.io", "v1beta1", "metallb-system", "ipaddresspools")["items"]
    assert sorted(p["metadata"]["name"] for p in pools) == ["ctlplane", "internalapi"]
    netconfig = custom.get_namespaced_custom_object("network.openstack.org", "v1beta1", "openstack", "netconfigs",
                                                    "netconfig")
    assert [n["name"].lower() for n in netconfig["spec"]["networks"]] == ["ctlplane", "internalapi"]
    osp = secret_data(cluster, "osp-secret")
    assert {"AdminPassword", "NovaPassword", "MetadataSecret", "DbRootPassword"} <= set(osp)
    assert base64.b64decode(osp["AdminPassword"]).decode() == ADMIN
    assert "LibvirtPassword" in secret_data(cluster, "libvirt-secret")
    # the report gives each phase's time
    assert "PLAY TIMES" in out, out[-2000:]
    times = out.split("PLAY TIMES")[-1]
    assert all(phase in times for phase in PHASES), times
    # no value of any Secret in the -vvv output or the job events
    text = out + json.dumps(events)
    values = [base64.b64decode(v).decode() for name in ("osp-secret", "libvirt-secret", "octavia-ca-passphrase")
              for v in secret_data(cluster, name).values()]
    leaked = [v for v in values if v in text]
    assert not leaked, "%d Secret values in -vvv output or job events" % len(leaked)
    before = digest(osp)

    rc, out, events = run(tmp_path, cluster, "second")
    assert rc == 0, out[-4000:]
    assert not stats(events).get("changed"), stats(events)
    assert digest(secret_data(cluster, "osp-secret")) == before  # never rotated


def test_a_wrong_channel_stops_in_the_olm_phase_before_networks_or_secrets(cluster, tmp_path):
    operators = [{"namespace": "openstack-operators", "operator_group": {"name": "openstack"},
                  "catalog_source": {"name": "openstack-operator-index",
                                     "image": "quay.io/openstack-k8s-operators/openstack-operator-index:latest"},
                  "subscription": {"name": "openstack-operator", "package": "openstack-operator",
                                   "channel": "no-such-channel", "source": "openstack-operator-index",
                                   "source_namespace": "openstack-operators"}}]
    rc, out, _events = run(tmp_path, cluster, "wrong", tenrec_bootstrap_operators=operators,
                           tenrec_bootstrap_olm_resolution_grace=2)
    assert rc != 0
    assert "openstack-operators/openstack-operator" in out and "ResolutionFailed" in out, out[-3000:]
    assert "no-such-channel" in out
    assert "Bootstrap: networks" not in out.split("PLAY RECAP")[0].split("TASK [")[-1]
    kinds = {k[2] for k in stored(cluster)}
    assert not kinds & {"secrets", "netconfigs", "nodenetworkconfigurationpolicies"}, kinds


def test_check_mode_on_an_empty_cluster_reports_and_writes_nothing(cluster, tmp_path):
    before = stored(cluster)
    rc, out, events = run(tmp_path, cluster, "check", check=True)
    assert rc == 0, out[-4000:]
    assert stored(cluster) == before
    assert stats(events).get("changed"), "check mode on an empty cluster reported nothing to do"
