#!/usr/bin/env python3
"""Inventory of the local lab: one controller and TENREC_LAB_COMPUTES computes (default 2).

Hosts are podman containers on podman's bridge (10.88.0.0/16):
  tenrec-lab-ctl    10.88.20.10  group lab_controllers (the control plane's services), podman connection
  tenrec-lab-cmp-N  10.88.20.(11+N)  group computes, reached as a site reaches its nodes: SSH as
                    cloud-admin with the key lab/state/ssh/id_ed25519, host keys checked against
                    lab/state/ssh/known_hosts, become (sudo) to root; lab/create.yml sets this up
``--list`` / ``--host NAME`` as Ansible's script inventory expects.
"""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
PREFIX = os.environ.get("TENREC_LAB_PREFIX", "10.88.20")


def inventory():
    count = int(os.environ.get("TENREC_LAB_COMPUTES", "2"))
    if not 1 <= count <= 40:
        sys.exit("TENREC_LAB_COMPUTES must be between 1 and 40, got %d" % count)
    hosts = {"tenrec-lab-ctl": "%s.10" % PREFIX}
    hosts.update(("tenrec-lab-cmp-%d" % i, "%s.%d" % (PREFIX, 11 + i)) for i in range(count))
    ssh = os.path.join(ROOT, "lab", "state", "ssh")
    hostvars = {}
    for name, ip in hosts.items():
        hostvars[name] = {"ansible_python_interpreter": "/usr/bin/python3", "tenrec_lab_ip": ip}
        if name == "tenrec-lab-ctl":
            hostvars[name].update(ansible_connection="containers.podman.podman", ansible_host=name)
        else:
            hostvars[name].update(
                ansible_connection="ssh", ansible_host=ip, ansible_user="cloud-admin", ansible_become=True,
                ansible_ssh_pipelining=True, ansible_ssh_host_key_checking=True,
                ansible_ssh_private_key_file=os.path.join(ssh, "id_ed25519"),
                ansible_ssh_common_args="-o UserKnownHostsFile=%s" % os.path.join(ssh, "known_hosts"))
    return {
        "_meta": {"hostvars": hostvars},
        "all": {"children": ["lab_controllers", "computes"],
                "vars": {"tenrec_lab_root": ROOT, "tenrec_lab_hosts": hosts}},
        "lab_controllers": {"hosts": ["tenrec-lab-ctl"]},
        "computes": {"hosts": sorted(h for h in hosts if h != "tenrec-lab-ctl")},
    }


if __name__ == "__main__":
    data = inventory()
    if len(sys.argv) > 2 and sys.argv[1] == "--host":
        print(json.dumps(data["_meta"]["hostvars"].get(sys.argv[2], {})))
    else:
        print(json.dumps(data))
