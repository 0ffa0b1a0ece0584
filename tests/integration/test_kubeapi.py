"""The test Kubernetes API server, exercised through the real kubernetes client."""

import threading

import pytest
from kubernetes import client, dynamic, watch
from kubernetes.client.rest import ApiException

from kube_support import CRDS

pytestmark = pytest.mark.skipif(not CRDS.is_dir(), reason="../shared/crds is not there")

TURL = {"apiVersion": "rabbitmq.openstack.org/v1beta1", "kind": "TransportURL",
        "metadata": {"name": "nova-cell1-transport", "namespace": "default", "labels": {"app": "nova"}},
        "spec": {"rabbitmqClusterName": "rabbitmq-cell1", "unknownField": "pruned"}}


@pytest.fixture
def dyn(k8s):
    return dynamic.DynamicClient(k8s)


@pytest.fixture
def turls(dyn):
    api = dyn.resources.get(api_version="rabbitmq.openstack.org/v1beta1", kind="TransportURL")
    yield api
    for item in api.get(namespace="default").items:
        api.patch(name=item.metadata.name, namespace="default", body={"metadata": {"finalizers": None}},
                  content_type="application/merge-patch+json")
        try:
            api.delete(name=item.metadata.name, namespace="default")
        except dynamic.exceptions.NotFoundError:
            pass


def test_discovery_lists_crd_resources_with_status(k8s):
    groups = {g.name for g in client.ApisApi(k8s).get_api_versions().groups}
    assert {"core.openstack.org", "rabbitmq.openstack.org", "keystone.openstack.org", "ovn.openstack.org"} <= groups
    resources = client.CustomObjectsApi(k8s).get_api_resources("core.openstack.org", "v1beta1").resources
    names = {r.name for r in resources}
    assert {"openstackcontrolplanes", "openstackcontrolplanes/status"} <= names


def test_create_prunes_defaults_and_sets_metadata(turls):
    obj = turls.create(body=TURL, namespace="default")
    assert obj.metadata.uid and obj.metadata.resourceVersion and obj.metadata.generation == 1
    assert "unknownField" not in obj.spec.to_dict()
    with pytest.raises(dynamic.exceptions.ConflictError):
        turls.create(body=TURL, namespace="default")


def test_invalid_cr_is_422_with_causes(turls):
    bad = {"apiVersion": TURL["apiVersion"], "kind": "TransportURL",
           "metadata": {"name": "bad", "namespace": "default"}, "spec": {"username": 5}}
    with pytest.raises(dynamic.exceptions.DynamicApiError) as err:
        turls.create(body=bad, namespace="default")
    assert err.value.status == 422
    body = err.value.body if isinstance(err.value.body, str) else err.value.body.decode()
    assert "spec.rabbitmqClusterName" in body and "Required value" in body
    assert "spec.username" in body


def test_status_subresource_generation_and_conflict(turls, k8s):
    obj = turls.create(body=TURL, namespace="default")
    api = client.CustomObjectsApi(k8s)
    status = {"status": {"secretName": "rabbitmq-transport-url-nova-cell1", "conditions": [
        {"type": "Ready", "status": "True", "reason": "Ready", "message": "Setup complete",
         "lastTransitionTime": "2026-11-23T00:00:00Z"}]}}
    got = api.patch_namespaced_custom_object_status("rabbitmq.openstack.org", "v1beta1", "default",
                                                    "transporturls", "nova-cell1-transport", status)
    assert got["status"]["secretName"] == "rabbitmq-transport-url-nova-cell1"
    assert got["metadata"]["generation"] == 1, "status changes do not bump generation"
    # status is ignored through the main resource
    got = api.patch_namespaced_custom_object("rabbitmq.openstack.org", "v1beta1", "default", "transporturls",
                                             "nova-cell1-transport", {"spec": {"vhost": "cell1"}, "status": None})
    assert got["metadata"]["generation"] == 2 and got["status"]["secretName"]
    stale = dict(TURL, metadata=dict(TURL["metadata"], resourceVersion=obj.metadata.resourceVersion))
    with pytest.raises(ApiException) as err:
        api.replace_namespaced_custom_object("rabbitmq.openstack.org", "v1beta1", "default", "transporturls",
                                             "nova-cell1-transport", stale)
    assert err.value.status == 409


