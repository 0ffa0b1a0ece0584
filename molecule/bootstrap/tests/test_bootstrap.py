"""bootstrap on a lab container: kernel settings, module list, time sync left to the host, probe."""


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
