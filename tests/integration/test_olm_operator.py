"""olm_operator and openstack_init through Ansible against a test server that starts as an empty
cluster (only the operators.coreos.com CRDs), with the lab's OLM stand-in running."""

import time

import pytest
from kubernetes import client, config

from kube_support import CRDS, run_play
from kubeapi import KubeAPIServer
from kubeapi.olm import OLM, load_crds, serve_crds

pytestmark = [pytest.mark.skipif(not CRDS.is_dir(), reason="../shared/crds is not there"),
              pytest.mark.test_server_only("OLM and openstack-operator are stand-ins in the test server")]

G = "operators.coreos.com"
NS = "openstack-operators"
UPSTREAM = {"namespace": NS,
            "namespace_labels": {"pod-security.kubernetes.io/enforce": "privileged",
                                 "security.openshift.io/scc.podSecurityLabelSync": "false"},
            "operator_group": {"name": "openstack"},
            "catalog_source": {"name": "openstack-operator-index",
                               "image": "quay.io/openstack-k8s-operators/openstack-operator-index:latest"},
            "subscription": {"name": "openstack-operator", "package": "openstack-operator", "channel": "alpha"},
            "timeout": 60, "delay": 1}


@pytest.fixture
def cluster(tmp_path):
    server = KubeAPIServer(state_dir=str(tmp_path / "state"), namespaces=("default", "openshift-marketplace")).start()
    serve_crds(server, {n: d for n, d in load_crds(str(CRDS)).items() if n.endswith("." + G)})
    kubeconfig = server.write_kubeconfig(str(tmp_path / "kubeconfig"))
    olm = OLM(server, crd_dir=str(CRDS), interval=0.2)
    olm.start()
    api = config.new_client_from_config(config_file=kubeconfig)
    yield {"server": server, "kubeconfig": kubeconfig, "custom": client.CustomObjectsApi(api), "api": api}
    olm.stop()
    server.stop()


def olm_task(cluster, register="olm", **args):
    return {"name": "Install an operator through OLM", "register": register,
            "tenrec.dataplane.olm_operator": dict(UPSTREAM, kubeconfig=cluster["kubeconfig"], **args)}


def init_task(cluster, register="init", **args):
    return {"name": "Initialize openstack-operator", "register": register,
            "tenrec.dataplane.openstack_init": dict({"kubeconfig": cluster["kubeconfig"], "timeout": 60, "delay": 1},
                                                    **args)}


def stored(cluster):
    """Every object key in the server's store but the CRDs (what a check-mode run must not add to)."""
    with cluster["server"].store.lock:
        return sorted(k for k in cluster["server"].store.objects if k[0] != "apiextensions.k8s.io")


def served(cluster, crd):
    plural, _dot, group = crd.partition(".")
    return any(g == group and p == plural for (g, _v, p) in cluster["server"].resources)


def test_check_mode_on_an_empty_cluster_reports_and_writes_nothing(cluster, tmp_path):
    before = stored(cluster)
    rc, out, res = run_play(tmp_path, [olm_task(cluster), init_task(cluster)], check=True, diff=True)
    assert rc == 0, out
    assert stored(cluster) == before
    olm = res["olm"]
    assert olm["changed"] is True and olm["csv"] == ""
    assert [(o["kind"], o["changed"], o["validated"]) for o in olm["objects"]] == [
        ("Namespace", True, True), ("OperatorGroup", True, False), ("CatalogSource", True, False),
        ("Subscription", True, False)]
    assert olm["diff"]["before"] == {}
    assert olm["diff"]["after"]["Subscription openstack-operators/openstack-operator"]["spec"]["channel"] == "alpha"
    init = res["init"]
    assert init["changed"] is True and init["missing_crds"]
    assert "openstacks.operator.openstack.org is not served" in out
    assert not served(cluster, "openstacks.operator.openstack.org")


def test_openstack_init_without_its_crd_names_it_and_the_olm_step(cluster, tmp_path):
    rc, out, _res = run_play(tmp_path, [init_task(cluster)])
    assert rc != 0
    assert "the API does not serve the CRD openstacks.operator.openstack.org" in out
    assert "tenrec.dataplane.olm_operator" in out


