"""Run the test server: python -m kubeapi --crds DIR [--state DIR] [--host H] [--port P] [--token T]
[--publish FILE] [--probe NAME=HOST:PORT ...] [--ca-bundle-secret NAME] [--empty-cluster].

Prints the URL once it listens, writes DIR/kubeconfig, and serves until SIGTERM or Ctrl-C.
``--publish`` creates the objects of a YAML file (with their ``status``) as the operators would;
``--probe`` runs the lab's OpenStackControlPlane reconciler over those endpoints (see labop.py);
``--ca-bundle-secret`` makes that reconciler publish ``status.tls.caBundleSecretName`` (the Secret
itself, key ``tls-ca-bundle.pem``, comes from ``--publish``). ``--empty-cluster`` starts it as an
OpenShift cluster where nothing of OpenStack is installed: of ``--crds`` only the CRDs OpenShift
brings (OLM's, Multus' NetworkAttachmentDefinition) are served, namespaces ``default`` and
``openshift-marketplace`` exist with the ``redhat-operators`` CatalogSource, and the stand-ins for OLM
and openstack-operator's init (olm.py: they register the other CRDs of ``--crds`` as the operators
install) and for nmstate (nmstate.py) run; the ``--publish`` objects are created once an
OpenStackControlPlane exists (labop.DeferredPublisher), and the control plane turns Ready only after
that. The cert-manager stand-in
(certmanager.py: CA Issuers Ready, Certificates signed into their Secrets) always runs; it acts
once the cert-manager.io CRDs are served.
"""

import argparse
import os
import signal
import threading

import yaml

from . import certmanager, labop
from .nmstate import NMState
from .olm import GLOBAL_NAMESPACE, OLM, load_crds, serve_crds
from .server import KubeAPIServer

# what an OpenShift cluster serves before any operator is installed (of the CRDs this lab knows)
OPENSHIFT_CRD_GROUPS = (".operators.coreos.com", ".k8s.cni.cncf.io")
REDHAT_OPERATORS = {"apiVersion": "operators.coreos.com/v1alpha1", "kind": "CatalogSource",
                    "metadata": {"name": "redhat-operators"},
                    "spec": {"sourceType": "grpc", "displayName": "Red Hat Operators", "publisher": "Red Hat",
                             "image": "registry.redhat.io/redhat/redhat-operator-index:v4.18"}}


def main():
    parser = argparse.ArgumentParser(prog="kubeapi")
    parser.add_argument("--crds", help="folder of CRD YAML files to serve")
    parser.add_argument("--state", help="folder for the CA, certificate and kubeconfig")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=os.environ.get("TENREC_KUBEAPI_TOKEN", "tenrec-test-token"))
    parser.add_argument("--publish", help="YAML file of objects (with status) to create at start")
    parser.add_argument("--probe", action="append", default=[], metavar="NAME=HOST:PORT",
                        help="service the OpenStackControlPlane reconciler probes (repeatable)")
    parser.add_argument("--ca-bundle-secret", default="", metavar="NAME",
                        help="Secret (key tls-ca-bundle.pem) the OpenStackControlPlane reconciler names in "
                             "status.tls.caBundleSecretName whenever it writes status; starts the reconciler")
    parser.add_argument("--empty-cluster", action="store_true",
                        help="start as an OpenShift cluster with nothing of OpenStack installed (OLM stand-in)")
    args = parser.parse_args()
    docs = []
    if args.publish:
        with open(args.publish) as handle:
            docs = [d for d in yaml.safe_load_all(handle) if d]
    stand_ins, publisher = [], None
    if args.empty_cluster:
        server = KubeAPIServer(token=args.token, host=args.host, port=args.port, state_dir=args.state,
                               namespaces=("default", GLOBAL_NAMESPACE)).start()
        serve_crds(server, {n: d for n, d in load_crds(args.crds).items() if n.endswith(OPENSHIFT_CRD_GROUPS)})
        server.create_object("operators.coreos.com", "v1alpha1", "catalogsources", GLOBAL_NAMESPACE, REDHAT_OPERATORS)
        stand_ins = [OLM(server, crd_dir=args.crds), NMState(server)]
        if docs:
            publisher = labop.DeferredPublisher(server, docs)
            stand_ins.append(publisher)
        for stand_in in stand_ins:
            stand_in.start()
    else:
        server = KubeAPIServer(crd_dir=args.crds, token=args.token, host=args.host, port=args.port,
                               state_dir=args.state, namespaces=("default", "openstack")).start()
        labop.publish(server, docs)
    reconciler = None
    if args.probe or args.ca_bundle_secret:
        probes = []
        for item in args.probe:
            name, _eq, where = item.partition("=")
            host, _colon, port = where.rpartition(":")
            probes.append((name, host, int(port)))
        reconciler = labop.Reconciler(server, probes, ca_bundle_secret=args.ca_bundle_secret,
                                      gate=publisher.done if publisher else None)
        reconciler.reconcile_once()
        reconciler.start()
    certs = certmanager.CertManager(server)
    certs.reconcile_once()
    certs.start()
    kubeconfig = server.write_kubeconfig(os.path.join(server.state_dir, "kubeconfig"))
    print("kubeapi: serving %s (kubeconfig %s)" % (server.url, kubeconfig), flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_a: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    if reconciler:
        reconciler.stop()
    for stand_in in stand_ins:
        stand_in.stop()
    certs.stop()
    server.stop()


if __name__ == "__main__":
    main()
