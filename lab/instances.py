"""Wait for lab instances: ACTIVE, then their guest's console says ``tenrec-guest: ready``.

Usage: instances.py --clouds CLOUDS_YAML --state STATE_JSON [--timeout S] SERVER...

Credentials come from CLOUDS_YAML (cloud ``tenrec-lab``), never from the command line. For each
server it records, the first time it sees them, the seconds from the server's ``created_at`` to
ACTIVE (``OS-SRV-USG:launched_at``), to the guest's first console line and to ``ready``, in
STATE_JSON, and prints one line per server. Exits 1 naming each server that is in ERROR or not ready
within the timeout (with its fault or its console's last lines).
"""

import argparse
import datetime
import json
import os
import sys
import time

import openstack

PREFIX = "tenrec-guest: "


def seconds_since(stamp, now):
    created = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if created.tzinfo is None:
        created = created.replace(tzinfo=datetime.timezone.utc)
    return round(now - created.timestamp(), 1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--clouds", required=True)
    parser.add_argument("--state", required=True)
    parser.add_argument("--timeout", type=int, default=600)
    parser.add_argument("servers", nargs="+")
    args = parser.parse_args()
    os.environ["OS_CLIENT_CONFIG_FILE"] = args.clouds
    conn = openstack.connect(cloud="tenrec-lab")
    state = json.load(open(args.state)) if os.path.exists(args.state) else {}
    pending, problems = set(args.servers), {}
    deadline = time.time() + args.timeout
    while pending and time.time() < deadline:
        for name in sorted(pending):
            server = conn.compute.find_server(name, ignore_missing=True)
            if server is None:
                problems[name] = "no such server"
                pending.discard(name)
                continue
            rec = state.setdefault(server.id, {"name": name})
            if server.status == "ERROR":
                problems[name] = "ERROR: %s" % ((server.fault or {}).get("message") or "no fault recorded")
                pending.discard(name)
                continue
            if server.status != "ACTIVE":
                continue
            if "active_s" not in rec and server.launched_at:
                rec["active_s"] = round(datetime.datetime.fromisoformat(server.launched_at).replace(
                    tzinfo=datetime.timezone.utc).timestamp() - datetime.datetime.fromisoformat(
                    server.created_at.replace("Z", "+00:00")).timestamp(), 1)
            log = conn.compute.get_server_console_output(server).get("output") or ""
            now = time.time()
            if PREFIX in log and "first_line_s" not in rec:
                rec["first_line_s"] = seconds_since(server.created_at, now)
            if PREFIX + "ready" in log:
                rec.setdefault("ready_s", seconds_since(server.created_at, now))
                rec["host"] = server.compute_host
                pending.discard(name)
            else:
                rec["tail"] = log.strip().splitlines()[-5:]
        if pending:
            time.sleep(1)
    for name in pending:
        rec = next((r for r in state.values() if r["name"] == name), {})
        problems[name] = "not ready after %d s; console ends: %s" % (args.timeout, " | ".join(rec.get("tail", [])))
    with open(args.state, "w") as handle:
        json.dump(state, handle, indent=1)
    for sid, rec in sorted(state.items(), key=lambda kv: kv[1]["name"]):
        if rec["name"] in args.servers:
            print("%s on %s (%s): create -> ACTIVE %s s, -> first console line %s s, -> ready %s s" % (
                rec["name"], rec.get("host", "?"), sid, rec.get("active_s", "?"), rec.get("first_line_s", "?"),
                rec.get("ready_s", "?")))
    for name, why in sorted(problems.items()):
        print("%s: %s" % (name, why), file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
