"""What the control-plane modules say when the Kubernetes API refuses them, and what they send.

The exceptions are built the way the ``kubernetes`` client builds them against a real
kube-apiserver: a ``pods/exec`` WebSocket refused at the handshake is ``ApiException(status=0,
body=None)`` with websocket-client's ``Handshake status <code> <text> -+-+- <headers> -+-+- <body>``
in ``reason``; an HTTP error is a ``DynamicApiError`` with the Status JSON in ``body``. Also: the
server-set metadata stripped from server-side apply bodies, and the waits' clock (monotonic: a wall
clock stepped back must not stretch a timeout).
"""

import json

import pytest
import urllib3
import yaml
from kubernetes import client as kclient
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import api_exception

from ansible_collections.tenrec.dataplane.plugins.module_utils import apply as apply_utils
from ansible_collections.tenrec.dataplane.plugins.module_utils import k8s
from ansible_collections.tenrec.dataplane.plugins.modules import compute_service_info
from unit_support import SteppedClock

POD, NS, CONTAINER = "nova-cell1-conductor-0", "openstack", "nova-cell1-conductor"
HEADERS = ("{'audit-id': '5c1e', 'cache-control': 'no-cache, private', 'content-type': 'application/json', "
           "'date': 'Tue, 02 Dec 2025 10:00:00 GMT', 'content-length': '312'}")


def status_body(code, reason, message, details=None):
    return json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": message, "reason": reason, "details": details or {}, "code": code})


def handshake(code, text, body):
    """ApiException as kubernetes.stream raises it for a refused pods/exec upgrade."""
    return ApiException(status=0, reason="Handshake status %d %s -+-+- %s -+-+- %s" % (code, text, HEADERS, body))


def http_error(code, reason, body):
    """DynamicApiError (ConflictError, UnprocessibleEntityError, ...) as the dynamic client raises it."""
    return api_exception(ApiException(status=code, reason=reason, body=body))


FORBIDDEN = ('pods "nova-cell1-conductor-0" is forbidden: User "system:serviceaccount:openstack:tenrec" cannot '
             'create resource "pods/exec" in API group "" in the namespace "openstack"')
NO_HOST = "pod nova-cell1-conductor-0 does not have a host assigned"
CONFLICT = ('{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Apply failed with 1 conflict: conflict '
            'with \\"kubectl-edit\\" using core.openstack.org/v1beta1: .spec.nodes.edpm-compute-0.hostName",'
            '"reason":"Conflict","details":{"causes":[{"reason":"FieldManagerConflict","message":"conflict with '
            '\\"kubectl-edit\\" using core.openstack.org/v1beta1","field":".spec.nodes.edpm-compute-0.hostName"}]},'
            '"code":409}')


# ----- describe_api_error --------------------------------------------------------------------------
def test_exec_forbidden_handshake_gives_the_servers_message():
    exc = handshake(403, "Forbidden", status_body(403, "Forbidden", FORBIDDEN, {"name": POD, "kind": "pods"}))
    assert k8s.describe_api_error(exc) == "the Kubernetes API refused the request (403 Forbidden): " + FORBIDDEN


def test_exec_bad_request_handshake_gives_code_and_message():
    msg = k8s.describe_api_error(handshake(400, "Bad Request", status_body(400, "BadRequest", NO_HOST)))
    assert msg == "Kubernetes API error 400 (BadRequest): " + NO_HOST


def test_exec_handshake_with_plain_text_body():
    """The kubelet answers a restarting container with text, relayed by the API server."""
    msg = k8s.describe_api_error(handshake(500, "Internal Server Error", 'container not found ("nova-cell1-conductor")'))
    assert msg == 'Kubernetes API error 500: container not found ("nova-cell1-conductor")'


def test_exec_handshake_status_line_only():
    """Older websocket-client versions put only the status line in the message."""
    msg = k8s.describe_api_error(ApiException(status=0, reason="Handshake status 403 Forbidden"))
    assert msg == "the Kubernetes API refused the request (403 Forbidden): 403 Forbidden"


