#!/usr/bin/env bash
# HTTP benchmark of the /cnf API (and /metrics, /healthz) against the release
# binary on the built-in simulated Power Brain, with wrk on loopback. Prints a
# Markdown table.
#   benches/load/http.sh [seconds per run, default 5]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-5}"
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 1; }
cargo build --release -q

dir=$(mktemp -d)
# The shipped plant plus an HTTP-input wallbox and an HTTP-input meter on a
# second grid connection (role 3: its pushes change what the cars get).
cat settings.toml - >"$dir/settings.toml" <<'TOML'
[[devices]]
dev_id = "M4"
dev_type = "meter_ajax"
role = 3
[[devices]]
dev_id = "E3"
dev_type = "evse_ajax"
TOML
CHARGEBRAIN__HTTP__LISTEN="127.0.0.1:0" CHARGEBRAIN__SIMULATION__BASE_PORT=0 \
CHARGEBRAIN__STORAGE__DIR="$dir" CHARGEBRAIN__LOG__LEVEL=warn \
  target/release/chargebrain --config "$dir/settings.toml" >"$dir/out" 2>"$dir/err" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do grep -q listening "$dir/out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's#^listening on http://127.0.0.1:\([0-9]*\).*#\1#p' "$dir/out" | head -n1)
sleep 1
rss_idle=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)

run() { # name path-and-query connections
  local threads=$(( $3 < 2 ? 1 : 2 ))
  local out
  out=$(wrk -t"$threads" -c"$3" -d"${secs}s" --latency "http://127.0.0.1:$port/$2")
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {printf "%d", $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  local errors
  errors=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  echo "| $1 | $3 | $rps | $p50 | $p99 | ${errors:-0} |"
}

echo "| request | connections | req/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|---|"
for c in 1 16 64; do run "modbus read=8093 (evse)" "cnf?cmd=modbus&device=evse&read=8093" "$c"; done
for c in 1 16 64; do run "get_dev_info (no device I/O)" "cnf?cmd=get_dev_info" "$c"; done
for c in 1 16 64; do run "set_ajax_meter push (GET form)" "cnf?cmd=set_ajax_meter&dev_id=M4&current=1000,2000,3000&voltage=230,230,230&import_wh=5" "$c"; done
metrics_bytes=$(curl -s "http://127.0.0.1:$port/metrics" | wc -c)
for c in 1 16; do run "/metrics (7 devices, $metrics_bytes bytes)" "metrics" "$c"; done
for c in 1 16; do run "/healthz" "healthz" "$c"; done

# Push to answer: a house-load push, then the wallbox's push, whose answer
# carries the new charging current. Both requests, end to end, with curl.
H="http://127.0.0.1:$port/cnf"
curl -s "$H?cmd=set_ajax_evse&dev_id=E3&state=3&max_charging_current=32000&current=0,0,0" >/dev/null
times=()
for i in $(seq 200); do
  house=$(( i % 2 == 0 ? 2000 : 4000 ))
  t=$(curl -s -o /dev/null -w '%{time_total}' "$H?cmd=set_ajax_meter&dev_id=M4&current=$house,$house,$house")
  t2=$(curl -s -o /dev/null -w '%{time_total}' "$H?cmd=set_ajax_evse&dev_id=E3&current=0,0,0")
  times+=("$(python3 -c "print(($t + $t2) * 1e6)")")
done
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "\npush to changed answer (meter push + wallbox push, curl, 200 runs): median %.0f us, p99 %.0f us\n", a[int(NR/2)], a[int(NR*0.99)]}'
echo
echo "idle RSS with the simulation on: ${rss_idle} kB; after the runs: $(awk '/VmRSS/ {print $2}' /proc/$pid/status) kB"
