"""The test server answers as a real kube-apiserver (v1.20) does, on the wire.

Each test runs against both servers (``api_server``: "test" is lab/kubeapi, "real" a kube-apiserver
v1.20 + etcd built by scripts/kube-real.sh) and asserts on the raw HTTP answer: status codes, the
Status reason and message, ``metadata.managedFields``. Requests go through ``http.client`` with the
CA and token of the ``api_client`` (the kubeconfig of the server), so nothing in between rewrites
an answer. Objects live in the ``openstack`` namespace under names unique per test and server.
"""

import copy
import http.client
import json
import ssl
import uuid
from urllib.parse import urlsplit

import pytest

from kube_support import CRDS

pytestmark = pytest.mark.skipif(not CRDS.is_dir(), reason="../shared/crds is not there")

NS = "openstack"
GROUP_VERSION = "dataplane.openstack.org/v1beta1"
NODESETS = "/apis/%s/namespaces/%s/openstackdataplanenodesets" % (GROUP_VERSION, NS)
CONFIGMAPS = "/api/v1/namespaces/%s/configmaps" % NS
SECRETS = "/api/v1/namespaces/%s/secrets" % NS
PODS = "/api/v1/namespaces/%s/pods" % NS
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
AGENT = "tenrec-parity/1.0"


class Wire:
    """Raw HTTPS requests to one server, with the CA, token and address of its kubeconfig."""

    def __init__(self, server, api_client):
        conf = api_client.configuration
        url = urlsplit(conf.host)
        self.host, self.port = url.hostname, url.port
        self.context = ssl.create_default_context(cafile=conf.ssl_ca_cert)
        self.token = server.token
        self.created = []

    def connection(self):
        return http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=60)

    def call(self, method, path, body=None, ctype="application/json", conn=None, agent=AGENT, token=None):
        """One request (on ``conn`` when given); ``(status, decoded JSON or None)``."""
        own = conn is None
        conn = conn or self.connection()
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        headers = {"Authorization": "Bearer %s" % (token or self.token), "User-Agent": agent,
                   "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = ctype
        try:
            conn.request(method, path, body=data, headers=headers)
            answer = conn.getresponse()
            raw = answer.read()
        finally:
            if own:
                conn.close()
        try:
            return answer.status, json.loads(raw) if raw else None
        except ValueError:
            return answer.status, raw.decode(errors="replace")

    def apply(self, collection, name, body, manager, force=False, extra=""):
        query = "?fieldManager=%s%s%s" % (manager, "&force=true" if force else "", extra)
        code, obj = self.call("PATCH", "%s/%s%s" % (collection, name, query), body, APPLY)
        if code == 201:
            self.created.append("%s/%s" % (collection, name))
        return code, obj

    def create(self, collection, body, query=""):
        code, obj = self.call("POST", collection + query, body)
        if code == 201 and "dryRun" not in query:
            self.created.append("%s/%s" % (collection, obj["metadata"]["name"]))
        return code, obj


@pytest.fixture
def wire(api_server, api_client):
    """A :class:`Wire` for the server; objects it created are deleted afterwards."""
    handle = Wire(api_server, api_client)
    yield handle
    for path in reversed(handle.created):
        handle.call("DELETE", path)


def unique(api_server, stem):
    return "%s-%s-%s" % (stem, api_server.name, uuid.uuid4().hex[:6])


def nodeset(name, nodes, labels=None, **spec):
    """A minimal valid OpenStackDataPlaneNodeSet (as an apply config, or a create body)."""
    meta = {"name": name, "namespace": NS}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": GROUP_VERSION, "kind": "OpenStackDataPlaneNodeSet", "metadata": meta,
            "spec": dict({"preProvisioned": True, "nodeTemplate": {"ansibleSSHPrivateKeySecret": "dataplane-ssh"},
                          "nodes": {n: {"hostName": h} for n, h in nodes.items()}}, **spec)}


def configmap(name, data, labels=None):
    meta = {"name": name, "namespace": NS}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def entries(obj):
    """``{(manager, operation): entry}`` of an object's managedFields."""
    return {(m["manager"], m["operation"]): m for m in obj["metadata"].get("managedFields") or []}


def fields_of(obj, manager, operation="Apply"):
    entry = entries(obj).get((manager, operation))
    assert entry, "no %s entry of %s in %s" % (operation, manager, obj["metadata"].get("managedFields"))
    return entry["fieldsV1"]


