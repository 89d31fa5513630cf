#!/usr/bin/env bash
# Logins against the release binary on the built-in simulated plant: how
# long one password check takes, and what 200 parallel wrong passwords from
# 200 loopback addresses cost in memory and time. Prints a Markdown table.
#   benches/load/login_flood.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v curl >/dev/null || { echo "needs curl"; exit 1; }
cargo build --release -q

dir=$(mktemp -d)
CHARGEBRAIN__HTTP__LISTEN="127.0.0.1:0" CHARGEBRAIN__SIMULATION__BASE_PORT=0 \
CHARGEBRAIN__STORAGE__DIR="$dir/data" CHARGEBRAIN__LOG__LEVEL=error \
  target/release/chargebrain --config settings.toml >"$dir/out" 2>"$dir/err" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do grep -q listening "$dir/out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's#^listening on http://127.0.0.1:\([0-9]*\).*#\1#p' "$dir/out" | head -n1)
H="http://127.0.0.1:$port/cnf"
post() { curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -X POST -H 'Content-Type: application/json' "$@"; }
post -d '{"new_pwd": "right-one"}' "$H?cmd=change_admin_pwd" >/dev/null
rss() { awk "/^$1:/ {print \$2}" "/proc/$pid/status"; }
idle=$(rss VmRSS)

# One check at a time, each from its own address (no lockout): seconds each.
single=$(for n in $(seq 1 20); do
  post --interface "127.0.9.$n" -u "admin:wrong$n" -d '{}' "$H?cmd=set_params" | awk '{print $2}'
done | sort -n | awk '{a[NR]=$1} END {print a[int(NR/2)+1]}')

# 200 at once, from 200 addresses.
start=$(date +%s.%N)
guesses=()
for n in $(seq 1 200); do
  post --interface "127.0.8.$n" -u "admin:guess$n" -d '{}' "$H?cmd=set_params" >>"$dir/codes" &
  guesses+=($!)
done
wait "${guesses[@]}"
end=$(date +%s.%N)
cycle=$(curl -s "$H?cmd=get_dev_info" | python3 -c 'import json,sys; print(json.load(sys.stdin)["params"]["cycle_time"])')
echo "| what | value |"
echo "|---|---|"
echo "| one password check (median of 20, wrong password, curl time) | $(awk "BEGIN {printf \"%.0f ms\", $single * 1000}") |"
echo "| RSS idle, password set | $((idle / 1024)) MB |"
echo "| 200 parallel wrong passwords: all answered in | $(awk "BEGIN {printf \"%.2f s\", $end - $start}") |"
echo "| answers | $(awk '{print $1}' "$dir/codes" | sort | uniq -c | awk '{printf "%s× %s ", $1, $2}') |"
echo "| peak RSS (VmHWM) after the flood | $(( $(rss VmHWM) / 1024 )) MB |"
echo "| RSS after the flood | $(( $(rss VmRSS) / 1024 )) MB |"
echo "| cycle_time right after (cycle_time_ms 1000) | $cycle ms |"
