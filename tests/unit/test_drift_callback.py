"""The drift callback on a real ansible-playbook run (localhost, --check --diff): one report per host
with the tasks that would change and their diffs, no_log tasks marked diff_hidden, packages behind,
failures; secrets masked in the report while the same run's --diff output shows them (so the check
can fail); files 0600 in a 0700 directory; a new run drops the old reports."""

import json
import os
import stat
import subprocess

import yaml

from ansible_collections.tenrec.dataplane.plugins.module_utils import masking

SECRET = "hunter2-not-for-logs"


def run(tmp_path, tasks, check=True):
    target = tmp_path / "nova.conf"
    if not target.exists():
        target.write_text("[DEFAULT]\ndebug = false\n")
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_CALLBACKS_ENABLED="tenrec.dataplane.drift",
               TENREC_DRIFT_REPORT_DIR=str(tmp_path / "report"))
    argv = ["ansible-playbook", "-i", "localhost,", "-c", "local", str(tmp_path / "play.yml"), "--diff"]
    proc = subprocess.run(argv + (["--check"] if check else []), env=env, capture_output=True, text=True, check=False)
    return proc, tmp_path / "report"


def test_report_lists_changes_masks_secrets_and_hides_no_log(tmp_path):
    target = str(tmp_path / "nova.conf")
    content = ("[DEFAULT]\ndebug = true\ntransport_url = rabbit://nova:%s@10.0.0.1:5671/\n"
               "[database]\npassword = %s\n" % (SECRET, SECRET))
    proc, report_dir = run(tmp_path, [
        {"name": "Write nova.conf", "ansible.builtin.copy": {"dest": target, "content": content}},
        {"name": "Write a secret file", "no_log": True,
         "ansible.builtin.copy": {"dest": target + ".secret", "content": SECRET}},
        {"name": "Show it masked", "ansible.builtin.set_fact": {"demo_drift_diff": {
            "task": "Write a secret file", "diff": {"before": "", "after": "password = %s\n" % SECRET}}}},
        {"name": "Unchanged", "ansible.builtin.command": "true", "changed_when": False},
        {"name": "Packages", "ansible.builtin.set_fact": {"tenrec_drift_packages_behind": [
            {"name": "nova-compute", "installed": "1", "available": "2"}]}},
    ])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert SECRET in proc.stdout  # the --diff output shows what the report must not
    text = (report_dir / "localhost.json").read_text()
    assert SECRET not in text
    report = json.loads(text)
    assert report["drifted"] is True and report["check_mode"] is True and report["failures"] == []
    assert [(c["task"], c["diff_hidden"]) for c in report["changes"]] == [
        ("Write nova.conf", False), ("Write a secret file", True)]
    after = report["changes"][0]["diff"][0]["after"]
    assert "debug = true" in after and "transport_url = ********" in after and "password = ********" in after
    assert report["changes"][1]["diff"] == [{"before": "", "after": "password = ********\n"}]
    assert report["packages_behind"] == [{"name": "nova-compute", "installed": "1", "available": "2"}]
    assert stat.S_IMODE(os.stat(report_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(report_dir / "localhost.json").st_mode) == 0o600
    assert json.loads((report_dir / "run.json").read_text())["started"] > 0


def test_converged_host_reports_no_drift_and_old_reports_go(tmp_path):
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "gone-host.json").write_text("{}")
    proc, report_dir = run(tmp_path, [{"name": "Unchanged", "ansible.builtin.command": "true", "changed_when": False}])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads((report_dir / "localhost.json").read_text())["drifted"] is False
    assert not (report_dir / "gone-host.json").exists()


def test_a_failed_task_is_drift_with_its_message_masked(tmp_path):
    proc, report_dir = run(tmp_path, [{"name": "Probe", "ansible.builtin.fail": {
        "msg": "cannot log in with rabbit://nova:%s@10.0.0.1/" % SECRET}}])
    assert proc.returncode != 0
    report = json.loads((report_dir / "localhost.json").read_text())
    assert report["drifted"] is True
    assert report["failures"] == [{"play": "localhost", "role": None, "task": "Probe",
                                   "msg": "cannot log in with rabbit://********:********@10.0.0.1/"}]


def test_mask():
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----"
    assert masking.mask(key) == "-----BEGIN PRIVATE KEY-----\n********\n-----END PRIVATE KEY-----"
    assert masking.mask("metadata_proxy_shared_secret = abc\nhost = x") == \
        "metadata_proxy_shared_secret = ********\nhost = x"
    assert masking.mask("connection=mysql+pymysql://nova:pw@db/nova") == "connection=********"
    assert masking.mask("auth_url = https://k:5000/v3") == "auth_url = https://k:5000/v3"
