#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: compute_drain
short_description: Move every instance off a compute host (live migration, cold migration when shut off)
version_added: 0.2.0
author: tenrec.dataplane developers (@tenrec)
description:
  - Lists, through openstacksdk, the servers of every project on O(host) (Compute API C(servers)
    with the admin C(host) filter) and moves each one to another compute chosen by the scheduler
    (or O(target_host)), one at a time; waits for each move to end before the next starts.
  - C(ACTIVE) and C(PAUSED) servers are live-migrated (C(os-migrateLive) with O(block_migration));
    C(SHUTOFF) servers are cold-migrated and their resize confirmed. A server in any other state
    (C(ERROR), C(BUILD), in a task already) fails the module before any move, naming it.
  - A move is done when the server is back in its state on another host with no task. A server
    that ends in C(ERROR), is still on O(host) once its migration record says C(error) or
    C(failed), or has not moved after O(timeout) seconds fails the module, naming the server and
    what the Compute API says (its fault, the migration's status).
  - The module does not disable the nova-compute service; disable it first (M(tenrec.dataplane.compute_service))
    so the scheduler places nothing new there.
  - A host with no server reports C(changed=false). Check mode moves nothing and reports
    C(changed=true) when a server would move, with O(host)'s servers in RV(servers); the same
    refusals (a server in a state that cannot move) apply.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - tenrec.dataplane.attributes.no_diff
  - openstack.cloud.openstack
options:
  host:
    description: The compute host to empty (nova's C(host), as C(openstack compute service list) shows it).
    type: str
    required: true
  target_host:
    description: Move the servers to this compute host; empty lets the scheduler choose.
    type: str
    default: ""
  servers:
    description:
      - Move only these servers of O(host) (UUIDs); empty moves every server on it. A UUID that is not
        on O(host) is left alone (already moved), so a re-run changes nothing.
    type: list
    elements: str
    default: []
  block_migration:
    description:
      - Live migration's C(block_migration) - C(auto) lets nova copy local disks when the hosts do not
        share instance storage.
    type: str
    choices: [auto, "true", "false"]
    default: auto
  timeout:
    description: Seconds each server may take to move (wall clock, per server).
    type: int
    default: 600
  delay:
    description: Seconds between two polls of a moving server.
    type: int
    default: 3
"""

EXAMPLES = r"""
- name: Live-migrate everything off compute-1 (its service disabled first)
  tenrec.dataplane.compute_drain:
    cloud: overcloud
    host: compute-1
    timeout: 900
  register: drained

- name: Move them back once compute-1 is enabled again
  tenrec.dataplane.compute_drain:
    cloud: overcloud
    host: "{{ item.destination }}"
    target_host: compute-1
    servers: ["{{ item.id }}"]
  loop: "{{ drained.moved }}"
"""

RETURN = r"""
servers:
  description: The servers found on O(host) when the module started (only those of O(servers) when given).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Server UUID.
      type: str
    name:
      description: Server name.
      type: str
    status:
      description: Server status before the move (C(ACTIVE), C(PAUSED), C(SHUTOFF)).
      type: str
moved:
  description: One entry per server this run moved, in order.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Server UUID.
      type: str
    name:
      description: Server name.
      type: str
    kind:
      description: C(live) or C(cold).
      type: str
    source:
      description: O(host).
      type: str
    destination:
      description: The host the server ended on.
      type: str
    seconds:
      description: Wall-clock seconds the move took.
      type: float
"""

import time

from ansible_collections.openstack.cloud.plugins.module_utils.openstack import OpenStackModule
from ansible_collections.tenrec.dataplane.plugins.module_utils.compute import server_host, servers_on_host

LIVE = ("ACTIVE", "PAUSED")
COLD = ("SHUTOFF",)
FAILED_MIGRATION = ("error", "failed")


def unmovable(servers):
    """``["<name> (<id>): status <S>, task <T>"]`` for servers neither live nor cold migration can move."""
    out = []
    for server in servers:
        if server.status not in LIVE + COLD or server.task_state:
            out.append("%s (%s): status %s, task %s" % (server.name, server.id, server.status, server.task_state))
    return out


class ComputeDrainModule(OpenStackModule):
    argument_spec = dict(
        host=dict(type="str", required=True),
        target_host=dict(type="str", default=""),
        servers=dict(type="list", elements="str", default=[]),
        block_migration=dict(type="str", default="auto", choices=["auto", "true", "false"]),
        timeout=dict(type="int", default=600),
        delay=dict(type="int", default=3),
    )
    module_kwargs = dict(supports_check_mode=True)

    def migration_failure(self, server):
        """The status of the newest migration record of ``server`` when it says error/failed, else None."""
        records = sorted(self.conn.compute.migrations(instance_uuid=server.id),
                         key=lambda m: m.created_at or "", reverse=True)
        if records and (records[0].status or "").lower() in FAILED_MIGRATION:
            return "migration %s %s (%s -> %s)" % (records[0].id, records[0].status, records[0].source_compute,
                                                   records[0].dest_compute)
        return None

    def wait_moved(self, server, status, started):
        """Poll ``server`` until it runs in ``status`` off the source host; returns it (openstacksdk Server).

        :raises: fail_json naming the server when it goes to ERROR, its migration fails, or the timeout passes.
        """
        source = self.params["host"]
        deadline = started + self.params["timeout"]
        while True:
            current = self.conn.compute.get_server(server.id)
            if current.status == "VERIFY_RESIZE" and not current.task_state:
                self.conn.compute.confirm_server_resize(current)
            elif current.status == status and not current.task_state and server_host(current) != source:
                return current
            elif current.status == "ERROR":
                fault = (getattr(current, "fault", None) or {}).get("message", "")
                self.fail_json(msg="server %s (%s) went to ERROR while moving off %s: %s"
                               % (current.name, current.id, source, fault or "no fault recorded"))
            elif not current.task_state and server_host(current) == source:
                failure = self.migration_failure(current)
                if failure:
                    self.fail_json(msg="server %s (%s) is still on %s, status %s: %s"
                                   % (current.name, current.id, source, current.status, failure))
            if time.monotonic() >= deadline:
                self.fail_json(msg="server %s (%s) has not moved off %s within %d s: status %s, task %s, host %s"
                               % (current.name, current.id, source, self.params["timeout"], current.status,
                                  current.task_state, server_host(current)))
            time.sleep(max(0, min(self.params["delay"], deadline - time.monotonic())))

    def move(self, server):
        target = self.params["target_host"] or None
        started = time.monotonic()
        if server.status in LIVE:
            block = {"auto": "auto", "true": True, "false": False}[self.params["block_migration"]]
            self.conn.compute.live_migrate_server(server, host=target, block_migration=block)
            kind = "live"
        else:
            self.conn.compute.migrate_server(server, host=target)
            kind = "cold"
        after = self.wait_moved(server, server.status, started)
        return dict(id=server.id, name=server.name, kind=kind, source=self.params["host"],
                    destination=server_host(after), seconds=round(time.monotonic() - started, 1))

    def run(self):
        servers = servers_on_host(self.conn, self.params["host"])
        if self.params["servers"]:
            servers = [s for s in servers if s.id in self.params["servers"]]
        found = [dict(id=s.id, name=s.name, status=s.status) for s in servers]
        stuck = unmovable(servers)
        if stuck:
            self.fail_json(msg="cannot move these servers off %s (only ACTIVE, PAUSED and SHUTOFF servers with no "
                               "task move): %s" % (self.params["host"], "; ".join(stuck)), servers=found, moved=[])
        if self.ansible.check_mode:
            self.exit_json(changed=bool(servers), servers=found, moved=[])
        moved = [self.move(server) for server in servers]
        self.exit_json(changed=bool(moved), servers=found, moved=moved)


def main():
    module = ComputeDrainModule()
    module()


if __name__ == "__main__":
    main()
