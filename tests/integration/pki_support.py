"""Test CAs and the cert-manager objects that hold them (what openstack-operator creates: rootca-* Issuers)."""

import base64
import datetime
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CM = ("cert-manager.io", "v1")


def make_ca(name):
    """A self-signed CA: ``(cert_pem, key_pem)`` (bytes)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def create_ca_issuer(core, custom, namespace, name, secret=True):
    """Issuer ``name`` with ``spec.ca.secretName: name``; with ``secret`` also that Secret. Returns the CA PEM."""
    cert_pem, key_pem = make_ca(name)
    if secret:
        core.create_namespaced_secret(namespace, {
            "metadata": {"name": name}, "type": "kubernetes.io/tls",
            "data": {"tls.crt": base64.b64encode(cert_pem).decode(), "tls.key": base64.b64encode(key_pem).decode(),
                     "ca.crt": base64.b64encode(cert_pem).decode()}})
    custom.create_namespaced_custom_object(*CM, namespace, "issuers", {
        "apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": name},
        "spec": {"ca": {"secretName": name}}})
    return cert_pem.decode()


def ready(obj):
    """The Ready condition of ``obj`` (dict) or None."""
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), None)


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()


def load(pem):
    return x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)


def sans(cert):
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return sorted(ext.get_values_for_type(x509.DNSName)), sorted(str(i) for i in ext.get_values_for_type(x509.IPAddress))


def ekus(cert):
    return sorted(o._name for o in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)  # pylint: disable=protected-access
