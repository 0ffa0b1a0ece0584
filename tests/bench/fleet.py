"""Benchmark of the data-plane path on the lab (make bench): figures and ratios printed, not a timed test.

One run, on one lab of TENREC_BENCH_COMPUTES computes (default 4) built from the same image:
  1. the compute phase (dataplane.yml's "Compute nodes" play) on two fresh computes at once, next to
     the floor: a plain script on two other fresh computes at once that installs the same packages in
     one apt transaction per node and writes the same configuration (the files under /etc that the
     roles' run left on the first node, its names and addresses replaced), then the same
     ovs-vsctl settings and service starts; ratio = compute phase / script;
  2. the no-op re-run of the whole main job (site.yml) over two converged computes: total and per node;
  3. the no-op main job over N = 1, 2, 4 computes: wall time and the controller's CPU seconds (the
     ansible-playbook process and everything it ran: workers, ssh), per node; a straight line fit of
     CPU against N, and what it gives for 1,000 nodes;
  4. the control-plane API figures (tests/bench/bench.py).
The lab is created at the start (an existing one is destroyed first) and destroyed at the end
(TENREC_BENCH_KEEP=1 keeps it). Everything runs on this machine: the figures say what this machine's
cores do, with the lab's containers competing with the controller for them.
"""

import os
import pathlib
import re
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
COUNT = int(os.environ.get("TENREC_BENCH_COMPUTES", "4"))
ENV = dict(os.environ, TENREC_LAB_COMPUTES=str(COUNT), ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
NODES = ["tenrec-lab-cmp-%d" % i for i in range(COUNT)]
PREFIX = os.environ.get("TENREC_LAB_PREFIX", "10.88.20")
IP = {name: "%s.%d" % (PREFIX, 11 + i) for i, name in enumerate(NODES)}
ROLES = ["bootstrap", "firewall", "libvirt", "ovn_controller", "neutron_metadata", "nova_compute"]
# what the roles start and enable on Debian (the plain script does the same)
SERVICES = ["libvirtd-tls.socket", "libvirtd.service", "ovn-host.service", "neutron-ovn-metadata-agent.service",
            "nova-compute.service"]


def step(msg):
    print("bench: %s" % msg, flush=True)


def cpu_children():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def ssh_masters():
    """``{pid: cpu seconds}`` of the ssh ControlMaster processes Ansible left running (``ssh: ~/.ansible/cp/<hash> [mux]``):
    they detach from ansible-playbook, so its rusage leaves their CPU (the SSH crypto) out."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for proc in pathlib.Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes() if proc.name.isdigit() else b""
            if cmdline.startswith(b"ssh: ") and b"/.ansible/cp/" in cmdline and b"[mux]" in cmdline:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                out[int(proc.name)] = (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            continue
    return out


def stop_masters():
    """Stop the ssh ControlMasters of the last run (started by this benchmark's ansible-playbook), by pid."""
    for pid in ssh_masters():
        try:
            os.kill(pid, 15)
        except OSError:
            pass


def run(argv, **kwargs):
    done = subprocess.run(argv, capture_output=True, text=True, env=kwargs.pop("env", ENV), check=False, **kwargs)
    if done.returncode != 0:
        raise SystemExit("bench: %s failed (rc=%d):\n%s%s" % (" ".join(argv[:4]), done.returncode,
                                                              done.stdout[-3000:], done.stderr[-3000:]))
    return done.stdout


def playbook(name, limit=None, extra=None):
    """ansible-playbook <name> on the lab inventory; ``{wall, cpu, plays: {play: s}, changed: {host: n}}``.

    ``cpu`` is the CPU seconds (user + system) of ansible-playbook and everything it ran and reaped,
    plus the ssh ControlMasters it left (started fresh for each run)."""
    with tempfile.TemporaryDirectory() as tmp:
        times = os.path.join(tmp, "play-times.txt")
        argv = ["ansible-playbook", "-i", str(ROOT / "inventories/lab"), str(ROOT / "playbooks" / name)]
        if limit is not None:
            argv += ["--limit", ",".join(limit + ["localhost"])]
        for key, value in (extra or {}).items():
            argv += ["-e", "%s=%s" % (key, value)]
        stop_masters()  # each run starts its own SSH connections: their CPU is counted below
        time.sleep(0.5)
        cpu0, wall0 = cpu_children(), time.monotonic()
        out = run(argv, env=dict(ENV, TENREC_PLAY_TIMES_FILE=times))
        wall, cpu = time.monotonic() - wall0, cpu_children() - cpu0 + sum(ssh_masters().values())
        plays = {}
        for line in pathlib.Path(times).read_text().splitlines():
            match = re.match(r"^(.*?)\s+([0-9.]+) s", line)
            if match:
                plays[match.group(1).strip()] = float(match.group(2))
    changed = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", out, re.M)}
    return dict(wall=wall, cpu=cpu, plays=plays, changed=changed)


def podman(node, *argv, stdin=None):
    return subprocess.run(["podman", "exec", "-i", node, *argv], input=stdin, capture_output=True, check=True).stdout


def managed_packages():
    """The packages the roles install on Debian (their vars files), less chrony (no time sync in a container)."""
    out = []
    for role in ROLES:
        data = yaml.safe_load((ROOT / "roles" / role / "vars" / "Debian.yml").read_text()) or {}
        for key, value in data.items():
            if re.search(r"_packages?$", key):
                out.extend(value if isinstance(value, list) else [value])
    return [p for p in dict.fromkeys(out) if p != "chrony"]


def plain_script(source, marker):
    """The floor's script and its payload, from ``source`` after the roles ran on it.

    Returns ``(script text, tarball bytes)``: the files under /etc newer than ``marker`` (what the
    roles and the packages they installed wrote), Open vSwitch's external_ids and SSL settings."""
    files = podman(source, "sh", "-c", "find /etc -newer %s \\( -type f -o -type l \\) -print0 | "
                   "tar --null -T - -cf - 2>/dev/null" % marker)
    ids = podman(source, "ovs-vsctl", "get", "Open_vSwitch", ".", "external_ids").decode().strip().strip("{}")
    ssl = podman(source, "ovs-vsctl", "get-ssl").decode()
    pairs = re.findall(r'([A-Za-z0-9_.:-]+)=("(?:[^"\\]|\\.)*"|[^,]*)', ids)
    sets = " ".join(shlex.quote('external_ids:%s="%s"' % (k, v.strip().strip('"'))) for k, v in pairs)
    key = re.search(r"^Private key: (.*)$", ssl, re.M)
    cert = re.search(r"^Certificate: (.*)$", ssl, re.M)
    ca = re.search(r"^CA Certificate: (.*)$", ssl, re.M)
    script = """set -e
export DEBIAN_FRONTEND=noninteractive
printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d; chmod 0755 /usr/sbin/policy-rc.d
apt-get update -q >/dev/null
apt-get install -y -q -o Dpkg::Options::=--force-confold %(packages)s >/dev/null
rm -f /usr/sbin/policy-rc.d
tar -xf /tmp/bench-payload.tar -C /
tar -tf /tmp/bench-payload.tar | sed 's|^|/|' | while read -r f; do
  if [ -f "$f" ] && [ ! -L "$f" ]; then sed -i -e 's/@SOURCE@/@TARGET@/g' -e 's/@SOURCE_IP@/@TARGET_IP@/g' "$f"; fi
done
rm -f /tmp/bench-payload.tar
sysctl -q --system >/dev/null || true  # as bootstrap: what a container's kernel refuses is not fatal here
[ ! -f /etc/nftables.conf ] || nft -f /etc/nftables.conf
ovs-vsctl set Open_vSwitch . %(sets)s
%(ssl)s
systemctl daemon-reload
systemctl stop libvirtd.service
systemctl enable -q --now %(services)s
""" % dict(packages=" ".join(managed_packages()), sets=sets, services=" ".join(SERVICES),
           ssl=("ovs-vsctl set-ssl %s %s %s" % (key.group(1), cert.group(1), ca.group(1))) if key else "")
    return script.replace("@SOURCE_IP@", IP[source].replace(".", "\\.")).replace("@SOURCE@", source), files


def apply_plain(node, script, files):
    target = script.replace("@TARGET_IP@", IP[node]).replace("@TARGET@", node)
    podman(node, "sh", "-c", "cat > /tmp/bench-payload.tar", stdin=files)
    podman(node, "bash", "-c", target)


def median_run(runs, *args, **kwargs):
    results = [playbook(*args, **kwargs) for _run in range(runs)]
    wall = statistics.median(r["wall"] for r in results)
    cpu = statistics.median(r["cpu"] for r in results)
    return wall, cpu, results


def fit(points):
    """Least squares ``(a, b)`` of y = a + b x over ``[(x, y)]``."""
    n = len(points)
    xs, ys = [x for x, _y in points], [y for _x, y in points]
    mx, my = sum(xs) / n, sum(ys) / n
    b = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


def lab(action):
    t0 = time.monotonic()
    run(["molecule", action, "-s", "site"], cwd=str(ROOT))
    return time.monotonic() - t0


def main():
    if COUNT < 4:
        raise SystemExit("bench: TENREC_BENCH_COMPUTES must be at least 4 (two fresh pairs, N up to 4)")
    step("a lab of %d computes (molecule create -s site; an existing lab is destroyed first)" % COUNT)
    lab("destroy")
    step("lab created in %.0f s" % lab("create"))
    figures = []
    try:
        roles_pair, plain_pair = NODES[:2], NODES[2:4]
        for node in roles_pair:
            podman(node, "touch", "/run/bench-marker")
        time.sleep(1.1)  # files the roles write are strictly newer than the marker
        step("the control plane first, not measured (controlplane_bootstrap.yml, controlplane.yml)")
        playbook("controlplane_bootstrap.yml")
        playbook("controlplane.yml")
        step("1. compute phase on fresh %s (dataplane.yml)" % ", ".join(roles_pair))
        fresh = playbook("dataplane.yml", limit=roles_pair)
        phase = fresh["plays"].get("Compute nodes", fresh["wall"])
        script, files = plain_script(roles_pair[0], "/run/bench-marker")
        step("1. the plain script on fresh %s (one apt transaction, the same files, ovs-vsctl, systemctl)"
             % ", ".join(plain_pair))
        t0 = time.monotonic()
        errors = []

        def plain(node):
            try:
                apply_plain(node, script, files)
            except subprocess.CalledProcessError as exc:
                errors.append("%s: %s" % (node, (exc.stderr or b"").decode()[-2000:]))
        threads = [threading.Thread(target=plain, args=(node,)) for node in plain_pair]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        floor = time.monotonic() - t0
        if errors:
            raise SystemExit("bench: the plain script failed: %s" % "; ".join(errors))
        figures.append(("compute phase, 2 fresh nodes at once (roles)", "%.0f s" % phase))
        figures.append(("plain script, 2 fresh nodes at once (the floor)", "%.0f s" % floor))
        figures.append(("ratio compute phase / plain script (goal <= 1.15)", "%.2f" % (phase / floor)))

        step("converging every compute with the main job (site.yml), not measured")
        playbook("site.yml")
        step("2. no-op re-run of the main job over %s (x3)" % ", ".join(roles_pair))
        wall, cpu, results = median_run(3, "site.yml", limit=roles_pair)
        changed = sum(n for r in results for n in r["changed"].values())
        figures.append(("no-op main job, 2 nodes: total (median of 3; goal <= 20 s)", "%.1f s" % wall))
        figures.append(("no-op main job, 2 nodes: per node", "%.1f s" % (wall / 2)))
        figures.append(("no-op main job, 2 nodes: changed tasks over the 3 runs", "%d" % changed))
        for play, seconds in sorted(results[-1]["plays"].items(), key=lambda kv: -kv[1])[:6]:
            figures.append(("  phase %s" % play[:48], "%.1f s" % seconds))

        points = []
        for n in (1, 2, 4):
            step("3. no-op main job over N=%d (x2)" % n)
            wall, cpu, _results = median_run(2, "site.yml", limit=NODES[:n])
            points.append((n, wall, cpu))
            figures.append(("N=%d: wall, controller CPU, CPU per node" % n,
                            "%.1f s, %.1f s, %.1f s" % (wall, cpu, cpu / n)))
        a, b = fit([(n, cpu) for n, _w, cpu in points])
        wa, wb = fit([(n, wall) for n, wall, _c in points])
        figures.append(("controller CPU fit: fixed + per node", "%.1f s + %.2f s x N" % (a, b)))
        figures.append(("wall fit (forks=10, this machine): fixed + per node", "%.1f s + %.2f s x N" % (wa, wb)))
        thousand = a + b * 1000
        figures.append(("1,000 nodes (fit): controller CPU", "%.0f s = %.2f core-hours" % (thousand, thousand / 3600)))
        figures.append(("CPU per node, N=4 / N=1 (goal: about 1)", "%.2f" % ((points[2][2] / 4) / points[0][2])))
    finally:
        stop_masters()
        if os.environ.get("TENREC_BENCH_KEEP") != "1":
            step("lab destroyed in %.0f s" % lab("destroy"))
    print("data plane (lab of %d computes, %d cores on this machine):" % (COUNT, os.cpu_count()))
    for label, value in figures:
        print("  %-66s %s" % (label, value))
    sys.stdout.flush()
    subprocess.run([sys.executable, str(ROOT / "tests/bench/bench.py")], check=True)


if __name__ == "__main__":
    main()