# ----- 1. server-side apply: field ownership ---------------------------------------------------------
def test_apply_owns_its_fields_and_removes_what_it_drops(api_server, wire):
    """A NodeSet (no typed schema on v1.20: maps by key, lists atomic): the applier's managedFields
    entry in FieldsV1; a no-op re-apply changes nothing (same resourceVersion and generation);
    dropping a node and a label removes them; dropping ``services`` brings back the CRD default."""
    name = unique(api_server, "ssa")
    path = "%s/%s" % (NODESETS, name)
    code, obj = wire.apply(NODESETS, name, nodeset(name, {"compute-0": "c0", "compute-1": "c1"},
                                                   {"app": "nova", "tier": "compute"}, services=["ovn"]),
                           "tenrec")
    assert code == 201, obj
    assert [(m["manager"], m["operation"]) for m in obj["metadata"]["managedFields"]] == [("tenrec", "Apply")]
    entry = obj["metadata"]["managedFields"][0]
    assert entry["apiVersion"] == GROUP_VERSION and entry["fieldsType"] == "FieldsV1" and entry["time"], entry
    assert entry["fieldsV1"] == {
        "f:metadata": {"f:labels": {".": {}, "f:app": {}, "f:tier": {}}},
        "f:spec": {".": {}, "f:nodeTemplate": {".": {}, "f:ansibleSSHPrivateKeySecret": {}},
                   "f:nodes": {".": {}, "f:compute-0": {".": {}, "f:hostName": {}},
                               "f:compute-1": {".": {}, "f:hostName": {}}},
                   "f:preProvisioned": {}, "f:services": {}}}, entry["fieldsV1"]
    rv, generation = obj["metadata"]["resourceVersion"], obj["metadata"]["generation"]

    code, again = wire.apply(NODESETS, name, nodeset(name, {"compute-0": "c0", "compute-1": "c1"},
                                                     {"app": "nova", "tier": "compute"}, services=["ovn"]),
                             "tenrec")
    assert code == 200, again
    assert (again["metadata"]["resourceVersion"], again["metadata"]["generation"]) == (rv, generation), \
        "a no-op apply writes nothing"
    assert again["metadata"]["managedFields"] == obj["metadata"]["managedFields"]

    code, obj = wire.apply(NODESETS, name, nodeset(name, {"compute-0": "c0"}, {"app": "nova"}, services=["ovn"]),
                           "tenrec")
    assert code == 200, obj
    assert sorted(obj["spec"]["nodes"]) == ["compute-0"], "a node dropped from the apply is removed"
    assert obj["metadata"]["labels"] == {"app": "nova"}, "a dropped label is removed"
    assert obj["metadata"]["resourceVersion"] != rv and obj["metadata"]["generation"] == generation + 1
    assert "f:compute-1" not in fields_of(obj, "tenrec")["f:spec"]["f:nodes"]

    code, obj = wire.apply(NODESETS, name, nodeset(name, {"compute-0": "c0"}, {"app": "nova"}), "tenrec")
    assert code == 200, obj
    assert "reboot-os" in obj["spec"]["services"], "dropped services fall back to the CRD's default"
    assert "f:services" not in fields_of(obj, "tenrec")["f:spec"]
    code, stored = wire.call("GET", path)
    assert code == 200 and stored["spec"] == obj["spec"]


def test_apply_on_typed_kinds_owns_the_leaves(api_server, wire):
    """Kinds with a typed schema (ConfigMap; a small CRD such as TransportURL): an apply owns the
    map entries and leaves it sets, not the struct fields above them; dropping one removes it."""
    name = unique(api_server, "typed")
    code, obj = wire.apply(CONFIGMAPS, name, configmap(name, {"a": "1", "b": "2"}, {"app": "nova"}), "tenrec")
    assert code == 201, obj
    assert fields_of(obj, "tenrec") == {"f:data": {"f:a": {}, "f:b": {}}, "f:metadata": {"f:labels": {"f:app": {}}}}
    code, obj = wire.apply(CONFIGMAPS, name, configmap(name, {"a": "1"}), "tenrec")
    assert code == 200 and obj["data"] == {"a": "1"} and not obj["metadata"].get("labels"), obj
    turls = "/apis/rabbitmq.openstack.org/v1beta1/namespaces/%s/transporturls" % NS
    code, obj = wire.apply(turls, name, {"apiVersion": "rabbitmq.openstack.org/v1beta1", "kind": "TransportURL",
                                         "metadata": {"name": name}, "spec": {"rabbitmqClusterName": "rabbitmq"}},
                           "tenrec")
    assert code == 201, obj
    assert fields_of(obj, "tenrec") == {"f:spec": {"f:rabbitmqClusterName": {}}}
    code, status = wire.apply(turls, name, {"apiVersion": "rabbitmq.openstack.org/v1beta1", "kind": "TransportURL",
                                            "metadata": {"name": name},
                                            "spec": {"rabbitmqClusterName": "rabbitmq", "unknownField": 1}}, "tenrec")
    assert code == 500 and status["message"] == ("failed to create typed patch object: .spec.unknownField: field "
                                                 "not declared in schema"), status
    assert "reason" not in status


WIDGET_GROUP = "parity.tenrec.example"


def widget_spec():
    """A typed spec with the list kinds structured-merge-diff knows: a list-map (one and two keys), a
    set, an atomic list, an atomic map, a map, a struct and a preserve-unknown-fields map."""
    string, integer = {"type": "string"}, {"type": "integer"}
    return {"type": "object", "properties": {
        "size": integer,
        "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                  "items": {"type": "object", "required": ["name"],
                            "properties": {"name": string, "port": integer, "protocol": string}}},
        "pairs": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["a", "b"],
                  "items": {"type": "object", "required": ["a", "b"],
                            "properties": {"a": string, "b": integer, "v": string}}},
        "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": string},
        "args": {"type": "array", "items": string},
        "selector": {"type": "object", "x-kubernetes-map-type": "atomic", "additionalProperties": string},
        "settings": {"type": "object", "additionalProperties": string},
        "nested": {"type": "object", "properties": {"x": string, "y": string}},
        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}


