"""The lab's OLM stand-in (kubeapi.olm) on a test server that starts as an empty cluster: only the
operators.coreos.com CRDs are served. Passes are driven with reconcile_once(), so every step is seen."""

import shutil

import pytest
from kubernetes import client, config

from kube_support import CRDS
from kubeapi import KubeAPIServer
from kubeapi.olm import OLM, load_crds, serve_crds

pytestmark = [pytest.mark.skipif(not CRDS.is_dir(), reason="../shared/crds is not there"),
              pytest.mark.test_server_only("OLM and openstack-operator are stand-ins in the test server")]

G = "operators.coreos.com"
NS = "openstack-operators"


def start(tmp_path, crd_dir=None):
    """An empty cluster: only the OLM CRDs (from ``crd_dir``, else registered from one parse of them)."""
    server = KubeAPIServer(crd_dir=crd_dir, state_dir=str(tmp_path / "state"),
                           namespaces=("default", "openshift-marketplace", NS)).start()
    if crd_dir is None:
        serve_crds(server, {n: d for n, d in load_crds(str(CRDS)).items() if n.endswith("." + G)})
    api = config.new_client_from_config(config_file=server.write_kubeconfig(str(tmp_path / "kubeconfig")))
    olm = OLM(server, crd_dir=str(CRDS), interval=0.1)
    return {"server": server, "olm": olm, "custom": client.CustomObjectsApi(api), "api": api}


@pytest.fixture
def cluster(tmp_path):
    started = start(tmp_path)
    yield started
    started["server"].stop()


def create(cluster, plural, body, namespace=NS, version="v1alpha1", group=G):
    return cluster["server"].create_object(group, version, plural, namespace, body)


def get(cluster, plural, name, namespace=NS, version="v1alpha1", group=G):
    return cluster["custom"].get_namespaced_custom_object(group, version, namespace, plural, name)


def items(cluster, plural, namespace=NS, version="v1alpha1", group=G):
    return cluster["custom"].list_namespaced_custom_object(group, version, namespace, plural)["items"]


def passes(cluster, count=6):
    for _pass in range(count):
        cluster["olm"].reconcile_once()


def served(cluster, group, version="v1beta1"):
    """The plurals /apis/<group>/<version> lists, as a client's discovery sees them (None: not served)."""
    from kubernetes.dynamic import DynamicClient
    from kubernetes.dynamic.exceptions import NotFoundError
    try:
        return {r["name"] for r in DynamicClient(cluster["api"]).request(
            "GET", "/apis/%s/%s" % (group, version)).to_dict()["resources"]}
    except NotFoundError:
        return None


def upstream(cluster, channel="alpha", approval="Automatic", source="openstack-operator-index", group=True):
    if group:
        create(cluster, "operatorgroups", {"metadata": {"name": "openstack"}}, version="v1")
    create(cluster, "catalogsources", {"metadata": {"name": "openstack-operator-index"},
                                       "spec": {"sourceType": "grpc", "image": "quay.io/example/index:latest"}})
    create(cluster, "subscriptions", {"metadata": {"name": "openstack-operator"}, "spec": {
        "name": "openstack-operator", "channel": channel, "source": source, "sourceNamespace": NS,
        "installPlanApproval": approval}})


def conditions(obj):
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}


def test_nothing_happens_without_the_olm_crds(tmp_path):
    server = KubeAPIServer(state_dir=str(tmp_path), namespaces=("default",))
    OLM(server, crd_dir=str(CRDS)).reconcile_once()  # no error, nothing created
    assert not [k for k in server.store.objects if k[0] == "apiextensions.k8s.io"]


def test_a_server_from_a_folder_of_the_olm_crds_installs(tmp_path):
    """The lab's way: the server reads a folder holding only the operators.coreos.com CRDs."""
    crds = tmp_path / "crds"
    crds.mkdir()
    for path in CRDS.glob("operators.coreos.com_*.yaml"):
        shutil.copy(path, crds)
    cluster = start(tmp_path, crd_dir=str(crds))
    try:
        assert served(cluster, G, "v1alpha1") >= {"subscriptions", "installplans", "clusterserviceversions",
                                                  "catalogsources"}
        assert served(cluster, "operator.openstack.org") is None
        upstream(cluster)
        passes(cluster)
        assert get(cluster, "clusterserviceversions", "openstack-operator.v0.6.0")["status"]["phase"] == "Succeeded"
        assert "openstacks" in served(cluster, "operator.openstack.org")
    finally:
        cluster["server"].stop()


