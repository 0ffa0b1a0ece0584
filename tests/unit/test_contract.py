"""The tenrec_controlplane contract: validation rules, spec and documentation stay in step."""

import subprocess
import sys

import pytest
import yaml

from ansible_collections.tenrec.dataplane.plugins.module_utils import contract as c

from unit_support import ROOT

SECRETS = ("Sup3rSecret", "N0tifSecret", "N0vaSecret", "M3taSecret")


def _set(data, path, value):
    *parents, last = path.split(".")
    for p in parents:
        data = data[p]
    if value is KeyError:
        del data[last]
    else:
        data[last] = value


def test_valid_contract_has_no_errors(contract):
    assert c.validate(contract) == []


@pytest.mark.parametrize("path,value,needle", [
    ("transport_url", "amqp://nova:x@host:5672/", "transport_url: must be rabbit://"),
    ("transport_url", "rabbit://nova@host:5672/", "transport_url: must be rabbit://"),
    ("transport_url", "rabbit://nova:Sup3rSecret@host/", "transport_url: must be rabbit://"),
    ("transport_url", "rabbit://nova:Sup3rSecret@host:99999/", "transport_url: must be rabbit://"),
    ("notification_transport_url", "http://x", "notification_transport_url: must be rabbit://"),
    ("ovn_sb_connection", "10.0.0.30:6642", "ovn_sb_connection: must be tcp:host:port"),
    ("ovn_sb_connection", "tcp:10.0.0.30", "ovn_sb_connection: must be tcp:host:port"),
    ("ovn_sb_connection", "unix:/run/ovn/sb.sock", "ovn_sb_connection: must be tcp:host:port"),
    ("keystone.internal_url", "keystone:5000", "keystone.internal_url: must be an http"),
    ("keystone.internal_url", "ftp://keystone:5000", "keystone.internal_url: must be an http"),
    ("ca_bundle", "not a certificate", "ca_bundle: must be a PEM bundle"),
    ("messaging.heartbeat_timeout_threshold", 0, "heartbeat_timeout_threshold: must be a positive"),
    ("messaging.heartbeat_timeout_threshold", "60", "heartbeat_timeout_threshold: must be int"),
    ("messaging.ssl", "yes", "messaging.ssl: must be bool"),
    ("service_auth.password", KeyError, "service_auth.password: is required"),
    ("keystone", KeyError, "tenrec_controlplane.keystone: is required"),
    ("ovn_sb_connection", "", "ovn_sb_connection: must not be empty"),
    ("nova_metadata_url", "nova-metadata:8775", "nova_metadata_url: must be an http"),
    ("novncproxy_base_url", "novnc.example.com", "novncproxy_base_url: must be an http"),
    ("metadata_proxy_shared_secret", " M3taSecret", "metadata_proxy_shared_secret: must be a single line"),
    ("metadata_proxy_shared_secret", 5, "metadata_proxy_shared_secret: must be str"),
])
def test_malformed_field_is_named(contract, path, value, needle):
    _set(contract, path, value)
    errors = c.validate(contract)
    assert any(needle in e for e in errors), errors
    assert all(e.startswith("tenrec_controlplane") for e in errors)
    joined = " ".join(errors)
    assert not any(s in joined for s in SECRETS), "a secret leaked into the error message"


