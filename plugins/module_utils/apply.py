# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)
"""Server-side apply, delete and the Ready wait shared by the modules that write control-plane objects.

Changes are made with server-side apply under one field manager, so a re-run with the same input is a
no-op on the server and ``changed`` is computed by comparing the object before and after (without the
fields every write touches). Check mode sends the same request with ``dryRun=All``: the server
validates and defaults it (422 causes included) and nothing is stored. What the server sets itself
(``status``, ``metadata.managedFields``, ``resourceVersion``, ``uid``, ...) is never sent, so an
object a module returned can be applied again. Waits count ``time.monotonic()`` seconds.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import time

from ansible_collections.tenrec.dataplane.plugins.module_utils.k8s import ControlPlaneError, NotFoundError

# metadata the API server sets: every write changes some of it, and a server-side apply body
# carrying it is refused (managedFields: 400 "must be nil"; a stale resourceVersion: 409; a
# foreign uid: 422)
VOLATILE_METADATA = ("resourceVersion", "managedFields", "generation", "uid", "creationTimestamp",
                     "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds")

__all__ = ["Applier", "apply_body", "comparable", "not_true_conditions", "spec_diff"]


def comparable(obj):
    """``obj`` (dict or None) without status and the metadata every write changes."""
    if obj is None:
        return None
    out = copy.deepcopy(obj)
    out.pop("status", None)
    meta = out.get("metadata") or {}
    for key in VOLATILE_METADATA:
        meta.pop(key, None)
    return out


def apply_body(definition):
    """A copy of ``definition`` (dict) fit for server-side apply: no status, no server-set metadata."""
    return comparable(definition)


def spec_diff(before, after):
    """Ansible ``diff`` dict of the parts a user wrote (spec, labels, annotations)."""

    def view(obj):
        if obj is None:
            return {}
        meta = obj.get("metadata") or {}
        out = {"metadata": {k: meta[k] for k in ("name", "namespace", "labels", "annotations") if meta.get(k)}}
        out.update({k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")})
        return out

    return {"before": view(before), "after": view(after)}


def not_true_conditions(obj):
    """``status.conditions`` of ``obj`` that are not True, as ``[{type, status, reason, message}]``."""
    out = []
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("status") != "True":
            out.append({k: cond.get(k, "") for k in ("type", "status", "reason", "message")})
    return out


# Argument spec of the server-side apply options (doc fragment tenrec.dataplane.apply).
APPLY_ARGS = dict(
    field_manager=dict(type="str", default="tenrec-dataplane"),
    force_conflicts=dict(type="bool", default=False),
)


class Applier(object):
    """Apply, delete and wait on one kind through a kubernetes.core ``K8SClient``.

    :param client: ``K8SClient`` (``get_api_client``).
    :param api_version: e.g. ``core.openstack.org/v1beta1``.
    :param kind: e.g. ``OpenStackControlPlane``.
    :param field_manager: server-side apply field manager.
    """

    def __init__(self, client, api_version, kind, field_manager="tenrec-dataplane"):
        self.client = client
        self.api_version, self.kind = api_version, kind
        self.field_manager = field_manager
        self.resource = client.resource(kind, api_version)

    def get(self, name, namespace):
        """The object as a dict, or None when it does not exist."""
        try:
            return self.resource.get(name=name, namespace=namespace).to_dict()
        except NotFoundError:
            return None

    def apply(self, definition, namespace, check_mode=False, force_conflicts=False, field_manager=None,
              before=False):
        """Server-side apply ``definition``; return ``(changed, before, after)`` (dicts).

        In check mode the request carries ``dryRun=All``: ``after`` is what the server would store.
        ``definition`` may be an object the server returned: its status and server-set metadata are
        dropped (:func:`apply_body`). ``force_conflicts`` takes over fields other managers own.
        ``namespace`` None is for a cluster-scoped kind (no ``metadata.namespace`` is sent).
        ``field_manager`` applies as another manager than the Applier's; ``before`` (a dict, or None
        for absent) is the object as the caller last read it, saving the GET that reads it otherwise.
        Raises DynamicApiError (422 with the schema's causes, 409 on field conflicts, ...).
        """
        body = apply_body(definition)
        body["apiVersion"], body["kind"] = self.api_version, self.kind
        meta = body.setdefault("metadata", {})
        if namespace is None:  # a cluster-scoped kind (e.g. NodeNetworkConfigurationPolicy)
            meta.pop("namespace", None)
        else:
            meta["namespace"] = namespace
        name = meta["name"]
        if before is False:
            before = self.get(name, namespace)
        kwargs = {"field_manager": field_manager or self.field_manager, "force_conflicts": force_conflicts}
        if check_mode:
            kwargs["dry_run"] = "All"
        after = self.client.client.server_side_apply(self.resource, body=body, name=name, namespace=namespace,
                                                     **kwargs).to_dict()
        return comparable(before) != comparable(after), before, after

    def delete(self, name, namespace, check_mode=False):
        """Delete the object; return ``(changed, before)``. Absent already: ``(False, None)``."""
        before = self.get(name, namespace)
        if before is None:
            return False, None
        kwargs = {"dry_run": "All"} if check_mode else {}
        try:
            self.resource.delete(name=name, namespace=namespace, **kwargs)
        except NotFoundError:
            return False, None
        return True, before

    def wait_gone(self, name, namespace, timeout, sleep):
        """Wait until the object no longer exists; raise ControlPlaneError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while self.get(name, namespace) is not None:
            if time.monotonic() >= deadline:
                raise ControlPlaneError("%s %s in namespace %s still exists after %d s (finalizers?)"
                                        % (self.kind, name, namespace, timeout))
            time.sleep(max(0, min(sleep, deadline - time.monotonic())))

    def wait_ready(self, name, namespace, timeout, sleep, condition="Ready"):
        """Wait for ``status.observedGeneration == metadata.generation`` and ``condition`` True.

        :returns: the object (dict) once ready.
        :raises ControlPlaneError: after ``timeout`` seconds, listing every condition that is not True
            (type, reason, message) and the generations, or naming the object when it vanished.
        """
        deadline = time.monotonic() + timeout
        while True:
            obj = self.get(name, namespace)
            if obj is None:
                raise ControlPlaneError("%s %s in namespace %s does not exist" % (self.kind, name, namespace))
            status = obj.get("status") or {}
            generation = obj["metadata"].get("generation")
            observed = status.get("observedGeneration")
            ready = any(c.get("type") == condition and c.get("status") == "True"
                        for c in status.get("conditions") or [])
            if ready and (generation is None or observed == generation):
                return obj
            if time.monotonic() >= deadline:
                failing = not_true_conditions(obj)
                lines = ["%s=%s (%s): %s" % (c["type"], c["status"], c["reason"] or "no reason", c["message"])
                         for c in failing]
                if observed != generation:
                    lines.insert(0, "status.observedGeneration is %s, metadata.generation is %s (the operator "
                                    "has not processed the latest spec)" % (observed, generation))
                if not lines:
                    lines = ["no %s condition reported" % condition]
                raise ControlPlaneError("%s %s in namespace %s is not %s after %d s: %s" % (
                    self.kind, name, namespace, condition, timeout, "; ".join(lines)))
            time.sleep(max(0, min(sleep, deadline - time.monotonic())))
