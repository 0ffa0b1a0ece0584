"""Run the test server: python -m kubeapi --crds DIR [--state DIR] [--host H] [--port P] [--token T]
[--publish FILE] [--probe NAME=HOST:PORT ...] [--ca-bundle-secret NAME].

Prints the URL once it listens, writes DIR/kubeconfig, and serves until SIGTERM or Ctrl-C.
``--publish`` creates the objects of a YAML file (with their ``status``) as the operators would;
``--probe`` runs the lab's OpenStackControlPlane reconciler over those endpoints (see labop.py);
``--ca-bundle-secret`` makes that reconciler publish ``status.tls.caBundleSecretName`` (the Secret
itself, key ``tls-ca-bundle.pem``, comes from ``--publish``). The cert-manager stand-in
(certmanager.py: CA Issuers Ready, Certificates signed into their Secrets) always runs; it acts
once the cert-manager.io CRDs are served.
"""

import argparse
import os
import signal
import threading

import yaml

from . import certmanager, labop
from .server import KubeAPIServer


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
    args = parser.parse_args()
    server = KubeAPIServer(crd_dir=args.crds, token=args.token, host=args.host, port=args.port,
                           state_dir=args.state, namespaces=("default", "openstack")).start()
    if args.publish:
        with open(args.publish) as handle:
            labop.publish(server, [d for d in yaml.safe_load_all(handle) if d])
    reconciler = None
    if args.probe or args.ca_bundle_secret:
        probes = []
        for item in args.probe:
            name, _eq, where = item.partition("=")
            host, _colon, port = where.rpartition(":")
            probes.append((name, host, int(port)))
        reconciler = labop.Reconciler(server, probes, ca_bundle_secret=args.ca_bundle_secret)
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
    certs.stop()
    server.stop()


if __name__ == "__main__":
    main()
