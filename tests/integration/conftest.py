"""Start the Kubernetes-API-compatible test server once per test session."""

import pytest

from kube_support import CRDS
from kubeapi import CertManager, KubeAPIServer


@pytest.fixture(scope="session")
def kubeapi(tmp_path_factory):
    """The running server, with the real CRDs when ../shared/crds is there."""
    server = KubeAPIServer(crd_dir=str(CRDS) if CRDS.is_dir() else None,
                           state_dir=str(tmp_path_factory.mktemp("kubeapi")),
                           namespaces=("default", "openstack")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def cert_manager(kubeapi):
    """The lab's cert-manager stand-in on the session server (one for all tests: two would race)."""
    controller = CertManager(kubeapi, interval=0.2)
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture(scope="session")
def kubeconfig(kubeapi, tmp_path_factory):
    return kubeapi.write_kubeconfig(str(tmp_path_factory.mktemp("kc") / "kubeconfig"))


@pytest.fixture
def k8s(kubeconfig):
    """A kubernetes ApiClient for the test server."""
    from kubernetes import config
    return config.new_client_from_config(config_file=kubeconfig)
