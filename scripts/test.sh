#!/usr/bin/env bash
# The whole test suite, as CI runs it: sanity, lint, then pytest (unit tests, integration tests
# against the test Kubernetes API server, and the molecule scenarios on lab containers).
#
# Three lanes share the machine's two cores:
#   site    the site scenario (one control plane and two computes, most of the run's time, spent
#           largely waiting on package installs and services), in the background from the start;
#   real    a real kube-apiserver (built once per machine by scripts/kube-real.sh, cached outside the
#           clone), then the integration tests that take ``api_server`` against it; in the
#           background at low priority (nice), so the site lane keeps its pace;
#   checks  sanity, lint, unit and integration tests (on the test server), the execution
#           environment's image (so the site scenario's EE test finds it built and podman's cache
#           answers), then every other molecule scenario.
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
real_pid=
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
  [ -z "$real_pid" ] || ! kill -0 "$real_pid" 2>/dev/null || kill "$real_pid"
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

real_log=.cache/test-real.log
real_times=.cache/test-real.times
(
  rc=0; t0=$(date +%s)
  nice -n 10 scripts/kube-real.sh build || rc=$?
  printf '%-10s %5d s  rc=%d\n' kube-real $(( $(date +%s) - t0 )) "$rc" >"$real_times"
  [ "$rc" -eq 0 ] || exit "$rc"
  t0=$(date +%s)
  TENREC_API_SERVERS=real TENREC_REAL_KUBEAPI=required nice -n 10 pytest tests/integration || rc=$?
  printf '%-10s %5d s  rc=%d\n' pytest-real $(( $(date +%s) - t0 )) "$rc" >>"$real_times"
  exit "$rc"
) >"$real_log" 2>&1 &
real_pid=$!
echo "=== real (background, log $real_log)"

stage sanity scripts/sanity.sh
stage lint ansible-lint --profile production
TENREC_API_SERVERS="test" stage pytest pytest tests/unit tests/integration
stage ee scripts/ee.sh build
stage scenarios pytest tests/molecule --deselect "tests/molecule/test_scenarios.py::test_scenario[site]"

real_rc=0
wait "$real_pid" || real_rc=$?
real_pid=
[ "$real_rc" -eq 0 ] || failed=1
echo "=== real (output of the background lane)"
cat "$real_log"
while read -r line; do timings+=("$line"); done <"$real_times"

site_rc=0
wait "$site_pid" || site_rc=$?
site_pid=
[ "$site_rc" -eq 0 ] || failed=1
echo "=== site (output of the background lane)"
cat "$site_log"
timings+=("$(printf '%-10s %5d s  rc=%d' site $(( $(date +%s) - site_t0 )) "$site_rc")")
