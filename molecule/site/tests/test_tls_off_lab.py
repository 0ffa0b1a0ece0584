"""The TLS-off lab (``lab_controlplane_tls: false``) through the prechecks, on the site scenario's own
controller: the lab's controller and API are switched to plain TCP/HTTP, the unchanged prechecks read
the TLS-off contract from the lab API and pass, and the lab is switched back to TLS. This file sorts
after test_site.py, so pytest runs it last in the verify; the switch back keeps a re-run of the verify
on a TLS lab."""

import os

import pytest

from test_site import COMPUTES, CTL_IP, PASSWORD, ROOT, run_playbook

testinfra_hosts = ["ansible://tenrec-lab-ctl"]


def lab_controller(tls):
    """lab/controller.yml (the controller's services and the lab API) with ``lab_controlplane_tls``."""
    rc, _events, out, _stats = run_playbook(os.path.join(ROOT, "lab/controller.yml"), {"lab_controlplane_tls": tls})
    assert rc == 0, out[-3000:]


@pytest.fixture(scope="module")
def tls_off_lab():
    lab_controller(False)
    try:
        yield
    finally:
        lab_controller(True)


def probe_results(events, task):
    """``{host: result}`` of ``task``'s successful results on the computes."""
    return {e["event_data"]["host"]: e["event_data"]["res"] for e in events
            if e["event"] == "runner_on_ok" and e["event_data"]["task"] == task}


def test_prechecks_pass_on_the_tls_off_lab_with_its_plain_endpoints(host, tls_off_lab):
    listening = host.check_output("ss -Hltn")
    assert ":5672 " in listening and ":5671 " not in listening, listening  # RabbitMQ without TLS
    assert "ptcp:6642" in host.check_output("ovn-sbctl get-connection")

    rc, events, out, stats = run_playbook(os.path.join(ROOT, "playbooks/prechecks.yml"))
    assert rc == 0, out[-3000:]
    assert not any(stats.get("changed", {}).get(n) for n in COMPUTES), stats.get("changed")
    assert PASSWORD not in out
    amqp = probe_results(events, "Log in to RabbitMQ as nova-compute will (AMQP)")
    assert {h: [(e["endpoint"], e["ok"]) for e in r["endpoints"]] for h, r in amqp.items()} == {
        h: [("amqp://%s:5672/" % CTL_IP, True)] for h in COMPUTES}
    keystone = probe_results(events, "GET Keystone's /v3 (internal endpoint)")
    assert {h: r["url"] for h, r in keystone.items()} == {h: "http://%s:5000/v3" % CTL_IP for h in COMPUTES}
    sb = probe_results(events, "Reach every OVN Southbound DB member as ovn-controller will "
                               "(OVSDB, TLS with the node's certificate for ssl:)")
    assert {h: [(e["endpoint"], e["ok"]) for e in r["endpoints"]] for h, r in sb.items()} == {
        h: [("tcp:%s:6642" % CTL_IP, True)] for h in COMPUTES}
