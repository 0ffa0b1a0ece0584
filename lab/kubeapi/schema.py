"""Structural-schema handling of custom resources, as kube-apiserver does it.

``normalize(obj, schema)`` prunes unknown fields (unless ``x-kubernetes-preserve-unknown-fields``),
drops ``null`` values the schema does not mark ``nullable``, applies ``default`` values, and returns
the list of validation causes: ``[{"reason": "FieldValueRequired", "message": ..., "field": ...}]``
in the shape of a Kubernetes ``Status.details.causes`` list, worded as kube-apiserver v1.20 words them
(go-openapi's message inside ``field.Invalid``: ``Invalid value: "string": spec.x in body must be of
type integer: "string"``; the cause's message is the error without its field, as the real server's).
"""

import copy
import json
import re

_TYPES = {
    "object": dict, "array": list, "string": str, "boolean": bool,
    "integer": int, "number": (int, float),
}


def _json_type(value):
    """The JSON type name of a decoded value, as go-openapi names it in its messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _type_ok(value, kind):
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()  # 5.0 passes as an integer, as go-openapi's isFloatInt
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[kind]) if kind in _TYPES else True


def go_value(value, nested=False):
    """``value`` as Go prints a field error's bad value (``%q`` for strings, ``%v`` for numbers and
    booleans, ``%#v`` for maps and lists)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "map[string]interface {}{%s}" % ", ".join(
            "%s:%s" % (json.dumps(k), go_value(value[k], True)) for k in sorted(value))
    if isinstance(value, list):
        return "[]interface {}{%s}" % ", ".join(go_value(v, True) for v in value)
    return str(value)


def _cause(reason, field, body):
    """A Status cause: ``message`` is the error's body, without the field (the real server's form)."""
    return {"reason": reason, "message": body, "field": field}


def _invalid(field, value, detail, reason="FieldValueInvalid"):
    """field.Invalid / field.TypeInvalid: ``Invalid value: <value>: <go-openapi's message>``."""
    return _cause(reason, field, "Invalid value: %s: %s in body %s" % (go_value(value), field, detail))


def causes_message(causes):
    """The causes as the Status message lists them (``field: body``, in brackets when several)."""
    seen = []
    for cause in causes:
        text = "%s: %s" % (cause["field"], cause["message"]) if cause.get("field") else cause["message"]
        if text not in seen:
            seen.append(text)
    return seen[0] if len(seen) == 1 else "[%s]" % ", ".join(seen)


def normalize(value, schema, path="", top=True, nulls_invalid=False):
    """Prune, default and validate ``value`` in place; return ``(value, causes)``.

    ``nulls_invalid``: a null where the schema wants a type and does not say ``nullable`` is a
    type error (the nulls a server-side apply leaves), instead of being dropped (a request body's).
    """
    causes = []
    value = _walk(value, schema or {}, path, causes, top, nulls_invalid)
    return value, causes


def _walk(value, schema, path, causes, top=False, nulls=False):
    if value is None and schema.get("nullable"):
        return None
    if schema.get("x-kubernetes-int-or-string"):
        if not isinstance(value, (int, str)) or isinstance(value, bool):
            kind = _json_type(value)
            causes.append(_invalid(path, kind, "must be of type integer,string: %s" % json.dumps(kind)))
        return value
    kind = schema.get("type")
    if kind and not _type_ok(value, kind):
        # go-openapi's bad value is the data's type name: Invalid value: "string": ... type integer: "string"
        found = _json_type(value)
        causes.append(_invalid(path, found, "must be of type %s: %s" % (kind, json.dumps(found))))
        return value
    if "enum" in schema and value not in schema["enum"]:
        causes.append(_cause("FieldValueNotSupported", path, "Unsupported value: %s: supported values: %s" % (
            go_value(value), ", ".join(json.dumps(e if isinstance(e, str) else json.dumps(e)) for e in schema["enum"]))))
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            causes.append(_invalid(path, value, "should match '%s'" % schema["pattern"]))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            causes.append(_invalid(path, value, "should be at most %d chars long" % schema["maxLength"]))
        if "minLength" in schema and len(value) < schema["minLength"]:
            causes.append(_invalid(path, value, "should be at least %d chars long" % schema["minLength"]))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            causes.append(_invalid(path, value, "should be greater than or equal to %s" % go_value(schema["minimum"])))
        if "maximum" in schema and value > schema["maximum"]:
            causes.append(_invalid(path, value, "should be less than or equal to %s" % go_value(schema["maximum"])))
    if isinstance(value, list):
        items = schema.get("items") or {}
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            causes.append(_invalid(path, len(value), "should have at most %d items" % schema["maxItems"]))
        if "minItems" in schema and len(value) < schema["minItems"]:
            causes.append(_invalid(path, len(value), "should have at least %d items" % schema["minItems"]))
        # go-openapi names an item by its list's path, without an index
        return [_walk(v, items, path, causes, nulls=nulls) for v in value]
    if isinstance(value, dict):
        return _walk_object(value, schema, path, causes, top, nulls)
    return value


def _walk_object(value, schema, path, causes, top, nulls):
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
            if nulls and child.get("type"):
                causes.append(_invalid(sub, "null", "must be of type %s: \"null\"" % child["type"]))
                out[key] = None  # there, but null: not also "Required value"
            continue  # nulls are dropped
        out[key] = _walk(item, child, sub, causes, nulls=nulls)
    for key, child in (props or {}).items():
        if key not in out and "default" in child:
            out[key] = _walk(copy.deepcopy(child["default"]), child, "%s.%s" % (path, key) if path else key, causes)
    for key in schema.get("required") or []:
        if key not in out:
            sub = "%s.%s" % (path, key) if path else key
            causes.append(_cause("FieldValueRequired", sub, "Required value"))
    return out