def own_crd(plural, spec, group=WIDGET_GROUP):
    kind = plural[:-1].capitalize()
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "%s.%s" % (plural, group)},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"plural": plural, "singular": plural[:-1], "kind": kind, "listKind": kind + "List"},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": {"type": "object",
                                                                  "properties": {"spec": spec}}}}]}}


@pytest.fixture
def crds(wire):
    """``make(spec schema)``: a CRD of the test's own (typed: no anyOf), served; returns
    ``(collection path, kind)``. The CRDs are deleted afterwards."""
    import time

    made = []

    def make(spec):
        plural = "w%ss" % uuid.uuid4().hex[:8]
        crd = own_crd(plural, spec)
        code, obj = wire.call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        assert code == 201, obj
        made.append(crd["metadata"]["name"])
        collection = "/apis/%s/v1/namespaces/%s/%s" % (WIDGET_GROUP, NS, plural)
        deadline = time.monotonic() + 30
        while wire.call("GET", collection)[0] != 200:
            assert time.monotonic() < deadline, "the CRD %s was not served within 30 s" % plural
            time.sleep(0.2)
        return collection, crd["spec"]["names"]["kind"]

    yield make
    for name in made:
        wire.call("DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + name)


@pytest.fixture
def widgets(crds):
    return crds(widget_spec())


def test_apply_list_maps_and_sets_by_item(api_server, wire, widgets):
    """A list-map owns its items as ``k:{...}``, a set as ``v:...``; applies merge them item by item
    (live order, new items after); a dropped item goes; a conflict names ``[name="b"]``; a merge
    patch replaces the whole list and its Update owns only what it changed; a preserve-unknown map
    owns its keys, each value whole; atomic lists and maps are one field; struct fields are not."""
    collection, kind = widgets
    name = unique(api_server, "widget")

    def widget(spec):
        return {"apiVersion": "%s/v1" % WIDGET_GROUP, "kind": kind, "metadata": {"name": name}, "spec": spec}

    full = {"size": 1, "ports": [{"name": "a", "port": 1}, {"name": "b", "port": 2}],
            "pairs": [{"a": "x", "b": 1, "v": "q"}], "tags": ["t1", "t2"], "args": ["x"], "selector": {"k": "v"},
            "settings": {"s": "1"}, "nested": {"x": "1"}, "extra": {"deep": {"z": 1}, "l": [1]}}
    code, obj = wire.apply(collection, name, widget(full), "m1")
    assert code == 201, obj
    assert fields_of(obj, "m1") == {"f:spec": {
        "f:args": {}, "f:extra": {"f:deep": {}, "f:l": {}}, "f:nested": {"f:x": {}},
        'f:pairs': {'k:{"a":"x","b":1}': {".": {}, "f:a": {}, "f:b": {}, "f:v": {}}},
        "f:ports": {'k:{"name":"a"}': {".": {}, "f:name": {}, "f:port": {}},
                    'k:{"name":"b"}': {".": {}, "f:name": {}, "f:port": {}}},
        "f:selector": {}, "f:settings": {"f:s": {}}, "f:size": {}, "f:tags": {'v:"t1"': {}, 'v:"t2"': {}}}}

    code, obj = wire.apply(collection, name, widget({"ports": [{"name": "c", "port": 3}], "tags": ["t3"]}), "m2")
    assert code == 200, obj
    assert obj["spec"]["ports"] == [{"name": "a", "port": 1}, {"name": "b", "port": 2}, {"name": "c", "port": 3}]
    assert obj["spec"]["tags"] == ["t1", "t2", "t3"]

    dropped = dict(full, ports=[{"name": "b", "port": 5}], tags=["t2"])
    code, obj = wire.apply(collection, name, widget(dropped), "m1")
    assert code == 200, obj
    assert obj["spec"]["ports"] == [{"name": "b", "port": 5}, {"name": "c", "port": 3}]
    assert obj["spec"]["tags"] == ["t2", "t3"]

    code, status = wire.apply(collection, name, widget({"ports": [{"name": "b", "port": 9}, {"name": "c", "port": 3}],
                                                        "tags": ["t3"], "pairs": [{"a": "x", "b": 1, "v": "other"}]}),
                              "m2")
    assert code == 409, status
    assert status["message"] == ('Apply failed with 2 conflicts: conflicts with "m1":\n'
                                 '- .spec.pairs[a="x",b=1].v\n- .spec.ports[name="b"].port'), status["message"]

    code, obj = wire.call("PATCH", "%s/%s?fieldManager=u1" % (collection, name),
                          {"spec": {"ports": [{"name": "b", "port": 5, "protocol": "TCP"}], "settings": {"s2": "2"}}},
                          MERGE)
    assert code == 200, obj
    assert obj["spec"]["ports"] == [{"name": "b", "port": 5, "protocol": "TCP"}], "a merge patch replaces a list"
    assert fields_of(obj, "u1", "Update") == {"f:spec": {"f:ports": {'k:{"name":"b"}': {"f:protocol": {}}},
                                                         "f:settings": {"f:s2": {}}}}
    assert 'k:{"name":"c"}' not in fields_of(obj, "m2")["f:spec"].get("f:ports", {})


def test_apply_that_empties_a_map_leaves_it_null(api_server, wire, widgets):
    """v1.20 leaves a map that an apply emptied null: a NodeSet's last node applied away is 422
    (spec.nodes must be an object); a typed struct emptied the same way too. A map still holding
    another manager's entry stays."""
    name = unique(api_server, "emptied")
    code, obj = wire.apply(NODESETS, name, nodeset(name, {"compute-0": "c0"}, {"app": "nova"}), "tenrec")
    assert code == 201, obj
    code, status = wire.apply(NODESETS, name, nodeset(name, {}), "tenrec")
    assert (code, status["reason"]) == (422, "Invalid"), status
    assert status["message"] == ('OpenStackDataPlaneNodeSet.dataplane.openstack.org "%s" is invalid: spec.nodes: '
                                 'Invalid value: "null": spec.nodes in body must be of type object: "null"' % name)
    code, obj = wire.apply(NODESETS, name, {"apiVersion": GROUP_VERSION, "kind": "OpenStackDataPlaneNodeSet",
                                            "metadata": {"name": name},
                                            "spec": {"nodes": {"compute-1": {"hostName": "c1"}}}}, "other")
    assert code == 200, obj
    code, obj = wire.apply(NODESETS, name, nodeset(name, {}), "tenrec")
    assert code == 200 and sorted(obj["spec"]["nodes"]) == ["compute-1"], obj
    assert "labels" not in obj["metadata"], "emptied labels are gone (ObjectMeta drops a null map)"

    collection, kind = widgets
    name = unique(api_server, "emptied")
    body = {"apiVersion": "%s/v1" % WIDGET_GROUP, "kind": kind, "metadata": {"name": name},
            "spec": {"size": 1, "nested": {"x": "1"}}}
    code, obj = wire.apply(collection, name, body, "m1")
    assert code == 201, obj
    code, status = wire.apply(collection, name, dict(body, spec={"size": 1}), "m1")
    assert code == 422 and status["message"] == (
        '%s.%s "%s" is invalid: spec.nested: Invalid value: "null": spec.nested in body must be of type object: '
        '"null"' % (kind, WIDGET_GROUP, name)), status


def test_apply_to_an_object_nobody_owns_starts_with_before_first_apply(api_server, wire):
    """managedFields reset by a client (``[{}]``, or ``[]`` in a PUT) leave no owner, not even the
    writer; the next apply first gives every field to ``before-first-apply`` (an Update), so a
    different value conflicts with it and the same value is shared."""
    name = unique(api_server, "unowned")
    path = "%s/%s" % (CONFIGMAPS, name)
    code, obj = wire.create(CONFIGMAPS, configmap(name, {"a": "1", "b": "2"}), query="?fieldManager=creator")
    assert code == 201, obj
    code, obj = wire.call("PATCH", path + "?fieldManager=x", {"metadata": {"managedFields": [{}]}, "data": {"c": "3"}},
                          MERGE)
    assert code == 200 and "managedFields" not in obj["metadata"] and obj["data"]["c"] == "3", obj
    code, status = wire.apply(CONFIGMAPS, name, configmap(name, {"a": "9"}), "tenrec")
    assert code == 409 and status["message"] == ('Apply failed with 1 conflict: conflict with "before-first-apply" '
                                                 "using v1: .data.a"), status
    code, obj = wire.apply(CONFIGMAPS, name, configmap(name, {"a": "1"}), "tenrec")
    assert code == 200, obj
    assert fields_of(obj, "tenrec") == {"f:data": {"f:a": {}}}
    assert fields_of(obj, "before-first-apply", "Update") == {"f:data": {".": {}, "f:a": {}, "f:b": {}, "f:c": {}}}
    assert [m["operation"] for m in obj["metadata"]["managedFields"]] == ["Apply", "Update"]
    obj["metadata"]["managedFields"] = []
    code, obj = wire.call("PUT", path, obj)
    assert code == 200 and "managedFields" not in obj["metadata"], obj


def test_apply_conflict_with_an_applier_and_force_takes_the_field(api_server, wire):
    """Another applier's value is a 409 naming it and the field; the same value is shared; force
    moves the field to the new applier."""
    name = unique(api_server, "conflict")
    code, obj = wire.apply(NODESETS, name, nodeset(name, {"compute-0": "c0", "compute-1": "c1"}), "other-manager")
    assert code == 201, obj
    code, status = wire.apply(NODESETS, name, nodeset(name, {"compute-0": "elsewhere"}), "tenrec")
    assert code == 409, status
    assert (status["kind"], status["status"], status["reason"], status["code"]) == ("Status", "Failure", "Conflict", 409)
    assert status["message"] == ('Apply failed with 1 conflict: conflict with "other-manager": '
                                 ".spec.nodes.compute-0.hostName"), status["message"]
    assert status["details"]["causes"] == [{"reason": "FieldManagerConflict",
                                            "message": 'conflict with "other-manager"',
                                            "field": ".spec.nodes.compute-0.hostName"}], status["details"]

    code, obj = wire.apply(NODESETS, name, nodeset(name, {"compute-0": "c0"}), "tenrec")
    assert code == 200, obj
    assert fields_of(obj, "tenrec")["f:spec"]["f:nodes"]["f:compute-0"] == {".": {}, "f:hostName": {}}
    assert fields_of(obj, "other-manager")["f:spec"]["f:nodes"]["f:compute-0"] == {".": {}, "f:hostName": {}}, \
        "the same value: both own it"

    code, obj = wire.apply(NODESETS, name, nodeset(name, {"compute-0": "elsewhere"}), "tenrec", force=True)
    assert code == 200, obj
    assert obj["spec"]["nodes"]["compute-0"]["hostName"] == "elsewhere"
    other = fields_of(obj, "other-manager")["f:spec"]["f:nodes"]
    assert "f:hostName" not in other.get("f:compute-0", {}), "force takes the field from the other manager"
    assert other["f:compute-1"] == {".": {}, "f:hostName": {}}


def test_apply_conflicts_with_an_updater_list_every_field(api_server, wire):
    """A ConfigMap written by an Update (POST with fieldManager): the conflict names the manager
    ``using v1`` and lists each field; force takes them."""
    name = unique(api_server, "conflicts")
    code, obj = wire.create(CONFIGMAPS + "", configmap(name, {"a": "1", "b": "2", "c": "3"}),
                            query="?fieldManager=other")
    assert code == 201, obj
    code, status = wire.apply(CONFIGMAPS, name, configmap(name, {"a": "x", "b": "y", "c": "3"}), "tenrec")
    assert code == 409, status
    assert status["reason"] == "Conflict"
    assert status["message"] == ('Apply failed with 2 conflicts: conflicts with "other" using v1:\n'
                                 "- .data.a\n- .data.b"), status["message"]
    assert status["details"]["causes"] == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "other" using v1', "field": ".data.a"},
        {"reason": "FieldManagerConflict", "message": 'conflict with "other" using v1', "field": ".data.b"}]
    code, obj = wire.apply(CONFIGMAPS, name, configmap(name, {"a": "x", "b": "y", "c": "3"}), "tenrec", force=True)
    assert code == 200 and obj["data"] == {"a": "x", "b": "y", "c": "3"}, obj
    other = fields_of(obj, "other", "Update")["f:data"]
    assert "f:a" not in other and "f:b" not in other and "f:c" in other, other
    mine = fields_of(obj, "tenrec")["f:data"]
    assert {"f:a", "f:b", "f:c"} <= set(mine), mine