def test_patch_types(turls):
    turls.create(body=TURL, namespace="default")
    got = turls.patch(name="nova-cell1-transport", namespace="default",
                      body=[{"op": "add", "path": "/spec/username", "value": "nova"}],
                      content_type="application/json-patch+json")
    assert got.spec.username == "nova"
    with pytest.raises(dynamic.exceptions.DynamicApiError) as err:
        turls.patch(name="nova-cell1-transport", namespace="default", body={"spec": {"vhost": "x"}},
                    content_type="application/strategic-merge-patch+json")
    assert err.value.status == 415


def test_server_side_apply_is_idempotent(turls):
    applied = turls.server_side_apply(body=dict(TURL, spec={"rabbitmqClusterName": "rabbitmq"}),
                                      namespace="default", field_manager="tenrec")
    again = turls.server_side_apply(body=dict(TURL, spec={"rabbitmqClusterName": "rabbitmq"}),
                                    namespace="default", field_manager="tenrec")
    assert again.metadata.resourceVersion == applied.metadata.resourceVersion


def test_selectors(turls):
    turls.create(body=TURL, namespace="default")
    other = dict(TURL, metadata={"name": "other", "namespace": "default", "labels": {"app": "neutron"}})
    turls.create(body=other, namespace="default")
    assert [i.metadata.name for i in turls.get(namespace="default", label_selector="app=nova").items] == ["nova-cell1-transport"]
    assert [i.metadata.name for i in turls.get(namespace="default", label_selector="app in (neutron,x)").items] == ["other"]
    assert [i.metadata.name for i in turls.get(namespace="default", field_selector="metadata.name=other").items] == ["other"]


def test_finalizers_hold_deletion(turls):
    turls.create(body=dict(TURL, metadata=dict(TURL["metadata"], finalizers=["openstack.org/test"])),
                 namespace="default")
    turls.delete(name="nova-cell1-transport", namespace="default")
    held = turls.get(name="nova-cell1-transport", namespace="default")
    assert held.metadata.deletionTimestamp
    turls.patch(name="nova-cell1-transport", namespace="default", body={"metadata": {"finalizers": None}},
                content_type="application/merge-patch+json")
    with pytest.raises(dynamic.exceptions.NotFoundError):
        turls.get(name="nova-cell1-transport", namespace="default")


def test_watch_sees_changes(k8s, turls):
    api = client.CustomObjectsApi(k8s)
    seen = []

    def run():
        w = watch.Watch()
        for event in w.stream(api.list_namespaced_custom_object, "rabbitmq.openstack.org", "v1beta1",
                              "default", "transporturls", timeout_seconds=5):
            seen.append((event["type"], event["object"]["metadata"]["name"]))
            if event["type"] == "MODIFIED":
                w.stop()

    thread = threading.Thread(target=run)
    thread.start()
    import time
    time.sleep(0.5)
    turls.create(body=TURL, namespace="default")
    turls.patch(name="nova-cell1-transport", namespace="default", body={"spec": {"vhost": "v"}},
                content_type="application/merge-patch+json")
    thread.join(10)
    assert ("ADDED", "nova-cell1-transport") in seen and ("MODIFIED", "nova-cell1-transport") in seen


def test_wrong_token_is_401(kubeapi, tmp_path):
    from kubernetes import config
    api = config.new_client_from_config(config_file=kubeapi.write_kubeconfig(str(tmp_path / "kc"), token="wrong"))
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(api).list_namespace()
    assert err.value.status == 401


def test_secrets(k8s):
    core = client.CoreV1Api(k8s)
    core.create_namespaced_secret("default", {"metadata": {"name": "test-secret"},
                                              "stringData": {"NovaPassword": "pw"}})
    secret = core.read_namespaced_secret("test-secret", "default")
    assert secret.data == {"NovaPassword": "cHc="}
    core.delete_namespaced_secret("test-secret", "default")
