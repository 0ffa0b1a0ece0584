"""Structural-schema handling of custom resources, as kube-apiserver does it.

``normalize(obj, schema)`` prunes unknown fields (unless ``x-kubernetes-preserve-unknown-fields``),
drops ``null`` values the schema does not mark ``nullable``, applies ``default`` values, and returns
the list of validation causes: ``[{"reason": "FieldValueRequired", "message": ..., "field": ...}]``
in the shape of a Kubernetes ``Status.details.causes`` list.
"""

import copy
import re

_TYPES = {
    "object": dict, "array": list, "string": str, "boolean": bool,
    "integer": int, "number": (int, float),
}


def _type_ok(value, kind):
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[kind]) if kind in _TYPES else True


def _cause(reason, field, message):
    return {"reason": reason, "field": field, "message": "%s: %s" % (field, message)}


def normalize(value, schema, path="", top=True):
    """Prune, default and validate ``value`` in place; return ``(value, causes)``."""
    causes = []
    value = _walk(value, schema or {}, path, causes, top)
    return value, causes


def _walk(value, schema, path, causes, top=False):
    if schema.get("x-kubernetes-int-or-string"):
        if not isinstance(value, (int, str)) or isinstance(value, bool):
            causes.append(_cause("FieldValueTypeInvalid", path, "must be an integer or a string"))
        return value
    kind = schema.get("type")
    if kind and not _type_ok(value, kind):
        causes.append(_cause("FieldValueTypeInvalid", path,
                             "Invalid value: %r: %s in body must be of type %s" % (
                                 _short(value), path.rsplit(".", 1)[-1], kind)))
        return value
    if "enum" in schema and value not in schema["enum"]:
        causes.append(_cause("FieldValueNotSupported", path,
                             "Unsupported value: %r: supported values: %s" % (
                                 _short(value), ", ".join('"%s"' % e for e in schema["enum"]))))
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            causes.append(_cause("FieldValueInvalid", path, "should match '%s'" % schema["pattern"]))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            causes.append(_cause("FieldValueTooLong", path, "may not be longer than %d" % schema["maxLength"]))
        if "minLength" in schema and len(value) < schema["minLength"]:
            causes.append(_cause("FieldValueInvalid", path, "should be at least %d chars long" % schema["minLength"]))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            causes.append(_cause("FieldValueInvalid", path, "should be greater than or equal to %s" % schema["minimum"]))
        if "maximum" in schema and value > schema["maximum"]:
            causes.append(_cause("FieldValueInvalid", path, "should be less than or equal to %s" % schema["maximum"]))
    if isinstance(value, list):
        items = schema.get("items") or {}
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            causes.append(_cause("FieldValueTooMany", path, "must have at most %d items" % schema["maxItems"]))
        return [_walk(v, items, "%s[%d]" % (path, i), causes) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return _walk_object(value, schema, path, causes, top)
    return value


def _walk_object(value, schema, path, causes, top):
    props = schema.get("properties")
    additional = schema.get("additionalProperties")
    preserve = schema.get("x-kubernetes-preserve-unknown-fields")
    out = {}
    for key, item in value.items():
        sub = "%s.%s" % (path, key) if path else key
        if top and key in ("apiVersion", "kind", "metadata"):
            out[key] = item
            continue
        if props is not None and key in props:
            child = props[key]
        elif isinstance(additional, dict):
            child = additional
        elif additional is True or preserve or (props is None and additional is None and not schema.get("type")):
            out[key] = item
            continue
        else:
            continue  # pruned, as the API server does with unknown fields
        if item is None and not child.get("nullable"):
            continue  # nulls are dropped
        out[key] = _walk(item, child, sub, causes)
    for key, child in (props or {}).items():
        if key not in out and "default" in child:
            out[key] = _walk(copy.deepcopy(child["default"]), child, "%s.%s" % (path, key) if path else key, causes)
    for key in schema.get("required") or []:
        if key not in out:
            sub = "%s.%s" % (path, key) if path else key
            causes.append({"reason": "FieldValueRequired", "field": sub, "message": "%s: Required value" % sub})
    return out


def _short(value):
    text = repr(value)
    return value if len(text) < 60 else text[:57] + "..."
