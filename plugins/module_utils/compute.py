# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)
"""Compute-host lookups over openstacksdk shared by the compute_* modules.

``named_like_host(name, host)``: whether a hypervisor or Placement resource provider name (str or None,
nova's ``hypervisor_hostname``: the host name or its FQDN) belongs to nova's ``host``.
``servers_on_host(conn, host)``: the servers of every project on ``host`` (Compute API ``servers``
with the admin ``host`` filter, checked again on each server's ``compute_host``, i.e.
``OS-EXT-SRV-ATTR:host``), a list of openstacksdk ``Server``; needs the admin role.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def named_like_host(name, host):
    """True when ``name`` is ``host`` or ``host.<domain>``."""
    return name == host or (name or "").startswith(host + ".")


def server_host(server):
    """nova's host of a server (``OS-EXT-SRV-ATTR:host``, admin only; ``compute_host`` in openstacksdk)."""
    return getattr(server, "compute_host", None)


def servers_on_host(conn, host):
    """The servers (list of openstacksdk Server) of every project on ``host``."""
    return [s for s in conn.compute.servers(details=True, all_projects=True, compute_host=host)
            if server_host(s) == host]
