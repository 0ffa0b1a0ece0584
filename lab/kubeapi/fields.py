"""Field ownership (``metadata.managedFields``) and server-side apply, as kube-apiserver v1.20 does it
(structured-merge-diff v4.0).

A field is a path, a tuple of elements: a field name (``"spec"``), a list-map item ``("k",
'{"name":"x"}')`` or a set item ``("v", '"x"')``. A field set is a Python ``set`` of paths. Each
``managedFields`` entry holds the set of one manager and operation (``Apply`` or ``Update``) in the
``FieldsV1`` encoding (``{"f:spec": {".": {}, "f:x": {}}, "k:{\\"name\\":\\"x\\"}": ...}``).

What a path is depends on the object's schema (:func:`field_schema`):

* typed (core kinds; custom resources whose schema v1.20 can convert: no ``anyOf`` and the like):
  struct fields (schema ``properties``) are not fields of their own unless null; map entries
  (``additionalProperties``), scalars and atomic lists/maps are; lists are atomic unless
  ``x-kubernetes-list-type`` is ``set`` (``v:`` items) or ``map`` (``k:`` items by
  ``x-kubernetes-list-map-keys``); a ``x-kubernetes-preserve-unknown-fields`` map owns its keys,
  each value atomic;
* deduced (custom resources v1.20 cannot type: OpenStackControlPlane, NodeSet, KeystoneAPI,
  OVNDBCluster, ...): every map key at any depth is a field, every list is atomic.

An apply owns exactly the fields of its body. Fields it applied last time and leaves out now are
removed from the object (with what is below them) unless a manager still owns them; a map or list
emptied that way is left null, as v1.20 does (a custom resource then fails validation if the
schema does not allow null). A field it changes that another manager owns is a conflict (409)
unless forced, which moves the field to the applier. Any other write (create, PUT, merge or JSON
patch) takes the fields it adds or changes from every other manager and adds them to its
manager's ``Update`` entry. The first apply to an object without managedFields gives what is there
to the manager ``before-first-apply``.
"""

import copy
import datetime
import json

from .errors import ApiError

# What no manager owns: identity and server-set metadata (the field manager's strip set).
STRIPPED = {("apiVersion",), ("kind",), ("metadata",), ("metadata", "name"), ("metadata", "namespace"),
            ("metadata", "creationTimestamp"), ("metadata", "selfLink"), ("metadata", "uid"),
            ("metadata", "clusterName"), ("metadata", "generation"), ("metadata", "managedFields"),
            ("metadata", "resourceVersion")}
FIELD_MANAGER_MAX_LENGTH = 128
BEFORE_FIRST_APPLY = "before-first-apply"

# ----- schemas ------------------------------------------------------------------------------------
DEDUCED = {"x-tenrec-deduced": True}   # every map key a field, lists atomic (v1.20's deduced type)
UNTYPED_ATOMIC = {"x-tenrec-atomic": True}  # a value kept whole (inside preserve-unknown-fields maps)
_STRING = {"type": "string"}
_STRING_MAP = {"type": "object", "additionalProperties": _STRING}
OBJECT_META = {"type": "object", "properties": {
    "name": _STRING, "generateName": _STRING, "namespace": _STRING, "selfLink": _STRING, "uid": _STRING,
    "resourceVersion": _STRING, "generation": {"type": "integer"}, "creationTimestamp": _STRING,
    "deletionTimestamp": _STRING, "deletionGracePeriodSeconds": {"type": "integer"}, "clusterName": _STRING,
    "labels": _STRING_MAP, "annotations": _STRING_MAP,
    "finalizers": {"type": "array", "items": _STRING, "x-kubernetes-list-type": "set"},
    "ownerReferences": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["uid"],
                        "items": {"type": "object", "properties": {
                            k: _STRING for k in ("apiVersion", "kind", "name", "uid", "controller",
                                                 "blockOwnerDeletion")}}},
    "managedFields": {"type": "array"}}}


def _kind_schema(**properties):
    return {"type": "object", "properties": dict({"apiVersion": _STRING, "kind": _STRING, "metadata": OBJECT_META},
                                                 **properties)}


