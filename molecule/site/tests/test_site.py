"""The main job on the lab: what an operator checks after `ansible-playbook tenrec.dataplane.site`.

Nova and Placement through openstacksdk, cell mapping with nova-manage, OVN chassis with ovn-sbctl,
the control plane's objects through the lab's Kubernetes API, and
the main job stopping in the prechecks on every node (changing nothing) when RabbitMQ is down.
"""

import importlib.util
import json
import os
import subprocess
import tempfile

import ansible_runner
import openstack
import pytest
import yaml

testinfra_hosts = ["ansible://tenrec-lab-ctl"]

ROOT = os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.getcwd())
INVENTORY = os.path.dirname(os.environ.get("MOLECULE_INVENTORY_FILE", os.path.join(ROOT, "inventories/lab/x")))
VARS = yaml.safe_load(open(os.path.join(ROOT, "inventories/lab/group_vars/all.yml")))
PASSWORD = VARS["lab_controlplane_password"]
PKI = os.path.join(ROOT, "lab/state/pki")  # the lab's CAs (lab_controlplane_pki_dir)
CA_BUNDLE = os.path.join(PKI, "ca-bundle.pem")


def lab_inventory():
    """The lab inventory (inventories/lab/hosts.py) as Ansible sees it: TENREC_LAB_COMPUTES computes."""
    spec = importlib.util.spec_from_file_location("lab_hosts", os.path.join(ROOT, "inventories/lab/hosts.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.inventory()


LAB = lab_inventory()
CTL_IP = LAB["all"]["vars"]["tenrec_lab_hosts"]["tenrec-lab-ctl"]
COMPUTES = {name: LAB["all"]["vars"]["tenrec_lab_hosts"][name] for name in LAB["computes"]["hosts"]}
FIRST = LAB["computes"]["hosts"][0]


@pytest.fixture(scope="module")
def cloud():
    conn = openstack.connect(auth={"auth_url": "https://%s:5000/v3" % CTL_IP, "username": "admin",
                                   "password": PASSWORD, "project_name": "admin", "user_domain_name": "Default",
                                   "project_domain_name": "Default"}, region_name="regionOne", cacert=CA_BUNDLE)
    yield conn
    conn.close()


def cmp_file(name, path):
    """Content of ``path`` on lab host ``name`` (podman exec), for tests without the testinfra host."""
    return subprocess.run(["podman", "exec", name, "cat", path], check=True, capture_output=True, text=True).stdout


def cmp(host, name):
    return host.get_host("ansible://%s" % name, ansible_inventory=host.backend.ansible_inventory)


def lab_api(api_class_name="CustomObjectsApi"):
    """A kubernetes client API (``kubernetes.client.<api_class_name>``) for the lab API, as the main job reaches it."""
    from kubernetes import client, config
    return getattr(client, api_class_name)(config.new_client_from_config(os.path.join(ROOT, "lab/state/kubeconfig")))


def lab_nodeset():
    """The OpenStackDataPlaneNodeSet the main job registers the computes in."""
    return lab_api().get_namespaced_custom_object("dataplane.openstack.org", "v1beta1", "openstack",
                                                  "openstackdataplanenodesets", "tenrec-computes")


def test_computes_up_with_hypervisor_and_resource_provider(cloud):
    services = {s.host: s for s in cloud.compute.services(binary="nova-compute")}
    hypervisors = {h.name: h for h in cloud.compute.hypervisors(details=True)}
    providers = {p.name: p for p in cloud.placement.resource_providers()}
    for name in COMPUTES:
        assert services[name].state == "up" and services[name].status == "enabled", name
        assert name in hypervisors, sorted(hypervisors)
        assert providers[name].id == hypervisors[name].id


def test_computes_mapped_to_cell1(host):
    out = host.check_output("nova-manage cell_v2 list_hosts")
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in out.splitlines() if line.startswith("|")]
    assert {r[2] for r in rows if r[0] == "cell1"} >= set(COMPUTES)


def test_ovn_chassis_with_geneve_and_encap_ip(host):
    data = json.loads(host.check_output("ovn-sbctl --format=json --columns=hostname,encaps list Chassis"))
    chassis = {row[0]: row[1] for row in data["data"]}
    encaps = json.loads(host.check_output("ovn-sbctl --format=json --columns=_uuid,type,ip list Encap"))
    by_uuid = {row[0][1]: (row[1], row[2]) for row in encaps["data"]}
    for name, ip in COMPUTES.items():
        assert name in chassis, sorted(chassis)
        ref = chassis[name]
        uuids = [ref[1]] if ref[0] == "uuid" else [u[1] for u in ref[1]]
        assert ("geneve", ip) in [by_uuid[u] for u in uuids]


def test_controlplane_objects_in_the_lab_api():
    cp = lab_api().get_namespaced_custom_object("core.openstack.org", "v1beta1", "openstack", "openstackcontrolplanes",
                                                "openstack")
    assert cp["status"]["observedGeneration"] == cp["metadata"]["generation"]
    assert [c["status"] for c in cp["status"]["conditions"] if c["type"] == "Ready"] == ["True"]
    nodeset = lab_nodeset()
    assert nodeset["spec"]["preProvisioned"] is True
    assert {n: v["networks"][0]["fixedIP"] for n, v in nodeset["spec"]["nodes"].items()} == COMPUTES


def run_playbook(playbook, extravars=None, cmdline=None, env=None):
    """Run a playbook (a path, or a list of plays) on the lab inventory as ansible-playbook would,
    with this process's ANSIBLE_* and K8S_* environment plus ``env``.

    Returns ``(rc, events, stdout text, stats)``.
    """
    with tempfile.TemporaryDirectory() as tmp:
        if not isinstance(playbook, str):
            os.makedirs(os.path.join(tmp, "project"))
            with open(os.path.join(tmp, "project", "play.yml"), "w") as handle:
                yaml.safe_dump(playbook, handle)
            playbook = "play.yml"
        result = ansible_runner.run(private_data_dir=tmp, playbook=playbook, inventory=INVENTORY, quiet=True,
                                    extravars=extravars or {}, cmdline=cmdline,
                                    envvars=dict({k: v for k, v in os.environ.items()
                                                  if k.startswith(("ANSIBLE_", "K8S_"))}, **(env or {})))
        return result.rc, list(result.events), result.stdout.read(), result.stats or {}


def failures(events):
    """``{host: (play, task, msg)}`` of the task failures that ended a host's run (ignored ones left out)."""
    return {e["event_data"]["host"]: (e["event_data"]["play"], e["event_data"]["task"],
                                      e["event_data"]["res"].get("msg", ""))
            for e in events if e["event"] == "runner_on_failed" and not e["event_data"].get("ignore_errors")}


def test_computes_are_reached_over_ssh_as_cloud_admin_with_become_and_pipelining():
    """As a site reaches its nodes: SSH as the unprivileged cloud-admin with the operator's key and
    checked host keys, become (sudo) to root, pipelining on (-vvv shows no module file copied over);
    root itself has no SSH login."""
    play = [{"name": "who", "hosts": "computes", "gather_facts": False,
             "tasks": [{"name": "whoami", "ansible.builtin.command": "whoami", "changed_when": False}]}]
    rc, events, out, _stats = run_playbook(play, cmdline="-vvv")
    assert rc == 0, out[-3000:]
    users = {e["event_data"]["host"]: e["event_data"]["res"]["stdout"] for e in events if e["event"] == "runner_on_ok"}
    assert users == {name: "root" for name in COMPUTES}
    for ip in COMPUTES.values():
        assert "<%s> ESTABLISH SSH CONNECTION FOR USER: cloud-admin" % ip in out
    assert "sudo -H -S -n" in out
    assert "PUT " not in out, [line for line in out.splitlines() if "PUT " in line][:3]
    for ip in COMPUTES.values():
        root = subprocess.run(["ssh", "-i", os.path.join(ROOT, "lab/state/ssh/id_ed25519"), "-o", "BatchMode=yes",
                               "-o", "UserKnownHostsFile=" + os.path.join(ROOT, "lab/state/ssh/known_hosts"),
                               "root@" + ip, "true"], capture_output=True, text=True, timeout=30, check=False)
        assert root.returncode == 255 and "Permission denied" in root.stderr, (ip, root.stderr)


def test_check_mode_on_the_converged_lab_changes_nothing_and_passes():
    """--check --diff of the whole main job on the converged lab: it runs to the end (the read-only
    probes run in check mode too) and reports no change anywhere."""
    rc, _events, out, stats = run_playbook(os.path.join(ROOT, "playbooks/site.yml"), cmdline="--check --diff")
    assert rc == 0, out[-3000:]
    assert not any(stats.get("changed", {}).values()), stats.get("changed")
    assert set(COMPUTES) <= set(stats.get("ok", {})), stats
    assert PASSWORD not in out


def test_main_job_with_rabbitmq_down_fails_in_prechecks_on_every_node(host):
    """The prechecks pass; with RabbitMQ stopped on the controller the whole main job stops in the
    prechecks, on every node, naming the AMQP endpoint, before any compute role ran."""
    rc, _events, out, _stats = run_playbook(os.path.join(ROOT, "playbooks/prechecks.yml"))
    assert rc == 0, out[-3000:]
    sums = {n: cmp(host, n).file("/etc/nova/nova.conf").sha256sum for n in COMPUTES}
    host.check_output("systemctl stop rabbitmq-server")
    try:
        run = run_playbook(os.path.join(ROOT, "playbooks/site.yml"))
    finally:
        host.check_output("systemctl start rabbitmq-server")
    for msg in failed_in_prechecks(run).values():
        assert "AMQP endpoint amqps://%s:5671/" % CTL_IP in msg and "TCP connection failed" in msg, msg
    roles_ran = [e["event_data"]["task"] for e in run[1]
                 if e["event"].startswith("runner_on_") and e["event_data"].get("play") == "Compute nodes"]
    assert roles_ran == [], roles_ran
    assert {n: cmp(host, n).file("/etc/nova/nova.conf").sha256sum for n in COMPUTES} == sums


PING_NET = {name: ("tenrec-ping-%d" % i, "0a:00:0a:64:00:%02x" % (11 + i), "10.100.0.%d" % (11 + i))
            for i, name in enumerate(COMPUTES)}


@pytest.fixture
def ping_switch(host):
    """A logical switch with one port on each compute: an OVS internal port bound to the logical
    port (external_ids:iface-id), moved into a network namespace, as a VM's tap would be."""
    host.check_output("ovn-nbctl --may-exist ls-add tenrec-ping")
    for name, (port, mac, ip) in PING_NET.items():
        host.check_output("ovn-nbctl --may-exist lsp-add tenrec-ping %s -- lsp-set-addresses %s '%s %s'",
                          port, port, mac, ip)
        cmp(host, name).check_output(
            "ovs-vsctl --may-exist add-port br-int %s -- set interface %s type=internal external_ids:iface-id=%s"
            " && ip netns add %s && ip link set %s netns %s"
            " && ip -n %s link set %s address %s && ip -n %s addr add %s/24 dev %s && ip -n %s link set %s up",
            port, port, port, port, port, port, port, port, mac, port, ip, port, port, port)
    try:
        yield
    finally:
        for name, (port, _mac, _ip) in PING_NET.items():
            cmp(host, name).run("ip netns del %s; ovs-vsctl --if-exists del-port br-int %s", port, port)
        host.run("ovn-nbctl --if-exists ls-del tenrec-ping")


@pytest.mark.skipif(len(COMPUTES) < 2, reason="a Geneve tunnel needs two computes (TENREC_LAB_COMPUTES)")
def test_ping_across_the_geneve_tunnel(host, ping_switch):
    for port, _mac, _ip in PING_NET.values():
        # bound to a chassis and up, as nova waits for before a VM boots
        host.check_output("ovn-nbctl --timeout=60 wait-until Logical_Switch_Port %s up=true", port)
    chassis = {}
    for port, _mac, _ip in PING_NET.values():
        rows = json.loads(host.check_output(
            "ovn-sbctl --format=json --columns=chassis find Port_Binding logical_port=" + port))["data"]
        chassis[port] = rows[0][0][1]
    assert len(set(chassis.values())) == len(COMPUTES), "every port bound, each on its own chassis: %s" % chassis
    src_port = PING_NET[FIRST][0]
    for name, (_port, _mac, dst_ip) in PING_NET.items():
        if name != FIRST:
            out = cmp(host, FIRST).run("ip netns exec %s ping -c 3 -W 2 %s", src_port, dst_ip)
            assert out.rc == 0 and " 0% packet loss" in out.stdout, name + ": " + out.stdout + out.stderr


def test_amqp_probe_tells_a_refused_login_from_a_good_one():
    """The prechecks' AMQP login is a real one: RabbitMQ refuses a wrong password, accepts the contract's.
    The password is a variable, as in the prechecks, and never reaches the output."""
    play = [{"hosts": FIRST, "gather_facts": False, "tasks": [
        {"name": "The lab's CA bundle",
         "ansible.builtin.copy": {"src": CA_BUNDLE, "dest": "/tmp/tenrec-lab-ca.pem", "mode": "0644"}},
        {"name": "Log in to RabbitMQ", "tenrec.dataplane.amqp_probe": {
            "url": "rabbit://nova:{{ probe_password }}@%s:5671/?ssl=1" % CTL_IP, "ca_file": "/tmp/tenrec-lab-ca.pem",
            "timeout": 5}}]}]
    rc, _events, out, _stats = run_playbook(play, {"probe_password": PASSWORD})
    assert rc == 0, out[-2000:]
    rc, _events, out, _stats = run_playbook(play, {"probe_password": "not-the-password"})
    assert rc != 0
    assert "AMQP endpoint amqps://%s:5671/: login refused for user 'nova'" % CTL_IP in out, out[-2000:]
    assert "not-the-password" not in out


def set_contract(expression, fact="tenrec_controlplane"):
    """A task setting ``fact`` on every node to a Jinja ``expression`` (``cp`` is the node's contract)."""
    return {"name": "Set " + fact, "no_log": True, "ansible.builtin.set_fact": {fact: "{{ %s }}" % expression},
            "vars": {"cp": "{{ tenrec_controlplane }}"}}


def failed_in_prechecks(run):
    """Assert the run ``(rc, events, out, stats)`` of the prechecks failed on every compute in the report
    task, changing nothing and printing no password or private key; return ``{host: message}``."""
    rc, events, out, stats = run
    assert rc != 0, out[-3000:]
    failed = failures(events)
    assert set(failed) == set(COMPUTES), out[-3000:]
    assert {(p, t) for p, t, _m in failed.values()} == {
        ("Prechecks on the compute nodes", "Report every failed check of this node at once")}, failed
    assert not any(stats.get("changed", {}).get(n) for n in COMPUTES), stats.get("changed")
    assert PASSWORD not in out and "BEGIN PRIVATE KEY" not in out and "BEGIN EC PRIVATE KEY" not in out
    return {h: m for h, (_p, _t, m) in failed.items()}


def prechecks_failures(tasks, extravars):
    """The contract and certificates plays, ``tasks`` on every compute, then the prechecks, which must
    fail on every node (:func:`failed_in_prechecks`); returns ``{host: message}``."""
    return failed_in_prechecks(run_playbook([
        {"ansible.builtin.import_playbook": os.path.join(ROOT, "playbooks/certificates.yml")},
        {"name": "Change the contract", "hosts": "computes", "gather_facts": False, "tasks": tasks},
        {"ansible.builtin.import_playbook": os.path.join(ROOT, "playbooks/prechecks.yml")}], extravars))


def test_prechecks_with_a_wrong_ca_name_each_tls_endpoint():
    """A CA bundle that does not sign the control plane's endpoints (only rootca-libvirt): RabbitMQ,
    Keystone and the OVN SB each fail the TLS handshake, named, on every node."""
    libvirt_ca = open(os.path.join(PKI, "rootca-libvirt.crt")).read()
    change = ("cp | combine({'ca_bundle': lab_libvirt_ca, 'certificates': {'ovn': cp.certificates.ovn"
              " | combine({'ca_certificate': lab_libvirt_ca})}}, recursive=true)")
    for msg in prechecks_failures([set_contract(change)], {"lab_libvirt_ca": libvirt_ca}).values():
        assert "AMQP endpoint amqps://%s:5671/: TLS handshake failed" % CTL_IP in msg, msg
        assert "certificate verify failed" in msg, msg
        assert "Keystone https://%s:5000/v3" % CTL_IP in msg, msg
        assert "OVN SB DB ssl:%s:6642: TLS: the server's certificate is not trusted" % CTL_IP in msg, msg
        # the node's ovn certificate is not signed by that CA either
        assert "ovn certificate of " in msg and "is not signed by ca_certificate" in msg, msg


def test_prechecks_refuse_a_certificate_that_does_not_name_the_node():
    """Each node given the other node's ovn certificate: the prechecks name the node and the SAN."""
    others = dict(zip(COMPUTES, list(COMPUTES)[1:] + list(COMPUTES)[:1]))
    if len(COMPUTES) < 2:
        pytest.skip("needs two computes")
    change = ("cp | combine({'certificates': {'ovn': hostvars[lab_other[inventory_hostname]]"
              ".tenrec_controlplane.certificates.ovn}}, recursive=true)")
    failed = prechecks_failures([set_contract(change, "__swapped"), set_contract("__swapped")], {"lab_other": others})
    for name, msg in failed.items():
        assert ("ovn certificate of %s: certificate's subjectAltName does not name %s" % (name, name)) in msg, msg


def test_prechecks_refuse_an_expired_certificate(tmp_path):
    """An ovn certificate signed by the right CA (rootca-ovn) that expired yesterday."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    ca_cert = x509.load_pem_x509_certificate(open(os.path.join(PKI, "rootca-ovn.crt"), "rb").read())
    ca_key = serialization.load_pem_private_key(open(os.path.join(PKI, "rootca-ovn.key"), "rb").read(), None)
    now = datetime.datetime.now(datetime.timezone.utc)
    material = {}
    for name in COMPUTES:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=30)).not_valid_after(now - datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        material[name] = {"certificate": cert.public_bytes(serialization.Encoding.PEM).decode(),
                          "private_key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()).decode(),
                          "ca_certificate": ca_cert.public_bytes(serialization.Encoding.PEM).decode()}
    change = "cp | combine({'certificates': {'ovn': lab_expired[inventory_hostname]}}, recursive=true)"
    for name, msg in prechecks_failures([set_contract(change)], {"lab_expired": material}).items():
        assert "ovn certificate of %s: certificate expired on " % name in msg, msg


def test_ovn_controller_reaches_the_sb_over_ssl_at_db_address(host):
    """Every compute's ovn-remote is the OVNDBCluster's dbAddress (ssl:, the controller's address; the
    cluster-only internalDbAddress name does not resolve there), connected; the SB listens pssl:."""
    assert "pssl:6642" in host.check_output("ovn-sbctl get-connection")
    for name in COMPUTES:
        node = cmp(host, name)
        remote = node.check_output("ovs-vsctl get Open_vSwitch . external_ids:ovn-remote").strip('"')
        assert remote == "ssl:%s:6642" % CTL_IP, (name, remote)
        assert node.check_output("ovn-appctl -t ovn-controller connection-status").strip() == "connected", name
        key = node.file("/etc/pki/tls/private/ovn_controller.key")
        assert (key.mode, key.user) == (0o600, "root"), (name, oct(key.mode), key.user)


def test_nova_compute_speaks_tls_to_rabbitmq(host):
    """rabbitmqctl: every compute's nova-compute connections are TLS ones (5671 is the only listener)."""
    rows = json.loads(host.check_output("rabbitmqctl -q list_connections peer_host ssl user --formatter json"))
    by_peer = {}
    for row in rows:  # peer_host: an IPv4-mapped IPv6 address as 8 16-bit groups
        peer = row["peer_host"]
        if isinstance(peer, list):
            peer = ".".join(str(b) for g in peer[-2:] for b in (g >> 8, g & 255))
        by_peer.setdefault(peer, set()).add((row["user"], row["ssl"]))
    for name, ip in COMPUTES.items():
        assert by_peer.get(ip) == {("nova", True)}, (name, by_peer)


def test_every_node_certificate_is_issued_ready_and_installed(host):
    """The lab API (cert-manager's stand-in) holds a Ready Certificate per node and service; the keys on
    the nodes are 0600 and owned by the services' users."""
    certs = lab_api().list_namespaced_custom_object("cert-manager.io", "v1", "openstack", "certificates")["items"]
    ready = {(c["metadata"]["labels"].get("tenrec.dev/node"), c["metadata"]["labels"].get("tenrec.dev/service"))
             for c in certs if [x["status"] for x in c.get("status", {}).get("conditions", [])
                                if x["type"] == "Ready"] == ["True"]}
    for name in COMPUTES:
        assert {(name, s) for s in ("ovn", "neutron_metadata", "libvirt")} <= ready, sorted(ready)
        node = cmp(host, name)
        for path, user in (("/etc/pki/tls/private/ovn_controller.key", "root"),
                           ("/etc/pki/libvirt/private/serverkey.pem", "root")):
            f = node.file(path)
            assert f.exists and (f.mode, f.user) == (0o600, user), (name, path, oct(f.mode), f.user)


def test_wait_names_each_host_that_is_not_in_and_what_it_lacks():
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Wait for the computes", "tenrec.dataplane.compute_service_info": {
            "cloud": "{{ tenrec_openstack_cloud }}", "hosts": [FIRST, "tenrec-lab-cmp-99"],
            "wait": True, "timeout": 4, "delay": 2}}]}]
    rc, _events, out, _stats = run_playbook(play)
    assert rc != 0
    assert ("compute hosts not ready after 4 s: tenrec-lab-cmp-99: no nova-compute service, no hypervisor, "
            "no Placement resource provider, no OVN Controller agent alive in Neutron") in out, out[-2000:]
    assert FIRST + ":" not in out
    assert PASSWORD not in out


