"""Start the Kubernetes-API-compatible test server once per test session."""

import os

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


# --- Both servers: the test server and a real kube-apiserver ---------------------------------------
# ``api_server`` runs a test once per server. "test" is a KubeAPIServer of the session (lab/kubeapi);
# "real" is kube-apiserver v1.20 + etcd built by scripts/kube-real.sh (tests/integration/real_kubeapi.py).
# Both expose ``name``, ``url``, ``token`` and ``write_kubeconfig(path, token=None)``.
# Without the built binaries the "real" case is skipped, unless TENREC_REAL_KUBEAPI=required (the
# test command sets it), where it fails. TENREC_API_SERVERS (default "test,real") picks the servers;
# with "real" alone only the tests that take ``api_server`` run (the test command's real-server lane).
# Tests that only the test server can serve (pods/exec needs a kubelet; stand-in operators reach into
# the test server's store) do not take ``api_server``; those marked ``test_server_only(reason)`` are
# listed, per file with their reason, at the end of the run.
SERVERS = tuple(s for s in os.environ.get("TENREC_API_SERVERS", "test,real").split(",") if s)
_ONE_SERVER = {}


@pytest.fixture(scope="session")
def real_kubeapi(tmp_path_factory):
    """The real kube-apiserver of the session (started on first use), or a skip/fail when not built."""
    import os

    import real_kubeapi as real
    if "real" not in SERVERS:
        pytest.skip("TENREC_API_SERVERS=%s: the real kube-apiserver is not among them" % ",".join(SERVERS))
    missing = real.missing()
    if missing:
        message = "real kube-apiserver not built (%s): run scripts/kube-real.sh build" % missing
        if os.environ.get("TENREC_REAL_KUBEAPI") == "required":
            pytest.fail(message)
        pytest.skip(message)
    server = real.RealKubeAPIServer(crd_dir=str(CRDS) if CRDS.is_dir() else None,
                                    state_dir=str(tmp_path_factory.mktemp("kube-real")),
                                    namespaces=("default", "openstack")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session", params=SERVERS)
def api_server(request):
    """The server a test runs against: the session's test server, then the real kube-apiserver."""
    if request.param == "real":
        return request.getfixturevalue("real_kubeapi")
    server = request.getfixturevalue("kubeapi")
    server.name = "test"
    return server


@pytest.fixture(scope="session")
def api_kubeconfig(api_server, tmp_path_factory):
    """A kubeconfig (path) for ``api_server``."""
    return api_server.write_kubeconfig(str(tmp_path_factory.mktemp("kc-%s" % api_server.name) / "kubeconfig"))


@pytest.fixture
def api_client(api_kubeconfig):
    """A kubernetes ApiClient for ``api_server``."""
    from kubernetes import config
    return config.new_client_from_config(config_file=api_kubeconfig)


def pytest_configure(config):
    config.addinivalue_line("markers", "test_server_only(reason): runs on the test server only, and why")


def pytest_collection_modifyitems(config, items):
    if "test" not in SERVERS:  # the real server's lane: what takes api_server, nothing else
        keep = [item for item in items if {"api_server", "real_kubeapi"} & set(getattr(item, "fixturenames", ()))]
        config.hook.pytest_deselected(items=[item for item in items if item not in keep])
        items[:] = keep
    for item in items:
        mark = item.get_closest_marker("test_server_only")
        if mark:
            reason = mark.args[0] if mark.args else mark.kwargs.get("reason", "")
            _ONE_SERVER.setdefault((item.nodeid.split("::")[0], reason), set()).add(item.nodeid.split("[")[0])


def pytest_terminal_summary(terminalreporter):
    if _ONE_SERVER:
        terminalreporter.section("tests on the test server only (not on a real kube-apiserver)")
        for (path, reason), tests in sorted(_ONE_SERVER.items()):
            terminalreporter.write_line("%s (%d tests): %s" % (path, len(tests), reason))
