"""node_certificates through Ansible against the test API server, with the lab's cert-manager stand-in
signing for CA Issuers as openstack-operator's rootca-ovn / rootca-libvirt."""

import base64
import json
import os
import re

import ansible_runner
import pytest
from cryptography.hazmat.primitives import serialization
from kubernetes import client

from kube_support import CRDS, ROOT, run_play
from pki_support import CM, create_ca_issuer, ekus, load, sans

pytestmark = [pytest.mark.skipif(not CRDS.is_dir(), reason="../shared/crds is not there"),
              pytest.mark.test_server_only("Certificates are issued by the lab's cert-manager stand-in, which writes into the test server's store")]

NS = "openstack"
NODES = [{"name": "compute-0", "dns_names": ["compute-0.ctlplane.example.com", "compute-0.internalapi.example.com"],
          "ip_addresses": ["192.168.122.100"]},
         {"name": "Compute_1", "dns_names": ["compute-1.ctlplane.example.com"], "ip_addresses": []}]


@pytest.fixture(scope="module")
def pki(kubeconfig, cert_manager):
    """rootca-ovn and rootca-libvirt CA Issuers (their CA PEMs), as openstack-operator creates them."""
    from kubernetes import config
    api = config.new_client_from_config(config_file=kubeconfig)
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    cas = {name: create_ca_issuer(core, custom, NS, name) for name in ("rootca-ovn", "rootca-libvirt")}
    create_ca_issuer(core, custom, NS, "rootca-nokey", secret=False)
    return {"core": core, "custom": custom, "ca": cas}


def task(kubeconfig, register="certs", no_log=True, **args):
    args = dict({"kubeconfig": kubeconfig, "nodes": NODES, "wait_timeout": 20, "wait_sleep": 1}, **args)
    out = {"name": "Issue the node certificates", "tenrec.dataplane.node_certificates": args, "register": register}
    if no_log:
        out["no_log"] = True
    return out


def stored(pki, name):
    return pki["custom"].get_namespaced_custom_object(*CM, NS, "certificates", name)


def test_issues_certificates_that_verify_against_the_issuer(pki, kubeconfig, tmp_path):
    rc, out, res = run_play(tmp_path, [task(kubeconfig)])
    assert rc == 0, out
    certs, info = res["certs"]["certificates"], res["certs"]["info"]
    assert res["certs"]["changed"] is True
    assert sorted(certs) == ["Compute_1", "compute-0"] and sorted(certs["compute-0"]) == [
        "libvirt", "neutron_metadata", "ovn"]
    assert info["Compute_1"]["neutron_metadata"]["name"] == "neutron-metadata-compute-1"
    assert info["Compute_1"]["neutron_metadata"]["secret"] == "cert-neutron-metadata-compute-1"
    assert info["compute-0"]["ovn"]["ready"] is True and info["compute-0"]["ovn"]["not_after"].endswith("Z")
    expected_ekus = {"ovn": ["clientAuth", "serverAuth"], "neutron_metadata": ["clientAuth"],
                     "libvirt": ["clientAuth", "serverAuth"]}
    for service, issuer in (("ovn", "rootca-ovn"), ("neutron_metadata", "rootca-ovn"), ("libvirt", "rootca-libvirt")):
        material = certs["compute-0"][service]
        leaf = load(material["certificate"])
        leaf.verify_directly_issued_by(load(pki["ca"][issuer]))
        assert material["ca_certificate"] == pki["ca"][issuer]
        assert sans(leaf) == (["compute-0.ctlplane.example.com", "compute-0.internalapi.example.com"],
                              ["192.168.122.100"])
        assert leaf.subject.rfc4514_string() == "CN=compute-0.ctlplane.example.com"
        assert ekus(leaf) == expected_ekus[service]
        key = serialization.load_pem_private_key(material["private_key"].encode(), password=None)
        assert key.public_key().public_numbers() == leaf.public_key().public_numbers()
    obj = stored(pki, "ovn-compute-1")
    assert obj["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "tenrec.dataplane",
                                         "tenrec.dev/node": "Compute_1", "tenrec.dev/service": "ovn"}
    assert obj["spec"]["issuerRef"] == {"name": "rootca-ovn", "kind": "Issuer", "group": "cert-manager.io"}
    assert obj["spec"]["privateKey"] == {"algorithm": "ECDSA", "rotationPolicy": "Always"}
    assert obj["spec"]["usages"] == ["digital signature", "key encipherment", "server auth", "client auth"]
    assert obj["spec"]["commonName"] == "compute-1.ctlplane.example.com" and obj["spec"]["duration"] == "8760h"
    assert sans(load(certs["Compute_1"]["libvirt"]["certificate"])) == (["compute-1.ctlplane.example.com"], [])


