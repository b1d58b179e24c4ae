#!/usr/bin/env bash
# The gateway under each attack of spec/security.md: a fresh gateway per
# attack, `icn-attack` running the attack for SECONDS (default 300) while an
# honest native peer gets a name through the ring and over HTTP twice a
# second. Prints one JSON line per attack: the gateway's resident memory at
# the start, its peak and at the end, the honest gets that succeeded and
# failed, and the counters of the bounds that held.
#
#   SECONDS_EACH=300 scripts/bench-attacks.sh [attack ...]
#
# Attacks: store-flood never-read join-flood manifest disk-fill (all by
# default). Uses target/release/{icn,icn-attack} unless ICN_BIN and
# ICN_ATTACK say otherwise (cargo build --release -p icn-gateway -p icn-tests).
set -euo pipefail
icn=${ICN_BIN:-target/release/icn}
attacker=${ICN_ATTACK:-target/release/icn-attack}
seconds=${SECONDS_EACH:-300}
attacks=("$@")
[ ${#attacks[@]} -gt 0 ] || attacks=(store-flood never-read join-flood manifest disk-fill)

dir=$(mktemp -d)
gw=""
cleanup() {
  [ -n "$gw" ] && kill -9 "$gw" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

for a in "${attacks[@]}"; do
  rm -rf "$dir/data"
  # The disk-filling publisher meets a store of 256 MiB rather than the
  # default 64 GiB, so that the run does not write that much; the ring
  # node's store is 64 MiB rather than 512, so that its bound shows.
  "$icn" gateway --listen 127.0.0.1:0 --data "$dir/data" --max-store 256M --ring-store 64M \
    >"$dir/gw.out" 2>"$dir/gw.log" &
  gw=$!
  url=""
  for _ in $(seq 100); do
    url=$(awk '/listening on/ {print $NF}' "$dir/gw.out" 2>/dev/null || true)
    [ -n "$url" ] && break
    sleep 0.1
  done
  [ -n "$url" ] || { echo "the gateway did not start:" >&2; cat "$dir/gw.log" >&2; exit 1; }
  "$attacker" --url "$url" --pid "$gw" --attack "$a" --seconds "$seconds"
  kill -9 "$gw" 2>/dev/null || true
  wait "$gw" 2>/dev/null || true
  gw=""
done