# Core kinds: the parts of their schema that matter here (Pods and Events below their top level are
# approximated as deduced: nothing applies them)
CORE_SCHEMAS = {
    "ConfigMap": _kind_schema(data=_STRING_MAP, binaryData=_STRING_MAP, immutable={"type": "boolean"}),
    "Secret": _kind_schema(data=_STRING_MAP, stringData=_STRING_MAP, type=_STRING, immutable={"type": "boolean"}),
    "Namespace": _kind_schema(spec={"type": "object", "properties": {"finalizers": {"type": "array"}}},
                              status={"type": "object", "properties": {"phase": _STRING,
                                                                       "conditions": {"type": "array"}}}),
    "ServiceAccount": _kind_schema(
        secrets={"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                 "items": {"type": "object", "properties": {k: _STRING for k in (
                     "apiVersion", "kind", "name", "namespace", "uid", "resourceVersion", "fieldPath")}}},
        imagePullSecrets={"type": "array"}, automountServiceAccountToken={"type": "boolean"}),
    "Pod": _kind_schema(spec=DEDUCED, status=DEDUCED),
    "Event": _kind_schema(**{k: DEDUCED for k in (
        "involvedObject", "reason", "message", "source", "firstTimestamp", "lastTimestamp", "count", "type",
        "eventTime", "series", "action", "related", "reportingComponent", "reportingInstance")}),
}
_UNTYPABLE = ("anyOf", "allOf", "oneOf", "not", "x-kubernetes-int-or-string")


def field_schema(kind, schema=None, custom=False):
    """The schema field ownership follows for ``kind``: a custom resource's openAPIV3Schema (with
    ObjectMeta), DEDUCED when v1.20 could not type it, a core kind's from CORE_SCHEMAS."""
    if custom:
        if not schema or _mentions(schema, _UNTYPABLE):
            return DEDUCED
        typed = copy.deepcopy(schema)
        typed.setdefault("properties", {}).update(apiVersion=_STRING, kind=_STRING, metadata=OBJECT_META)
        return typed
    return CORE_SCHEMAS.get(kind, DEDUCED)


def _mentions(node, keys):
    if isinstance(node, dict):
        return any(k in node for k in keys) or any(_mentions(v, keys) for v in node.values())
    if isinstance(node, list):
        return any(_mentions(v, keys) for v in node)
    return False


def _child(schema, key):
    """``(schema of map key key, declared)``: declared struct fields are not fields of their own."""
    if schema is DEDUCED or schema.get("x-tenrec-deduced"):
        return DEDUCED, False
    if schema.get("x-tenrec-atomic"):
        return UNTYPED_ATOMIC, False
    props = schema.get("properties") or {}
    if key in props:
        return props[key], True
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        return additional, False
    return UNTYPED_ATOMIC, False


def _undeclared(schema, key):
    """True when a typed struct has no place for ``key`` (v1.20: "field not declared in schema")."""
    if schema.get("x-tenrec-deduced") or schema.get("x-tenrec-atomic") or "properties" not in schema:
        return False
    return key not in schema["properties"] and not schema.get("additionalProperties") \
        and not schema.get("x-kubernetes-preserve-unknown-fields")


def _atomic_map(schema):
    return bool(schema.get("x-tenrec-atomic")) or schema.get("x-kubernetes-map-type") == "atomic"


def _list_type(schema):
    """``atomic``, ``set`` or ``map`` (a list-map needs its keys)."""
    kind = schema.get("x-kubernetes-list-type") or "atomic"
    if kind == "map" and not schema.get("x-kubernetes-list-map-keys"):
        return "atomic"
    return kind if kind in ("set", "map") else "atomic"


def _items(schema):
    return schema.get("items") or UNTYPED_ATOMIC


def _element(item, schema):
    """The path element of a list item: ``("k", '{"name":"x"}')`` or ``("v", '"x"')``; None when
    a list-map item lacks a key (then the list is handled as atomic)."""
    if _list_type(schema) == "set":
        return ("v", json.dumps(item, separators=(",", ":"), sort_keys=True))
    keys = schema["x-kubernetes-list-map-keys"]
    if not isinstance(item, dict) or any(k not in item for k in keys):
        return None
    return ("k", json.dumps({k: item[k] for k in keys}, separators=(",", ":"), sort_keys=True))


def _associative(value, schema):
    """True when list ``value`` is a set or a list-map whose items all carry their keys."""
    if _list_type(schema) == "atomic" or not isinstance(value, list):
        return False
    return all(_element(item, schema) is not None for item in value)


def _keyed(value, schema):
    return [(_element(item, schema), item) for item in value]


# ----- field sets ---------------------------------------------------------------------------------
def manager_from_user_agent(user_agent):
    """The default field manager of a non-apply write: the User-Agent up to its first ``/``."""
    head = (user_agent or "").split("/")[0]
    return "".join(ch for ch in head if ch.isprintable())[:FIELD_MANAGER_MAX_LENGTH]


