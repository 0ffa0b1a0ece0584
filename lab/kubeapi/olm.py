"""The lab's stand-in for OLM (the catalog and OLM operators) and openstack-operator's initialization.

``OLM(server, catalog=..., crd_dir=...).start()`` answers on a :class:`KubeAPIServer` as OLM and
openstack-operator do; it does nothing while the ``operators.coreos.com`` CRDs are not served:

* a ``CatalogSource`` gets ``status.connectionState.lastObservedState: READY`` (and a
  ``registryService``), an ``OperatorGroup`` its ``status.namespaces`` (``[""]``: all namespaces);
* a ``Subscription`` is resolved against the catalog (``DEFAULT_CATALOG``: package -> channels ->
  CSV name, and the CatalogSources that carry it). Its status is what OLM's catalog operator writes:
  ``catalogHealth`` (every CatalogSource in its namespace and in ``openshift-marketplace``), the
  ``CatalogSourcesUnhealthy`` condition (``False``/``AllCatalogSourcesHealthy`` "all available
  catalogsources are healthy", or ``True``/``UnhealthyCatalogSourceFound`` "targeted catalogsource
  NS/NAME missing"), then either ``ResolutionFailed`` ``True`` (reason ``ConstraintsNotSatisfiable``,
  OLM's resolver wording: ``constraints not satisfiable: no operators found from catalog S in
  namespace N referenced by subscription X`` / ``no operators found in package P in the catalog
  referenced by subscription X`` / ``no operators found in channel C of package P ...`` / ``no
  operators found with name CSV in channel C ...``, followed by ``, subscription X exists``) and no
  InstallPlan, or an ``InstallPlan`` (``install-xxxxx``, owned by the Subscription) and
  ``installPlanRef``, ``installplan`` {apiVersion, kind, name, uuid}, ``installPlanGeneration``,
  ``currentCSV``, ``state: UpgradePending`` with ``InstallPlanPending`` (reason ``Installing`` or
  ``RequiresApproval``) until the InstallPlan is ``Complete``, then ``installedCSV`` and
  ``state: AtLatestKnown``;
* an ``InstallPlan`` with ``approval: Manual`` stays ``RequiresApproval`` until ``spec.approved``;
  one whose namespace has no OperatorGroup (or more than one) stays ``Installing`` with condition
  ``Installed=False`` reason ``InstallCheckFailed`` ("no operator group found that is managing this
  namespace"), as OLM's catalog operator leaves it; otherwise it creates the
  ``ClusterServiceVersion`` and turns ``Complete``;
* a ``ClusterServiceVersion`` (label ``operators.coreos.com/<package>.<namespace>``) goes
  ``Installing`` -> ``Succeeded`` (reason ``InstallSucceeded``, "install strategy completed with no
  errors"), or ``Failed`` with OLM's reasons (``NoOperatorGroup``, ``TooManyOperatorGroups``,
  ``UnsupportedOperatorGroup``). Once ``Succeeded``, the CRDs of the package's groups (``groups`` in
  the catalog: openstack-operator's own ``operator.openstack.org``, cert-manager's
  ``cert-manager.io``, NMState's ``nmstate.io``, MetalLB's ``metallb.io``) are registered from
  ``crd_dir``;
* an ``OpenStack`` (operator.openstack.org/v1beta1) in the namespace of a Succeeded
  openstack-operator CSV is initialized as openstack-operator's OpenStack controller does: it is a
  singleton (a later one is deleted), it registers every CRD of ``crd_dir`` not already served
  whose group is not another operator's (``NOT_OPENSTACK_GROUPS``), then reports
  ``OpenStackOperatorDeploymentsReadyCondition``, ``OpenStackOperatorReadyCondition`` and ``Ready``
  ``True`` with ``observedGeneration`` and the operator counts.

Nothing of a CatalogSource's image is pulled: the catalog is the ``catalog`` argument. A
CatalogSource whose name the catalog does not list is READY and empty.
"""

