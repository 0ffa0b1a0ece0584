# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)
"""What OLM reports about a Subscription, read and waited on; and which CRDs the API serves.

The install of one operator through OLM is ``Subscription`` -> ``status.installPlanRef`` ->
``InstallPlan`` phase ``Complete`` -> ``ClusterServiceVersion`` (``status.installedCSV``, else
``status.currentCSV``) phase ``Succeeded``: what openstack-operator's own tooling checks
(install_yamls ``openstack_wait``, ci-framework ``edpm_prepare`` and ``kustomize_deploy``).
Waits count ``time.monotonic()`` seconds.

Whether a CRD is served is asked of the API's discovery documents themselves
(``/apis/<group>``, ``/apis/<group>/<version>``), never of the client's discovery cache, which
kubernetes.core keeps in a file between module runs and which would not show a CRD registered
after it was written.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.tenrec.dataplane.plugins.module_utils.k8s import ControlPlaneError, NotFoundError

__all__ = ["OLM_GROUP", "InstallState", "describe_conditions", "missing_crds", "served_plurals", "wait_installed"]

OLM_GROUP = "operators.coreos.com"
SUBSCRIPTION = ("%s/v1alpha1" % OLM_GROUP, "Subscription")
INSTALL_PLAN = ("%s/v1alpha1" % OLM_GROUP, "InstallPlan")
CSV = ("%s/v1alpha1" % OLM_GROUP, "ClusterServiceVersion")


def describe_conditions(conditions, problem_status="True"):
    """``["Type: message (reason Reason)", ...]`` for the conditions whose status is ``problem_status``.

    A Subscription's conditions all name a problem (``ResolutionFailed``, ``CatalogSourcesUnhealthy``,
    ``InstallPlanPending``, ``InstallPlanFailed``, ...): the ones that are True are reported. For an
    InstallPlan (``Installed``) the ones that are not True are (``problem_status=None``).
    """
    out = []
    for cond in conditions or []:
        status = cond.get("status")
        if problem_status is None:
            if status == "True":
                continue
            label = "%s=%s" % (cond.get("type"), status)
        elif status != problem_status:
            continue
        else:
            label = cond.get("type")
        text = "%s: %s" % (label, cond.get("message") or "no message")
        out.append(text + (" (reason %s)" % cond["reason"] if cond.get("reason") else ""))
    return out


class InstallState(object):
    """One read of a Subscription, its InstallPlan and its CSV (dicts, None when absent)."""

    def __init__(self, subscription, install_plan, csv, csv_name):
        self.subscription, self.install_plan, self.csv, self.csv_name = subscription, install_plan, csv, csv_name

    @property
    def conditions(self):
        return ((self.subscription or {}).get("status") or {}).get("conditions") or []

    def condition(self, ctype):
        return next((c for c in self.conditions if c.get("type") == ctype and c.get("status") == "True"), None)

    @property
    def plan_name(self):
        status = (self.subscription or {}).get("status") or {}
        return (status.get("installPlanRef") or {}).get("name") or (status.get("installplan") or {}).get("name")

    @property
    def plan_phase(self):
        return ((self.install_plan or {}).get("status") or {}).get("phase")

    @property
    def csv_phase(self):
        return ((self.csv or {}).get("status") or {}).get("phase")

    @property
    def installed(self):
        return self.plan_phase == "Complete" and self.csv_phase == "Succeeded"

    def describe(self, namespace, name):
        """One line: the Subscription's problem conditions, the InstallPlan's phase, the CSV's phase."""
        if self.subscription is None:
            return "Subscription %s/%s does not exist" % (namespace, name)
        problems = describe_conditions(self.conditions)
        parts = ["Subscription %s/%s: %s" % (namespace, name, "; ".join(problems) if problems else
                                             "no failing condition (state %s)" % (
                                                 (self.subscription.get("status") or {}).get("state") or "not set"))]
        if not self.plan_name:
            parts.append("no InstallPlan yet (status.installPlanRef not set)")
        elif self.install_plan is None:
            parts.append("InstallPlan %s (status.installPlanRef) not found" % self.plan_name)
        else:
            plan_status = self.install_plan.get("status") or {}
            text = "InstallPlan %s phase %s" % (self.plan_name, self.plan_phase or "not set")
            if self.plan_phase == "RequiresApproval":
                text += " (approve it - spec.approved true)"
            details = describe_conditions(plan_status.get("conditions"), problem_status=None)
            if plan_status.get("message") and not details:
                details = [plan_status["message"]]
            parts.append(text + (": " + "; ".join(details) if details else ""))
        if not self.csv_name:
            parts.append("no ClusterServiceVersion yet (status.currentCSV not set)")
        elif self.csv is None:
            parts.append("ClusterServiceVersion %s not created yet" % self.csv_name)
        else:
            status = self.csv.get("status") or {}
            parts.append("ClusterServiceVersion %s phase %s%s" % (
                self.csv_name, self.csv_phase or "not set",
                " (reason %s: %s)" % (status.get("reason"), status.get("message") or "no message")
                if status.get("reason") else ""))
        return ", ".join(parts)