def test_non_apply_writes_record_update_entries(api_server, api_client, wire):
    """POST, merge patch, JSON patch and PUT each record an ``Update`` entry of their fieldManager
    (without one: the User-Agent's first word), taking the fields they set from other managers."""
    name = unique(api_server, "updates")
    path = "%s/%s" % (CONFIGMAPS, name)
    code, obj = wire.create(CONFIGMAPS, configmap(name, {"a": "1"}, {"app": "nova"}), query="?fieldManager=creator")
    assert code == 201, obj
    entry = entries(obj)[("creator", "Update")]
    assert entry["apiVersion"] == "v1" and entry["fieldsType"] == "FieldsV1" and entry["time"]
    assert entry["fieldsV1"] == {"f:data": {".": {}, "f:a": {}}, "f:metadata": {"f:labels": {".": {}, "f:app": {}}}}

    # no fieldManager: the kubernetes client's User-Agent (OpenAPI-Generator/<version>/python) names it
    code, obj = wire.call("PATCH", path, {"data": {"b": "2"}}, MERGE, agent=api_client.user_agent)
    assert code == 200, obj
    assert api_client.user_agent.startswith("OpenAPI-Generator/")
    assert fields_of(obj, "OpenAPI-Generator", "Update") == {"f:data": {"f:b": {}}}

    code, obj = wire.call("PATCH", path + "?fieldManager=patcher", [{"op": "add", "path": "/data/c", "value": "3"}],
                          JSON_PATCH)
    assert code == 200, obj
    assert fields_of(obj, "patcher", "Update") == {"f:data": {"f:c": {}}}

    put = copy.deepcopy(obj)
    put["data"]["a"] = "changed"
    code, obj = wire.call("PUT", path + "?fieldManager=putter", put)
    assert code == 200, obj
    assert fields_of(obj, "putter", "Update") == {"f:data": {"f:a": {}}}
    assert "f:a" not in fields_of(obj, "creator", "Update")["f:data"], "the writer takes the field it changed"
    assert sorted(entries(obj)) == [("OpenAPI-Generator", "Update"), ("creator", "Update"), ("patcher", "Update"),
                                    ("putter", "Update")]