import copy
import datetime
import glob
import os
import sys
import threading
import traceback

import yaml

from .errors import ApiError

GROUP = "operators.coreos.com"
SUB = (GROUP, "v1alpha1", "subscriptions")
IP = (GROUP, "v1alpha1", "installplans")
CSV = (GROUP, "v1alpha1", "clusterserviceversions")
CATSRC = (GROUP, "v1alpha1", "catalogsources")
OG = (GROUP, "v1", "operatorgroups")
OLM_RESOURCES = (SUB, IP, CSV, CATSRC, OG)
OPENSTACK = ("operator.openstack.org", "v1beta1", "openstacks")
CRD = ("apiextensions.k8s.io", "v1", "customresourcedefinitions")
GLOBAL_NAMESPACE = "openshift-marketplace"
OPENSTACK_PACKAGE = "openstack-operator"
# groups whose CRDs openstack-operator's OpenStack controller does not install
NOT_OPENSTACK_GROUPS = (GROUP, "cert-manager.io", "nmstate.io", "metallb.io", "k8s.cni.cncf.io")
# the 21 service operators of OpenStack.spec.operatorOverrides[].name
OPERATOR_COUNT = 21
ALL_MODES = ("OwnNamespace", "SingleNamespace", "AllNamespaces")

# package -> channels (channel -> CSV name), the default channel, the CatalogSources that carry it
# ("name": that name in any namespace, "namespace/name": only there), the install modes of its CSV
# and the CRD groups its CSV brings.
DEFAULT_CATALOG = {
    "openstack-operator": {
        "channels": {"alpha": "openstack-operator.v0.6.0", "stable-v1.0": "openstack-operator.v1.0.6"},
        "default_channel": "alpha",
        "sources": ("openstack-operator-index", GLOBAL_NAMESPACE + "/redhat-operators"),
        "install_modes": ALL_MODES, "groups": ("operator.openstack.org",)},
    "openshift-cert-manager-operator": {
        "channels": {"stable-v1": "cert-manager-operator.v1.14.1"}, "default_channel": "stable-v1",
        "sources": (GLOBAL_NAMESPACE + "/redhat-operators",), "install_modes": ALL_MODES,
        "groups": ("cert-manager.io",)},
    "kubernetes-nmstate-operator": {
        "channels": {"stable": "kubernetes-nmstate-operator.4.18.0-202501010000"}, "default_channel": "stable",
        "sources": (GLOBAL_NAMESPACE + "/redhat-operators",), "install_modes": ALL_MODES, "groups": ("nmstate.io",)},
    "metallb-operator": {
        "channels": {"stable": "metallb-operator.v4.18.0-202501010000"}, "default_channel": "stable",
        "sources": (GLOBAL_NAMESPACE + "/redhat-operators",), "install_modes": ALL_MODES, "groups": ("metallb.io",)},
}
DEFAULT_CRD_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "crds")


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cond(old_conditions, ctype, status, reason="", message="", **extra):
    """A condition, keeping ``lastTransitionTime`` from the old one of that type when its status holds."""
    old = next((c for c in old_conditions or [] if c.get("type") == ctype), None)
    since = old.get("lastTransitionTime") if old and old.get("status") == status else None
    cond = {"type": ctype, "status": status, "lastTransitionTime": since or _now()}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    cond.update(extra)
    return cond


def _version(csv_name):
    return csv_name.split(".", 1)[1].lstrip("v") if "." in csv_name else "0.0.0"


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PARSED = {}  # (path, mtime) -> documents: the CRD files are large, parse each once per process


