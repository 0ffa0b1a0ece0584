"""Run the test server: python -m kubeapi --crds DIR [--state DIR] [--host H] [--port P] [--token T].

Prints the URL once it listens, writes DIR/kubeconfig, and serves until SIGTERM or Ctrl-C.
"""

import argparse
import os
import signal
import threading

from .server import KubeAPIServer


def main():
    parser = argparse.ArgumentParser(prog="kubeapi")
    parser.add_argument("--crds", help="folder of CRD YAML files to serve")
    parser.add_argument("--state", help="folder for the CA, certificate and kubeconfig")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=os.environ.get("TENREC_KUBEAPI_TOKEN", "tenrec-test-token"))
    args = parser.parse_args()
    server = KubeAPIServer(crd_dir=args.crds, token=args.token, host=args.host, port=args.port,
                           state_dir=args.state, namespaces=("default", "openstack")).start()
    kubeconfig = server.write_kubeconfig(os.path.join(server.state_dir, "kubeconfig"))
    print("kubeapi: serving %s (kubeconfig %s)" % (server.url, kubeconfig), flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_a: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    server.stop()


if __name__ == "__main__":
    main()
