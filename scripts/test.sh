#!/usr/bin/env bash
# The whole test suite, as CI runs it: sanity, lint, then pytest (unit tests, integration tests
# against the test Kubernetes API server, and the molecule scenarios on lab containers).
# Usage: scripts/test.sh [pytest args...]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/env.sh
. "$here/scripts/env.sh"
cd "$here"
start=$(date +%s)
declare -a timings=()
stage() {
  local name=$1; shift
  local t0; t0=$(date +%s)
  echo "=== $name"
  "$@"
  timings+=("$(printf '%-10s %5d s' "$name" $(( $(date +%s) - t0 )))")
}
report() {
  local rc=$?
  echo "=== timings"
  for line in "${timings[@]}"; do echo "  $line"; done
  echo "  total      $(printf '%5d' $(( $(date +%s) - start ))) s"
  exit $rc
}
trap report EXIT
stage sanity scripts/sanity.sh
stage lint ansible-lint --profile production
stage pytest pytest "$@"