def test_subscription_installs_and_openstack_init_registers_the_service_crds(cluster):
    upstream(cluster)
    assert served(cluster, "operator.openstack.org") is None
    passes(cluster)
    assert get(cluster, "catalogsources", "openstack-operator-index")["status"]["connectionState"][
        "lastObservedState"] == "READY"
    assert get(cluster, "operatorgroups", "openstack", version="v1")["status"]["namespaces"] == [""]
    sub = get(cluster, "subscriptions", "openstack-operator")
    status = sub["status"]
    assert status["state"] == "AtLatestKnown"
    assert status["currentCSV"] == status["installedCSV"] == "openstack-operator.v0.6.0"
    plan_name = status["installPlanRef"]["name"]
    assert plan_name.startswith("install-") and status["installplan"]["name"] == plan_name
    assert set(status["installplan"]) == {"apiVersion", "kind", "name", "uuid"}
    assert conditions(sub)["CatalogSourcesUnhealthy"]["status"] == "False"
    assert conditions(sub)["CatalogSourcesUnhealthy"]["message"] == "all available catalogsources are healthy"
    assert "ResolutionFailed" not in conditions(sub)
    assert status["catalogHealth"][0]["healthy"] is True
    plan = get(cluster, "installplans", plan_name)
    assert plan["status"]["phase"] == "Complete"
    assert plan["spec"]["clusterServiceVersionNames"] == ["openstack-operator.v0.6.0"]
    assert plan["spec"]["approval"] == "Automatic" and plan["spec"]["approved"] is True
    assert plan["metadata"]["ownerReferences"][0]["name"] == "openstack-operator"
    csv = get(cluster, "clusterserviceversions", "openstack-operator.v0.6.0")
    assert csv["status"]["phase"] == "Succeeded" and csv["status"]["reason"] == "InstallSucceeded"
    assert "operators.coreos.com/openstack-operator.openstack-operators" in csv["metadata"]["labels"]
    # the CSV brings the OpenStack CRD only; the service CRDs come with the OpenStack resource
    assert served(cluster, "operator.openstack.org") == {"openstacks", "openstacks/status"}
    assert served(cluster, "core.openstack.org") is None
    create(cluster, "openstacks", {"metadata": {"name": "openstack"}}, group="operator.openstack.org",
           version="v1beta1")
    create(cluster, "openstacks", {"metadata": {"name": "second"}}, group="operator.openstack.org",
           version="v1beta1")
    passes(cluster, 3)
    left = items(cluster, "openstacks", group="operator.openstack.org", version="v1beta1")
    assert [o["metadata"]["name"] for o in left] == ["openstack"]  # a singleton: the later one is deleted
    init = left[0]
    assert {t: c["status"] for t, c in conditions(init).items()} == {
        "Ready": "True", "OpenStackOperatorDeploymentsReadyCondition": "True", "OpenStackOperatorReadyCondition": "True"}
    assert init["status"]["observedGeneration"] == init["metadata"]["generation"]
    assert init["status"]["deployedOperatorCount"] == 21
    for group, plural in (("core.openstack.org", "openstackcontrolplanes"), ("network.openstack.org", "netconfigs"),
                          ("dataplane.openstack.org", "openstackdataplanenodesets"),
                          ("keystone.openstack.org", "keystoneapis"), ("ovn.openstack.org", "ovndbclusters"),
                          ("rabbitmq.openstack.org", "transporturls")):
        assert plural in served(cluster, group), group
    # other operators' CRDs are not openstack-operator's to install
    assert served(cluster, "cert-manager.io", "v1") is None and served(cluster, "nmstate.io", "v1") is None


