#!/usr/bin/env bash
# The EE's entrypoint step for openstack-operator's AnsibleEE Jobs (docs/execution-environment.md).
#
# openstack-operator runs an OpenStackDataPlaneService as a Job whose container args are
#   ansible-runner run /runner -p <playbook> -i <job name>
# and hands the rest to the image in environment variables, each value wrapped in newlines:
#   RUNNER_PLAYBOOK    the service's playbook name, or its playbookContents (run as -p playbook.yaml)
#   RUNNER_EXTRA_VARS  YAML mapping: edpm_override_hosts, edpm_service_type, the Deployment's ansibleExtraVars
#   RUNNER_CMDLINE     --tags / --limit / --skip-tags of the Deployment
#   RUNNER_INVENTORY   an inline inventory (not set by the operator itself)
# This step writes them where ansible-runner reads them in its private data directory /runner, as
# the openstack-ansibleee-runner image does, then runs the container's command. The inventory
# (/runner/inventory/hosts) and the SSH key (/runner/env/ssh_key/ssh_key_<nodeset>) are mounted by
# the Job and not touched here. Settings (/runner/env/settings) are written only for the RUNNER_*
# settings variables that are set; unset, ansible-runner's defaults (no timeouts) hold.
# Without any of these variables (ansible-runner's process isolation, AWX, a shell) nothing is written.
set -eu

root=/runner

# a YAML document: the marker, then the value as given
document() {
  mkdir -p "$(dirname "$1")"
  printf -- '---\n%s\n' "$2" >"$1"
}

if [ -n "${RUNNER_INVENTORY:-}" ]; then
  document "$root/inventory/inventory.yaml" "$RUNNER_INVENTORY"
fi
if [ -n "${RUNNER_PLAYBOOK:-}" ]; then
  # a playbook name (tenrec.dataplane.prechecks) lands here too, unused: -p names the playbook
  document "$root/project/playbook.yaml" "$RUNNER_PLAYBOOK"
fi
if [ -n "${RUNNER_EXTRA_VARS:-}" ]; then
  # may hold what the Deployment's ansibleExtraVars hold: readable by the job's user only
  (umask 077 && document "$root/env/extravars" "$RUNNER_EXTRA_VARS")
fi
if [ -n "${RUNNER_CMDLINE:-}" ]; then
  mkdir -p "$root/env"
  printf '%s\n' "$RUNNER_CMDLINE" >"$root/env/cmdline"
fi

settings=""
for pair in idle_timeout:RUNNER_IDLE_TIMEOUT job_timeout:RUNNER_JOB_TIMEOUT \
    pexpect_timeout:RUNNER_PEXPECT_TIMEOUT pexpect_use_poll:RUNNER_PEXPECT_USE_POLL \
    suppress_output_file:RUNNER_SUPPRESS_OUTPUT_FILE suppress_ansible_output:RUNNER_SUPPRESS_ANSIBLE_OUTPUT \
    fact_cache:RUNNER_FACT_CACHE fact_cache_type:RUNNER_FACT_CACHE_TYPE; do
  name=${pair#*:}
  if [ -n "${!name:-}" ]; then
    settings+="${pair%%:*}: ${!name}"$'\n'
  fi
done
if [ -n "$settings" ]; then
  mkdir -p "$root/env"
  printf '%s' "$settings" >"$root/env/settings"
fi

exec "$@"
