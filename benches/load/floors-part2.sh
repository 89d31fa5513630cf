#!/usr/bin/env bash
# The rows of the ratio table measured with 10 000 devices (called by
# benches/compare-floors.sh, which passes the directory of the floor
# binaries; it also runs alone after `cargo build --release` and a build
# of benches/floor):
# - get_dev_info with 10 000 HTTP-input devices (the whole answer, about
#   10 MB), curl's total time, median of 15, each request right after one to
#   `floor_http json3k` (3 KB serialized per request through one actor hop);
# - a one-device set_params with 10 000 devices (curl, a POST of one
#   device's max_charging_cur), median and max of 20.
# Prints two Markdown table rows.
#
#   benches/load/floors-part2.sh target/floor/release
set -euo pipefail
cd "$(dirname "$0")/../.."
floor="${1:-target/floor/release}"
n=10000
dir=$(mktemp -d)
pids=()
# The daemon writes its state while it stops: wait for it before removing
# its directory.
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$dir"' EXIT

# settings.toml without its devices, then a grid meter and N-1 wallboxes.
python3 benches/load/many_devices.py "$n" >"$dir/settings.toml"

port_of() { # output file -> port, once it listens
  local port=""
  for _ in $(seq 3000); do
    port=$(sed -n 's#^listening on http://127.0.0.1:\([0-9]*\).*#\1#p' "$1" | head -n1)
    [ -n "$port" ] && break
    sleep 0.01
  done
  echo "$port"
}

CHARGEBRAIN__HTTP__LISTEN="127.0.0.1:0" CHARGEBRAIN__SIMULATION__BASE_PORT=0 \
CHARGEBRAIN__SIMULATION__ENABLED=false CHARGEBRAIN__STORAGE__DIR="$dir/data" \
CHARGEBRAIN__LOG__LEVEL=warn \
  target/release/chargebrain --config "$dir/settings.toml" >"$dir/out" 2>"$dir/err" &
pids+=($!)
"$floor/floor_http" json3k >"$dir/floor" 2>&1 &
pids+=($!)
port=$(port_of "$dir/out")
floor_port=$(port_of "$dir/floor")
for _ in $(seq 3000); do
  got=$(curl -s "http://127.0.0.1:$port/cnf?cmd=get_dev_info" |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)["devices"]))' 2>/dev/null || echo 0)
  [ "$got" = "$n" ] && break
  sleep 0.1
done
sleep 2

ms() { curl -s -o /dev/null -w '%{time_total}\n' "$@" | awk '{printf "%.2f\n", $1 * 1000}'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
maximum() { printf '%s\n' "$@" | sort -g | tail -n1; }

declare -a info info_floor set
for _ in $(seq 15); do
  info_floor+=("$(ms "http://127.0.0.1:$floor_port/cnf?cmd=x")")
  info+=("$(ms "http://127.0.0.1:$port/cnf?cmd=get_dev_info")")
done
for i in $(seq 20); do
  set+=("$(ms -X POST -H 'Content-Type: application/json' \
    --data "{\"devices\":[{\"dev_id\":\"E5\",\"max_charging_cur\":$((10000 + i * 100))}]}" \
    "http://127.0.0.1:$port/cnf?cmd=set_params")")
done
bytes=$(curl -s "http://127.0.0.1:$port/cnf?cmd=get_dev_info" | wc -c)
i=$(median "${info[@]}"); f=$(median "${info_floor[@]}")
ratio=$(python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.1f}')" "$i" "$f")
echo "| get_dev_info with 10 000 devices | $i ms ($bytes B; curl, median of 15) | $f ms (floor_http json3k, 3 KB) | $ratio | ≤ 20 ms |"
echo "| one-device set_params with 10 000 devices | $(median "${set[@]}") ms median, $(maximum "${set[@]}") ms max (curl, 20) | — | — | ≤ 50 ms |"
