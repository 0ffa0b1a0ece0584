# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: play_times
type: aggregate
short_description: Print how long each play took, at the end of the run
version_added: 0.1.0
author: tenrec.dataplane developers (@tenrec)
description:
  - At the end of a playbook run, prints one line per play that ran a task - its name, the hosts it
    targeted and its wall-clock duration in seconds - then the total. For the main job
    (C(tenrec.dataplane.site)) that is the time of each phase - control plane, prechecks, compute
    roles, discovery.
  - Plays in which every task was skipped (e.g. the contract play when the contract is known) are left out.
options:
  output_file:
    description: Also write the table to this file (replaced at each run).
    type: path
    env:
      - name: TENREC_PLAY_TIMES_FILE
    ini:
      - section: callback_play_times
        key: output_file
requirements:
  - enable in ansible.cfg (C(callbacks_enabled = tenrec.dataplane.play_times)) or with
    C(ANSIBLE_CALLBACKS_ENABLED)
"""

import time

from ansible.plugins.callback import CallbackBase


class _Play(object):
    """One play: its name, host pattern, start and end (time.monotonic() seconds), whether a task ran."""

    def __init__(self, name, hosts):
        self.name, self.hosts = name, hosts
        self.start = self.end = time.monotonic()
        self.ran = False


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "tenrec.dataplane.play_times"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self.plays = []
        self.started = time.monotonic()

    def _close(self):
        if self.plays:
            self.plays[-1].end = time.monotonic()

    def v2_playbook_on_play_start(self, play):
        self._close()
        hosts = ", ".join(play.hosts) if isinstance(play.hosts, list) else str(play.hosts)
        self.plays.append(_Play(play.get_name().strip(), hosts))

    def _ran(self):
        if self.plays:
            self.plays[-1].ran = True

    def v2_runner_on_ok(self, result):
        self._ran()

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._ran()

    def v2_runner_on_unreachable(self, result):
        self._ran()

    def v2_playbook_on_stats(self, stats):
        self._close()
        ran = [p for p in self.plays if p.ran]
        width = max([len(p.name) for p in ran] + [10])
        lines = ["%s %8.1f s  (%s)" % (p.name.ljust(width), p.end - p.start, p.hosts) for p in ran]
        lines.append("%s %8.1f s" % ("total".ljust(width), time.monotonic() - self.started))
        self._display.banner("PLAY TIMES")
        for line in lines:
            self._display.display(line)
        if self.get_option("output_file"):
            with open(self.get_option("output_file"), "w") as handle:
                handle.write("\n".join(lines) + "\n")
