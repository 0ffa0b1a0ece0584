"""module_utils/olm.py and olm_operator.build without a server: the wait's verdicts and messages on
OLM's objects as a fake clock advances, and the objects the module applies."""

import pytest

from ansible_collections.tenrec.dataplane.plugins.module_utils.k8s import ControlPlaneError
from ansible_collections.tenrec.dataplane.plugins.module_utils.olm import describe_conditions, wait_installed
from ansible_collections.tenrec.dataplane.plugins.modules import olm_operator

RESOLUTION = ("constraints not satisfiable: no operators found in channel beta of package openstack-operator in the "
              "catalog referenced by subscription openstack-operator, subscription openstack-operator exists")


class Clock(object):
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        assert seconds > 0
        self.now += seconds


def cluster(sub_status=None, plan=None, csv=None):
    objects = {}
    if sub_status is not None:
        objects["Subscription"] = {"metadata": {"name": "openstack-operator"}, "status": sub_status}
    if plan is not None:
        objects["InstallPlan"] = {"metadata": {"name": "install-abcde"}, "status": plan}
    if csv is not None:
        objects["ClusterServiceVersion"] = {"metadata": {"name": "openstack-operator.v1.0.6"}, "status": csv}
    return lambda _api_version, kind, _name: objects.get(kind)


REF = {"installPlanRef": {"name": "install-abcde"}, "installplan": {"name": "install-abcde"},
       "currentCSV": "openstack-operator.v1.0.6"}


def wait(get, timeout=60, grace=10):
    clock = Clock()
    try:
        return wait_installed(get, "openstack-operators", "openstack-operator", timeout, 5, grace,
                              clock=clock, sleep=clock.sleep), clock.now
    except ControlPlaneError as exc:
        return str(exc), clock.now


def test_installed_returns_at_once():
    state, elapsed = wait(cluster(dict(REF, installedCSV="openstack-operator.v1.0.6", state="AtLatestKnown"),
                                  {"phase": "Complete"}, {"phase": "Succeeded"}))
    assert elapsed == 0 and state.csv_name == "openstack-operator.v1.0.6" and state.plan_name == "install-abcde"


def test_resolution_failed_fails_after_the_grace_not_the_timeout():
    message, elapsed = wait(cluster({"conditions": [
        {"type": "CatalogSourcesUnhealthy", "status": "False", "reason": "AllCatalogSourcesHealthy"},
        {"type": "ResolutionFailed", "status": "True", "reason": "ConstraintsNotSatisfiable",
         "message": RESOLUTION}]}), timeout=600, grace=10)
    assert 10 <= elapsed < 15
    assert message.startswith("OLM cannot resolve the Subscription (ResolutionFailed for 10 s): "
                              "Subscription openstack-operators/openstack-operator: ResolutionFailed: " + RESOLUTION)
    assert "(reason ConstraintsNotSatisfiable)" in message and "CatalogSourcesUnhealthy" not in message
    assert "no InstallPlan yet" in message and "no ClusterServiceVersion yet" in message


def test_timeout_names_the_plan_phase_and_the_csv_phase_and_reason():
    message, elapsed = wait(cluster(dict(REF, state="UpgradePending"), {"phase": "Complete"}, {
        "phase": "Failed", "reason": "UnsupportedOperatorGroup",
        "message": "MultiNamespace InstallModeType not supported, cannot configure to watch multiple namespaces"}),
        timeout=20)
    assert elapsed == 20
    assert message == (
        "the operator is not installed after 20 s: Subscription openstack-operators/openstack-operator: no failing "
        "condition (state UpgradePending), InstallPlan install-abcde phase Complete, ClusterServiceVersion "
        "openstack-operator.v1.0.6 phase Failed (reason UnsupportedOperatorGroup: MultiNamespace InstallModeType "
        "not supported, cannot configure to watch multiple namespaces)")


def test_install_plan_held_by_a_missing_operator_group_is_named():
    message, _elapsed = wait(cluster(dict(REF, conditions=[{"type": "InstallPlanPending", "status": "True",
                                                            "reason": "Installing"}]),
                                     {"phase": "Installing", "conditions": [{
                                         "type": "Installed", "status": "False", "reason": "InstallCheckFailed",
                                         "message": "no operator group found that is managing this namespace"}]}),
                             timeout=10)
    assert ("InstallPlan install-abcde phase Installing: Installed=False: no operator group found that is managing "
            "this namespace (reason InstallCheckFailed)") in message
    assert "InstallPlanPending: no message (reason Installing)" in message
    assert "ClusterServiceVersion openstack-operator.v1.0.6 not created yet" in message


def test_failed_install_plan_fails_at_once():
    message, elapsed = wait(cluster(REF, {"phase": "Failed", "message": "bundle unpack failed"}))
    assert elapsed == 0 and message.startswith("the InstallPlan failed: ") and "bundle unpack failed" in message


def test_missing_subscription_is_named():
    message, _elapsed = wait(cluster())
    assert message == "Subscription openstack-operators/openstack-operator does not exist"


def test_describe_conditions_reports_true_ones_of_a_subscription():
    assert describe_conditions([{"type": "CatalogSourcesUnhealthy", "status": "False"},
                                {"type": "ResolutionFailed", "status": "True", "message": "m", "reason": "R"}]) == [
        "ResolutionFailed: m (reason R)"]


def params(**extra):
    base = {"namespace": "openstack-operators", "namespace_labels": {},
            "operator_group": {"name": "openstack", "target_namespaces": None},
            "catalog_source": None, "subscription": {"name": None, "package": "openstack-operator",
                                                     "channel": "stable-v1.0", "source": "redhat-operators",
                                                     "source_namespace": None, "install_plan_approval": "Automatic",
                                                     "starting_csv": None}}
    base.update(extra)
    return base


def test_build_downstream_defaults_to_the_global_catalog_namespace_and_an_empty_operator_group():
    objects = olm_operator.build(params())
    assert [(k, ns) for _v, k, ns, _b in objects] == [("Namespace", None), ("OperatorGroup", "openstack-operators"),
                                                      ("Subscription", "openstack-operators")]
    assert "spec" not in objects[1][3]
    assert objects[2][3] == {"metadata": {"name": "openstack-operator"}, "spec": {
        "name": "openstack-operator", "channel": "stable-v1.0", "source": "redhat-operators",
        "sourceNamespace": "openshift-marketplace", "installPlanApproval": "Automatic"}}


def test_build_upstream_subscribes_to_its_own_catalog_source():
    objects = olm_operator.build(params(
        catalog_source={"name": "openstack-operator-index", "image": "quay.io/x/index:latest", "source_type": "grpc",
                        "display_name": None},
        subscription=dict(params()["subscription"], source=None, channel="alpha")))
    catalog, sub = objects[2][3], objects[3][3]
    assert catalog == {"metadata": {"name": "openstack-operator-index"},
                       "spec": {"sourceType": "grpc", "image": "quay.io/x/index:latest"}}
    assert (sub["spec"]["source"], sub["spec"]["sourceNamespace"]) == ("openstack-operator-index", "openstack-operators")


def test_build_without_any_source_names_the_option():
    with pytest.raises(ControlPlaneError, match="subscription.source is required"):
        olm_operator.build(params(subscription=dict(params()["subscription"], source=None)))
