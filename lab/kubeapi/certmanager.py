"""The lab's stand-in for cert-manager: CA Issuers and the Certificates they sign.

``CertManager(server).start()`` plays cert-manager's controllers on a :class:`KubeAPIServer` that
serves the ``cert-manager.io/v1`` CRDs (it does nothing while they are not served):

* an ``Issuer`` with ``spec.ca.secretName`` is set ``Ready`` (reason ``KeyPairVerified``) when that
  Secret in its namespace holds a PEM CA certificate and key (``tls.crt``, ``tls.key``), else
  ``Ready=False`` (``ErrGetKeyPair`` / ``ErrInvalidKeyPair``) with cert-manager's message;
* a ``Certificate`` that is not Ready at its generation, whose Secret is missing or whose
  ``status.renewalTime`` has passed is issued: a new key (``spec.privateKey``: ``RSA`` 2048 by
  default, ``ECDSA`` 256, ``Ed25519``; ``rotationPolicy: Never`` keeps the Secret's key), a leaf
  signed by the Issuer's CA with the Certificate's ``commonName``, ``dnsNames``, ``ipAddresses``,
  ``uris``, ``emailAddresses``, ``usages`` (cert-manager's names mapped to KeyUsage /
  ExtendedKeyUsage, default ``digital signature`` + ``key encipherment``) and ``duration`` (Go
  duration, default ``2160h``; never past the CA's own expiry). It writes the Secret
  ``spec.secretName`` (type ``kubernetes.io/tls``, keys ``tls.crt`` = leaf plus any intermediate,
  ``tls.key``, ``ca.crt`` = the root; labels and annotations of ``spec.secretTemplate`` and
  cert-manager's ``cert-manager.io/*`` annotations) and the Certificate's status: ``Ready=True``
  (reason ``Ready``, ``observedGeneration``), ``notBefore``, ``notAfter``, ``renewalTime``
  (``renewBefore`` before expiry, default a third of the lifetime) and ``revision``;
* a Certificate whose Issuer is missing gets ``Ready=False`` reason ``IssuerNotFound``, one whose
  Issuer is not Ready ``IssuerNotReady``, each with a message naming the Issuer, as cert-manager's
  CertificateRequest reports it; it is issued as soon as the Issuer is usable.

Only namespaced ``Issuer`` references (group ``cert-manager.io``) are signed; ``ClusterIssuer`` and
external issuers are reported ``IssuerNotFound``.
"""

import base64
import copy
import datetime
import ipaddress
import re
import sys
import threading
import traceback

CERT = ("cert-manager.io", "v1", "certificates")
ISSUER = ("cert-manager.io", "v1", "issuers")
SECRET = ("", "v1", "secrets")
DEFAULT_DURATION = datetime.timedelta(hours=2160)
DEFAULT_USAGES = ("digital signature", "key encipherment")

_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def parse_duration(text):
    """Go ``time.ParseDuration`` text (``8760h``, ``1h30m``) as a timedelta; ValueError if invalid."""
    if not text or _GO_DURATION.sub("", text) != "":
        raise ValueError("invalid duration %r" % text)
    return datetime.timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in _GO_DURATION.findall(text)))