def test_exec_handshake_with_the_body_as_a_bytes_literal():
    """Older websocket-client releases put the body in the message as Python formats bytes
    (``b'{...}'``, ``b"..."`` when the body holds a single quote): the Status inside is still read."""
    body = status_body(403, "Forbidden", FORBIDDEN)
    exc = ApiException(status=0, reason="Handshake status 403 Forbidden -+-+- %s -+-+- %r" % (HEADERS, body.encode()))
    assert k8s.describe_api_error(exc) == "the Kubernetes API refused the request (403 Forbidden): " + FORBIDDEN
    quoted = "pod nova-cell1-conductor-0 isn't running: it's being replaced"
    exc = ApiException(status=0, reason="Handshake status 400 Bad Request -+-+- %s -+-+- %r" % (
        HEADERS, status_body(400, "BadRequest", quoted).encode()))
    assert k8s.describe_api_error(exc) == "Kubernetes API error 400 (BadRequest): " + quoted
    text = u"conteneur arr\u00eat\u00e9 'nova-cell1-conductor'"
    assert repr(text.encode("utf-8")).startswith('b"')
    exc = ApiException(status=0, reason="Handshake status 500 Internal Server Error -+-+- %s -+-+- %r" % (
        HEADERS, text.encode("utf-8")))
    assert k8s.describe_api_error(exc) == "Kubernetes API error 500: " + text


def test_websocket_without_http_answer_gives_the_reason():
    msg = k8s.describe_api_error(ApiException(status=0, reason="Connection to remote host was lost."))
    assert msg == "Kubernetes API WebSocket (pods/exec) failed: Connection to remote host was lost."


def test_apply_conflict_names_field_and_manager():
    assert k8s.describe_api_error(http_error(409, "Conflict", CONFLICT)) == (
        'apply conflict: field .spec.nodes.edpm-compute-0.hostName is owned by field manager "kubectl-edit" '
        '(set force_conflicts: true to take it over)')


def test_apply_conflicts_on_several_fields_and_managers():
    causes = [{"reason": "FieldManagerConflict", "message": 'conflict with "%s" using v1' % m, "field": f}
              for m, f in (("kubectl-edit", ".spec.a"), ("helm", ".spec.a"), ("helm", ".spec.b"))]
    body = status_body(409, "Conflict", "Apply failed with 3 conflicts: ...", {"causes": causes})
    assert k8s.describe_api_error(http_error(409, "Conflict", body)) == (
        'apply conflict: field .spec.a is owned by field managers "kubectl-edit" and "helm"; field .spec.b is owned '
        'by field manager "helm" (set force_conflicts: true to take them over)')


def test_other_conflict_and_invalid_give_the_message():
    stale = ('Operation cannot be fulfilled on openstackcontrolplanes.core.openstack.org "openstack": the object '
             'has been modified; please apply your changes to the latest version and try again')
    assert k8s.describe_api_error(http_error(409, "Conflict", status_body(409, "Conflict", stale))) == (
        "Kubernetes API error 409 (Conflict): " + stale)
    invalid = 'OpenStackControlPlane.core.openstack.org "x" is invalid: [spec.secret: Required value]'
    assert k8s.describe_api_error(http_error(422, "Unprocessable Entity", status_body(422, "Invalid", invalid))) == (
        "Kubernetes API error 422 (Invalid): " + invalid)


# ----- pod_exec: what is worth retrying ------------------------------------------------------------
class FakeWS(object):
    """kubernetes.stream's WSClient after the command: channels as bytes were decoded, closed."""

    def __init__(self, out="", err="", status=None):
        self.channels = {1: out, 2: err, 3: "" if status is None else json.dumps(status)}

    def run_forever(self, timeout=None):
        pass

    def is_open(self):
        return False

    def read_channel(self, channel, timeout=0):
        return self.channels.pop(channel, "")

    def read_stdout(self, timeout=None):
        return self.read_channel(1)

    def read_stderr(self, timeout=None):
        return self.read_channel(2)

    @property
    def returncode(self):  # the library's own parsing
        err = yaml.safe_load(self.read_channel(3))
        return 0 if err["status"] == "Success" else int(err["details"]["causes"][0]["message"])

    def close(self, **kwargs):
        pass


