"""package_plan's parsers and plan, on the outputs of Debian 12's dpkg-query / apt-get and of RHEL 9's
rpm / dnf (the site scenario runs the Debian side against the real commands, through the rolling
update and the drift report)."""

from ansible_collections.tenrec.dataplane.plugins.modules import package_plan

# dpkg-query -W -f='${Package}\t${db:Status-Abbrev}\t${Version}\n' ca-certificates openssl haproxy nova-compute
DPKG_QUERY = ("ca-certificates\tii \t20230311+deb12u1\n"
              "openssl\tii \t3.0.19-1~deb12u2\n"
              "haproxy\trc \t2.6.12-1+deb12u2\n")  # removed, its configuration kept
# apt-get --simulate --only-upgrade install ca-certificates openssl (Debian 12)
APT_SIMULATE = """Reading package lists...
Building dependency tree...
The following packages will be upgraded:
  ca-certificates libssl3 openssl
Inst libssl3 [3.0.19-1~deb12u2] (3.0.22-1~deb12u2 Debian-Security:12/oldstable-security [amd64])
Inst openssl [3.0.19-1~deb12u2] (3.0.22-1~deb12u2 Debian-Security:12/oldstable-security [amd64])
Inst ca-certificates [20230311+deb12u1] (20250419~deb12u2 Debian-Security:12/oldstable-security [all])
Conf libssl3 (3.0.22-1~deb12u2 Debian-Security:12/oldstable-security [amd64])
Conf openssl (3.0.22-1~deb12u2 Debian-Security:12/oldstable-security [amd64])
Conf ca-certificates (20250419~deb12u2 Debian-Security:12/oldstable-security [all])
"""
# rpm -q --qf '%{NAME}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\n' openvswitch3.3 libvirt-daemon nova-compute
RPM_QUERY = ("openvswitch3.3\t0:3.3.0-49.el9fdp\n"
             "libvirt-daemon\t0:10.0.0-6.el9\n"
             "package openstack-nova-compute is not installed\n")
# dnf -q list --upgrades openvswitch3.3 libvirt-daemon
DNF_UPGRADES = """Available Upgrades
openvswitch3.3.x86_64                3.3.0-62.el9fdp                 fast-datapath
libvirt-daemon.x86_64                10.0.0-6.7.el9_4                appstream
"""


def test_dpkg_query_keeps_installed_packages_only():
    assert package_plan.parse_dpkg_query(DPKG_QUERY) == {"ca-certificates": "20230311+deb12u1",
                                                         "openssl": "3.0.19-1~deb12u2"}


def test_apt_simulate_lists_the_upgrades_with_both_versions():
    assert package_plan.parse_apt_simulate(APT_SIMULATE) == {
        "libssl3": ("3.0.19-1~deb12u2", "3.0.22-1~deb12u2"),
        "openssl": ("3.0.19-1~deb12u2", "3.0.22-1~deb12u2"),
        "ca-certificates": ("20230311+deb12u1", "20250419~deb12u2")}
    assert package_plan.parse_apt_simulate("Inst nova-compute (2:26.2.2-1 Debian:12 [all])\n") == {}  # a new install


def test_plan_present_installs_only_what_is_missing_and_still_reports_what_is_behind():
    installed = package_plan.parse_dpkg_query(DPKG_QUERY)
    upgrades = package_plan.parse_apt_simulate(APT_SIMULATE)
    result = package_plan.plan(["ca-certificates", "haproxy", "openssl"], "present", installed, upgrades)
    assert result["missing"] == ["haproxy"]
    assert result["packages"] == ["haproxy"] and result["upgrade"] == []
    assert [b["name"] for b in result["behind"]] == ["ca-certificates", "openssl"]
    assert result["behind"][0] == {"name": "ca-certificates", "installed": "20230311+deb12u1",
                                   "available": "20250419~deb12u2"}


def test_plan_latest_adds_the_packages_behind_but_not_their_dependencies():
    installed = package_plan.parse_dpkg_query(DPKG_QUERY)
    upgrades = package_plan.parse_apt_simulate(APT_SIMULATE)
    result = package_plan.plan(["ca-certificates", "haproxy", "openssl"], "latest", installed, upgrades)
    assert result["upgrade"] == ["ca-certificates", "openssl"]  # libssl3 comes with openssl
    assert result["packages"] == ["haproxy", "ca-certificates", "openssl"]


def test_plan_of_a_converged_node_is_empty():
    installed = {"ca-certificates": "20250419~deb12u2"}
    assert package_plan.plan(["ca-certificates"], "latest", installed, {}) == {
        "installed": installed, "missing": [], "behind": [], "upgrade": [], "packages": []}


def test_rpm_and_dnf_outputs():
    installed = package_plan.parse_rpm_query(RPM_QUERY)
    assert installed == {"openvswitch3.3": "0:3.3.0-49.el9fdp", "libvirt-daemon": "0:10.0.0-6.el9"}
    upgrades = package_plan.parse_dnf_upgrades(DNF_UPGRADES)
    assert upgrades == {"openvswitch3.3": "3.3.0-62.el9fdp", "libvirt-daemon": "10.0.0-6.7.el9_4"}
    result = package_plan.plan(["openvswitch3.3", "openstack-nova-compute"], "latest", installed, upgrades)
    assert result["missing"] == ["openstack-nova-compute"]
    assert result["behind"] == [{"name": "openvswitch3.3", "installed": "0:3.3.0-49.el9fdp",
                                 "available": "3.3.0-62.el9fdp"}]
    assert result["upgrade"] == ["openvswitch3.3"]
    assert result["packages"] == ["openstack-nova-compute", "openvswitch3.3"]
