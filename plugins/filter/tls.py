# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)
"""Filters over TLS material (runs where Ansible runs: needs the ``cryptography`` library)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import ipaddress

from ansible.errors import AnsibleFilterError

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - reported when the filter is used
    HAS_CRYPTOGRAPHY = False


def _stamp(when):
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _names(cert):
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    return (set(n.lower() for n in san.get_values_for_type(x509.DNSName)),
            set(str(ip) for ip in san.get_values_for_type(x509.IPAddress)))


def cert_problems(material, names=None, now=None):
    """Return ``list[str]``: what makes ``material`` unusable for the node, empty when nothing.

    :param material: ``{"certificate": PEM, "private_key": PEM, "ca_certificate": PEM}``, one entry
        of ``tenrec_controlplane.certificates`` (a cert-manager Certificate's Secret: ``tls.crt``,
        ``tls.key``, ``ca.crt``).
    :param names: host names and IP addresses the certificate's subjectAltName must carry (the
        node's names as its peers reach it).
    :param now: ``datetime`` (UTC) to check validity at; default the current time.

    Checks: the certificate is signed by ``ca_certificate``; ``now`` is inside its validity
    (``notBefore`` .. ``notAfter``); every name is in its SAN; the private key belongs to it.
    Messages never contain key material.
    """
    if not HAS_CRYPTOGRAPHY:
        raise AnsibleFilterError("cert_problems needs the Python library cryptography where Ansible runs")
    if not isinstance(material, dict):
        return ["is not a dictionary with certificate, private_key and ca_certificate"]
    now = now or datetime.datetime.now(datetime.timezone.utc)
    try:
        cert = x509.load_pem_x509_certificate(str(material.get("certificate", "")).encode())
    except ValueError:
        return ["certificate is not a PEM X.509 certificate"]
    problems = []
    try:
        ca = x509.load_pem_x509_certificate(str(material.get("ca_certificate", "")).encode())
    except ValueError:
        problems.append("ca_certificate is not a PEM X.509 certificate")
        ca = None
    if ca is not None:
        try:
            cert.verify_directly_issued_by(ca)
        except Exception:  # pylint: disable=broad-except  # InvalidSignature, or a key type mismatch
            problems.append("certificate (issuer %s) is not signed by ca_certificate (%s)"
                            % (cert.issuer.rfc4514_string(), ca.subject.rfc4514_string()))
    if now > cert.not_valid_after_utc:
        problems.append("certificate expired on %s" % _stamp(cert.not_valid_after_utc))
    elif now < cert.not_valid_before_utc:
        problems.append("certificate is not valid before %s" % _stamp(cert.not_valid_before_utc))
    dns, ips = _names(cert)
    for name in names or []:
        name = str(name)
        try:
            missing = str(ipaddress.ip_address(name)) not in ips
        except ValueError:
            missing = name.lower() not in dns
        if missing:
            problems.append("certificate's subjectAltName does not name %s (it names %s)"
                            % (name, ", ".join(sorted(dns | ips)) or "nothing"))
    try:
        key = serialization.load_pem_private_key(str(material.get("private_key", "")).encode(), password=None)
        same = key.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo) == \
            cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        if not same:
            problems.append("private_key does not belong to certificate")
    except (ValueError, TypeError):
        problems.append("private_key is not an unencrypted PEM private key")
    return problems


class FilterModule(object):
    """tenrec.dataplane TLS filters."""

    def filters(self):
        return {"cert_problems": cert_problems}
