# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)
"""The ``tenrec_controlplane`` contract: what a compute node needs from the control plane.

This module is the one place, in Python, where the contract's shape and rules live. The
``controlplane_info`` module builds the contract with :func:`build`; the roles check it with
:func:`validate` (through the ``tenrec.dataplane.contract_errors`` filter) before they touch a host.
Its Ansible argument spec is ``roles/contract/meta/argument_specs.yml`` and its page is
``docs/contract.md``; unit tests keep all three in step.

Shape (every key, its type, and the openstack-operator object it comes from)::

    {
      "region": str,                      # KeystoneAPI .spec.region ("regionOne" when unset)
      "transport_url": str,               # secret TransportURL(nova-<cell>-transport).status.secretName,
                                          #   key transport_url
      "notification_transport_url": str,  # same, from the notifications TransportURL; "" when none
      "messaging": {
        "ssl": bool,                      # ssl=1 (or ssl=true) in transport_url's query
        "quorum_queues": bool,            # TransportURL .status.queueType == "Quorum"
        "heartbeat_timeout_threshold": int,  # seconds; operator default 60
      },
      "keystone": {
        "internal_url": str,              # KeystoneAPI .status.apiEndpoints.internal
        "public_url": str,                # KeystoneAPI .status.apiEndpoints.public ("" if absent)
      },
      "service_auth": {
        "username": str,                  # controlplane_info's service_username (default "nova", as
                                          #   Nova .spec.serviceUser's default)
        "password": str,                  # secret osp-secret (OpenStackControlPlane .spec.secret),
                                          #   key NovaPassword (Nova .spec.passwordSelectors.service);
                                          #   controlplane_info's password_secret / password_key
        "project_name": str,              # "service"
        "user_domain_name": str,          # "Default"
        "project_domain_name": str,       # "Default"
      },
      "ovn_sb_connection": str,           # OVNDBCluster(dbType SB) .status.dbAddress (the address for
                                          #   nodes outside the cluster; never .status.internalDbAddress),
                                          #   "tcp:host:port[,tcp:host:port]" or "ssl:..."
      "ca_bundle": str,                   # PEM; secret named by OpenStackControlPlane
                                          #   .status.tls.caBundleSecretName (controlplane_info's
                                          #   ca_bundle_secret overrides), key tls-ca-bundle.pem
      "tls_internal": bool,               # OpenStackControlPlane .spec.tls.podLevel.enabled (CRD default
                                          #   true: absent means true)
      "nova_metadata_url": str,           # "protocol://host:port" neutron-ovn-metadata-agent forwards to:
                                          #   secret neutron-ovn-metadata-agent-neutron-config (neutron-operator),
                                          #   key 10-neutron-metadata.conf, [DEFAULT] nova_metadata_protocol,
                                          #   nova_metadata_host, nova_metadata_port (8775 when unset); "" if none
      "metadata_proxy_shared_secret": str,  # secret osp-secret, key MetadataSecret
                                          #   (Nova .spec.passwordSelectors.metadataSecret); "" if none
      "novncproxy_base_url": str,         # secret nova-<cell>-compute-config (nova-operator), key 01-nova.conf,
                                          #   [vnc] novncproxy_base_url; "" if none
      "certificates": {                   # per node, filled per host by the playbook from the
                                          #   node_certificates module (not by controlplane_info); {} if none
        "<service>": {                    # "ovn" (ovn-controller's SB client, issuer rootca-ovn),
                                          #   "neutron_metadata" (metadata agent's SB client, rootca-ovn),
                                          #   "libvirt" (server + client for TLS migration, rootca-libvirt)
          "certificate": str,             # PEM leaf: cert-manager Certificate's Secret, key tls.crt
          "private_key": str,             # PEM key: same Secret, key tls.key
          "ca_certificate": str,          # PEM of the issuing CA: same Secret, key ca.crt
        },
      },
    }

Secret fields (:data:`SECRET_FIELDS`, and everything below them) are ``no_log`` in the argument spec
and never appear in :func:`validate`'s messages.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

try:
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover - Python 2 is not supported by this collection
    urlsplit = None

SECRET_FIELDS = ("transport_url", "notification_transport_url", "service_auth.password",
                 "metadata_proxy_shared_secret", "certificates")

# Services that get a per-node certificate (keys of ``certificates``) and the keys of each entry.
CERT_SERVICES = ("ovn", "neutron_metadata", "libvirt")
CERT_KEYS = ("certificate", "private_key", "ca_certificate")

DEFAULTS = {
    "region": "regionOne",
    "notification_transport_url": "",
    "messaging": {"ssl": False, "quorum_queues": False, "heartbeat_timeout_threshold": 60},
    "keystone": {"public_url": ""},
    "service_auth": {
        "username": "nova",
        "project_name": "service",
        "user_domain_name": "Default",
        "project_domain_name": "Default",
    },
    "ca_bundle": "",
    "tls_internal": False,
    "nova_metadata_url": "",
    "metadata_proxy_shared_secret": "",
    "novncproxy_base_url": "",
    "certificates": {},
}

_HOST = r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)"
_RABBIT_HOST = r"[^:@/,]+:[^@/,]+@" + _HOST + r":\d{1,5}"
TRANSPORT_URL_RE = re.compile(r"^rabbit://" + _RABBIT_HOST + r"(?:," + _RABBIT_HOST + r")*/[^?\s]*(?:\?\S*)?$")
OVN_REMOTE_RE = re.compile(r"^(?:tcp|ssl):" + _HOST + r":\d{1,5}(?:,(?:tcp|ssl):" + _HOST + r":\d{1,5})*$")
PEM_RE = re.compile(r"-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----")
KEY_PEM_RE = re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----[\s\S]+?-----END (?:[A-Z]+ )?PRIVATE KEY-----")

# (path, type, required) for every field; the order is the documentation's order.
FIELDS = (
    ("region", str, False),
    ("transport_url", str, True),
    ("notification_transport_url", str, False),
    ("messaging", dict, False),
    ("messaging.ssl", bool, False),
    ("messaging.quorum_queues", bool, False),
    ("messaging.heartbeat_timeout_threshold", int, False),
    ("keystone", dict, True),
    ("keystone.internal_url", str, True),
    ("keystone.public_url", str, False),
    ("service_auth", dict, True),
    ("service_auth.username", str, False),
    ("service_auth.password", str, True),
    ("service_auth.project_name", str, False),
    ("service_auth.user_domain_name", str, False),
    ("service_auth.project_domain_name", str, False),
    ("ovn_sb_connection", str, True),
    ("ca_bundle", str, False),
    ("tls_internal", bool, False),
    ("nova_metadata_url", str, False),
    ("metadata_proxy_shared_secret", str, False),
    ("novncproxy_base_url", str, False),
    ("certificates", dict, False),
) + tuple(entry for service in CERT_SERVICES for entry in (
    ("certificates.%s" % service, dict, False),
    ("certificates.%s.certificate" % service, str, False),
    ("certificates.%s.private_key" % service, str, False),
    ("certificates.%s.ca_certificate" % service, str, False),
))

_PREFIX = "tenrec_controlplane"


def _get(data, path):
    """Return ``(found, value)`` for a dotted ``path`` in nested dicts."""
    cur = data
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return False, None
        cur = cur[part]
    return True, cur


def is_secret(path):
    """True when the dotted ``path`` is a secret field or lies inside one (:data:`SECRET_FIELDS`)."""
    return any(path == s or path.startswith(s + ".") for s in SECRET_FIELDS)


def _ports_ok(text):
    return all(0 < int(p) < 65536 for p in re.findall(r":(\d{1,5})(?=[,/]|$)", text))


def _url_ok(value):
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def validate(contract):
    """Check a contract and return the problems found, one string per problem.

    :param contract: the ``tenrec_controlplane`` dict (shape in the module docstring).
    :returns: ``list[str]``, empty when the contract is usable. Each message starts with the
        field's full name (``tenrec_controlplane.transport_url: ...``) and never contains a
        secret's value.
    """
    if not isinstance(contract, dict):
        return ["%s: must be a dict, got %s" % (_PREFIX, type(contract).__name__)]
    errors = []
    for path, kind, required in FIELDS:
        found, value = _get(contract, path)
        name = "%s.%s" % (_PREFIX, path)
        if not found or value is None:
            if required:
                errors.append("%s: is required" % name)
            continue
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            errors.append("%s: must be %s, got %s" % (name, kind.__name__, type(value).__name__))
            continue
        if kind is str and required and not value.strip():
            errors.append("%s: must not be empty" % name)
    if errors:
        return errors

    def check(path, ok, expected):
        found, value = _get(contract, path)
        if found and value not in (None, "") and not ok(value):
            shown = "" if is_secret(path) else " (got %r)" % value
            errors.append("%s.%s: must be %s%s" % (_PREFIX, path, expected, shown))

    rabbit = "rabbit://user:pass@host:port[,user:pass@host:port...]/vhost"
    check("transport_url", lambda v: TRANSPORT_URL_RE.match(v) and _ports_ok(v.split("?")[0]), rabbit)
    check("notification_transport_url", lambda v: TRANSPORT_URL_RE.match(v) and _ports_ok(v.split("?")[0]), rabbit)
    check("keystone.internal_url", _url_ok, "an http:// or https:// URL")
    check("keystone.public_url", _url_ok, "an http:// or https:// URL")
    check("nova_metadata_url", _url_ok, "an http:// or https:// URL")
    check("novncproxy_base_url", _url_ok, "an http:// or https:// URL")
    check("metadata_proxy_shared_secret", lambda v: v.strip() == v and "\n" not in v,
          "a single line without surrounding blanks")
    check("ovn_sb_connection", lambda v: OVN_REMOTE_RE.match(v) and _ports_ok(v), "tcp:host:port or ssl:host:port[,...]")
    check("ca_bundle", PEM_RE.search, "a PEM bundle with at least one certificate")
    check("messaging.heartbeat_timeout_threshold", lambda v: v > 0, "a positive number of seconds")
    errors.extend(_certificate_errors(contract.get("certificates") or {}))
    if contract.get("tls_internal"):
        found, url = _get(contract, "keystone.internal_url")
        if not url.startswith("https://"):
            errors.append("%s.keystone.internal_url: must be https:// when tls_internal is true" % _PREFIX)
        if not contract.get("ca_bundle"):
            errors.append("%s.ca_bundle: is required when tls_internal is true" % _PREFIX)
    return errors


def _certificate_errors(certificates):
    """Problems in ``certificates`` (types already checked by :func:`validate`); no value is shown.

    An entry absent or ``None`` is not checked (a node may get only some services' certificates);
    an entry present must hold the three PEM texts of :data:`CERT_KEYS`.
    """
    errors = []
    for service in sorted(set(certificates) - set(CERT_SERVICES)):
        errors.append("%s.certificates: unknown service %s (known: %s)" % (_PREFIX, service, ", ".join(CERT_SERVICES)))
    for service in CERT_SERVICES:
        entry = certificates.get(service)
        if entry is None:
            continue
        for key in sorted(set(entry) - set(CERT_KEYS)):
            errors.append("%s.certificates.%s: unknown key %s (known: %s)" % (_PREFIX, service, key, ", ".join(CERT_KEYS)))
        for key in CERT_KEYS:
            name = "%s.certificates.%s.%s" % (_PREFIX, service, key)
            value = entry.get(key)
            if value is None:
                errors.append("%s: is required" % name)
            elif not value.strip():
                errors.append("%s: must not be empty" % name)
            elif not (KEY_PEM_RE if key == "private_key" else PEM_RE).search(value):
                errors.append("%s: must be PEM (%s)" % (
                    name, "-----BEGIN ... PRIVATE KEY-----" if key == "private_key" else "-----BEGIN CERTIFICATE-----"))
    return errors


def with_defaults(contract):
    """Return a copy of ``contract`` with every optional field filled from :data:`DEFAULTS`."""
    out = {}
    for key, default in DEFAULTS.items():
        if isinstance(default, dict):
            out[key] = dict(default)
    for key, value in contract.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key].update(value)
        else:
            out[key] = value
    for key, default in DEFAULTS.items():
        out.setdefault(key, default)
    return out


def build(region, transport_url, keystone_internal_url, service_password, ovn_sb_connection,
          notification_transport_url="", keystone_public_url="", service_username="nova",
          quorum_queues=False, ca_bundle="", tls_internal=False, heartbeat_timeout_threshold=60,
          nova_metadata_url="", metadata_proxy_shared_secret="", novncproxy_base_url=""):
    """Assemble a contract from values read off the control plane.

    Every argument is a plain value (see the module docstring for where each is read);
    ``messaging.ssl`` is derived from ``ssl=1`` in the transport URL's query string.

    :returns: the contract dict, defaults filled in.
    :raises ValueError: when the result does not pass :func:`validate`; the message lists
        every problem, naming fields, never secret values.
    """
    query = transport_url.split("?", 1)[1] if "?" in transport_url else ""
    ssl = any(p in ("ssl=1", "ssl=true", "ssl=True") for p in query.split("&"))
    contract = with_defaults({
        "region": region,
        "transport_url": transport_url,
        "notification_transport_url": notification_transport_url or "",
        "messaging": {"ssl": ssl, "quorum_queues": bool(quorum_queues),
                      "heartbeat_timeout_threshold": int(heartbeat_timeout_threshold)},
        "keystone": {"internal_url": keystone_internal_url, "public_url": keystone_public_url or ""},
        "service_auth": {"username": service_username, "password": service_password},
        "ovn_sb_connection": ovn_sb_connection,
        "ca_bundle": ca_bundle or "",
        "tls_internal": bool(tls_internal),
        "nova_metadata_url": nova_metadata_url or "",
        "metadata_proxy_shared_secret": metadata_proxy_shared_secret or "",
        "novncproxy_base_url": novncproxy_base_url or "",
    })
    errors = validate(contract)
    if errors:
        raise ValueError("; ".join(errors))
    return contract