def applied_set(config, schema, skip_status=False):
    """The fields an apply of ``config`` owns (structured-merge-diff's ToFieldSet).

    :raises ApiError: 500 for a field a typed schema does not declare, as v1.20 answers.
    """
    out = set()
    _applied(config, schema, (), out)
    return _owned_only(out, skip_status)


def _applied(value, schema, path, out):
    if isinstance(value, dict):
        if _atomic_map(schema):
            out.add(path)
            return
        for key, item in value.items():
            if _undeclared(schema, key):
                raise ApiError(500, "", "failed to create typed patch object: %s: field not declared in schema"
                               % path_string(path + (key,)))
            child, declared = _child(schema, key)
            sub = path + (key,)
            _applied(item, child, sub, out)
            if item is None or not declared:
                out.add(sub)
    elif isinstance(value, list):
        if not _associative(value, schema):
            out.add(path)
            return
        items = _items(schema)
        for element, item in _keyed(value, schema):
            out.add(path + (element,))
            if element[0] == "k":
                _applied(item, items, path + (element,), out)
    else:
        out.add(path)


def all_paths(value, schema, path=(), out=None):
    """Every node below ``value`` (maps' keys, list items of associative lists), as Compare lists them."""
    out = set() if out is None else out
    if isinstance(value, dict) and not _atomic_map(schema):
        for key, item in value.items():
            child, _declared = _child(schema, key)
            out.add(path + (key,))
            all_paths(item, child, path + (key,), out)
    elif isinstance(value, list) and _associative(value, schema):
        items = _items(schema)
        for element, item in _keyed(value, schema):
            out.add(path + (element,))
            if element[0] == "k":
                all_paths(item, items, path + (element,), out)
    return out


def _owned_only(fields, skip_status):
    return {p for p in fields if p and p not in STRIPPED and not (skip_status and p[0] == "status")}


def element_string(element):
    if isinstance(element, tuple):
        return "%s:%s" % element
    return "f:" + element


def path_string(path):
    """A field path as the server prints it: ``.spec.ports[name="x"].port``, ``.spec.tags[="a"]``."""
    out = ""
    for element in path:
        if not isinstance(element, tuple):
            out += "." + element
        elif element[0] == "k":
            key = json.loads(element[1])
            out += "[%s]" % ",".join("%s=%s" % (k, json.dumps(key[k])) for k in sorted(key))
        else:
            out += "[=%s]" % element[1]
    return out


def _sort_key(path):
    return tuple(element_string(e) for e in path)


def compare(old, new, schema, path=()):
    """``(added, removed, modified)`` field sets between two values (dicts at the top)."""
    added, removed, modified = set(), set(), set()
    _compare(old if isinstance(old, dict) else {}, new if isinstance(new, dict) else {}, schema, path,
             (added, removed, modified))
    return added, removed, modified


def _compare(old, new, schema, path, out):
    added, removed, modified = out
    if isinstance(old, dict) and isinstance(new, dict) and not _atomic_map(schema):
        pairs = [((key,), _child(schema, key)[0], old.get(key, _MISSING), new.get(key, _MISSING))
                 for key in list(old) + [k for k in new if k not in old]]
    elif isinstance(old, list) and isinstance(new, list) and _associative(old, schema) \
            and _associative(new, schema):
        items = _items(schema)
        olds, news = dict(_keyed(old, schema)), dict(_keyed(new, schema))
        pairs = [((element,), items, olds.get(element, _MISSING), news.get(element, _MISSING))
                 for element in list(olds) + [e for e in news if e not in olds]]
    else:
        if old != new:
            modified.add(path)
            all_paths(old, schema, path, removed)
            all_paths(new, schema, path, added)
        return
    for (element,), child, before, after in pairs:
        sub = path + (element,)
        if before is _MISSING:
            added.add(sub)
            all_paths(after, child, sub, added)
        elif after is _MISSING:
            removed.add(sub)
            all_paths(before, child, sub, removed)
        elif isinstance(element, tuple) and element[0] == "v":
            continue
        else:
            _compare(before, after, child, sub, out)


_MISSING = object()


# ----- FieldsV1 -----------------------------------------------------------------------------------
def encode_fields(fields):
    """A field set as FieldsV1: ``{"f:spec": {".": {}, "f:x": {}}}`` (``.``: the node is a field too)."""
    trie = {}
    for path in fields:
        node = trie
        for element in path:
            node = node.setdefault(element, {})
    return _encode(trie, (), fields)


def _encode(node, path, fields):
    out = {".": {}} if path and path in fields and node else {}
    for element in sorted(node, key=element_string):
        out[element_string(element)] = _encode(node[element], path + (element,), fields)
    return out


