"""Parsers behind amqp_probe (oslo.messaging transport URLs) and cell_discover_hosts (nova-manage
output, in the format nova 26 (Zed) prints; the site scenario runs them against the real command)."""

import pytest

from ansible_collections.tenrec.dataplane.plugins.module_utils import nova_manage
from ansible_collections.tenrec.dataplane.plugins.modules import amqp_probe, cell_discover_hosts, compute_drain

# nova-manage cell_v2 discover_hosts --by-service --verbose, new hosts found
DISCOVER_NEW = """Found 2 cell mappings.
Skipping cell0 since it does not contain hosts.
Getting computes from cell 'cell1': 1c0d1e7e-0b63-4d0a-9a0e-6c4b1b4f8d2a
Creating host mapping for service tenrec-lab-cmp-0
Creating host mapping for service tenrec-lab-cmp-1
Found 2 unmapped computes in cell: 1c0d1e7e-0b63-4d0a-9a0e-6c4b1b4f8d2a
"""
# the same command without --by-service (mapping by compute node)
DISCOVER_BY_NODE = """Getting computes from cell 'cell1': 1c0d1e7e-0b63-4d0a-9a0e-6c4b1b4f8d2a
Checking host mapping for compute host 'cmp-7': 3f2a
Creating host mapping for compute host 'cmp-7': 3f2a
Found 1 unmapped computes in cell: 1c0d1e7e-0b63-4d0a-9a0e-6c4b1b4f8d2a
"""
# nothing new
DISCOVER_NONE = """Found 2 cell mappings.
Skipping cell0 since it does not contain hosts.
Getting computes from cell 'cell1': 1c0d1e7e-0b63-4d0a-9a0e-6c4b1b4f8d2a
Found 0 unmapped computes in cell: 1c0d1e7e-0b63-4d0a-9a0e-6c4b1b4f8d2a
"""
LIST_HOSTS = """+-----------+--------------------------------------+------------------+
| Cell Name |              Cell UUID               |     Hostname     |
+-----------+--------------------------------------+------------------+
|   cell1   | 1c0d1e7e-0b63-4d0a-9a0e-6c4b1b4f8d2a | tenrec-lab-cmp-0 |
|   cell1   | 1c0d1e7e-0b63-4d0a-9a0e-6c4b1b4f8d2a | tenrec-lab-cmp-1 |
|   cell2   | 9d0d1e7e-0b63-4d0a-9a0e-6c4b1b4f8d2a | other-cmp        |
+-----------+--------------------------------------+------------------+
"""


@pytest.mark.parametrize("text,hosts", [
    (DISCOVER_NEW, ["tenrec-lab-cmp-0", "tenrec-lab-cmp-1"]),
    (DISCOVER_BY_NODE, ["cmp-7"]),
    (DISCOVER_NONE, []),
])
def test_discover_output_names_newly_mapped_hosts(text, hosts):
    assert cell_discover_hosts.parse_mapped(text) == hosts


def test_list_hosts_table_by_cell():
    assert cell_discover_hosts.parse_list_hosts(LIST_HOSTS, "cell1") == ["tenrec-lab-cmp-0", "tenrec-lab-cmp-1"]
    assert cell_discover_hosts.parse_list_hosts(LIST_HOSTS, "cell2") == ["other-cmp"]
    assert cell_discover_hosts.parse_list_hosts(LIST_HOSTS, "cell3") == []


@pytest.mark.parametrize("url,expected", [
    ("rabbit://nova:Sup3r@rabbitmq-cell1.openstack.svc:5672/?ssl=0",
     [("nova", "Sup3r", "rabbitmq-cell1.openstack.svc", 5672, "/", False)]),
    ("rabbit://nova:p%40ss%3Aword@10.0.0.5:5671,nova:p%40ss%3Aword@10.0.0.6:5671/nova?ssl=1",
     [("nova", "p@ss:word", "10.0.0.5", 5671, "nova", True), ("nova", "p@ss:word", "10.0.0.6", 5671, "nova", True)]),
    ("rabbit://u:p@[fd00::5]:5672/", [("u", "p", "fd00::5", 5672, "/", False)]),
    ("amqps://u:p@broker/", [("u", "p", "broker", 5671, "/", True)]),
    ("rabbit://u:p@broker", [("u", "p", "broker", 5672, "/", False)]),
])
def test_transport_url_hosts(url, expected):
    assert amqp_probe.parse_transport_url(url) == expected


def test_transport_url_with_another_scheme_is_refused():
    with pytest.raises(ValueError, match="expected rabbit://"):
        amqp_probe.parse_transport_url("kafka://u:p@broker:9092/")


LIST_CELLS = """+-------+--------------------------------------+-----------------------------------+---------------------------------+----------+
|  Name |                 UUID                 |           Transport URL           |       Database Connection       | Disabled |
+-------+--------------------------------------+-----------------------------------+---------------------------------+----------+
| cell0 | 00000000-0000-0000-0000-000000000000 |               none:/              | mysql+pymysql://nova:****@db/n0 |  False   |
| cell1 | 5b0c4c7e-3b8e-4a3e-9d0b-3e1f6c1d2a11 | rabbit://nova:****@rabbit:5671/?s |  mysql+pymysql://nova:****@db/n |  False   |
+-------+--------------------------------------+-----------------------------------+---------------------------------+----------+
"""


def test_parse_cell_uuid():
    assert nova_manage.parse_cell_uuid(LIST_CELLS, "cell1") == "5b0c4c7e-3b8e-4a3e-9d0b-3e1f6c1d2a11"
    assert nova_manage.parse_cell_uuid(LIST_CELLS, "cell0") == "00000000-0000-0000-0000-000000000000"
    assert nova_manage.parse_cell_uuid(LIST_CELLS, "cell2") is None


class _Server(object):
    def __init__(self, name, status, task_state=None):
        self.name, self.id, self.status, self.task_state = name, "id-" + name, status, task_state


def test_drain_refuses_servers_that_cannot_move():
    servers = [_Server("a", "ACTIVE"), _Server("p", "PAUSED"), _Server("s", "SHUTOFF"), _Server("e", "ERROR"),
               _Server("m", "ACTIVE", "migrating"), _Server("r", "RESCUE")]
    assert compute_drain.unmovable(servers) == [
        "e (id-e): status ERROR, task None", "m (id-m): status ACTIVE, task migrating",
        "r (id-r): status RESCUE, task None"]
