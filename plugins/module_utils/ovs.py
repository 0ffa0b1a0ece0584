# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)
"""Small layer over ``ovs-vsctl`` for modules that must report change truthfully.

Reads go through ``ovs-vsctl --format=json`` and OVSDB's JSON encoding (``["map", [[k, v]...]]``,
``["set", [...]]``, ``["uuid", "..."]``); writes happen only when the read differs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json


class OvsError(Exception):
    """An ``ovs-vsctl`` call failed; ``str()`` holds the command and its stderr."""


class Vsctl(object):
    """Run ovs-vsctl through an AnsibleModule.

    :param module: the AnsibleModule (its ``run_command`` and ``get_bin_path`` are used).
    :param timeout: seconds ovs-vsctl waits for ovsdb-server (``--timeout``).
    :raises OvsError: from every method, when ovs-vsctl exits non-zero.
    """

    def __init__(self, module, timeout=10):
        self.module = module
        self.binary = module.get_bin_path("ovs-vsctl", required=True)
        self.timeout = timeout

    def run(self, *args):
        cmd = [self.binary, "--timeout=%d" % self.timeout] + list(args)
        rc, out, err = self.module.run_command(cmd)
        if rc != 0:
            raise OvsError("%s failed (rc=%d): %s" % (" ".join(cmd), rc, err.strip() or out.strip()))
        return out

    def get_column(self, table, record, column):
        """Return one column of one record, decoded from OVSDB JSON to Python."""
        out = self.run("--format=json", "--columns=%s" % column, "list", table, record)
        data = json.loads(out)
        return decode(data["data"][0][0]) if data["data"] else None

    def bridge_exists(self, name):
        cmd = [self.binary, "--timeout=%d" % self.timeout, "br-exists", name]
        rc, out, err = self.module.run_command(cmd)
        if rc == 0:
            return True
        if rc == 2:
            return False
        raise OvsError("%s failed (rc=%d): %s" % (" ".join(cmd), rc, err.strip()))


def decode(value):
    """Decode an OVSDB JSON value: maps to dict, sets to list, uuids to str, atoms as they are."""
    if isinstance(value, list) and len(value) == 2 and value[0] in ("map", "set", "uuid", "named-uuid"):
        kind, body = value
        if kind == "map":
            return dict((k, decode(v)) for k, v in body)
        if kind == "set":
            return [decode(v) for v in body]
        return body
    return value


def quote(value):
    """Quote a value for ``ovs-vsctl set`` (always as an OVSDB string)."""
    return json.dumps(str(value))
