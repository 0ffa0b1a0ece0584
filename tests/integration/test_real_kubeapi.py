"""Smoke tests of both API servers (``api_server``: the test server and the real kube-apiserver v1.20)."""

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from kube_support import CRDS

pytestmark = pytest.mark.skipif(not CRDS.is_dir(), reason="../shared/crds is not there")

NODESET = ("dataplane.openstack.org", "v1beta1", "openstackdataplanenodesets")


def _check_version(api_server, api_client):
    info = client.VersionApi(api_client).get_code()
    assert info.major == "1" and info.git_version.startswith("v1."), info
    if api_server.name == "real":
        assert (info.git_version, info.minor) == ("v1.20.2", "20"), info


def test_version(api_server, api_client):
    if api_server.name != "test":
        _check_version(api_server, api_client)
        return
    try:  # fails on the test server today; its /version is being fixed
        _check_version(api_server, api_client)
    except (ApiException, AssertionError, ValueError, TypeError) as error:
        pytest.xfail("the test server's /version: %s" % error)


def test_openstack_namespace_exists(api_client):
    assert client.CoreV1Api(api_client).read_namespace("openstack").metadata.name == "openstack"


def test_nodeset_crd_is_served(api_client):
    group, version, plural = NODESET
    resources = client.CustomObjectsApi(api_client).get_api_resources(group, version).resources
    assert plural in {r.name for r in resources}
    listing = client.CustomObjectsApi(api_client).list_namespaced_custom_object(group, version, "openstack", plural)
    assert listing["items"] == [] or all(i["kind"] == "OpenStackDataPlaneNodeSet" for i in listing["items"])


def test_default_service_account_exists(api_server, api_client):
    if api_server.name != "real":
        pytest.skip("the test server has no ServiceAccount admission; only the real one needs it")
    core = client.CoreV1Api(api_client)
    for namespace in ("default", "openstack"):
        account = core.read_namespaced_service_account("default", namespace)
        assert account.secrets, "ServiceAccount %s/default has no token Secret" % namespace


def test_pod_can_be_created_without_kubelet(real_kubeapi, tmp_path):
    """The ServiceAccount admission of v1.20 takes a Pod (nothing runs it)."""
    from kubernetes import config
    api = client.CoreV1Api(config.new_client_from_config(config_file=real_kubeapi.write_kubeconfig(
        str(tmp_path / "kubeconfig"))))
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "smoke"},
           "spec": {"containers": [{"name": "c", "image": "example.invalid/none"}]}}
    created = api.create_namespaced_pod("openstack", pod)
    try:
        assert created.spec.service_account_name == "default"
    finally:
        try:
            api.delete_namespaced_pod("smoke", "openstack", grace_period_seconds=0)
        except ApiException:
            pass


def test_loader_reports_what_it_removed(real_kubeapi):
    assert set(real_kubeapi.crds) >= {"openstackdataplanenodesets.dataplane.openstack.org",
                                      "openstackcontrolplanes.core.openstack.org"}
    removed = {name: paths for name, paths in real_kubeapi.removed.items() if paths}
    assert removed, "the loader removed nothing from any CRD"
    controlplane = real_kubeapi.removed["openstackcontrolplanes.core.openstack.org"]
    assert controlplane and all(p.startswith("$.spec.versions[0].schema.openAPIV3Schema.") for p in controlplane)
    assert any(p.endswith(".x-kubernetes-validations") for p in controlplane)
