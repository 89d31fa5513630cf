#!/usr/bin/env bash
# A/B of one /cnf query on two chargebrain binaries, run side by side on the
# shipped simulated plant with wrk, rounds interleaved so that both see the
# same load on a shared machine. Prints one line per run: req/s, p50, and the
# server's CPU time per request (user + system, whole process), which other
# load on the machine disturbs far less than the rate.
#   benches/load/compare.sh OLD_BINARY NEW_BINARY [query, default cmd=get_dev_info] [rounds, default 3]
set -euo pipefail
cd "$(dirname "$0")/../.."
old="$1" new="$2" query="${3:-cmd=get_dev_info}" rounds="${4:-3}"
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 1; }
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$dir"' EXIT
hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
start() { # name binary -> "port pid"
  local port
  mkdir -p "$dir/$1"
  CHARGEBRAIN__HTTP__LISTEN="127.0.0.1:0" CHARGEBRAIN__SIMULATION__BASE_PORT=0 \
  CHARGEBRAIN__STORAGE__DIR="$dir/$1/data" CHARGEBRAIN__LOG__LEVEL=warn \
    "$2" --config settings.toml >"$dir/$1/out" 2>"$dir/$1/err" &
  for _ in $(seq 100); do grep -q listening "$dir/$1/out" 2>/dev/null && break; sleep 0.1; done
  port=$(sed -n 's#^listening on http://127.0.0.1:\([0-9]*\).*#\1#p' "$dir/$1/out" | head -n1)
  echo "$port $!"
}
read -r old_port old_pid < <(start old "$old")
read -r new_port new_pid < <(start new "$new")
pids+=("$old_pid" "$new_pid")
sleep 1
for round in $(seq "$rounds"); do
  for c in 1 16; do
    for side in "old $old_port $old_pid" "new $new_port $new_pid"; do
      read -r name port pid <<<"$side"
      before=$(cpu_ticks "$pid")
      out=$(wrk -t$(( c < 2 ? 1 : 2 )) -c"$c" -d5s --latency "http://127.0.0.1:$port/cnf?$query")
      used=$(( $(cpu_ticks "$pid") - before ))
      n=$(awk '/requests in/ {print $1}' <<<"$out")
      echo "round $round, $c connections, $name: $(awk '/Requests\/sec/ {printf "%d", $2}' <<<"$out") req/s, p50 $(awk '$1=="50%" {print $2}' <<<"$out"), $(( used * 1000000 / hz / n )) µs CPU per request"
    done
  done
done
echo "answer size: old $(curl -s "http://127.0.0.1:$old_port/cnf?$query" | wc -c) B, new $(curl -s "http://127.0.0.1:$new_port/cnf?$query" | wc -c) B"
