#!/usr/bin/env bash
# Runs the example flow (examples/node-red/flows.json) in the Node-RED that
# scripts/test.sh installs (pinned, under ~/.cache/chargebrain, not on the
# PATH), installing it first if it is missing. The flow talks to chargebrain
# at CHARGEBRAIN_URL (default http://127.0.0.1:8080); its editor is at
# http://127.0.0.1:1880 (NODE_RED_PORT). The flow is copied to a Node-RED
# user directory (NODE_RED_USER_DIR, default ~/.cache/chargebrain/node-red-user)
# the first time; edits made in the editor stay there.
#   scripts/node-red.sh             run the flow
#   scripts/node-red.sh --install   install if missing; print the node-red path
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_RED_VERSION=4.1.15
cache="${XDG_CACHE_HOME:-$HOME/.cache}/chargebrain"
node_red_dir="$cache/node-red-$NODE_RED_VERSION"
node_red="$node_red_dir/node_modules/.bin/node-red"

if [ ! -x "$node_red" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "Node-RED needs npm: install Debian's nodejs and npm (scripts/test.sh does)" >&2
    exit 2
  fi
  echo "installing Node-RED $NODE_RED_VERSION into $node_red_dir" >&2
  mkdir -p "$node_red_dir"
  npm install --prefix "$node_red_dir" --no-audit --no-fund --loglevel=error "node-red@$NODE_RED_VERSION" >/dev/null
fi
if [ "${1:-}" = "--install" ]; then
  echo "$node_red"
  exit 0
fi

user_dir="${NODE_RED_USER_DIR:-$cache/node-red-user}"
mkdir -p "$user_dir"
[ -f "$user_dir/flows.json" ] || cp examples/node-red/flows.json "$user_dir/flows.json"
exec "$node_red" --userDir "$user_dir" --settings examples/node-red/settings.js "$user_dir/flows.json"
