#!/usr/bin/env bash
# Mutation testing of the pure core with cargo-mutants: each module's code is
# changed in small ways (a `<` becomes `<=`, a function returns a default...)
# and the library's unit tests must notice. A "missed" mutant is code whose
# behaviour no test checks. TESTING.md keeps the figures and explains the
# missed mutants that are equivalent (change nothing a caller can see).
#
#   scripts/mutants.sh                 every module, one after the other
#   scripts/mutants.sh alloc store     only these modules
#   scripts/mutants.sh --again alloc   only what the last run did not catch
#   scripts/mutants.sh --in-diff REF   only the lines changed since git REF
#
# MUTANTS_SOURCE=DIR mutates another copy of the project (work here goes on
# meanwhile), MUTANTS_IN_PLACE=1 mutates that copy where it is (no copy per
# run: its build stays warm), MUTANTS_ARGS adds options for cargo-mutants.
#
# Modules: alloc rules codec drivers cycle phases store. Results go to
# target/mutants/<module>/mutants.out (missed.txt lists the missed mutants).
# It takes long (hours for all of them on two cores): run it when the
# machine is free. It runs niced (10); MUTANTS_NICE=0 runs it at normal
# priority (a deadline on a machine others share as well).
set -euo pipefail
cd "$(dirname "$0")/.."

MUTANTS_VERSION=27.1.0
if ! cargo mutants --version 2>/dev/null | grep -q "$MUTANTS_VERSION"; then
  echo "installing cargo-mutants $MUTANTS_VERSION"
  cargo install --locked "cargo-mutants@$MUTANTS_VERSION"
fi

# Each module's files (globs). The store's: the files, and in config/ the
# state it keeps and how a change applies to it.
declare -A FILES=(
  [alloc]='actors/src/alloc/*.rs'
  [rules]='actors/src/rules/*.rs'
  [codec]='actors/src/codec.rs'
  [drivers]='actors/src/drivers/*.rs'
  [cycle]='actors/src/supervisor/site/*.rs'
  [phases]='actors/src/phases/*.rs'
  [store]='actors/src/store/*.rs actors/src/config/*.rs'
)
ORDER=(alloc rules codec drivers cycle phases store)
# The tests that can notice a change in each module (the modules that use
# it); the others only cost time. A mutant these miss may still be caught
# elsewhere, so the figures are, if anything, low.
declare -A TESTS=(
  [alloc]=''
  [rules]='rules:: supervisor:: config:: store:: devices::'
  [codec]=''
  [drivers]='drivers:: devices:: sim:: supervisor::'
  [cycle]='supervisor::'
  [phases]='phases:: supervisor::'
  [store]='store:: config:: supervisor::'
)
# The tree to mutate (a copy is made of it); another checkout of the
# project can be named, so that work in this one goes on meanwhile. With
# MUTANTS_IN_PLACE=1 that checkout is mutated where it is (no copy, its
# target/ stays warm from run to run): only ever a scratch copy, as a run
# that is interrupted leaves a mutant in it.
src="${MUTANTS_SOURCE:-$PWD}"
where=(--jobs 1)
if [ "${MUTANTS_IN_PLACE:-0}" = 1 ]; then
  [ "$src" != "$PWD" ] || { echo "MUTANTS_IN_PLACE needs MUTANTS_SOURCE, a scratch copy" >&2; exit 2; }
  where=(--in-place) # one job at a time
fi

# The unit tests of the actors crate only (`--lib`: neither built nor run are
# the simulated-day test, the examples or the benchmarks), but not the phase estimator's (`wiring::`, a
# minute of simulated days, and no module here depends on it); the property
# tests with fewer cases per mutant. A mutant that makes the tests run past
# 40 s counts as a timeout (the unmutated tests take about 4 s).
export PROPTEST_CASES="${PROPTEST_CASES:-128}"
# A failing property fails the mutant at once, without minimizing the case.
export PROPTEST_MAX_SHRINK_ITERS=0
# The regression files are replayed but not written: a case one mutant
# fails would otherwise be replayed against every later mutant, and one
# that fails on the unmutated code too would count every later mutant as
# caught. A fixed seed makes a run repeatable (the baseline run checks that
# the unmutated code passes with it).
export CHARGEBRAIN_PROPTEST_READ_ONLY=1
export PROPTEST_RNG_SEED="${PROPTEST_RNG_SEED:-1}"
run() {
  local name=$1
  shift
  local globs=() filters=()
  for m in "${@}"; do
    set -f # the globs are cargo-mutants' to expand
    for g in ${FILES[$m]}; do globs+=(-f "$g"); done
    set +f
    # Several modules at once (--in-diff): all their tests.
    if [ $# -eq 1 ]; then read -ra filters <<<"${TESTS[$m]}"; fi
  done
  mkdir -p "target/mutants/$name"
  nice -n "${MUTANTS_NICE:-10}" cargo mutants --dir "$src" "${where[@]}" --package chargebrain-actors \
    --test-package chargebrain-actors --timeout 40 --output "$PWD/target/mutants/$name" \
    --cargo-arg=--lib "${globs[@]}" "${extra[@]}" -- -- "${filters[@]}" --skip wiring:: || true
  summary "$name"
}

summary() {
  local out="target/mutants/$1/mutants.out"
  local caught missed timeout unviable
  caught=$(wc -l <"$out/caught.txt")
  missed=$(wc -l <"$out/missed.txt")
  timeout=$(wc -l <"$out/timeout.txt")
  unviable=$(wc -l <"$out/unviable.txt")
  local viable=$((caught + missed + timeout))
  local pct=0
  [ "$viable" -gt 0 ] && pct=$(((caught + timeout) * 1000 / viable))
  printf '%-8s caught %4d  timeout %3d  missed %3d  unviable %3d  caught %d.%d %% of %d viable\n' \
    "$1" "$caught" "$timeout" "$missed" "$unviable" $((pct / 10)) $((pct % 10)) "$viable"
  if [ -f "$out/previously_caught.txt" ]; then
    echo "         (--again: $(wc -l <"$out/previously_caught.txt") more caught or unviable in earlier runs, not tested again)"
  fi
}

# More options for cargo-mutants, e.g. MUTANTS_ARGS="--shard 0/3
# --sharding round-robin" to test every third mutant.
read -ra extra <<<"${MUTANTS_ARGS:-}"
if [ "${1:-}" = "--again" ]; then
  extra+=(--iterate)
  shift
fi
if [ "${1:-}" = "--in-diff" ]; then
  ref=${2:?--in-diff needs a git ref, e.g. main}
  mkdir -p target/mutants
  git diff "$ref" -- actors/src >target/mutants/in.diff
  extra+=(--in-diff target/mutants/in.diff)
  run in-diff "${ORDER[@]}"
  exit 0
fi

modules=("$@")
[ ${#modules[@]} -eq 0 ] && modules=("${ORDER[@]}")
for m in "${modules[@]}"; do
  [ -n "${FILES[$m]:-}" ] || { echo "unknown module $m (one of: ${ORDER[*]})"; exit 2; }
done
for m in "${modules[@]}"; do run "$m" "$m"; done
echo
for m in "${modules[@]}"; do summary "$m"; done
