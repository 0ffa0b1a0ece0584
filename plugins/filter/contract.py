# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)
"""Filters over the ``tenrec_controlplane`` contract (rules in module_utils/contract.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tenrec.dataplane.plugins.module_utils.contract import validate, with_defaults


def contract_errors(contract):
    """Return ``list[str]`` of problems in ``contract`` (see module_utils.contract.validate)."""
    return validate(contract)


def contract_defaults(contract):
    """Return ``contract`` with its optional fields filled in (module_utils.contract.DEFAULTS)."""
    return with_defaults(contract)


class FilterModule(object):
    """tenrec.dataplane contract filters."""

    def filters(self):
        return {"contract_errors": contract_errors, "contract_defaults": contract_defaults}
