"""The error the server answers as a Kubernetes Status object."""


class ApiError(Exception):
    """An error answered as a Kubernetes Status object."""

    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self):
        out = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": self.message}
        if self.reason:  # the real server leaves an empty reason out (e.g. a 500 of server-side apply)
            out["reason"] = self.reason
        out["code"] = self.code
        if self.details:
            out["details"] = self.details
        return out
