#!/usr/bin/env bash
# Runs every icn check: formatting, lints, the wasm32 build of the core, and all tests.
# Usage: scripts/test.sh     (from anywhere inside the repository)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*"; }

# Toolchain pieces a new machine may lack; rustup installs them without root.
if command -v rustup >/dev/null; then
  rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
  for c in rustfmt clippy; do
    rustup component list --installed | grep -q "^$c" || rustup component add "$c"
  done
fi
command -v openssl >/dev/null || { echo "openssl is needed by the CLI tests (apt-get install openssl)" >&2; exit 1; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "icn-core and icn-web build (and icn-web lints) for wasm32-unknown-unknown"
cargo build --locked -p icn-core -p icn-web --target wasm32-unknown-unknown
cargo clippy --locked -p icn-web --target wasm32-unknown-unknown -- -D warnings

step "cargo test --workspace"
cargo test --workspace --locked