def make_pod(phase="Running", containers=(CONTAINER,), waiting=None, deleting=False):
    statuses = None
    if waiting:
        statuses = [kclient.V1ContainerStatus(
            name=CONTAINER, image="i", image_id="", ready=False, restart_count=1,
            state=kclient.V1ContainerState(waiting=kclient.V1ContainerStateWaiting(reason=waiting)))]
    return kclient.V1Pod(
        metadata=kclient.V1ObjectMeta(name=POD, deletion_timestamp="2025-12-02T10:00:00Z" if deleting else None),
        spec=kclient.V1PodSpec(containers=[kclient.V1Container(name=c) for c in containers]),
        status=kclient.V1PodStatus(phase=phase, container_statuses=statuses))


@pytest.fixture
def api(monkeypatch):
    """CoreV1Api and stream() replaced: set ``.pod`` (V1Pod or exception) and ``.exec`` (FakeWS or exception)."""
    state = type("State", (), {"pod": make_pod(), "exec": FakeWS(status={"status": "Success"}), "streamed": 0})()

    class FakeCore(object):
        def __init__(self, *args):
            self.connect_get_namespaced_pod_exec = object()

        def read_namespaced_pod(self, name, namespace):
            if isinstance(state.pod, Exception):
                raise state.pod
            return state.pod

    def fake_stream(*args, **kwargs):
        state.streamed += 1
        if isinstance(state.exec, Exception):
            # state.exec is an exception here, whatever pylint infers from its default
            raise state.exec  # pylint: disable=raising-non-exception
        return state.exec

    monkeypatch.setattr("kubernetes.client.CoreV1Api", FakeCore)
    monkeypatch.setattr("kubernetes.stream.stream", fake_stream)
    return state


CLIENT = type("K8SClient", (), {"client": type("Dynamic", (), {"client": None})()})()


def run_exec(api):
    return k8s.pod_exec(CLIENT, NS, POD, CONTAINER, ["nova-manage", "cell_v2", "list_hosts"], timeout=5)


def test_exec_returns_exit_code_and_output(api):
    api.exec = FakeWS("hosts\n", "warn\n", {"status": "Failure", "reason": "NonZeroExitCode",
                                            "details": {"causes": [{"reason": "ExitCode", "message": "2"}]}})
    assert run_exec(api) == (2, "hosts\n", "warn\n")


def test_exec_forbidden_is_permanent_with_the_servers_message(api):
    api.exec = handshake(403, "Forbidden", status_body(403, "Forbidden", FORBIDDEN))
    with pytest.raises(k8s.ControlPlaneError) as err:
        run_exec(api)
    assert not isinstance(err.value, k8s.ExecUnavailable)
    assert str(err.value) == ("cannot exec into Pod %s in namespace %s: the Kubernetes API refused the request "
                              "(403 Forbidden): %s" % (POD, NS, FORBIDDEN))


@pytest.mark.parametrize("exc", [
    handshake(400, "Bad Request", status_body(400, "BadRequest", NO_HOST)),
    handshake(404, "Not Found", status_body(404, "NotFound", 'pods "%s" not found' % POD)),
    handshake(500, "Internal Server Error", 'container not found ("nova-cell1-conductor")'),
    ApiException(status=0, reason="Connection to remote host was lost."),
    ApiException(status=0, reason="[Errno 111] Connection refused"),
], ids=["no-host", "pod-gone", "container-restarting", "ws-closed", "refused"])
def test_exec_refused_while_the_pod_restarts_is_transient(api, exc):
    api.exec = exc
    with pytest.raises(k8s.ExecUnavailable) as err:
        run_exec(api)
    assert ("cannot exec into Pod %s in namespace %s: " % (POD, NS)) in str(err.value)
    assert "None" not in str(err.value)


