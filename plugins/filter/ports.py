# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)
"""The prechecks' free-port check, over ``ss -Hlnptu`` and ``ip -o link show`` output."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re


def _devices(links):
    """Names of the devices in ``ip -o link show`` output (``2: eth0@if7: <...>`` gives ``eth0``)."""
    return set(m.group(1) for m in re.finditer(r"^\d+:\s+([^:@\s]+)[:@]", links or "", re.M))


def port_conflicts(ss_lines, ports, links=""):
    """Return ``list[str]``: one message per listening socket that holds a port of ``ports`` and is
    not the compute stack's own.

    :param ss_lines: lines of ``ss -Hlnptu`` (netid, state, recv-q, send-q, local address:port, peer,
        ``users:(("name",pid=..,fd=..))`` when the socket has a process).
    :param ports: list of ``{port: int, proto: "udp"|"tcp", owners: [process names],
        kernel_device: device name (optional)}``. A socket whose process is in ``owners`` is the
        stack's; a socket without a process is the kernel's, and the stack's own when
        ``kernel_device`` is one of the node's devices (Open vSwitch's kernel datapath holds 6081/udp
        through its Geneve tunnel device ``genev_sys_6081``).
    :param links: output of ``ip -o link show``.
    """
    devices = _devices(links)
    out = []
    for spec in ports:
        for line in ss_lines or []:
            fields = line.split()
            if len(fields) < 5 or fields[0] != spec["proto"] or not fields[4].endswith(":%s" % spec["port"]):
                continue
            owner = re.search(r'"([^"]+)"', fields[6]).group(1) if len(fields) > 6 and '"' in fields[6] else None
            if owner is not None and owner in spec.get("owners", []):
                continue
            if owner is None and spec.get("kernel_device") and spec["kernel_device"] in devices:
                continue
            out.append("port %s/%s is taken by %s" % (
                spec["port"], spec["proto"], fields[6] if owner else "the kernel (no process; not %s)" % (
                    spec.get("kernel_device") or "a device of the stack")))
    return out


class FilterModule(object):
    """tenrec.dataplane prechecks filters."""

    def filters(self):
        return {"port_conflicts": port_conflicts}