def decode_fields(tree, path=()):
    """The field set of a FieldsV1 tree (``f:``, ``k:`` and ``v:`` keys)."""
    out = set()
    for key, child in (tree or {}).items():
        if key == ".":
            out.add(path)
            continue
        kind, _sep, rest = key.partition(":")
        if kind == "f":
            sub = path + (rest,)
        elif kind in ("k", "v"):
            sub = path + ((kind, _canonical(rest)),)
        else:
            continue
        if not child:
            out.add(sub)
        else:
            out |= decode_fields(child, sub)
    return out


def _canonical(text):
    try:
        return json.dumps(json.loads(text), separators=(",", ":"), sort_keys=True)
    except ValueError:
        return text


class Managers:
    """The ``managedFields`` of one object, as ``{(manager, operation, apiVersion): entry}``.

    Entries keep their FieldsV1 form plus ``fields`` (the decoded set) while being worked on.
    """

    def __init__(self, entries):
        self.entries = {}
        for entry in entries or []:
            entry = copy.deepcopy(entry)
            entry["fields"] = decode_fields(entry.get("fieldsV1"))
            self.entries[self.key(entry["manager"], entry["operation"], entry.get("apiVersion"))] = entry

    @staticmethod
    def key(manager, operation, api_version):
        """Appliers are one entry whatever their apiVersion; updaters one per apiVersion."""
        return (manager, operation, "" if operation == "Apply" else api_version)

    @staticmethod
    def valid(entries):
        """True when ``entries`` (a client's managedFields) can be taken as they are."""
        if not isinstance(entries, list) or not entries:
            return False
        return all(isinstance(e, dict) and e.get("manager") and e.get("operation") in ("Apply", "Update")
                   and e.get("fieldsType", "FieldsV1") == "FieldsV1" and isinstance(e.get("fieldsV1", {}), dict)
                   for e in entries)

    def others(self, key):
        """``[(key, entry)]`` of every manager but ``key``."""
        return [(k, e) for k, e in self.entries.items() if k != key]

    def owned_by_others(self, key):
        """The union of the fields every manager but ``key`` owns."""
        out = set()
        for _k, entry in self.others(key):
            out |= entry["fields"]
        return out

    def set_fields(self, key, fields, api_version, touched):
        """Give ``key`` exactly ``fields``; its time moves when the write ``touched`` the object."""
        entry = self.entries.get(key)
        if entry is None:
            entry = {"manager": key[0], "operation": key[1], "time": _now()}
            self.entries[key] = entry
        elif touched:
            entry["time"] = _now()
        entry["apiVersion"] = api_version
        entry["fields"] = set(fields)

    def drop(self, fields, keep=None):
        """Take ``fields`` away from every manager but ``keep``."""
        for key, entry in self.entries.items():
            if key != keep:
                entry["fields"] = entry["fields"] - fields

    def to_list(self):
        """The ``metadata.managedFields`` list, managers left without fields dropped, in the real
        server's order (Apply before Update, then by time, manager, apiVersion)."""
        out = []
        for entry in self.entries.values():
            if not entry["fields"]:
                continue
            item = {k: v for k, v in entry.items() if k != "fields"}
            item["fieldsType"] = "FieldsV1"
            item["fieldsV1"] = encode_fields(entry["fields"])
            out.append({k: item[k] for k in ("manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1")
                        if item.get(k) is not None})
        return sorted(out, key=lambda e: (e["operation"], e.get("time") or "", e["manager"], e.get("apiVersion") or ""))


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ----- apply --------------------------------------------------------------------------------------
def merge_apply(live, config, schema):
    """``config`` laid over ``live``: maps merge key by key, sets and list-maps item by item (live
    order, new items after), atomic lists and scalars are replaced."""
    if isinstance(live, dict) and isinstance(config, dict) and not _atomic_map(schema):
        out = copy.deepcopy(live)
        for key, value in config.items():
            out[key] = merge_apply(live.get(key), value, _child(schema, key)[0])
        return out
    if isinstance(live, list) and isinstance(config, list) and _associative(live, schema) \
            and _associative(config, schema):
        items = _items(schema)
        out = copy.deepcopy(live)
        where = {element: index for index, (element, _item) in enumerate(_keyed(live, schema))}
        for element, item in _keyed(config, schema):
            if element not in where:
                where[element] = len(out)
                out.append(copy.deepcopy(item))
            elif element[0] == "k":
                out[where[element]] = merge_apply(out[where[element]], item, items)
        return out
    return copy.deepcopy(config)


