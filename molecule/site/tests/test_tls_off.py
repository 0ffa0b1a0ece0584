"""The lab with TLS off (``lab_controlplane_tls: false``), through the prechecks.

openstack-operator's default, and the lab's, is TLS on every wire; a control plane with
``spec.tls.podLevel.enabled: false`` is still a supported site. This file runs last in the scenario
(it sorts after the others) because it turns the converged lab's TLS off: the lab's own controller
play again with ``lab_controlplane_tls: false`` (RabbitMQ on 5672, plain HTTP APIs, OVN SB on
``ptcp:``, the OpenStackControlPlane applied with TLS off; the lab API restarts, as an empty cluster
again), then the main job's bootstrap, control-plane phase and prechecks as an operator would run
them against that control plane. The contract must then name
the plain endpoints and every precheck must reach them.
"""

import os

from test_site import COMPUTES, CTL_IP, ROOT, failures, run_playbook

OFF = {"lab_controlplane_tls": False}


def probe_results(events, task):
    """``{host: res}`` of the runner_on_ok events of ``task`` (one per host; loop results inside)."""
    return {e["event_data"]["host"]: e["event_data"]["res"] for e in events
            if e["event"] == "runner_on_ok" and e["event_data"]["task"] == task}


def test_prechecks_pass_against_the_lab_with_tls_off():
    rc, events, out, _stats = run_playbook(os.path.join(ROOT, "lab/controller.yml"), OFF,
                                           env={"ANSIBLE_ROLES_PATH": os.path.join(ROOT, "lab/roles")})
    assert rc == 0, (failures(events), out[-3000:])

    # the lab API restarted as an empty cluster (its objects changed): the bootstrap comes first again
    rc, events, out, stats = run_playbook(
        [{"ansible.builtin.import_playbook": os.path.join(ROOT, "playbooks/controlplane_bootstrap.yml"),
          "when": "tenrec_bootstrap | default(false) | bool"},
         {"ansible.builtin.import_playbook": os.path.join(ROOT, "playbooks/controlplane.yml")},
         {"ansible.builtin.import_playbook": os.path.join(ROOT, "playbooks/prechecks.yml")}], OFF)
    assert rc == 0, (failures(events), out[-3000:])
    assert set(COMPUTES) <= set(stats.get("ok", {})), stats
    keystone = probe_results(events, "GET Keystone's /v3 (internal endpoint)")
    assert {h: r["url"] for h, r in keystone.items()} == {h: "http://%s:5000/v3" % CTL_IP for h in COMPUTES}
    catalog = probe_results(events, "GET every endpoint of the catalog nova-compute will use "
                                    "(Placement; Neutron, Glance when listed)")
    for host, res in catalog.items():
        urls = sorted(r["url"] for r in res["results"])
        assert urls and all(u.startswith("http://%s:" % CTL_IP) for u in urls), (host, urls)
    sb = probe_results(events, "Reach every OVN Southbound DB member as ovn-controller will "
                               "(OVSDB, TLS with the node's certificate for ssl:)")
    assert {h: r["invocation"]["module_args"]["connection"] for h, r in sb.items()} == \
        {h: "tcp:%s:6642" % CTL_IP for h in COMPUTES}
