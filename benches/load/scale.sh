#!/usr/bin/env bash
# The daemon at scale: a generated settings file of N HTTP-input devices (a
# grid meter M1 and N-1 wallboxes E2..EN, the simulated plant off), against
# one or more release binaries, interleaved round by round so that each sees
# the same load on a shared machine. Per binary and round it prints:
#   - startup: from exec to the first get_dev_info that lists all N devices
#     (a fresh state file, seeded from the settings; and a restart that reads
#     the state file it left);
#   - get_dev_info with N devices: bytes, then wrk at 1 and 16 connections
#     (req/s, p50, p99), and the same with the filters dev_id= (one device)
#     and fields= (three keys);
#   - set_params of one device's max_charging_cur (curl, median and max of
#     20, each a POST with Content-Type application/json);
#   - the state files' sizes after them;
#   - idle RSS: the shipped settings (simulated plant), then 100, 1 000 and
#     N HTTP-input devices, 2 s after the first full get_dev_info.
#
#   benches/load/scale.sh [-n N] [-r rounds] [-d wrk seconds] BINARY...
#   benches/load/scale.sh target/release/chargebrain                # N=10000, 1 round, 5 s
#   benches/load/scale.sh -r 3 /tmp/old/chargebrain target/release/chargebrain
set -euo pipefail
cd "$(dirname "$0")/../.."
n=10000 rounds=1 secs=5
while getopts "n:r:d:" opt; do
  case $opt in
    n) n=$OPTARG ;;
    r) rounds=$OPTARG ;;
    d) secs=$OPTARG ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "usage: $0 [-n N] [-r rounds] [-d secs] BINARY..."; exit 2; }
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 1; }
dir=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT

# settings.toml without its devices, the plant off, then the generated devices.
settings() { # count -> path
  local f="$dir/settings-$1.toml"
  if [ ! -f "$f" ]; then
    python3 benches/load/many_devices.py "$1" >"$f"
  fi
  echo "$f"
}

now_ms() { date +%s%3N; }

# Starts BINARY with SETTINGS and DATA dir, plant on or off; waits until
# get_dev_info lists COUNT devices. Sets pid, port, and started_ms.
start() { # binary settings data plant count
  local t0
  t0=$(now_ms)
  CHARGEBRAIN__HTTP__LISTEN="127.0.0.1:0" CHARGEBRAIN__SIMULATION__BASE_PORT=0 \
  CHARGEBRAIN__SIMULATION__ENABLED="$4" \
  CHARGEBRAIN__STORAGE__DIR="$3" CHARGEBRAIN__LOG__LEVEL=warn \
    "$1" --config "$2" >"$dir/out" 2>"$dir/err" &
  pid=$!
  port=""
  for _ in $(seq 3000); do
    port=$(sed -n 's#^listening on http://127.0.0.1:\([0-9]*\).*#\1#p' "$dir/out" | head -n1)
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$dir/err"; exit 1; }
    sleep 0.01
  done
  for _ in $(seq 3000); do
    local got
    got=$(curl -s "http://127.0.0.1:$port/cnf?cmd=get_dev_info" |
      python3 -c 'import json,sys; print(len(json.load(sys.stdin)["devices"]))' 2>/dev/null || echo 0)
    [ "$got" = "$5" ] && break
    sleep 0.01
  done
  started_ms=$(( $(now_ms) - t0 ))
}

stop() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
}

rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }

wrk_row() { # label query connections
  local out
  out=$(wrk -t$(( $3 < 2 ? 1 : 2 )) -c"$3" -d"${secs}s" --timeout 30s --latency "http://127.0.0.1:$port/cnf?$2")
  printf '  %-40s c=%-2s %8s req/s  p50 %-9s p99 %-9s non-2xx %s\n' "$1" "$3" \
    "$(awk '/Requests\/sec/ {printf "%d", $2}' <<<"$out")" \
    "$(awk '$1=="50%" {print $2}' <<<"$out")" "$(awk '$1=="99%" {print $2}' <<<"$out")" \
    "$(awk '/Non-2xx/ {print $NF}' <<<"$out" | grep . || echo 0)"
}

set_params_row() {
  local times=() t
  for i in $(seq 20); do
    t=$(curl -s -o "$dir/answer" -w '%{http_code} %{time_total}' -X POST \
      -H 'Content-Type: application/json' \
      --data "{\"devices\":[{\"dev_id\":\"E5\",\"max_charging_cur\":$((10000 + i * 100))}]}" \
      "http://127.0.0.1:$port/cnf?cmd=set_params")
    [ "${t%% *}" = 200 ] || { echo "  set_params answered ${t%% *}: $(cat "$dir/answer")"; return; }
    times+=("${t#* }")
  done
  printf '%s\n' "${times[@]}" | sort -n |
    awk '{a[NR]=$1*1000} END {printf "  set_params of one device (curl, 20): median %.1f ms, max %.1f ms\n", a[int((NR+1)/2)], a[NR]}'
}

for round in $(seq "$rounds"); do
  for bin in "$@"; do
    echo "round $round, $bin"
    big=$(settings "$n")
    data="$dir/data-$round-$(basename "$(dirname "$bin")")-$RANDOM"
    start "$bin" "$big" "$data" false "$n"
    echo "  startup with $n devices, fresh state: ${started_ms} ms"
    sleep 2
    echo "  idle RSS with $n devices: $(rss) kB"
    echo "  get_dev_info bytes: $(curl -s "http://127.0.0.1:$port/cnf?cmd=get_dev_info" | wc -c)"
    wrk_row "get_dev_info" "cmd=get_dev_info" 1
    wrk_row "get_dev_info" "cmd=get_dev_info" 16
    if curl -sf -o /dev/null "http://127.0.0.1:$port/cnf?cmd=get_dev_info&dev_id=E5"; then
      echo "  get_dev_info&dev_id=E5 bytes: $(curl -s "http://127.0.0.1:$port/cnf?cmd=get_dev_info&dev_id=E5" | wc -c)"
      wrk_row "get_dev_info&dev_id=E5" "cmd=get_dev_info&dev_id=E5" 16
      echo "  get_dev_info&fields=dev_id,state,lb_current bytes: $(curl -s "http://127.0.0.1:$port/cnf?cmd=get_dev_info&fields=dev_id,state,lb_current" | wc -c)"
      wrk_row "get_dev_info&fields=(3 keys)" "cmd=get_dev_info&fields=dev_id,state,lb_current" 16
    fi
    wrk_row "get_params" "cmd=get_params" 1
    set_params_row
    echo "  RSS after the runs: $(rss) kB"
    stop
    echo "  state files: $(cd "$data" && ls -l | awk 'NR>1 {printf "%s %s B; ", $9, $5}')"
    start "$bin" "$big" "$data" false "$n"
    echo "  startup with $n devices, from the state file: ${started_ms} ms"
    stop
    rm -rf "$data"
    start "$bin" settings.toml "$dir/plant" true 6
    sleep 2
    echo "  idle RSS, shipped settings (simulated plant): $(rss) kB"
    stop
    rm -rf "$dir/plant"
    for m in 100 1000; do
      start "$bin" "$(settings "$m")" "$dir/data-$m" false "$m"
      sleep 2
      echo "  idle RSS with $m devices: $(rss) kB (startup ${started_ms} ms)"
      stop
      rm -rf "$dir/data-$m"
    done
  done
done
