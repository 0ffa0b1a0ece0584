#!/usr/bin/env bash
# The local lab. `up`: create the lab containers and converge the compute roles on them (today the
# smoke scenario: ovn_controller on two systemd containers), verify, and leave them running.
# `clean`: remove every container the lab made.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/env.sh
. "$here/scripts/env.sh"
cd "$here"
scenario=${TENREC_LAB_SCENARIO:-smoke}
case "${1:-up}" in
  up)
    start=$(date +%s)
    molecule create -s "$scenario"
    molecule converge -s "$scenario"
    molecule verify -s "$scenario"
    echo "lab: up in $(( $(date +%s) - start )) s; containers:"
    podman ps --filter label=owner=molecule --format '  {{.Names}}  {{.Status}}'
    ;;
  clean)
    molecule destroy -s "$scenario"
    ;;
  *) echo "usage: $0 up|clean" >&2; exit 2 ;;
esac
