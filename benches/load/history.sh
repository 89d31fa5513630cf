#!/usr/bin/env bash
# get_history against the release binary: a 10-wallbox site (HTTP-input
# wallboxes, no simulated plant) started with the history it would have
# after 48 hours of 1 s cycles (examples/history_file.rs writes it). Prints
# the answer's bytes and curl's request times, and the daemon's memory with
# and without that history.
#   benches/load/history.sh [requests per row, default 20]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${1:-20}"
cargo build --release -q
cargo build --release -q -p chargebrain-actors --example history_file

dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
{
  printf '[simulation]\nenabled = false\n[load]\nmax_total_current = 250000\n'
  for n in $(seq 10); do printf '[[devices]]\ndev_id = "E%s"\ndev_type = "evse_ajax"\n' "$n"; done
} >"$dir/settings.toml"

start() { # with or without the history file
  rm -f "$dir/data/history.json"
  mkdir -p "$dir/data"
  if [ "$1" = with ]; then target/release/examples/history_file "$dir/data/history.json" >&2; fi
  CHARGEBRAIN__HTTP__LISTEN="127.0.0.1:0" CHARGEBRAIN__STORAGE__DIR="$dir/data" CHARGEBRAIN__LOG__LEVEL=warn \
    target/release/chargebrain --config "$dir/settings.toml" >"$dir/out" 2>"$dir/err" &
  pid=$!
  for _ in $(seq 100); do grep -q listening "$dir/out" 2>/dev/null && break; sleep 0.1; done
  port=$(sed -n 's#^listening on http://127.0.0.1:\([0-9]*\).*#\1#p' "$dir/out" | head -n1)
  sleep 2
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }

start without
rss_without=$(rss)
stop
start with
rss_with=$(rss)

row() { # name query
  local times=() bytes=0
  for _ in $(seq "$runs"); do
    read -r t b < <(curl -s -o /dev/null -w '%{time_total} %{size_download}\n' "http://127.0.0.1:$port/cnf?$2")
    times+=("$t"); bytes=$b
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v name="$1" -v bytes="$bytes" \
    '{a[NR]=$1} END {printf "| %s | %d | %.1f ms | %.1f ms |\n", name, bytes, a[int((NR+1)/2)]*1000, a[int(NR*0.9)]*1000}'
}
echo "| get_history | bytes | median | p90 |"
echo "|---|---:|---:|---:|"
row "48 h, the site and 10 wallboxes" "cmd=get_history"
row "48 h, step=288 (about 600 points, a dashboard chart)" "cmd=get_history&step=288"
row "48 h, one wallbox" "cmd=get_history&dev_id=E1"
row "the last hour, step=6 (the dashboard's default)" "cmd=get_history&from=$(( $(date +%s) - 3600 ))&step=6"
echo
echo "RSS after start: ${rss_without} kB without a history, ${rss_with} kB with 48 h of 10 wallboxes loaded"
echo "history.json: $(stat -c %s "$dir/data/history.json" 2>/dev/null || echo '?') bytes"
