"""The main job from the execution environment, as an AWX job template runs it.

ansible-runner with process isolation (podman) runs ``tenrec.dataplane.site`` inside the EE image
(execution-environment.yml, built by ``scripts/ee.sh build``): the collection, its collection
dependencies and its Python libraries all come from the image; only the lab inventory and its state
(SSH key, known hosts, kubeconfig, CAs) are mounted, as AWX hands a job its inventory and credentials.
The lab is converged already, so the run must end with every compute ok and nothing changed.
"""

import os
import subprocess
import tempfile

import ansible_runner
import pytest

from test_site import COMPUTES, PASSWORD, ROOT, failures

IMAGE = "localhost/tenrec-ee:latest"


@pytest.fixture(scope="module")
def image():
    build = subprocess.run([os.path.join(ROOT, "scripts", "ee.sh"), "build"], capture_output=True, text=True, check=False)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return IMAGE


def test_main_job_from_the_execution_environment(image):
    inventory = os.path.join(ROOT, "inventories", "lab")
    state = os.path.join(ROOT, "lab", "state")
    with tempfile.TemporaryDirectory() as tmp:
        # With process isolation ansible-runner reads the inventory from <private data dir>/inventory, where
        # AWX writes a job's; the lab's is linked there (the links resolve inside the EE through the mounts).
        os.makedirs(os.path.join(tmp, "inventory"))
        for name in ("hosts.py", "group_vars"):
            os.symlink(os.path.join(inventory, name), os.path.join(tmp, "inventory", name))
        result = ansible_runner.run(
            private_data_dir=tmp, playbook="tenrec.dataplane.site", quiet=True,
            process_isolation=True, process_isolation_executable="podman", container_image=image,
            # the lab API listens on the host's loopback; the EE reaches it and the computes from there
            container_options=["--network=host", "--user=0"],
            container_volume_mounts=["%s:%s:ro" % (inventory, inventory), "%s:%s:ro" % (state, state)])
        events, out, stats = list(result.events), result.stdout.read(), result.stats or {}
    assert result.rc == 0, (failures(events), out[-3000:])
    assert set(COMPUTES) <= set(stats.get("ok", {})), stats
    assert not any(stats.get("changed", {}).values()), stats.get("changed")
    # the collection ran from the image (ansible-builder installs collections there), not from this checkout
    playbooks = {e["event_data"].get("playbook") for e in events if e["event"] == "playbook_on_start"}
    assert playbooks == {"/usr/share/ansible/collections/ansible_collections/tenrec/dataplane/playbooks/site.yml"}
    assert PASSWORD not in out
