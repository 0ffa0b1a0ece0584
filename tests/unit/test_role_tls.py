"""TLS of the node roles, run offline: the SB and libvirt certificates from
``tenrec_controlplane.certificates`` (validate.yml decisions, the task files that write them, with a
fake ``ovs-vsctl`` and every path under pytest's tmp_path) and the variables that turn TLS on or off.

Nothing here touches the host: task files run with connection local on paths the test hands in, and
the roles' handlers are stood in for by debug tasks (tests/unit/playbooks/tasks.yml). The inventory is
localhost alone, so the lab's group_vars stay out."""

import copy
import grp
import itertools
import json
import os
import pwd
import re
import stat

import ansible_runner
import pytest
import yaml

from role_tls_support import PKI, key_lines
from unit_support import ROOT, VALID_CONTRACT

_RUNS = itertools.count()
USER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name
SSL_SB = "ssl:10.0.0.30:6642,ssl:10.0.0.31:6642"
INVENTORY = {"all": {"hosts": {"localhost": {"ansible_connection": "local",
                                             "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}}}


@pytest.fixture(scope="module")
def pki():
    return PKI("rootca-ovn")


def contract(**changes):
    """VALID_CONTRACT with ``changes``."""
    out = copy.deepcopy(VALID_CONTRACT)
    out.update(changes)
    return out


def play(tmp_path, playbook, role, family="Debian", check=False, diff=False, verbosity=0, env=None, **extra):
    """Run tests/unit/playbooks/``playbook`` for ``role``; return (runner result, stdout text).

    ``tenrec_controlplane`` defaults to VALID_CONTRACT; ``tenrec_controlplane=None`` leaves it undefined."""
    extravars = {"repo": str(ROOT), "role": role, "family": family, "tenrec_controlplane": VALID_CONTRACT}
    extravars.update(extra)
    if extravars["tenrec_controlplane"] is None:
        del extravars["tenrec_controlplane"]
    runner_dir = tmp_path / ("runner-%d" % next(_RUNS))
    runner_dir.mkdir()
    cmdline = " ".join(flag for flag, on in (("--check", check), ("--diff", diff)) if on) or None
    envvars = {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    envvars.update(env or {})
    result = ansible_runner.run(private_data_dir=str(runner_dir), playbook=str(ROOT / "tests/unit/playbooks" / playbook),
                                inventory=INVENTORY, extravars=extravars, quiet=True, cmdline=cmdline,
                                verbosity=verbosity, envvars=envvars)
    return result, result.stdout.read()


def run_tasks(tmp_path, role, task_file, **kw):
    return play(tmp_path, "tasks.yml", role, task_file=task_file, **kw)


def role_vars(tmp_path, role, names, **kw):
    out = tmp_path / ("vars-%d" % next(_RUNS))
    out.mkdir()
    result, text = play(tmp_path, "vars.yml", role, out=str(out), names=names, **kw)
    assert result.rc == 0, text
    return json.loads((out / "vars.json").read_text())


def changed(result):
    return result.stats["changed"].get("localhost", 0)


def handlers_ran(text):
    return sorted(set(re.findall(r"RUNNING HANDLER \[(.+?)\]", text)))


def assert_no_key(text, *entries):
    for entry in entries:
        for line in key_lines(entry):
            assert line not in text, "private key material in the output"


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def pem(entry, field):
    return entry[field].strip() + "\n"


# ----- handlers ----------------------------------------------------------------------------------

def _notified(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "notify":
                yield from ([value] if isinstance(value, str) else value)
            else:
                yield from _notified(value)
    elif isinstance(node, list):
        for item in node:
            yield from _notified(item)


@pytest.mark.parametrize("role", ["ovn_controller", "neutron_metadata", "libvirt", "nova_compute"])
def test_every_notify_has_a_handler_and_a_stand_in(role):
    base = ROOT / "roles" / role
    handlers = {h["name"] for h in yaml.safe_load((base / "handlers/main.yml").read_text())}
    stand_ins = {h["name"] for h in yaml.safe_load((ROOT / "tests/unit/playbooks/tasks.yml").read_text())[0]["handlers"]}
    for tasks in sorted((base / "tasks").glob("*.yml")):
        for name in _notified(yaml.safe_load(tasks.read_text())):
            assert name in handlers, "%s: notify %r has no handler" % (tasks.name, name)
    assert handlers - {"Reload dbus and polkit"} <= stand_ins, "tests/unit/playbooks/tasks.yml lacks a stand-in"


# ----- ovn_controller ----------------------------------------------------------------------------

@pytest.mark.parametrize("connection, ssl", [("tcp:10.0.0.30:6642", False),
                                             ("tcp:10.0.0.30:6642,ssl:10.0.0.31:6642", True)])
def test_ovn_controller_sb_ssl_decision(tmp_path, connection, ssl):
    got = role_vars(tmp_path, "ovn_controller", ["__ovn_controller_sb_ssl", "__ovn_controller_external_ids_managed"],
                    tenrec_controlplane=contract(ovn_sb_connection=connection))
    assert got["__ovn_controller_sb_ssl"] is ssl
    assert got["__ovn_controller_external_ids_managed"]["ovn-remote"] == connection


def test_ovn_controller_validate_requires_the_certificate_on_ssl(tmp_path, pki):
    result, text = run_tasks(tmp_path, "ovn_controller", "validate.yml",
                             tenrec_controlplane=contract(ovn_sb_connection=SSL_SB))
    assert result.rc != 0
    assert "tenrec_controlplane.certificates.ovn is required on localhost" in text, text

    result, text = run_tasks(tmp_path, "ovn_controller", "validate.yml",
                             tenrec_controlplane=contract(ovn_sb_connection=SSL_SB, certificates={"ovn": pki.issue()}))
    assert result.rc == 0, text
    # tcp: needs no certificate
    result, text = run_tasks(tmp_path, "ovn_controller", "validate.yml")
    assert result.rc == 0, text


def test_ovn_controller_validate_names_a_bad_field_never_its_value(tmp_path, pki):
    entry = pki.issue()
    bad = dict(entry, private_key=entry["private_key"].replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY"))
    result, text = run_tasks(tmp_path, "ovn_controller", "validate.yml", verbosity=3,
                             tenrec_controlplane=contract(ovn_sb_connection=SSL_SB, certificates={"ovn": bad}))
    assert result.rc != 0
    assert "tenrec_controlplane.certificates.ovn.private_key must be an unencrypted PEM private key" in text, text
    assert_no_key(text, bad)


FAKE_OVS_VSCTL = """#!/bin/bash
# ovs-vsctl stand-in: get-ssl / set-ssl on a state file, every set-ssl logged.
[ "$1" = "--timeout=10" ] && shift
case "$1" in
  get-ssl) [ -f "$FAKE_OVS_STATE" ] && cat "$FAKE_OVS_STATE"; exit 0 ;;
  set-ssl) printf 'Private key: %s\\nCertificate: %s\\nCA Certificate: %s\\nBootstrap: false\\n' "$2" "$3" "$4" >"$FAKE_OVS_STATE"
           echo set-ssl >>"$FAKE_OVS_STATE.log"; exit 0 ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac
"""


def test_ovn_controller_tls_files_ssl_table_and_rotation(tmp_path, pki):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "ovs-vsctl").write_text(FAKE_OVS_VSCTL)
    (fake / "ovs-vsctl").chmod(0o755)
    state = tmp_path / "ssl-table"
    env = {"PATH": "%s:%s" % (fake, os.environ["PATH"]), "FAKE_OVS_STATE": str(state)}
    base = tmp_path / "pki"
    key, cert, ca = base / "private/ovn_controller.key", base / "certs/ovn_controller.crt", base / "certs/ovn_controller_ca.crt"
    paths = {"ovn_controller_ssl_private_key": str(key), "ovn_controller_ssl_certificate": str(cert),
             "ovn_controller_ssl_ca_cert": str(ca), "__ovn_controller_user": USER, "__ovn_controller_group": GROUP}
    first, renewed = pki.issue(), pki.issue()

    def go(entry, **kw):
        return run_tasks(tmp_path, "ovn_controller", "tls.yml", env=env, **paths,
                         tenrec_controlplane=contract(ovn_sb_connection=SSL_SB, certificates={"ovn": entry}), **kw)

    # check mode on a node without the directories: reports changes, writes nothing
    result, text = go(first, check=True, diff=True, verbosity=3)
    assert result.rc == 0, text
    assert changed(result) > 0 and not base.exists() and not state.exists()
    assert "would-set" in text
    assert_no_key(text, first)

    result, text = go(first, verbosity=3)
    assert result.rc == 0, text
    assert key.read_text() == pem(first, "private_key") and mode(key) == 0o600 and key.owner() == USER
    assert cert.read_text() == pem(first, "certificate") and mode(cert) == 0o644
    assert ca.read_text() == pem(first, "ca_certificate") and mode(ca) == 0o644
    assert state.read_text() == "Private key: %s\nCertificate: %s\nCA Certificate: %s\nBootstrap: false\n" % (key, cert, ca)
    assert handlers_ran(text) == ["Restart ovn-controller"]
    assert_no_key(text, first)

    result, text = go(first)
    assert result.rc == 0, text
    assert changed(result) == 0 and handlers_ran(text) == [], "a re-run changes nothing and restarts nothing"

    # rotation, first in check mode with --diff: the key change is reported, its content never shown
    result, text = go(renewed, check=True, diff=True)
    assert result.rc == 0, text
    assert changed(result) > 0 and key.read_text() == pem(first, "private_key")
    assert_no_key(text, first, renewed)

    result, text = go(renewed)
    assert result.rc == 0, text
    assert key.read_text() == pem(renewed, "private_key") and cert.read_text() == pem(renewed, "certificate")
    assert handlers_ran(text) == ["Restart ovn-controller"]
    assert (tmp_path / "ssl-table.log").read_text().count("set-ssl") == 1, "same paths: the SSL table is left alone"
    assert_no_key(text, renewed)


# ----- neutron_metadata --------------------------------------------------------------------------

def test_neutron_metadata_validate_contract_entry_or_pre_installed_files(tmp_path, pki):
    files = {"neutron_metadata_ovn_sb_private_key": str(tmp_path / "pre/agent.key"),
             "neutron_metadata_ovn_sb_certificate": str(tmp_path / "pre/agent.crt"),
             "neutron_metadata_ovn_sb_ca_cert": str(tmp_path / "pre/ca.crt")}
    # neither the contract entry nor the files
    result, text = run_tasks(tmp_path, "neutron_metadata", "validate.yml", **files,
                             tenrec_controlplane=contract(ovn_sb_connection=SSL_SB))
    assert result.rc != 0
    assert "tenrec_controlplane.certificates.neutron_metadata is required on localhost" in text, text
    assert "(neutron_metadata_ovn_sb_private_key) does not exist" in text, text
    # files put there beforehand
    (tmp_path / "pre").mkdir()
    for path in files.values():
        open(path, "w").close()
    result, text = run_tasks(tmp_path, "neutron_metadata", "validate.yml", **files,
                             tenrec_controlplane=contract(ovn_sb_connection=SSL_SB))
    assert result.rc == 0, text
    # the contract entry, with a field that is not PEM
    entry = dict(pki.issue(), certificate="not a certificate")
    result, text = run_tasks(tmp_path, "neutron_metadata", "validate.yml", verbosity=3,
                             tenrec_controlplane=contract(ovn_sb_connection=SSL_SB,
                                                          certificates={"neutron_metadata": entry}))
    assert result.rc != 0
    assert "tenrec_controlplane.certificates.neutron_metadata.certificate must be a PEM certificate" in text, text
    assert_no_key(text, entry)


def test_neutron_metadata_install_decision(tmp_path, pki):
    names = ["__neutron_metadata_sb_ssl", "__neutron_metadata_install_certificate"]
    with_entry = {"neutron_metadata": pki.issue()}
    assert role_vars(tmp_path, "neutron_metadata", names,
                     tenrec_controlplane=contract(ovn_sb_connection=SSL_SB, certificates=with_entry)) == {
        "__neutron_metadata_sb_ssl": True, "__neutron_metadata_install_certificate": True}
    assert role_vars(tmp_path, "neutron_metadata", names, tenrec_controlplane=contract(certificates=with_entry)) == {
        "__neutron_metadata_sb_ssl": False, "__neutron_metadata_install_certificate": False}, "tcp: SB, nothing installed"


def test_neutron_metadata_tls_files_and_rotation(tmp_path, pki):
    base = tmp_path / "pki"
    key, cert, ca = base / "private/ovn_metadata.key", base / "certs/ovn_metadata.crt", base / "certs/ovn_metadata_ca.crt"
    paths = {"neutron_metadata_ovn_sb_private_key": str(key), "neutron_metadata_ovn_sb_certificate": str(cert),
             "neutron_metadata_ovn_sb_ca_cert": str(ca), "__neutron_metadata_user": USER}
    first, renewed = pki.issue(), pki.issue()

    def go(entry, **kw):
        return run_tasks(tmp_path, "neutron_metadata", "tls.yml", **paths,
                         tenrec_controlplane=contract(ovn_sb_connection=SSL_SB, certificates={"neutron_metadata": entry}),
                         **kw)

    result, text = go(first, verbosity=3)
    assert result.rc == 0, text
    assert key.read_text() == pem(first, "private_key") and mode(key) == 0o600 and key.owner() == USER
    assert cert.read_text() == pem(first, "certificate") and mode(cert) == 0o644
    assert ca.read_text() == pem(first, "ca_certificate") and mode(ca) == 0o644
    assert handlers_ran(text) == ["Restart neutron-ovn-metadata-agent"]
    assert_no_key(text, first)

    result, text = go(first)
    assert changed(result) == 0 and handlers_ran(text) == []

    result, text = go(renewed, diff=True)
    assert result.rc == 0, text
    assert key.read_text() == pem(renewed, "private_key")
    assert handlers_ran(text) == ["Restart neutron-ovn-metadata-agent"]
    assert_no_key(text, first, renewed)


# ----- libvirt -----------------------------------------------------------------------------------

def test_libvirt_qemu_conf_tls_keys(tmp_path):
    names = ["__libvirt_qemu_conf", "__libvirt_tls_options", "__libvirt_tls_files"]
    got = role_vars(tmp_path, "libvirt", names, family="RedHat", libvirt_migration_transport="tls",
                    libvirt_qemu_conf={"max_files": "32768"})
    assert got["__libvirt_qemu_conf"] == {"default_tls_x509_cert_dir": '"/etc/pki/qemu"',
                                          "migrate_tls_x509_cert_dir": '"/etc/pki/qemu"', "max_files": "32768"}
    assert got["__libvirt_tls_options"] == {"ca_file": '"/etc/pki/CA/cacert.pem"',
                                            "cert_file": '"/etc/pki/libvirt/servercert.pem"',
                                            "key_file": '"/etc/pki/libvirt/private/serverkey.pem"'}
    assert {f["path"]: f["field"] for f in got["__libvirt_tls_files"]} == {
        "/etc/pki/CA/cacert.pem": "ca_certificate", "/etc/pki/libvirt/servercert.pem": "certificate",
        "/etc/pki/libvirt/private/serverkey.pem": "private_key", "/etc/pki/libvirt/clientcert.pem": "certificate",
        "/etc/pki/libvirt/private/clientkey.pem": "private_key", "/etc/pki/qemu/ca-cert.pem": "ca_certificate",
        "/etc/pki/qemu/server-cert.pem": "certificate", "/etc/pki/qemu/server-key.pem": "private_key",
        "/etc/pki/qemu/client-cert.pem": "certificate", "/etc/pki/qemu/client-key.pem": "private_key"}


def test_libvirt_qemu_conf_without_native_tls(tmp_path):
    names = ["__libvirt_qemu_conf", "__libvirt_tls_files"]
    assert role_vars(tmp_path, "libvirt", names)["__libvirt_qemu_conf"] == {}, "ssh transport: qemu.conf as before"
    no_native = role_vars(tmp_path, "libvirt", names, libvirt_migration_transport="tls", libvirt_qemu_migrate_tls=False,
                          libvirt_qemu_conf={"migrate_tls_x509_cert_dir": '"/srv/qemu"'})
    assert no_native["__libvirt_qemu_conf"] == {"migrate_tls_x509_cert_dir": '"/srv/qemu"'}
    assert not [f for f in no_native["__libvirt_tls_files"] if "/etc/pki/qemu" in f["path"]]


def test_libvirt_validate(tmp_path, pki):
    base = tmp_path / "pre"
    files = {"libvirt_tls_ca_cert": str(base / "cacert.pem"), "libvirt_tls_server_cert": str(base / "servercert.pem"),
             "libvirt_tls_server_key": str(base / "serverkey.pem"), "libvirt_tls_client_cert": str(base / "clientcert.pem"),
             "libvirt_tls_client_key": str(base / "clientkey.pem"), "libvirt_qemu_tls_dir": str(base / "qemu")}
    # tls, no contract at all (the role runs without one) and no files: names the contract entry and the variable
    result, text = run_tasks(tmp_path, "libvirt", "validate.yml", tenrec_controlplane=None,
                             libvirt_migration_transport="tls", **files)
    assert result.rc != 0
    assert "tenrec_controlplane.certificates.libvirt is required on localhost" in text, text
    assert "(libvirt_tls_ca_cert) does not exist" in text, text
    # ssh checks nothing
    result, text = run_tasks(tmp_path, "libvirt", "validate.yml", tenrec_controlplane=None, **files)
    assert result.rc == 0, text
    # tls with the contract entry
    result, text = run_tasks(tmp_path, "libvirt", "validate.yml", libvirt_migration_transport="tls", **files,
                             tenrec_controlplane=contract(certificates={"libvirt": pki.issue()}))
    assert result.rc == 0, text
    # tls with files put there beforehand, QEMU's included
    (base / "qemu").mkdir(parents=True)
    for name in ("cacert.pem", "servercert.pem", "serverkey.pem", "clientcert.pem", "clientkey.pem"):
        (base / name).touch()
    for name in ("ca-cert.pem", "server-cert.pem", "server-key.pem", "client-cert.pem", "client-key.pem"):
        (base / "qemu" / name).touch()
    result, text = run_tasks(tmp_path, "libvirt", "validate.yml", libvirt_migration_transport="tls", **files)
    assert result.rc == 0, text


def test_libvirt_tls_files_owners_and_restarts(tmp_path):
    pki = PKI("rootca-libvirt")
    base = tmp_path / "pki"
    files = {"libvirt_tls_ca_cert": str(base / "CA/cacert.pem"),
             "libvirt_tls_server_cert": str(base / "libvirt/servercert.pem"),
             "libvirt_tls_server_key": str(base / "libvirt/private/serverkey.pem"),
             "libvirt_tls_client_cert": str(base / "libvirt/clientcert.pem"),
             "libvirt_tls_client_key": str(base / "libvirt/private/clientkey.pem"),
             "libvirt_qemu_tls_dir": str(base / "qemu"),
             "__libvirt_qemu_user": USER, "__libvirt_qemu_group": GROUP}
    entry = pki.issue()

    def go(**kw):  # verbosity=3 on the first run: -vvv shows no key either
        args = dict(files, **kw)
        return run_tasks(tmp_path, "libvirt", "tls.yml", libvirt_migration_transport="tls",
                         tenrec_controlplane=contract(certificates={"libvirt": entry}), **args)

    result, text = go(verbosity=3)
    assert result.rc == 0, text
    for name in ("libvirt/private/serverkey.pem", "libvirt/private/clientkey.pem", "qemu/server-key.pem", "qemu/client-key.pem"):
        assert (base / name).read_text() == pem(entry, "private_key"), name
        assert mode(base / name) == 0o600, name
    for name in ("libvirt/servercert.pem", "libvirt/clientcert.pem", "qemu/server-cert.pem", "qemu/client-cert.pem"):
        assert (base / name).read_text() == pem(entry, "certificate"), name
        assert mode(base / name) == 0o644, name
    assert (base / "CA/cacert.pem").read_text() == (base / "qemu/ca-cert.pem").read_text() == pem(entry, "ca_certificate")
    assert (base / "qemu/server-key.pem").owner() == USER
    assert handlers_ran(text) == ["Restart the libvirt TLS listener"]
    assert_no_key(text, entry)

    result, text = go()
    assert changed(result) == 0 and handlers_ran(text) == []

    # QEMU's files alone (read at each migration): written, nothing restarted
    result, text = go(libvirt_qemu_tls_dir=str(tmp_path / "qemu2"))
    assert result.rc == 0, text
    assert (tmp_path / "qemu2/client-key.pem").read_text() == pem(entry, "private_key")
    assert changed(result) > 0 and handlers_ran(text) == []


# ----- nova_compute ------------------------------------------------------------------------------

def test_nova_compute_validate_tls_internal_needs_ca_bundle(tmp_path):
    result, text = run_tasks(tmp_path, "nova_compute", "validate.yml",
                             tenrec_controlplane=contract(tls_internal=True,
                                                          keystone={"internal_url": "https://keystone:5000"}))
    assert result.rc != 0
    assert "tenrec_controlplane.ca_bundle is required on localhost" in text, text
    # https Keystone without a bundle (a site CA in the system trust store): accepted
    result, text = run_tasks(tmp_path, "nova_compute", "validate.yml",
                             tenrec_controlplane=contract(keystone={"internal_url": "https://keystone:5000"}))
    assert result.rc == 0, text


def test_nova_compute_validate_scheme_matches_libvirt(tmp_path):
    result, text = run_tasks(tmp_path, "nova_compute", "validate.yml", nova_compute_live_migration_scheme="tls",
                             libvirt_migration_transport="ssh")
    assert result.rc != 0
    assert "nova_compute_live_migration_scheme is tls but libvirt_migration_transport is ssh" in text, text


# ----- libvirt: VNC over TLS ---------------------------------------------------------------------

VNC_CONF = {"vnc_tls": "1", "vnc_tls_x509_cert_dir": '"/etc/pki/libvirt-vnc"', "vnc_tls_x509_verify": "0"}
VNC_FILES = {"/etc/pki/libvirt-vnc/ca-cert.pem": "ca_certificate", "/etc/pki/libvirt-vnc/server-cert.pem": "certificate",
             "/etc/pki/libvirt-vnc/server-key.pem": "private_key"}


def test_libvirt_vnc_tls_vars(tmp_path):
    names = ["__libvirt_qemu_conf", "__libvirt_tls_files", "__libvirt_certificate_used"]
    # on with the ssh transport: the VNC files and qemu.conf options alone, none of TLS migration's
    got = role_vars(tmp_path, "libvirt", names, libvirt_vnc_tls=True)
    assert got["__libvirt_qemu_conf"] == VNC_CONF
    assert {f["path"]: f["field"] for f in got["__libvirt_tls_files"]} == VNC_FILES
    assert got["__libvirt_certificate_used"] is True
    # on with tls: next to the migration's, and libvirt_qemu_conf still wins
    got = role_vars(tmp_path, "libvirt", names, family="RedHat", libvirt_migration_transport="tls", libvirt_vnc_tls=True,
                    libvirt_vnc_tls_dir="/srv/vnc", libvirt_qemu_conf={"vnc_tls_x509_verify": "1"})
    assert got["__libvirt_qemu_conf"] == {"default_tls_x509_cert_dir": '"/etc/pki/qemu"',
                                          "migrate_tls_x509_cert_dir": '"/etc/pki/qemu"', "vnc_tls": "1",
                                          "vnc_tls_x509_cert_dir": '"/srv/vnc"', "vnc_tls_x509_verify": "1"}
    paths = [f["path"] for f in got["__libvirt_tls_files"]]
    assert len(paths) == 13 and paths[-3:] == ["/srv/vnc/ca-cert.pem", "/srv/vnc/server-cert.pem", "/srv/vnc/server-key.pem"]
    # off (the default): qemu.conf as before, nothing about VNC, whatever the transport
    for transport in ("ssh", "tls"):
        got = role_vars(tmp_path, "libvirt", names, libvirt_migration_transport=transport)
        assert got["__libvirt_qemu_conf"] == ({} if transport == "ssh" else {
            "default_tls_x509_cert_dir": '"/etc/pki/qemu"', "migrate_tls_x509_cert_dir": '"/etc/pki/qemu"'}), transport
        assert not [f for f in got["__libvirt_tls_files"] if "vnc" in f["path"]], transport
        assert got["__libvirt_certificate_used"] is (transport == "tls")


def test_libvirt_vnc_tls_validate(tmp_path):
    pki = PKI("rootca-libvirt")
    vnc = tmp_path / "pre/libvirt-vnc"
    # on, ssh transport, no contract and no files: names the contract entry, why and the variable
    result, text = run_tasks(tmp_path, "libvirt", "validate.yml", tenrec_controlplane=None, libvirt_vnc_tls=True,
                             libvirt_vnc_tls_dir=str(vnc))
    assert result.rc != 0
    assert "tenrec_controlplane.certificates.libvirt is required on localhost: libvirt_vnc_tls is true" in text, text
    assert "%s/server-key.pem (libvirt_vnc_tls_dir) does not exist" % vnc in text, text
    # the contract entry, or the three VNC files put there beforehand (libvirt's migration files not needed)
    result, text = run_tasks(tmp_path, "libvirt", "validate.yml", libvirt_vnc_tls=True, libvirt_vnc_tls_dir=str(vnc),
                             tenrec_controlplane=contract(certificates={"libvirt": pki.issue()}))
    assert result.rc == 0, text
    vnc.mkdir(parents=True)
    for name in ("ca-cert.pem", "server-cert.pem", "server-key.pem"):
        (vnc / name).touch()
    result, text = run_tasks(tmp_path, "libvirt", "validate.yml", tenrec_controlplane=None, libvirt_vnc_tls=True,
                             libvirt_vnc_tls_dir=str(vnc))
    assert result.rc == 0, text


def test_libvirt_vnc_tls_files_without_tls_migration(tmp_path):
    pki = PKI("rootca-libvirt")
    first, renewed = pki.issue(), pki.issue()
    base = tmp_path / "pki"
    vnc = base / "libvirt-vnc"
    # the migration's paths under tmp_path too: with the ssh transport none of them may appear
    args = {"libvirt_vnc_tls": True, "libvirt_vnc_tls_dir": str(vnc), "libvirt_tls_ca_cert": str(base / "CA/cacert.pem"),
            "libvirt_tls_server_cert": str(base / "libvirt/servercert.pem"),
            "libvirt_tls_server_key": str(base / "libvirt/private/serverkey.pem"),
            "libvirt_tls_client_cert": str(base / "libvirt/clientcert.pem"),
            "libvirt_tls_client_key": str(base / "libvirt/private/clientkey.pem"),
            "libvirt_qemu_tls_dir": str(base / "qemu"), "__libvirt_qemu_user": USER, "__libvirt_qemu_group": GROUP}

    def go(entry, **kw):
        return run_tasks(tmp_path, "libvirt", "tls.yml", tenrec_controlplane=contract(certificates={"libvirt": entry}),
                         **dict(args, **kw))

    # check mode on a node without the directory: reports the change, writes nothing
    result, text = go(first, check=True, diff=True, verbosity=3)
    assert result.rc == 0, text
    assert changed(result) > 0 and not base.exists()
    assert_no_key(text, first)

    result, text = go(first, verbosity=3)
    assert result.rc == 0, text
    assert sorted(p.relative_to(base).as_posix() for p in base.rglob("*")) == [
        "libvirt-vnc", "libvirt-vnc/ca-cert.pem", "libvirt-vnc/server-cert.pem", "libvirt-vnc/server-key.pem"]
    key = vnc / "server-key.pem"
    assert key.read_text() == pem(first, "private_key") and mode(key) == 0o600 and key.owner() == USER
    for name, field in (("server-cert.pem", "certificate"), ("ca-cert.pem", "ca_certificate")):
        assert (vnc / name).read_text() == pem(first, field) and mode(vnc / name) == 0o644, name
        assert (vnc / name).owner() == "root", name
    assert mode(vnc) == 0o755
    assert handlers_ran(text) == [], "QEMU reads the VNC files when a guest starts: nothing restarted"
    assert_no_key(text, first)

    result, text = go(first)
    assert result.rc == 0, text
    assert changed(result) == 0 and handlers_ran(text) == [], "a re-run changes nothing"

    # renewed material: replaced, still nothing restarted, no key shown with --diff
    result, text = go(renewed, diff=True, verbosity=3)
    assert result.rc == 0, text
    assert key.read_text() == pem(renewed, "private_key") and (vnc / "server-cert.pem").read_text() == pem(renewed, "certificate")
    assert changed(result) > 0 and handlers_ran(text) == []
    assert_no_key(text, first, renewed)


def test_libvirt_vnc_tls_on_a_tls_migration_node(tmp_path):
    pki = PKI("rootca-libvirt")
    entry = pki.issue()
    base = tmp_path / "pki"
    args = {"libvirt_migration_transport": "tls", "libvirt_vnc_tls_dir": str(base / "libvirt-vnc"),
            "libvirt_tls_ca_cert": str(base / "CA/cacert.pem"), "libvirt_tls_server_cert": str(base / "libvirt/servercert.pem"),
            "libvirt_tls_server_key": str(base / "libvirt/private/serverkey.pem"),
            "libvirt_tls_client_cert": str(base / "libvirt/clientcert.pem"),
            "libvirt_tls_client_key": str(base / "libvirt/private/clientkey.pem"),
            "libvirt_qemu_tls_dir": str(base / "qemu"), "__libvirt_qemu_user": USER, "__libvirt_qemu_group": GROUP,
            "tenrec_controlplane": contract(certificates={"libvirt": entry})}
    # off (the default): the migration's files only
    result, text = run_tasks(tmp_path, "libvirt", "tls.yml", **args)
    assert result.rc == 0, text
    assert (base / "qemu/server-key.pem").exists() and not (base / "libvirt-vnc").exists()
    # turned on later: the VNC files alone are new, the TLS listener is not restarted
    result, text = run_tasks(tmp_path, "libvirt", "tls.yml", libvirt_vnc_tls=True, verbosity=3, **args)
    assert result.rc == 0, text
    assert (base / "libvirt-vnc/server-key.pem").read_text() == pem(entry, "private_key")
    assert (base / "libvirt-vnc/ca-cert.pem").read_text() == (base / "CA/cacert.pem").read_text()
    assert changed(result) == 3 and handlers_ran(text) == [], "the VNC directory, key and certificates tasks; nothing restarted"
    assert_no_key(text, entry)
