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
# Modules: alloc rules codec drivers cycle store. Results go to
# target/mutants/<module>/mutants.out (missed.txt lists the missed mutants).
# It takes long (hours for all of them on two cores): run it when the
# machine is free, with nice.
set -euo pipefail
cd "$(dirname "$0")/.."

MUTANTS_VERSION=27.1.0
if ! cargo mutants --version 2>/dev/null | grep -q "$MUTANTS_VERSION"; then
  echo "installing cargo-mutants $MUTANTS_VERSION"
  cargo install --locked "cargo-mutants@$MUTANTS_VERSION"
fi

declare -A FILES=(
  [alloc]='actors/src/alloc/*.rs'
  [rules]='actors/src/rules/*.rs'
  [codec]='actors/src/codec.rs'
  [drivers]='actors/src/drivers/*.rs'
  [cycle]='actors/src/supervisor/site/*.rs'
  [store]='actors/src/store/*.rs'
)
ORDER=(alloc rules codec drivers cycle store)
# The tree to mutate (a copy is made of it); another checkout of the
# project can be named, so that work in this one goes on meanwhile.
src="${MUTANTS_SOURCE:-$PWD}"

# The unit tests of the actors crate only (`--lib`: not the simulated-day
# test or the benchmarks); the property tests with fewer cases per mutant.
export PROPTEST_CASES="${PROPTEST_CASES:-128}"
# A failing property fails the mutant at once, without minimizing the case.
export PROPTEST_MAX_SHRINK_ITERS=0
run() {
  local name=$1
  shift
  local globs=()
  for m in "${@}"; do globs+=(-f "${FILES[$m]}"); done
  mkdir -p "target/mutants/$name"
  nice cargo mutants --dir "$src" --package chargebrain-actors --test-package chargebrain-actors \
    --jobs 1 --output "$PWD/target/mutants/$name" "${globs[@]}" "${extra[@]}" -- --lib || true
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
}

extra=()
if [ "${1:-}" = "--again" ]; then
  extra=(--iterate)
  shift
fi
if [ "${1:-}" = "--in-diff" ]; then
  ref=${2:?--in-diff needs a git ref, e.g. main}
  mkdir -p target/mutants
  git diff "$ref" -- actors/src >target/mutants/in.diff
  extra=(--in-diff target/mutants/in.diff)
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
