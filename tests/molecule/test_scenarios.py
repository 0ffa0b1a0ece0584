"""Run molecule scenarios on lab containers, one test each, and check they leave nothing behind.

Scenarios run: $TENREC_SCENARIOS (space-separated) or every folder under molecule/. scripts/test.sh
runs the site scenario in one pytest process and the others in a second one at the same time, so the
checks for leftovers look only at what the scenario itself owns: its platforms' containers (and, for
a scenario on the lab, every container labelled tenrec-lab and the lab API server), and network
namespaces that no running container holds.
"""

import json
import os
import pathlib
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
ALL = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))
SCENARIOS = os.environ.get("TENREC_SCENARIOS", " ".join(ALL)).split()


def _podman(*args):
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=True).stdout


def _config(scenario):
    return yaml.safe_load((ROOT / "molecule" / scenario / "molecule.yml").read_text())


def _containers(scenario):
    """Names of existing containers that belong to the scenario."""
    conf = _config(scenario)
    owned = {p["name"] for p in conf["platforms"]}
    out = json.loads(_podman("ps", "-a", "--format", "json") or "[]")
    lab = conf["driver"]["name"] == "default"  # on the lab (lab/create.yml), not molecule's podman driver
    return sorted(c["Names"][0] for c in out
                  if c["Names"][0] in owned or (lab and (c.get("Labels") or {}).get("tenrec-lab") == "true"))


def _held_netns():
    """Network namespaces of running containers (podman keeps one per container under /run/netns)."""
    ids = _podman("ps", "-q").split()
    if not ids:
        return set()
    keys = _podman("inspect", "--format", "{{.NetworkSettings.SandboxKey}}", *ids).split()
    return {os.path.basename(k) for k in keys if k}


def _netns():
    return set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()


@pytest.mark.molecule
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(scenario):
    netns_before = _netns()
    result = subprocess.run(["molecule", "test", "-s", scenario], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    print(result.stdout[-20000:])
    # the whole run, passing or not, for whoever reads the test command's logs (.cache/molecule-<s>.log)
    (ROOT / ".cache").mkdir(exist_ok=True)
    log = ROOT / ".cache" / ("molecule-%s.log" % scenario)
    with os.fdopen(os.open(str(log), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
        handle.write(result.stdout)
    assert result.returncode == 0, "molecule test -s %s failed, see captured output" % scenario
    assert _containers(scenario) == [], "containers left behind"
    if _config(scenario)["driver"]["name"] == "default":  # the lab's API server
        assert not (ROOT / "lab/state/kubeapi.pid").exists(), "the lab API server was left running"
    left = _netns() - netns_before - _held_netns()
    assert not left, "network namespaces left behind: %s" % left
