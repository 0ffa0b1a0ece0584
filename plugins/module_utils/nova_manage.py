# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)
"""nova-manage in a cell's conductor Pod, through the Kubernetes API (``pods/exec``).

``NovaManage(client, params)`` takes the modules' parameters: ``namespace``, ``cell`` (openstack-operator
names the conductor ``nova-<cell>-conductor-0``, container ``nova-<cell>-conductor``), ``pod`` and
``container`` (empty: those names), ``timeout`` (seconds of ``time.monotonic()`` from construction:
one deadline for every run) and ``delay`` (seconds between tries while the Pod cannot take the exec).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import time

from ansible_collections.tenrec.dataplane.plugins.module_utils.k8s import ControlPlaneError, ExecUnavailable, pod_exec

# The module options that name the conductor (doc fragment tenrec.dataplane.nova_manage; namespace:
# tenrec.dataplane.k8s_auth).
CONDUCTOR_ARGS = dict(
    namespace=dict(type="str", default="openstack"),
    cell=dict(type="str", default="cell1"),
    pod=dict(type="str", default=""),
    container=dict(type="str", default=""),
)

LIST_HOSTS = ["nova-manage", "cell_v2", "list_hosts"]
LIST_CELLS = ["nova-manage", "cell_v2", "list_cells"]


def _table_rows(text):
    """Cells of the rows of a PrettyTable ``text`` (list of lists of str), header row included."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def parse_list_hosts(text, cell):
    """Host names in ``cell`` from the table ``nova-manage cell_v2 list_hosts`` prints."""
    return [cols[2] for cols in _table_rows(text) if len(cols) == 3 and cols[0] == cell]


def parse_cell_uuid(text, cell):
    """UUID (str) of ``cell`` from the table ``nova-manage cell_v2 list_cells`` prints, or None."""
    for cols in _table_rows(text):
        if len(cols) >= 2 and cols[0] == cell:
            return cols[1]
    return None


class NovaManage(object):
    """Runs nova-manage in the conductor Pod, retrying while the Pod cannot take the exec."""

    def __init__(self, client, params):
        self.client, self.p = client, params
        self.namespace = params["namespace"]
        self.pod = params["pod"] or "nova-%s-conductor-0" % params["cell"]
        self.container = params["container"] or "nova-%s-conductor" % params["cell"]
        self.deadline = time.monotonic() + params["timeout"]

    def left(self):
        """Seconds (float) until the deadline; negative once past."""
        return self.deadline - time.monotonic()

    def pause(self):
        time.sleep(max(0, min(self.p["delay"], self.left())))

    def nova_manage(self, argv):
        """stdout (str) of ``argv`` in the conductor; ExecUnavailable is retried until the deadline.

        :raises ControlPlaneError: nova-manage exited non-zero (with its output), the exec failed for
            good, or the Pod could not take it before the deadline (naming the Pod and the last error).
        """
        while True:
            try:
                rc, out, err = pod_exec(self.client, self.namespace, self.pod, self.container, argv,
                                        timeout=max(1, int(math.ceil(self.left()))))
                break
            except ExecUnavailable as exc:
                last = self.left() <= self.p["delay"]  # no try at the deadline: it would only be cut short
                self.pause()
                if last:
                    raise ControlPlaneError("%s could not run in Pod %s (namespace %s) within %d s; last error: %s"
                                            % (" ".join(argv), self.pod, self.namespace, self.p["timeout"], exc))
        if rc != 0:
            raise ControlPlaneError("%s in Pod %s (namespace %s) exited %d: %s" % (
                " ".join(argv), self.pod, self.namespace, rc, (err or out).strip()[-2000:]))
        return out

    def cell_hosts(self):
        """Host names (list of str) mapped into the cell (``nova-manage cell_v2 list_hosts``)."""
        return parse_list_hosts(self.nova_manage(LIST_HOSTS), self.p["cell"])

    def cell_uuid(self):
        """The cell's UUID (``nova-manage cell_v2 list_cells``); raises ControlPlaneError when it has none."""
        uuid = parse_cell_uuid(self.nova_manage(LIST_CELLS), self.p["cell"])
        if not uuid:
            raise ControlPlaneError("nova-manage cell_v2 list_cells in Pod %s (namespace %s) lists no cell %s"
                                    % (self.pod, self.namespace, self.p["cell"]))
        return uuid
