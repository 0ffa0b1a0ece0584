"""The lab's cert-manager stand-in (lab/kubeapi/certmanager.py) and the OpenStackControlPlane stand-in's
CA bundle name, through the real kubernetes client."""

import base64
import datetime

import pytest
from cryptography.hazmat.primitives import serialization
from kubernetes import client

from kube_support import CRDS, ROOT
from kubeapi import KubeAPIServer
from kubeapi.certmanager import parse_duration
from kubeapi.labop import Reconciler
from pki_support import CM, create_ca_issuer, ekus, load, ready, sans, wait_for

pytestmark = [pytest.mark.skipif(not CRDS.is_dir(), reason="../shared/crds is not there"),
              pytest.mark.test_server_only("the lab's cert-manager stand-in (kubeapi.certmanager) writes into the test server's store")]

NS = "default"


@pytest.fixture(scope="module")
def apis(kubeconfig, cert_manager):
    from kubernetes import config
    api = config.new_client_from_config(config_file=kubeconfig)
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    ca = create_ca_issuer(core, custom, NS, "lab-ca")
    create_ca_issuer(core, custom, NS, "no-secret", secret=False)
    return core, custom, ca


def certificate(custom, name, issuer="lab-ca", **spec):
    body = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": name},
            "spec": dict({"secretName": "cert-" + name, "issuerRef": {"name": issuer, "kind": "Issuer"},
                          "commonName": name + ".example.com", "dnsNames": [name + ".example.com"]}, **spec)}
    custom.create_namespaced_custom_object(*CM, NS, "certificates", body)


def get(custom, plural, name):
    return custom.get_namespaced_custom_object(*CM, NS, plural, name)


def test_ca_issuers_ready_or_not_as_cert_manager_says(apis):
    _core, custom, _ca = apis
    good = wait_for(lambda: ready(get(custom, "issuers", "lab-ca")))
    assert (good["status"], good["reason"], good["message"]) == ("True", "KeyPairVerified", "Signing CA verified")
    bad = wait_for(lambda: ready(get(custom, "issuers", "no-secret")))
    assert (bad["status"], bad["reason"]) == ("False", "ErrGetKeyPair")
    assert bad["message"] == 'Error getting keypair for CA issuer: secrets "no-secret" not found'


def test_certificate_signed_into_a_tls_secret(apis):
    core, custom, ca = apis
    certificate(custom, "leaf", ipAddresses=["192.0.2.10", "fd00::10"], duration="100h",
                usages=["digital signature", "key encipherment", "client auth"],
                privateKey={"algorithm": "ECDSA", "rotationPolicy": "Always"},
                secretTemplate={"labels": {"tenrec.dev/node": "n0"}})
    cond = wait_for(lambda: (ready(get(custom, "certificates", "leaf")) or {}).get("status") == "True")
    cond = ready(get(custom, "certificates", "leaf"))
    obj = get(custom, "certificates", "leaf")
    assert (cond["reason"], cond["observedGeneration"]) == ("Ready", obj["metadata"]["generation"])
    status = obj["status"]
    assert status["revision"] == 1
    secret = core.read_namespaced_secret("cert-leaf", NS)
    assert secret.type == "kubernetes.io/tls" and secret.metadata.labels["tenrec.dev/node"] == "n0"
    assert secret.metadata.annotations["cert-manager.io/issuer-name"] == "lab-ca"
    data = {k: base64.b64decode(v) for k, v in secret.data.items()}
    leaf, root = load(data["tls.crt"]), load(ca)
    assert data["ca.crt"].decode() == ca
    leaf.verify_directly_issued_by(root)
    assert sans(leaf) == (["leaf.example.com"], ["192.0.2.10", "fd00::10"])
    assert ekus(leaf) == ["clientAuth"]
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == datetime.timedelta(hours=100)
    assert status["notAfter"] == leaf.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    key = serialization.load_pem_private_key(data["tls.key"], password=None)
    assert key.public_key().public_numbers() == leaf.public_key().public_numbers()
    assert data["tls.key"].startswith(b"-----BEGIN EC PRIVATE KEY-----")  # PKCS1-style default encoding
    renewal = datetime.datetime.strptime(status["renewalTime"], "%Y-%m-%dT%H:%M:%SZ")
    assert abs((leaf.not_valid_after_utc.replace(tzinfo=None) - renewal) - datetime.timedelta(hours=100) / 3) \
        < datetime.timedelta(seconds=2)


def test_spec_change_and_due_renewal_reissue(apis):
    core, custom, _ca = apis
    certificate(custom, "rotating")
    wait_for(lambda: (get(custom, "certificates", "rotating").get("status") or {}).get("revision") == 1)
    first = core.read_namespaced_secret("cert-rotating", NS).data["tls.crt"]
    custom.patch_namespaced_custom_object(*CM, NS, "certificates", "rotating", {"spec": {"ipAddresses": ["192.0.2.7"]}})
    assert wait_for(lambda: get(custom, "certificates", "rotating")["status"]["revision"] == 2)
    second = core.read_namespaced_secret("cert-rotating", NS).data["tls.crt"]
    assert second != first and sans(load(base64.b64decode(second)))[1] == ["192.0.2.7"]
    custom.patch_namespaced_custom_object_status(*CM, NS, "certificates", "rotating", {
        "status": {"renewalTime": "2000-01-01T00:00:00Z"}})
    assert wait_for(lambda: get(custom, "certificates", "rotating")["status"]["revision"] == 3)
    assert core.read_namespaced_secret("cert-rotating", NS).data["tls.crt"] != second


def test_missing_or_unready_issuer_is_reported(apis):
    _core, custom, _ca = apis
    certificate(custom, "orphan", issuer="nope")
    certificate(custom, "stuck", issuer="no-secret")
    orphan = wait_for(lambda: ready(get(custom, "certificates", "orphan")))
    assert (orphan["status"], orphan["reason"]) == ("False", "IssuerNotFound")
    assert orphan["message"] == 'Referenced "Issuer" not found: issuer.cert-manager.io "nope" not found'
    stuck = wait_for(lambda: ready(get(custom, "certificates", "stuck")))
    assert (stuck["status"], stuck["reason"]) == ("False", "IssuerNotReady")
    assert 'Issuer "no-secret"' in stuck["message"] and "ErrGetKeyPair" in stuck["message"]


def test_go_durations():
    assert parse_duration("8760h") == datetime.timedelta(days=365)
    assert parse_duration("1h30m") == datetime.timedelta(minutes=90)
    with pytest.raises(ValueError):
        parse_duration("1 year")


def test_reconciler_publishes_the_ca_bundle_secret_name(tmp_path):
    """--ca-bundle-secret NAME: the OpenStackControlPlane stand-in writes status.tls.caBundleSecretName."""
    import yaml

    server = KubeAPIServer(crd_dir=str(CRDS), state_dir=str(tmp_path), namespaces=("openstack",)).start()
    try:
        cr = yaml.safe_load((ROOT / "lab/openstackcontrolplane.yaml").read_text())
        server.create_object("core.openstack.org", "v1beta1", "openstackcontrolplanes", "openstack", cr)
        Reconciler(server, [], ca_bundle_secret="combined-ca-bundle").reconcile_once()
        with server.store.lock:
            status = server.store.objects[("core.openstack.org", "openstackcontrolplanes", "openstack",
                                           "openstack")]["status"]
        assert status["tls"]["caBundleSecretName"] == "combined-ca-bundle"
        assert [c["status"] for c in status["conditions"] if c["type"] == "Ready"] == ["True"]
    finally:
        server.stop()
