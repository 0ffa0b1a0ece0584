"""Field ownership (``metadata.managedFields``) and server-side apply, as kube-apiserver v1.20 does it
for custom resources whose schema it cannot type: every map is granular (its keys are fields of
their own), every list is atomic (one field), scalars are fields.

A field is a path, a tuple of keys (``("spec", "nodes", "compute-0")``); a field set is a Python
``set`` of them. Each ``managedFields`` entry holds the set of one manager and operation
(``Apply`` or ``Update``) in the ``FieldsV1`` encoding (``{"f:spec": {".": {}, "f:x": {}}}``).

* An apply owns exactly the fields of its body. Fields it applied last time and leaves out now are
  removed from the object unless another manager owns them; a field it changes that another
  manager owns is a conflict (409) unless forced, which moves the field to the applier.
* Any other write (create, PUT, merge or JSON patch) takes the fields it adds or changes from
  every other manager and adds them to its manager's ``Update`` entry.
"""

import copy
import datetime
import json

from .errors import ApiError

# What no manager owns: identity and server-set metadata (the field manager's strip set).
STRIPPED = {("apiVersion",), ("kind",), ("metadata",), ("metadata", "name"), ("metadata", "namespace"),
            ("metadata", "creationTimestamp"), ("metadata", "selfLink"), ("metadata", "uid"),
            ("metadata", "clusterName"), ("metadata", "generation"), ("metadata", "managedFields"),
            ("metadata", "resourceVersion"), ("metadata", "deletionTimestamp")}
FIELD_MANAGER_MAX_LENGTH = 128


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def manager_from_user_agent(user_agent):
    """The default field manager of a non-apply write: the User-Agent up to its first ``/``."""
    head = (user_agent or "").split("/")[0]
    return "".join(ch for ch in head if ch.isprintable())[:FIELD_MANAGER_MAX_LENGTH]


# ----- field sets ---------------------------------------------------------------------------------
def field_set(obj, skip_status=False):
    """Every field of ``obj`` (dict): each map key (at any depth), lists and scalars as leaves."""
    out = set()
    _collect(obj, (), out)
    return _owned_only(out, skip_status)


def _collect(value, path, out):
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        out.add(path + (key,))
        _collect(item, path + (key,), out)


def _owned_only(fields, skip_status):
    return {p for p in fields if p not in STRIPPED and not (skip_status and p[0] == "status")}


def path_string(path):
    """A field path as the server prints it: ``.spec.nodes``."""
    return "".join("." + part for part in path)


def compare(old, new, path=()):
    """``(added, removed, modified)`` field sets between two values (dicts at the top)."""
    added, removed, modified = set(), set(), set()
    old = old if isinstance(old, dict) else {}
    new = new if isinstance(new, dict) else {}
    for key in set(old) | set(new):
        sub = path + (key,)
        if key not in old:
            added.add(sub)
            _collect(new[key], sub, added)
        elif key not in new:
            removed.add(sub)
            _collect(old[key], sub, removed)
        elif isinstance(old[key], dict) and isinstance(new[key], dict):
            more = compare(old[key], new[key], sub)
            added |= more[0]
            removed |= more[1]
            modified |= more[2]
        elif old[key] != new[key]:
            modified.add(sub)
            _collect(old[key], sub, removed)
            _collect(new[key], sub, added)
    return added, removed, modified


# ----- FieldsV1 -----------------------------------------------------------------------------------
def encode_fields(fields):
    """A field set as FieldsV1: ``{"f:spec": {".": {}, "f:x": {}}}`` (``.``: the map is a field too)."""
    trie = {}
    for path in fields:
        node = trie
        for part in path:
            node = node.setdefault(part, {})
    return _encode(trie, (), fields)


def _encode(node, path, fields):
    """One level of FieldsV1: ``node`` is the trie below ``path``."""
    out = {".": {}} if path and path in fields and node else {}
    for name in sorted(node):
        out["f:" + name] = _encode(node[name], path + (name,), fields)
    return out