def _pems():
    """A real CA, leaf and key in PEM (the shapes cert-manager writes to tls.crt, tls.key, ca.crt)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "compute-0")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    return {"certificate": pem, "private_key": key_pem, "ca_certificate": pem}


def test_certificates_default_empty_and_valid_entries_pass(contract):
    assert c.with_defaults(contract)["certificates"] == {}
    contract["certificates"] = {service: _pems() for service in ("ovn", "neutron_metadata", "libvirt")}
    assert c.validate(contract) == []
    contract["certificates"] = {"libvirt": _pems()}  # a node may get only some services
    assert c.validate(contract) == []


@pytest.mark.parametrize("mutate,needle", [
    (lambda e: e.pop("private_key"), "certificates.ovn.private_key: is required"),
    (lambda e: e.update(certificate=""), "certificates.ovn.certificate: must not be empty"),
    (lambda e: e.update(ca_certificate="not a pem"), "certificates.ovn.ca_certificate: must be PEM"),
    (lambda e: e.update(private_key="MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"), "certificates.ovn.private_key: must be PEM"),
    (lambda e: e.update(private_key=e["certificate"]), "certificates.ovn.private_key: must be PEM"),
    (lambda e: e.update(certificate=5), "certificates.ovn.certificate: must be str"),
    (lambda e: e.update(chain="x"), "certificates.ovn: unknown key chain"),
])
def test_certificate_entry_problems_are_named_without_values(contract, mutate, needle):
    entry = _pems()
    mutate(entry)
    contract["certificates"] = {"ovn": entry}
    errors = c.validate(contract)
    assert any(needle in e for e in errors), errors
    joined = " ".join(errors)
    assert "PRIVATE KEY-----\n" not in joined and "MIIE" not in joined, "key material in the message"


def test_unknown_certificate_service_is_named(contract):
    contract["certificates"] = {"ovn": _pems(), "nova": _pems()}
    errors = c.validate(contract)
    assert errors == ["tenrec_controlplane.certificates: unknown service nova (known: ovn, neutron_metadata, libvirt)"]
    contract["certificates"] = []
    assert c.validate(contract) == ["tenrec_controlplane.certificates: must be dict, got list"]


def test_tls_internal_needs_https_and_ca(contract):
    contract["tls_internal"] = True
    errors = c.validate(contract)
    assert any("keystone.internal_url: must be https://" in e for e in errors)
    assert any("ca_bundle: is required" in e for e in errors)


def test_multi_host_and_ipv6_transport_url(contract):
    contract["transport_url"] = "rabbit://u:p@[fd00::5]:5671,u:p@[fd00::6]:5671/nova?ssl=1"
    assert c.validate(contract) == []


def test_build_derives_ssl_and_fills_defaults():
    out = c.build(region="regionOne", transport_url="rabbit://u:p@h:5671/?ssl=1",
                  keystone_internal_url="http://k:5000", service_password="pw",
                  ovn_sb_connection="ssl:h:6642")
    assert out["messaging"]["ssl"] is True
    assert out["service_auth"]["project_name"] == "service"
    assert out["notification_transport_url"] == ""


def test_build_refuses_bad_values():
    with pytest.raises(ValueError, match="ovn_sb_connection"):
        c.build(region="r", transport_url="rabbit://u:p@h:5672/", keystone_internal_url="http://k:5000",
                service_password="pw", ovn_sb_connection="h:6642")


def _spec_fields(options, prefix=""):
    for name, opt in options.items():
        path = prefix + name
        yield path, opt
        if opt.get("options"):
            yield from _spec_fields(opt["options"], path + ".")


def test_argument_spec_matches_python_contract():
    spec = yaml.safe_load((ROOT / "roles/contract/meta/argument_specs.yml").read_text())
    options = spec["argument_specs"]["main"]["options"]["tenrec_controlplane"]["options"]
    fields = dict(_spec_fields(options))
    py_types = {str: "str", bool: "bool", int: "int", dict: "dict"}
    assert set(fields) == {f[0] for f in c.FIELDS}
    for path, kind, required in c.FIELDS:
        assert fields[path]["type"] == py_types[kind], path
        if kind is not dict:
            assert bool(fields[path].get("required")) == required, path
        found, default = c._get(c.DEFAULTS, path)
        if found and not isinstance(default, dict):
            assert fields[path].get("default") == default, path
        # no_log on a secret field hides everything below it: nested fields do not repeat it
        assert bool(fields[path].get("no_log")) == (path in c.SECRET_FIELDS), path
        assert c.is_secret(path) == any(path == s or path.startswith(s + ".") for s in c.SECRET_FIELDS)


def test_doc_page_is_generated_from_spec():
    generated = subprocess.run([sys.executable, str(ROOT / "scripts/gen-contract-doc.py"), "--stdout"],
                               check=True, capture_output=True, text=True).stdout
    assert (ROOT / "docs/contract.md").read_text() == generated
    for path, _kind, _req in c.FIELDS:
        assert "`%s`" % path in generated
