#!/usr/bin/env bash
# The local lab. `up`: create the lab containers (a controller running a real OpenStack control
# plane from Debian packages, and two computes), converge the compute roles on the computes with
# playbooks/dataplane.yml, map them into cell1, verify, and leave everything running.
# Running `up` again converges again (changed=0 on the computes). `clean`: remove every container.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/env.sh
. "$here/scripts/env.sh"
cd "$here"
scenario=${TENREC_LAB_SCENARIO:-compute}
case "${1:-up}" in
  up)
    start=$(date +%s)
    declare -a phases=()
    for step in create prepare converge verify; do
      t0=$(date +%s)
      molecule "$step" -s "$scenario"
      phases+=("$(printf '%-9s %4d s' "$step" $(( $(date +%s) - t0 )))")
    done
    echo "lab: up in $(( $(date +%s) - start )) s"
    for p in "${phases[@]}"; do echo "  $p"; done
    podman ps --filter label=owner=molecule --format '  {{.Names}}  {{.Status}}'
    if podman container exists tenrec-ctl; then
      echo "lab: nova-compute services, hypervisors and OVN chassis (from tenrec-ctl):"
      podman exec tenrec-ctl env OS_AUTH_URL=http://10.88.11.10:5000/v3 OS_USERNAME=admin \
        OS_PASSWORD=lab-molecule-secret OS_PROJECT_NAME=admin OS_USER_DOMAIN_NAME=Default \
        OS_PROJECT_DOMAIN_NAME=Default OS_REGION_NAME=regionOne \
        sh -c 'openstack compute service list --service nova-compute; openstack hypervisor list;
               openstack resource provider list; ovn-sbctl show'
    fi
    ;;
  clean)
    molecule destroy -s "$scenario"
    ;;
  *) echo "usage: $0 up|clean" >&2; exit 2 ;;
esac
