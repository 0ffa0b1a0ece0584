#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: controlplane_secrets
short_description: Ensure the Secrets the control plane reads hold every key, generated once, never printed
version_added: 0.1.0
author: tenrec.dataplane developers (@tenrec)
description:
  - Makes sure each Secret of O(secrets) exists in O(namespace) with every key listed for it, as
    openstack-operator's install_yamls (C(gen-input-kustomize.sh), C(gen-secrets.sh)) builds
    C(osp-secret), C(libvirt-secret) and C(octavia-ca-passphrase).
  - A key already in the Secret keeps its value - a re-run never rotates it. A missing key gets a
    value from Python's C(secrets) module (a cryptographic generator) - O(length) letters and digits;
    C(BarbicanSimpleCryptoKEK) the base64 of 32 random bytes (Barbican's simple_crypto KEK);
    C(HeatAuthEncryptionKey) 32 hexadecimal characters (Heat's C(auth_encryption_key) must be 16,
    24 or 32 characters long).
  - A value in O(values) is written as given (also over an existing value - the user's choice) and
    kept by later runs.
  - Keys the Secret holds beyond those (set by another writer) are left alone. Writes are
    server-side applies under O(field_manager) that carry every key this field manager applied
    before, so a key dropped from O(secrets) later is not removed either - nothing is ever deleted.
  - No value appears in any output - not in the result, not in C(--diff) (key names only, values
    shown as C(<hidden>)), not at C(-vvv). O(values) is C(no_log), and the module registers every
    value it reads or generates (of 8 characters or more, plain and base64) as a no_log value, so
    Ansible masks it should it appear anyway.
  - Per Secret the result carries C(sha256) - a hash of its stored data - so a run can show that a
    Secret did not change without printing it.
  - Check mode reads the Secrets and reports what it would create and add, sending the writes with
    C(dryRun=All) (nothing is stored; no value is generated into the Secret). When O(namespace) does
    not exist yet (the step creating it was dry-run too) the Secrets are reported as created, with
    a warning, without a dry run.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - tenrec.dataplane.attributes
  - kubernetes.core.k8s_auth_options
  - tenrec.dataplane.apply
  - tenrec.dataplane.k8s_auth
options:
  secrets:
    description:
      - Secret name -> the keys it must hold.
      - The default is openstack-operator's - C(osp-secret) with C(AdminPassword), C(AodhPassword),
        C(BarbicanPassword), C(BarbicanSimpleCryptoKEK), C(CeilometerPassword), C(CinderPassword),
        C(CloudKittyPassword), C(DatabasePassword), C(DbRootPassword), C(DesignatePassword),
        C(GlancePassword), C(HeatAuthEncryptionKey), C(HeatPassword), C(HeatStackDomainAdminPassword),
        C(IronicInspectorPassword), C(IronicPassword), C(KeystoneOIDCClientSecret),
        C(KeystoneOIDCCryptoPassphrase), C(ManilaPassword), C(MetadataSecret), C(NeutronPassword),
        C(NovaPassword), C(OctaviaHeartbeatKey), C(OctaviaPassword), C(PlacementPassword),
        C(SwiftPassword), C(WatcherPassword); C(libvirt-secret) with C(LibvirtPassword);
        C(octavia-ca-passphrase) with C(server-ca-passphrase).
      - Setting it replaces that whole default (list the three Secrets to extend it).
    type: dict
  values:
    description:
      - Values the user sets - Secret name -> {key - value}. Such a key is written with this value on
        every run. A Secret or key named only here is managed too.
    type: dict
    default: {}
  length:
    description: Length of a generated password (letters and digits), at least 16.
    type: int
    default: 32
"""

EXAMPLES = r"""
- name: osp-secret, libvirt-secret and octavia-ca-passphrase with every key (generated once)
  tenrec.dataplane.controlplane_secrets:
    namespace: openstack

- name: The same, with the admin password chosen by the site
  tenrec.dataplane.controlplane_secrets:
    values:
      osp-secret:
        AdminPassword: "{{ vault_openstack_admin_password }}"
  register: osp_secrets

- name: Show that osp-secret is unchanged (its hash, never a value)
  ansible.builtin.debug:
    msg: "{{ osp_secrets.secrets['osp-secret'].sha256 }}"
"""

RETURN = r"""
secrets:
  description:
    - Per Secret - C(created) (it did not exist), C(added_keys) (generated now), C(set_keys) (from
      O(values), written now because absent or different), C(kept_keys) (present and left as they
      were, including keys other writers set) and C(sha256).
    - C(sha256) is the SHA-256 (hex) of the Secret's stored data - the lines C(<key>=<base64 value as
      stored>), sorted by key, each ended by a newline. It is a hash, not a value - compare it between
      runs to see a Secret unchanged. In check mode it is the hash of the Secret as it is (null when
      it does not exist).
  returned: success
  type: dict
  sample:
    osp-secret:
      created: false
      added_keys: [WatcherPassword]
      set_keys: []
      kept_keys: [AdminPassword, AodhPassword]
      sha256: 0b9c2625dc21ef05f6ad4ddf47c5f203837aa32c0bd5b2cd9e2c5b1c3d0f5e7a
duration:
  description: Seconds spent.
  returned: success
  type: float
"""

import base64
import hashlib
import re
import secrets as secrets_lib
import string
import time

from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.tenrec.dataplane.plugins.module_utils.apply import APPLY_ARGS, Applier
from ansible_collections.tenrec.dataplane.plugins.module_utils.k8s import (
    ControlPlaneError, DynamicApiError, auth_argument_spec, call_or_fail, describe_api_error)

OSP_SECRET_KEYS = [
    "AdminPassword", "AodhPassword", "BarbicanPassword", "BarbicanSimpleCryptoKEK", "CeilometerPassword",
    "CinderPassword", "CloudKittyPassword", "DatabasePassword", "DbRootPassword", "DesignatePassword",
    "GlancePassword", "HeatAuthEncryptionKey", "HeatPassword", "HeatStackDomainAdminPassword",
    "IronicInspectorPassword", "IronicPassword", "KeystoneOIDCClientSecret", "KeystoneOIDCCryptoPassphrase",
    "ManilaPassword", "MetadataSecret", "NeutronPassword", "NovaPassword", "OctaviaHeartbeatKey",
    "OctaviaPassword", "PlacementPassword", "SwiftPassword", "WatcherPassword"]
DEFAULT_SECRETS = {"osp-secret": OSP_SECRET_KEYS, "libvirt-secret": ["LibvirtPassword"],
                   "octavia-ca-passphrase": ["server-ca-passphrase"]}
ALPHABET = string.ascii_letters + string.digits
SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
HIDDEN = "<hidden>"
MASK_MIN = 8


def generate(key, length):
    """A new value (str) for ``key``, from the ``secrets`` module."""
    if key == "BarbicanSimpleCryptoKEK":
        return base64.b64encode(secrets_lib.token_bytes(32)).decode()
    if key == "HeatAuthEncryptionKey":
        return secrets_lib.token_hex(16)
    return "".join(map(secrets_lib.choice, [ALPHABET] * length))


def data_hash(data):
    """SHA-256 (hex) of a Secret's ``data`` (key -> base64 str): ``key=value\\n`` lines sorted by key."""
    return hashlib.sha256("".join("%s=%s\n" % (k, data[k]) for k in sorted(data or {})).encode()).hexdigest()


def owned_keys(obj, manager):
    """Keys of ``data`` that ``manager`` holds through server-side apply in ``obj`` (a Secret dict)."""
    keys = set()
    for entry in (obj or {}).get("metadata", {}).get("managedFields") or []:
        if entry.get("manager") != manager or entry.get("operation") != "Apply":
            continue
        fields = (entry.get("fieldsV1") or {}).get("f:data") or {}
        keys.update(k[2:] for k in fields if k.startswith("f:"))
    return keys


def wanted(params):
    """``{secret: [keys]}`` from ``secrets`` and ``values``; raise ControlPlaneError on a bad name."""
    declared = params["secrets"] if params["secrets"] is not None else DEFAULT_SECRETS
    out = {}
    for name, keys in declared.items():
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise ControlPlaneError("secrets.%s: must be a list of key names" % name)
        out[name] = list(keys)
    for name, values in (params["values"] or {}).items():
        if not isinstance(values, dict):
            raise ControlPlaneError("values.%s: must be a mapping of key names to values" % name)
        out.setdefault(name, [])
        out[name] += [k for k in values if k not in out[name]]
        for key, value in values.items():
            if not isinstance(value, str) or value == "":
                # the value itself is never named
                raise ControlPlaneError("values.%s.%s: must be a non-empty string" % (name, key))
    for name, keys in out.items():
        if not DNS_SUBDOMAIN.match(name) or len(name) > 253:
            raise ControlPlaneError("secrets: %r is not a Secret name (a DNS subdomain)" % name)
        for key in keys:
            if not SECRET_KEY.match(key):
                raise ControlPlaneError("secrets.%s: %r is not a Secret key (letters, digits, '-', '_', '.')"
                                        % (name, key))
    return out


def plan(name, keys, existing, user, manager, length):
    """What to do for one Secret.

    :param existing: the Secret as read (dict) or None.
    :param user: ``{key: value}`` the user set for it.
    :returns: ``(body or None when nothing is to be written, report, new values)``.
    """
    data = dict((existing or {}).get("data") or {})
    added, set_keys, kept, new = [], [], [], {}
    body_data = {}
    for key in keys:
        if key in user:
            encoded = base64.b64encode(user[key].encode()).decode()
            if data.get(key) != encoded:
                set_keys.append(key)
            else:
                kept.append(key)
            body_data[key] = encoded
        elif key in data:
            kept.append(key)
            body_data[key] = data[key]
        else:
            value = generate(key, length)
            new[key] = value
            added.append(key)
            body_data[key] = base64.b64encode(value.encode()).decode()
    kept += sorted(k for k in data if k not in body_data)
    report = {"created": existing is None, "added_keys": added, "set_keys": set_keys, "kept_keys": kept}
    if existing is not None and not added and not set_keys:
        return None, report, new
    for key in owned_keys(existing, manager):  # keys this manager applied before stay applied
        if key not in body_data and key in data:
            body_data[key] = data[key]
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": body_data,
            "type": (existing or {}).get("type") or "Opaque"}
    return body, report, new


