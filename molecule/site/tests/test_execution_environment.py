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

Then one of the collection's OpenStackDataPlaneServices (deploy/services/) as openstack-operator runs
it: the container of its AnsibleEE Job, with the Job's args, environment and mounts, in the same image.
"""

import base64
import hashlib
import json
import os
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import ansible_runner
import pytest
import yaml

from test_site import COMPUTES, FIRST, PASSWORD, ROOT, VARS, cmp_file, failures, lab_api, lab_nodeset
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


def osp_secret_hash():
    """SHA-256 of osp-secret's data as the lab API stores it (compared, never printed)."""
    data = lab_api("CoreV1Api").read_namespaced_secret("osp-secret", "openstack").data
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def test_two_slices_at_once_in_the_ee_change_nothing_keep_every_node_and_hold_no_secret(image, cloud):
    key = cmp_file(FIRST, "/etc/pki/tls/private/ovn_controller.key")
    key_line = [line for line in key.splitlines() if line and not line.startswith("-----")][0]
    osp_secret = osp_secret_hash()
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

    # the bootstrap in each slice left osp-secret as it was (no key generated again, none rotated)
    assert osp_secret_hash() == osp_secret
    # no slice removed the other's node from the NodeSet; every compute is still up
    assert sorted(lab_nodeset()["spec"]["nodes"]) == sorted(COMPUTES)
    services = {s.host: s for s in cloud.compute.services(binary="nova-compute")}
    assert all(services[name].state == "up" for name in COMPUTES), {n: services[n].state for n in COMPUTES}


# --- openstack-operator's AnsibleEE Job (docs/execution-environment.md, "openstack-operator's Job") ---

SERVICE = os.path.join(ROOT, "deploy", "services", "tenrec-prechecks.yaml")
DEPLOYMENT = "tenrec-lab"  # the OpenStackDataPlaneDeployment the Job would belong to
PRECHECKS = "/usr/share/ansible/collections/ansible_collections/tenrec/dataplane/playbooks/prechecks.yml"
# What a NodeSet for openstack-operator runs carries in spec.nodeTemplate.ansible.ansibleVars: the node
# variables the lab inventory gives the computes (inventories/lab), the ctlplane address from the IPAM
# variable the operator renders (ctlplane_ip). The NodeSet the main job registers has none: the main
# job has its inventory.
NODESET_ANSIBLE_VARS = {
    "ansible_become": True, "ansible_ssh_pipelining": True, "ansible_python_interpreter": "/usr/bin/python3",
    "tenrec_ctlplane_ip": "{{ ctlplane_ip }}", "ovn_controller_encap_ip": "{{ ctlplane_ip }}",
    "ovn_controller_datapath_type": "netdev", "ovn_controller_hostname": "{{ inventory_hostname }}",
    "nova_compute_host": "{{ inventory_hostname }}", "libvirt_migration_transport": "tls",
}


def operator_inventory(nodeset, service_types):
    """The inventory openstack-operator renders from ``nodeset`` into the Secret dataplanenodeset-<name>
    (key ``inventory``): one group named after the NodeSet, its vars from nodeTemplate.ansible and the
    operator's own, one host per node (host name up to the first dot) with its ansible fields, its
    ansibleVars and the IPAM variables of its networks. Left out: ansibleVarsFrom and the edpm_*_image
    defaults from the OpenStackVersion (the lab has neither, nor IPSets: a network's fixedIP stands
    for its reservation, which gives <net>_ip)."""
    spec = nodeset["spec"]
    template = spec.get("nodeTemplate", {})
    group = {}
    ansible = template.get("ansible", {})
    if ansible.get("ansibleUser"):
        group["ansible_user"] = ansible["ansibleUser"]
    if ansible.get("ansiblePort"):
        group["ansible_port"] = str(ansible["ansiblePort"])
    if template.get("managementNetwork"):
        group["management_network"] = template["managementNetwork"]
    group.update(ansible.get("ansibleVars", {}))
    name = nodeset["metadata"]["name"]
    group.update(edpm_nodeset_name=name, edpm_tls_certs_enabled=spec.get("tlsEnabled", True),
                 edpm_services=spec.get("services", []), edpm_service_types=service_types,
                 ansible_ssh_private_key_file="/runner/env/ssh_key/ssh_key_%s" % name)
    hosts = {}
    for node in spec["nodes"].values():
        node_ansible = node.get("ansible", {})
        host = {"ansible_host": node_ansible.get("ansibleHost") or node["hostName"]}
        if node_ansible.get("ansibleUser"):
            host["ansible_user"] = node_ansible["ansibleUser"]
        if node_ansible.get("ansiblePort"):
            host["ansible_port"] = str(node_ansible["ansiblePort"])
        if node.get("managementNetwork"):
            host["management_network"] = node["managementNetwork"]
        host.update(node_ansible.get("ansibleVars", {}))
        networks = node.get("networks", [])
        if networks:
            others = [n["name"] for n in networks if n["name"].lower() != "ctlplane"]
            host.update(nodeset_networks=others, networks_lower={n: n.lower() for n in others},
                        network_servicenet_map={n: n.lower() for n in others})
        for net in networks:
            if net.get("fixedIP"):
                host["%s_ip" % net["name"].lower()] = net["fixedIP"]
        hosts[node["hostName"].split(".")[0]] = host
    return {name: {"hosts": hosts, "vars": group}}


