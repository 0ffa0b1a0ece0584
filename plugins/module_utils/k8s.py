# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)
"""Thin layer over kubernetes.core's client set-up for the control-plane modules.

Authentication (kubeconfig, context, host, api_key, ca_cert, validate_certs, K8S_AUTH_* variables)
is kubernetes.core's own: ``AUTH_ARG_SPEC`` and ``get_api_client``. This file adds the lookups the
modules share, each raising :class:`ControlPlaneError` with the object and field to look at.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import base64
import configparser
import copy
import json
import re

from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException

try:
    from kubernetes.dynamic.exceptions import DynamicApiError, NotFoundError
    from urllib3.exceptions import HTTPError as Urllib3Error, SSLError
except ImportError:  # the module reports the missing library through AnsibleK8SModule.requires
    DynamicApiError = NotFoundError = Urllib3Error = Exception
    SSLError = type("SSLError", (Exception,), {})

__all__ = ["ControlPlaneError", "DynamicApiError", "ExecUnavailable", "NotFoundError", "Reader", "Urllib3Error",
           "auth_argument_spec", "describe_api_error", "call_or_fail", "error_status", "pod_exec"]


class ControlPlaneError(Exception):
    """A control-plane object or field is missing or unusable; the message names it."""


def auth_argument_spec(**extra):
    """kubernetes.core's auth options plus ``extra`` (a fresh dict each call)."""
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(extra)
    return spec


# websocket-client's message for a refused WebSocket upgrade (pods/exec), which kubernetes.stream
# hands on as ApiException(status=0, reason=<it>, body=None):
# "Handshake status 403 Forbidden -+-+- {headers} -+-+- {body}" (older versions: the status line only)
HANDSHAKE = re.compile(r"^Handshake status (\d{3})\b")
HANDSHAKE_SEPARATOR = " -+-+- "
CONFLICT_MANAGER = re.compile(r'conflict with "([^"]*)"')


def bytes_literal_text(text):
    """``text`` itself, or the text inside it when it is a Python bytes literal (``b'...'``, ``b"..."``).

    websocket-client releases before the ones that decode the handshake's body formatted it into the
    message as bytes, so the Status JSON arrives as ``b'{"kind":"Status",...}'``.
    """
    stripped = text.strip()
    if len(stripped) < 3 or stripped[0] != "b" or stripped[1] not in "'\"" or stripped[-1] != stripped[1]:
        return text
    try:
        value = ast.literal_eval(stripped)
    except (ValueError, SyntaxError):
        return text
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else text


