"""The main job as AWX runs it: a job template with two slices, each slice a job in the execution
environment, at verbosity 3.

ansible-runner with process isolation (podman) runs ``tenrec.dataplane.site`` inside the EE image
(execution-environment.yml, built by ``scripts/ee.sh build``): the collection, its collection
dependencies and its Python libraries all come from the image; only the lab inventory and its state
(SSH key, known hosts, kubeconfig, CAs) are mounted, as AWX hands a job its inventory and
credentials. Job slicing gives each slice some of the hosts (here one compute each, named by
``tenrec_dataplane_hosts``) and runs the slices at the same time. The lab is converged already, so
this is also the scenario's idempotence check: every slice must end with nothing changed. And it is
the secrets check: neither the -vvv output nor the job events (what AWX stores) may hold a secret.
"""

import json
import os
import subprocess
import tempfile
import threading

import ansible_runner
import pytest

from test_site import COMPUTES, FIRST, PASSWORD, ROOT, VARS, cmp_file, failures, lab_nodeset
# cloud is a fixture: pytest finds it by name in this module
from test_site import cloud  # noqa: F401  # pylint: disable=unused-import

IMAGE = "localhost/tenrec-ee:latest"
SITE = "/usr/share/ansible/collections/ansible_collections/tenrec/dataplane/playbooks/site.yml"


@pytest.fixture(scope="module")
def image():
    """The EE image; scripts/test.sh built it already (then podman's cache answers in seconds)."""
    build = subprocess.run([os.path.join(ROOT, "scripts", "ee.sh"), "build"], capture_output=True, text=True, check=False)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return IMAGE


def run_slice(image, hosts):
    """One slice of the job template: the main job in the EE for ``hosts`` at -vvv.

    Returns ``(rc, events, stdout text, stats)``."""
    inventory = os.path.join(ROOT, "inventories", "lab")
    state = os.path.join(ROOT, "lab", "state")
    with tempfile.TemporaryDirectory() as tmp:
        # With process isolation ansible-runner reads the inventory from <private data dir>/inventory, where
        # AWX writes a job's; the lab's is linked there (the links resolve inside the EE through the mounts).
        os.makedirs(os.path.join(tmp, "inventory"))
        for name in ("hosts.py", "group_vars"):
            os.symlink(os.path.join(inventory, name), os.path.join(tmp, "inventory", name))
        result = ansible_runner.run(
            private_data_dir=tmp, playbook="tenrec.dataplane.site", quiet=True, verbosity=3,
            extravars={"tenrec_dataplane_hosts": hosts},
            process_isolation=True, process_isolation_executable="podman", container_image=image,
            # the lab API listens on the host's loopback; the EE reaches it and the computes from there
            container_options=["--network=host", "--user=0"],
            container_volume_mounts=["%s:%s:ro" % (inventory, inventory), "%s:%s:ro" % (state, state)])
        return result.rc, list(result.events), result.stdout.read(), result.stats or {}


def test_two_slices_at_once_in_the_ee_change_nothing_keep_every_node_and_hold_no_secret(image, cloud):
    key = cmp_file(FIRST, "/etc/pki/tls/private/ovn_controller.key")
    key_line = [line for line in key.splitlines() if line and not line.startswith("-----")][0]
    results = {}
    threads = [threading.Thread(target=lambda n=name: results.__setitem__(n, run_slice(image, n))) for name in COMPUTES]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    for name, (rc, events, out, stats) in results.items():
        assert rc == 0, (name, failures(events), out[-3000:])
        assert set(stats.get("ok", {})) == {"localhost", name}, (name, stats)
        assert not any(stats.get("changed", {}).values()), (name, stats.get("changed"))
        # the collection ran from the image (ansible-builder installs collections there), not from this checkout
        playbooks = {e["event_data"].get("playbook") for e in events if e["event"] == "playbook_on_start"}
        assert playbooks == {SITE}, (name, playbooks)
        assert "ESTABLISH SSH CONNECTION FOR USER: cloud-admin" in out, "not a -vvv run over SSH"
        stored = json.dumps(events)
        for secret in (PASSWORD, VARS["lab_controlplane_metadata_secret"], "rabbit://nova:", key_line,
                       "BEGIN PRIVATE KEY-----", "BEGIN EC PRIVATE KEY-----", "BEGIN RSA PRIVATE KEY-----"):
            assert secret not in out, "%r in the -vvv output of slice %s" % (secret, name)
            assert secret not in stored, "%r in the job events of slice %s" % (secret, name)

    # no slice removed the other's node from the NodeSet; every compute is still up
    assert sorted(lab_nodeset()["spec"]["nodes"]) == sorted(COMPUTES)
    services = {s.host: s for s in cloud.compute.services(binary="nova-compute")}
    assert all(services[name].state == "up" for name in COMPUTES), {n: services[n].state for n in COMPUTES}
