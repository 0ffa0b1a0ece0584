"""The lab's stand-in for openstack-operator: publish its objects and keep OpenStackControlPlane's
``Ready`` condition true to the services it describes.

``publish`` creates what the operators would have created (Secrets, TransportURL, KeystoneAPI,
OVNDBCluster, Pods...) with their ``status`` as the operators write it. ``Reconciler`` plays the
openstack-operator controller for OpenStackControlPlane: a control plane whose generation it has
not yet seen Ready (new, or its spec changed) is reconciled every ``interval`` seconds: it probes
the real services (TCP connect to each ``name=host:port``) and writes ``status.conditions`` (one
``OpenStackControlPlane<Name>Ready`` condition per probe, then ``Ready``) and
``status.observedGeneration`` through the status subresource, as the operator does, until every
probe answers. Once Ready at its generation, a control plane is left alone: like the operator, the
stand-in reacts to changes of the objects, not to a service failing later outside its view. A
RabbitMQ stopped on the lab controller after that is what a broken path between the compute nodes
and the cluster looks like: the control plane stays Ready and the main job's prechecks catch it.
With ``ca_bundle_secret`` it also publishes ``status.tls.caBundleSecretName`` (the Secret holding
``tls-ca-bundle.pem``, as openstack-operator names ``combined-ca-bundle``) whenever it writes status.
"""

import copy
import datetime
import socket
import threading

CP = ("core.openstack.org", "v1beta1", "openstackcontrolplanes")


def _plural(server, doc):
    group, _sep, version = doc["apiVersion"].rpartition("/")
    for (g, v, plural), res in server.resources.items():
        if g == group and v == version and res.kind == doc["kind"]:
            return res
    raise ValueError("%s %s is not served" % (doc["apiVersion"], doc["kind"]))


def publish(server, docs, namespace="openstack"):
    """Create (or replace) each document; a ``status`` key is written through the status subresource."""
    for doc in docs:
        doc = copy.deepcopy(doc)
        status = doc.pop("status", None)
        res = _plural(server, doc)
        name = doc["metadata"]["name"]
        ns = namespace if res.namespaced else None
        with server.store.lock:
            exists = server._key(res, ns, name) in server.store.objects  # pylint: disable=protected-access
        if exists:
            server._delete(res, ns, name, False)  # pylint: disable=protected-access
        server._create(res, ns, doc, False)  # pylint: disable=protected-access
        if status is not None and res.status:
            server._update(res, ns, name, {"status": status}, "status", False, check_rv=False)  # pylint: disable=protected-access
        elif status is not None:  # core kinds (Pod) keep status in the object itself
            with server.store.lock:
                server.store.objects[server._key(res, ns, name)]["status"] = status  # pylint: disable=protected-access


def probe(host, port, timeout=2.0):
    """Return "" when a TCP connection to host:port opens, else the error text."""
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return ""
    except OSError as exc:
        return str(exc) or exc.__class__.__name__


