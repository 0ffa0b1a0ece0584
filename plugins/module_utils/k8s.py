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

import base64
import configparser
import copy

from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException

try:
    from kubernetes.dynamic.exceptions import DynamicApiError, NotFoundError
    from urllib3.exceptions import HTTPError as Urllib3Error
except ImportError:  # the module reports the missing library through AnsibleK8SModule.requires
    DynamicApiError = NotFoundError = Urllib3Error = Exception

__all__ = ["ControlPlaneError", "DynamicApiError", "NotFoundError", "Reader", "Urllib3Error",
           "auth_argument_spec", "describe_api_error", "call_or_fail", "pod_exec"]


class ControlPlaneError(Exception):
    """A control-plane object or field is missing or unusable; the message names it."""


def auth_argument_spec(**extra):
    """kubernetes.core's auth options plus ``extra`` (a fresh dict each call)."""
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(extra)
    return spec


def describe_api_error(exc, host=None):
    """Turn a client exception into a message a user can act on (auth, connection, 422 causes)."""
    status = getattr(exc, "status", None)
    if status == 401:
        return "authentication to the Kubernetes API failed (401 Unauthorized): check api_key / kubeconfig token"
    if status == 403:
        return "the Kubernetes API refused the request (403 Forbidden): %s" % getattr(exc, "summary", lambda: exc)()
    if status is not None:
        body = getattr(exc, "body", "")
        return "Kubernetes API error %s: %s" % (status, body.decode() if isinstance(body, bytes) else body)
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


def pod_exec(k8s_client, namespace, pod, container, command, timeout=600):
    """Run ``command`` (argv list) in ``container`` of ``pod`` through the API's ``pods/exec``.

    This is ``kubectl exec``: a WebSocket to the API server (``v4.channel.k8s.io``), so it needs the
    ``pods/exec`` create permission and nothing on the cluster nodes.

    :returns: ``(rc, stdout, stderr)`` (int, str, str); rc from the Status on the error channel.
    :raises ControlPlaneError: the pod does not exist or the command could not be started.
    """
    from kubernetes.client import CoreV1Api  # pylint: disable=import-outside-toplevel
    from kubernetes.client.exceptions import ApiException  # pylint: disable=import-outside-toplevel
    from kubernetes.stream import stream  # pylint: disable=import-outside-toplevel

    api = CoreV1Api(k8s_client.client.client)
    try:
        api.read_namespaced_pod(pod, namespace)
        resp = stream(api.connect_get_namespaced_pod_exec, pod, namespace, container=container or None,
                      command=list(command), stdout=True, stderr=True, stdin=False, tty=False,
                      _preload_content=False)
    except ApiException as exc:
        if exc.status == 404:
            raise ControlPlaneError("Pod %s not found in namespace %s" % (pod, namespace))
        raise ControlPlaneError("cannot exec into Pod %s in namespace %s: %s" % (pod, namespace, describe_api_error(exc)))
    resp.run_forever(timeout=timeout)
    out, err = resp.read_stdout() or "", resp.read_stderr() or ""
    rc = resp.returncode
    resp.close()
    if rc is None:
        raise ControlPlaneError("%s in Pod %s did not finish within %d s" % (" ".join(command), pod, timeout))
    return rc, out, err


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
