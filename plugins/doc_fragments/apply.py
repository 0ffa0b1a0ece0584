# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Server-side apply options of the modules that apply objects (module_utils/apply.py APPLY_ARGS)."""

    DOCUMENTATION = r"""
options:
  field_manager:
    description: Server-side apply field manager.
    type: str
    default: tenrec-dataplane
  force_conflicts:
    description:
      - Take over fields another field manager owns (for example after a C(kubectl edit)) instead of
        failing with an apply conflict that names the fields and their managers.
    type: bool
    default: false
"""
