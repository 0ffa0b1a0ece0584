"""Run molecule scenarios on lab containers, one test each, and check they leave nothing behind.

Scenarios run: $TENREC_SCENARIOS (space-separated) or every folder under molecule/.
"""

import json
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
ALL = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))
SCENARIOS = os.environ.get("TENREC_SCENARIOS", " ".join(ALL)).split()


def _podman(*args):
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=True).stdout


def _molecule_containers():
    names = []
    for label in ("owner=molecule", "tenrec-lab=true"):  # molecule's podman driver; lab/create.yml
        out = _podman("ps", "-a", "--filter", "label=" + label, "--format", "json")
        names += [c["Names"][0] for c in json.loads(out or "[]")]
    return names


def _netns():
    return set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()


@pytest.mark.molecule
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(scenario):
    netns_before = _netns()
    result = subprocess.run(["molecule", "test", "-s", scenario], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    print(result.stdout[-20000:])
    assert result.returncode == 0, "molecule test -s %s failed, see captured output" % scenario
    assert _molecule_containers() == [], "containers left behind"
    assert not (ROOT / "lab/state/kubeapi.pid").exists(), "the lab API server was left running"
    netns_after = _netns()
    assert netns_after <= netns_before, "network namespaces left behind: %s" % (netns_after - netns_before)