def test_upstream_install_then_init_then_rerun_is_unchanged(cluster, tmp_path):
    crds = ["openstackcontrolplanes.core.openstack.org", "netconfigs.network.openstack.org",
            "openstackdataplanenodesets.dataplane.openstack.org", "transporturls.rabbitmq.openstack.org",
            "keystoneapis.keystone.openstack.org", "ovndbclusters.ovn.openstack.org"]
    assert not any(served(cluster, c) for c in crds)
    started = time.monotonic()
    rc, out, res = run_play(tmp_path, [olm_task(cluster), init_task(cluster)])
    assert rc == 0, out
    olm, init = res["olm"], res["init"]
    assert olm["changed"] is True and olm["csv"] == "openstack-operator.v0.6.0" and olm["phase"] == "Succeeded"
    assert olm["install_plan"].startswith("install-")
    assert all(o["validated"] for o in olm["objects"])
    assert init["changed"] is True and init["missing_crds"] == [] and init["crds"] == crds
    assert {c["type"] for c in init["result"]["status"]["conditions"]} >= {"Ready", "OpenStackOperatorReadyCondition"}
    assert init["conditions"] == []
    assert all(served(cluster, c) for c in crds)
    ns = client.CoreV1Api(cluster["api"]).read_namespace(NS)
    assert ns.metadata.labels["pod-security.kubernetes.io/enforce"] == "privileged"
    assert time.monotonic() - started < 120
    # a re-run changes nothing; check mode on the installed cluster verifies the CSV
    rc, out, res = run_play(tmp_path, [olm_task(cluster), init_task(cluster)])
    assert rc == 0, out
    assert res["olm"]["changed"] is False and res["init"]["changed"] is False, out
    assert res["olm"]["csv"] == "openstack-operator.v0.6.0"
    before = stored(cluster)
    rc, out, res = run_play(tmp_path, [olm_task(cluster), init_task(cluster)], check=True)
    assert rc == 0, out
    assert res["olm"]["changed"] is False and res["olm"]["phase"] == "Succeeded"
    assert res["init"]["changed"] is False and res["init"]["missing_crds"] == []
    assert stored(cluster) == before


def test_check_mode_verifies_an_existing_subscription(cluster, tmp_path):
    """A Subscription that exists but cannot install is reported in check mode too (not skipped)."""
    beta = dict(UPSTREAM["subscription"], channel="beta")
    rc, out, _res = run_play(tmp_path, [olm_task(cluster, subscription=beta, resolution_grace=2, wait=False)])
    assert rc == 0, out
    rc, out, _res = run_play(tmp_path, [olm_task(cluster, subscription=beta, resolution_grace=2)], check=True)
    assert rc != 0
    assert "ResolutionFailed: constraints not satisfiable" in out


def test_wrong_channel_fails_fast_naming_the_subscription_and_olm_reason(cluster, tmp_path):
    started = time.monotonic()
    wrong = dict(UPSTREAM["subscription"], channel="stable-v9")
    rc, out, _res = run_play(tmp_path, [olm_task(cluster, subscription=wrong, timeout=300, resolution_grace=3)])
    elapsed = time.monotonic() - started
    assert rc != 0
    assert "Subscription openstack-operators/openstack-operator" in out
    assert ("ResolutionFailed: constraints not satisfiable: no operators found in channel stable-v9 of package "
            "openstack-operator in the catalog referenced by subscription openstack-operator") in out
    assert "no InstallPlan yet" in out
    assert elapsed < 60, "a ResolutionFailed must not wait for the 300 s timeout (%.0f s)" % elapsed
    assert cluster["custom"].list_namespaced_custom_object(G, "v1alpha1", NS, "installplans")["items"] == []


def test_timeout_names_the_install_plan_and_csv_phases(cluster, tmp_path):
    """Manual approval: the InstallPlan waits for approval; the timeout message says so."""
    manual = dict(UPSTREAM["subscription"], install_plan_approval="Manual")
    rc, out, _res = run_play(tmp_path, [olm_task(cluster, subscription=manual, timeout=4)])
    assert rc != 0
    assert "the operator is not installed after 4 s" in out
    assert "Subscription openstack-operators/openstack-operator" in out and "InstallPlanPending" in out
    assert "phase RequiresApproval" in out
    assert "ClusterServiceVersion openstack-operator.v0.6.0 not created yet" in out
