"""``pods/<name>/exec`` over WebSocket (``v4.channel.k8s.io``), the way kubectl exec and the
``kubernetes`` client's ``stream()`` reach a container.

The test server has no kubelet: a Pod is "running" somewhere only when its annotation
``kubeapi.tenrec.dev/exec-prefix`` holds a JSON list, the argv that enters its container (in the lab:
``["podman", "exec", "tenrec-ctl"]``). The requested command is appended to that prefix and run here;
stdout and stderr go back on channels 1 and 2, and the exit status on channel 3 as a Status object
(``Success``, or ``Failure`` with reason ``NonZeroExitCode`` and an ``ExitCode`` cause), as the
real kubelet answers.
"""

import base64
import hashlib
import json
import os
import struct
import subprocess

EXEC_PREFIX_ANNOTATION = "kubeapi.tenrec.dev/exec-prefix"
PROTOCOL = "v4.channel.k8s.io"
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
STDOUT, STDERR, ERROR = 1, 2, 3


def frame(opcode, payload):
    """One unmasked server-to-client WebSocket frame (FIN set)."""
    head = bytes((0x80 | opcode,))
    size = len(payload)
    if size < 126:
        head += bytes((size,))
    elif size < 1 << 16:
        head += bytes((126,)) + struct.pack("!H", size)
    else:
        head += bytes((127,)) + struct.pack("!Q", size)
    return head + payload


def exit_status(rc):
    """The channel-3 Status document for exit code ``rc``."""
    if rc == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure", "message": "command terminated with non-zero exit code: %d" % rc,
            "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": str(rc)}]}}


def run_in_pod(pod, command, timeout=600):
    """Run ``command`` (argv list) in ``pod`` (a Pod dict); return ``(rc, stdout, stderr)`` as bytes.

    Raises ValueError when the pod has no exec prefix (nothing to run it in).
    """
    prefix = ((pod.get("metadata") or {}).get("annotations") or {}).get(EXEC_PREFIX_ANNOTATION)
    if not prefix:
        raise ValueError("container not found: pod %s is not running anywhere" % pod["metadata"]["name"])
    try:
        done = subprocess.run(json.loads(prefix) + list(command), capture_output=True, timeout=timeout,
                              check=False, env=dict(os.environ, LC_ALL="C.UTF-8"))
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 126, b"", str(exc).encode()
    return done.returncode, done.stdout, done.stderr


def serve(handler, pod, command):
    """Upgrade ``handler``'s connection to WebSocket, run ``command`` in ``pod`` and stream the result."""
    key = handler.headers.get("Sec-WebSocket-Key", "")
    accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    handler.send_response(101, "Switching Protocols")
    handler.send_header("Upgrade", "websocket")
    handler.send_header("Connection", "Upgrade")
    handler.send_header("Sec-WebSocket-Accept", accept)
    handler.send_header("Sec-WebSocket-Protocol", PROTOCOL)
    handler.end_headers()
    handler.wfile.flush()
    # v4: an empty message on each channel opens it
    for channel in (STDOUT, STDERR, ERROR):
        handler.wfile.write(frame(0x2, bytes((channel,))))
    try:
        rc, out, err = run_in_pod(pod, command)
    except ValueError as exc:
        rc, out, err = 1, b"", str(exc).encode()
    for channel, data in ((STDOUT, out), (STDERR, err)):
        for start in range(0, len(data), 65536):
            handler.wfile.write(frame(0x2, bytes((channel,)) + data[start:start + 65536]))
    handler.wfile.write(frame(0x2, bytes((ERROR,)) + json.dumps(exit_status(rc)).encode()))
    handler.wfile.write(frame(0x8, struct.pack("!H", 1000)))
    handler.wfile.flush()
    handler.close_connection = True