def masked_diff(name, namespace, before, report):
    """``diff`` for one Secret: key names, every value ``<hidden>``."""
    header = "Secret %s in namespace %s" % (name, namespace)
    old = dict((k, HIDDEN) for k in sorted((before or {}).get("data") or {}))
    new = dict(old)
    new.update((k, HIDDEN + " (generated)") for k in report["added_keys"])
    new.update((k, HIDDEN + " (set from values)") for k in report["set_keys"])
    return {"before": {"data": old} if before is not None else {}, "after": {"data": new},
            "before_header": header, "after_header": header}


def hide(module, value):
    """Have Ansible mask ``value`` in anything the module returns (values of 8 characters or more:
    masking shorter ones would garble the output; the module never returns a value anyway)."""
    if value and len(value) >= MASK_MIN:
        getattr(module, "_module", module).no_log_values.add(value)  # AnsibleK8SModule wraps AnsibleModule


def run(module):
    p = module.params
    started = time.monotonic()
    if p["length"] < 16:
        raise ControlPlaneError("length: %d is below 16" % p["length"])
    targets = wanted(p)
    applier = Applier(get_api_client(module), "v1", "Secret", p["field_manager"])
    result, diffs, changed = {}, [], False
    for name in sorted(targets):
        where = "Secret %s in namespace %s" % (name, p["namespace"])
        try:
            before = applier.get(name, p["namespace"])
        except DynamicApiError as exc:
            raise ControlPlaneError("%s: %s" % (where, describe_api_error(exc)))
        for value in ((before or {}).get("data") or {}).values():
            hide(module, base64.b64decode(value).decode("utf-8", "replace"))
            hide(module, value)
        body, report, new = plan(name, targets[name], before, (p["values"] or {}).get(name) or {},
                                 p["field_manager"], p["length"])
        for value in new.values():
            hide(module, value)
            hide(module, base64.b64encode(value.encode()).decode())
        after = before
        if body is not None:
            changed = True
            diffs.append(masked_diff(name, p["namespace"], before, report))
            try:
                after = applier.apply(body, p["namespace"], module.check_mode, p["force_conflicts"],
                                      before=before)[2]
            except DynamicApiError as exc:
                if not (module.check_mode and getattr(exc, "status", None) == 404):
                    raise ControlPlaneError("%s: %s" % (where, describe_api_error(exc)))
                # check mode, the namespace not there yet (the step creating it was dry-run)
                module.warn("check mode: %s would be created; not validated, namespace %s does not exist yet"
                            % (where, p["namespace"]))
            if module.check_mode:
                after = before
        report["sha256"] = data_hash(after.get("data")) if after is not None else None
        result[name] = report
    return dict(changed=changed, secrets=result, diff=diffs, duration=round(time.monotonic() - started, 1))


def main():
    module = AnsibleK8SModule(
        argument_spec=auth_argument_spec(
            namespace=dict(type="str", default="openstack"),
            secrets=dict(type="dict", no_log=False),
            values=dict(type="dict", default={}, no_log=True),
            length=dict(type="int", default=32),
            **APPLY_ARGS
        ),
        supports_check_mode=True,
    )
    module.exit_json(**call_or_fail(module, lambda: run(module)))


if __name__ == "__main__":
    main()
