"""A real kube-apiserver v1.20 with etcd on loopback, for the integration tests beside the test server.

The binaries come from ``scripts/kube-real.sh build`` (cache dir ``$TENREC_KUBE_CACHE``, default
``/var/cache/tenrec/kube-real-v1.20.2``: ``bin/kube-apiserver``, ``bin/etcd``, ``.complete``).

Use::

    if not missing():
        server = RealKubeAPIServer(crd_dir="../shared/crds", state_dir=tmp, namespaces=("openstack",)).start()
        server.url, server.token, server.ca_file, server.write_kubeconfig(path)
        server.removed   # {crd name: [JSON paths the loader removed for v1.20]}
        server.stop()

There is no controller-manager and no kubelet: the server creates each namespace of ``namespaces``
with a ServiceAccount ``default`` and its token Secret (what the token controller would do), so Pods
can be created; nothing runs them. CustomResourceDefinitions are loaded after :func:`strip_for_v120`
removed what v1.20 refuses.
"""

import copy
import datetime
import glob
import ipaddress
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

import yaml

VERSION = "1.20.2"
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~20x faster on 4 MB of CRDs
ADMIN_USER = "tenrec-admin"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"


def cache_dir():
    """The cache dir of scripts/kube-real.sh (str): ``$TENREC_KUBE_CACHE`` or the default by version."""
    return os.environ.get("TENREC_KUBE_CACHE") or "/var/cache/tenrec/kube-real-v%s" % VERSION


def missing():
    """"" when the built binaries are there (with the ``.complete`` stamp), else what is missing (str)."""
    base = cache_dir()
    for path, executable in ((os.path.join(base, ".complete"), False),
                             (os.path.join(base, "bin", "kube-apiserver"), True),
                             (os.path.join(base, "bin", "etcd"), True)):
        if not os.path.isfile(path) or (executable and not os.access(path, os.X_OK)):
            return "no %s" % path
    return ""


# ----- the CRD loader ----------------------------------------------------------------------------

# Schema keywords that hold sub-schemas: name -> "one" (a schema), "map" (name -> schema) or "list".
_SUBSCHEMAS = {"properties": "map", "patternProperties": "map", "definitions": "map", "dependencies": "map",
               "additionalProperties": "one", "additionalItems": "one", "not": "one", "items": "one",
               "allOf": "list", "anyOf": "list", "oneOf": "list"}
# Keywords v1.20 does not know (it drops or refuses them): CEL rules (1.25+).
_NEWER_KEYWORDS = ("x-kubernetes-validations",)
# Fields of a CRD version newer than v1.20.
_NEWER_VERSION_FIELDS = ("selectableFields",)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def _path(parts):
    """JSON path text of ``parts`` (keys and list indexes): ``$.spec.versions[0].schema...``."""
    text = "$"
    for part in parts:
        if isinstance(part, int):
            text += "[%d]" % part
        elif _IDENT.match(part):
            text += "." + part
        else:
            text += "[%s]" % json.dumps(part)
    return text


def _walk(schema, parts, visit):
    """Call ``visit(node, parts)`` on every schema node under ``schema`` (parents first)."""
    if not isinstance(schema, dict):
        return
    visit(schema, parts)
    for key, shape in _SUBSCHEMAS.items():
        sub = schema.get(key)
        if shape == "map" and isinstance(sub, dict):
            for name, child in sub.items():
                _walk(child, parts + [key, name], visit)
        elif shape == "list" and isinstance(sub, list):
            for index, child in enumerate(sub):
                _walk(child, parts + [key, index], visit)
        elif shape == "one" and isinstance(sub, dict):
            _walk(sub, parts + [key], visit)
        elif key == "items" and isinstance(sub, list):
            for index, child in enumerate(sub):
                _walk(child, parts + [key, index], visit)


