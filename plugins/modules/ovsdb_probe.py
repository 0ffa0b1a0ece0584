#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ovsdb_probe
short_description: Reach every OVSDB server of an OVN connection string as ovn-controller will
version_added: 0.2.0
author: tenrec.dataplane developers (@tenrec)
description:
  - For each member of an OVN connection string (C(tcp:host:port) or C(ssl:host:port), comma-separated,
    the contract's C(ovn_sb_connection)), opens a connection from the node, over TLS for C(ssl:) with
    the node's client certificate and key and verified with O(ca_certificate), sends the OVSDB
    JSON-RPC C(list_dbs) request and checks that the server answers with O(database).
  - This is what ovn-controller does at start; running it first turns a wrong CA, a client certificate
    the server refuses, a firewall or a stopped DB into one message naming the endpoint.
  - Like OVSDB's own TLS, the server's certificate is verified against the CA but not against the host
    name.
  - Read-only; needs only the Python standard library on the node. Key material is written to a
    private temporary folder for the handshake and removed.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - tenrec.dataplane.attributes.no_diff
options:
  connection:
    description: OVN connection string, C(tcp:host:port) or C(ssl:host:port), comma-separated.
    type: str
    required: true
  database:
    description: Database the servers must serve.
    type: str
    default: OVN_Southbound
  ca_certificate:
    description: PEM CA that signs the servers' certificates (required for C(ssl:)).
    type: str
    default: ""
  certificate:
    description: PEM client certificate of the node (required for C(ssl:)).
    type: str
    default: ""
  private_key:
    description: PEM private key of O(certificate).
    type: str
    default: ""
  timeout:
    description: Seconds for each connection and reply.
    type: float
    default: 5
"""

EXAMPLES = r"""
- name: Reach the OVN SB DB with ovn-controller's certificate
  tenrec.dataplane.ovsdb_probe:
    connection: "{{ tenrec_controlplane.ovn_sb_connection }}"
    ca_certificate: "{{ tenrec_controlplane.certificates.ovn.ca_certificate }}"
    certificate: "{{ tenrec_controlplane.certificates.ovn.certificate }}"
    private_key: "{{ tenrec_controlplane.certificates.ovn.private_key }}"
"""

RETURN = r"""
endpoints:
  description: One entry per member of O(connection).
  returned: always
  type: list
  elements: dict
  contains:
    endpoint:
      description: The member, as written in O(connection).
      type: str
    ok:
      description: Connected (TLS verified both ways for C(ssl:)) and O(database) is served.
      type: bool
    error:
      description: Why not, empty when C(ok).
      type: str
    databases:
      description: Databases the server listed.
      type: list
      elements: str
"""

import json
import os
import shutil
import socket
import ssl
import tempfile

from ansible.module_utils.basic import AnsibleModule


def parse_connection(text):
    """Return ``[(proto, host, port, member)]`` for ``tcp:host:port[,ssl:[v6]:port...]``.

    :raises ValueError: a member that is not ``tcp:`` / ``ssl:`` host:port.
    """
    out = []
    for member in [m.strip() for m in text.split(",") if m.strip()]:
        proto, _sep, rest = member.partition(":")
        host, _sep, port = rest.rpartition(":")
        if proto not in ("tcp", "ssl") or not host or not port.isdigit():
            raise ValueError("%r is not tcp:host:port or ssl:host:port" % member)
        out.append((proto, host.strip("[]"), int(port), member))
    if not out:
        raise ValueError("empty connection string")
    return out


def _reply(sock, timeout):
    sock.settimeout(timeout)
    data = b""
    decoder = json.JSONDecoder()
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("the server closed the connection%s" % (
                " (it refused the client certificate?)" if isinstance(sock, ssl.SSLSocket) else ""))
        data += chunk
        try:
            return decoder.raw_decode(data.decode("utf-8"))[0]
        except ValueError:
            continue


def probe(proto, host, port, database, material, timeout, tmpdir):
    """Return the list of databases ``host:port`` serves; raise RuntimeError naming what failed."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except (OSError, socket.error) as exc:
        raise RuntimeError("TCP connection failed: %s" % exc)
    try:
        if proto == "ssl":
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False  # OVSDB verifies the peer's chain, not its name
            context.verify_mode = ssl.CERT_REQUIRED
            try:
                context.load_verify_locations(cadata=material["ca_certificate"])
            except (ssl.SSLError, ValueError) as exc:
                raise RuntimeError("ca_certificate cannot be loaded: %s" % exc)
            cert, key = os.path.join(tmpdir, "cert.pem"), os.path.join(tmpdir, "key.pem")
            for path, text in ((cert, material["certificate"]), (key, material["private_key"])):
                with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
                    handle.write(text)
            try:
                context.load_cert_chain(cert, key)
            except (ssl.SSLError, ValueError) as exc:
                raise RuntimeError("client certificate or key cannot be loaded: %s" % exc)
            try:
                sock = context.wrap_socket(sock)
            except ssl.SSLCertVerificationError as exc:
                raise RuntimeError("TLS: the server's certificate is not trusted: %s" % exc.verify_message)
            except (ssl.SSLError, OSError) as exc:
                raise RuntimeError("TLS handshake failed: %s" % exc)
        try:
            sock.sendall(json.dumps({"method": "list_dbs", "params": [], "id": 0}).encode())
            answer = _reply(sock, timeout)
        except ssl.SSLError as exc:
            raise RuntimeError("TLS: the server refused the node's client certificate: %s" % exc)
        except (OSError, socket.error, UnicodeDecodeError) as exc:
            raise RuntimeError("no OVSDB answer: %s" % exc)
        databases = answer.get("result") or []
        if database not in databases:
            raise RuntimeError("the server does not serve %s (it serves %s)" % (database, ", ".join(databases) or "nothing"))
        return databases
    finally:
        sock.close()


def main():
    module = AnsibleModule(
        argument_spec=dict(connection=dict(type="str", required=True),
                           database=dict(type="str", default="OVN_Southbound"),
                           ca_certificate=dict(type="str", default=""),
                           certificate=dict(type="str", default=""),
                           private_key=dict(type="str", default="", no_log=True),
                           timeout=dict(type="float", default=5)),
        supports_check_mode=True,
    )
    p = module.params
    try:
        members = parse_connection(p["connection"])
    except ValueError as exc:
        module.fail_json(msg="OVN connection %s" % exc, endpoints=[])
    if any(m[0] == "ssl" for m in members):
        missing = [k for k in ("ca_certificate", "certificate", "private_key") if not p[k].strip()]
        if missing:
            module.fail_json(msg="OVN connection %s is ssl: but %s %s empty" % (
                p["connection"], " and ".join(missing), "is" if len(missing) == 1 else "are"), endpoints=[])
    tmpdir = tempfile.mkdtemp(prefix="tenrec-ovsdb-probe-")
    endpoints = []
    try:
        for proto, host, port, member in members:
            item = dict(endpoint=member, ok=True, error="", databases=[])
            try:
                item["databases"] = probe(proto, host, port, p["database"], p, p["timeout"], tmpdir)
            except RuntimeError as exc:
                item.update(ok=False, error=str(exc))
            endpoints.append(item)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    failed = [e for e in endpoints if not e["ok"]]
    if failed:
        module.fail_json(msg="; ".join("OVN SB DB %s: %s" % (e["endpoint"], e["error"]) for e in failed),
                         endpoints=endpoints)
    module.exit_json(changed=False, endpoints=endpoints)


if __name__ == "__main__":
    main()
