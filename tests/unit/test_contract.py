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
        assert bool(fields[path].get("no_log")) == (path in c.SECRET_FIELDS), path


def test_doc_page_is_generated_from_spec():
    generated = subprocess.run([sys.executable, str(ROOT / "scripts/gen-contract-doc.py"), "--stdout"],
                               check=True, capture_output=True, text=True).stdout
    assert (ROOT / "docs/contract.md").read_text() == generated
    for path, _kind, _req in c.FIELDS:
        assert "`%s`" % path in generated
