#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: virt_probe
short_description: Decide nova's virt_type from what the host can really do
version_added: 0.1.0
author: tenrec.dataplane developers (@tenrec)
description:
  - Probes a compute node for hardware-assisted virtualization and returns the C(virt_type)
    nova-compute should use, C(kvm) or C(qemu), with the reason.
  - C(kvm) needs all of C(/dev/kvm) openable read-write, a CPU that advertises C(vmx) or C(svm),
    and a KVM module that is not the paravirtual C(kvm_pvm) (which cannot boot normal guests).
  - Anything less gives C(qemu) (software emulation, TCG) and a warning; C(override) wins over the
    probe.
  - Reads only; never changes the host.
options:
  override:
    description:
      - C(kvm) or C(qemu) to force the result; empty to use the probe.
    type: str
    default: ""
    choices: ["", kvm, qemu]
  warn:
    description: Emit a warning when the result is C(qemu).
    type: bool
    default: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - tenrec.dataplane.attributes.no_diff
"""

EXAMPLES = r"""
- name: Decide virt_type
  tenrec.dataplane.virt_probe:
  register: probe

- name: Force software emulation in a lab
  tenrec.dataplane.virt_probe:
    override: qemu
"""

RETURN = r"""
virt_type:
  description: The virt_type for nova C([libvirt] virt_type).
  returned: always
  type: str
  sample: qemu
reason:
  description: Why this virt_type was chosen.
  returned: always
  type: str
  sample: "CPU advertises neither vmx nor svm"
kvm_device:
  description: Whether C(/dev/kvm) exists and opens read-write.
  returned: always
  type: bool
  sample: true
cpu_virt_flag:
  description: The CPU's hardware virtualization flag from C(/proc/cpuinfo), empty when none.
  returned: always
  type: str
  sample: vmx
kvm_modules:
  description: Loaded kernel modules whose name starts with C(kvm), from C(/proc/modules).
  returned: always
  type: list
  elements: str
  sample: [kvm, kvm_intel]
"""

import os

from ansible.module_utils.basic import AnsibleModule


def _read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return ""


def probe(cpuinfo, modules, kvm_openable):
    """Decide the virt_type.

    :param cpuinfo: text of /proc/cpuinfo.
    :param modules: text of /proc/modules.
    :param kvm_openable: whether /dev/kvm opened read-write.
    :returns: dict with virt_type, reason, kvm_device, cpu_virt_flag, kvm_modules.
    """
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
    flag = "vmx" if "vmx" in flags else "svm" if "svm" in flags else ""
    kvm_modules = sorted(line.split()[0] for line in modules.splitlines() if line.startswith("kvm"))
    result = {"kvm_device": kvm_openable, "cpu_virt_flag": flag, "kvm_modules": kvm_modules}
    if not kvm_openable:
        reason = "/dev/kvm is missing or cannot be opened read-write"
    elif not flag:
        reason = "CPU advertises neither vmx nor svm"
    elif "kvm_pvm" in kvm_modules:
        reason = "KVM is the paravirtual kvm_pvm module, which cannot boot normal guests"
    else:
        result.update(virt_type="kvm", reason="/dev/kvm usable, CPU flag %s" % flag)
        return result
    result.update(virt_type="qemu", reason=reason)
    return result


def _kvm_openable():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    os.close(fd)
    return True


def main():
    module = AnsibleModule(
        argument_spec=dict(
            override=dict(type="str", default="", choices=["", "kvm", "qemu"]),
            warn=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    result = probe(_read("/proc/cpuinfo"), _read("/proc/modules"), _kvm_openable())
    if module.params["override"]:
        result["reason"] = "set by override (probe said %s: %s)" % (result["virt_type"], result["reason"])
        result["virt_type"] = module.params["override"]
    elif result["virt_type"] == "qemu" and module.params["warn"]:
        module.warn("KVM is not usable on this host (%s): nova will use virt_type=qemu, "
                    "software emulation, which is slow. Set virt_type explicitly to override."
                    % result["reason"])
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
