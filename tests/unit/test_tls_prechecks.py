"""The cert_problems filter (what the prechecks refuse in a node's certificate) and ovsdb_probe's
connection parser and probe, against a real TLS OVSDB-speaking server on loopback."""

import datetime
import ipaddress
import json
import socket
import ssl
import tempfile
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.tenrec.dataplane.plugins.filter.tls import cert_problems
from ansible_collections.tenrec.dataplane.plugins.modules import ovsdb_probe

NOW = datetime.datetime.now(datetime.timezone.utc)


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def make_ca(name="rootca-ovn"):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW - datetime.timedelta(days=1))
            .not_valid_after(NOW + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert, key


def make_leaf(ca, names=("cmp-0",), ips=("10.0.0.5",), days=(-1, 30), usages=("server", "client")):
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    san = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    eku = {"server": ExtendedKeyUsageOID.SERVER_AUTH, "client": ExtendedKeyUsageOID.CLIENT_AUTH}
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW + datetime.timedelta(days=days[0]))
            .not_valid_after(NOW + datetime.timedelta(days=days[1]))
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.ExtendedKeyUsage([eku[u] for u in usages]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return {"certificate": cert.public_bytes(serialization.Encoding.PEM).decode(), "private_key": _pem_key(key),
            "ca_certificate": ca_cert.public_bytes(serialization.Encoding.PEM).decode()}


@pytest.fixture(scope="module")
def ca():
    return make_ca()


def test_good_certificate_has_no_problem(ca):
    assert cert_problems(make_leaf(ca), ["cmp-0", "10.0.0.5"]) == []


def test_certificate_from_another_ca(ca):
    material = make_leaf(make_ca("some-other-ca"))
    material["ca_certificate"] = make_leaf(ca)["ca_certificate"]
    problems = cert_problems(material, ["cmp-0"])
    assert len(problems) == 1 and "is not signed by ca_certificate (CN=rootca-ovn)" in problems[0], problems


def test_expired_and_not_yet_valid(ca):
    assert cert_problems(make_leaf(ca, days=(-30, -1)))[0].startswith("certificate expired on ")
    assert cert_problems(make_leaf(ca, days=(2, 30)))[0].startswith("certificate is not valid before ")


def test_san_that_does_not_name_the_node(ca):
    problems = cert_problems(make_leaf(ca, names=("cmp-9",), ips=("10.0.0.9",)), ["cmp-0", "10.0.0.5"])
    assert problems == ["certificate's subjectAltName does not name cmp-0 (it names 10.0.0.9, cmp-9)",
                        "certificate's subjectAltName does not name 10.0.0.5 (it names 10.0.0.9, cmp-9)"]


def test_key_of_another_certificate_never_printed(ca):
    material = make_leaf(ca)
    other = make_leaf(ca)
    material["private_key"] = other["private_key"]
    problems = cert_problems(material, ["cmp-0"])
    assert problems == ["private_key does not belong to certificate"]
    assert "PRIVATE KEY" not in " ".join(cert_problems(dict(material, private_key="garbage")))


def test_not_pem():
    assert cert_problems({"certificate": "x"}) == ["certificate is not a PEM X.509 certificate"]


def test_parse_connection():
    assert ovsdb_probe.parse_connection("ssl:10.0.0.1:6642,tcp:[fd00::1]:6642") == [
        ("ssl", "10.0.0.1", 6642, "ssl:10.0.0.1:6642"), ("tcp", "fd00::1", 6642, "tcp:[fd00::1]:6642")]
    for bad in ("", "unix:/run/ovn/sb.sock", "ssl:host", "ptcp:6642"):
        with pytest.raises(ValueError):
            ovsdb_probe.parse_connection(bad)


class TLSOVSDB(threading.Thread):
    """A loopback TLS server answering list_dbs, requiring client certificates of ``client_ca``."""

    def __init__(self, server_material, client_ca_pem):
        super().__init__(daemon=True)
        self.dir = tempfile.mkdtemp()
        paths = {}
        for key in ("certificate", "private_key"):
            paths[key] = "%s/%s.pem" % (self.dir, key)
            with open(paths[key], "w") as handle:
                handle.write(server_material[key])
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(paths["certificate"], paths["private_key"])
        self.context.load_verify_locations(cadata=client_ca_pem)
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]

    def run(self):
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            try:
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    request = json.loads(tls.recv(65536).decode())
                    tls.sendall(json.dumps({"id": request["id"], "result": ["_Server", "OVN_Southbound"],
                                            "error": None}).encode())
            except (ssl.SSLError, OSError, ValueError):
                conn.close()


def _probe(port, material):
    return ovsdb_probe.probe("ssl", "127.0.0.1", port, "OVN_Southbound", material, 5, tempfile.mkdtemp())


def test_probe_over_tls_with_client_certificate(ca):
    server = TLSOVSDB(make_leaf(ca, names=("ovsdbserver",)), make_leaf(ca)["ca_certificate"])
    server.start()
    try:
        assert "OVN_Southbound" in _probe(server.port, make_leaf(ca))
        # a client certificate from a CA the server does not trust: refused, and said so
        with pytest.raises(RuntimeError, match="refused|closed|handshake"):
            _probe(server.port, dict(make_leaf(make_ca("rogue")), ca_certificate=make_leaf(ca)["ca_certificate"]))
        # the node's CA does not sign the server's certificate
        with pytest.raises(RuntimeError, match="server's certificate is not trusted"):
            _probe(server.port, dict(make_leaf(ca), ca_certificate=make_leaf(make_ca("wrong"))["ca_certificate"]))
    finally:
        server.sock.close()


PORTS = [{"port": 6081, "proto": "udp", "owners": ["ovs-vswitchd"], "kernel_device": "genev_sys_6081"},
         {"port": 16514, "proto": "tcp", "owners": ["libvirtd", "systemd"]}]
LINKS = "1: lo: <LOOPBACK,UP> mtu 65536\n7: genev_sys_6081: <BROADCAST,UP> mtu 65000\n9: eth0@if12: <UP> mtu 1500\n"


def test_port_conflicts_tells_the_stack_from_others():
    from ansible_collections.tenrec.dataplane.plugins.filter.ports import port_conflicts
    ovs = 'udp UNCONN 0 0 0.0.0.0:6081 0.0.0.0:* users:(("ovs-vswitchd",pid=88,fd=40))'
    kernel = "udp UNCONN 0 0 0.0.0.0:6081 0.0.0.0:*"
    other = 'tcp LISTEN 0 5 0.0.0.0:16514 0.0.0.0:* users:(("socat",pid=9,fd=3))'
    assert port_conflicts([ovs], PORTS, "") == []
    # the kernel datapath's Geneve device holds 6081/udp on a converged node: the stack's own
    assert port_conflicts([kernel], PORTS, LINKS) == []
    # a kernel socket without the stack's device (another tunnel) is a conflict
    assert port_conflicts([kernel], PORTS, "9: eth0@if12: <UP> mtu 1500\n") == [
        "port 6081/udp is taken by the kernel (no process; not genev_sys_6081)"]
    assert port_conflicts([other], PORTS, LINKS) == ['port 16514/tcp is taken by users:(("socat",pid=9,fd=3))']
