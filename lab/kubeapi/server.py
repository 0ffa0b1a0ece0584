"""A small, stateful Kubernetes-API-compatible server for tests and the lab.

It stands in for the OpenShift API server, which cannot run here. It speaks HTTPS with its own CA,
checks a bearer token, and implements what the collection's modules and the ``kubernetes`` client
use: discovery, CustomResourceDefinitions (loaded from a folder of CRD YAML files or created through
the API), CRUD with uid/resourceVersion/generation, 409 on conflicts, the status subresource (also
``pods/status``), merge / JSON patches (strategic merge answers 415 on custom resources), label and
field selectors, watch, finalizers, ``dryRun=All``, and validation of custom resources against the
CRD's openAPIV3Schema (pruning, null dropping, defaults, 422 with causes).

It answers as a real kube-apiserver (v1.20) where the difference would hide a client's bug:

* server-side apply with field ownership (``metadata.managedFields``, see ``fields.py``): typed
  kinds (core kinds, CRDs without ``anyOf``) own leaves, list-map items ``k:{...}`` and set items
  ``v:...``; the CRDs v1.20 cannot type (NodeSet, OpenStackControlPlane, ...) own every map key,
  lists whole; fields an applier drops are removed (a map left empty is null, a 422 where the
  schema wants an object), a field another manager owns is a 409 naming it unless ``force``, an
  object nobody owns is first given to ``before-first-apply``, and every other client write is
  recorded as an ``Update`` of its ``fieldManager`` (default: the User-Agent's first word);
  ``managedFields: []`` or ``[{}]`` resets them;
* an apply carrying ``managedFields`` is 400, a stale ``resourceVersion`` 409, a foreign uid 422 in
  an apply or a patch (a PUT's foreign uid is a failed precondition, 409), a PUT of a custom
  resource without ``resourceVersion`` 422; an apply without ``fieldManager`` is 422, an apply of
  a field a typed schema does not declare 500;
* the request body is read before any answer, so an early error keeps a kept-alive connection usable;
* ``/version`` has every field (v1.20.2's); a Secret's bad base64 is 400; a dry-run create has no
  resourceVersion; 422 causes are worded as v1.20's (``Invalid value: "string": spec.x in body must
  be of type integer: "string"``, list items named without an index).

Writes made through the Python API by the lab's own controllers (labop, certmanager) record no
field manager.

Use from Python::

    server = KubeAPIServer(crd_dir="../shared/crds", token="secret").start()
    server.url, server.ca_file, server.write_kubeconfig(path)
    server.stop()

or from a shell: ``python -m kubeapi --crds DIR --state DIR`` (see ``__main__.py``).
"""

import base64
import copy
import datetime
import glob
import json
import os
import re
import ssl
import tempfile
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import yaml

from . import execws, fields
from .errors import ApiError
from .schema import causes_message, normalize

# Kinds whose DELETE answers with the deleted object, not a Status (the real registries'
# ReturnDeletedObject).
RETURN_DELETED_OBJECT = ("Pod",)
CORE = {
    # plural: (kind, namespaced)
    "namespaces": ("Namespace", False),
    "secrets": ("Secret", True),
    "configmaps": ("ConfigMap", True),
    "pods": ("Pod", True),  # with pods/status (see Resource.main_writes_status)
    "serviceaccounts": ("ServiceAccount", True),
    "events": ("Event", True),
}
CRD_GROUP = "apiextensions.k8s.io"
APPLY_PATCH = "application/apply-patch+yaml"
# GET /version: every field a real server answers (the client's VersionInfo requires them all), as
# kube-apiserver v1.20.2 (the real server the tests compare with) answers them
VERSION = {"major": "1", "minor": "20", "gitVersion": "v1.20.2",
           "gitCommit": "faecb196815e248d3ecfb03c680a4507229c2a56", "gitTreeState": "clean",
           "buildDate": "2021-01-13T13:20:00Z", "goVersion": "go1.15.5", "compiler": "gc", "platform": "linux/amd64"}


class Resource:
    """One served resource: group/version/plural, its kind, scope and (for CRs) schema."""

    def __init__(self, group, version, plural, kind, namespaced, schema=None, status=False,
                 singular=None, short_names=None, custom=False, main_writes_status=False):
        self.group, self.version, self.plural, self.kind = group, version, plural, kind
        self.namespaced, self.schema, self.status = namespaced, schema, status
        # Pods: served with pods/status, but writes to the Pod itself still set status (unlike the
        # real server) so that tests can create a Running Pod in one request
        self.main_writes_status = main_writes_status
        self.singular = singular or kind.lower()
        self.short_names = short_names or []
        self.custom = custom
        # what field ownership follows (typed, or deduced where v1.20 cannot type the CRD)
        self.field_schema = fields.field_schema(kind, schema, custom)

    @property
    def api_version(self):
        return "%s/%s" % (self.group, self.version) if self.group else self.version


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _pointer(path):
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")] if path else []