VMS = {name: "tenrec-lab-vm-" + name for name in COMPUTES}  # lab/instances.yml boots one per compute


@pytest.fixture(scope="module")
def instances(cloud):
    """``{compute: (server, port)}`` of the instances lab/instances.yml booted."""
    out = {}
    for name, vm in VMS.items():
        server = cloud.compute.find_server(vm, ignore_missing=False)
        server = cloud.compute.get_server(server.id)
        ports = list(cloud.network.ports(device_id=server.id))
        assert len(ports) == 1, (vm, ports)
        out[name] = (server, ports[0])
    return out


def console(cloud, server):
    return cloud.compute.get_server_console_output(server).get("output") or ""


def guest_problems(cloud, instances):
    """What each guest's console says went wrong: ``{compute: [problem, ...]}``, empty when every
    guest got its lease from OVN, its own metadata, and an answer from each peer."""
    problems = {}
    ips = {name: port.fixed_ips[0]["ip_address"] for name, (_server, port) in instances.items()}
    for name, (server, _port) in instances.items():
        log = console(cloud, server)
        found = []
        if "tenrec-guest: dhcp eth0 %s/" % ips[name] not in log:
            found.append("no DHCP lease for %s" % ips[name])
        if "tenrec-guest: metadata uuid %s" % server.id not in log:
            found.append("no metadata with its own uuid")
        for peer, ip in ips.items():
            if peer != name and "tenrec-guest: ping %s ok" % ip not in log:
                found.append("no answer from %s (%s)" % (ip, peer))
        if found:
            problems[name] = found + ["console: " + " | ".join(line for line in log.splitlines() if "tenrec-guest" in line)]
    return problems