def _rejected_empty_default(node):
    """Whether v1.20 refuses ``default: ""`` on this string schema: the default fails its own checks."""
    if node.get("default") != "" or node.get("type") not in ("string", None):
        return False
    if node.get("minLength", 0) > 0 or "enum" in node and "" not in node["enum"]:
        return True
    pattern = node.get("pattern")
    if pattern is not None:
        try:
            return re.search(pattern, "") is None
        except re.error:
            return True
    return False


def strip_for_v120(crd):
    """Return ``(copy of crd, removed)`` with what kube-apiserver v1.20 cannot take removed.

    ``crd`` is a CustomResourceDefinition (apiextensions.k8s.io/v1, a dict as loaded from YAML); it is
    not changed. ``removed`` is the list of JSON paths (str, ``$.spec.versions[0].schema.openAPIV3Schema
    .properties.spec...``) that were removed:

    * ``x-kubernetes-validations`` (CEL rules, 1.25+) anywhere in a version's schema;
    * ``default: ""`` where the empty string fails the field's own ``minLength``/``pattern``/``enum``
      (v1.20 validates defaults against the schema; newer servers do too, so this is rare);
    * ``selectableFields`` of a version (1.30+);
    * server-set fields (``status``, ``metadata.resourceVersion``/``uid``/``creationTimestamp``/
      ``generation``/``managedFields``), which a create must not carry.

    Not fixable here: v1.20 builds no typed (server-side apply) schema for a CRD with an
    ``x-kubernetes-int-or-string`` field (its OpenAPI builder turns it into ``anyOf``, then fails with
    "error building openapi models ... has invalid property: anyOf" in the log, even without an
    ``anyOf`` in the CRD), so server-side apply on such CRDs runs without one (no list merge keys).

    More ``default`` values v1.20 refuses are found by :meth:`RealKubeAPIServer.load_crd` from the
    server's 422 answer and removed there.
    """
    crd = copy.deepcopy(crd)
    removed = []
    for key in ("status",):
        if key in crd:
            del crd[key]
            removed.append(_path([key]))
    meta = crd.get("metadata") or {}
    for key in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "selfLink"):
        if key in meta:
            del meta[key]
            removed.append(_path(["metadata", key]))
    for index, version in enumerate((crd.get("spec") or {}).get("versions") or []):
        for key in _NEWER_VERSION_FIELDS:
            if key in version:
                del version[key]
                removed.append(_path(["spec", "versions", index, key]))
        schema = (version.get("schema") or {}).get("openAPIV3Schema")

        def visit(node, parts):
            for key in _NEWER_KEYWORDS:
                if key in node:
                    del node[key]
                    removed.append(_path(parts + [key]))
            if _rejected_empty_default(node):
                del node["default"]
                removed.append(_path(parts + ["default"]))

        _walk(schema, ["spec", "versions", index, "schema", "openAPIV3Schema"], visit)
    return crd, removed


_FIELD_PART = re.compile(r"\.?([^.\[\]]+)((?:\[[^\]]*\])*)")


