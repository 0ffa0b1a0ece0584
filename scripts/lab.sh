#!/usr/bin/env bash
# The local lab. `up`: create the lab containers of inventories/lab (a controller running a real
# OpenStack control plane from Debian packages, and TENREC_LAB_COMPUTES computes, default 2), start
# the lab's Kubernetes API (lab/kubeapi) publishing openstack-operator's objects, run the main job
# (tenrec.dataplane.site) on the lab inventory, verify, and leave everything running; then print
# a report. Running `up` again converges again (changed=0 on the computes).
# `clean`: stop the lab API server and remove every lab container.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/env.sh
. "$here/scripts/env.sh"
cd "$here"
scenario=${TENREC_LAB_SCENARIO:-site}
case "${1:-up}" in
  up)
    start=$(date +%s)
    mkdir -p lab/state
    # the main job's own phases (one line per play), written by the play_times callback
    export TENREC_PLAY_TIMES_FILE=$here/lab/state/play-times.txt
    rm -f "$TENREC_PLAY_TIMES_FILE"
    declare -a phases=()
    # molecule's create runs the scenario's prepare too (lab/prepare.yml); both are skipped once done
    for step in create converge side-effect verify; do
      t0=$(date +%s)
      [ "$step" = verify ] && unset TENREC_PLAY_TIMES_FILE
      molecule "$step" -s "$scenario"
      phases+=("$(printf '%-9s %4d s' "$step" $(( $(date +%s) - t0 )))")
    done
    echo
    echo "lab: up in $(( $(date +%s) - start )) s (create: containers, control plane, lab API, underlay;"
    echo "     converge: the main job, tenrec.dataplane.site; side-effect: an instance on every compute;"
    echo "     verify: what an operator checks)"
    for p in "${phases[@]}"; do echo "  $p"; done
    if [ -f lab/state/play-times.txt ]; then
      echo "lab: the main job's phases"
      sed 's/^/  /' lab/state/play-times.txt
    fi
    echo "lab: nodes"
    podman ps --filter label=tenrec-lab=true --format '  {{.Names}}  {{.Status}}'
    if podman container exists tenrec-lab-ctl; then
      echo "lab: nova-compute services, hypervisors, resource providers, cell1 hosts and OVN chassis:"
      podman exec tenrec-lab-ctl nova-manage cell_v2 list_hosts 2>/dev/null
      podman exec tenrec-lab-ctl env "OS_AUTH_URL=http://${TENREC_LAB_PREFIX:-10.88.20}.10:5000/v3" OS_USERNAME=admin \
        OS_PASSWORD=lab-secret OS_PROJECT_NAME=admin OS_USER_DOMAIN_NAME=Default \
        OS_PROJECT_DOMAIN_NAME=Default OS_REGION_NAME=regionOne \
        sh -c 'openstack compute service list --service nova-compute; openstack hypervisor list;
               openstack resource provider list; ovn-sbctl show; openstack server list --long'
    fi
    if [ -f lab/state/instances.json ]; then
      echo "lab: instances (seconds from create)"
      mapfile -t vms < <(podman ps --filter label=tenrec-lab=true --format '{{.Names}}' | sed -n 's/^\(tenrec-lab-cmp-.*\)/tenrec-lab-vm-\1/p' | sort)
      python lab/instances.py --clouds lab/state/clouds.yaml --state lab/state/instances.json --timeout 60 "${vms[@]}" | sed 's/^/  /'
    fi
    ;;
  clean)
    molecule destroy -s "$scenario"
    ;;
  *) echo "usage: $0 up|clean" >&2; exit 2 ;;
esac