def test_exec_unknown_container_is_permanent(api):
    api.exec = handshake(400, "Bad Request", status_body(400, "BadRequest", "container nope is not valid for pod " + POD))
    with pytest.raises(k8s.ControlPlaneError) as err:
        run_exec(api)
    assert not isinstance(err.value, k8s.ExecUnavailable)
    assert "container nope is not valid for pod" in str(err.value)


def test_container_not_in_the_pod_spec_fails_before_exec(api):
    api.pod = make_pod(containers=("nova-conductor",))
    with pytest.raises(k8s.ControlPlaneError) as err:
        run_exec(api)
    assert not isinstance(err.value, k8s.ExecUnavailable)
    assert str(err.value) == "Pod %s in namespace %s has no container %s (containers: nova-conductor)" % (
        POD, NS, CONTAINER)
    assert api.streamed == 0


@pytest.mark.parametrize("pod, why", [
    (ApiException(status=404, reason="Not Found"), "Pod %s not found in namespace %s" % (POD, NS)),
    (make_pod(phase="Pending"), "Pod %s in namespace %s is not Running (phase Pending)" % (POD, NS)),
    (make_pod(deleting=True), "Pod %s in namespace %s is terminating" % (POD, NS)),
    (make_pod(waiting="CrashLoopBackOff"), "container %s of Pod %s in namespace %s is not running "
                                           "(waiting: CrashLoopBackOff)" % (CONTAINER, POD, NS)),
], ids=["absent", "pending", "terminating", "waiting"])
def test_pod_not_ready_is_transient_and_not_execed(api, pod, why):
    api.pod = pod
    with pytest.raises(k8s.ExecUnavailable) as err:
        run_exec(api)
    assert str(err.value) == why
    assert api.streamed == 0


@pytest.mark.parametrize("exc", [
    urllib3.exceptions.MaxRetryError(None, "/api/v1/namespaces/openstack/pods/" + POD, reason=urllib3.exceptions.
                                     NewConnectionError(None, "Failed to establish a new connection: [Errno 111] "
                                                              "Connection refused")),
    urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "Connection reset by peer")),
    urllib3.exceptions.ReadTimeoutError(None, "/api/v1/namespaces/openstack/pods/" + POD, "Read timed out."),
], ids=["refused", "reset", "read-timeout"])
def test_api_connection_lost_while_reading_the_pod_is_transient(api, exc):
    """The API server restarting (or its connection dropped) while the Pod is read before the exec."""
    api.pod = exc
    with pytest.raises(k8s.ExecUnavailable) as err:
        run_exec(api)
    assert str(err.value).startswith("cannot reach the Kubernetes API to read Pod %s in namespace %s: " % (POD, NS))
    assert api.streamed == 0


def test_api_tls_failure_while_reading_the_pod_is_permanent(api):
    """A CA or certificate that does not verify does not heal by waiting."""
    api.pod = urllib3.exceptions.MaxRetryError(None, "/api/v1/namespaces/openstack/pods/" + POD,
                                               reason=urllib3.exceptions.SSLError("certificate verify failed"))
    with pytest.raises(k8s.ControlPlaneError) as err:
        run_exec(api)
    assert not isinstance(err.value, k8s.ExecUnavailable)
    assert "certificate verify failed" in str(err.value)


def test_connection_closed_before_the_exit_status_is_transient(api):
    api.exec = FakeWS("partial", "", None)
    with pytest.raises(k8s.ExecUnavailable) as err:
        run_exec(api)
    assert "connection closed before nova-manage cell_v2 list_hosts reported an exit status" in str(err.value)


def test_runtime_failure_on_the_error_channel(api):
    """The runtime's InternalError: a stopped container is transient, a missing executable is not."""
    api.exec = FakeWS(status={"status": "Failure", "reason": "InternalError",
                              "message": "cannot exec in a stopped state: unknown"})
    with pytest.raises(k8s.ExecUnavailable):
        run_exec(api)
    missing = ('OCI runtime exec failed: exec failed: unable to start container process: exec: "nova-manage": '
               'executable file not found in $PATH: unknown')
    api.exec = FakeWS(status={"status": "Failure", "reason": "InternalError", "message": missing})
    with pytest.raises(k8s.ControlPlaneError) as err:
        run_exec(api)
    assert not isinstance(err.value, k8s.ExecUnavailable)
    assert missing in str(err.value)