# ----- 2. what an apply, PUT or patch may not carry ------------------------------------------------
def test_apply_put_and_patch_preconditions(api_server, wire):
    """managedFields in an apply: 400; a stale resourceVersion: 409; a foreign uid: 422 in an apply
    or a patch, 409 (a failed precondition) in a PUT; a PUT of a custom resource without
    resourceVersion: 422."""
    name = unique(api_server, "precond")
    path = "%s/%s" % (NODESETS, name)
    code, obj = wire.apply(NODESETS, name, nodeset(name, {"compute-0": "c0"}), "tenrec")
    assert code == 201, obj
    uid, stale = obj["metadata"]["uid"], obj["metadata"]["resourceVersion"]
    plural = "openstackdataplanenodesets.dataplane.openstack.org"

    body = nodeset(name, {"compute-0": "c0"})
    body["metadata"]["managedFields"] = obj["metadata"]["managedFields"]
    code, status = wire.apply(NODESETS, name, body, "tenrec")
    assert (code, status["reason"], status["message"]) == (400, "BadRequest", "metadata.managedFields must be nil"), \
        status

    code, obj = wire.apply(NODESETS, name, nodeset(name, {"compute-0": "c0", "compute-1": "c1"}), "tenrec")
    assert code == 200 and obj["metadata"]["resourceVersion"] != stale, obj
    modified = ('Operation cannot be fulfilled on %s "%s": the object has been modified; please apply your changes '
                "to the latest version and try again" % (plural, name))
    body = nodeset(name, {"compute-0": "c0"})
    body["metadata"]["resourceVersion"] = stale
    code, status = wire.apply(NODESETS, name, body, "tenrec")
    assert (code, status["reason"], status["message"]) == (409, "Conflict", modified), status
    code, status = wire.call("PATCH", path, {"metadata": {"resourceVersion": stale, "labels": {"x": "y"}}}, MERGE)
    assert (code, status["reason"], status["message"]) == (409, "Conflict", modified), status
    put = copy.deepcopy(obj)
    put["metadata"]["resourceVersion"] = stale
    code, status = wire.call("PUT", path, put)
    assert (code, status["reason"], status["message"]) == (409, "Conflict", modified), status

    foreign = str(uuid.uuid4())
    immutable = ('OpenStackDataPlaneNodeSet.dataplane.openstack.org "%s" is invalid: metadata.uid: '
                 'Invalid value: "%s": field is immutable' % (name, foreign))
    body = nodeset(name, {"compute-0": "c0", "compute-1": "c1"})
    body["metadata"]["uid"] = foreign
    code, status = wire.apply(NODESETS, name, body, "tenrec")
    assert (code, status["reason"], status["message"]) == (422, "Invalid", immutable), status
    # the real server reports it twice (its generic and its kind's metadata checks), the message once
    assert status["details"]["causes"] == [{"reason": "FieldValueInvalid", "field": "metadata.uid",
                                            "message": 'Invalid value: "%s": field is immutable' % foreign}] * 2
    code, status = wire.call("PATCH", path, {"metadata": {"uid": foreign}}, MERGE)
    assert (code, status["reason"], status["message"]) == (422, "Invalid", immutable), status
    put = copy.deepcopy(obj)
    put["metadata"]["uid"] = foreign
    code, status = wire.call("PUT", path, put)
    assert (code, status["reason"]) == (409, "Conflict"), status
    assert status["message"].startswith('Operation cannot be fulfilled on %s "%s": ' % (plural, name)), status
    assert status["message"].endswith("Precondition failed: UID in precondition: %s, UID in object meta: %s"
                                      % (foreign, uid)), status

    put = copy.deepcopy(obj)
    del put["metadata"]["resourceVersion"]
    code, status = wire.call("PUT", path, put)
    assert (code, status["reason"]) == (422, "Invalid"), status
    assert status["message"] == ('%s "%s" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be '
                                 "specified for an update" % (plural, name)), status
    code, got = wire.call("PUT", path, obj)
    assert code == 200 and got["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"], \
        "a PUT of the object as it is writes nothing"


