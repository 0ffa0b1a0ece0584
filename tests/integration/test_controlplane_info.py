"""controlplane_info through Ansible against an API server populated like openstack-operator: the test
server and a real kube-apiserver (``api_server``), everything written through the API."""

import copy
import json
import os

import ansible_runner
import pytest
import yaml
from kubernetes import client

from kube_support import CRDS, ROOT

pytestmark = pytest.mark.skipif(not CRDS.is_dir(), reason="../shared/crds is not there")

NS = "openstack"
CR = dict(yaml.safe_load((ROOT / "lab/openstackcontrolplane.yaml").read_text()))  # a complete, valid CR
CR["spec"] = dict(CR["spec"], tls={"podLevel": {"enabled": False}, "ingress": {"enabled": False}})  # TLS off
SB_EXTERNAL = "ssl:172.17.0.80:6642"  # OVNDBCluster .status.dbAddress: what nodes outside the cluster use
SB_INTERNAL = "ssl:ovsdbserver-sb.openstack.svc:6642"  # .status.internalDbAddress: for pods only
CA_PEM = """-----BEGIN CERTIFICATE-----
MIIBbjCCARSgAwIBAgIUIUtIt3+nxtawfHhvkV17nqRxlh8wCgYIKoZIzj0EAwIw
-----END CERTIFICATE-----
"""
PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Read the contract
      tenrec.dataplane.controlplane_info: {args}
      register: cp
      no_log: true
    - name: Save it for the test
      ansible.builtin.copy:
        content: "{{{{ cp.controlplane | to_json }}}}"
        dest: "{{{{ out }}}}"
        mode: "0600"
"""


def run(tmp_path, kubeconfig, **args):
    if kubeconfig:
        args.setdefault("kubeconfig", kubeconfig)
    (tmp_path / "project").mkdir(exist_ok=True)
    (tmp_path / "project/play.yml").write_text(PLAYBOOK.format(args=json.dumps(args)))
    out = tmp_path / "contract.json"
    result = ansible_runner.run(private_data_dir=str(tmp_path), playbook="play.yml", quiet=True,
                                extravars={"out": str(out), "ansible_python_interpreter": os.sys.executable},
                                envvars={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")})
    text = result.stdout.read()
    return result.rc, (json.loads(out.read_text()) if out.exists() else None), text


@pytest.fixture(scope="module")
def kubeconfig(api_kubeconfig):
    """This module's tests run on both servers: the conftest's kubeconfig, for ``api_server``."""
    return api_kubeconfig


@pytest.fixture(scope="module")
def operator(api_server, kubeconfig):
    """Publish what openstack-operator publishes for a running control plane."""
    from kubernetes import config
    api = config.new_client_from_config(config_file=kubeconfig)
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    core.create_namespaced_secret(NS, {"metadata": {"name": "osp-secret"},
                                       "stringData": {"NovaPassword": "N0vaPw", "MetadataSecret": "M3taSecret"}})
    core.create_namespaced_secret(NS, {"metadata": {"name": "rabbitmq-transport-url-nova-cell1"},
                                       "stringData": {"transport_url": "rabbit://u:R4bbitPw@rabbitmq-cell1.openstack.svc:5672/?ssl=0"}})

    def create(group, plural, body, status):
        custom.create_namespaced_custom_object(group, "v1beta1", NS, plural, body)
        custom.patch_namespaced_custom_object_status(group, "v1beta1", NS, plural, body["metadata"]["name"],
                                                     {"status": status})

    create("rabbitmq.openstack.org", "transporturls",
           {"apiVersion": "rabbitmq.openstack.org/v1beta1", "kind": "TransportURL",
            "metadata": {"name": "nova-cell1-transport"}, "spec": {"rabbitmqClusterName": "rabbitmq-cell1"}},
           {"secretName": "rabbitmq-transport-url-nova-cell1", "queueType": "Quorum"})
    create("keystone.openstack.org", "keystoneapis",
           {"apiVersion": "keystone.openstack.org/v1beta1", "kind": "KeystoneAPI", "metadata": {"name": "keystone"},
            "spec": {"containerImage": "keystone:latest", "databaseInstance": "openstack",
                     "memcachedInstance": "memcached", "secret": "osp-secret"}},
           {"apiEndpoints": {"internal": "http://keystone-internal.openstack.svc:5000",
                             "public": "https://keystone-public-openstack.apps.example.com"}})
    custom.create_namespaced_custom_object(
        "ovn.openstack.org", "v1beta1", NS, "ovndbclusters",
        {"apiVersion": "ovn.openstack.org/v1beta1", "kind": "OVNDBCluster", "metadata": {"name": "ovndbcluster-sb"},
         "spec": {"containerImage": "ovn-sb:latest", "dbType": "SB", "storageRequest": "10G"}})
    custom.create_namespaced_custom_object("core.openstack.org", "v1beta1", NS, "openstackcontrolplanes", CR)
    return custom


def publish_sb(operator, **status):
    operator.patch_namespaced_custom_object_status(
        "ovn.openstack.org", "v1beta1", NS, "ovndbclusters", "ovndbcluster-sb", {"status": status})


def test_missing_status_names_object_and_field(operator, kubeconfig, tmp_path):
    rc, contract, out = run(tmp_path, kubeconfig)
    assert rc != 0 and contract is None
    assert "OVNDBCluster ovndbcluster-sb in namespace openstack has no status.dbAddress yet" in out


def test_internal_db_address_alone_is_not_used(operator, kubeconfig, tmp_path):
    """internalDbAddress is the pods' address: without dbAddress the module fails, never falls back."""
    publish_sb(operator, internalDbAddress=SB_INTERNAL)
    rc, contract, out = run(tmp_path, kubeconfig)
    assert rc != 0 and contract is None
    assert "OVNDBCluster ovndbcluster-sb in namespace openstack has no status.dbAddress yet" in out