def json_patch(target, ops):
    """RFC 6902 JSON patch (add, remove, replace, test, copy, move)."""
    doc = copy.deepcopy(target)
    for op in ops:
        parts = _pointer(op.get("path", ""))
        name = op.get("op")
        if name in ("copy", "move"):
            src = _pointer(op["from"])
            value = _get_at(doc, src)
            if name == "move":
                doc = _apply_at(doc, src, "remove", None)
            doc = _apply_at(doc, parts, "add", copy.deepcopy(value))
        elif name == "test":
            if _get_at(doc, parts) != op.get("value"):
                raise ApiError(422, "Invalid", "the test operation failed at %s" % op.get("path"))
        elif name in ("add", "remove", "replace"):
            doc = _apply_at(doc, parts, name, op.get("value"))
        else:
            raise ApiError(400, "BadRequest", "unknown JSON patch op %r" % name)
    return doc


def _get_at(doc, parts):
    cur = doc
    for p in parts:
        try:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        except (KeyError, IndexError, ValueError, TypeError):
            raise ApiError(422, "Invalid", "path /%s does not exist" % "/".join(parts))
    return cur


def _apply_at(doc, parts, op, value):
    if not parts:
        return value
    parent = _get_at(doc, parts[:-1])
    key = parts[-1]
    if isinstance(parent, list):
        idx = len(parent) if key == "-" else int(key)
        if op == "add":
            parent.insert(idx, value)
        elif op == "remove":
            parent.pop(idx)
        else:
            parent[idx] = value
    elif isinstance(parent, dict):
        if op in ("remove", "replace") and key not in parent:
            raise ApiError(422, "Invalid", "path /%s does not exist" % "/".join(parts))
        if op == "remove":
            del parent[key]
        else:
            parent[key] = value
    else:
        raise ApiError(422, "Invalid", "cannot patch /%s" % "/".join(parts))
    return doc


_SEL = re.compile(r"^\s*(!?)([A-Za-z0-9_./-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9_.-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$")


def _split_selector(text):
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    if cur.strip():
        parts.append(cur)
    return parts


def match_labels(labels, selector):
    """Evaluate a label selector string (=, ==, !=, in, notin, exists, !exists)."""
    for term in _split_selector(selector or ""):
        m = _SEL.match(term)
        if not m:
            raise ApiError(400, "BadRequest", "unable to parse requirement: %r" % term)
        neg, key, op, val, setop, values = m.groups()
        has = key in labels
        if setop:
            choices = [v.strip() for v in values.split(",") if v.strip()]
            ok = has and labels[key] in choices if setop == "in" else not (has and labels[key] in choices)
        elif op in ("=", "=="):
            ok = has and labels[key] == val
        elif op == "!=":
            ok = not has or labels[key] != val
        else:
            ok = has != bool(neg)
        if not ok:
            return False
    return True


def match_fields(obj, selector):
    """Evaluate a field selector on metadata.name / metadata.namespace / type and similar."""
    for term in _split_selector(selector or ""):
        m = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if not m:
            raise ApiError(400, "BadRequest", "invalid field selector: %r" % term)
        path, op, val = m.groups()
        cur = obj
        for p in path.split("."):
            cur = cur.get(p) if isinstance(cur, dict) else None
        cur = "" if cur is None else str(cur)
        if (op == "!=") == (cur == val):
            return False
    return True


class Store:
    """All objects, their resourceVersions, and the event log that watches read."""

    def __init__(self):
        self.lock = threading.Condition()
        self.objects = {}   # (group, plural, namespace, name) -> object
        self.events = []    # (rv, type, (group, plural, namespace), object)
        self.rv = 0

    def next_rv(self):
        self.rv += 1
        return str(self.rv)