def test_rerun_is_unchanged_and_returns_the_same_certificates(pki, kubeconfig, tmp_path):
    before = stored(pki, "ovn-compute-0")
    rc, out, res = run_play(tmp_path, [task(kubeconfig, register="first"), task(kubeconfig, register="second")])
    assert rc == 0, out
    assert res["first"]["changed"] is False and res["second"]["changed"] is False
    assert res["first"]["certificates"] == res["second"]["certificates"]
    after = stored(pki, "ovn-compute-0")
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["status"]["revision"] == before["status"]["revision"]


def test_new_ip_is_a_change_and_the_reissued_certificate_holds_it(pki, kubeconfig, tmp_path):
    old = pki["core"].read_namespaced_secret("cert-ovn-compute-0", NS).data
    nodes = [dict(NODES[0], ip_addresses=["192.168.122.100", "172.17.0.100"])]
    # no no_log here: it would hide the diff too (at this verbosity the result itself is not printed)
    rc, out, res = run_play(tmp_path, [task(kubeconfig, nodes=nodes, services=[{"name": "ovn"}], no_log=False)],
                            diff=True)
    assert rc == 0, out
    assert res["certs"]["changed"] is True
    material = res["certs"]["certificates"]["compute-0"]["ovn"]
    assert sans(load(material["certificate"]))[1] == ["172.17.0.100", "192.168.122.100"]
    assert material["certificate"] != base64.b64decode(old["tls.crt"]).decode()
    assert material["private_key"] != base64.b64decode(old["tls.key"]).decode(), "rotationPolicy Always: a new key"
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert re.search(r"^\+\s+- 172\.17\.0\.100$", plain, re.M), plain
    assert "PRIVATE KEY" not in out
    assert stored(pki, "ovn-compute-0")["status"]["revision"] == 2


def test_check_mode_creates_nothing_and_returns_what_exists(pki, kubeconfig, tmp_path):
    nodes = NODES + [{"name": "compute-9", "ip_addresses": ["192.168.122.109"]}]
    rc, out, res = run_play(tmp_path, [task(kubeconfig, nodes=nodes, no_log=False)], check=True, diff=True)
    assert rc == 0, out
    assert res["certs"]["changed"] is True
    assert res["certs"]["certificates"]["compute-9"] == {}
    assert res["certs"]["info"]["compute-9"]["ovn"] == {"name": "ovn-compute-9", "secret": "cert-ovn-compute-9",
                                                        "ready": False, "not_after": ""}
    assert res["certs"]["info"]["compute-0"]["libvirt"]["ready"] is True
    assert sorted(res["certs"]["certificates"]["compute-0"]) == ["libvirt", "neutron_metadata", "ovn"]
    names = [i["metadata"]["name"] for i in pki["custom"].list_namespaced_custom_object(
        *CM, NS, "certificates", label_selector="tenrec.dev/node=compute-9")["items"]]
    assert names == []
    assert "ovn-compute-9" in out and "PRIVATE KEY" not in out, "diff shows the new Certificates, no key"


@pytest.mark.parametrize("issuer,reason,detail", [
    ("rootca-missing", "IssuerNotFound", 'issuer: Issuer rootca-missing not found in namespace openstack'),
    ("rootca-nokey", "IssuerNotReady", "issuer: Issuer rootca-nokey is Ready=False (ErrGetKeyPair)"),
])
def test_issuer_problem_fails_naming_certificate_reason_and_issuer(pki, kubeconfig, tmp_path, issuer, reason, detail):
    nodes = [{"name": "compute-5", "dns_names": ["compute-5.example.com"]}]
    rc, out, res = run_play(tmp_path, [task(kubeconfig, nodes=nodes, wait_timeout=3,
                                            services=[{"name": "ovn", "issuer": issuer}])])
    assert rc != 0
    msg = res["certs"]["msg"]
    assert msg.startswith("1 of 1 Certificates in namespace openstack not Ready after 3 s: Certificate ovn-compute-5: "
                          "Ready=False (%s): " % reason), msg
    assert detail in msg and issuer in msg
    pki["custom"].delete_namespaced_custom_object(*CM, NS, "certificates", "ovn-compute-5")


