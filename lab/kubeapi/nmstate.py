"""The lab's stand-in for kubernetes-nmstate: NodeNetworkConfigurationPolicies turn Available.

``NMState(server).start()`` plays nmstate's handler on a :class:`KubeAPIServer` that serves
``nmstate.io/v1`` ``nodenetworkconfigurationpolicies`` (it does nothing while that CRD is not served).
As the NMState operator does, it first installs the CRD of the per-node reports,
``NodeNetworkConfigurationEnactment`` (``nmstate.io/v1beta1``, cluster-scoped), then for each policy
whose ``metadata.generation`` it has not handled:

* the policy's nodes are the ``kubernetes.io/hostname`` of its ``nodeSelector`` (the lab has no Node
  objects), else every node of ``nodes``; with ``nodes`` given, a hostname not among them matches
  nothing: ``Ignored=True`` reason ``NoMatchingNode``, ``Policy does not match any node``;
* one pass sets ``Progressing=True`` (reason ``ConfigurationProgressing``, ``Policy is progressing 0/N
  nodes finished``) and an enactment ``<node>.<policy>`` per node (labels ``nmstate.io/node``,
  ``nmstate.io/policy``, ``status.policyGeneration``) ``Progressing``;
* the next pass "applies" the desired state on each node: ``Available=True`` reason
  ``SuccessfullyConfigured``, ``N/N nodes successfully configured``, enactments ``Available``; or, when
  the desired state is invalid, ``Degraded=True`` reason ``FailedToConfigure``, ``F/N nodes failed to
  configure`` (nmstate's words; the node and the error are in the enactment's ``Failing`` condition,
  whose message names the node).

The policy's status schema has no ``observedGeneration``: as nmstate does, the enactments'
``status.policyGeneration`` tell which generation was handled (a new generation goes through
Progressing again).

Invalid, in the lab (documented, checked without a node): an interface ``state: up`` of ``type: vlan``
without ``vlan.base-iface`` or with a ``vlan.id`` outside 1-4094, and - a lab-only marker - any
interface, VLAN base or bridge port named ``fail-*`` (as a NIC missing on the node would fail).
"""

import copy
import datetime
import sys
import threading
import traceback

NNCP = ("nmstate.io", "v1", "nodenetworkconfigurationpolicies")
NNCE = ("nmstate.io", "v1beta1", "nodenetworkconfigurationenactments")
CRDS = ("apiextensions.k8s.io", "v1", "customresourcedefinitions")
NNCE_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "nodenetworkconfigurationenactments.nmstate.io"},
    "spec": {"group": "nmstate.io", "scope": "Cluster",
             "names": {"kind": "NodeNetworkConfigurationEnactment", "listKind": "NodeNetworkConfigurationEnactmentList",
                       "plural": "nodenetworkconfigurationenactments", "singular": "nodenetworkconfigurationenactment",
                       "shortNames": ["nnce"]},
             "versions": [{"name": "v1beta1", "served": True, "storage": True, "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                               "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}]}}


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def invalid(desired):
    """Why nmstate would fail ``desired`` (the policy's desiredState), or "" when it would not."""
    for iface in (desired or {}).get("interfaces") or []:
        name = iface.get("name") or ""
        names = [name]
        vlan = iface.get("vlan") or {}
        if iface.get("type") == "vlan" and iface.get("state", "up") == "up":
            if not vlan.get("base-iface"):
                return "InvalidArgument: interface %s: vlan.base-iface is required for a vlan interface" % name
            if not isinstance(vlan.get("id"), int) or not 1 <= vlan["id"] <= 4094:
                return "InvalidArgument: interface %s: vlan.id %r is outside 1-4094" % (name, vlan.get("id"))
        names.append(vlan.get("base-iface") or "")
        names += [port.get("name") or "" for port in ((iface.get("bridge") or {}).get("port") or [])]
        for missing in (n for n in names if n.startswith("fail-")):
            return "NmstateError: InvalidArgument: interface %s: no such NIC %s on the node" % (name, missing)
    return ""


