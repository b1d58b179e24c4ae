#!/usr/bin/env bash
# Churn with a gateway stopped: two gateways A and B in one ring (B joined
# through A), `icn swarm` spreads its peers over both, and A is killed as soon
# as every peer has joined. After the ring has settled without A (SETTLE
# seconds, default 15), peers publish and get while one peer per second
# leaves and a new one joins (through B, the gateway still running).
# Prints the swarm's JSON line. KILL_DELAY (seconds, default 0) lets the
# newest peers set up their DataChannels before A goes.
#
#   PEERS=100 CHURN=1 DURATION=120 scripts/bench-churn.sh
#
# Uses target/release/icn unless ICN_BIN says otherwise.
set -euo pipefail
icn=${ICN_BIN:-target/release/icn}
peers=${PEERS:-100}
churn=${CHURN:-1}
duration=${DURATION:-120}
publish=${PUBLISH:-100}
gets=${GETS:-2000}
seed=${SEED:-1}

dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

wait_url() { # name: prints the gateway's URL once it listens
  for _ in $(seq 100); do
    if grep -q "listening on" "$dir/$1.out" 2>/dev/null; then
      awk '{print $NF}' "$dir/$1.out"
      return
    fi
    sleep 0.1
  done
  echo "gateway $1 did not start:" >&2
  cat "$dir/$1.log" >&2
  exit 1
}

b_id=$("$icn" keygen --out "$dir/b.pem")
"$icn" gateway --listen 127.0.0.1:0 --data "$dir/a" --trust-gateway "$b_id" >"$dir/a.out" 2>"$dir/a.log" &
a_pid=$!
pids+=("$a_pid")
a_url=$(wait_url a)
"$icn" gateway --listen 127.0.0.1:0 --data "$dir/b" --key "$dir/b.pem" --join "$a_url" >"$dir/b.out" 2>"$dir/b.log" &
pids+=($!)
b_url=$(wait_url b)

"$icn" swarm --gateway "$a_url" --gateway "$b_url" --peers "$peers" \
  --publish "$publish" --gets "$gets" --duration "$duration" --churn "$churn" --seed "$seed" \
  --settle "${SETTLE:-15}" \
  2> >(while IFS= read -r line; do
         case $line in
           "joined $peers/$peers")
             (sleep "${KILL_DELAY:-0}"; kill -9 "$a_pid" 2>/dev/null || true) &
             echo "$line; gateway A killed in ${KILL_DELAY:-0} s" >&2 ;;
           peer-id*|published-name*) ;;
           *) echo "$line" >&2 ;;
         esac
       done)
