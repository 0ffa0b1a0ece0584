"""The test Kubernetes API server, exercised through the real kubernetes client."""

import threading

import pytest
from kubernetes import client, dynamic, watch
from kubernetes.client.rest import ApiException

from kube_support import CRDS

pytestmark = [pytest.mark.skipif(not CRDS.is_dir(), reason="../shared/crds is not there"),
              pytest.mark.test_server_only("tests of the test server itself (its store, stand-ins and "
                                           "helpers); the wire behaviour both servers share is in test_api_parity.py")]

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


# ----- answered as a real kube-apiserver (v1.20) answers ---------------------------------------------
NODESETS = "/apis/dataplane.openstack.org/v1beta1/namespaces/default/openstackdataplanenodesets"
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"


def call(kubeapi, method, path, body=None, ctype="application/json", conn=None, agent="tenrec-test/1.0", token=None):
    """One request (on ``conn`` when given); returns ``(status, decoded JSON body)``."""
    import http.client
    import json
    import ssl

    if conn is None:
        conn = http.client.HTTPSConnection("127.0.0.1", kubeapi.httpd.server_address[1],
                                           context=ssl.create_default_context(cafile=kubeapi.ca_file))
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    conn.request(method, path, body=data, headers={"Authorization": "Bearer %s" % (token or kubeapi.token),
                                                   "Content-Type": ctype, "User-Agent": agent})
    answer = conn.getresponse()
    return answer.status, json.loads(answer.read() or b"null")


def nodeset(nodes, labels=None, **spec):
    return {"apiVersion": "dataplane.openstack.org/v1beta1", "kind": "OpenStackDataPlaneNodeSet",
            "metadata": {"name": "ssa", "labels": labels or {}},
            "spec": dict({"nodeTemplate": {"ansibleSSHPrivateKeySecret": "key"},
                          "nodes": {n: {"hostName": h} for n, h in nodes.items()}}, **spec)}


@pytest.fixture
def ssa(kubeapi):
    """Apply (or patch) the NodeSet ``ssa`` in default as ``manager``; deleted afterwards."""
    def run(body, manager="tenrec", force=False, ctype=APPLY, extra=""):
        query = "?fieldManager=%s%s%s" % (manager, "&force=true" if force else "", extra)
        return call(kubeapi, "PATCH", "%s/ssa%s" % (NODESETS, query), body, ctype)
    yield run
    call(kubeapi, "DELETE", NODESETS + "/ssa")


def entry(obj, manager, operation="Apply"):
    found = [m for m in obj["metadata"].get("managedFields") or []
             if m["manager"] == manager and m["operation"] == operation]
    return found[0] if found else None


def test_apply_records_managed_fields_and_removes_what_it_drops(ssa):
    code, obj = ssa(nodeset({"compute-0": "c0", "compute-1": "c1"}, {"app": "nova", "tier": "compute"},
                            services=["ovn"]))
    assert code == 201, obj
    mine = entry(obj, "tenrec")
    assert mine["apiVersion"] == "dataplane.openstack.org/v1beta1" and mine["fieldsType"] == "FieldsV1" and mine["time"]
    spec = mine["fieldsV1"]["f:spec"]
    assert spec["f:services"] == {}, "a list without merge keys is one atomic field"
    assert spec["f:nodes"]["f:compute-1"] == {".": {}, "f:hostName": {}}
    assert mine["fieldsV1"]["f:metadata"]["f:labels"]["f:tier"] == {}
    code, obj = ssa(nodeset({"compute-0": "c0"}, {"app": "nova"}, services=["ovn"]))
    assert code == 200, obj
    assert sorted(obj["spec"]["nodes"]) == ["compute-0"], "a node dropped from the apply is removed"
    assert obj["metadata"]["labels"] == {"app": "nova"}, "a dropped label is removed"
    assert "f:compute-1" not in entry(obj, "tenrec")["fieldsV1"]["f:spec"]["f:nodes"]


def test_dropped_services_get_the_crd_default_again(ssa):
    code, obj = ssa(nodeset({"compute-0": "c0"}, services=[]))
    assert code == 201 and obj["spec"]["services"] == []
    code, obj = ssa(nodeset({"compute-0": "c0"}))
    assert code == 200 and "reboot-os" in obj["spec"]["services"], obj["spec"].get("services")
    assert "f:services" not in entry(obj, "tenrec")["fieldsV1"]["f:spec"]