def _ts(when):
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_ts(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def _key_usages():
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

    key = {"signing": "digital_signature", "digital signature": "digital_signature",
           "content commitment": "content_commitment", "key encipherment": "key_encipherment",
           "key agreement": "key_agreement", "data encipherment": "data_encipherment",
           "cert sign": "key_cert_sign", "crl sign": "crl_sign", "encipher only": "encipher_only",
           "decipher only": "decipher_only"}
    ext = {"any": x509.oid.ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
           "server auth": ExtendedKeyUsageOID.SERVER_AUTH, "client auth": ExtendedKeyUsageOID.CLIENT_AUTH,
           "code signing": ExtendedKeyUsageOID.CODE_SIGNING, "email protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
           "s/mime": ExtendedKeyUsageOID.EMAIL_PROTECTION,
           "ipsec end system": ObjectIdentifier("1.3.6.1.5.5.7.3.5"),
           "ipsec tunnel": ObjectIdentifier("1.3.6.1.5.5.7.3.6"), "ipsec user": ObjectIdentifier("1.3.6.1.5.5.7.3.7"),
           "timestamping": ExtendedKeyUsageOID.TIME_STAMPING, "ocsp signing": ExtendedKeyUsageOID.OCSP_SIGNING,
           "microsoft sgc": ObjectIdentifier("1.3.6.1.4.1.311.10.3.3"),
           "netscape sgc": ObjectIdentifier("2.16.840.1.113730.4.1")}
    return key, ext


def _condition(status, reason, message, generation, old=None):
    """A Ready condition; lastTransitionTime kept from ``old`` when the status did not change."""
    now = _ts(_now())
    since = (old or {}).get("lastTransitionTime") if (old or {}).get("status") == status else None
    cond = {"type": "Ready", "status": status, "reason": reason, "message": message,
            "lastTransitionTime": since or now}
    if generation is not None:
        cond["observedGeneration"] = generation
    return cond


def _ready(obj):
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond
    return None


class CertManager(threading.Thread):
    """cert-manager's Issuer and Certificate controllers for the lab (see the module docstring).

    :param server: the :class:`~kubeapi.server.KubeAPIServer`.
    :param interval: seconds between two passes over the Issuers and Certificates.
    """

    def __init__(self, server, interval=1.0):
        super().__init__(daemon=True)
        self.server, self.interval = server, interval
        self.stopping = threading.Event()

    # ----- store access -------------------------------------------------------------------------
    def _objects(self, gvp):
        with self.server.store.lock:
            return [copy.deepcopy(o) for k, o in self.server.store.objects.items() if (k[0], k[1]) == (gvp[0], gvp[2])]

    def _get(self, gvp, namespace, name):
        res = self.server.resources[gvp]
        with self.server.store.lock:
            obj = self.server.store.objects.get(self.server._key(res, namespace, name))  # pylint: disable=protected-access
            return copy.deepcopy(obj) if obj is not None else None

    def _write_status(self, gvp, obj, status):
        if (obj.get("status") or {}) == status:
            return
        meta = obj["metadata"]
        try:
            self.server._update(self.server.resources[gvp], meta["namespace"], meta["name"],  # pylint: disable=protected-access
                                {"status": status}, "status", False, check_rv=False)
        except Exception:  # pylint: disable=broad-except  # deleted meanwhile: next pass
            pass

    def _write_secret(self, namespace, body):
        res = self.server.resources[SECRET]
        name = body["metadata"]["name"]
        old = self._get(SECRET, namespace, name)
        if old is None:
            self.server._create(res, namespace, body, False)  # pylint: disable=protected-access
        else:
            self.server._update(res, namespace, name, body, None, False, check_rv=False)  # pylint: disable=protected-access

    # ----- Issuers ------------------------------------------------------------------------------
    def issuer_keypair(self, issuer):
        """``(ca_certs, ca_key, "")`` for a CA Issuer, or ``(None, None, (reason, message))``."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        ns, secret_name = issuer["metadata"]["namespace"], ((issuer.get("spec") or {}).get("ca") or {}).get("secretName")
        if not secret_name:
            return None, None, ("IssuerNotSupported", "the lab's cert-manager stand-in signs only with CA issuers "
                                                      "(spec.ca.secretName)")
        secret = self._get(SECRET, ns, secret_name)
        if secret is None:
            return None, None, ("ErrGetKeyPair", 'Error getting keypair for CA issuer: secrets "%s" not found'
                                % secret_name)
        data = secret.get("data") or {}
        try:
            certs = x509.load_pem_x509_certificates(base64.b64decode(data["tls.crt"]))
            key = serialization.load_pem_private_key(base64.b64decode(data["tls.key"]), password=None)
        except KeyError as exc:
            return None, None, ("ErrGetKeyPair", "Error getting keypair for CA issuer: secret %s has no %s"
                                % (secret_name, exc.args[0]))
        except ValueError as exc:
            return None, None, ("ErrInvalidKeyPair", "Error getting keypair for CA issuer: %s" % exc)
        return certs, key, ""

    def reconcile_issuers(self):
        """Write each CA Issuer's Ready condition; return ``{(ns, name): (certs, key, problem)}``."""
        out = {}
        for issuer in self._objects(ISSUER):
            meta = issuer["metadata"]
            certs, key, problem = self.issuer_keypair(issuer)
            out[(meta["namespace"], meta["name"])] = (certs, key, problem)
            old = _ready(issuer)
            if problem:
                cond = _condition("False", problem[0], problem[1], meta.get("generation"), old)
            else:
                cond = _condition("True", "KeyPairVerified", "Signing CA verified", meta.get("generation"), old)
            self._write_status(ISSUER, issuer, dict(issuer.get("status") or {}, conditions=[cond]))
        return out

    # ----- Certificates -------------------------------------------------------------------------
    def needs_issuing(self, cert):
        """True when ``cert`` is not Ready at its generation, its Secret is missing, or it is due for renewal."""
        cond = _ready(cert)
        meta, spec, status = cert["metadata"], cert.get("spec") or {}, cert.get("status") or {}
        if not cond or cond.get("status") != "True" or cond.get("observedGeneration") != meta.get("generation"):
            return True
        secret = self._get(SECRET, meta["namespace"], spec.get("secretName", ""))
        if secret is None or not all(k in (secret.get("data") or {}) for k in ("tls.crt", "tls.key")):
            return True
        renewal = status.get("renewalTime")
        return bool(renewal) and _parse_ts(renewal) <= _now()

    def reconcile_once(self):
        if CERT not in self.server.resources or ISSUER not in self.server.resources:
            return
        issuers = self.reconcile_issuers()
        for cert in self._objects(CERT):
            if cert["metadata"].get("deletionTimestamp") or not self.needs_issuing(cert):
                continue
            self.issue(cert, issuers)

    def issue(self, cert, issuers):
        meta, spec = cert["metadata"], cert.get("spec") or {}
        ns, gen, old = meta["namespace"], meta.get("generation"), _ready(cert)
        status = copy.deepcopy(cert.get("status") or {})
        ref = spec.get("issuerRef") or {}
        kind, group, name = ref.get("kind") or "Issuer", ref.get("group") or "cert-manager.io", ref.get("name", "")
        found = issuers.get((ns, name)) if (kind, group) == ("Issuer", "cert-manager.io") else None
        if found is None:
            status["conditions"] = [_condition("False", "IssuerNotFound", 'Referenced "%s" not found: %s.%s "%s" not found'
                                               % (kind, kind.lower(), group, name), gen, old)]
            self._write_status(CERT, cert, status)
            return
        ca_certs, ca_key, problem = found
        if problem:
            status["conditions"] = [_condition(
                "False", "IssuerNotReady", 'Referenced issuer does not have a Ready status condition: Issuer "%s": %s: %s'
                % (name, problem[0], problem[1]), gen, old)]
            self._write_status(CERT, cert, status)
            return
        try:
            secret, not_before, not_after, renew = self.sign(cert, ca_certs, ca_key)
        except ValueError as exc:
            status["conditions"] = [_condition("False", "Failed", "The certificate request has failed to complete and "
                                               "will be retried: %s" % exc, gen, old)]
            self._write_status(CERT, cert, status)
            return
        self._write_secret(ns, secret)
        status.update(notBefore=_ts(not_before), notAfter=_ts(not_after), renewalTime=_ts(renew),
                      revision=int(status.get("revision") or 0) + 1,
                      conditions=[_condition("True", "Ready", "Certificate is up to date and has not expired", gen, old)])
        status.pop("lastFailureTime", None)
        status.pop("failedIssuanceAttempts", None)
        self._write_status(CERT, cert, status)

    def sign(self, cert, ca_certs, ca_key):
        """Sign a leaf for ``cert``; return ``(secret_body, not_before, not_after, renewal_time)``.

        :raises ValueError: a spec value cert-manager's webhook would refuse (duration, IP, key size).
        """
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
        from cryptography.x509.oid import NameOID

        meta, spec = cert["metadata"], cert.get("spec") or {}
        ns, secret_name = meta["namespace"], spec["secretName"]
        pk = spec.get("privateKey") or {}
        algorithm, size = pk.get("algorithm") or "RSA", pk.get("size")
        key = None
        if pk.get("rotationPolicy") == "Never":
            old = self._get(SECRET, ns, secret_name)
            if old and (old.get("data") or {}).get("tls.key"):
                key = serialization.load_pem_private_key(base64.b64decode(old["data"]["tls.key"]), password=None)
        if key is None:
            if algorithm == "RSA":
                if (size or 2048) not in (2048, 4096, 8192):
                    raise ValueError("spec.privateKey.size: RSA key size must be 2048, 4096 or 8192, got %s" % size)
                key = rsa.generate_private_key(public_exponent=65537, key_size=size or 2048)
            elif algorithm == "ECDSA":
                curves = {256: ec.SECP256R1, 384: ec.SECP384R1, 521: ec.SECP521R1}
                if (size or 256) not in curves:
                    raise ValueError("spec.privateKey.size: ECDSA key size must be 256, 384 or 521, got %s" % size)
                key = ec.generate_private_key(curves[size or 256]())
            else:
                key = ed25519.Ed25519PrivateKey.generate()
        duration = parse_duration(spec["duration"]) if spec.get("duration") else DEFAULT_DURATION
        renew_before = parse_duration(spec["renewBefore"]) if spec.get("renewBefore") else duration / 3
        issuer_cert = ca_certs[0]
        not_before = _now()
        not_after = min(not_before + duration, issuer_cert.not_valid_after_utc.replace(microsecond=0))
        sans = [x509.DNSName(n) for n in spec.get("dnsNames") or []]
        for ip in spec.get("ipAddresses") or []:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(ip)))
            except ValueError:
                raise ValueError("spec.ipAddresses: %r is not an IP address" % ip)
        sans += [x509.UniformResourceIdentifier(u) for u in spec.get("uris") or []]
        sans += [x509.RFC822Name(e) for e in spec.get("emailAddresses") or []]
        subject = [x509.NameAttribute(NameOID.COMMON_NAME, spec["commonName"])] if spec.get("commonName") else []
        for attr, oid in (("organizations", NameOID.ORGANIZATION_NAME),
                          ("organizationalUnits", NameOID.ORGANIZATIONAL_UNIT_NAME), ("countries", NameOID.COUNTRY_NAME)):
            subject += [x509.NameAttribute(oid, v) for v in (spec.get("subject") or {}).get(attr) or []]
        if not subject and not sans:
            raise ValueError("at least one of commonName, dnsNames, uris, emailAddresses or ipAddresses must be set")
        key_map, ext_map = _key_usages()
        usages = list(spec.get("usages") or DEFAULT_USAGES)
        if spec.get("isCA") and "cert sign" not in usages:
            usages.append("cert sign")
        flags = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                               "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"), False)
        for usage in usages:
            if usage in key_map:
                flags[key_map[usage]] = True
        if flags["encipher_only"] or flags["decipher_only"]:
            flags["key_agreement"] = True
        ekus = []
        for usage in usages:
            if usage in ext_map and ext_map[usage] not in ekus:
                ekus.append(ext_map[usage])
        builder = (x509.CertificateBuilder().subject_name(x509.Name(subject)).issuer_name(issuer_cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(not_before).not_valid_after(not_after)
                   .add_extension(x509.BasicConstraints(ca=bool(spec.get("isCA")), path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(**flags), critical=True)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                                  critical=False))
        if ekus:
            builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=not subject)
        signed = builder.sign(ca_key, None if isinstance(ca_key, ed25519.Ed25519PrivateKey) else hashes.SHA256())
        pem = serialization.Encoding.PEM
        pkcs8 = pk.get("encoding") == "PKCS8" or isinstance(key, ed25519.Ed25519PrivateKey)
        key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8 if pkcs8
                                    else serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
        roots = [c for c in ca_certs if c.subject == c.issuer]
        chain = [c for c in ca_certs if c.subject != c.issuer]
        tls_crt = signed.public_bytes(pem) + b"".join(c.public_bytes(pem) for c in chain)
        ca_crt = (roots[0] if roots else ca_certs[-1]).public_bytes(pem)
        template = spec.get("secretTemplate") or {}
        ref = spec.get("issuerRef") or {}
        annotations = dict(template.get("annotations") or {}, **{
            "cert-manager.io/certificate-name": meta["name"], "cert-manager.io/issuer-name": ref.get("name", ""),
            "cert-manager.io/issuer-kind": ref.get("kind") or "Issuer",
            "cert-manager.io/issuer-group": ref.get("group") or "cert-manager.io",
            "cert-manager.io/common-name": spec.get("commonName", ""),
            "cert-manager.io/alt-names": ",".join(spec.get("dnsNames") or []),
            "cert-manager.io/ip-sans": ",".join(spec.get("ipAddresses") or []),
            "cert-manager.io/uri-sans": ",".join(spec.get("uris") or [])})
        labels = dict(template.get("labels") or {}, **{"controller.cert-manager.io/fao": "true"})
        secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                  "metadata": {"name": secret_name, "namespace": ns, "labels": labels, "annotations": annotations},
                  "data": {k: base64.b64encode(v).decode() for k, v in
                           (("tls.crt", tls_crt), ("tls.key", key_pem), ("ca.crt", ca_crt))}}
        return secret, not_before, not_after, not_after - renew_before

    # ----- thread -------------------------------------------------------------------------------
    def run(self):
        while not self.stopping.wait(self.interval):
            try:
                self.reconcile_once()
            except Exception:  # pylint: disable=broad-except  # a bad object must not stop the controller
                traceback.print_exc(file=sys.stderr)

    def stop(self):
        self.stopping.set()
