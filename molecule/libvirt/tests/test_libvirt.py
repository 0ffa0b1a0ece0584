"""libvirt on a lab container: packages, sockets, virsh answers, QEMU can be driven."""


def test_packages(host):
    for pkg in ("libvirt-daemon-system", "libvirt-clients", "qemu-system-x86"):
        assert host.package(pkg).is_installed, pkg


def test_sockets_enabled_and_daemon_answers(host):
    for unit in ("libvirtd.socket", "virtlogd.socket"):
        assert host.service(unit).is_enabled, unit
        assert host.service(unit).is_running, unit
    assert host.run("virsh --connect qemu:///system list --all").rc == 0


def test_qemu_capabilities(host):
    caps = host.check_output("virsh --connect qemu:///system capabilities")
    assert "<arch>x86_64</arch>" in caps
    assert "hvm" in caps