def test_full_contract(operator, kubeconfig, tmp_path):
    publish_sb(operator, internalDbAddress=SB_INTERNAL, dbAddress=SB_EXTERNAL)
    rc, contract, out = run(tmp_path, kubeconfig)
    assert rc == 0, out
    assert contract["transport_url"] == "rabbit://u:R4bbitPw@rabbitmq-cell1.openstack.svc:5672/?ssl=0"
    assert contract["messaging"] == {"ssl": False, "quorum_queues": True, "heartbeat_timeout_threshold": 60}
    assert contract["keystone"]["internal_url"] == "http://keystone-internal.openstack.svc:5000"
    assert contract["region"] == "regionOne"
    assert contract["service_auth"]["password"] == "N0vaPw"
    assert contract["ovn_sb_connection"] == SB_EXTERNAL, "dbAddress (external nodes), not internalDbAddress"
    assert (contract["tls_internal"], contract["ca_bundle"]) == (False, "")  # spec.tls.podLevel.enabled false
    assert contract["certificates"] == {}
    assert "N0vaPw" not in out and "R4bbitPw" not in out, "a secret reached the log"


def test_service_user_and_password_from_the_controlplane_nova_template(operator, kubeconfig, tmp_path):
    """The service user, password Secret and selectors come from the OpenStackControlPlane's
    spec.nova.template (what nova-operator's Nova CR is made from), not from fixed names."""
    from kubernetes import config
    core = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))
    core.create_namespaced_secret(NS, {"metadata": {"name": "site-secret"},
                                       "stringData": {"SiteNovaPw": "S1teNovaPw", "SiteMeta": "S1teMeta"}})
    cr = copy.deepcopy(CR)
    cr["metadata"]["name"] = "site-cp"
    cr["spec"]["nova"]["template"].update(secret="site-secret", serviceUser="nova-site",
                                          passwordSelectors={"service": "SiteNovaPw", "metadataSecret": "SiteMeta"})
    operator.create_namespaced_custom_object("core.openstack.org", "v1beta1", NS, "openstackcontrolplanes", cr)
    publish_sb(operator, internalDbAddress=SB_INTERNAL, dbAddress=SB_EXTERNAL)
    try:
        rc, contract, out = run(tmp_path, kubeconfig, controlplane_name="site-cp")
        assert rc == 0, out
        assert contract["service_auth"]["username"] == "nova-site"
        assert contract["service_auth"]["password"] == "S1teNovaPw"
        assert contract["metadata_proxy_shared_secret"] == "S1teMeta"
        rc, contract, out = run(tmp_path, kubeconfig, controlplane_name="site-cp", service_username="nova")
        assert rc == 0 and contract["service_auth"]["username"] == "nova", "the parameter overrides"
    finally:
        operator.delete_namespaced_custom_object("core.openstack.org", "v1beta1", NS, "openstackcontrolplanes",
                                                 "site-cp")
        core.delete_namespaced_secret("site-secret", NS)