def _condition(ctype, status, reason, message):
    now = _now()
    return {"type": ctype, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": now, "lastTransitionTime": now}


class NMState(threading.Thread):
    """nmstate's policy handling for the lab (see the module docstring).

    :param server: the :class:`~kubeapi.server.KubeAPIServer`.
    :param nodes: names of the cluster's nodes, or None: every hostname a policy selects exists.
    :param interval: seconds between two passes.
    """

    def __init__(self, server, nodes=None, interval=1.0):
        super().__init__(daemon=True)
        self.server, self.nodes, self.interval = server, nodes, interval
        self.stopping = threading.Event()
        self.progressed = {}  # policy uid -> the generation set Progressing
        self.handled = {}  # policy uid -> the generation configured (or failed)

    def _policies(self):
        with self.server.store.lock:
            return [copy.deepcopy(o) for k, o in self.server.store.objects.items() if (k[0], k[1]) == (NNCP[0], NNCP[2])]

    def _write_status(self, gvp, name, status):
        try:
            self.server._update(self.server.resources[gvp], None, name, {"status": status},  # pylint: disable=protected-access
                                "status", False, check_rv=False)
        except Exception:  # pylint: disable=broad-except  # deleted meanwhile: next pass
            pass

    def _enact(self, policy, node, generation, cond):
        name = "%s.%s" % (node, policy)
        res = self.server.resources[NNCE]
        with self.server.store.lock:
            exists = self.server._key(res, None, name) in self.server.store.objects  # pylint: disable=protected-access
        if not exists:
            self.server._create(res, None, {"metadata": {"name": name, "labels": {  # pylint: disable=protected-access
                "nmstate.io/node": node, "nmstate.io/policy": policy}}}, False)
        self._write_status(NNCE, name, {"policyGeneration": generation, "conditions": [cond]})

    def nodes_of(self, policy):
        host = ((policy.get("spec") or {}).get("nodeSelector") or {}).get("kubernetes.io/hostname")
        if host:
            return [host] if self.nodes is None or host in self.nodes else []
        return list(self.nodes or [])

    def reconcile_once(self):
        if NNCP not in self.server.resources:
            return
        if NNCE not in self.server.resources:
            self.server.create_object(*CRDS, None, NNCE_CRD)
        for policy in self._policies():
            meta = policy["metadata"]
            name, generation, uid = meta["name"], meta.get("generation"), meta.get("uid")
            if meta.get("deletionTimestamp") or self.handled.get(uid) == generation:
                continue
            nodes = self.nodes_of(policy)
            if not nodes:
                self._write_status(NNCP, name, {"conditions": [
                    _condition("Ignored", "True", "NoMatchingNode", "Policy does not match any node"),
                    _condition("Available", "False", "NoMatchingNode", ""),
                    _condition("Degraded", "False", "NoMatchingNode", ""),
                    _condition("Progressing", "False", "NoMatchingNode", "")]})
                self.handled[uid] = generation
                continue
            if self.progressed.get(uid) != generation:
                self.progressed[uid] = generation
                for node in nodes:
                    self._enact(name, node, generation, _condition("Progressing", "True", "ConfigurationProgressing",
                                                                   "Applying desired state"))
                self._write_status(NNCP, name, {"conditions": [
                    _condition("Progressing", "True", "ConfigurationProgressing",
                               "Policy is progressing 0/%d nodes finished" % len(nodes)),
                    _condition("Available", "Unknown", "ConfigurationProgressing", ""),
                    _condition("Degraded", "Unknown", "ConfigurationProgressing", "")]})
                continue
            error = invalid((policy.get("spec") or {}).get("desiredState"))
            for node in nodes:
                if error:
                    cond = _condition("Failing", "True", "FailedToConfigure",
                                      "error reconciling NodeNetworkConfigurationPolicy on node %s at desired state "
                                      "apply: failed to execute nmstatectl set --no-commit --timeout 480: "
                                      "'exit status 1' '' '%s'" % (node, error))
                else:
                    cond = _condition("Available", "True", "SuccessfullyConfigured", "successfully reconciled")
                self._enact(name, node, generation, cond)
            if error:
                conds = [_condition("Degraded", "True", "FailedToConfigure",
                                    "%d/%d nodes failed to configure" % (len(nodes), len(nodes))),
                         _condition("Available", "False", "FailedToConfigure", ""),
                         _condition("Progressing", "False", "FailedToConfigure", "")]
            else:
                conds = [_condition("Available", "True", "SuccessfullyConfigured",
                                    "%d/%d nodes successfully configured" % (len(nodes), len(nodes))),
                         _condition("Degraded", "False", "SuccessfullyConfigured", ""),
                         _condition("Progressing", "False", "SuccessfullyConfigured", "")]
            self._write_status(NNCP, name, {"conditions": conds})
            self.handled[uid] = generation

    def run(self):
        while not self.stopping.wait(self.interval):
            try:
                self.reconcile_once()
            except Exception:  # pylint: disable=broad-except  # a bad object must not stop the controller
                traceback.print_exc(file=sys.stderr)

    def stop(self):
        self.stopping.set()