def read_install(get, namespace, name):
    """The :class:`InstallState` of Subscription ``name``; ``get(api_version, kind, name)`` -> dict or None."""
    sub = get(SUBSCRIPTION[0], SUBSCRIPTION[1], name)
    status = (sub or {}).get("status") or {}
    state = InstallState(sub, None, None, status.get("installedCSV") or status.get("currentCSV"))
    if state.plan_name:
        state.install_plan = get(INSTALL_PLAN[0], INSTALL_PLAN[1], state.plan_name)
    if state.csv_name:
        state.csv = get(CSV[0], CSV[1], state.csv_name)
    return state


def wait_installed(get, namespace, name, timeout, delay, grace, clock=time.monotonic, sleep=time.sleep):
    """Wait until Subscription ``name``'s InstallPlan is ``Complete`` and its CSV ``Succeeded``.

    :param get: ``get(api_version, kind, name)`` -> the object in ``namespace`` (dict) or None.
    :param grace: seconds ``ResolutionFailed`` may stay True (OLM reports it while a new CatalogSource
        starts serving, or until it re-resolves a changed Subscription) before the wait gives up early.
    :returns: the :class:`InstallState` once installed.
    :raises ControlPlaneError: on timeout, on ``ResolutionFailed`` past ``grace``, on an InstallPlan
        ``Failed`` (OLM does not retry it), or when the Subscription does not exist; one message
        naming the Subscription, its conditions, the InstallPlan's phase and the CSV's phase and reason.
    """
    start = clock()
    deadline = start + timeout
    failing_since = None
    while True:
        state = read_install(get, namespace, name)
        if state.subscription is None:
            raise ControlPlaneError(state.describe(namespace, name))
        if state.installed:
            return state
        now = clock()
        if state.condition("ResolutionFailed") is not None:
            failing_since = now if failing_since is None else failing_since
            if now - failing_since >= grace:
                raise ControlPlaneError("OLM cannot resolve the Subscription (ResolutionFailed for %d s): %s"
                                        % (round(now - failing_since), state.describe(namespace, name)))
        else:
            failing_since = None
        if state.plan_phase == "Failed":
            raise ControlPlaneError("the InstallPlan failed: %s" % state.describe(namespace, name))
        if now >= deadline:
            raise ControlPlaneError("the operator is not installed after %d s: %s"
                                    % (timeout, state.describe(namespace, name)))
        left = [delay, deadline - now] + ([failing_since + grace - now] if failing_since is not None else [])
        sleep(max(0.1, min(left)))


def served_plurals(client, group):
    """``{version: set(plurals)}`` the API serves for ``group`` now (``{}``: the group is not served).

    Reads ``/apis/<group>`` and ``/apis/<group>/<version>`` through the client's connection, past its
    discovery cache.
    """
    try:
        group_doc = client.client.request("GET", "/apis/%s" % group).to_dict()
    except NotFoundError:
        return {}
    out = {}
    for entry in group_doc.get("versions") or []:
        version = entry.get("version")
        try:
            listing = client.client.request("GET", "/apis/%s/%s" % (group, version)).to_dict()
        except NotFoundError:
            continue
        out[version] = set(r.get("name") for r in listing.get("resources") or [] if "/" not in r.get("name", ""))
    return out


def missing_crds(client, names):
    """The CRD names (``<plural>.<group>``) of ``names`` whose resource the API does not serve."""
    cache = {}
    missing = []
    for name in names:
        plural, _dot, group = name.partition(".")
        if group not in cache:
            cache[group] = served_plurals(client, group)
        if not any(plural in plurals for plurals in cache[group].values()):
            missing.append(name)
    return missing