class KubeAPIServer:
    """The server. ``start()`` binds (port 0 picks a free one) and serves in a thread."""

    def __init__(self, crd_dir=None, token="tenrec-test-token", host="127.0.0.1", port=0,
                 state_dir=None, namespaces=("default",)):
        self.token, self.host, self.port = token, host, port
        self.state_dir = state_dir or tempfile.mkdtemp(prefix="tenrec-kubeapi-")
        self.store = Store()
        self.resources = {}  # (group, version, plural) -> Resource
        for plural, (kind, namespaced) in CORE.items():
            self.resources[("", "v1", plural)] = Resource("", "v1", plural, kind, namespaced, status=kind == "Pod",
                                                          main_writes_status=kind == "Pod")
        self.resources[(CRD_GROUP, "v1", "customresourcedefinitions")] = Resource(
            CRD_GROUP, "v1", "customresourcedefinitions", "CustomResourceDefinition", False, status=True)
        for ns in namespaces:
            self._create(self.resources[("", "v1", "namespaces")], None, {"metadata": {"name": ns}}, False)
        if crd_dir:
            for path in sorted(glob.glob(os.path.join(crd_dir, "*.yaml"))):
                with open(path) as handle:
                    for doc in yaml.safe_load_all(handle):
                        if doc and doc.get("kind") == "CustomResourceDefinition":
                            self.create_object(CRD_GROUP, "v1", "customresourcedefinitions", None, doc)
        self.httpd = None
        self.thread = None

    # ----- public helpers for tests -------------------------------------------------------------
    @property
    def url(self):
        return "https://%s:%d" % (self.host, self.httpd.server_address[1])

    @property
    def ca_file(self):
        return os.path.join(self.state_dir, "ca.crt")

    def start(self):
        cert, key = self._make_certs()
        self.httpd = ThreadingHTTPServer((self.host, self.port), _handler(self))
        self.httpd.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            with self.store.lock:
                self.store.lock.notify_all()

    def write_kubeconfig(self, path, token=None):
        """Write a kubeconfig for this server (context ``tenrec-lab``); return its path."""
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "tenrec-lab",
            "clusters": [{"name": "tenrec-lab", "cluster": {"server": self.url, "certificate-authority": self.ca_file}}],
            "users": [{"name": "tenrec-admin", "user": {"token": token or self.token}}],
            "contexts": [{"name": "tenrec-lab", "context": {"cluster": "tenrec-lab", "user": "tenrec-admin",
                                                            "namespace": "openstack"}}],
        }
        with open(path, "w") as handle:
            yaml.safe_dump(config, handle)
        os.chmod(path, 0o600)
        return path

    def create_object(self, group, version, plural, namespace, body):
        """Create an object as a client would (validation included); return it."""
        res = self._resource(group, version, plural)
        return self._create(res, namespace, copy.deepcopy(body), False)

    # ----- certificates -------------------------------------------------------------------------
    def _make_certs(self):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
        import ipaddress

        now = datetime.datetime.now(datetime.timezone.utc)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tenrec-kubeapi-ca")])
        ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
              .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=30))
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
              .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
              .sign(ca_key, hashes.SHA256()))
        key = ec.generate_private_key(ec.SECP256R1())
        sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        if self.host not in ("127.0.0.1", "localhost"):
            sans.append(x509.IPAddress(ipaddress.ip_address(self.host)))
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
                .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
                .sign(ca_key, hashes.SHA256()))
        pem = serialization.Encoding.PEM
        os.makedirs(self.state_dir, exist_ok=True)
        paths = {name: os.path.join(self.state_dir, name) for name in ("ca.crt", "server.crt", "server.key")}
        with open(paths["ca.crt"], "wb") as handle:
            handle.write(ca.public_bytes(pem))
        with open(paths["server.crt"], "wb") as handle:
            handle.write(cert.public_bytes(pem))
        fd = os.open(paths["server.key"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        return paths["server.crt"], paths["server.key"]

    # ----- resources ----------------------------------------------------------------------------
    def _resource(self, group, version, plural):
        res = self.resources.get((group, version, plural))
        if res is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return res

    def _register_crd(self, crd):
        spec = crd["spec"]
        names = spec["names"]
        for key in [k for k, r in self.resources.items() if r.custom and r.group == spec["group"] and r.plural == names["plural"]]:
            del self.resources[key]
        for ver in spec["versions"]:
            if not ver.get("served", True):
                continue
            schema = (ver.get("schema") or {}).get("openAPIV3Schema")
            self.resources[(spec["group"], ver["name"], names["plural"])] = Resource(
                spec["group"], ver["name"], names["plural"], names["kind"], spec.get("scope") == "Namespaced",
                schema=schema, status="status" in (ver.get("subresources") or {}),
                singular=names.get("singular"), short_names=names.get("shortNames"), custom=True)
        crd.setdefault("status", {})["conditions"] = [
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": _now()}]
        crd["status"]["acceptedNames"] = names

    def _unregister_crd(self, crd):
        spec = crd["spec"]
        for key in [k for k, r in self.resources.items() if r.custom and r.group == spec["group"]
                    and r.plural == spec["names"]["plural"]]:
            del self.resources[key]

    def _key(self, res, namespace, name):
        return (res.group, res.plural, namespace if res.namespaced else None, name)

    def _check_namespace(self, res, namespace):
        if res.namespaced and namespace is not None:
            if ("", "namespaces", None, namespace) not in self.store.objects:
                raise ApiError(404, "NotFound", 'namespaces "%s" not found' % namespace,
                               {"name": namespace, "kind": "namespaces"})

    def _prepare(self, res, body, applied=False):
        """Validate and normalize a body for ``res``; raise 422 with causes when invalid.

        ``applied``: the body is the result of a server-side apply, whose nulls are maps and lists
        the apply emptied: a custom resource's schema must allow them (v1.20 validates them, where
        it drops the nulls of a request body), typed objects drop them.
        """
        body["apiVersion"] = res.api_version
        body["kind"] = res.kind
        meta = body.setdefault("metadata", {})
        if applied:
            for key in [k for k, v in meta.items() if v is None]:
                del meta[key]
            if res.schema is None:
                for key in [k for k in body if k != "metadata"]:
                    if body[key] is None:
                        del body[key]
                    else:
                        body[key] = _drop_nulls(body[key])
        if res.kind == "Secret":
            data = dict(body.get("data") or {})
            for k, v in (body.pop("stringData", None) or {}).items():
                data[k] = base64.b64encode(str(v).encode()).decode()
            for value in data.values():
                _check_base64(value)
            body["data"] = data
        if res.schema is not None:
            normalized, causes = normalize(body, res.schema, nulls_invalid=applied)
            if causes:
                message = '%s.%s "%s" is invalid: %s' % (res.kind, res.group, meta.get("name", ""),
                                                         causes_message(causes))
                raise ApiError(422, "Invalid", message,
                               {"name": meta.get("name", ""), "group": res.group, "kind": res.kind, "causes": causes})
            normalized["metadata"] = meta
            body.clear()
            body.update(normalized)
        return body

    def _emit(self, kind, res, obj):
        self.store.events.append((int(obj["metadata"]["resourceVersion"]), kind,
                                  (res.group, res.plural), copy.deepcopy(obj)))
        del self.store.events[:-2000]
        self.store.lock.notify_all()

    def _create(self, res, namespace, body, dry_run, manager=None, applied=None):
        """Create ``body``; a client's write names its ``manager`` (an apply passes its ``applied``
        :class:`fields.Managers`), internal writes (the lab's operators) record no field owner."""
        with self.store.lock:
            meta = body.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            name = meta.get("name")
            if not name:
                raise ApiError(422, "Invalid", "%s is invalid: metadata.name: Required value: name or generateName is required" % res.kind)
            if res.namespaced:
                namespace = namespace or meta.get("namespace") or "default"
                self._check_namespace(res, namespace)
                meta["namespace"] = namespace
            else:
                meta.pop("namespace", None)
            key = self._key(res, namespace, name)
            if key in self.store.objects:
                raise ApiError(409, "AlreadyExists", '%s.%s "%s" already exists' % (res.plural, res.group, name)
                               if res.group else '%s "%s" already exists' % (res.plural, name),
                               {"name": name, "group": res.group, "kind": res.plural})
            if res.status and res.custom:
                body.pop("status", None)
            meta.pop("resourceVersion", None)
            self._prepare(res, body, applied=applied is not None)
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=_now())
            if res.custom or res.kind == "CustomResourceDefinition":
                meta["generation"] = 1
            self._record_fields(res, None, body, manager, applied, None)
            if res.kind == "CustomResourceDefinition" and not dry_run:
                self._register_crd(body)
            if dry_run:
                return body  # no resourceVersion: nothing was stored (as the real server answers)
            meta["resourceVersion"] = self.store.next_rv()
            self.store.objects[key] = body
            self._emit("ADDED", res, body)
            return copy.deepcopy(body)

    def _record_fields(self, res, old, new, manager, applied, subresource):
        """Set ``new``'s ``metadata.managedFields`` after a write (``old`` None on create).

        An apply brings its Managers; another client write (``manager``) takes the fields it
        changed, starting from the managedFields it sent when they are valid (as the real server
        lets a client rewrite them), else the stored ones; an internal write changes no owner.
        """
        meta = new["metadata"]
        stored = ((old or {}).get("metadata") or {}).get("managedFields")
        if applied is None and meta.get("managedFields") in ([], [{}]):
            meta.pop("managedFields")  # a client's reset: no owners at all, not even this write
            return
        if applied is None and not manager:
            if stored:
                meta["managedFields"] = copy.deepcopy(stored)
            else:
                meta.pop("managedFields", None)
            return
        managers = applied
        if managers is None:
            given = meta.get("managedFields")
            start = given if fields.Managers.valid(given) and given != stored else stored
            skip_status = res.status and not res.main_writes_status and subresource != "status"
            managers = fields.update(old, new, start, manager, res.api_version, skip_status, res.field_schema)
        listing = managers.to_list()
        if listing:
            meta["managedFields"] = listing
        else:
            meta.pop("managedFields", None)

    def _get(self, res, namespace, name):
        obj = self.store.objects.get(self._key(res, namespace, name))
        if obj is None:
            raise ApiError(404, "NotFound", '%s "%s" not found' % (
                "%s.%s" % (res.plural, res.group) if res.group else res.plural, name),
                {"name": name, "group": res.group, "kind": res.plural})
        return obj

    def _update(self, res, namespace, name, body, subresource, dry_run, check_rv=True, manager=None,
                applied=None, patch=False):
        """Replace the object (or its status) with ``body``.

        ``check_rv``: a client's write (a PUT must carry the resourceVersion of a custom resource; a
        stale one is 409); ``patch``: ``body`` is the result of a patch or an apply (a foreign uid is
        then 422, as validation finds it, where a PUT's uid is a precondition: 409). ``manager`` /
        ``applied``: see :meth:`_record_fields`.
        """
        with self.store.lock:
            old = self._get(res, namespace, name)
            meta = body.setdefault("metadata", {})
            if meta.get("name", name) != name:
                raise ApiError(400, "BadRequest", "the name of the object (%s) does not match the name on the URL (%s)"
                               % (meta.get("name"), name))
            if check_rv:
                self._check_preconditions(res, old, meta, patch)
            if subresource == "status":
                new = copy.deepcopy(old)
                new["status"] = body.get("status")
                new["metadata"]["managedFields"] = meta.get("managedFields", old["metadata"].get("managedFields"))
            else:
                new = body
                if res.status and not res.main_writes_status:
                    new["status"] = copy.deepcopy(old.get("status"))
                    if new["status"] is None:
                        new.pop("status")
                for k in ("uid", "creationTimestamp", "generation", "deletionTimestamp", "namespace"):
                    if k in old["metadata"]:
                        meta[k] = old["metadata"][k]
                meta["name"] = name
            self._prepare(res, new, applied=applied is not None)
            new_meta, old_meta = new["metadata"], old["metadata"]
            if _spec_of(new) != _spec_of(old) and "generation" in old_meta:
                new_meta["generation"] = old_meta["generation"] + 1
            self._record_fields(res, old, new, manager, applied, subresource)
            if _comparable(new) == _comparable(old):
                new_meta["resourceVersion"] = old_meta["resourceVersion"]
                return copy.deepcopy(old)  # no-op updates keep the resourceVersion, as the real server does
            new_meta["resourceVersion"] = old_meta["resourceVersion"]
            if dry_run:
                return new
            new_meta["resourceVersion"] = self.store.next_rv()
            key = self._key(res, namespace, name)
            if new_meta.get("deletionTimestamp") and not new_meta.get("finalizers"):
                del self.store.objects[key]
                self._emit("DELETED", res, new)
                return new
            self.store.objects[key] = new
            if res.kind == "CustomResourceDefinition" and subresource != "status":
                self._register_crd(new)
            self._emit("MODIFIED", res, new)
            return copy.deepcopy(new)

    @staticmethod
    def _check_preconditions(res, old, meta, patch):
        """The checks of a client's update, in the real server's order: uid, then resourceVersion."""
        uid, rv = meta.get("uid"), meta.get("resourceVersion")
        if uid and uid != old["metadata"]["uid"]:
            raise _uid_immutable(res, old, uid) if patch else _uid_precondition_failed(res, old, uid)
        if not rv and (res.custom or res.kind == "CustomResourceDefinition"):
            raise _rv_required(res, old)
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the object has been '
                           "modified; please apply your changes to the latest version and try again"
                           % (_qualified(res), old["metadata"]["name"]), _details(res, old))

    def _delete(self, res, namespace, name, dry_run):
        with self.store.lock:
            obj = self._get(res, namespace, name)
            if dry_run:
                return obj
            key = self._key(res, namespace, name)
            if obj["metadata"].get("finalizers"):
                if not obj["metadata"].get("deletionTimestamp"):
                    obj["metadata"]["deletionTimestamp"] = _now()
                    obj["metadata"]["resourceVersion"] = self.store.next_rv()
                    self._emit("MODIFIED", res, obj)
                return copy.deepcopy(obj)
            del self.store.objects[key]
            obj["metadata"]["resourceVersion"] = self.store.next_rv()
            if res.kind == "CustomResourceDefinition":
                self._unregister_crd(obj)
            if res.kind == "Namespace":
                for k in [k for k in self.store.objects if k[2] == name]:
                    del self.store.objects[k]
            self._emit("DELETED", res, obj)
            if res.kind in RETURN_DELETED_OBJECT:
                return copy.deepcopy(obj)
            return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": {"name": name, "group": res.group, "kind": res.plural, "uid": obj["metadata"]["uid"]}}

    def _list(self, res, namespace, query):
        with self.store.lock:
            items = [copy.deepcopy(o) for (g, p, ns, _n), o in sorted(self.store.objects.items(), key=lambda kv: str(kv[0]))
                     if g == res.group and p == res.plural and (namespace is None or ns == namespace)
                     and match_labels(o["metadata"].get("labels") or {}, query.get("labelSelector"))
                     and match_fields(o, query.get("fieldSelector"))]
            for item in items:
                item["apiVersion"], item["kind"] = res.api_version, res.kind
            return {"apiVersion": res.api_version, "kind": res.kind + "List",
                    "metadata": {"resourceVersion": str(self.store.rv)}, "items": items}

    def _patch(self, res, namespace, name, ctype, body, subresource, query, dry_run, manager):
        ctype = (ctype or "").split(";")[0].strip()
        if "force" in query:
            raise _invalid_patch_options("force", "Forbidden", "may not be specified for non-apply patch")
        data = json.loads(body or b"null")
        with self.store.lock:
            old = self._get(res, namespace, name)
            if ctype == "application/merge-patch+json":
                new = merge_patch(old, data)
            elif ctype == "application/json-patch+json":
                new = json_patch(old, data)
            elif ctype == "application/strategic-merge-patch+json":
                if res.custom:
                    raise ApiError(415, "UnsupportedMediaType",
                                   "the body of the request was in an unknown format - accepted media types "
                                   "include: application/json-patch+json, application/merge-patch+json, "
                                   "application/apply-patch+yaml")
                new = merge_patch(old, data)
            else:
                raise ApiError(415, "UnsupportedMediaType", "unsupported patch type %r" % ctype)
            rv_in_patch = (data.get("metadata") or {}).get("resourceVersion") if isinstance(data, dict) else None
            if not rv_in_patch:
                new.setdefault("metadata", {})["resourceVersion"] = old["metadata"]["resourceVersion"]
            return self._update(res, namespace, name, new, subresource, dry_run, manager=manager, patch=True)

    def _apply(self, res, namespace, name, body, subresource, query, dry_run):
        """Server-side apply (``application/apply-patch+yaml``): create, or merge with field ownership."""
        manager = query.get("fieldManager")
        if not manager:
            raise _invalid_patch_options("fieldManager", "Required", "is required for apply patch")
        config = yaml.safe_load(body) or {}
        if not isinstance(config, dict):
            raise ApiError(400, "BadRequest", "the body of an apply patch must be an object")
        if config.get("apiVersion") != res.api_version:
            raise ApiError(400, "BadRequest", "Incorrect version specified in apply patch. Specified patch version: "
                           "%s, expected: %s" % (config.get("apiVersion") or "", res.api_version))
        if (config.get("metadata") or {}).get("managedFields") is not None:
            raise ApiError(400, "BadRequest", "metadata.managedFields must be nil")
        config = _drop_nulls(config)
        force = query.get("force") in ("true", "1")
        skip_status = res.status and not res.main_writes_status and subresource != "status"
        with self.store.lock:
            key = self._key(res, namespace, name)
            old = self.store.objects.get(key)
            if old is None and subresource:
                self._get(res, namespace, name)  # 404
            live = copy.deepcopy(old) if old is not None else {}
            merged, managers = fields.apply(live, config, (live.get("metadata") or {}).get("managedFields"),
                                            manager, res.api_version, force, skip_status, res.field_schema)
            if old is None:
                merged.setdefault("metadata", {})["name"] = name
                return 201, self._create(res, namespace, merged, dry_run, applied=managers)
            return 200, self._update(res, namespace, name, merged, subresource, dry_run, applied=managers,
                                     patch=True)

    def _watch(self, handler, res, namespace, query):
        since = int(query.get("resourceVersion") or 0)
        timeout = min(float(query.get("timeoutSeconds") or 30), 300)
        deadline = datetime.datetime.now().timestamp() + timeout
        handler.start_chunked()
        pending = []
        with self.store.lock:
            if not query.get("resourceVersion"):
                listed = self._list(res, namespace, query)
                pending = [("ADDED", o) for o in listed["items"]]
                since = self.store.rv
        try:
            for kind, obj in pending:
                handler.write_chunk(json.dumps({"type": kind, "object": obj}).encode() + b"\n")
            while True:
                with self.store.lock:
                    left = deadline - datetime.datetime.now().timestamp()
                    fresh = [e for e in self.store.events if e[0] > since and e[2] == (res.group, res.plural)]
                    if not fresh:
                        if left <= 0 or self.httpd is None:
                            break
                        self.store.lock.wait(min(left, 1.0))
                        continue
                for rv, kind, _key, obj in fresh:
                    since = rv
                    meta = obj["metadata"]
                    if namespace and meta.get("namespace") != namespace:
                        continue
                    if not (match_labels(meta.get("labels") or {}, query.get("labelSelector"))
                            and match_fields(obj, query.get("fieldSelector"))):
                        continue
                    handler.write_chunk(json.dumps({"type": kind, "object": obj}).encode() + b"\n")
            handler.write_chunk(b"")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            handler.close_connection = True  # the watcher went away

    # ----- discovery ----------------------------------------------------------------------------
    def _discovery(self, parts):
        if parts == ["version"]:
            return dict(VERSION)
        if parts == ["api"]:
            return {"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}
        if parts == ["apis"]:
            groups = {}
            for (g, v, _p) in self.resources:
                if g:
                    groups.setdefault(g, []).append(v)
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": [{"groupVersion": "%s/%s" % (g, v), "version": v} for v in sorted(set(vs))],
                 "preferredVersion": {"groupVersion": "%s/%s" % (g, sorted(set(vs))[-1]), "version": sorted(set(vs))[-1]}}
                for g, vs in sorted(groups.items())]}
        if len(parts) == 2 and parts[0] == "apis":
            versions = sorted({v for (g, v, _p) in self.resources if g == parts[1]})
            if not versions:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return {"kind": "APIGroup", "apiVersion": "v1", "name": parts[1],
                    "versions": [{"groupVersion": "%s/%s" % (parts[1], v), "version": v} for v in versions],
                    "preferredVersion": {"groupVersion": "%s/%s" % (parts[1], versions[-1]), "version": versions[-1]}}
        group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
        listing = []
        for (g, v, p), res in sorted(self.resources.items()):
            if g == group and v == version:
                verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
                listing.append({"name": p, "singularName": res.singular, "namespaced": res.namespaced,
                                "kind": res.kind, "verbs": verbs, "shortNames": res.short_names})
                if res.status:
                    listing.append({"name": p + "/status", "singularName": "", "namespaced": res.namespaced,
                                    "kind": res.kind, "verbs": ["get", "patch", "update"]})
        if not listing:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": "%s/%s" % (group, version) if group else version, "resources": listing}

    # ----- routing ------------------------------------------------------------------------------
    def handle(self, handler, method):
        url = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        parts = [p for p in url.path.split("/") if p]
        # the scheme is case-insensitive, as kube-apiserver's bearer token authenticator reads it
        # (the kubernetes client's in-cluster configuration sends "bearer")
        scheme, _sep, token = handler.headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self.token:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        if parts in (["version"], ["api"], ["apis"]) or (len(parts) == 2 and parts[0] in ("api", "apis")) \
                or (len(parts) == 3 and parts[0] == "apis"):
            if method != "GET":
                raise ApiError(405, "MethodNotAllowed", "method not allowed")
            if parts == ["api", "v1"] or len(parts) == 3 or parts == ["version"] or parts in (["api"], ["apis"]) \
                    or (len(parts) == 2 and parts[0] == "apis"):
                return 200, self._discovery(parts)
        if not parts or parts[0] not in ("api", "apis"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        else:
            group, version, rest = parts[1], parts[2], parts[3:]
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        res = self._resource(group, version, plural)
        if res.kind == "Pod" and sub == "exec" and method in ("GET", "POST"):
            with self.store.lock:
                pod = copy.deepcopy(self._get(res, namespace, name))
            command = parse_qs(url.query).get("command") or []
            if not command:
                raise ApiError(400, "BadRequest", "you must specify at least 1 command")
            execws.serve(handler, pod, command)
            return None, None
        if sub and not (sub == "status" and res.status):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        dry_run = query.get("dryRun") == "All"
        body = handler.body
        manager = query.get("fieldManager") or fields.manager_from_user_agent(handler.headers.get("User-Agent"))
        if method == "GET":
            if name:
                with self.store.lock:
                    obj = copy.deepcopy(self._get(res, namespace, name))
                obj["apiVersion"], obj["kind"] = res.api_version, res.kind
                return 200, obj
            if query.get("watch") in ("true", "1"):
                self._watch(handler, res, namespace, query)
                return None, None
            return 200, self._list(res, namespace, query)
        if method == "POST":
            obj = _identified(res, _object_body(body), body)
            return 201, self._create(res, namespace, obj, dry_run, manager=manager)
        if method == "PUT":
            obj = _identified(res, _object_body(body), body)
            return 200, self._update(res, namespace, name, obj, sub, dry_run, manager=manager)
        if method == "PATCH":
            if (handler.headers.get("Content-Type") or "").split(";")[0].strip() == APPLY_PATCH:
                return self._apply(res, namespace, name, body, sub, query, dry_run)
            return 200, self._patch(res, namespace, name, handler.headers.get("Content-Type"), body, sub, query,
                                    dry_run, manager)
        if method == "DELETE":
            return 200, self._delete(res, namespace, name, dry_run)
        raise ApiError(405, "MethodNotAllowed", "method not allowed")


def _spec_of(obj):
    """Everything but metadata and status: what bumps metadata.generation when it changes."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def _comparable(obj):
    """The object without its resourceVersion, to detect no-op writes (managedFields count: a
    manager that starts sharing a field changes the object)."""
    meta = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
    return dict(obj, metadata=meta)


def _qualified(res):
    """``plural.group`` (``plural`` for the core group), as Status messages name a resource."""
    return "%s.%s" % (res.plural, res.group) if res.group else res.plural


def _details(res, obj, kind=None, causes=None):
    details = {"name": obj["metadata"]["name"], "kind": kind or res.plural}
    if res.group:
        details["group"] = res.group
    if causes:
        details["causes"] = causes
    return details


def _uid_immutable(res, old, uid):
    """422 for a patch or an apply that names another uid: validation finds the field changed (twice:
    the real server's generic and kind checks both report it; the message lists it once)."""
    message = 'Invalid value: "%s": field is immutable' % uid
    kind = "%s.%s" % (res.kind, res.group) if res.group else res.kind
    cause = {"reason": "FieldValueInvalid", "message": message, "field": "metadata.uid"}
    return ApiError(422, "Invalid", '%s "%s" is invalid: metadata.uid: %s' % (kind, old["metadata"]["name"], message),
                    _details(res, old, res.kind, [cause, dict(cause)]))


def _uid_precondition_failed(res, old, uid):
    """409 for a PUT that names another uid: the body's uid is a precondition of the storage."""
    meta = old["metadata"]
    key = "/registry/%s%s/%s%s" % (res.group + "/" if res.group else "", res.plural,
                                   meta["namespace"] + "/" if res.namespaced else "", meta["name"])
    return ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": StorageError: invalid object, Code: 4, '
                    "Key: %s, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: %s, "
                    "UID in object meta: %s" % (_qualified(res), meta["name"], key, uid, meta["uid"]),
                    _details(res, old))


def _rv_required(res, old):
    """422 for a PUT of a custom resource without resourceVersion (no unconditional update)."""
    message = "Invalid value: 0x0: must be specified for an update"
    return ApiError(422, "Invalid", '%s "%s" is invalid: metadata.resourceVersion: %s'
                    % (_qualified(res), old["metadata"]["name"], message),
                    _details(res, old, causes=[{"reason": "FieldValueInvalid", "message": message,
                                                "field": "metadata.resourceVersion"}]))


def _object_body(body):
    """The JSON object of a create or update."""
    obj = json.loads(body or b"{}")
    if not isinstance(obj, dict):
        raise ApiError(400, "BadRequest", "the body of the request must be a JSON object")
    return obj


def _identified(res, obj, raw):
    """``obj`` when its apiVersion and kind fit ``res``; a custom resource's body must name both (the
    real server decodes it as unstructured), a core kind's may leave them out."""
    version, kind = obj.get("apiVersion"), obj.get("kind")
    if res.custom and not kind:
        text = (raw or b"").decode("utf-8", "replace")
        raise ApiError(400, "BadRequest", "%s in version \"%s\" cannot be handled as a %s: unmarshalerDecoder: "
                       "Object 'Kind' is missing in '%s', error found in #10 byte of ...|%s|..., bigger context "
                       "...|%s|..." % (res.kind, res.version, res.kind, text, text[-10:], text[-50:]))
    if res.custom and not version:
        message = "Object 'apiVersion' is missing in 'object has no apiVersion field'"
        raise ApiError(500, "InternalError", "Internal error occurred: %s" % message,
                       {"causes": [{"message": message}]})
    if version and version != res.api_version:
        raise ApiError(400, "BadRequest", "the API version in the data (%s) does not match the expected API version "
                       "(%s)" % (version, res.api_version))
    if kind and kind != res.kind:
        name = (obj.get("metadata") or {}).get("name", "")
        cause = {"reason": "FieldValueInvalid", "message": 'Invalid value: "%s": must be %s' % (kind, res.kind),
                 "field": "kind"}
        details = {"name": name, "kind": kind, "causes": [cause]}
        if res.group:
            details["group"] = res.group
        raise ApiError(422, "Invalid", '%s%s "%s" is invalid: kind: %s' % (
            kind, "." + res.group if res.group else "", name, cause["message"]), details)
    return obj


def _invalid_patch_options(field, reason, detail):
    """422 for bad PatchOptions (fieldManager missing on an apply, force on another patch)."""
    message = "%s value: %s" % (reason, detail) if reason == "Required" else "%s: %s" % (reason, detail)
    return ApiError(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: %s: %s' % (field, message),
                    {"group": "meta.k8s.io", "kind": "PatchOptions",
                     "causes": [{"reason": "Field" + ("ValueRequired" if reason == "Required" else "ValueForbidden"),
                                 "message": message, "field": field}]})


_BASE64 = re.compile(r"[A-Za-z0-9+/]")


def _check_base64(value):
    """400 for Secret data that is not standard base64, worded as the real server's decoder."""
    try:
        base64.b64decode(value, validate=True)
        return
    except (ValueError, TypeError):
        pass
    text = value if isinstance(value, str) else ""
    bad = next((i for i, ch in enumerate(text.rstrip("=")) if not _BASE64.match(ch)), None)
    if bad is None:
        bad = len(text) - len(text) % 4 if len(text) % 4 else len(text.rstrip("="))
    raise ApiError(400, "BadRequest", 'Secret in version "v1" cannot be handled as a Secret: '
                   "v1.Secret.Data: decode base64: illegal base64 data at input byte %d" % bad)


def _drop_nulls(value):
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _handler(server):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body leave in separate writes: with Nagle on, every answer on a kept-alive
        # connection waited for the client's delayed ACK (~40 ms a request)
        disable_nagle_algorithm = True

        def log_message(self, fmt, *args):  # quiet
            return

        def read_body(self):
            """The request body (all of it: an answer must not leave part of it on the connection)."""
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                return self._read_chunked()
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                self.close_connection = True
                return b""
            return self.rfile.read(length) if length > 0 else b""

        def _read_chunked(self):
            data = b""
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    self.close_connection = True
                    return data
                if size == 0:
                    while self.rfile.readline(1024).strip():  # trailers, up to the blank line
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline(1024)  # the CRLF after the chunk

        def start_chunked(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

        def write_chunk(self, data):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        def _serve(self, method):
            self.body = self.read_body()
            try:
                code, payload = server.handle(self, method)
                if code is None:
                    return
            except ApiError as exc:
                code, payload = exc.code, exc.status()
            except (ValueError, yaml.YAMLError) as exc:
                code, payload = 400, ApiError(400, "BadRequest", "invalid body: %s" % exc).status()
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._serve("GET")

        def do_POST(self):
            self._serve("POST")

        def do_PUT(self):
            self._serve("PUT")

        def do_PATCH(self):
            self._serve("PATCH")

        def do_DELETE(self):
            self._serve("DELETE")

    return Handler
