#!/usr/bin/env bash
# Runs the integration suite several times (default 5) while two busy loops
# load both cores, to shake out tests that depend on timing. Prints one line
# per run and a summary; exits non-zero if any run failed.
#
#   scripts/soak-tests.sh            5 runs
#   scripts/soak-tests.sh 10         10 runs
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-5}
logs=target/soak
mkdir -p "$logs"
# Build first, unloaded, so that the runs measure the tests.
scripts/test.sh --test integration --no-run >/dev/null 2>&1

load=()
stop_load() {
  for pid in "${load[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap stop_load EXIT
for _ in 1 2; do
  (while :; do :; done) &
  load+=($!)
done

failed=0
for run in $(seq "$runs"); do
  started=$(date +%s)
  if scripts/test.sh --test integration >"$logs/run-$run.log" 2>&1; then
    outcome=ok
  else
    outcome=FAILED
    failed=$((failed + 1))
  fi
  result=$(grep -E '^test result' "$logs/run-$run.log" | tail -1 || true)
  printf 'run %d: %s in %ds, load %s: %s\n' "$run" "$outcome" $(($(date +%s) - started)) \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$result"
  grep -E '^test .* FAILED$' "$logs/run-$run.log" || true
done
echo "$(date -u +%Y-%m-%d): $runs runs of the integration suite under load, $failed failed (logs in $logs/)"
[ "$failed" -eq 0 ]