def test_apply_conflict_names_manager_and_field_and_force_takes_it(ssa):
    ssa(nodeset({"compute-0": "c0"}), manager="other-manager")
    code, status = ssa(nodeset({"compute-0": "elsewhere"}))
    assert code == 409 and status["status"] == "Failure" and status["reason"] == "Conflict", status
    assert status["message"] == ('Apply failed with 1 conflict: conflict with "other-manager": '
                                 ".spec.nodes.compute-0.hostName")
    assert status["details"]["causes"] == [{"reason": "FieldManagerConflict", "message": 'conflict with "other-manager"',
                                            "field": ".spec.nodes.compute-0.hostName"}]
    code, obj = ssa(nodeset({"compute-0": "elsewhere"}), force=True)
    assert code == 200 and obj["spec"]["nodes"]["compute-0"]["hostName"] == "elsewhere"
    other = entry(obj, "other-manager")["fieldsV1"]["f:spec"]["f:nodes"]["f:compute-0"]
    assert "f:hostName" not in other, "forcing moves the field to the applier"


def test_conflicts_with_several_fields_are_listed_per_manager(ssa):
    ssa(nodeset({"compute-0": "c0", "compute-1": "c1"}), manager="other-manager")
    code, status = ssa(nodeset({"compute-0": "x0", "compute-1": "x1"}))
    assert code == 409
    assert status["message"] == ('Apply failed with 2 conflicts: conflicts with "other-manager":\n'
                                 "- .spec.nodes.compute-0.hostName\n- .spec.nodes.compute-1.hostName")
    assert [c["field"] for c in status["details"]["causes"]] == [".spec.nodes.compute-0.hostName",
                                                                 ".spec.nodes.compute-1.hostName"]


def test_same_value_is_shared_and_kept_while_one_manager_holds_it(ssa):
    ssa(nodeset({"compute-0": "c0"}, {"app": "nova"}), manager="first")
    code, obj = ssa(nodeset({"compute-0": "c0"}, {"app": "nova"}), manager="second")
    assert code == 200 and entry(obj, "first") and entry(obj, "second"), obj
    code, obj = ssa(nodeset({}), manager="first")
    assert code == 200 and obj["metadata"]["labels"] == {"app": "nova"} and "compute-0" in obj["spec"]["nodes"]


def test_non_apply_writes_own_fields_as_update(kubeapi, ssa):
    ssa(nodeset({"compute-0": "c0"}))
    code, obj = ssa({"spec": {"nodes": {"compute-0": {"hostName": "moved"}}}}, manager="other-manager", ctype=MERGE)
    assert code == 200
    assert entry(obj, "other-manager", "Update")["fieldsV1"] == {
        "f:spec": {"f:nodes": {"f:compute-0": {"f:hostName": {}}}}}
    code, status = ssa(nodeset({"compute-0": "c0"}))
    assert code == 409
    assert status["message"] == ('Apply failed with 1 conflict: conflict with "other-manager" using '
                                 "dataplane.openstack.org/v1beta1: .spec.nodes.compute-0.hostName")
    # without fieldManager, the manager is the User-Agent's first word
    code, obj = call(kubeapi, "PATCH", NODESETS + "/ssa", {"metadata": {"labels": {"x": "y"}}}, MERGE,
                     agent="OpenAPI-Generator/37.0.2/python")
    assert code == 200 and entry(obj, "OpenAPI-Generator", "Update"), obj["metadata"]["managedFields"]


def test_apply_refuses_managed_fields_stale_resource_version_and_foreign_uid(ssa):
    code, obj = ssa(nodeset({"compute-0": "c0"}))
    assert code == 201
    body = nodeset({"compute-0": "c0"})
    body["metadata"]["managedFields"] = obj["metadata"]["managedFields"]
    code, status = ssa(body)
    assert (code, status["reason"], status["message"]) == (400, "BadRequest", "metadata.managedFields must be nil")
    ssa(nodeset({"compute-0": "c0", "compute-1": "c1"}))
    body = nodeset({"compute-0": "c0"})
    body["metadata"]["resourceVersion"] = obj["metadata"]["resourceVersion"]
    code, status = ssa(body)
    assert code == 409 and "the object has been modified; please apply your changes to the latest version" \
        in status["message"], status
    body = nodeset({"compute-0": "c0"})
    body["metadata"]["uid"] = "not-the-uid"
    code, status = ssa(body)
    assert code == 422 and status["message"] == ('OpenStackDataPlaneNodeSet.dataplane.openstack.org "ssa" is invalid: '
                                                 'metadata.uid: Invalid value: "not-the-uid": field is immutable')
    code, status = ssa(nodeset({}), manager="")
    assert code == 422 and "fieldManager: Required value: is required for apply patch" in status["message"]
    code, status = ssa({"metadata": {"labels": {"a": "b"}}}, force=True, ctype=MERGE)
    assert code == 422 and "force: Forbidden: may not be specified for non-apply patch" in status["message"]


