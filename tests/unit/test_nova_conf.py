"""nova.conf (nova_compute) and neutron_ovn_metadata_agent.ini (neutron_metadata) as the roles render
them, for RHEL and Debian, read back with an INI parser."""

import configparser

import ansible_runner
import pytest

from unit_support import ROOT, VALID_CONTRACT


def render_role(tmp_path, role, templates, family, inventory_hosts=None, **extra):
    """Render ``templates`` of ``role`` for ``family`` (with ``inventory_hosts``, ``{name: vars}``, in the
    inventory too, not in the play); return the output folder."""
    out = tmp_path / family
    out.mkdir()
    extravars = {"repo": str(ROOT), "out": str(out), "family": family, "role": role, "templates": templates,
                 "tenrec_controlplane": VALID_CONTRACT, **extra}
    runner_dir = tmp_path / ("runner-" + family)
    runner_dir.mkdir()
    # localhost alone: the lab inventory's group_vars stay out of the rendering
    inventory = {"all": {"hosts": {"localhost": {"ansible_connection": "local",
                                                 "ansible_python_interpreter": "{{ ansible_playbook_python }}"},
                                   **(inventory_hosts or {})}}}
    result = ansible_runner.run(private_data_dir=str(runner_dir),
                                playbook=str(ROOT / "tests/unit/playbooks/render.yml"),
                                inventory=inventory, extravars=extravars, quiet=True,
                                envvars={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")})
    assert result.rc == 0, result.stdout.read()
    return out


def render(tmp_path, family, **extra):
    out = render_role(tmp_path, "nova_compute", ["nova.conf.j2", "nova-compute.conf.j2"], family, **extra)
    conf = configparser.ConfigParser(interpolation=None)
    conf.read(out / "nova.conf")
    return conf, out


@pytest.mark.parametrize("family", ["RedHat", "Debian"])
def test_contract_lands_in_nova_conf(tmp_path, family):
    conf, _out = render(tmp_path, family, bootstrap_virt_type_result="qemu")
    c = VALID_CONTRACT
    assert conf["DEFAULT"]["transport_url"] == c["transport_url"]
    assert conf["DEFAULT"]["host"] == "compute-0.example.com"
    assert conf["DEFAULT"]["my_ip"] == "192.168.24.10"
    assert conf["DEFAULT"]["state_path"] == "/var/lib/nova"
    assert conf["oslo_messaging_rabbit"]["rabbit_quorum_queue"] == "true"
    assert conf["oslo_messaging_rabbit"]["ssl"] == "false"
    assert conf["oslo_messaging_notifications"]["driver"] == "messagingv2"
    assert conf["oslo_messaging_notifications"]["transport_url"] == c["notification_transport_url"]
    for section in ("placement", "neutron", "cinder", "service_user"):
        assert conf[section]["auth_url"] == c["keystone"]["internal_url"], section
        assert conf[section]["password"] == c["service_auth"]["password"], section
        assert conf[section]["username"] == "nova"
        assert conf[section]["region_name"] == "regionOne"
        assert "cafile" not in conf[section], "no CA bundle, no cafile"
    assert conf["service_user"]["send_service_user_token"] == "true"
    assert conf["libvirt"]["virt_type"] == "qemu"
    assert conf["libvirt"]["cpu_mode"] == "none"
    assert conf["vnc"]["server_listen"] == "192.168.24.10"
    assert conf["vnc"]["server_proxyclient_address"] == "192.168.24.10"
    assert conf["vnc"]["novncproxy_base_url"] == c["novncproxy_base_url"]
    assert conf["neutron"]["valid_interfaces"] == "internal"
    assert conf["neutron"]["ovs_bridge"] == "br-int"
    assert conf["glance"]["valid_interfaces"] == "internal"
    assert conf["glance"]["region_name"] == "regionOne"
    assert conf["os_vif_ovs"]["ovsdb_connection"] == "tcp:127.0.0.1:6640"


def test_kvm_gets_host_model_and_overrides_win(tmp_path):
    overrides = {"DEFAULT": {"cpu_allocation_ratio": 4.0, "debug": True},
                 "libvirt": {"cpu_mode": "host-passthrough"}, "filter_scheduler": {"x": "y"}}
    conf, out = render(tmp_path, "Debian", nova_compute_virt_type="kvm",
                       nova_compute_config_overrides=overrides)
    assert conf["libvirt"]["virt_type"] == "kvm"
    assert conf["libvirt"]["cpu_mode"] == "host-passthrough"
    assert conf["DEFAULT"]["cpu_allocation_ratio"] == "4.0"
    assert conf["DEFAULT"]["debug"] == "true"
    assert conf["filter_scheduler"]["x"] == "y"
    extra = configparser.ConfigParser(interpolation=None)
    extra.read(out / "nova-compute.conf")
    assert extra["libvirt"]["virt_type"] == "kvm", "Debian's nova-compute.conf must not undo virt_type"


def test_tls_contract_sets_cafile(tmp_path):
    cp = dict(VALID_CONTRACT, ca_bundle="-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
              transport_url="rabbit://nova:pw@rabbit:5671/?ssl=1", tls_internal=True,
              messaging={"ssl": True}, keystone={"internal_url": "https://keystone:5000"})
    conf, _out = render(tmp_path, "RedHat", tenrec_controlplane=cp, bootstrap_virt_type_result="kvm")
    assert conf["placement"]["cafile"] == "/etc/nova/tenrec-ca-bundle.pem"
    assert conf["oslo_messaging_rabbit"]["ssl_ca_file"] == "/etc/nova/tenrec-ca-bundle.pem"
    assert conf["oslo_messaging_rabbit"]["ssl"] == "true"


def render_agent(tmp_path, family, **extra):
    out = render_role(tmp_path, "neutron_metadata", ["neutron_ovn_metadata_agent.ini.j2"], family, **extra)
    conf = configparser.ConfigParser(interpolation=None)
    conf.read(out / "neutron_ovn_metadata_agent.ini")
    return conf


@pytest.mark.parametrize("family", ["RedHat", "Debian"])
def test_metadata_agent_ini_from_contract(tmp_path, family):
    conf = render_agent(tmp_path, family)
    d = conf["DEFAULT"]
    assert (d["nova_metadata_host"], d["nova_metadata_port"], d["nova_metadata_protocol"]) == (
        "nova-metadata-internal.openstack.svc", "8775", "http")
    assert d["metadata_proxy_shared_secret"] == VALID_CONTRACT["metadata_proxy_shared_secret"]
    assert "auth_ca_cert" not in d, "no CA bundle, no auth_ca_cert"
    assert conf["ovn"]["ovn_sb_connection"] == VALID_CONTRACT["ovn_sb_connection"]
    assert "ovn_sb_private_key" not in conf["ovn"], "tcp: SB, no TLS files"
    assert conf["ovs"]["ovsdb_connection"] == "unix:/run/openvswitch/db.sock"


def test_metadata_agent_ini_over_tls_and_overrides(tmp_path):
    cp = dict(VALID_CONTRACT, ovn_sb_connection="ssl:10.0.0.30:6642", nova_metadata_url="https://nova-metadata:8775",
              ca_bundle="-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    conf = render_agent(tmp_path, "RedHat", tenrec_controlplane=cp,
                        neutron_metadata_config_overrides={"DEFAULT": {"metadata_workers": 4}})
    assert conf["DEFAULT"]["nova_metadata_protocol"] == "https"
    assert conf["DEFAULT"]["auth_ca_cert"] == "/etc/neutron/tenrec-ca-bundle.pem"
    assert conf["DEFAULT"]["metadata_workers"] == "4"
    assert conf["ovn"]["ovn_sb_private_key"] == "/etc/pki/tls/private/ovn_metadata.key"
    assert conf["ovn"]["ovn_sb_certificate"] == "/etc/pki/tls/certs/ovn_metadata.crt"
    assert conf["ovn"]["ovn_sb_ca_cert"] == "/etc/pki/tls/certs/ovn_metadata_ca.crt"


CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
CA_FILE = "/etc/nova/tenrec-ca-bundle.pem"
# keystoneauth sections the role writes, and those it completes when the overrides add them
KSA_SECTIONS = ("placement", "neutron", "glance", "cinder", "service_user")
KSA_OPTIONAL = {"keystone_authtoken": {"auth_url": "https://keystone:5000"},
                "barbican": {"barbican_endpoint_type": "internal"},
                "cyborg": {"valid_interfaces": "internal"}}


@pytest.mark.parametrize("family", ["RedHat", "Debian"])
def test_ca_bundle_gives_cafile_to_every_keystoneauth_section(tmp_path, family):
    cp = dict(VALID_CONTRACT, ca_bundle=CA_PEM, tls_internal=True, keystone={"internal_url": "https://keystone:5000"})
    overrides = dict(KSA_OPTIONAL, keystone={"cafile": "/etc/pki/site-ca.pem"}, filter_scheduler={"x": "y"})
    conf, _out = render(tmp_path, family, tenrec_controlplane=cp, bootstrap_virt_type_result="kvm",
                        nova_compute_config_overrides=overrides)
    for section in KSA_SECTIONS + tuple(KSA_OPTIONAL):
        assert conf[section]["cafile"] == CA_FILE, section
    assert conf["keystone"]["cafile"] == "/etc/pki/site-ca.pem", "an override's own cafile wins"
    assert "cafile" not in conf["filter_scheduler"], "not a keystoneauth section"
    assert "cafile" not in conf["libvirt"] and "cafile" not in conf["DEFAULT"]
    assert conf["oslo_messaging_rabbit"]["ssl"] == "false" and "ssl_ca_file" not in conf["oslo_messaging_rabbit"]


def test_no_ca_bundle_no_cafile_anywhere(tmp_path):
    cp = dict(VALID_CONTRACT, keystone={"internal_url": "https://keystone:5000"})  # site CA in the system store
    conf, _out = render(tmp_path, "RedHat", tenrec_controlplane=cp, bootstrap_virt_type_result="kvm",
                        nova_compute_config_overrides=KSA_OPTIONAL)
    for section in conf.sections():
        assert "cafile" not in conf[section], section
        assert "ssl_ca_file" not in conf[section], section
    assert set(KSA_OPTIONAL) <= set(conf.sections())


@pytest.mark.parametrize("ca_bundle, ssl_ca_file", [(CA_PEM, CA_FILE), ("", None)])
def test_rabbit_ssl(tmp_path, ca_bundle, ssl_ca_file):
    cp = dict(VALID_CONTRACT, ca_bundle=ca_bundle, transport_url="rabbit://nova:pw@rabbit:5671/?ssl=1",
              messaging={"ssl": True, "quorum_queues": True})
    conf, _out = render(tmp_path, "Debian", tenrec_controlplane=cp, bootstrap_virt_type_result="kvm")
    rabbit = conf["oslo_messaging_rabbit"]
    assert rabbit["ssl"] == "true"
    assert rabbit.get("ssl_ca_file") == ssl_ca_file
    assert conf["DEFAULT"]["transport_url"] == cp["transport_url"]


@pytest.mark.parametrize("extra, scheme, native", [
    ({}, "ssh", None),                                                        # nova.conf of ssh nodes as before
    ({"libvirt_migration_transport": "tls"}, "tls", "true"),                  # follows the libvirt role
    ({"libvirt_migration_transport": "tls", "libvirt_qemu_migrate_tls": False}, "tls", "false"),
    ({"nova_compute_live_migration_scheme": "tls", "nova_compute_live_migration_with_native_tls": False}, "tls", "false"),
])
def test_live_migration_scheme_and_native_tls(tmp_path, extra, scheme, native):
    conf, _out = render(tmp_path, "RedHat", bootstrap_virt_type_result="kvm", **extra)
    assert conf["libvirt"]["live_migration_scheme"] == scheme
    assert conf["libvirt"].get("live_migration_with_native_tls") == native
