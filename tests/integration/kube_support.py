"""Paths shared by the integration tests; puts lab/ on sys.path for the kubeapi package."""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]  # the repository
CRDS = ROOT.parent / "shared" / "crds"
if str(ROOT / "lab") not in sys.path:
    sys.path.insert(0, str(ROOT / "lab"))


def run_play(tmp_path, tasks, extravars=None, check=False, diff=False):
    """Run ``tasks`` (list of dicts) on localhost through ansible-runner, as ansible-playbook would.

    Returns ``(rc, stdout_text, results)``: ``results`` maps each task's ``register`` name to what it
    registered (written by a last task to results.json).
    """
    import json
    import os

    import ansible_runner
    import yaml

    names = [t["register"] for t in tasks if "register" in t]
    out = tmp_path / "results.json"
    save = {"name": "Save registered results for the test", "delegate_to": "localhost", "check_mode": False,
            "diff": False,  # the results may hold keys: --diff would print them
            "ansible.builtin.copy": {"dest": str(out), "mode": "0600", "content": "{{ {%s} | to_json }}" % ", ".join(
                "'%s': (%s | default(None))" % (n, n) for n in names)}}
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"block": tasks, "always": [save]}]}]
    project = tmp_path / "project"
    project.mkdir(parents=True, exist_ok=True)
    (project / "play.yml").write_text(yaml.safe_dump(play))
    if out.exists():
        out.unlink()
    cmdline = " ".join(x for x in ("--check" if check else "", "--diff" if diff else "") if x)
    result = ansible_runner.run(private_data_dir=str(tmp_path), playbook="play.yml", quiet=True,
                                cmdline=cmdline or None,
                                extravars=dict(extravars or {}, ansible_python_interpreter=os.sys.executable),
                                envvars={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")})
    text = result.stdout.read()
    return result.rc, text, (json.loads(out.read_text()) if out.exists() else {})