@pytest.fixture
def tls_controlplane(operator):
    """OpenStackControlPlane tls-cp with spec.tls left to the CRD's default (podLevel on) and a
    KeystoneAPI with https endpoints, as a TLS control plane has."""
    cr = copy.deepcopy(CR)
    cr["metadata"]["name"] = "tls-cp"
    del cr["spec"]["tls"]  # left to the CRD's default
    operator.create_namespaced_custom_object("core.openstack.org", "v1beta1", NS, "openstackcontrolplanes", cr)
    operator.create_namespaced_custom_object("keystone.openstack.org", "v1beta1", NS, "keystoneapis", {
        "apiVersion": "keystone.openstack.org/v1beta1", "kind": "KeystoneAPI", "metadata": {"name": "keystone-tls"},
        "spec": {"containerImage": "keystone:latest", "databaseInstance": "openstack",
                 "memcachedInstance": "memcached", "secret": "osp-secret"}})
    operator.patch_namespaced_custom_object_status(
        "keystone.openstack.org", "v1beta1", NS, "keystoneapis", "keystone-tls",
        {"status": {"apiEndpoints": {"internal": "https://keystone-internal.openstack.svc:5000"}}})
    publish_sb(operator, internalDbAddress=SB_INTERNAL, dbAddress=SB_EXTERNAL)
    yield {"controlplane_name": "tls-cp", "keystone_api_name": "keystone-tls"}
    operator.delete_namespaced_custom_object("core.openstack.org", "v1beta1", NS, "openstackcontrolplanes", "tls-cp")
    operator.delete_namespaced_custom_object("keystone.openstack.org", "v1beta1", NS, "keystoneapis", "keystone-tls")


def test_tls_on_by_default_needs_the_published_ca_bundle(operator, kubeconfig, tmp_path, tls_controlplane):
    stored = operator.get_namespaced_custom_object("core.openstack.org", "v1beta1", NS, "openstackcontrolplanes",
                                                   "tls-cp")
    assert stored["spec"]["tls"]["podLevel"]["enabled"] is True, "the CRD default"
    rc, contract, out = run(tmp_path, kubeconfig, **tls_controlplane)
    assert rc != 0 and contract is None
    assert "OpenStackControlPlane tls-cp in namespace openstack has no status.tls.caBundleSecretName yet" in out
    from kubernetes import config
    core = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))
    other = CA_PEM.replace("MIIB", "MIIC")
    core.create_namespaced_secret(NS, {"metadata": {"name": "combined-ca-bundle"},
                                       "stringData": {"tls-ca-bundle.pem": CA_PEM}})
    core.create_namespaced_secret(NS, {"metadata": {"name": "my-ca-bundle"}, "stringData": {"tls-ca-bundle.pem": other}})
    try:
        operator.patch_namespaced_custom_object_status(
            "core.openstack.org", "v1beta1", NS, "openstackcontrolplanes", "tls-cp",
            {"status": {"tls": {"caBundleSecretName": "combined-ca-bundle"}}})
        rc, contract, out = run(tmp_path, kubeconfig, **tls_controlplane)
        assert rc == 0, out
        assert (contract["tls_internal"], contract["ca_bundle"]) == (True, CA_PEM)
        rc, contract, out = run(tmp_path, kubeconfig, ca_bundle_secret="my-ca-bundle", **tls_controlplane)
        assert rc == 0, out
        assert contract["ca_bundle"] == other, "ca_bundle_secret overrides the published name"
    finally:
        for name in ("combined-ca-bundle", "my-ca-bundle"):
            core.delete_namespaced_secret(name, NS)