def job_env(value):
    """An env value as the operator sets RUNNER_PLAYBOOK, RUNNER_EXTRA_VARS, RUNNER_CMDLINE."""
    return "\n" + value + "\n\n"


def private(path, content):
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as handle:
        handle.write(content)
    return path


def in_cluster_accepted(server, ca_file, token):
    """Whether the API at ``server`` takes the token as the in-cluster client sends it."""
    request = urllib.request.Request(server + "/api", headers={"Authorization": "bearer " + token})
    try:
        with urllib.request.urlopen(request, context=ssl.create_default_context(cafile=ca_file), timeout=10):
            return True
    except urllib.error.HTTPError as exc:
        return exc.code != 401


def test_prechecks_service_as_openstack_operator_job_in_the_ee_change_nothing(image):
    with open(SERVICE, encoding="utf-8") as handle:
        service = yaml.safe_load(handle)
    assert service["spec"]["openStackAnsibleEERunnerImage"] == image
    playbook = service["spec"]["playbook"]
    nodeset = lab_nodeset()
    name = nodeset["metadata"]["name"]
    nodeset["spec"].setdefault("nodeTemplate", {}).setdefault("ansible", {}).setdefault("ansibleVars", {}).update(
        NODESET_ANSIBLE_VARS)
    job = "%s-%s-%s" % (service["metadata"]["name"], DEPLOYMENT, name)  # the Job's name, the runner ident
    assert len(job) <= 63, job
    # the extra vars the operator sets (no ansibleExtraVars in the Deployment), sorted as its YAML is
    extravars = {"edpm_override_hosts": name, "edpm_service_type": service["spec"]["edpmServiceType"]}
    with open(os.path.join(ROOT, "lab", "state", "kubeconfig"), encoding="utf-8") as handle:
        kubeconfig = yaml.safe_load(handle)
    api = urlsplit(kubeconfig["clusters"][0]["cluster"]["server"])
    container = "tenrec-ee-job-%d" % os.getpid()
    with tempfile.TemporaryDirectory() as tmp:
        inventory = os.path.join(tmp, "inventory")
        with open(inventory, "w", encoding="utf-8") as handle:
            yaml.safe_dump(operator_inventory(nodeset, [service["spec"]["edpmServiceType"]]), handle)
        # the Secret's ssh-privatekey as the Job mounts it (defaultMode 0600, root's)
        with open(os.path.join(ROOT, "lab", "state", "ssh", "id_ed25519"), encoding="utf-8") as handle:
            key = private(os.path.join(tmp, "ssh-privatekey"), handle.read())
        # what the kubelet gives the Pod of the NodeSet's ServiceAccount: its token, the API's CA, the
        # namespace, KUBERNETES_SERVICE_*; the lab API's token and CA stand for them
        account = os.path.join(tmp, "serviceaccount")
        os.mkdir(account, 0o700)
        private(os.path.join(account, "token"), kubeconfig["users"][0]["user"]["token"])
        cluster = kubeconfig["clusters"][0]["cluster"]
        if "certificate-authority-data" in cluster:
            ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
        else:
            with open(cluster["certificate-authority"], encoding="utf-8") as handle:
                ca = handle.read()
        private(os.path.join(account, "ca.crt"), ca)
        # the kubernetes client's in-cluster configuration sends the token as "bearer <token>" (lowercase)
        assert in_cluster_accepted(kubeconfig["clusters"][0]["cluster"]["server"], os.path.join(account, "ca.crt"),
                                   kubeconfig["users"][0]["user"]["token"]), (
            "the lab API refuses the in-cluster client's 'bearer' scheme (a Kubernetes API reads it case-insensitively)")
        private(os.path.join(account, "namespace"), nodeset["metadata"].get("namespace", "openstack"))
        env = {"RUNNER_PLAYBOOK": job_env(playbook),
               "RUNNER_EXTRA_VARS": job_env(yaml.safe_dump(extravars, default_flow_style=False).rstrip("\n")),
               "KUBERNETES_SERVICE_HOST": api.hostname, "KUBERNETES_SERVICE_PORT": str(api.port)}
        env.update({e["name"]: e.get("value", "") for e in nodeset["spec"].get("env", [])})  # the NodeSet's env
        args = ["ansible-runner", "run", "/runner", "-p", playbook, "-i", job]  # the container's args
        run = ["podman", "run", "--name", container, "--pull=never",
               # the Pod's network: the lab API listens on the host's loopback, the computes are on podman's bridge
               "--network=host",
               "-v", "%s:/runner/inventory/hosts:ro" % inventory,
               "-v", "%s:/runner/env/ssh_key/ssh_key_%s:ro" % (key, name),
               "-v", "%s:/var/run/secrets/kubernetes.io/serviceaccount:ro" % account]
        for var in env:
            run += ["--env", var]  # values from this process's environment: not on the command line
        start = time.monotonic()
        try:
            proc = subprocess.run(run + [image] + args, env=dict(os.environ, **env), capture_output=True,
                                  text=True, timeout=1200, check=False)
            took = time.monotonic() - start
            # what the Pod leaves in its container: the runner's artifacts, the extra vars file the entrypoint wrote
            for path, dest in (("/runner/artifacts/" + job, "artifacts"), ("/runner/env/extravars", "extravars")):
                subprocess.run(["podman", "cp", "%s:%s" % (container, path), os.path.join(tmp, dest)],
                               check=True, capture_output=True)
        finally:
            subprocess.run(["podman", "rm", "-f", container], check=False, capture_output=True)
        with open(os.path.join(tmp, "extravars"), encoding="utf-8") as handle:
            written = handle.read()
        events = []
        for entry in sorted(os.listdir(os.path.join(tmp, "artifacts", "job_events"))):
            with open(os.path.join(tmp, "artifacts", "job_events", entry), encoding="utf-8") as handle:
                events.append(json.load(handle))
    out = proc.stdout + proc.stderr
    print("the Job's container ran %.0f s" % took)
    assert proc.returncode == 0, (failures(events), out[-3000:])
    # the entrypoint wrote the Job's RUNNER_EXTRA_VARS where ansible-runner reads them
    assert yaml.safe_load(written) == extravars, written
    stats = [e["event_data"] for e in events if e["event"] == "playbook_on_stats"][0]
    assert set(stats.get("ok", {})) >= set(COMPUTES), stats
    assert not stats.get("failures") and not stats.get("dark"), stats
    assert not any(stats.get("changed", {}).get(n) for n in COMPUTES), stats.get("changed")
    # the group named after the NodeSet (edpm_override_hosts), through the Job's inventory and key
    passed = {e["event_data"]["host"] for e in events if e["event"] == "runner_on_ok"
              and str(e["event_data"].get("res", {}).get("msg", "")).startswith("prechecks passed on")}
    assert passed == set(COMPUTES), passed
    playbooks = {e["event_data"].get("playbook") for e in events if e["event"] == "playbook_on_start"}
    assert playbooks == {PRECHECKS}, playbooks
    stored = json.dumps(events)
    token = kubeconfig["users"][0]["user"]["token"]
    for secret in (PASSWORD, VARS["lab_controlplane_metadata_secret"], "rabbit://nova:", token,
                   "BEGIN OPENSSH PRIVATE KEY", "BEGIN PRIVATE KEY-----", "BEGIN EC PRIVATE KEY-----"):
        assert secret not in out, "%r in the Job's log" % secret
        assert secret not in stored, "%r in the job events" % secret
