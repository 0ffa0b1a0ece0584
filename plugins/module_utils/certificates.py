# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)
"""Per-node cert-manager Certificates: what openstack-operator's data-plane ``install-certs`` service
creates on the cluster side, for the nodes this collection provisions.

:func:`plan` turns the ``node_certificates`` module's input into ``cert-manager.io/v1`` Certificate
definitions (validating everything first), :func:`wait_ready` waits until cert-manager has issued
them, :func:`read_material` reads an issued Certificate's Secret. Names, issuers, usages and SANs
are described in docs/certificates.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re
import time

from ansible_collections.tenrec.dataplane.plugins.module_utils.contract import CERT_SERVICES
from ansible_collections.tenrec.dataplane.plugins.module_utils.k8s import ControlPlaneError, Reader

API_VERSION = "cert-manager.io/v1"
KIND = "Certificate"
MANAGED_BY = "tenrec.dataplane"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_NODE = "tenrec.dev/node"
LABEL_SERVICE = "tenrec.dev/service"

# cert-manager's KeyUsage names (Certificate .spec.usages enum)
USAGES = ("signing", "digital signature", "content commitment", "key encipherment", "key agreement",
          "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any", "server auth",
          "client auth", "code signing", "email protection", "s/mime", "ipsec end system", "ipsec tunnel",
          "ipsec user", "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc")

# service -> (issuer, usages): openstack-operator's data-plane services ovn, neutron-metadata, libvirt
DEFAULT_SERVICES = {
    "ovn": ("rootca-ovn", ["digital signature", "key encipherment", "server auth", "client auth"]),
    "neutron_metadata": ("rootca-ovn", ["digital signature", "key encipherment", "client auth"]),
    "libvirt": ("rootca-libvirt", ["digital signature", "key encipherment", "server auth", "client auth"]),
}
SECRET_KEYS = (("certificate", "tls.crt"), ("private_key", "tls.key"), ("ca_certificate", "ca.crt"))

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_NAME = re.compile(r"^(\*\.)?[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$")
_GO_DURATION = re.compile("(\\d+(?:\\.\\d+)?)(ns|us|\u00b5s|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}

__all__ = ["API_VERSION", "DEFAULT_SERVICES", "KIND", "USAGES", "object_name", "plan", "read_material",
           "wait_ready"]


def _fail(msg):
    raise ControlPlaneError(msg)


def duration_seconds(text):
    """Seconds (float) in a Go duration (``8760h``, ``1h30m``); ControlPlaneError naming ``duration``."""
    if not text or _GO_DURATION.sub("", text) != "":
        _fail("duration: %r is not a duration such as 8760h or 2160h30m (units h, m, s)" % (text,))
    return sum(float(n) * _UNITS[u] for n, u in _GO_DURATION.findall(text))


def object_name(service, node):
    """``<service with _ as ->-<node lower case, _ as ->``: the Certificate's name (str).

    :raises ControlPlaneError: naming the node when the result is not a DNS-1123 subdomain (at most
        248 characters, so that ``cert-<name>``, the Secret, fits in 253).
    """
    name = "%s-%s" % (service.replace("_", "-"), node.lower().replace("_", "-"))
    if len(name) > 248 or not _SUBDOMAIN.match(name):
        _fail("nodes[%s]: cannot make a Kubernetes name of it: %r must be a DNS-1123 subdomain (lower case letters, "
              "digits, '-' and '.', starting and ending with a letter or digit, at most 248 characters); "
              "rename the host or give another name" % (node, name))
    return name


def _unique(items):
    """``items`` without repeats, in order."""
    return [x for i, x in enumerate(items) if x not in items[:i]]


def _node(index, node):
    """Validated ``(name, dns_names, ip_addresses)`` of ``nodes[index]``."""
    if not isinstance(node, dict):
        _fail("nodes[%d]: must be a dict with name, dns_names, ip_addresses" % index)
    name = node.get("name")
    if not name or not isinstance(name, str):
        _fail("nodes[%d]: name (the inventory host name) is required" % index)
    where = "nodes[%s]" % name
    if len(name) > 63 or not _LABEL_VALUE.match(name):
        _fail("%s: the name must be usable as a label value (at most 63 letters, digits, '-', '_', '.', "
              "starting and ending with a letter or digit)" % where)
    dns = list(node.get("dns_names") or [])
    ips = list(node.get("ip_addresses") or [])
    if not dns and not ips:
        _fail("%s: needs at least one of dns_names and ip_addresses (the certificate's subject alternative "
              "names)" % where)
    for item in dns:
        if not isinstance(item, str) or len(item) > 253 or not _DNS_NAME.match(item):
            _fail("%s.dns_names: %r is not a DNS name" % (where, item))
    if dns and len(dns[0]) > 64:
        _fail("%s.dns_names: the first one, %s, is the commonName and must be at most 64 characters" % (where, dns[0]))
    for item in ips:
        try:
            ipaddress.ip_address(item)
        except ValueError:
            _fail("%s.ip_addresses: %r is not an IP address" % (where, item))
    return name, _unique(dns), _unique(ips)


def _services(services):
    """Validated ``[(service, issuer, usages)]``, defaults filled from :data:`DEFAULT_SERVICES`."""
    if not services:
        _fail("services: at least one service is required (known: %s)" % ", ".join(CERT_SERVICES))
    out, seen = [], set()
    for index, svc in enumerate(services):
        name = (svc or {}).get("name")
        if name not in DEFAULT_SERVICES:
            _fail("services[%d]: unknown service %r (known: %s)" % (index, name, ", ".join(CERT_SERVICES)))
        if name in seen:
            _fail("services[%d]: %s appears twice" % (index, name))
        seen.add(name)
        issuer = svc.get("issuer") or DEFAULT_SERVICES[name][0]
        if len(issuer) > 253 or not _SUBDOMAIN.match(issuer):
            _fail("services[%s].issuer: %r is not an Issuer name" % (name, issuer))
        usages = list(svc.get("usages") or DEFAULT_SERVICES[name][1])
        bad = [u for u in usages if u not in USAGES]
        if bad:
            _fail("services[%s].usages: unknown usage %s (cert-manager's names: %s)" % (
                name, ", ".join(repr(b) for b in bad), ", ".join(USAGES)))
        out.append((name, issuer, usages))
    return out


def plan(nodes, services, duration="8760h", private_key_algorithm="ECDSA"):
    """Certificate definitions for every node and service, validated before any API call.

    :param nodes: ``[{name, dns_names: [str], ip_addresses: [str]}]`` (inventory host names).
    :param services: ``[{name, issuer, usages}]``; ``issuer``/``usages`` empty take the defaults of
        :data:`DEFAULT_SERVICES`.
    :param duration: certificate lifetime, Go duration (cert-manager ``spec.duration``), at least 1h.
    :param private_key_algorithm: ``ECDSA`` (P-256) or ``RSA`` (2048 bits).
    :returns: ``[(node, service, definition)]``: node and service names as given, the Certificate
        (dict) without namespace.
    :raises ControlPlaneError: the first problem, naming the node, service or parameter.
    """
    if not nodes:
        _fail("nodes: at least one node is required")
    if duration_seconds(duration) < 3600:
        _fail("duration: %s is shorter than 1h, the least cert-manager accepts" % duration)
    if private_key_algorithm not in ("ECDSA", "RSA"):
        _fail("private_key_algorithm: must be ECDSA or RSA, got %r" % (private_key_algorithm,))
    checked = [_node(i, n) for i, n in enumerate(nodes)]
    svcs = _services(services)
    out, names = [], {}
    for node, dns, ips in checked:
        for service, issuer, usages in svcs:
            name = object_name(service, node)
            if name in names:
                _fail("nodes[%s]: its Certificate name %s is also that of nodes[%s] (names are lower-cased, '_' "
                      "becomes '-')" % (node, name, names[name]))
            names[name] = node
            labels = {LABEL_MANAGED_BY: MANAGED_BY, LABEL_NODE: node, LABEL_SERVICE: service}
            spec = {
                "secretName": "cert-" + name,
                "secretTemplate": {"labels": dict(labels)},
                "issuerRef": {"name": issuer, "kind": "Issuer", "group": "cert-manager.io"},
                "dnsNames": dns,
                "ipAddresses": ips,
                "usages": usages,
                "duration": duration,
                "privateKey": {"algorithm": private_key_algorithm, "rotationPolicy": "Always"},
            }
            if dns:
                spec["commonName"] = dns[0]
            out.append((node, service, {"apiVersion": API_VERSION, "kind": KIND,
                                        "metadata": {"name": name, "labels": labels}, "spec": spec}))
    return out


def ready_condition(obj):
    """``(ready, condition)``: Ready is True at the Certificate's current generation; the condition (dict or None)."""
    generation = ((obj or {}).get("metadata") or {}).get("generation")
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            observed = cond.get("observedGeneration")
            current = generation is None or observed is None or observed == generation
            return cond.get("status") == "True" and current, cond
    return False, None


