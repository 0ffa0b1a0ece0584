"""playbooks/tasks/migration_transport.yml, the check update.yml and prechecks.yml run before any
change: every compute agrees on the live migration transport. Run offline on local hosts."""

import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(tmp_path, hostvars):
    inventory = tmp_path / "hosts.yml"
    hosts = {name: dict({"ansible_connection": "local"}, **vars_) for name, vars_ in hostvars.items()}
    inventory.write_text(__import__("json").dumps({"computes": {"hosts": hosts}}))
    play = tmp_path / "play.yml"
    play.write_text("- hosts: computes\n  gather_facts: false\n  tasks:\n"
                    "    - ansible.builtin.include_tasks: %s/playbooks/tasks/migration_transport.yml\n" % ROOT)
    out = subprocess.run(["ansible-playbook", "-i", str(inventory), str(play)], capture_output=True, text=True, check=False)
    return out.returncode, out.stdout + out.stderr


def test_computes_that_agree_pass(tmp_path):
    rc, out = run(tmp_path, {"c0": {"libvirt_migration_transport": "tls"}, "c1": {"libvirt_migration_transport": "tls"}})
    assert rc == 0, out


def test_a_compute_on_another_transport_fails_naming_each_one(tmp_path):
    rc, out = run(tmp_path, {"c0": {"libvirt_migration_transport": "tls"}, "c1": {}})
    assert rc != 0
    assert "the computes disagree on libvirt_migration_transport" in out and "c0 tls/tls, c1 ssh/ssh" in out, out


def test_a_scheme_that_does_not_follow_the_transport_fails(tmp_path):
    rc, out = run(tmp_path, {"c0": {"libvirt_migration_transport": "tls"},
                             "c1": {"libvirt_migration_transport": "tls", "nova_compute_live_migration_scheme": "ssh"}})
    assert rc != 0 and "c1 tls/ssh" in out, out
