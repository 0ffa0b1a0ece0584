"""Constants shared by the unit tests: the repository root and a valid contract."""

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
