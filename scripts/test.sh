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
  for c in rustfmt clippy rust-src; do
    rustup component list --installed | grep -q "^$c" || rustup component add "$c"
  done
fi
command -v openssl >/dev/null || { echo "openssl is needed by the CLI tests (apt-get install openssl)" >&2; exit 1; }
command -v chromium >/dev/null || { echo "chromium is needed by the browser tests (apt-get install chromium)" >&2; exit 1; }
command -v chromedriver >/dev/null || { echo "chromedriver runs the wasm unit tests (apt-get install chromium-driver)" >&2; exit 1; }
command -v node >/dev/null || { echo "node (20 or later) is needed by the browser tests" >&2; exit 1; }
# The NAT tests run browsers in network namespaces behind iptables NAT, with coturn.
for tool in ip iptables turnserver curl Xvfb; do
  command -v "$tool" >/dev/null || { echo "$tool is needed by the NAT tests (apt-get install iproute2 iptables coturn curl xvfb)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "the NAT tests make network namespaces: run as root" >&2; exit 1; }
# The wasm-bindgen CLI (its test runner runs icn-web's wasm unit tests in
# Chromium) must match the pinned wasm-bindgen crate exactly.
wb_version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
if [ "$(wasm-bindgen --version 2>/dev/null | cut -d' ' -f2)" != "$wb_version" ]; then
  cargo install wasm-bindgen-cli --version "$wb_version"
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "icn-core and icn-web build (and icn-web lints) for wasm32-unknown-unknown"
cargo build --locked -p icn-core -p icn-web --target wasm32-unknown-unknown
cargo clippy --locked -p icn-web --target wasm32-unknown-unknown --tests -- -D warnings

step "cargo test --workspace (the icn binary embeds the browser bundle, built by icn-gateway/build.rs)"
cargo test --workspace --locked

step "icn-web unit tests in headless Chromium (wasm-bindgen-test)"
CHROMEDRIVER="$(command -v chromedriver)" cargo test --locked -p icn-web --target wasm32-unknown-unknown

step "browser end-to-end tests (headless Chromium, bundle served by the gateway)"
cargo build --locked -p icn-gateway
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
ICN_BIN="$PWD/target/debug/icn" node --test tests/browser/