def test_instance_fields_from_the_operators_secrets(operator, kubeconfig, tmp_path):
    """Metadata endpoint and noVNC base URL come from the Secrets neutron-operator and nova-operator
    write for the data plane; absent Secrets leave the fields empty (the roles then name them)."""
    from kubernetes import config
    core = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))
    rc, contract, out = run(tmp_path, kubeconfig)
    assert rc == 0, out
    assert (contract["nova_metadata_url"], contract["novncproxy_base_url"]) == ("", "")
    assert contract["metadata_proxy_shared_secret"] == "M3taSecret"
    core.create_namespaced_secret(NS, {"metadata": {"name": "neutron-ovn-metadata-agent-neutron-config"}, "stringData": {
        "10-neutron-metadata.conf": "[DEFAULT]\nnova_metadata_host = nova-metadata-internal.openstack.svc\n"
                                    "nova_metadata_protocol = https\nmetadata_proxy_shared_secret = M3taSecret\n"}})
    core.create_namespaced_secret(NS, {"metadata": {"name": "nova-cell1-compute-config"}, "stringData": {
        "01-nova.conf": "[DEFAULT]\nhost = x\n[vnc]\nnovncproxy_base_url = https://novnc.apps.example.com/vnc_lite.html\n"}})
    try:
        rc, contract, out = run(tmp_path, kubeconfig)
        assert rc == 0, out
        assert contract["nova_metadata_url"] == "https://nova-metadata-internal.openstack.svc:8775"
        assert contract["novncproxy_base_url"] == "https://novnc.apps.example.com/vnc_lite.html"
        core.patch_namespaced_secret("nova-cell1-compute-config", NS, {"stringData": {"01-nova.conf": "not ini"}})
        rc, contract, out = run(tmp_path, kubeconfig)
        assert rc != 0 and "Secret nova-cell1-compute-config in namespace openstack, key 01-nova.conf, is not INI" in out
    finally:
        for name in ("neutron-ovn-metadata-agent-neutron-config", "nova-cell1-compute-config"):
            core.delete_namespaced_secret(name, NS)
    assert "M3taSecret" not in out


def test_contract_play_keeps_secrets_out_of_vvv_output_and_job_events(operator, kubeconfig, tmp_path):
    """playbooks/contract.yml (how the main job reads the contract) at -vvv: neither the output nor
    ansible-runner's job events (what AWX stores) hold a password, transport_url or the metadata secret."""
    publish_sb(operator, internalDbAddress=SB_INTERNAL, dbAddress=SB_EXTERNAL)
    (tmp_path / "inventory").mkdir()
    (tmp_path / "inventory/hosts").write_text("[computes]\ncompute-0 ansible_connection=local\n")
    result = ansible_runner.run(private_data_dir=str(tmp_path), playbook=str(ROOT / "playbooks/contract.yml"),
                                quiet=True, verbosity=3,
                                extravars={"tenrec_kubeconfig": kubeconfig,
                                           "ansible_python_interpreter": os.sys.executable},
                                envvars={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")})
    text = result.stdout.read()
    events = json.dumps(list(result.events))
    assert result.rc == 0, text[-3000:]
    assert "Keep the contract for the node plays" in text and "<127.0.0.1>" in text, "not a -vvv run"
    for secret in ("N0vaPw", "R4bbitPw", "M3taSecret"):
        assert secret not in text, "%s in -vvv output" % secret
        assert secret not in events, "%s in job events" % secret


def test_missing_transport_url_secret_status(operator, kubeconfig, tmp_path):
    rc, _contract, out = run(tmp_path, kubeconfig, cell="cell2")
    assert rc != 0 and "TransportURL nova-cell2-transport not found in namespace openstack" in out


def test_wrong_token_says_authentication(api_server, operator, tmp_path):
    bad = api_server.write_kubeconfig(str(tmp_path / "bad-kubeconfig"), token="wrong")
    rc, _contract, out = run(tmp_path, bad)
    assert rc != 0 and "authentication" in out.lower() and "401" in out


def test_server_down_names_host(operator, tmp_path):
    rc, _contract, out = run(tmp_path, None, host="https://127.0.0.1:1", api_key="x", validate_certs=False)
    assert rc != 0 and "127.0.0.1" in out