def test_a_custom_resource_body_names_its_api_version_and_kind(api_server, wire):
    """A custom resource's POST or PUT body without ``kind`` is 400 (decoded as unstructured),
    without ``apiVersion`` 500, with another apiVersion 400, another kind 422; a ConfigMap may leave
    both out; an apply without the right apiVersion is 400."""
    name = unique(api_server, "identity")
    body = nodeset(name, {"compute-0": "c0"})

    def without(*keys):
        return {k: v for k, v in body.items() if k not in keys}

    raw = json.dumps(without("kind"))
    code, status = wire.call("POST", NODESETS, raw.encode())
    assert (code, status["reason"]) == (400, "BadRequest"), status
    assert status["message"].startswith(
        'OpenStackDataPlaneNodeSet in version "v1beta1" cannot be handled as a OpenStackDataPlaneNodeSet: '
        "unmarshalerDecoder: Object 'Kind' is missing in '%s', error found in " % raw), status["message"]
    code, status = wire.call("POST", NODESETS, without("apiVersion"))
    assert (code, status["reason"], status["message"]) == (
        500, "InternalError", "Internal error occurred: Object 'apiVersion' is missing in 'object has no apiVersion "
                              "field'"), status
    code, status = wire.call("POST", NODESETS, dict(body, apiVersion="dataplane.openstack.org/v1"))
    assert (code, status["message"]) == (400, "the API version in the data (dataplane.openstack.org/v1) does not "
                                              "match the expected API version (dataplane.openstack.org/v1beta1)"), status
    code, status = wire.call("POST", NODESETS, dict(body, kind="Other"))
    assert (code, status["message"]) == (422, 'Other.dataplane.openstack.org "%s" is invalid: kind: Invalid value: '
                                              '"Other": must be OpenStackDataPlaneNodeSet' % name), status
    code, obj = wire.create(CONFIGMAPS, {"metadata": {"name": name}, "data": {"a": "1"}})
    assert code == 201 and obj["kind"] == "ConfigMap", obj
    code, obj = wire.create(NODESETS, body)
    assert code == 201, obj
    code, status = wire.call("PUT", "%s/%s" % (NODESETS, name), dict(without("kind"), metadata=obj["metadata"]))
    assert code == 400 and "Object 'Kind' is missing" in status["message"], status
    code, status = wire.apply(NODESETS, name, without("apiVersion"), "tenrec")
    assert (code, status["message"]) == (400, "Incorrect version specified in apply patch. Specified patch version: "
                                              ", expected: dataplane.openstack.org/v1beta1"), status
    code, obj = wire.apply(NODESETS, name, without("kind"), "tenrec")
    assert code == 200, obj


