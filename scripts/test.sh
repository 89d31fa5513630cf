#!/usr/bin/env bash
# Runs every test of chargebrain: format, lints, unit, property and
# integration tests, and builds the Debian package they check. Installs the
# tools the tests drive when they are missing: mbpoll (a third-party Modbus
# client, Debian), headless Chromium and chromedriver (Debian) for the admin
# page, systemd-analyze (Debian systemd) and dpkg-dev for the package,
# promtool (Debian prometheus) for /metrics, Mosquitto and its clients
# (Debian mosquitto, mosquitto-clients) and openssl for MQTT, cargo-deb (crates.io, by
# scripts/package.sh), Node-RED (npm, pinned, cached under
# ~/.cache/chargebrain), and the pinned Python packages of
# scripts/requirements-test.txt (a venv under the same cache).
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${XDG_CACHE_HOME:-$HOME/.cache}/chargebrain"

missing=()
command -v mbpoll >/dev/null 2>&1 || missing+=(mbpoll)
# Node runs the page's unit tests and Node-RED; Debian's nodejs (18 in
# bookworm) is new enough.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v dpkg-shlibdeps >/dev/null 2>&1 || missing+=(dpkg-dev)
command -v mosquitto >/dev/null 2>&1 || missing+=(mosquitto)
command -v mosquitto_sub >/dev/null 2>&1 || missing+=(mosquitto-clients)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# promtool alone: without the recommended exporters and their services.
norecommends=()
command -v promtool >/dev/null 2>&1 || norecommends+=(prometheus)
if [ ${#missing[@]} -gt 0 ] || [ ${#norecommends[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing test tools: ${missing[*]} ${norecommends[*]}"
  $sudo apt-get update -qq
  if [ ${#missing[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if [ ${#norecommends[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${norecommends[@]}" >/dev/null
  fi
fi

# The same pinned Node-RED that scripts/node-red.sh runs the example flow in.
NODE_RED_BIN="$(scripts/node-red.sh --install)"
export NODE_RED_BIN

# One venv per content of the requirements file: a changed pin makes a new one.
req=scripts/requirements-test.txt
venv="$cache/venv-$(sha256sum "$req" | cut -c1-12)"
if [ ! -x "$venv/bin/python" ]; then
  echo "creating the test venv $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
fi
export CHARGEBRAIN_TEST_PYTHON="$venv/bin/python"

# The Debian package from the release binary (integration_tests/package.rs).
CHARGEBRAIN_DEB="$(scripts/package.sh | tail -n 1)"
[ -f "$CHARGEBRAIN_DEB" ] || { echo "scripts/package.sh made no package" >&2; exit 1; }
export CHARGEBRAIN_DEB

# With arguments, only those tests, with the tools above ready
# (`scripts/test.sh --test integration`; scripts/soak-tests.sh uses it).
if [ $# -gt 0 ]; then
  exec cargo test "$@"
fi

# The admin page's pure helpers (web/js/lib/) under Node's own test runner
# (Node 18 or later); the page as a whole is tested in Chromium by
# integration_tests/web_*.rs. The files are named, not the folder: Node 21
# and later take the arguments as file patterns.
node -e 'process.exit(+process.versions.node.split(".")[0] >= 18 ? 0 : 1)' ||
  { echo "node $(node --version) is too old for the page's tests: Node 18 or later is needed" >&2; exit 1; }
node --test --test-reporter=spec web/test/*.test.js
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