# ----- server-side apply body ----------------------------------------------------------------------
class FakeObj(dict):
    def to_dict(self):
        return dict(self)


class FakeApplyClient(object):
    """K8SClient stand-in recording the server-side apply requests."""

    def __init__(self):
        self.sent = []
        outer = self

        class Resource(object):
            def get(self, name, namespace):
                raise k8s.NotFoundError(ApiException(status=404, reason="Not Found"))

        class Dynamic(object):
            def server_side_apply(self, resource, body, **kwargs):
                outer.sent.append((body, kwargs))
                return FakeObj(body)

        self.client = Dynamic()
        self._resource = Resource()

    def resource(self, kind, api_version):
        return self._resource


def test_apply_strips_server_set_metadata_and_status():
    returned = {"apiVersion": "core.openstack.org/v1beta1", "kind": "OpenStackControlPlane",
                "metadata": {"name": "openstack", "namespace": "openstack", "labels": {"a": "b"},
                             "annotations": {"c": "d"}, "uid": "0b9c", "resourceVersion": "4711", "generation": 3,
                             "creationTimestamp": "2025-12-02T10:00:00Z", "selfLink": "/apis/x",
                             "managedFields": [{"manager": "tenrec-dataplane", "operation": "Apply"}]},
                "spec": {"secret": "osp-secret"},
                "status": {"conditions": [{"type": "Ready", "status": "True"}], "observedGeneration": 3}}
    fake = FakeApplyClient()
    applier = apply_utils.Applier(fake, "core.openstack.org/v1beta1", "OpenStackControlPlane")
    applier.apply(returned, "openstack", force_conflicts=True)
    body, kwargs = fake.sent[0]
    assert body == {"apiVersion": "core.openstack.org/v1beta1", "kind": "OpenStackControlPlane",
                    "metadata": {"name": "openstack", "namespace": "openstack", "labels": {"a": "b"},
                                 "annotations": {"c": "d"}},
                    "spec": {"secret": "osp-secret"}}
    assert kwargs == {"name": "openstack", "namespace": "openstack", "field_manager": "tenrec-dataplane",
                      "force_conflicts": True}
    assert returned["metadata"]["uid"] == "0b9c" and "status" in returned  # the caller's dict is left alone


# ----- the waits' clock ----------------------------------------------------------------------------


def test_wait_ready_times_out_on_monotonic_time(monkeypatch):
    clock = SteppedClock()
    monkeypatch.setattr(apply_utils, "time", clock)
    applier = apply_utils.Applier(FakeApplyClient(), "core.openstack.org/v1beta1", "OpenStackControlPlane")
    monkeypatch.setattr(applier, "get", lambda name, namespace: {"metadata": {"generation": 1}, "status": {}})
    with pytest.raises(k8s.ControlPlaneError, match="is not Ready after 10 s"):
        applier.wait_ready("openstack", "openstack", timeout=10, sleep=2)
    assert clock.sleeps == 5


def test_compute_service_info_wait_times_out_on_monotonic_time(monkeypatch):
    clock = SteppedClock()
    monkeypatch.setattr(compute_service_info, "time", clock)
    module = compute_service_info.ComputeServiceInfoModule.__new__(compute_service_info.ComputeServiceInfoModule)
    module.params = {"hosts": ["compute-0"], "wait": True, "timeout": 10, "delay": 2}
    module.snapshot = lambda: [{"host": "compute-0", "ready": False, "missing": ["no hypervisor"]}]

    def fail_json(**kwargs):
        raise RuntimeError(kwargs["msg"])

    module.fail_json = fail_json
    with pytest.raises(RuntimeError, match="compute hosts not ready after 10 s: compute-0: no hypervisor"):
        module.run()
    assert clock.sleeps == 5
