"""bootstrap on a lab container: kernel settings, module list, time sync left to the host, probe."""

import os
import re
import subprocess


def test_sysctl_written_and_applied(host):
    conf = host.file("/etc/sysctl.d/70-tenrec.conf")
    assert conf.exists and conf.mode == 0o644
    assert "net.ipv4.ip_forward=1" in conf.content_string.replace(" ", "")
    assert host.sysctl("net.ipv4.ip_forward") == 1
    assert host.sysctl("net.ipv4.ip_nonlocal_bind") == 1


def test_module_list(host):
    mods = host.file("/etc/modules-load.d/70-tenrec.conf").content_string.split()
    assert {"openvswitch", "geneve", "vhost_net"} <= set(mods)


def test_no_chrony_in_a_container(host):
    # The container's clock is the host's: bootstrap must not install or run chrony here.
    assert not host.package("chrony").is_installed


def test_base_packages(host):
    for pkg in ("iproute2", "kmod", "python3-apt"):
        assert host.package(pkg).is_installed


# ----- the install phase converges the package set ---------------------------------------------
OLDER = "ca-certificates"  # a base package the lab image holds older than the mirror


def converge(*args):
    """converge.yml again on the scenario's inventory, as molecule runs it; returns (rc, output)."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    run = subprocess.run(["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
                          os.path.join(here, "converge.yml"), *args], capture_output=True, text=True, check=False,
                         env=dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1"))
    return run.returncode, re.sub(r"\x1b\[[0-9;]*m", "", run.stdout + run.stderr)  # molecule forces colour


def recap_changed(out):
    return int(re.search(r"tenrec-bootstrap-0\s+: ok=\d+\s+changed=(\d+)", out).group(1))


def test_a_removed_base_package_is_installed_again(host):
    host.check_output("DEBIAN_FRONTEND=noninteractive apt-get remove -y -q iputils-ping")
    assert not host.package("iputils-ping").is_installed
    rc, out = converge()
    assert rc == 0, out[-3000:]
    assert host.package("iputils-ping").is_installed
    assert "Install the missing base packages" in out and recap_changed(out) == 1, out[-3000:]


def test_present_leaves_an_older_package_and_latest_updates_it_check_mode_first(host):
    def upgradable():
        return OLDER + "/" in host.check_output("apt list --upgradable 2>/dev/null")

    old = host.package(OLDER).version
    assert upgradable(), "the lab image's %s is no longer behind the mirror" % OLDER
    rc, out = converge("-e", "bootstrap_package_state=present")
    assert rc == 0 and recap_changed(out) == 0, out[-3000:]
    rc, out = converge("-e", "bootstrap_package_state=latest", "--check")
    assert rc == 0 and recap_changed(out) == 1, out[-3000:]  # the update task, truthfully
    assert host.package(OLDER).version == old
    rc, out = converge("-e", "bootstrap_package_state=latest")
    assert rc == 0 and recap_changed(out) == 1, out[-3000:]
    assert host.package(OLDER).version != old and not upgradable()
    rc, out = converge("-e", "bootstrap_package_state=latest")
    assert rc == 0 and recap_changed(out) == 0, out[-3000:]