def _schema_node(crd, field):
    """``(parent dict, key, path parts)`` of what a v1.20 validation cause ``field`` names in ``crd``, or None.

    ``field`` looks like ``spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[a].default``
    (property names in brackets, unquoted; list indexes in brackets).
    """
    parts = []
    for match in _FIELD_PART.finditer(field):
        parts.append(match.group(1))
        for sub in re.findall(r"\[([^\]]*)\]", match.group(2)):
            keyed = parts[-1] in ("properties", "patternProperties", "definitions", "dependencies")
            parts.append(int(sub) if sub.isdigit() and not keyed else sub)
    node = crd
    for part in parts[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    if isinstance(node, dict) and parts and parts[-1] in node:
        return node, parts[-1], parts
    return None


# ----- the server --------------------------------------------------------------------------------

def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent(argv):
    """``argv`` run through util-linux setpriv so the child gets SIGTERM when its starter dies.

    Leaked etcd/kube-apiserver processes would outlive a killed test run otherwise. Without setpriv,
    ``argv`` as it is.
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--"] + argv if setpriv else argv


def _tail(path, lines=40):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError as error:
        return "(no log: %s)\n" % error


class RealKubeAPIServer:
    """kube-apiserver v1.20 + etcd 3.4 on 127.0.0.1, started by :meth:`start`, ended by :meth:`stop`.

    Arguments: ``crd_dir`` (str or None): a folder whose ``*.yaml`` CustomResourceDefinitions are
    loaded; ``state_dir`` (str): where etcd data, certificates, keys and the logs ``etcd.log`` and
    ``kube-apiserver.log`` go (a temporary dir when None); ``namespaces`` (iterable of str): created,
    each with a ServiceAccount ``default``; ``token`` (str): the bearer token of the user
    ``tenrec-admin``; ``authorization_mode``: ``"AlwaysAllow"`` (default; anonymous requests are 401)
    or ``"RBAC"`` (``tenrec-admin`` is then in group ``system:masters``; anonymous requests get what
    RBAC gives ``system:anonymous``); ``users`` (dict token -> (user name, [groups])): more token
    users, e.g. unprivileged ones for 403 tests under RBAC; ``timeout`` (seconds) for each wait of
    :meth:`start`; ``extra_args`` (list of str): more kube-apiserver flags.

    Attributes after start: ``name`` ("real"), ``url`` (``https://127.0.0.1:PORT``), ``token``,
    ``ca_file`` (PEM of the CA of the serving certificate), ``etcd_url``, ``removed`` (dict CRD name ->
    list of JSON paths the loader removed), ``crds`` (list of CRD names loaded), ``startup_seconds``
    (float, the time :meth:`start` took), ``timings`` (dict step -> seconds: pki, etcd, kube-apiserver,
    namespaces, crds).
    """

    name = "real"

    def __init__(self, crd_dir=None, state_dir=None, namespaces=("default",), token="tenrec-test-token",
                 authorization_mode="AlwaysAllow", users=None, timeout=120.0, extra_args=()):
        if authorization_mode not in ("AlwaysAllow", "RBAC"):
            raise ValueError("authorization_mode must be AlwaysAllow or RBAC, not %r" % (authorization_mode,))
        if state_dir is None:
            import tempfile
            state_dir = tempfile.mkdtemp(prefix="kube-real-")
        self.crd_dir = crd_dir
        self.state_dir = os.path.abspath(state_dir)
        self.namespaces = tuple(namespaces)
        self.token = token
        self.authorization_mode = authorization_mode
        self.users = dict(users or {})
        self.timeout = timeout
        self.extra_args = list(extra_args)
        self.bin_dir = os.path.join(cache_dir(), "bin")
        self.ca_file = os.path.join(self.state_dir, "pki", "ca.crt")
        self.etcd_log = os.path.join(self.state_dir, "etcd.log")
        self.apiserver_log = os.path.join(self.state_dir, "kube-apiserver.log")
        self.url = self.etcd_url = None
        self.removed = {}
        self.crds = []
        self.startup_seconds = None
        self.timings = {}
        self._etcd = self._apiserver = None
        self._ssl = None

    # ----- life cycle ------------------------------------------------------------------------------
    def start(self):
        """Start etcd and kube-apiserver, create the namespaces, load the CRDs; return self.

        Blocks until /readyz answers ok and every CRD is Established and served in discovery (each
        wait at most ``timeout`` seconds). Raises RuntimeError (with the last 40 lines of the
        apiserver log, or of the etcd log when etcd did not come up) when the binaries are missing,
        a process exits or a wait times out, and ValueError/RuntimeError when a CRD cannot be loaded;
        the processes are stopped then.
        """
        begin = time.monotonic()
        why = missing()
        if why:
            raise RuntimeError("real kube-apiserver not built (%s): run scripts/kube-real.sh build" % why)
        os.makedirs(os.path.join(self.state_dir, "pki"), exist_ok=True)
        self.timings = {}
        try:
            for step, run in (("pki", self._write_pki), ("etcd", self._start_etcd),
                              ("kube-apiserver", self._start_apiserver), ("namespaces", self._create_namespaces),
                              ("crds", self._load_crd_dir)):
                started = time.monotonic()
                run()
                self.timings[step] = round(time.monotonic() - started, 2)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - begin
        print("real kube-apiserver: %s up in %.1f s (%s)" % (self.url, self.startup_seconds, ", ".join(
            "%s %.1f s" % item for item in self.timings.items())), file=sys.stderr)
        return self

    def _create_namespaces(self):
        for namespace in self.namespaces:
            self.create_namespace(namespace)

    def _load_crd_dir(self):
        if self.crd_dir:
            self.load_crds(self.crd_dir)

    def stop(self):
        """Terminate kube-apiserver, then etcd (SIGTERM by pid, SIGKILL after 15 s), and wait for them."""
        for attr in ("_apiserver", "_etcd"):
            process = getattr(self, attr)
            if process is None:
                continue
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            setattr(self, attr, None)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _spawn(self, argv, log):
        handle = open(log, "ab")  # pylint: disable=consider-using-with
        try:
            return subprocess.Popen(_die_with_parent(argv), stdin=subprocess.DEVNULL, stdout=handle,
                                    stderr=subprocess.STDOUT, cwd=self.state_dir, close_fds=True)
        finally:
            handle.close()

    def _fail(self, what, log):
        raise RuntimeError("%s; last 40 lines of %s:\n%s" % (what, log, _tail(log)))

    def _start_etcd(self):
        client, peer = _free_port(), _free_port()
        self.etcd_url = "http://127.0.0.1:%d" % client
        peer_url = "http://127.0.0.1:%d" % peer
        self._etcd = self._spawn([
            os.path.join(self.bin_dir, "etcd"), "--name=tenrec", "--data-dir=%s" % os.path.join(self.state_dir, "etcd"),
            "--listen-client-urls=%s" % self.etcd_url, "--advertise-client-urls=%s" % self.etcd_url,
            "--listen-peer-urls=%s" % peer_url, "--initial-advertise-peer-urls=%s" % peer_url,
            "--initial-cluster=tenrec=%s" % peer_url, "--initial-cluster-state=new",
            "--logger=zap", "--log-outputs=stderr", "--log-level=warn",
            "--quota-backend-bytes=%d" % (2 * 1024 ** 3), "--snapshot-count=100000",
        ], self.etcd_log)
        deadline = time.monotonic() + self.timeout
        while True:
            if self._etcd.poll() is not None:
                self._fail("etcd exited with %s" % self._etcd.returncode, self.etcd_log)
            try:
                with urllib.request.urlopen(self.etcd_url + "/health", timeout=5) as answer:
                    if json.loads(answer.read()).get("health") == "true":
                        return
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                self._fail("etcd not healthy after %.0f s" % self.timeout, self.etcd_log)
            time.sleep(0.2)

    def _start_apiserver(self):
        port = _free_port()
        self.url = "https://127.0.0.1:%d" % port
        pki = os.path.join(self.state_dir, "pki")
        argv = [
            os.path.join(self.bin_dir, "kube-apiserver"),
            "--etcd-servers=%s" % self.etcd_url,
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port=%d" % port,
            "--insecure-port=0",
            "--tls-cert-file=%s" % os.path.join(pki, "apiserver.crt"),
            "--tls-private-key-file=%s" % os.path.join(pki, "apiserver.key"),
            "--cert-dir=%s" % pki,
            "--token-auth-file=%s" % os.path.join(pki, "tokens.csv"),
            "--authorization-mode=%s" % self.authorization_mode,
            "--anonymous-auth=%s" % ("true" if self.authorization_mode == "RBAC" else "false"),
            "--service-account-key-file=%s" % os.path.join(pki, "sa.pub"),
            "--service-account-signing-key-file=%s" % os.path.join(pki, "sa.key"),
            "--service-account-issuer=%s" % SERVICE_ACCOUNT_ISSUER,
            "--api-audiences=%s" % SERVICE_ACCOUNT_ISSUER,
            "--service-cluster-ip-range=10.96.0.0/24",
            # The Endpoints of Service "kubernetes" may not be loopback addresses: do not reconcile them
            # (the Service is still created).
            "--endpoint-reconciler-type=none",
            "--allow-privileged=true",
            "--profiling=false",
            "--v=1",
        ] + self.extra_args
        self._apiserver = self._spawn(argv, self.apiserver_log)
        deadline = time.monotonic() + self.timeout
        while True:
            if self._apiserver.poll() is not None:
                self._fail("kube-apiserver exited with %s" % self._apiserver.returncode, self.apiserver_log)
            try:
                status, body = self._request("GET", "/readyz", raw=True, timeout=5)
                if status == 200 and body.strip() == b"ok":
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self._fail("kube-apiserver not ready after %.0f s" % self.timeout, self.apiserver_log)
            time.sleep(0.25)

    # ----- certificates, keys, tokens --------------------------------------------------------------
    def _write_pki(self):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec, rsa
        from cryptography.x509.oid import NameOID

        pki = os.path.join(self.state_dir, "pki")
        now = datetime.datetime.now(datetime.timezone.utc)

        def pem_key(key):
            return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())

        def write(name, data, mode=0o600):
            path = os.path.join(pki, name)
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as handle:
                handle.write(data)

        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tenrec-kube-real-ca")])
        ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
              .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=30))
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
              .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
              .sign(ca_key, hashes.SHA256()))
        key = ec.generate_private_key(ec.SECP256R1())
        sans = [x509.DNSName("localhost"), x509.DNSName("kubernetes"), x509.DNSName("kubernetes.default"),
                x509.DNSName("kubernetes.default.svc"), x509.DNSName("kubernetes.default.svc.cluster.local"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(ipaddress.ip_address("10.96.0.1"))]
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
                .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
                .sign(ca_key, hashes.SHA256()))
        write("ca.crt", ca.public_bytes(serialization.Encoding.PEM), 0o644)
        write("apiserver.crt", cert.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM),
              0o644)
        write("apiserver.key", pem_key(key))
        sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        write("sa.key", pem_key(sa_key))
        write("sa.pub", sa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo), 0o644)
        admin_groups = ["system:masters"] if self.authorization_mode == "RBAC" else []
        rows = [(self.token, ADMIN_USER, admin_groups)] + [
            (token, user, list(groups)) for token, (user, groups) in self.users.items()]
        lines = []
        for token, user, groups in rows:
            if any(c in token + user for c in ',"\n'):
                raise ValueError("token and user name must not hold commas, quotes or newlines: %r" % user)
            lines.append('%s,%s,%s,"%s"' % (token, user, user, ",".join(groups)))
        write("tokens.csv", ("\n".join(lines) + "\n").encode())
        self._ssl = ssl.create_default_context(cafile=self.ca_file)

    # ----- requests --------------------------------------------------------------------------------
    def _request(self, method, path, body=None, raw=False, timeout=30, token=None):
        """(status, decoded JSON or bytes when ``raw``) of one request with the admin token."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": "Bearer %s" % (token or self.token), "Accept": "application/json",
            "Content-Type": "application/json", "User-Agent": "tenrec-real-kubeapi"})
        try:
            with urllib.request.urlopen(request, context=self._ssl, timeout=timeout) as answer:
                status, content = answer.status, answer.read()
        except urllib.error.HTTPError as error:
            status, content = error.code, error.read()
        if raw:
            return status, content
        try:
            return status, json.loads(content) if content else None
        except ValueError:
            return status, {"message": content.decode(errors="replace")}

    def request(self, method, path, body=None, token=None):
        """One JSON request to the server: ``(status int, decoded JSON body or None)``.

        ``path`` is absolute (``/api/v1/namespaces``); ``body`` a JSON-able value; ``token`` defaults
        to the admin token. Raises OSError when the server cannot be reached.
        """
        return self._request(method, path, body, token=token)

    def create_namespace(self, name):
        """Create namespace ``name`` (if absent) with a ServiceAccount ``default`` and its token Secret.

        Without kube-controller-manager nothing else creates them; the ServiceAccount admission of
        v1.20 refuses Pods whose ServiceAccount is missing or has no token Secret. Raises RuntimeError
        on an unexpected answer.
        """
        self._create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        base = "/api/v1/namespaces/%s" % name
        self._create(base + "/serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount",
                                                 "metadata": {"name": "default"}})
        status, account = self._request("GET", base + "/serviceaccounts/default")
        if status != 200:
            raise RuntimeError("GET serviceaccount %s/default: %s %s" % (name, status, account))
        if account.get("secrets"):
            return
        with open(self.ca_file, "rb") as handle:
            ca = handle.read()
        import base64
        secret = "default-token-tenrec"
        self._create(base + "/secrets", {
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
            "metadata": {"name": secret, "annotations": {
                "kubernetes.io/service-account.name": "default",
                "kubernetes.io/service-account.uid": account["metadata"]["uid"]}},
            "data": {"ca.crt": base64.b64encode(ca).decode(), "namespace": base64.b64encode(name.encode()).decode()}})
        account["secrets"] = [{"name": secret}]
        status, answer = self._request("PUT", base + "/serviceaccounts/default", account)
        if status != 200:
            raise RuntimeError("PUT serviceaccount %s/default: %s %s" % (name, status, answer))

    def _create(self, path, body):
        for _attempt in range(50):
            status, answer = self._request("POST", path, body)
            if status in (200, 201, 409):
                return answer
            # Right after /readyz, a new namespace may still be "being initialized" / forbidden.
            if status in (403, 404, 500, 503) and "namespace" in json.dumps(answer):
                time.sleep(0.2)
                continue
            break
        raise RuntimeError("POST %s: %s %s" % (path, status, answer))

    # ----- CRDs ------------------------------------------------------------------------------------
    def load_crds(self, crd_dir):
        """Load every CustomResourceDefinition in ``crd_dir``/*.yaml, then wait until all are served.

        Prints one line per CRD on stderr saying what the loader removed (also kept in ``removed``).
        Returns the list of CRD names. Raises RuntimeError when the server refuses a CRD (with the
        server's message) or a CRD is not Established and served after ``timeout`` seconds.
        """
        names = []
        for path in sorted(glob.glob(os.path.join(crd_dir, "*.yaml"))):
            with open(path, encoding="utf-8") as handle:
                docs = [doc for doc in yaml.load_all(handle, Loader=_YAML_LOADER) if isinstance(doc, dict)]
            for doc in docs:
                if doc.get("kind") == "CustomResourceDefinition":
                    names.append(self.load_crd(doc, source=os.path.basename(path), wait=False))
        self.wait_for_crds(names)
        return names

    def load_crd(self, crd, source=None, wait=True):
        """Create (or replace) one CRD (a dict) after :func:`strip_for_v120`; return its name.

        When v1.20 answers 422 naming ``default`` values it refuses, those are removed too and the
        create retried. ``wait``: also wait until it is Established and served. Raises RuntimeError
        when it is refused for anything else.
        """
        name = crd["metadata"]["name"]
        body, removed = strip_for_v120(crd)
        path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        for _attempt in range(100):
            status, answer = self._request("POST", path, body, timeout=120)
            if status == 409:
                status, current = self._request("GET", path + "/" + name)
                if status == 200:
                    body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                    status, answer = self._request("PUT", path + "/" + name, body, timeout=120)
                    del body["metadata"]["resourceVersion"]
            if status in (200, 201):
                break
            fixed = False
            if status == 422:
                for cause in (answer.get("details") or {}).get("causes") or []:
                    field = cause.get("field") or ""
                    if not field.endswith(".default"):
                        continue
                    found = _schema_node(body, field)
                    if found:
                        node, key, parts = found
                        del node[key]
                        removed.append(_path(parts))
                        fixed = True
            if not fixed:
                raise RuntimeError("CRD %s%s refused: %s %s" % (
                    name, " (%s)" % source if source else "", status, (answer or {}).get("message", answer)))
        self.removed[name] = removed
        self.crds.append(name)
        print("real kube-apiserver: CRD %s: %s" % (name, _summary(removed)), file=sys.stderr)
        if wait:
            self.wait_for_crds([name])
        return name

    def wait_for_crds(self, names):
        """Wait until each CRD of ``names`` is Established and every served version lists its plural.

        Raises RuntimeError after ``timeout`` seconds, naming the CRDs still waited for.
        """
        path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
        established = {}  # name -> CRD
        pending = list(names)
        deadline = time.monotonic() + self.timeout
        while pending:
            discovery = {}  # group/version -> set of resource names, one GET per pass
            still = []
            for name in pending:
                crd = established.get(name)
                if crd is None:
                    status, crd = self._request("GET", path + name)
                    conditions = {c.get("type"): c.get("status") for c in ((crd or {}).get("status") or {}).get(
                        "conditions") or []} if status == 200 else {}
                    if conditions.get("NamesAccepted") == "False":
                        raise RuntimeError("CRD %s: names not accepted: %s" % (name, crd["status"]))
                    if conditions.get("Established") != "True":
                        still.append(name)
                        continue
                    established[name] = crd = {"spec": crd["spec"]}
                if not self._served(crd, discovery):
                    still.append(name)
            pending = still
            if pending:
                if time.monotonic() > deadline:
                    raise RuntimeError("CRDs not Established/served after %.0f s: %s" % (self.timeout, pending))
                time.sleep(0.2)

    def _served(self, crd, discovery):
        group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
        for version in crd["spec"]["versions"]:
            if not version.get("served"):
                continue
            key = "%s/%s" % (group, version["name"])
            if key not in discovery:
                status, listing = self._request("GET", "/apis/" + key)
                discovery[key] = {r.get("name") for r in (listing or {}).get("resources") or []} \
                    if status == 200 else set()
            if plural not in discovery[key]:
                return False
        return True

    # ----- clients ---------------------------------------------------------------------------------
    def write_kubeconfig(self, path, token=None):
        """Write a kubeconfig for this server (context ``tenrec-lab``); return its path.

        As lab/kubeapi KubeAPIServer.write_kubeconfig: cluster ``tenrec-lab`` (``certificate-authority``
        = ``ca_file``), user ``tenrec-admin`` with ``token`` (default: the admin token), namespace
        ``openstack``; mode 0600.
        """
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "tenrec-lab",
            "clusters": [{"name": "tenrec-lab", "cluster": {"server": self.url, "certificate-authority": self.ca_file}}],
            "users": [{"name": "tenrec-admin", "user": {"token": token or self.token}}],
            "contexts": [{"name": "tenrec-lab", "context": {"cluster": "tenrec-lab", "user": "tenrec-admin",
                                                            "namespace": "openstack"}}],
        }
        with open(path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(config, handle)
        os.chmod(path, 0o600)
        return path


def _summary(removed):
    """One line: what was removed (counted by kind of path), or "removed nothing"."""
    if not removed:
        return "removed nothing"
    counts = {}
    for path in removed:
        key = re.sub(r"^.*[.\[]", "", path).strip('"]')
        counts[key] = counts.get(key, 0) + 1
    return "removed " + ", ".join("%d %s" % (n, k) for k, n in sorted(counts.items())) + " (%s%s)" % (
        removed[0], ", ..." if len(removed) > 1 else "")