@pytest.mark.parametrize("args,needle", [
    ({"nodes": []}, "nodes: at least one node is required"),
    ({"nodes": [{"name": "compute-0"}]}, "nodes[compute-0]: needs at least one of dns_names and ip_addresses"),
    ({"nodes": [{"name": "compute-0", "ip_addresses": ["192.168.122.300"]}]},
     "nodes[compute-0].ip_addresses: '192.168.122.300' is not an IP address"),
    ({"nodes": [{"name": "compute-0", "dns_names": ["bad_name.example.com"]}]},
     "nodes[compute-0].dns_names: 'bad_name.example.com' is not a DNS name"),
    ({"nodes": [{"name": "compute 0", "ip_addresses": ["10.0.0.1"]}]}, "nodes[compute 0]: the name must be usable"),
    ({"nodes": [{"name": "compute-0.", "ip_addresses": ["10.0.0.1"]}]}, "nodes[compute-0.]: the name must be usable"),
    ({"nodes": [{"name": "a_b", "ip_addresses": ["10.0.0.1"]}, {"name": "a-b", "ip_addresses": ["10.0.0.2"]}]},
     "nodes[a-b]: its Certificate name ovn-a-b is also that of nodes[a_b]"),
    ({"services": [{"name": "nova"}]}, "value of name must be one of: ovn, neutron_metadata, libvirt, got: nova"),
    ({"services": [{"name": "ovn"}, {"name": "ovn"}]}, "services[1]: ovn appears twice"),
    ({"services": [{"name": "ovn", "usages": ["server auth", "client"]}]},
     "services[ovn].usages: unknown usage 'client' (cert-manager's names: signing, digital signature"),
    ({"duration": "30m"}, "duration: 30m is shorter than 1h"),
    ({"duration": "1 year"}, "duration: '1 year' is not a duration"),
])
def test_bad_input_fails_before_the_api_is_called(tmp_path, args, needle):
    """The API is unreachable here: the message shows validation stopped the run first."""
    base = {"host": "https://127.0.0.1:1", "api_key": "unused-token-0000", "validate_certs": False, "nodes": NODES}
    rc, out, res = run_play(tmp_path, [{"name": "Bad input", "register": "certs",
                                        "tenrec.dataplane.node_certificates": dict(base, **args)}])
    assert rc != 0
    assert needle in res["certs"]["msg"], res["certs"]["msg"]
    assert "127.0.0.1" not in res["certs"]["msg"]


PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Issue the node certificates
      tenrec.dataplane.node_certificates:
        kubeconfig: "{{{{ kubeconfig }}}}"
        nodes: [{{name: compute-0, dns_names: [compute-0.ctlplane.example.com], ip_addresses: [192.168.122.100]}}]
        services: [{{name: ovn}}]
      register: certs
{no_log}
    - name: Use them (what a role's template would read)
      ansible.builtin.copy:
        content: "{{{{ certs.certificates['compute-0'].ovn.private_key }}}}"
        dest: "{{{{ out }}}}"
        mode: "0600"
{no_log}
"""


@pytest.mark.parametrize("no_log", [True, False], ids=["no_log", "without-no_log-leaks"])
def test_vvv_run_with_no_log_holds_no_private_key(pki, kubeconfig, tmp_path, no_log):
    """At -vvv, neither the output nor ansible-runner's job events (what AWX stores) hold the private
    key when the tasks carry no_log: true. The run without it shows the check would catch a leak."""
    (tmp_path / "project").mkdir()
    (tmp_path / "project/play.yml").write_text(PLAY.format(no_log="      no_log: true" if no_log else ""))
    out = tmp_path / "key.pem"
    result = ansible_runner.run(private_data_dir=str(tmp_path), playbook="play.yml", quiet=True, verbosity=3,
                                extravars={"kubeconfig": kubeconfig, "out": str(out),
                                           "ansible_python_interpreter": os.sys.executable},
                                envvars={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")})
    text = result.stdout.read()
    events = json.dumps(list(result.events))
    assert result.rc == 0, text[-3000:]
    assert "<127.0.0.1>" in text or "ESTABLISH LOCAL CONNECTION" in text, "not a -vvv run"
    key = base64.b64decode(pki["core"].read_namespaced_secret("cert-ovn-compute-0", NS).data["tls.key"]).decode()
    assert out.read_text() == key
    body = [line for line in key.splitlines() if "-----" not in line]
    leaked = [where for where, blob in (("-vvv output", text), ("job events", events))
              if any(line in blob for line in body) or "PRIVATE KEY" in blob]
    if no_log:
        assert leaked == [], "the private key is in the %s" % " and ".join(leaked)
    else:
        assert leaked == ["-vvv output", "job events"], "the leak check did not see a key printed without no_log"
