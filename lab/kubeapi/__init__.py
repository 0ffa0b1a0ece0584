"""Kubernetes-API-compatible test server (the lab's and the tests' stand-in for OpenShift)."""

from .server import ApiError, KubeAPIServer

__all__ = ["ApiError", "KubeAPIServer"]
