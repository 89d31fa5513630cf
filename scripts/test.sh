#!/usr/bin/env bash
# Runs every test of chargebrain: format, lints, unit, property and
# integration tests. Installs the tools the tests drive when they are
# missing (Debian/Ubuntu: mbpoll, a third-party Modbus client).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v mbpoll >/dev/null 2>&1 || missing+=(mbpoll)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing test tools: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test --workspace