def _remove(obj, path, schema):
    """Delete ``path`` (and what is below it) from ``obj``; a map or list it leaves empty becomes null."""
    trail = []  # (container, key or index, schema) from the top
    node, node_schema = obj, schema
    for element in path:
        if isinstance(node, dict) and not isinstance(element, tuple) and element in node:
            trail.append((node, element))
            node, node_schema = node[element], _child(node_schema, element)[0]
        elif isinstance(node, list) and isinstance(element, tuple) and _associative(node, node_schema):
            index = next((i for i, (e, _item) in enumerate(_keyed(node, node_schema)) if e == element), None)
            if index is None:
                return
            trail.append((node, index))
            node, node_schema = node[index], _items(node_schema)
        else:
            return
    container, key = trail[-1]
    del container[key]
    if not container and len(trail) > 1:
        parent, parent_key = trail[-2]
        parent[parent_key] = None  # emptied by the removal: null, as v1.20's RemoveItems leaves it


def conflict_error(conflicts):
    """409 Conflict for ``[(entry, path), ...]`` with the real server's message and causes."""
    conflicts = sorted(conflicts, key=lambda c: (c[0]["manager"], c[0]["operation"], _sort_key(c[1])))
    causes = [{"reason": "FieldManagerConflict", "message": "conflict with %s" % describe_manager(entry),
               "field": path_string(path)} for entry, path in conflicts]
    if len(conflicts) == 1:
        message = "Apply failed with 1 conflict: conflict with %s: %s" % (
            describe_manager(conflicts[0][0]), path_string(conflicts[0][1]))
    else:
        lines, seen = [], []
        for entry, _path in conflicts:
            if describe_manager(entry) not in seen:
                seen.append(describe_manager(entry))
        for name in sorted(seen):
            lines.append("conflicts with %s:" % name)
            lines.extend("- %s" % path_string(p) for e, p in conflicts if describe_manager(e) == name)
        message = "Apply failed with %d conflicts: %s" % (len(conflicts), "\n".join(lines))
    return ApiError(409, "Conflict", message, {"causes": causes})


def describe_manager(entry):
    """``"name"`` for an applier, ``"name" using apiVersion`` for an updater (as printManager)."""
    name = json.dumps(entry["manager"])
    return "%s using %s" % (name, entry.get("apiVersion")) if entry["operation"] == "Update" else name


def apply(live, config, managed, manager, api_version, force, skip_status, schema=None):
    """Server-side apply ``config`` (dict, nulls dropped) over ``live`` (dict, ``{}`` on create).

    :returns: ``(object, managers)``: the object to store (not yet defaulted; maps the apply
        emptied are null) and its Managers.
    :raises ApiError: 409 on fields other managers own, unless ``force``; 500 on a field a typed
        schema does not declare.
    """
    schema = DEDUCED if schema is None else schema
    if live and not managed:
        # an object nobody owns yet: what is there becomes before-first-apply's
        managed = update({}, live, None, BEFORE_FIRST_APPLY, live.get("apiVersion") or api_version, skip_status,
                         schema).to_list()
    managers = Managers(managed)
    key = Managers.key(manager, "Apply", api_version)
    mine = applied_set(config, schema, skip_status)
    last = managers.entries[key]["fields"] if key in managers.entries else set()
    merged = merge_apply(live, config, schema)
    managers.set_fields(key, mine, api_version, touched=False)
    owned = mine | managers.owned_by_others(key)
    for path in sorted(last - owned, key=len):
        _remove(merged, path, schema)
    added, removed, modified = (_owned_only(s, skip_status) for s in compare(live, merged, schema))
    conflicts = [(entry, path) for _k, entry in managers.others(key)
                 for path in sorted(entry["fields"] & (added | modified), key=_sort_key)]
    if conflicts and not force:
        raise conflict_error(conflicts)
    managers.drop(added | modified | removed, keep=key)
    managers.set_fields(key, mine, api_version, touched=bool(added or removed or modified or mine != last))
    return merged, managers


def update(live, new, managed, manager, api_version, skip_status, schema=None):
    """Record a non-apply write of ``new`` over ``live`` (None on create) by ``manager``.

    ``managed`` is the managedFields list to start from (the client's own when it sent valid
    ones, as the real server takes them). :returns: the Managers.
    """
    schema = DEDUCED if schema is None else schema
    managers = Managers(managed)
    key = Managers.key(manager, "Update", api_version)
    added, removed, modified = (_owned_only(s, skip_status) for s in compare(live or {}, new, schema))
    taken = added | modified
    managers.drop(taken | removed, keep=key)
    if taken or key in managers.entries:
        current = managers.entries[key]["fields"] if key in managers.entries else set()
        managers.set_fields(key, (current | taken) - removed, api_version, touched=bool(taken))
    return managers
