"""Kubernetes-API-compatible test server (the lab's and the tests' stand-in for OpenShift)."""

from .certmanager import CertManager
from .server import ApiError, KubeAPIServer

__all__ = ["ApiError", "CertManager", "KubeAPIServer"]