def _describe_issuer(client, namespace, ref):
    """One line on the Issuer a Certificate names: not found, its Ready condition, or why it was not read."""
    kind, name = ref.get("kind") or "Issuer", ref.get("name", "")
    try:
        issuer = Reader(client, namespace).get(API_VERSION, kind, name)
    except ControlPlaneError as exc:
        return str(exc)
    except Exception as exc:  # pylint: disable=broad-except  # RBAC, connection: the main message stands
        return "%s %s could not be read: %s" % (kind, name, getattr(exc, "reason", None) or exc)
    _ready, cond = ready_condition(issuer)
    if cond is None:
        return "%s %s has no Ready condition (is cert-manager running?)" % (kind, name)
    return "%s %s is Ready=%s (%s): %s" % (kind, name, cond.get("status"), cond.get("reason") or "no reason",
                                           cond.get("message", ""))


def wait_ready(client, namespace, names, timeout, sleep):
    """Wait until every Certificate in ``names`` is Ready at its generation.

    Wall-clock ``timeout`` seconds (``time.monotonic``) for all of them; one list call (label
    ``app.kubernetes.io/managed-by=tenrec.dataplane``) per round, every ``sleep`` seconds.

    :returns: ``{name: certificate dict}``.
    :raises ControlPlaneError: after ``timeout``, naming each Certificate that is not Ready, its Ready
        condition's reason and message (or the generation it is for) and its Issuer's state.
    """
    resource = client.resource(KIND, API_VERSION)
    deadline = time.monotonic() + timeout
    pending, done = list(names), {}
    while True:
        listed = resource.get(namespace=namespace, label_selector="%s=%s" % (LABEL_MANAGED_BY, MANAGED_BY)).to_dict()
        by_name = dict((item["metadata"]["name"], item) for item in listed.get("items") or [])
        for name in list(pending):
            obj = by_name.get(name)
            if obj is None:
                raise ControlPlaneError("%s %s in namespace %s does not exist (deleted while waiting?)"
                                        % (KIND, name, namespace))
            if ready_condition(obj)[0]:
                done[name] = obj
                pending.remove(name)
        if not pending:
            return done
        if time.monotonic() >= deadline:
            lines = []
            for name in pending:
                obj = by_name[name]
                ready, cond = ready_condition(obj)
                ref = (obj.get("spec") or {}).get("issuerRef") or {}
                if cond is None:
                    state = "no Ready condition reported (is cert-manager running?)"
                elif cond.get("status") == "True":
                    state = "Ready is for generation %s, metadata.generation is %s (cert-manager has not processed " \
                            "the latest spec)" % (cond.get("observedGeneration"), obj["metadata"].get("generation"))
                else:
                    state = "Ready=%s (%s): %s" % (cond.get("status"), cond.get("reason") or "no reason",
                                                   cond.get("message", ""))
                lines.append("%s %s: %s; issuer: %s" % (KIND, name, state, _describe_issuer(client, namespace, ref)))
            shown = lines[:10] + (["... and %d more" % (len(lines) - 10)] if len(lines) > 10 else [])
            raise ControlPlaneError("%d of %d Certificates in namespace %s not Ready after %d s: %s" % (
                len(pending), len(names), namespace, timeout, " | ".join(shown)))
        time.sleep(max(0, min(sleep, deadline - time.monotonic())))


def read_material(reader, secret_name):
    """``{certificate, private_key, ca_certificate}`` (PEM str) from the Certificate's Secret.

    From keys ``tls.crt`` (the leaf, then any intermediate CA), ``tls.key`` and ``ca.crt`` (the
    issuing root CA). The private key is secret: callers must keep it out of logs.

    :raises ControlPlaneError: naming the Secret and key when either is absent or empty (never a value).
    """
    values = reader.secret_values(secret_name, [key for _field, key in SECRET_KEYS])
    return dict((field, values[key]) for field, key in SECRET_KEYS)
