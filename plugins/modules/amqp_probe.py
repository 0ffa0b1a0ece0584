#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: amqp_probe
short_description: Log in to every RabbitMQ endpoint of a transport_url, from the node that will use it
version_added: 0.1.0
author: tenrec.dataplane developers (@tenrec)
description:
  - For each host of an oslo.messaging C(transport_url) (C(rabbit://user:pass@host:port,.../vhost?ssl=0|1)),
    opens a TCP connection (TLS when C(ssl=1), verified with O(ca_file)), runs the AMQP 0-9-1 handshake,
    logs in with the URL's credentials (SASL PLAIN) and opens the virtual host, then closes cleanly.
  - This is what nova-compute will do at start; running it first turns a wrong password, a missing
    vhost permission, a firewall or a stopped broker into one clear message naming the endpoint
    (C(host:port)), never the password.
  - Read-only, it changes nothing on the node or on the broker.
  - Needs only the Python standard library on the node.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - tenrec.dataplane.attributes.no_diff
options:
  url:
    description: The C(transport_url) (the contract's C(transport_url)).
    type: str
    required: true
  ca_file:
    description: CA bundle file on the node to verify the broker's certificate when C(ssl=1); empty uses the system store.
    type: path
  timeout:
    description: Seconds for each connection and each reply.
    type: float
    default: 5
"""

EXAMPLES = r"""
- name: Log in to RabbitMQ the way nova-compute will
  tenrec.dataplane.amqp_probe:
    url: "{{ tenrec_controlplane.transport_url }}"
  no_log: false   # the module hides the URL itself (no_log option); errors name host:port only
"""

RETURN = r"""
endpoints:
  description: One entry per broker host of the URL.
  returned: always
  type: list
  elements: dict
  contains:
    endpoint:
      description: C(amqp://host:port/vhost) (C(amqps) with TLS); no credentials.
      type: str
    ok:
      description: TCP, (TLS,) login and vhost open all succeeded.
      type: bool
    error:
      description: What failed, empty when C(ok).
      type: str
    server:
      description: Broker product and version from Connection.Start.
      type: str
"""

import socket
import ssl
import struct

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.six.moves.urllib.parse import parse_qs, unquote, urlsplit

FRAME_END = b"\xce"


def parse_transport_url(url):
    """``[(user, password, host, port, vhost, use_ssl)]`` for each host of an oslo.messaging URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("rabbit", "amqp", "amqps"):
        raise ValueError("transport_url scheme is %r, expected rabbit://" % parts.scheme)
    query = parse_qs(parts.query)
    use_ssl = parts.scheme == "amqps" or query.get("ssl", ["0"])[-1].lower() in ("1", "true", "yes")
    vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    out = []
    for item in parts.netloc.split(","):
        cred, _at, hostport = item.rpartition("@")
        user, _colon, password = cred.partition(":")
        if hostport.startswith("["):
            host, _b, rest = hostport[1:].partition("]")
            port = rest.lstrip(":")
        else:
            host, _c, port = hostport.partition(":")
        out.append((unquote(user), unquote(password), host, int(port or (5671 if use_ssl else 5672)), vhost, use_ssl))
    return out


def _shortstr(text):
    data = text.encode()
    return struct.pack("!B", len(data)) + data


def _longstr(data):
    return struct.pack("!I", len(data)) + data


def _method(class_id, method_id, args):
    payload = struct.pack("!HH", class_id, method_id) + args
    return struct.pack("!BHI", 1, 0, len(payload)) + payload + FRAME_END


class Probe(object):
    """One AMQP 0-9-1 conversation with one broker host."""

    def __init__(self, host, port, use_ssl, ca_file, timeout):
        self.host, self.port, self.use_ssl, self.ca_file, self.timeout = host, port, use_ssl, ca_file, timeout
        self.sock = None

    def _read(self, size):
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise EOFError()
            data += chunk
        return data

    def read_method(self):
        """(class_id, method_id, arguments bytes) of the next method frame; heartbeats are skipped."""
        while True:
            ftype, _channel, size = struct.unpack("!BHI", self._read(7))
            payload = self._read(size)
            if self._read(1) != FRAME_END:
                raise ValueError("malformed AMQP frame")
            if ftype == 1:
                class_id, method_id = struct.unpack("!HH", payload[:4])
                return class_id, method_id, payload[4:]

    @staticmethod
    def close_reason(args):
        code = struct.unpack("!H", args[:2])[0]
        text = args[3:3 + struct.unpack("!B", args[2:3])[0]].decode("utf-8", "replace")
        return "%d %s" % (code, text)

    def run(self, user, password, vhost):
        """Return the broker's product/version; raise RuntimeError with what failed."""
        try:
            raw = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except (OSError, socket.error) as exc:
            raise RuntimeError("TCP connection failed: %s" % exc)
        try:
            if self.use_ssl:
                context = ssl.create_default_context(cafile=self.ca_file or None)
                try:
                    raw = context.wrap_socket(raw, server_hostname=self.host)
                except (ssl.SSLError, ssl.CertificateError, OSError) as exc:
                    raise RuntimeError("TLS handshake failed: %s" % exc)
            self.sock = raw
            return self._converse(user, password, vhost)
        except EOFError:
            raise RuntimeError("the broker closed the connection (login refused, or not an AMQP 0-9-1 server)")
        except (OSError, socket.error, ValueError, struct.error) as exc:
            raise RuntimeError("AMQP handshake failed: %s" % exc)
        finally:
            raw.close()

    def _converse(self, user, password, vhost):
        self.sock.sendall(b"AMQP\x00\x00\x09\x01")
        class_id, method_id, args = self.read_method()
        if (class_id, method_id) != (10, 10):
            raise RuntimeError("unexpected first method %d.%d (not an AMQP 0-9-1 broker?)" % (class_id, method_id))
        server = self._server_name(args)
        caps = _shortstr("authentication_failure_close") + b"t\x01"
        props = _shortstr("product") + b"S" + _longstr(b"tenrec.dataplane amqp_probe") + \
            _shortstr("capabilities") + b"F" + _longstr(caps)
        response = b"\x00" + user.encode() + b"\x00" + password.encode()
        self.sock.sendall(_method(10, 11, _longstr(props) + _shortstr("PLAIN") + _longstr(response) +
                                  _shortstr("en_US")))
        class_id, method_id, args = self.read_method()
        if (class_id, method_id) == (10, 50):
            raise RuntimeError("login refused for user %r: %s" % (user, self.close_reason(args)))
        if (class_id, method_id) != (10, 30):
            raise RuntimeError("unexpected method %d.%d after login" % (class_id, method_id))
        channel_max, frame_max, _heartbeat = struct.unpack("!HIH", args[:8])
        self.sock.sendall(_method(10, 31, struct.pack("!HIH", channel_max, frame_max, 0)))
        self.sock.sendall(_method(10, 40, _shortstr(vhost) + _shortstr("") + b"\x00"))
        class_id, method_id, args = self.read_method()
        if (class_id, method_id) == (10, 50):
            raise RuntimeError("virtual host %r refused for user %r: %s" % (vhost, user, self.close_reason(args)))
        self.sock.sendall(_method(10, 50, struct.pack("!H", 200) + _shortstr("Goodbye") + struct.pack("!HH", 0, 0)))
        try:
            self.read_method()  # Close-Ok
        except (EOFError, OSError, socket.error):
            pass
        return server

    @staticmethod
    def _server_name(args):
        """'RabbitMQ 3.10.8' from Connection.Start's server-properties (best effort)."""
        size = struct.unpack("!I", args[2:6])[0]
        table, pos, found = args[6:6 + size], 0, {}
        while pos < len(table):
            klen = table[pos]
            key = table[pos + 1:pos + 1 + klen].decode("utf-8", "replace")
            pos += 1 + klen
            kind = table[pos:pos + 1]
            pos += 1
            if kind in (b"S", b"F"):
                vlen = struct.unpack("!I", table[pos:pos + 4])[0]
                found[key] = table[pos + 4:pos + 4 + vlen] if kind == b"S" else b""
                pos += 4 + vlen
            else:
                break
        return " ".join(found.get(k, b"").decode("utf-8", "replace") for k in ("product", "version")).strip()


def main():
    module = AnsibleModule(
        argument_spec=dict(url=dict(type="str", required=True, no_log=True),
                           ca_file=dict(type="path"),
                           timeout=dict(type="float", default=5)),
        supports_check_mode=True,
    )
    p = module.params
    try:
        hosts = parse_transport_url(p["url"])
    except ValueError as exc:
        module.fail_json(msg="transport_url cannot be parsed: %s" % exc, endpoints=[])
    endpoints = []
    for user, password, host, port, vhost, use_ssl in hosts:
        endpoint = "%s://%s:%d/%s" % ("amqps" if use_ssl else "amqp", host, port, vhost.lstrip("/"))
        item = dict(endpoint=endpoint, ok=True, error="", server="")
        try:
            item["server"] = Probe(host, port, use_ssl, p["ca_file"], p["timeout"]).run(user, password, vhost)
        except RuntimeError as exc:
            item.update(ok=False, error=str(exc))
        endpoints.append(item)
    failed = [e for e in endpoints if not e["ok"]]
    if failed:
        module.fail_json(msg="; ".join("AMQP endpoint %s: %s" % (e["endpoint"], e["error"]) for e in failed),
                         endpoints=endpoints)
    module.exit_json(changed=False, endpoints=endpoints)


if __name__ == "__main__":
    main()
