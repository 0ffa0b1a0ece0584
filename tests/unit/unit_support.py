"""Shared by the unit tests: the repository root, a valid contract, a stepped clock."""

import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]

VALID_CONTRACT = {
    "region": "regionOne",
    "transport_url": "rabbit://nova:Sup3rSecret@rabbitmq-cell1.openstack.svc:5672/?ssl=0",
    "notification_transport_url": "rabbit://notif:N0tifSecret@10.0.0.5:5672,notif:N0tifSecret@10.0.0.6:5672/",
    "messaging": {"ssl": False, "quorum_queues": True, "heartbeat_timeout_threshold": 60},
    "keystone": {"internal_url": "http://keystone-internal.openstack.svc:5000",
                 "public_url": "https://keystone-public.apps.example.com"},
    "service_auth": {"username": "nova", "password": "N0vaSecret", "project_name": "service",
                     "user_domain_name": "Default", "project_domain_name": "Default"},
    "ovn_sb_connection": "tcp:10.0.0.30:6642,tcp:10.0.0.31:6642",
    "ca_bundle": "",
    "tls_internal": False,
    "nova_metadata_url": "http://nova-metadata-internal.openstack.svc:8775",
    "metadata_proxy_shared_secret": "M3taSecret",
    "novncproxy_base_url": "https://nova-novncproxy-cell1-public.apps.example.com/vnc_lite.html",
}


class SteppedClock(object):
    """``time`` stand-in for the waits: monotonic seconds move on sleep (and on whatever the test
    advances ``now`` by), while the wall clock ``time()`` is stuck (stepped back by NTP, say).
    More than ``max_sleeps`` sleeps fail the test: the wait never ended, it does not count
    monotonic time."""

    def __init__(self, max_sleeps=100):
        self.now, self.sleeps, self.max_sleeps = 0.0, 0, max_sleeps

    def time(self):
        return 1.0e9

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps += 1
        if self.sleeps > self.max_sleeps:
            raise AssertionError("the wait never ended: it does not count monotonic time")
        self.now += seconds
