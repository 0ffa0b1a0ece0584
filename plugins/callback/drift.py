# -*- coding: utf-8 -*-
# Copyright: tenrec.dataplane contributors
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: drift
type: aggregate
short_description: Write a machine-readable drift report per host (for check-mode, diff runs)
version_added: 0.2.0
author: tenrec.dataplane developers (@tenrec)
description:
  - For the drift playbook (C(tenrec.dataplane.drift)), run with C(--check --diff). At the start of a
    run it empties O(report_dir) of its reports, makes a run id, puts it in the environment of the
    run (C(TENREC_DRIFT_RUN), which the playbook's lookups read to know the callback runs) and writes
    C(run.json) (C(run), C(started) in seconds since the epoch, C(playbook)); then, after every task
    result, rewrites C(<host>.json) for that host (with C(run)).
  - "A host's report: C(run), C(host), C(check_mode), C(drifted) (true when a task would change, a task
    failed or a managed package is behind), C(changes) (each task that would change - C(play),
    C(role) (or null), C(task) (its name without the role), C(action), C(handler) (a handler that
    would run), C(diff) as a list of C({before_header, after_header, before, after}) or C(null),
    C(diff_hidden) true for C(no_log) tasks, whose diff Ansible withholds), C(failures)
    (C(play), C(role), C(task), C(msg)) and C(packages_behind) (what the task setting the fact
    C(tenrec_drift_packages_behind) found: C({name, installed, available}))."
  - A task setting a fact whose name ends in C(_drift_diff) (C({task, diff})) gives the latest change of that task
    name a diff it masked itself (the nova_compute role does so for nova.conf, whose task is C(no_log)).
  - Secrets never reach a report - C(no_log) results are censored by Ansible before a callback sees
    them, and in every other diff the values of options named like a password, a secret, a
    C(transport_url) or a C(connection), the credentials of URLs and PEM private keys are replaced
    by C(********).
  - Files are written mode 0600 in a directory made 0700.
options:
  report_dir:
    description: Directory of the reports.
    type: path
    default: drift-report
    env:
      - name: TENREC_DRIFT_REPORT_DIR
    ini:
      - section: callback_drift
        key: report_dir
requirements:
  - enable in ansible.cfg (C(callbacks_enabled = tenrec.dataplane.drift)) or with C(ANSIBLE_CALLBACKS_ENABLED)
"""

import glob
import json
import os
import time
import uuid

from ansible import context
from ansible.playbook.handler import Handler
from ansible.plugins.callback import CallbackBase
from ansible_collections.tenrec.dataplane.plugins.module_utils.masking import MASK, mask


def masked_diff(diff):
    """A task result's ``diff`` (dict or list of dicts) as a list of dicts with every text masked."""
    if not diff:
        return None
    items = diff if isinstance(diff, list) else [diff]
    out = []
    for item in items:
        if isinstance(item, dict):
            out.append(dict((k, mask(v) if isinstance(v, str) else v) for k, v in item.items()
                            if k in ("before_header", "after_header", "before", "after", "prepared")))
    return out or None


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "tenrec.dataplane.drift"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self.reports = {}
        self.dir = None
        self.run = None
        self.play = ""

    def _write(self, name, data):
        path = os.path.join(self.dir, name)
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
        os.rename(tmp, path)

    def v2_playbook_on_start(self, playbook):
        self.dir = os.path.abspath(os.path.expanduser(self.get_option("report_dir")))
        if not os.path.isdir(self.dir):
            os.makedirs(self.dir, 0o700)
        os.chmod(self.dir, 0o700)
        for old in glob.glob(os.path.join(self.dir, "*.json")):
            os.unlink(old)
        self.run = uuid.uuid4().hex
        # the playbook's lookups (in processes forked from this one) read it: proof this callback runs
        os.environ["TENREC_DRIFT_RUN"] = self.run
        self._write("run.json", {"run": self.run, "started": time.time(),
                                 "playbook": os.path.basename(playbook._file_name)})

    def v2_playbook_on_play_start(self, play):
        self.play = play.get_name().strip()

    def _report(self, host):
        if host not in self.reports:
            self.reports[host] = {"run": self.run, "host": host, "check_mode": bool(context.CLIARGS.get("check")), "drifted": False, "changes": [],
                                  "failures": [], "packages_behind": []}
        return self.reports[host]

    def _save(self, host):
        report = self.reports[host]
        report["drifted"] = bool(report["changes"] or report["failures"] or report["packages_behind"])
        self._write("%s.json" % host.replace("/", "_"), report)

    def _record(self, result, failed=False):
        if self.dir is None:
            return
        host = result._host.get_name()
        task = result._task
        res = result._result or {}
        report = self._report(host)
        facts = res.get("ansible_facts") or {}
        if "tenrec_drift_packages_behind" in facts:
            report["packages_behind"] = list(facts["tenrec_drift_packages_behind"] or [])
        shown = next((v for k, v in facts.items() if k.endswith("_drift_diff")), None)
        if isinstance(shown, dict):  # a role's masked diff for a no_log task of its own (latest such change)
            for change in reversed(report["changes"]):
                if change["task"] == shown.get("task") and change["diff"] is None:
                    change["diff"] = masked_diff(shown.get("diff"))
                    break
            self._save(host)
            return
        items = res.get("results") if isinstance(res.get("results"), list) else None
        changed = bool(res.get("changed")) or any(bool(i.get("changed")) for i in items or [] if isinstance(i, dict))
        hidden = bool(res.get("censored")) or bool(task.no_log)
        where = {"play": self.play, "role": task._role.get_name() if task._role else None,
                 "task": (task.name or task.action or "").strip()}
        if failed:
            report["failures"].append(dict(where, msg=MASK if hidden else mask(str(res.get("msg", "")))))
        elif changed:
            diff = None
            if not hidden:
                diffs = [res.get("diff")] + [i.get("diff") for i in items or [] if isinstance(i, dict)]
                diff = [d for part in diffs if part for d in (masked_diff(part) or [])] or None
            report["changes"].append(dict(where, action=task.action, handler=isinstance(task, Handler),
                                          diff=diff, diff_hidden=hidden))
        self._save(host)

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if not ignore_errors:
            self._record(result, failed=True)

    def v2_runner_on_skipped(self, result):
        if self.dir is not None:  # a host whose every task was skipped still gets its (empty) report
            host = result._host.get_name()
            self._report(host)
            self._save(host)

    def v2_runner_on_unreachable(self, result):
        self._record(result, failed=True)
