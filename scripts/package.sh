#!/usr/bin/env bash
# Builds the Debian package of chargebrain from the release binary:
# target/debian/chargebrain_<version>-1_<arch>.deb (the path is printed last).
# Installs cargo-deb (crates.io, into ~/.cargo/bin) when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION=3.8.0
if ! cargo deb --version 2>/dev/null | grep -q "$CARGO_DEB_VERSION"; then
  echo "installing cargo-deb $CARGO_DEB_VERSION" >&2
  cargo install --locked --quiet cargo-deb --version "$CARGO_DEB_VERSION"
fi
cargo deb --quiet "$@"