def test_wrong_channel_package_and_source_fail_resolution_as_olm_words_it(cluster):
    upstream(cluster, channel="stable-v9")
    create(cluster, "subscriptions", {"metadata": {"name": "nope"}, "spec": {
        "name": "no-such-operator", "source": "openstack-operator-index", "sourceNamespace": NS}})
    create(cluster, "subscriptions", {"metadata": {"name": "lost"}, "spec": {
        "name": "openstack-operator", "channel": "alpha", "source": "missing-index", "sourceNamespace": NS}})
    passes(cluster)
    expected = {
        "openstack-operator": "constraints not satisfiable: no operators found in channel stable-v9 of package "
                              "openstack-operator in the catalog referenced by subscription openstack-operator, "
                              "subscription openstack-operator exists",
        "nope": "constraints not satisfiable: no operators found in package no-such-operator in the catalog "
                "referenced by subscription nope, subscription nope exists",
        "lost": "constraints not satisfiable: no operators found from catalog missing-index in namespace "
                "openstack-operators referenced by subscription lost, subscription lost exists"}
    for name, message in expected.items():
        cond = conditions(get(cluster, "subscriptions", name))["ResolutionFailed"]
        assert (cond["status"], cond["reason"], cond["message"]) == ("True", "ConstraintsNotSatisfiable", message)
        assert "installPlanRef" not in get(cluster, "subscriptions", name)["status"]
    unhealthy = conditions(get(cluster, "subscriptions", "lost"))["CatalogSourcesUnhealthy"]
    assert (unhealthy["status"], unhealthy["reason"], unhealthy["message"]) == (
        "True", "UnhealthyCatalogSourceFound", "targeted catalogsource openstack-operators/missing-index missing")
    assert items(cluster, "installplans") == [] and items(cluster, "clusterserviceversions") == []
    # fixing the channel resolves it
    sub = get(cluster, "subscriptions", "openstack-operator")
    cluster["custom"].patch_namespaced_custom_object(G, "v1alpha1", NS, "subscriptions", "openstack-operator",
                                                     {"spec": {"channel": "stable-v1.0"}})
    passes(cluster)
    sub = get(cluster, "subscriptions", "openstack-operator")
    assert "ResolutionFailed" not in conditions(sub)
    assert sub["status"]["installedCSV"] == "openstack-operator.v1.0.6"


def test_manual_approval_waits_for_spec_approved(cluster):
    upstream(cluster, approval="Manual")
    passes(cluster)
    sub = get(cluster, "subscriptions", "openstack-operator")
    plan = get(cluster, "installplans", sub["status"]["installPlanRef"]["name"])
    assert plan["status"]["phase"] == "RequiresApproval" and plan["spec"]["approved"] is False
    assert sub["status"]["state"] == "UpgradePending"
    assert conditions(sub)["InstallPlanPending"]["reason"] == "RequiresApproval"
    assert items(cluster, "clusterserviceversions") == []
    cluster["custom"].patch_namespaced_custom_object(G, "v1alpha1", NS, "installplans", plan["metadata"]["name"],
                                                     {"spec": {"approved": True}})
    passes(cluster)
    assert get(cluster, "installplans", plan["metadata"]["name"])["status"]["phase"] == "Complete"
    assert get(cluster, "subscriptions", "openstack-operator")["status"]["state"] == "AtLatestKnown"


def test_no_operator_group_holds_the_install_plan(cluster):
    upstream(cluster, group=False)
    passes(cluster)
    sub = get(cluster, "subscriptions", "openstack-operator")
    plan = get(cluster, "installplans", sub["status"]["installPlanRef"]["name"])
    assert plan["status"]["phase"] == "Installing"
    installed = conditions(plan)["Installed"]
    assert (installed["status"], installed["reason"], installed["message"]) == (
        "False", "InstallCheckFailed", "no operator group found that is managing this namespace")
    create(cluster, "operatorgroups", {"metadata": {"name": "openstack"}}, version="v1")
    passes(cluster)
    assert get(cluster, "clusterserviceversions", "openstack-operator.v0.6.0")["status"]["phase"] == "Succeeded"


def test_dependency_operators_from_redhat_operators_bring_their_crds(cluster):
    create(cluster, "catalogsources", {"metadata": {"name": "redhat-operators"},
                                       "spec": {"sourceType": "grpc", "image": "registry.example/index:v4.18"}},
           namespace="openshift-marketplace")
    for ns, package, channel, group in (("cert-manager-operator", "openshift-cert-manager-operator", "stable-v1",
                                         "cert-manager.io"),
                                        ("openshift-nmstate", "kubernetes-nmstate-operator", "stable", "nmstate.io"),
                                        ("metallb-system", "metallb-operator", "stable", "metallb.io")):
        cluster["server"].create_object("", "v1", "namespaces", None, {"metadata": {"name": ns}})
        create(cluster, "operatorgroups", {"metadata": {"name": ns}, "spec": {"targetNamespaces": [ns]}},
               namespace=ns, version="v1")
        create(cluster, "subscriptions", {"metadata": {"name": package}, "spec": {
            "name": package, "channel": channel, "source": "redhat-operators",
            "sourceNamespace": "openshift-marketplace"}}, namespace=ns)
    passes(cluster)
    for ns, group in (("cert-manager-operator", "cert-manager.io"), ("openshift-nmstate", "nmstate.io"),
                      ("metallb-system", "metallb.io")):
        csv = items(cluster, "clusterserviceversions", namespace=ns)
        assert [c["status"]["phase"] for c in csv] == ["Succeeded"], ns
        assert served(cluster, group, "v1" if group != "metallb.io" else "v1beta1"), group
    assert served(cluster, "operator.openstack.org") is None