def decode_fields(tree, path=()):
    """The field set of a FieldsV1 tree (``f:`` keys; other kinds of key are not produced here)."""
    out = set()
    for key, child in (tree or {}).items():
        if key == ".":
            out.add(path)
        elif key.startswith("f:"):
            sub = path + (key[2:],)
            if not child:
                out.add(sub)
            else:
                out |= decode_fields(child, sub)
    return out


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

    def restrict(self, existing):
        """Forget fields the object no longer has (pruned by the schema, removed by a write)."""
        for entry in self.entries.values():
            entry["fields"] = entry["fields"] & existing

    def to_list(self):
        """The ``metadata.managedFields`` list, managers left without fields dropped."""
        out = []
        for entry in self.entries.values():
            if not entry["fields"]:
                continue
            item = {k: v for k, v in entry.items() if k != "fields"}
            item["fieldsType"] = "FieldsV1"
            item["fieldsV1"] = encode_fields(entry["fields"])
            out.append({k: item[k] for k in ("manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1")
                        if item.get(k) is not None})
        return out


# ----- apply --------------------------------------------------------------------------------------
def merge_apply(live, config):
    """``config`` laid over ``live``: maps merge key by key, lists and scalars are replaced."""
    if not (isinstance(live, dict) and isinstance(config, dict)):
        return copy.deepcopy(config)
    out = copy.deepcopy(live)
    for key, value in config.items():
        out[key] = merge_apply(live.get(key), value)
    return out


def _remove(obj, path, held):
    """Delete ``path`` from ``obj`` unless it is in ``held`` (a field under it is owned: then only
    its unowned descendants go, each on its own)."""
    parent = obj
    for part in path[:-1]:
        parent = parent.get(part) if isinstance(parent, dict) else None
        if parent is None:
            return
    if not isinstance(parent, dict) or path[-1] not in parent:
        return
    if path not in held:
        del parent[path[-1]]


def conflict_error(conflicts):
    """409 Conflict for ``[(entry, path), ...]`` with the real server's message and causes."""
    conflicts = sorted(conflicts, key=lambda c: (c[0]["manager"], c[0]["operation"], c[1]))
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
        for name in seen:
            lines.append("conflicts with %s:" % name)
            lines.extend("- %s" % path_string(p) for e, p in conflicts if describe_manager(e) == name)
        message = "Apply failed with %d conflicts: %s" % (len(conflicts), "\n".join(lines))
    return ApiError(409, "Conflict", message, {"causes": causes})


def describe_manager(entry):
    """``"name"`` for an applier, ``"name" using apiVersion`` for an updater (as printManager)."""
    name = json.dumps(entry["manager"])
    return "%s using %s" % (name, entry.get("apiVersion")) if entry["operation"] == "Update" else name


def apply(live, config, managed, manager, api_version, force, skip_status):
    """Server-side apply ``config`` (dict, nulls dropped) over ``live`` (dict).

    :returns: ``(object, managers)``: the object to store (not yet defaulted) and its Managers.
    :raises ApiError: 409 on fields other managers own, unless ``force``.
    """
    managers = Managers(managed)
    key = Managers.key(manager, "Apply", api_version)
    mine = field_set(config, skip_status)
    last = managers.entries[key]["fields"] if key in managers.entries else set()
    merged = merge_apply(live, config)
    others = managers.owned_by_others(key)
    keep = others | mine
    held = {p[:i] for p in keep for i in range(1, len(p))}  # the maps above an owned field
    for path in sorted(last - keep, key=len):
        _remove(merged, path, held)
    added, removed, modified = (_owned_only(s, skip_status) for s in compare(live, merged))
    conflicts = [(entry, path) for _k, entry in managers.others(key)
                 for path in sorted(entry["fields"] & (added | modified))]
    if conflicts and not force:
        raise conflict_error(conflicts)
    managers.drop(added | modified | removed, keep=key)
    managers.set_fields(key, mine, api_version, touched=bool(added or removed or modified))
    return merged, managers


def update(live, new, managed, manager, api_version, skip_status):
    """Record a non-apply write of ``new`` over ``live`` (None on create) by ``manager``.

    ``managed`` is the managedFields list to start from (the client's own when it sent valid
    ones, as the real server takes them). :returns: the Managers.
    """
    managers = Managers(managed)
    key = Managers.key(manager, "Update", api_version)
    added, removed, modified = (_owned_only(s, skip_status) for s in compare(live or {}, new))
    taken = added | modified
    managers.drop(taken | removed, keep=key)
    if taken or key in managers.entries:
        current = managers.entries[key]["fields"] if key in managers.entries else set()
        managers.set_fields(key, (current | taken) - removed, api_version, touched=bool(taken))
    return managers
