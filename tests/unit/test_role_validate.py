"""The roles' own input checks (validate.yml), run offline on localhost with each role's defaults
and vars loaded (tests/unit/playbooks/tasks.yml): a value that would leave a node broken is refused,
naming the variable or contract field and where it comes from. The site scenario runs a few of these
through playbooks/dataplane.yml on a converged compute to show that they stop the run before
anything on the node changes; the contract's format checks are in test_contract.py."""

import pytest

from test_role_tls import contract, run_tasks


@pytest.mark.parametrize("role,extra,needle", [
    ("neutron_metadata", {"neutron_metadata_workers": 0}, "neutron_metadata_workers at least 1 (got '0')"),
    ("neutron_metadata", {"neutron_metadata_ovsdb_connection": "tcp:127.0.0.1"},
     "neutron_metadata_ovsdb_connection must be unix:/path, tcp:host:port or ssl:host:port"),
    ("neutron_metadata", {"tenrec_controlplane": contract(nova_metadata_url="")},
     "tenrec_controlplane.nova_metadata_url is required by neutron_metadata (source: Secret"),
    ("neutron_metadata", {"tenrec_controlplane": contract(metadata_proxy_shared_secret="")},
     "tenrec_controlplane.metadata_proxy_shared_secret is required by neutron_metadata (source: osp-secret"),
])
def test_bad_role_input_is_refused_naming_it(tmp_path, role, extra, needle):
    result, text = run_tasks(tmp_path, role, "validate.yml", **extra)
    assert result.rc != 0
    assert needle in " ".join(text.split()), text[-3000:]


@pytest.mark.parametrize("role", ["neutron_metadata", "ovn_controller", "nova_compute", "libvirt"])
def test_defaults_and_a_valid_contract_pass(tmp_path, role):
    result, text = run_tasks(tmp_path, role, "validate.yml")
    assert result.rc == 0, text[-3000:]