def test_an_instance_is_active_on_every_compute_with_its_port_bound_there(instances):
    for name, (server, port) in instances.items():
        assert (server.status, server.compute_host) == ("ACTIVE", name), (server.name, server.status, server.fault)
        assert (port.binding_host_id, port.binding_vif_type, port.status) == (name, "ovs", "ACTIVE"), port


def test_guests_get_their_lease_from_ovn_their_metadata_and_reach_each_other(cloud, instances):
    """Each guest's console: the address OVN's DHCP handed out (the port's fixed IP), the metadata
    service's answer carrying the instance's own uuid, and a ping answered by every peer instance
    (each on another compute: across the Geneve tunnel)."""
    assert guest_problems(cloud, instances) == {}


def test_every_instance_answers_ping_from_its_compute(host, instances):
    """From outside the guest: the compute's metadata namespace (ovnmeta-<network>, an OVN localport,
    which by design reaches only the instances on its own chassis) pings the instance there; the
    guests' own pings above cross the Geneve tunnel."""
    for name, (_server, port) in instances.items():
        ip = port.fixed_ips[0]["ip_address"]
        out = cmp(host, name).run("ip netns exec ovnmeta-%s ping -c 3 -W 2 %s", port.network_id, ip)
        assert out.rc == 0 and " 0% packet loss" in out.stdout, name + ": " + out.stdout + out.stderr