def error_status(exc):
    """What the API server said in a client exception, wherever the client put it.

    HTTP errors (``ApiException``, ``DynamicApiError``) carry the code in ``status`` and the Status
    JSON in ``body``; a ``pods/exec`` WebSocket refused at the handshake is ``status=0, body=None``
    with the handshake's status line and body in ``reason``; a WebSocket that got no HTTP answer
    (refused, closed) is ``status=0`` with the socket error in ``reason``.

    :returns: ``(code, status, text)``: the HTTP status code (int; 0 when there was no HTTP answer;
        None when ``exc`` is not an API exception), the Status object (dict; ``{}`` when the body is
        not one) and the server's words (str: the Status ``message``, else the body, else ``reason``).
    """
    code, body, reason = getattr(exc, "status", None), getattr(exc, "body", None), getattr(exc, "reason", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not code and isinstance(reason, str) and HANDSHAKE.match(reason):
        code = int(HANDSHAKE.match(reason).group(1))
        parts = reason.split(HANDSHAKE_SEPARATOR, 2)
        reason = parts[0][len("Handshake status "):].strip()
        body = parts[2] if len(parts) == 3 and parts[2].strip() not in ("", "None") else None
        body = bytes_literal_text(body) if body else body
    status = {}
    if body:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and parsed.get("kind") == "Status":
            status = parsed
    text = status.get("message") or (body or "").strip() or (str(reason) if reason else "") or str(exc)
    return code, status, text


def describe_conflict(status):
    """One line for a server-side apply conflict (409 Status with FieldManagerConflict causes), or None.

    :returns: e.g. ``apply conflict: field .spec.x is owned by field manager "kubectl-edit" (set
        force_conflicts: true to take it over)``; None when ``status`` has no such cause.
    """
    owners = {}  # field -> ['"manager"', ...], in the server's order
    order = []
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") != "FieldManagerConflict":
            continue
        field = cause.get("field") or "(unnamed)"
        match = CONFLICT_MANAGER.search(cause.get("message") or "")
        manager = '"%s"' % match.group(1) if match else (cause.get("message") or "another field manager")
        if field not in owners:
            owners[field] = []
            order.append(field)
        if manager not in owners[field]:
            owners[field].append(manager)
    if not owners:
        return None
    parts = ["field %s is owned by field manager%s %s" % (f, "s" if len(owners[f]) > 1 else "", " and ".join(owners[f]))
             for f in order]
    return "apply conflict: %s (set force_conflicts: true to take %s over)" % (
        "; ".join(parts), "it" if len(order) == 1 else "them")


def describe_api_error(exc, host=None):
    """Turn a client exception into one line a user can act on: the server's own message.

    401 and 403 say what to check, a 409 apply conflict names the fields and their field managers,
    other HTTP errors give ``Kubernetes API error <code> (<reason>): <message>`` (a 422's message
    lists the schema's causes), a ``pods/exec`` WebSocket without an HTTP answer gives the socket
    error, and anything else (urllib3: refused, TLS, DNS) says the API cannot be reached.
    """
    code, status, text = error_status(exc)
    if code == 401:
        return "authentication to the Kubernetes API failed (401 Unauthorized): check api_key / kubeconfig token"
    if code == 403:
        return "the Kubernetes API refused the request (403 Forbidden): %s" % text
    if code == 409 and describe_conflict(status):
        return describe_conflict(status)
    if code:
        return "Kubernetes API error %d%s: %s" % (code, " (%s)" % status["reason"] if status.get("reason") else "", text)
    if code == 0:
        return "Kubernetes API WebSocket (pods/exec) failed: %s" % text
    return "cannot reach the Kubernetes API%s: %s" % (" at %s" % host if host else "", exc)


def call_or_fail(module, func):
    """Return ``func()``; turn control-plane and API errors into ``module.fail_json`` with a clear message."""
    try:
        return func()
    except ControlPlaneError as exc:
        module.fail_json(msg=str(exc))
    except CoreException as exc:
        module.fail_json(msg=describe_api_error(exc.__cause__ or exc, module.params.get("host")))
    except (DynamicApiError, Urllib3Error) as exc:
        module.fail_json(msg=describe_api_error(exc, module.params.get("host")))
    return None  # not reached: fail_json exits


class ExecUnavailable(ControlPlaneError):
    """``pods/exec`` cannot run the command now, but may soon: the Pod is absent, not Running, being
    replaced, or the connection dropped (a conductor Pod restarting after a spec change looks like
    this). Callers that wait retry it; the message names the Pod and the reason."""


# what the API server and the container runtime answer while a Pod is being (re)scheduled or its
# container restarts (400: not scheduled yet; the kubelet's 500; the runtime's InternalError)
RESTARTING = re.compile(r"does not have a host assigned|container not found|is not running|not created or running|"
                        r"stopped state|CONTAINER_EXITED")
# HTTP codes worth another try: the Pod gone, throttled, the kubelet or the API server not answering
TRANSIENT_CODES = (404, 429, 500, 502, 503, 504)
ERROR_CHANNEL = 3


def exec_failure(exc, pod, namespace):
    """The error for a ``pods/exec`` request refused by the API server (``exc``: ApiException).

    :returns: ExecUnavailable (worth retrying) for no HTTP answer at all (refused, closed), 404, 429,
        5xx and a 400 the Pod's restart explains (no node yet); ControlPlaneError for the rest
        (401, 403 without the ``pods/exec`` permission, 400 for an unknown container, ...). The
        message is ``cannot exec into Pod <pod> in namespace <ns>: <the server's message>``.
    """
    code, _status, text = error_status(exc)
    message = "cannot exec into Pod %s in namespace %s: %s" % (pod, namespace, describe_api_error(exc))
    if code == 0 or code in TRANSIENT_CODES or (code == 400 and RESTARTING.search(text)):
        return ExecUnavailable(message)
    return ControlPlaneError(message)


def unreachable(exc, pod, namespace):
    """The error for reading ``pod`` when the API server gave no HTTP answer (``exc``: urllib3 error).

    :returns: ControlPlaneError for a TLS failure (a CA or certificate that does not verify: waiting
        does not mend it); ExecUnavailable (worth retrying) for the rest - refused, reset, timed out.
    """
    cause = getattr(exc, "reason", None)
    message = "cannot reach the Kubernetes API to read Pod %s in namespace %s: %s" % (pod, namespace, exc)
    if isinstance(exc, SSLError) or isinstance(cause, SSLError):
        return ControlPlaneError(message)
    return ExecUnavailable(message)


def pod_not_ready(pod, name, namespace, container):
    """Why ``container`` of ``pod`` (a V1Pod) cannot take an exec now, or None when it can.

    :returns: ControlPlaneError when the Pod has no container ``container`` (a wrong name:
        permanent); ExecUnavailable for a Pod terminating, not Running, or whose container is not
        running (only what the Pod reports is judged: a Pod with no status is left to the exec).
    """
    names = [c.name for c in (pod.spec.containers if pod.spec else None) or []]
    if container and names and container not in names:
        return ControlPlaneError("Pod %s in namespace %s has no container %s (containers: %s)"
                                 % (name, namespace, container, ", ".join(names)))
    where = "Pod %s in namespace %s" % (name, namespace)
    if pod.metadata is not None and pod.metadata.deletion_timestamp:
        return ExecUnavailable("%s is terminating" % where)
    phase = pod.status.phase if pod.status else None
    if phase and phase != "Running":
        return ExecUnavailable("%s is not Running (phase %s)" % (where, phase))
    wanted = container or (names[0] if names else None)
    for cstatus in (pod.status.container_statuses if pod.status else None) or []:
        state = cstatus.state
        if cstatus.name == wanted and state is not None and not state.running:
            how, detail = ("waiting", state.waiting) if state.waiting else ("terminated", state.terminated)
            return ExecUnavailable("container %s of %s is not running (%s: %s)"
                                   % (cstatus.name, where, how, getattr(detail, "reason", None) or "no reason"))
    return None


def exit_code(raw, command, pod, namespace):
    """The exit code from the Status on the exec's error channel (``raw``: str, ``""`` when none came).

    :raises ExecUnavailable: no Status (the connection closed first) or the runtime reports the
        container stopped.
    :raises ControlPlaneError: the runtime could not run the command (e.g. executable not found).
    """
    where = "Pod %s in namespace %s" % (pod, namespace)
    if not raw:
        raise ExecUnavailable("the connection closed before %s reported an exit status (%s restarting?)"
                              % (command, where))
    try:
        status = json.loads(raw if isinstance(raw, str) else raw.decode("utf-8", "replace"))
    except ValueError:
        status = {"message": raw}
    if status.get("status") == "Success":
        return 0
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            return int(cause.get("message"))
    message = "%s could not run in %s: %s" % (command, where, status.get("message") or raw)
    raise (ExecUnavailable if RESTARTING.search(status.get("message") or "") else ControlPlaneError)(message)


def pod_exec(k8s_client, namespace, pod, container, command, timeout=600):
    """Run ``command`` (argv list) in ``container`` of ``pod`` through the API's ``pods/exec``.

    This is ``kubectl exec``: a WebSocket to the API server (``v4.channel.k8s.io``), so it needs the
    ``pods/exec`` create permission and nothing on the cluster nodes.

    :param timeout: seconds (at least 1) the command may run once started.
    :returns: ``(rc, stdout, stderr)`` (int, str, str); rc from the Status on the error channel.
    :raises ExecUnavailable: the Pod is absent, terminating, not Running, its container not running,
        or the API server (no answer, refused, reset), kubelet or connection failed in a way a restart
        explains (retry it).
    :raises ControlPlaneError: the container does not exist, the exec is forbidden, TLS to the API
        server does not verify, the command could not be started, or it did not finish within ``timeout``.
    """
    import websocket  # pylint: disable=import-outside-toplevel
    from kubernetes.client import CoreV1Api  # pylint: disable=import-outside-toplevel
    from kubernetes.client.exceptions import ApiException  # pylint: disable=import-outside-toplevel
    from kubernetes.stream import stream  # pylint: disable=import-outside-toplevel

    api = CoreV1Api(k8s_client.client.client)
    argv = " ".join(command)
    try:
        found = api.read_namespaced_pod(pod, namespace)
    except ApiException as exc:
        if exc.status == 404:
            raise ExecUnavailable("Pod %s not found in namespace %s" % (pod, namespace))
        raise exec_failure(exc, pod, namespace)
    except Urllib3Error as exc:  # no HTTP answer: the API server restarting, the connection dropped
        raise unreachable(exc, pod, namespace)
    not_ready = pod_not_ready(found, pod, namespace, container)
    if not_ready is not None:
        raise not_ready
    try:
        resp = stream(api.connect_get_namespaced_pod_exec, pod, namespace, container=container or None,
                      command=list(command), stdout=True, stderr=True, stdin=False, tty=False,
                      _preload_content=False)
    except ApiException as exc:
        raise exec_failure(exc, pod, namespace)
    try:
        resp.run_forever(timeout=max(1, timeout))
        if resp.is_open():
            raise ControlPlaneError("%s in Pod %s did not finish within %d s" % (argv, pod, max(1, timeout)))
        out, err = resp.read_stdout() or "", resp.read_stderr() or ""
        raw = resp.read_channel(ERROR_CHANNEL)
    except (websocket.WebSocketException, OSError) as exc:
        raise ExecUnavailable("connection to Pod %s in namespace %s lost while %s ran: %s" % (pod, namespace, argv, exc))
    finally:
        resp.close()
    return exit_code(raw, argv, pod, namespace), out, err


class Reader(object):
    """Read openstack-operator objects through a kubernetes.core K8SClient.

    :param client: ``K8SClient`` from ``get_api_client``.
    :param namespace: namespace of the control plane (``openstack`` by default in the modules).
    """

    def __init__(self, client, namespace):
        self.client = client
        self.namespace = namespace

    def get(self, api_version, kind, name):
        """Return the object as a dict; raise ControlPlaneError naming it when it does not exist."""
        try:
            resource = self.client.resource(kind, api_version)
            return resource.get(name=name, namespace=self.namespace).to_dict()
        except NotFoundError:
            raise ControlPlaneError("%s %s not found in namespace %s" % (kind, name, self.namespace))

    def field(self, obj, path):
        """Return ``obj`` at the dotted ``path``; raise ControlPlaneError naming object and field."""
        cur = obj
        for part in path.split("."):
            if not isinstance(cur, dict) or cur.get(part) in (None, "", {}, []):
                raise ControlPlaneError("%s %s in namespace %s has no %s yet" % (
                    obj.get("kind"), obj.get("metadata", {}).get("name"), self.namespace, path))
            cur = cur[part]
        return cur

    def secret_value(self, name, key, optional=False):
        """Return the decoded value (str) of ``key`` in Secret ``name``.

        :param optional: return ``""`` instead of raising when the Secret or the key is absent.
        :raises ControlPlaneError: naming the Secret (and key) when absent and not ``optional``.
        """
        try:
            secret = self.get("v1", "Secret", name)
        except ControlPlaneError:
            if optional:
                return ""
            raise
        data = secret.get("data") or {}
        if key not in data:
            if optional:
                return ""
            raise ControlPlaneError("Secret %s in namespace %s has no key %s" % (name, self.namespace, key))
        return base64.b64decode(data[key]).decode()

    def secret_values(self, name, keys):
        """Return ``{key: decoded str}`` for every key in ``keys`` of Secret ``name`` (one read).

        :raises ControlPlaneError: naming the Secret, or the Secret and the keys that are absent or
            empty (never a value).
        """
        data = self.get("v1", "Secret", name).get("data") or {}
        missing = [k for k in keys if not data.get(k)]
        if missing:
            raise ControlPlaneError("Secret %s in namespace %s has no %s" % (
                name, self.namespace, ", ".join("key %s" % k for k in missing)))
        return dict((k, base64.b64decode(data[k]).decode()) for k in keys)

    def secret_ini(self, name, key, section, options):
        """Read ``options`` of ``[section]`` from the INI file stored in Secret ``name``, key ``key``.

        openstack-operator's service operators hand the data plane its configuration as INI
        snippets in Secrets (for example neutron-operator's ``10-neutron-metadata.conf``).

        :returns: ``dict`` option -> str for the options present; ``{}`` when the Secret, the key
            or the section is absent.
        :raises ControlPlaneError: when the stored text is not INI.
        """
        text = self.secret_value(name, key, optional=True)
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            parser.read_string(text)
        except configparser.Error as exc:
            raise ControlPlaneError("Secret %s in namespace %s, key %s, is not INI: %s" % (
                name, self.namespace, key, str(exc).splitlines()[0]))
        values = parser.defaults() if section == "DEFAULT" else (
            parser[section] if parser.has_section(section) else {})
        return dict((o, values[o]) for o in options if o in values)
