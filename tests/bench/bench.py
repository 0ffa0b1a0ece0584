"""Benchmark of the control-plane path, printed as figures (make bench).

Against the lab's Kubernetes API server on loopback (real CRDs from ../shared/crds), populated as
openstack-operator populates it, with the lab's stand-in operator keeping the control plane Ready:
  1. API round trips through the kubernetes client: GET of a custom resource, server-side apply of
     the unchanged OpenStackControlPlane (what a re-run sends);
  2. the modules through ansible-playbook, start-up included: controlplane_info (the contract) and
     openstack_controlplane re-applying an unchanged resource and verifying Ready.
Each figure is the median of several runs; min and max follow. Nothing leaves 127.0.0.1.
"""

import itertools
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "lab"))

from kubeapi import KubeAPIServer  # noqa: E402  pylint: disable=wrong-import-position
from kubeapi.labop import Reconciler, publish  # noqa: E402  pylint: disable=wrong-import-position

CRDS = ROOT.parent / "shared" / "crds"
CP = yaml.safe_load((ROOT / "lab/openstackcontrolplane.yaml").read_text())
# the API figures are measured on a plain control plane (no CA bundle to publish)
CP["spec"]["tls"] = {"podLevel": {"enabled": False}, "ingress": {"enabled": False}}
OBJECTS = [
    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "osp-secret"},
     "stringData": {"NovaPassword": "bench-secret"}},
    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "rabbitmq-transport-url-nova-cell1-transport"},
     "stringData": {"transport_url": "rabbit://nova:bench-secret@127.0.0.1:5672/?ssl=0"}},
    {"apiVersion": "rabbitmq.openstack.org/v1beta1", "kind": "TransportURL",
     "metadata": {"name": "nova-cell1-transport"}, "spec": {"rabbitmqClusterName": "rabbitmq-cell1"},
     "status": {"secretName": "rabbitmq-transport-url-nova-cell1-transport"}},
    {"apiVersion": "keystone.openstack.org/v1beta1", "kind": "KeystoneAPI", "metadata": {"name": "keystone"},
     "spec": {"containerImage": "keystone", "databaseInstance": "openstack", "memcachedInstance": "memcached",
              "secret": "osp-secret"},
     "status": {"apiEndpoints": {"internal": "http://127.0.0.1:5000", "public": "http://127.0.0.1:5000"}}},
    {"apiVersion": "ovn.openstack.org/v1beta1", "kind": "OVNDBCluster", "metadata": {"name": "ovndbcluster-sb"},
     "spec": {"containerImage": "ovn-sb", "dbType": "SB", "storageRequest": "10G"},
     "status": {"dbAddress": "tcp:127.0.0.1:6642", "internalDbAddress": "tcp:ovsdbserver-sb.openstack.svc:6642"}},
]


def timed(func, runs):
    """``(median, min, max)`` seconds of ``runs`` calls of ``func``."""
    samples = []
    for call in itertools.repeat(func, runs):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), min(samples), max(samples)


def show(label, figures, unit="ms", scale=1000.0):
    med, low, high = (f * scale for f in figures)
    print("  %-58s %8.1f %s  (min %.1f, max %.1f)" % (label, med, unit, low, high))


def playbook(tmp, name, task):
    path = pathlib.Path(tmp) / ("%s.yml" % name)
    path.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": [task]}]))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))

    def run():
        done = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", str(path),
                               "-e", "ansible_python_interpreter=%s" % sys.executable],
                              capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            raise SystemExit("%s failed:\n%s%s" % (name, done.stdout[-3000:], done.stderr[-3000:]))
    return run


def main():
    if not CRDS.is_dir():
        raise SystemExit("bench: %s is not there (the CRDs are test data)" % CRDS)
    from kubernetes import client, config  # pylint: disable=import-outside-toplevel
    from kubernetes.dynamic import DynamicClient  # pylint: disable=import-outside-toplevel

    with tempfile.TemporaryDirectory() as tmp:
        server = KubeAPIServer(crd_dir=str(CRDS), state_dir=tmp, namespaces=("openstack",)).start()
        listener = socket.create_server(("127.0.0.1", 0))  # the one service the operator probes
        operator = Reconciler(server, [("Keystone", "127.0.0.1", listener.getsockname()[1])], interval=0.2)
        try:
            publish(server, OBJECTS)
            operator.start()
            kubeconfig = server.write_kubeconfig(os.path.join(tmp, "kubeconfig"))
            api = config.new_client_from_config(config_file=kubeconfig)
            custom = client.CustomObjectsApi(api)
            body = dict(CP, metadata=dict(CP["metadata"], namespace="openstack"))
            custom.create_namespaced_custom_object("core.openstack.org", "v1beta1", "openstack",
                                                   "openstackcontrolplanes", body)
            print("bench: lab Kubernetes API at %s, %d CRDs" % (server.url, len(list(CRDS.glob("*.yaml")))))
            print("API round trips (kubernetes client):")
            show("GET TransportURL (x200)", timed(lambda: custom.get_namespaced_custom_object(
                "rabbitmq.openstack.org", "v1beta1", "openstack", "transporturls", "nova-cell1-transport"), 200))
            dynamic = DynamicClient(api)
            resource = dynamic.resources.get(api_version="core.openstack.org/v1beta1", kind="OpenStackControlPlane")

            def apply():
                dynamic.server_side_apply(resource, body=body, name="openstack", namespace="openstack",
                                          field_manager="bench", force_conflicts=True)

            show("server-side apply, unchanged OpenStackControlPlane (x50)", timed(apply, 50))
            print("modules through ansible-playbook (start-up included):")
            info = playbook(tmp, "info", {"tenrec.dataplane.controlplane_info": {"kubeconfig": kubeconfig}})
            show("controlplane_info: the whole contract (x5)", timed(info, 5), "s", 1.0)
            again = playbook(tmp, "apply", {"tenrec.dataplane.openstack_controlplane": {
                "kubeconfig": kubeconfig, "definition": CP, "wait_timeout": 30, "wait_sleep": 1}})
            show("openstack_controlplane: re-apply unchanged + Ready (x5)", timed(again, 5), "s", 1.0)
            noop = playbook(tmp, "noop", {"ansible.builtin.debug": {"msg": "start-up only"}})
            show("for scale: a play with one debug task (x5)", timed(noop, 5), "s", 1.0)
        finally:
            operator.stop()
            listener.close()
            server.stop()


if __name__ == "__main__":
    main()