class Reconciler(threading.Thread):
    """Bring every OpenStackControlPlane not yet Ready at its generation to Ready once the probed
    services answer (see the module docstring for what it does not watch).

    :param probes: list of ``(name, host, port)``; ``name`` becomes the condition
        ``OpenStackControlPlane<name>Ready``.
    :param ca_bundle_secret: Secret name written to ``status.tls.caBundleSecretName``; ``""`` writes none.
    """

    def __init__(self, server, probes, interval=2.0, ca_bundle_secret="", gate=None):
        super().__init__(daemon=True)
        self.server, self.probes, self.interval = server, list(probes), interval
        self.ca_bundle_secret = ca_bundle_secret
        self.gate = gate  # callable: False while the control plane must not turn Ready yet
        self.stopping = threading.Event()

    def conditions(self):
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        out = []
        for name, host, port in self.probes:
            error = probe(host, port)
            out.append({"type": "OpenStackControlPlane%sReady" % name, "status": "False" if error else "True",
                        "severity": "Error" if error else "", "lastTransitionTime": now,
                        "reason": "Error" if error else "Ready",
                        "message": "%s %s:%s unreachable: %s" % (name, host, port, error) if error
                        else "%s ready" % name})
        bad = [c for c in out if c["status"] != "True"]
        ready = {"type": "Ready", "status": "False" if bad else "True", "lastTransitionTime": now,
                 "severity": "Warning" if bad else "", "reason": "Error" if bad else "Ready",
                 "message": "OpenStackControlPlane error occurred %s" % bad[0]["message"] if bad
                 else "Setup complete"}
        return [ready] + out

    def settled(self, obj):
        """True when ``obj`` is Ready at the generation the stand-in last observed (and names the CA bundle)."""
        status = obj.get("status") or {}
        ready = [c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"]
        return (status.get("observedGeneration") == obj["metadata"].get("generation") and ready == ["True"]
                and self._tls_published(status))

    def _tls_published(self, status):
        return not self.ca_bundle_secret or (status.get("tls") or {}).get("caBundleSecretName") == self.ca_bundle_secret

    def reconcile_once(self):
        res = self.server.resources.get(CP)
        if res is None or (self.gate is not None and not self.gate()):
            return
        with self.server.store.lock:
            objs = [copy.deepcopy(o) for k, o in self.server.store.objects.items()
                    if (k[0], k[1]) == (CP[0], CP[2]) and not self.settled(o)]
        conditions = self.conditions() if objs else []
        for obj in objs:
            meta = obj["metadata"]
            status = dict(obj.get("status") or {}, observedGeneration=meta["generation"])
            old = {c["type"]: (c["status"], c["message"]) for c in (obj.get("status") or {}).get("conditions") or []}
            new = {c["type"]: (c["status"], c["message"]) for c in conditions}
            if old == new and (obj.get("status") or {}).get("observedGeneration") == meta["generation"] \
                    and self._tls_published(obj.get("status") or {}):
                continue
            status["conditions"] = conditions
            if self.ca_bundle_secret:
                status["tls"] = dict(status.get("tls") or {}, caBundleSecretName=self.ca_bundle_secret)
            try:
                self.server._update(res, meta["namespace"], meta["name"], {"status": status}, "status", False,  # pylint: disable=protected-access
                                    check_rv=False)
            except Exception:  # pylint: disable=broad-except  # deleted meanwhile: next round
                continue

    def run(self):
        while not self.stopping.wait(self.interval):
            self.reconcile_once()

    def stop(self):
        self.stopping.set()


class DeferredPublisher(threading.Thread):
    """:func:`publish` ``docs`` once an OpenStackControlPlane exists in ``namespace``, as
    openstack-operator's service operators create their objects (TransportURL, KeystoneAPI, the
    Secrets, the conductor Pod...) after the control plane is applied: for a lab API that starts as
    an empty cluster, where neither those kinds nor the namespace exist yet. A document whose kind is
    not served yet waits for a later round; each is published once. ``done()`` is True when none is
    left (the Reconciler's ``gate``: the control plane turns Ready only after that)."""

    def __init__(self, server, docs, namespace="openstack", interval=1.0):
        super().__init__(daemon=True)
        self.server, self.namespace, self.interval = server, namespace, interval
        self.pending = [copy.deepcopy(d) for d in docs]
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def done(self):
        with self.lock:
            return not self.pending

    def reconcile_once(self):
        with self.lock:
            if not self.pending or self.server.resources.get(CP) is None:
                return
            with self.server.store.lock:
                applied = any((k[0], k[1], k[2]) == (CP[0], CP[2], self.namespace) for k in self.server.store.objects)
            if not applied:
                return
            left = []
            for doc in self.pending:
                try:
                    _plural(self.server, doc)
                except ValueError:  # its operator's CRD is not served yet
                    left.append(doc)
                    continue
                publish(self.server, [doc], self.namespace)
            self.pending = left

    def run(self):
        while not self.stopping.wait(self.interval):
            self.reconcile_once()

    def stop(self):
        self.stopping.set()
