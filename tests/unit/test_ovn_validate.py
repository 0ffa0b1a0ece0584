"""ovn_controller's validate.yml on the identities OVN needs: a tunnel endpoint peers can reach, a
system-id a chassis can carry, and neither shared by two nodes of a batch (run offline, two local hosts)."""

import ansible_runner
import pytest

from unit_support import ROOT, VALID_CONTRACT

FACTS = {"os_family": "Debian", "fqdn": "compute-0.example.com", "hostname": "compute-0",
         "default_ipv4": {"address": "192.168.24.10"}, "all_ipv4_addresses": ["192.168.24.10", "10.1.0.5"],
         "all_ipv6_addresses": []}
LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
PLAY = """
- name: ovn_controller validate on every host
  hosts: all
  gather_facts: false
  vars_files:
    - "{{ repo }}/roles/ovn_controller/defaults/main.yml"
    - "{{ repo }}/roles/ovn_controller/vars/main.yml"
    - "{{ repo }}/roles/ovn_controller/vars/Debian.yml"
  tasks:
    - name: Run validate.yml
      ansible.builtin.include_tasks: "{{ repo }}/roles/ovn_controller/tasks/validate.yml"
"""


def validate(tmp_path, hosts=("cmp-a",), **extravars):
    """Run roles/ovn_controller/tasks/validate.yml on ``hosts`` (local); return ``(rc, stdout)``."""
    extra = {"repo": str(ROOT), "tenrec_controlplane": VALID_CONTRACT, "ansible_facts": FACTS}
    extra.update(extravars)
    (tmp_path / "play.yml").write_text(PLAY)
    result = ansible_runner.run(private_data_dir=str(tmp_path), playbook=str(tmp_path / "play.yml"),
                                inventory={"all": {"hosts": {h: dict(LOCAL) for h in hosts}}}, extravars=extra,
                                quiet=True, envvars={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")})
    return result.rc, result.stdout.read()


def test_a_node_address_passes(tmp_path):
    rc, out = validate(tmp_path, ovn_controller_encap_ip="10.1.0.5")
    assert rc == 0, out


@pytest.mark.parametrize("ip,needle", [
    ("127.0.0.1", "ovn_controller_encap_ip 127.0.0.1 on cmp-a is a loopback, unspecified or multicast address"),
    ("0.0.0.0", "is a loopback, unspecified or multicast address"),
    ("10.9.9.9", "ovn_controller_encap_ip 10.9.9.9 on cmp-a is not an address of this node (it has 192.168.24.10, 10.1.0.5)"),
])
def test_unreachable_tunnel_endpoints_are_refused(tmp_path, ip, needle):
    rc, out = validate(tmp_path, ovn_controller_encap_ip=ip)
    assert rc != 0 and needle in out, out[-2000:]


@pytest.mark.parametrize("system_id", ["compute 0", "-leading-dash", "x" * 65, ""])
def test_system_ids_ovn_cannot_carry_are_refused(tmp_path, system_id):
    rc, out = validate(tmp_path, ovn_controller_system_id=system_id)
    assert rc != 0 and "cannot name an OVN chassis" in out, out[-2000:]


def test_two_nodes_sharing_a_system_id_and_endpoint_are_both_refused(tmp_path):
    rc, out = validate(tmp_path, hosts=("cmp-a", "cmp-b"), ovn_controller_system_id="same",
                       ovn_controller_encap_ip="10.1.0.5")
    assert rc != 0
    assert "cmp-a shares ovn_controller_system_id same with cmp-b, ovn_controller_encap_ip 10.1.0.5 with cmp-b" in out
    assert "cmp-b shares ovn_controller_system_id same with cmp-a" in out