def test_prechecks_name_placement_when_it_is_down(host):
    """Placement stopped on the controller: the prechecks fail on every node naming the catalog's
    Placement endpoint (the main job used to fail only in the discover wait, naming nothing)."""
    host.check_output("systemctl stop placement-api")
    try:
        failed = failed_in_prechecks(run_playbook(os.path.join(ROOT, "playbooks/prechecks.yml")))
    finally:
        host.check_output("systemctl start placement-api")
    for msg in failed.values():
        assert "placement endpoint https://%s:8778" % CTL_IP in msg, msg


def pids(node, units):
    """``{unit: MainPID}`` of systemd ``units`` on ``node``."""
    return {u: node.check_output("systemctl show -p MainPID --value %s", u) for u in units}


def test_a_renewed_certificate_replaces_the_old_and_restarts_only_its_service(host):
    """cert-manager renews cmp-0's ovn certificate (its Secret deleted: the stand-in issues a new key
    and certificate, as on renewal); the main job re-run installs it on that node only and restarts
    ovn-controller there, and nothing else."""
    import time
    from kubernetes import client
    core = lab_api("CoreV1Api")
    units = ["ovn-controller", "nova-compute", "neutron-ovn-metadata-agent", "libvirtd"]
    before = {n: (pids(cmp(host, n), units), cmp(host, n).file("/etc/pki/tls/certs/ovn_controller.crt").content_string)
              for n in COMPUTES}
    secret = "cert-ovn-" + FIRST
    core.delete_namespaced_secret(secret, "openstack")
    deadline = time.monotonic() + 60
    while True:
        try:
            core.read_namespaced_secret(secret, "openstack")
            break
        except client.ApiException:
            assert time.monotonic() < deadline, "the Certificate was not re-issued"
            time.sleep(1)
    rc, _events, out, stats = run_playbook(os.path.join(ROOT, "playbooks/site.yml"))
    assert rc == 0, out[-3000:]
    assert stats.get("changed", {}).get(FIRST), stats.get("changed")
    for name in COMPUTES:
        node = cmp(host, name)
        now_pids, now_cert = pids(node, units), node.file("/etc/pki/tls/certs/ovn_controller.crt").content_string
        old_pids, old_cert = before[name]
        if name == FIRST:
            assert now_cert != old_cert
            assert now_pids["ovn-controller"] != old_pids["ovn-controller"]
            assert {u: p for u, p in now_pids.items() if u != "ovn-controller"} == \
                {u: p for u, p in old_pids.items() if u != "ovn-controller"}
            assert node.check_output("ovn-appctl -t ovn-controller connection-status").strip() == "connected"
        else:
            assert (now_pids, now_cert) == (old_pids, old_cert), name
            assert not stats.get("changed", {}).get(name), stats.get("changed")


def test_prechecks_refuse_kvm_where_kvm_does_not_work():
    """nova_compute_virt_type kvm on the lab computes (QEMU runs with TCG there, no usable KVM): the
    prechecks fail on every node with the probe's reason, before anything changes."""
    failed = failed_in_prechecks(run_playbook(os.path.join(ROOT, "playbooks/prechecks.yml"),
                                              {"nova_compute_virt_type": "kvm"}))
    for msg in failed.values():
        assert "virt_type kvm is asked (nova_compute_virt_type) but " in msg, msg
