#!/usr/bin/env bash
# The ratio table of issue 21: each chargebrain figure beside its floor
# program (benches/floor/, the minimal programs of
# shared/reference/perf-ceilings.md), measured in the same run, interleaved
# round by round, so that both see the same machine load. Prints a Markdown
# table per round and the medians over the rounds.
#
#   benches/compare-floors.sh [rounds, default 3]
#
# Rows:
# - allocator: `allocate/10000` (criterion); no floor program, so the ratio
#   is to the goal (0.5 ms);
# - 100-wallbox poll: the device actors' full parallel poll of 100 simulated
#   Power Brains (`poll/poll_100_parallel/sims_on_thread`, criterion) against
#   `floor_modbus poll100`: 100 tokio-modbus clients, one read each, in
#   parallel, the servers on a thread of their own;
# - get_dev_info and set_params with 10 000 devices: rows left for the
#   snapshot and journal work (issue 21 part 2); an executable
#   benches/load/floors-part2.sh, given the floor's port, prints them;
# - idle RSS: the release daemon on the shipped simulated plant against
#   `floor_http direct` (a minimal actix-web server), both idle 3 s.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"

echo "building (release) ..." >&2
cargo build --release -q
cargo build --release -q --manifest-path benches/floor/Cargo.toml --target-dir target/floor
floor=target/floor/release
bench_bin() { # the criterion binary of a bench target of chargebrain-actors
  cargo bench -q -p chargebrain-actors --bench "$1" --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == sys.argv[1] and m.get("executable"):
        print(m["executable"])' "$1" | tail -n1
}
alloc_bench=$(bench_bin alloc)
cycle_bench=$(bench_bin cycle)

# The point estimate of criterion's `time:` line, in µs (a long bench name
# puts `time:` on a line of its own).
criterion_us() { # binary filter measurement-seconds
  "$1" --bench --warm-up-time 1 --measurement-time "$3" "$2" 2>/dev/null |
    awk '/time:/ { for (i = 1; i <= NF; i++) if ($i == "time:") break;
      v = $(i + 3); u = $(i + 4);
      f = (u == "ns") ? 0.001 : (u == "ms") ? 1000 : (u == "s") ? 1000000 : 1;
      printf "%.1f\n", v * f; exit }'
}

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# VmRSS (kB) of a command after it listens and idles 3 s.
idle_rss() {
  local dir pid
  dir=$(mktemp -d)
  "$@" >"$dir/out" 2>"$dir/err" &
  pid=$!
  for _ in $(seq 100); do grep -q listening "$dir/out" 2>/dev/null && break; sleep 0.1; done
  sleep 3
  rss_kb "$pid"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
}

daemon_rss() {
  local state
  state=$(mktemp -d)
  CHARGEBRAIN__HTTP__LISTEN="127.0.0.1:0" CHARGEBRAIN__SIMULATION__BASE_PORT=0 \
  CHARGEBRAIN__STORAGE__DIR="$state" CHARGEBRAIN__LOG__LEVEL=warn \
    idle_rss target/release/chargebrain --config settings.toml
  rm -rf "$state"
}

floor_rss() { idle_rss "$floor/floor_http" direct; }

ratio() { python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print(f'{a / b:.2f}' if b else '-')" "$1" "$2"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

declare -a alloc_us poll_us poll_floor_us rss rss_floor
for round in $(seq "$rounds"); do
  echo "round $round of $rounds ..." >&2
  alloc_us+=("$(criterion_us "$alloc_bench" 'allocate/10000$' 3)")
  poll_floor_us+=("$("$floor/floor_modbus" poll100 2000 | awk '{print $2}')")
  poll_us+=("$(criterion_us "$cycle_bench" 'poll/poll_100_parallel/sims_on_thread' 5)")
  rss_floor+=("$(floor_rss)")
  rss+=("$(daemon_rss)")
  echo "round $round: allocate/10000 ${alloc_us[-1]} µs; poll ${poll_us[-1]} µs, floor ${poll_floor_us[-1]} µs; RSS ${rss[-1]} kB, floor ${rss_floor[-1]} kB" >&2
done

a=$(median "${alloc_us[@]}"); p=$(median "${poll_us[@]}"); pf=$(median "${poll_floor_us[@]}")
r=$(median "${rss[@]}"); rf=$(median "${rss_floor[@]}")
echo
echo "Medians of $rounds interleaved rounds (load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)):"
echo
echo "| what | chargebrain | floor | ratio | goal |"
echo "|---|---:|---:|---:|---|"
echo "| allocate 10 000 EVSEs (criterion) | $a µs | — (goal 500 µs) | $(ratio "$a" 500) of the goal | < 0.5 ms |"
echo "| full poll of 100 Power Brains in parallel | $p µs | $pf µs (one read each) | $(ratio "$p" "$pf") | ≤ 2× |"
if [ -x benches/load/floors-part2.sh ]; then
  benches/load/floors-part2.sh "$floor"
else
  echo "| get_dev_info with 10 000 devices | (issue 21 part 2) | floor_http json3k | — | ≤ 20 ms |"
  echo "| one-device set_params with 10 000 devices | (issue 21 part 2) | — | — | ≤ 50 ms |"
fi
echo "| idle RSS, shipped plant | $r kB | $rf kB (floor_http direct) | $(ratio "$r" "$rf") | ≤ 1.5× |"