def load_crds(crd_dir):
    """``{crd name: CRD document}`` of the YAML files in ``crd_dir`` (fresh copies)."""
    out = {}
    for path in sorted(glob.glob(os.path.join(crd_dir or "", "*.yaml"))):
        key = (os.path.abspath(path), os.path.getmtime(path))
        if key not in _PARSED:
            with open(path) as handle:
                _PARSED[key] = [d for d in yaml.load_all(handle, Loader=_LOADER)
                                if d and d.get("kind") == "CustomResourceDefinition"]
        for doc in _PARSED[key]:
            out[doc["metadata"]["name"]] = copy.deepcopy(doc)
    return out


def serve_crds(server, crds):
    """Register the CRD documents ``crds`` (``{name: doc}``, as :func:`load_crds` returns) on ``server``,
    as its ``crd_dir`` does at start (faster: the documents are parsed once)."""
    for doc in crds.values():
        server.create_object(CRD[0], CRD[1], CRD[2], None, doc)


class OLM(threading.Thread):
    """OLM's catalog and OLM operators plus openstack-operator's init controller (module docstring).

    :param server: the :class:`~kubeapi.server.KubeAPIServer`.
    :param catalog: package -> entry, as ``DEFAULT_CATALOG`` (the default).
    :param crd_dir: folder of the CRDs the operators bring (default ``../shared/crds``).
    :param interval: seconds between two passes.
    """

    def __init__(self, server, catalog=None, crd_dir=None, interval=1.0):
        super().__init__(daemon=True)
        self.server, self.interval = server, interval
        self.catalog = copy.deepcopy(DEFAULT_CATALOG if catalog is None else catalog)
        self.crds = load_crds(crd_dir or DEFAULT_CRD_DIR)
        self.stopping = threading.Event()

    # ----- store access -------------------------------------------------------------------------
    def _objects(self, gvp, namespace=None):
        with self.server.store.lock:
            return [copy.deepcopy(o) for k, o in sorted(self.server.store.objects.items(), key=lambda kv: str(kv[0]))
                    if (k[0], k[1]) == (gvp[0], gvp[2]) and (namespace is None or k[2] == namespace)]

    def _get(self, gvp, namespace, name):
        res = self.server.resources[gvp]
        with self.server.store.lock:
            obj = self.server.store.objects.get(self.server._key(res, namespace, name))  # pylint: disable=protected-access
            return copy.deepcopy(obj) if obj is not None else None

    def _create(self, gvp, namespace, body):
        return self.server._create(self.server.resources[gvp], namespace, body, False)  # pylint: disable=protected-access

    def _write_status(self, gvp, obj, status, stamp=None):
        """Write ``status`` unless it equals the stored one (ignoring the ``stamp`` field, set to now)."""
        old = dict(obj.get("status") or {})
        if stamp:
            if {k: v for k, v in old.items() if k != stamp} == {k: v for k, v in status.items() if k != stamp}:
                return obj
            status = dict(status, **{stamp: _now()})
        elif old == status:
            return obj
        meta = obj["metadata"]
        try:
            return self.server._update(self.server.resources[gvp], meta["namespace"], meta["name"],  # pylint: disable=protected-access
                                       {"status": status}, "status", False, check_rv=False)
        except ApiError:  # deleted meanwhile: next pass
            return obj

    def _served(self, gvp):
        return gvp in self.server.resources

    def register_crds(self, names):
        """Create the CRDs ``names`` (from crd_dir) that are not there yet; return those created."""
        created = []
        for name in names:
            if self._get(CRD, None, name) is None and name in self.crds:
                try:
                    self.server.create_object(CRD[0], CRD[1], CRD[2], None, self.crds[name])
                    created.append(name)
                except ApiError:  # created meanwhile
                    pass
        return created

    # ----- catalog ------------------------------------------------------------------------------
    def _carries(self, entry, source, source_namespace):
        for where in entry.get("sources") or ():
            ns, _slash, name = where.rpartition("/")
            if name == source and (not ns or ns == source_namespace):
                return True
        return False

    def resolve(self, sub):
        """``(csv_name, None)`` for a resolvable Subscription, else ``(None, OLM's resolution message)``."""
        name, spec = sub["metadata"]["name"], sub.get("spec") or {}
        package, source, source_ns = spec.get("name", ""), spec.get("source", ""), spec.get("sourceNamespace", "")
        tail = ", subscription %s exists" % name
        if self._get(CATSRC, source_ns, source) is None:
            reason = "no operators found from catalog %s in namespace %s referenced by subscription %s" % (
                source, source_ns, name)
            return None, "constraints not satisfiable: " + reason + tail
        entry = self.catalog.get(package)
        if entry is None or not self._carries(entry, source, source_ns):
            return None, ("constraints not satisfiable: no operators found in package %s in the catalog referenced by "
                          "subscription %s" % (package, name)) + tail
        channel = spec.get("channel") or entry.get("default_channel")
        csv_name = (entry.get("channels") or {}).get(channel)
        if csv_name is None:
            return None, ("constraints not satisfiable: no operators found in channel %s of package %s in the catalog "
                          "referenced by subscription %s" % (channel, package, name)) + tail
        if spec.get("startingCSV") and spec["startingCSV"] != csv_name:
            return None, ("constraints not satisfiable: no operators found with name %s in channel %s of package %s in "
                          "the catalog referenced by subscription %s" % (spec["startingCSV"], channel, package, name)) + tail
        return csv_name, None

    def reconcile_catalogsources(self):
        for cs in self._objects(CATSRC):
            meta, spec = cs["metadata"], cs.get("spec") or {}
            status = dict(cs.get("status") or {})
            if (status.get("connectionState") or {}).get("lastObservedState") == "READY":
                continue
            service = meta["name"]
            address = spec.get("address") or "%s.%s.svc:50051" % (service, meta["namespace"])
            status["connectionState"] = {"address": address, "lastConnect": _now(), "lastObservedState": "READY"}
            if not spec.get("address"):
                status["registryService"] = {"createdAt": _now(), "port": "50051", "protocol": "grpc",
                                             "serviceName": service, "serviceNamespace": meta["namespace"]}
            self._write_status(CATSRC, cs, status)

    def reconcile_operatorgroups(self):
        for og in self._objects(OG):
            targets = list((og.get("spec") or {}).get("targetNamespaces") or []) or [""]
            status = dict(og.get("status") or {})
            if status.get("namespaces") != targets:
                status.update(namespaces=targets, lastUpdated=_now())
                self._write_status(OG, og, status)

    # ----- Subscriptions ------------------------------------------------------------------------
    def catalog_health(self, sub):
        health, seen = [], set()
        for ns in (sub["metadata"]["namespace"], GLOBAL_NAMESPACE):
            if ns in seen:
                continue
            seen.add(ns)
            for cs in self._objects(CATSRC, ns):
                meta = cs["metadata"]
                health.append({"catalogSourceRef": {"apiVersion": "%s/v1alpha1" % GROUP, "kind": "CatalogSource",
                                                    "name": meta["name"], "namespace": meta["namespace"],
                                                    "resourceVersion": meta["resourceVersion"], "uid": meta["uid"]},
                               "healthy": ((cs.get("status") or {}).get("connectionState") or {}).get(
                                   "lastObservedState") == "READY",
                               "lastUpdated": _now()})
        return health

    def reconcile_subscription(self, sub):
        meta, spec = sub["metadata"], sub.get("spec") or {}
        ns, name = meta["namespace"], meta["name"]
        old = dict(sub.get("status") or {})
        conditions = old.get("conditions") or []
        health = self.catalog_health(sub)
        # keep lastUpdated of unchanged entries: no write per pass
        old_health = {(h["catalogSourceRef"]["namespace"], h["catalogSourceRef"]["name"]): h
                      for h in old.get("catalogHealth") or []}
        for h in health:
            prev = old_health.get((h["catalogSourceRef"]["namespace"], h["catalogSourceRef"]["name"]))
            if prev and dict(prev, lastUpdated=None) == dict(h, lastUpdated=None):
                h["lastUpdated"] = prev["lastUpdated"]
        target = [h for h in health if (h["catalogSourceRef"]["namespace"], h["catalogSourceRef"]["name"])
                  == (spec.get("sourceNamespace"), spec.get("source"))]
        if not target:
            unhealthy = _cond(conditions, "CatalogSourcesUnhealthy", "True", "UnhealthyCatalogSourceFound",
                              "targeted catalogsource %s/%s missing" % (spec.get("sourceNamespace"), spec.get("source")))
        elif not all(h["healthy"] for h in health):
            bad = target[0]["catalogSourceRef"]
            unhealthy = _cond(conditions, "CatalogSourcesUnhealthy", "True", "UnhealthyCatalogSourceFound",
                              "targeted catalogsource %s/%s unhealthy" % (bad["namespace"], bad["name"]))
        else:
            unhealthy = _cond(conditions, "CatalogSourcesUnhealthy", "False", "AllCatalogSourcesHealthy",
                              "all available catalogsources are healthy")
        status = {k: v for k, v in old.items() if k not in ("conditions", "catalogHealth", "lastUpdated")}
        status["catalogHealth"] = health
        new_conditions = [unhealthy]
        csv_name, problem = self.resolve(sub)
        if problem:
            new_conditions.append(_cond(conditions, "ResolutionFailed", "True", "ConstraintsNotSatisfiable", problem))
            status["conditions"] = new_conditions
            self._write_status(SUB, sub, status, stamp="lastUpdated")
            return
        plan = None
        ref = status.get("installPlanRef") or {}
        if ref.get("name"):
            plan = self._get(IP, ns, ref["name"])
        if status.get("currentCSV") != csv_name or plan is None:
            plan = self.create_installplan(sub, csv_name, int(status.get("installPlanGeneration") or 0) + 1)
            pmeta = plan["metadata"]
            status.update(
                currentCSV=csv_name, installPlanGeneration=plan["spec"]["generation"], state="UpgradePending",
                installPlanRef={"apiVersion": "%s/v1alpha1" % GROUP, "kind": "InstallPlan", "name": pmeta["name"],
                                "namespace": ns, "resourceVersion": pmeta["resourceVersion"], "uid": pmeta["uid"]},
                installplan={"apiVersion": "%s/v1alpha1" % GROUP, "kind": "InstallPlan", "name": pmeta["name"],
                             "uuid": pmeta["uid"]})
        phase = (plan.get("status") or {}).get("phase")
        if phase == "Complete" and self._get(CSV, ns, csv_name) is not None:
            status.update(installedCSV=csv_name, state="AtLatestKnown")
        elif phase == "Failed":
            status["state"] = "UpgradeFailed"
            new_conditions.append(_cond(conditions, "InstallPlanFailed", "True", "InstallPlanFailed",
                                        (plan.get("status") or {}).get("message", "")))
        else:
            status["state"] = "UpgradePending"
            new_conditions.append(_cond(conditions, "InstallPlanPending", "True",
                                        "RequiresApproval" if phase == "RequiresApproval" else "Installing"))
        status["conditions"] = new_conditions
        self._write_status(SUB, sub, status, stamp="lastUpdated")

    def create_installplan(self, sub, csv_name, generation):
        meta, spec = sub["metadata"], sub.get("spec") or {}
        approval = spec.get("installPlanApproval") or "Automatic"
        body = {"apiVersion": "%s/v1alpha1" % GROUP, "kind": "InstallPlan",
                "metadata": {"generateName": "install-", "namespace": meta["namespace"],
                             "labels": {"operators.coreos.com/%s.%s" % (spec.get("name"), meta["namespace"]): ""},
                             "ownerReferences": [{"apiVersion": "%s/v1alpha1" % GROUP, "kind": "Subscription",
                                                  "name": meta["name"], "uid": meta["uid"],
                                                  "blockOwnerDeletion": False, "controller": False}]},
                "spec": {"approval": approval, "approved": approval == "Automatic",
                         "clusterServiceVersionNames": [csv_name], "generation": generation}}
        plan = self._create(IP, meta["namespace"], body)
        status = {"phase": "Installing" if approval == "Automatic" else "RequiresApproval",
                  "catalogSources": [spec.get("source", "")], "startTime": _now(),
                  "bundleLookups": [], "plan": [
                      {"resolving": csv_name, "status": "Unknown",
                       "resource": {"group": GROUP, "version": "v1alpha1", "kind": "ClusterServiceVersion",
                                    "name": csv_name, "sourceName": spec.get("source", ""),
                                    "sourceNamespace": spec.get("sourceNamespace", "")}}]}
        return self._write_status(IP, plan, status)

    # ----- InstallPlans and CSVs -------------------------------------------------------------------
    def _package_of(self, csv_name):
        for package, entry in self.catalog.items():
            if csv_name in (entry.get("channels") or {}).values():
                return package, entry
        return None, {}

    def reconcile_installplan(self, plan):
        meta, spec = plan["metadata"], plan.get("spec") or {}
        status = copy.deepcopy(plan.get("status") or {})
        phase = status.get("phase")
        if phase == "RequiresApproval" and spec.get("approved"):
            status["phase"] = phase = "Installing"
        if phase != "Installing":
            if status != (plan.get("status") or {}):
                self._write_status(IP, plan, status)
            return
        ns = meta["namespace"]
        groups = self._objects(OG, ns)
        if len(groups) != 1:
            message = ("no operator group found that is managing this namespace" if not groups else
                       "more than one operator group(s) are managing this namespace count=%d" % len(groups))
            status["message"] = message
            status["conditions"] = [_cond(status.get("conditions"), "Installed", "False", "InstallCheckFailed", message,
                                          lastUpdateTime=_now())]
            if [dict(c, lastUpdateTime=None) for c in status["conditions"]] != [
                    dict(c, lastUpdateTime=None) for c in (plan.get("status") or {}).get("conditions") or []]:
                self._write_status(IP, plan, status)
            return
        for csv_name in spec.get("clusterServiceVersionNames") or []:
            if self._get(CSV, ns, csv_name) is None:
                self.create_csv(ns, csv_name, groups[0])
        status.pop("message", None)
        status["phase"] = "Complete"
        status["conditions"] = [_cond(status.get("conditions"), "Installed", "True", lastUpdateTime=_now())]
        for step in status.get("plan") or []:
            step["status"] = "Created"
        self._write_status(IP, plan, status)

    def create_csv(self, ns, csv_name, group):
        package, entry = self._package_of(csv_name)
        package = package or csv_name.split(".", 1)[0]
        modes = entry.get("install_modes") or ALL_MODES
        deployment = "%s-controller-manager" % (package[:-len("-operator")] if package.endswith("-operator") else package)
        body = {"apiVersion": "%s/v1alpha1" % GROUP, "kind": "ClusterServiceVersion",
                "metadata": {"name": csv_name, "namespace": ns,
                             "labels": {"operators.coreos.com/%s.%s" % (package, ns): "",
                                        "olm.managed": "true"},
                             "annotations": {"olm.operatorGroup": group["metadata"]["name"],
                                             "olm.operatorNamespace": ns,
                                             "olm.targetNamespaces": ",".join(
                                                 (group.get("spec") or {}).get("targetNamespaces") or [])}},
                "spec": {"displayName": package, "version": _version(csv_name),
                         "installModes": [{"type": m, "supported": m in modes} for m in
                                          ("OwnNamespace", "SingleNamespace", "MultiNamespace", "AllNamespaces")],
                         "install": {"strategy": "deployment", "spec": {"deployments": [{
                             "name": deployment,
                             "spec": {"selector": {"matchLabels": {"control-plane": "controller-manager"}},
                                      "template": {"metadata": {"labels": {"control-plane": "controller-manager"}},
                                                   "spec": {"containers": [{"name": "manager",
                                                                            "image": "lab/%s:%s" % (
                                                                                package, _version(csv_name))}]}}}}]}}}}
        return self._create(CSV, ns, body)

    def _install_mode(self, csv, group):
        """None when ``group``'s target fits the CSV's install modes, else OLM's UnsupportedOperatorGroup message."""
        targets = (group.get("spec") or {}).get("targetNamespaces") or []
        ns = csv["metadata"]["namespace"]
        if not targets:
            mode, what = "AllNamespaces", "all namespaces"
        elif targets == [ns]:
            mode, what = "OwnNamespace", "own namespace"
        elif len(targets) == 1:
            mode, what = "SingleNamespace", "one namespace"
        else:
            mode, what = "MultiNamespace", "multiple namespaces"
        supported = {m.get("type") for m in (csv.get("spec") or {}).get("installModes") or [] if m.get("supported")}
        if mode in supported:
            return None
        return "%s InstallModeType not supported, cannot configure to watch %s" % (mode, what)

    def reconcile_csv(self, csv):
        meta = csv["metadata"]
        ns = meta["namespace"]
        old = csv.get("status") or {}
        groups = self._objects(OG, ns)
        if not groups:
            phase, reason, message = "Failed", "NoOperatorGroup", "csv in namespace with no operatorgroups"
        elif len(groups) > 1:
            phase, reason, message = ("Failed", "TooManyOperatorGroups",
                                      "csv created in namespace with multiple operatorgroups, can't pick one automatically")
        elif self._install_mode(csv, groups[0]):
            phase, reason, message = "Failed", "UnsupportedOperatorGroup", self._install_mode(csv, groups[0])
        elif old.get("phase") in ("Installing", "Succeeded"):
            phase, reason, message = "Succeeded", "InstallSucceeded", "install strategy completed with no errors"
        else:
            deployment = (((csv.get("spec") or {}).get("install") or {}).get("spec") or {}).get("deployments", [{}])[0]
            phase, reason, message = ("Installing", "InstallWaiting", 'installing: waiting for deployment %s to become '
                                      'ready: deployment "%s" not available: Deployment does not have minimum '
                                      'availability.' % (deployment.get("name"), deployment.get("name")))
        if (old.get("phase"), old.get("reason"), old.get("message")) != (phase, reason, message):
            now = _now()
            history = list(old.get("conditions") or [])
            history.append({"phase": phase, "reason": reason, "message": message, "lastTransitionTime": now,
                            "lastUpdateTime": now})
            status = dict(old, phase=phase, reason=reason, message=message, lastTransitionTime=now, lastUpdateTime=now,
                          conditions=history[-10:], requirementStatus=old.get("requirementStatus") or [])
            if phase == "Succeeded":
                status["requirementStatus"] = [{"group": GROUP, "kind": "ClusterServiceVersion", "name": meta["name"],
                                                "message": "CSV minKubeVersion (1.20.0) less than server version",
                                                "status": "Present", "version": "v1alpha1"}]
            self._write_status(CSV, csv, status)
        if phase == "Succeeded":
            _package, entry = self._package_of(meta["name"])
            groups_of = set(entry.get("groups") or ())
            self.register_crds(sorted(n for n, d in self.crds.items() if d["spec"]["group"] in groups_of))

    # ----- openstack-operator's OpenStack controller ---------------------------------------------
    def openstack_namespaces(self):
        """Namespaces where openstack-operator's CSV has Succeeded."""
        entry = self.catalog.get(OPENSTACK_PACKAGE) or {}
        names = set((entry.get("channels") or {}).values())
        return {c["metadata"]["namespace"] for c in self._objects(CSV)
                if c["metadata"]["name"] in names and (c.get("status") or {}).get("phase") == "Succeeded"}

    def reconcile_openstacks(self):
        if not self._served(OPENSTACK):
            return
        namespaces = self.openstack_namespaces()
        items = [o for o in self._objects(OPENSTACK) if o["metadata"]["namespace"] in namespaces
                 and not o["metadata"].get("deletionTimestamp")]
        items.sort(key=lambda o: (o["metadata"]["creationTimestamp"], int(o["metadata"]["resourceVersion"])))
        for extra in items[1:]:  # the controller is a singleton: later instances are deleted
            try:
                self.server._delete(self.server.resources[OPENSTACK], extra["metadata"]["namespace"],  # pylint: disable=protected-access
                                    extra["metadata"]["name"], False)
            except ApiError:
                pass
        if not items:
            return
        obj = items[0]
        meta, spec = obj["metadata"], obj.get("spec") or {}
        old = obj.get("status") or {}
        conditions = old.get("conditions") or []
        disabled = sum(1 for o in spec.get("operatorOverrides") or [] if o.get("replicas") == 0)
        status = dict(old, totalOperatorCount=OPERATOR_COUNT, disabledOperatorCount=disabled,
                      enabledOperatorCount=OPERATOR_COUNT - disabled)
        served_before = old.get("observedGeneration") == meta.get("generation") and any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
        wanted = sorted(n for n, d in self.crds.items() if d["spec"]["group"] not in NOT_OPENSTACK_GROUPS)
        missing = [n for n in wanted if self._get(CRD, None, n) is None]
        if missing or not old.get("conditions"):
            # first pass: CRDs, webhooks and Deployments are being applied
            self.register_crds(missing)
            status.update(deployedOperatorCount=0, conditions=[
                _cond(conditions, "Ready", "False", "Requested", "OpenStackOperator in progress", severity="Info"),
                _cond(conditions, "OpenStackOperatorDeploymentsReadyCondition", "False", "Requested",
                      "OpenStackOperatorDeployments still in progress: deployments not ready", severity="Info"),
                _cond(conditions, "OpenStackOperatorReadyCondition", "False", "Requested",
                      "OpenStackOperator in progress", severity="Info")])
        elif not served_before or old.get("deployedOperatorCount") != OPERATOR_COUNT - disabled:
            status.update(deployedOperatorCount=OPERATOR_COUNT - disabled, observedGeneration=meta.get("generation"),
                          containerImage="lab/openstack-operator:latest", conditions=[
                              _cond(conditions, "Ready", "True", "Ready", "Setup complete"),
                              _cond(conditions, "OpenStackOperatorDeploymentsReadyCondition", "True", "Ready",
                                    "OpenStackOperatorDeployments completed"),
                              _cond(conditions, "OpenStackOperatorReadyCondition", "True", "Ready",
                                    "OpenStackOperator completed")])
        self._write_status(OPENSTACK, obj, status)

    # ----- one pass ----------------------------------------------------------------------------------
    def reconcile_once(self):
        if not all(self._served(r) for r in OLM_RESOURCES):
            return
        self.reconcile_catalogsources()
        self.reconcile_operatorgroups()
        for sub in self._objects(SUB):
            if not sub["metadata"].get("deletionTimestamp"):
                self.reconcile_subscription(sub)
        for plan in self._objects(IP):
            self.reconcile_installplan(plan)
        for csv in self._objects(CSV):
            self.reconcile_csv(csv)
        self.reconcile_openstacks()

    # ----- thread -------------------------------------------------------------------------------
    def run(self):
        while not self.stopping.wait(self.interval):
            try:
                self.reconcile_once()
            except Exception:  # pylint: disable=broad-except  # a bad object must not stop the controller
                traceback.print_exc(file=sys.stderr)

    def stop(self):
        self.stopping.set()


__all__ = ["DEFAULT_CATALOG", "NOT_OPENSTACK_GROUPS", "OLM", "load_crds", "serve_crds"]
