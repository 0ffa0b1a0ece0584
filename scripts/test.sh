#!/usr/bin/env bash
# The whole test suite, as CI runs it: sanity, lint, then pytest (unit tests, integration tests
# against the test Kubernetes API server, and the molecule scenarios on lab containers).
#
# Two lanes share the machine's two cores:
#   site    the site scenario (one control plane and two computes, most of the run's time, spent
#           largely waiting on package installs and services), in the background from the start;
#   checks  sanity, lint, unit and integration tests, the execution environment's image (so the
#           site scenario's EE test finds it built and podman's cache answers), then every other
#           molecule scenario.
# Every stage runs even when an earlier one failed; the exit status is non-zero if any failed.
# Usage: scripts/test.sh [pytest args...]  (with arguments: one pytest run with them, no lanes)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/env.sh
. "$here/scripts/env.sh"
cd "$here"
start=$(date +%s)
declare -a timings=()
failed=0
site_pid=
stage() {
  local name=$1; shift
  local t0 rc=0; t0=$(date +%s)
  echo "=== $name"
  "$@" || rc=$?
  [ "$rc" -eq 0 ] || failed=1
  timings+=("$(printf '%-10s %5d s  rc=%d' "$name" $(( $(date +%s) - t0 )) "$rc")")
}
report() {
  local rc=$?
  [ -z "$site_pid" ] || ! kill -0 "$site_pid" 2>/dev/null || kill "$site_pid"
  echo "=== timings"
  for line in "${timings[@]}"; do echo "  $line"; done
  echo "  total      $(printf '%5d' $(( $(date +%s) - start ))) s"
  [ "$failed" -eq 0 ] || rc=1
  exit $rc
}
trap report EXIT

if [ $# -gt 0 ]; then
  stage sanity scripts/sanity.sh
  stage lint ansible-lint --profile production
  stage pytest pytest "$@"
  exit
fi

mkdir -p .cache
site_log=.cache/test-site.log
site_t0=$(date +%s)
TENREC_SCENARIOS=site pytest tests/molecule >"$site_log" 2>&1 &
site_pid=$!
echo "=== site (background, log $site_log)"

stage sanity scripts/sanity.sh
stage lint ansible-lint --profile production
stage pytest pytest tests/unit tests/integration
stage ee scripts/ee.sh build
stage scenarios pytest tests/molecule --deselect "tests/molecule/test_scenarios.py::test_scenario[site]"

site_rc=0
wait "$site_pid" || site_rc=$?
site_pid=
[ "$site_rc" -eq 0 ] || failed=1
echo "=== site (output of the background lane)"
cat "$site_log"
timings+=("$(printf '%-10s %5d s  rc=%d' site $(( $(date +%s) - site_t0 )) "$site_rc")")
