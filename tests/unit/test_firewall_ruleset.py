"""The firewall role's nftables ruleset as it renders: the inventory's compute addresses in the sets
(IPv4 and IPv6 apart, whatever host runs), the ports of each service from the right sources only, SSH
with the port Ansible uses, the extra rules last. nft itself checks the file on the node (the
template's validate) and the site scenario loads it."""

import re

from test_nova_conf import render_role


def ruleset(tmp_path, inventory_hosts=None, **extra):
    out = render_role(tmp_path, "firewall", ["tenrec-dataplane.nft.j2"], "Debian", inventory_hosts=inventory_hosts,
                      firewall_enabled=True, **extra)
    return (out / "tenrec-dataplane.nft").read_text()


def elements(text, name):
    match = re.search(r"set %s \{[^}]*?(?:elements = \{ ([^}]*) \})?\s*\}" % name, text)
    assert match, text
    return sorted(e.strip() for e in (match.group(1) or "").split(",") if e.strip())


def test_sources_ports_and_extra_rules(tmp_path):
    text = ruleset(tmp_path, firewall_compute_sources=["10.0.1.0/24", "10.0.2.7", "fd00::/64"],
                   firewall_vnc_sources=["10.0.9.5"], ansible_port=2222,
                   firewall_extra_rules=["tcp dport 9100 ip saddr 10.0.0.0/24 accept"])
    assert elements(text, "computes4") == ["10.0.1.0/24", "10.0.2.7"]
    assert elements(text, "computes6") == ["fd00::/64"]
    assert elements(text, "vnc4") == ["10.0.9.5"] and elements(text, "vnc6") == []
    assert "type filter hook input priority filter; policy drop;" in text
    assert "tcp dport { 22, 2222 } accept" in text
    assert "ip saddr @computes4 udp dport 6081 accept" in text
    assert "ip saddr @computes4 tcp dport { 16514, 49152-49215 } accept" in text
    assert "ip saddr @vnc4 tcp dport 5900-5999 accept" in text
    assert text.index("ip saddr @vnc4") < text.index("tcp dport 9100 ip saddr 10.0.0.0/24 accept")
    # replaced in one transaction: created when missing, deleted, defined again
    assert text.index("table inet tenrec_dataplane\n") < text.index("delete table inet tenrec_dataplane") \
        < text.index("table inet tenrec_dataplane {")


def test_default_sources_come_from_the_inventory_of_every_compute(tmp_path):
    hosts = {"cmp-a": {"ansible_host": "10.1.0.11", "ovn_controller_encap_ip": "10.2.0.11"},
             "cmp-b": {"ansible_host": "cmp-b.example.com", "nova_compute_my_ip": "10.3.0.12"}}
    text = ruleset(tmp_path, firewall_compute_hosts=list(hosts), inventory_hosts=hosts)
    assert elements(text, "computes4") == ["10.1.0.11", "10.2.0.11", "10.3.0.12"]