# ----- 3. keep-alive after an early error -------------------------------------------------------------
def test_early_errors_leave_a_kept_alive_connection_usable(api_server, wire):
    """A 404 (unknown resource, unknown subresource) or a 401 answered to a request with a body: the
    next request on the same connection is answered normally."""
    conn = wire.connection()
    try:
        code, status = wire.call("POST", "/api/v1/namespaces/%s/nothings" % NS, {"data": "x" * 20000}, conn=conn)
        assert code == 404 and status["reason"] == "NotFound", status
        code, listing = wire.call("GET", "/api/v1/namespaces/%s/configmaps" % NS, conn=conn)
        assert code == 200 and listing["kind"] == "ConfigMapList", listing
        code, status = wire.call("PUT", "%s/x/nothing" % NODESETS, {"data": "x" * 3000}, conn=conn)
        assert code == 404, status
        code, listing = wire.call("GET", "/api/v1/namespaces", conn=conn)
        assert code == 200 and listing["kind"] == "NamespaceList", listing
    finally:
        conn.close()
    conn = wire.connection()
    try:
        code, status = wire.call("POST", CONFIGMAPS, {"data": {"x": "y" * 5000}}, conn=conn, token="wrong-token")
        assert code == 401 and status["reason"] == "Unauthorized", status
        code, listing = wire.call("GET", "/api/v1/namespaces", conn=conn)
        assert code == 200 and listing["kind"] == "NamespaceList", listing
    finally:
        conn.close()


# ----- 4. /version ------------------------------------------------------------------------------------
def test_version_has_every_field_the_typed_client_needs(api_server, api_client, wire):
    from kubernetes import client

    code, info = wire.call("GET", "/version")
    assert code == 200
    assert {"major", "minor", "gitVersion", "gitCommit", "gitTreeState", "buildDate", "goVersion", "compiler",
            "platform"} <= set(info), info
    typed = client.VersionApi(api_client).get_code()
    assert typed.git_version == info["gitVersion"] and typed.build_date and typed.platform


# ----- 5. pods/status ---------------------------------------------------------------------------------
def test_pod_status_subresource(api_server, wire):
    name = unique(api_server, "pod")
    code, pod = wire.create(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                                   "spec": {"containers": [{"name": "c", "image": "registry.invalid/x"}]}})
    assert code == 201, pod
    path = "%s/%s/status" % (PODS, name)
    code, got = wire.call("GET", path)
    assert code == 200 and got["kind"] == "Pod" and got["metadata"]["name"] == name, got
    code, got = wire.call("PATCH", path, {"status": {"phase": "Running"}}, MERGE)
    assert code == 200 and got["status"]["phase"] == "Running", got
    got["status"]["phase"] = "Succeeded"
    code, got = wire.call("PUT", path, got)
    assert code == 200 and got["status"]["phase"] == "Succeeded", got
    code, got = wire.call("GET", "%s/%s" % (PODS, name))
    assert code == 200 and got["status"]["phase"] == "Succeeded", got
    code, status = wire.call("GET", "%s/%s-missing/status" % (PODS, name))
    assert code == 404 and status["reason"] == "NotFound", status