def test_put_of_a_custom_resource_needs_its_resource_version_and_uid(kubeapi, ssa):
    code, obj = ssa(nodeset({"compute-0": "c0"}))
    put = {k: v for k, v in obj.items() if k != "status"}
    put["metadata"] = {"name": "ssa", "namespace": "default"}
    code, status = call(kubeapi, "PUT", NODESETS + "/ssa", put)
    assert code == 422 and status["message"] == (
        'openstackdataplanenodesets.dataplane.openstack.org "ssa" is invalid: metadata.resourceVersion: '
        "Invalid value: 0x0: must be specified for an update"), status
    put["metadata"].update(uid="not-the-uid", resourceVersion=obj["metadata"]["resourceVersion"])
    code, status = call(kubeapi, "PUT", NODESETS + "/ssa", put)
    assert code == 409 and ("Precondition failed: UID in precondition: not-the-uid, UID in object meta: %s"
                            % obj["metadata"]["uid"]) in status["message"], status
    put["metadata"]["uid"] = obj["metadata"]["uid"]
    code, got = call(kubeapi, "PUT", NODESETS + "/ssa", put)
    assert code == 200, got


def test_early_errors_read_the_body_so_keep_alive_goes_on(kubeapi):
    import http.client
    import ssl

    conn = http.client.HTTPSConnection("127.0.0.1", kubeapi.httpd.server_address[1],
                                       context=ssl.create_default_context(cafile=kubeapi.ca_file))
    code, status = call(kubeapi, "POST", "/api/v1/namespaces/default/nothings", {"data": "x" * 20000}, conn=conn)
    assert code == 404 and status["reason"] == "NotFound"
    code, status = call(kubeapi, "POST", "/apis/rabbitmq.openstack.org/v1beta1/namespaces/default/transporturls/x/y",
                        {"data": "x" * 100}, conn=conn)
    assert code == 404
    code, _status = call(kubeapi, "PUT", "/api/v1/namespaces/default", {"data": "x" * 5000}, conn=conn, token="wrong")
    assert code == 401
    code, listing = call(kubeapi, "GET", "/api/v1/namespaces", conn=conn)
    assert code == 200 and listing["kind"] == "NamespaceList"


def test_version_answers_every_field(k8s):
    info = client.VersionApi(k8s).get_code()
    assert info.major and info.git_commit and info.go_version and info.compiler and info.build_date


def test_pod_status_subresource(k8s):
    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod("default", {"metadata": {"name": "status-pod"},
                                           "spec": {"containers": [{"name": "c", "image": "x"}]},
                                           "status": {"phase": "Pending"}})
    try:
        core.patch_namespaced_pod_status("status-pod", "default", {"status": {"phase": "Running"}})
        assert core.read_namespaced_pod_status("status-pod", "default").status.phase == "Running"
    finally:
        core.delete_namespaced_pod("status-pod", "default")


def test_secret_with_bad_base64_is_400_and_dry_run_create_has_no_resource_version(kubeapi):
    secrets = "/api/v1/namespaces/default/secrets"
    code, status = call(kubeapi, "POST", secrets, {"metadata": {"name": "bad64"}, "data": {"k": "no!"}})
    assert code == 400 and status["reason"] == "BadRequest" and "illegal base64 data" in status["message"]
    code, obj = call(kubeapi, "POST", secrets + "?dryRun=All", {"metadata": {"name": "dry"}, "data": {"k": "YQ=="}})
    assert code == 201 and not obj["metadata"].get("resourceVersion") and obj["metadata"]["uid"]
    assert call(kubeapi, "GET", secrets + "/dry")[0] == 404
