"""Which nodes the main job's node plays run on: tenrec_dataplane_hosts, else openstack-operator's
edpm_override_hosts (the NodeSet's name, which an OpenStackDataPlaneDeployment passes), else computes.
Read from ``ansible-playbook --list-hosts`` on a static inventory (nothing is contacted)."""

import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOKS = ["site", "prechecks", "dataplane", "discover", "certificates"]


def node_plays(tmp_path, playbook, *extravars):
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[computes]\ncmp-a\ncmp-b\n\n[openstack-edpm]\nedpm-0\nedpm-1\n")
    cmd = ["ansible-playbook", "-i", str(inventory), os.path.join(ROOT, "playbooks", playbook + ".yml"), "--list-hosts"]
    for var in extravars:
        cmd += ["-e", var]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    plays = {}
    for block in re.split(r"\n\s*play #\d+ ", out)[1:]:
        name = block.split("\t")[0]
        hosts = re.search(r"hosts \(\d+\):\n((?:\s+\S+\n?)*)", block)
        listed = frozenset(hosts.group(1).split()) if hosts else frozenset()
        if listed != {"localhost"}:
            plays[name] = listed
    return plays


@pytest.mark.parametrize("playbook", PLAYBOOKS)
@pytest.mark.parametrize("extravars, expected", [
    ((), {"cmp-a", "cmp-b"}),
    (("edpm_override_hosts=openstack-edpm",), {"edpm-0", "edpm-1"}),
    (("edpm_override_hosts=openstack-edpm", "tenrec_dataplane_hosts=cmp-b"), {"cmp-b"}),
])
def test_node_plays_target(tmp_path, playbook, extravars, expected):
    plays = node_plays(tmp_path, playbook, *extravars)
    assert plays, "no node play listed"
    assert set(plays.values()) == {frozenset(expected)}, plays