# ----- 6. smaller differences -------------------------------------------------------------------------
def test_invalid_custom_resource_is_worded_as_the_real_server(api_server, wire):
    name = unique(api_server, "invalid")
    body = nodeset(name, {"compute-0": "c0"})
    body["spec"]["secretMaxSize"] = "big"
    code, status = wire.create(NODESETS, body)
    assert (code, status["reason"]) == (422, "Invalid"), status
    cause = 'Invalid value: "string": spec.secretMaxSize in body must be of type integer: "string"'
    assert status["message"] == 'OpenStackDataPlaneNodeSet.dataplane.openstack.org "%s" is invalid: ' \
                                "spec.secretMaxSize: %s" % (name, cause), status["message"]
    assert status["details"] == {"name": name, "group": "dataplane.openstack.org", "kind": "OpenStackDataPlaneNodeSet",
                                 "causes": [{"reason": "FieldValueInvalid", "message": cause,
                                             "field": "spec.secretMaxSize"}]}, status["details"]
    del body["spec"]["nodeTemplate"]
    code, status = wire.create(NODESETS, body)
    assert code == 422, status
    assert status["message"] == 'OpenStackDataPlaneNodeSet.dataplane.openstack.org "%s" is invalid: [' \
                                "spec.secretMaxSize: %s, spec.nodeTemplate: Required value]" % (name, cause), \
        status["message"]
    assert {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.nodeTemplate"} \
        in status["details"]["causes"], status["details"]
    # list items are named by their list's path, without an index; several properties of an object
    # come in no fixed order on the real server (Go map order): compare the causes as a set
    body = nodeset(name, {"compute-0": "c0"})
    body["spec"]["nodeTemplate"]["networks"] = [{"name": "ctlplane", "subnetName": "bad_"}, {"name": "internalapi"}]
    code, status = wire.create(NODESETS, body)
    assert code == 422, status
    pattern = "'^[a-zA-Z0-9][a-zA-Z0-9\\-_]*[a-zA-Z0-9]$'"
    where = "spec.nodeTemplate.networks.subnetName"
    assert sorted(map(json.dumps, status["details"]["causes"])) == sorted(map(json.dumps, [
        {"reason": "FieldValueInvalid", "message": 'Invalid value: "bad_": %s in body should match %s' % (where, pattern),
         "field": where},
        {"reason": "FieldValueRequired", "message": "Required value", "field": where}])), status["details"]


def test_schema_violations_are_worded_as_the_real_server(api_server, wire, crds):
    """Each kind of schema check, in the real server's words (go-openapi's message in field.Invalid
    or field.NotSupported)."""
    collection, kind = crds({"type": "object", "properties": {
        "s": {"type": "string", "maxLength": 3}, "m": {"type": "string", "minLength": 3},
        "e": {"type": "string", "enum": ["a", "b"]}, "n": {"type": "integer", "minimum": 2, "maximum": 5},
        "l": {"type": "array", "maxItems": 1, "items": {"type": "string"}},
        "k": {"type": "array", "minItems": 2, "items": {"type": "string"}}, "ei": {"type": "integer", "enum": [1, 2]},
        "o": {"type": "object", "properties": {"a": {"type": "string"}}}, "f": {"type": "number", "maximum": 1.5},
        "p": {"type": "string", "pattern": "^[a-z]+$"}}})
    code, status = wire.create(collection, {
        "apiVersion": "%s/v1" % WIDGET_GROUP, "kind": kind, "metadata": {"name": "invalid"},
        "spec": {"s": "toolong", "m": "ab", "e": "c", "n": 9, "l": ["a", "b"], "k": ["a"], "ei": 3, "o": {"a": {"x": 1}},
                 "f": 2.5, "p": "A1"}})
    assert (code, status["reason"]) == (422, "Invalid"), status
    invalid = "FieldValueInvalid"
    assert sorted(status["details"]["causes"], key=lambda c: c["field"]) == [
        {"reason": "FieldValueNotSupported", "message": 'Unsupported value: "c": supported values: "a", "b"',
         "field": "spec.e"},
        {"reason": "FieldValueNotSupported", "message": 'Unsupported value: 3: supported values: "1", "2"',
         "field": "spec.ei"},
        {"reason": invalid, "message": "Invalid value: 2.5: spec.f in body should be less than or equal to 1.5",
         "field": "spec.f"},
        {"reason": invalid, "message": "Invalid value: 1: spec.k in body should have at least 2 items", "field": "spec.k"},
        {"reason": invalid, "message": "Invalid value: 2: spec.l in body should have at most 1 items", "field": "spec.l"},
        {"reason": invalid, "message": 'Invalid value: "ab": spec.m in body should be at least 3 chars long',
         "field": "spec.m"},
        {"reason": invalid, "message": "Invalid value: 9: spec.n in body should be less than or equal to 5",
         "field": "spec.n"},
        {"reason": invalid, "message": 'Invalid value: "object": spec.o.a in body must be of type string: "object"',
         "field": "spec.o.a"},
        {"reason": invalid, "message": "Invalid value: \"A1\": spec.p in body should match '^[a-z]+$'", "field": "spec.p"},
        {"reason": invalid, "message": 'Invalid value: "toolong": spec.s in body should be at most 3 chars long',
         "field": "spec.s"}], status["details"]["causes"]


def test_secret_with_bad_base64_is_400(api_server, wire):
    name = unique(api_server, "bad64")
    code, status = wire.create(SECRETS, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                                         "data": {"key": "no!"}})
    assert (code, status["reason"]) == (400, "BadRequest"), status
    assert status["message"].startswith('Secret in version "v1" cannot be handled as a Secret: ') \
        and "illegal base64 data at input byte 2" in status["message"], status["message"]


def test_dry_run_create_has_no_resource_version(api_server, wire):
    name = unique(api_server, "dry")
    code, obj = wire.create(CONFIGMAPS, configmap(name, {"a": "1"}), query="?dryRun=All")
    assert code == 201, obj
    assert "resourceVersion" not in obj["metadata"] and obj["metadata"]["uid"], obj["metadata"]
    assert wire.call("GET", "%s/%s" % (CONFIGMAPS, name))[0] == 404
