# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)
"""Filter mask_secrets (module_utils/masking.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tenrec.dataplane.plugins.module_utils.masking import mask


def mask_secrets(text):
    """``text`` with its secrets masked (see module_utils/masking.py)."""
    return mask(text)


class FilterModule(object):
    def filters(self):
        return {"mask_secrets": mask_secrets}
