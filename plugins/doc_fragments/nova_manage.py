# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Options of the modules that run nova-manage in a cell's conductor Pod (module_utils/nova_manage.py)."""

    DOCUMENTATION = r"""
options:
  cell:
    description: The cell (openstack-operator names its conductor C(nova-<cell>-conductor)).
    type: str
    default: cell1
  pod:
    description: Conductor Pod to exec into; empty means C(nova-<cell>-conductor-0).
    type: str
    default: ""
  container:
    description: Container in the Pod; empty means C(nova-<cell>-conductor).
    type: str
    default: ""
"""
