# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Options shared by the control-plane modules (auth itself is kubernetes.core.k8s_auth_options)."""

    DOCUMENTATION = r"""
options:
  namespace:
    description: Namespace the OpenStack control plane runs in.
    type: str
    default: openstack
requirements:
  - kubernetes >= 24.2.0
  - PyYAML >= 3.11
notes:
  - Authentication options and the C(K8S_AUTH_*) environment variables are those of
    kubernetes.core (see its k8s_auth_options); set them once with
    C(module_defaults) for C(group/tenrec.dataplane.k8s).
"""
