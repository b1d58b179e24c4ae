#!/usr/bin/env bash
# Gateway benchmarks (issue 4, issue 24): requests/s for a cached 1 KiB name
# under wrk next to nginx serving the same bytes, over http and over https
# with one certificate, and memory per idle WebSocket peer.
# Needs wrk and nginx (apt-get install wrk nginx-light). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
cargo build --release --locked -p icn-gateway -p icn-tests
icn="$PWD/target/release/icn"
work=$(mktemp -d)
trap 'nginx -c "$work/nginx.conf" -p "$work" -s stop 2>/dev/null || true; kill $(jobs -p) 2>/dev/null || true' EXIT
mkdir -p "$work/www" "$work/logs"
head -c 1024 /dev/urandom > "$work/www/one.bin"
cat > "$work/nginx.conf" <<CONF
worker_processes auto;
pid $work/nginx.pid;
error_log $work/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server { listen 127.0.0.1:18092; root $work/www; }
  server {
    listen 127.0.0.1:18094 ssl;
    ssl_certificate $work/tls.pem;
    ssl_certificate_key $work/tls.key;
    root $work/www;
  }
}
CONF
# One certificate (P-256) for both TLS servers, from a CA made here (a CA's
# own certificate may not serve as a server's).
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
openssl req -x509 "${ec[@]}" -keyout "$work/ca.key" -out "$work/ca.pem" -days 2 -subj "/CN=bench CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2> /dev/null
openssl req "${ec[@]}" -keyout "$work/tls.key" -out "$work/tls.csr" -subj /CN=127.0.0.1 2> /dev/null
printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n' > "$work/leaf.ext"
openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -set_serial 1 -days 2 \
  -extfile "$work/leaf.ext" -out "$work/tls.pem" 2> /dev/null
nginx -c "$work/nginx.conf" -p "$work"
"$icn" gateway --listen 127.0.0.1:18091 --data "$work/gw" --max-per-addr 5000 --joins-per-addr 500 > "$work/gw.out" 2> "$work/gw.err" &
gw_pid=$!
sleep 1
"$icn" keygen --out "$work/k.pem" > /dev/null
url=$("$icn" publish --gateway http://127.0.0.1:18091 --key "$work/k.pem" --name /bench/one.bin --in "$work/www/one.bin" | tail -1)
for round in 1 2 3; do
  icn_rps=$(wrk -t2 -c64 -d10s "$url" | awk '/Requests\/sec/ {print $2}')
  nginx_rps=$(wrk -t2 -c64 -d10s http://127.0.0.1:18092/one.bin | awk '/Requests\/sec/ {print $2}')
  echo "round $round: icn $icn_rps req/s, nginx $nginx_rps req/s, ratio $(echo "$icn_rps / $nginx_rps" | bc -l | cut -c1-5)"
done
# The same over TLS: the gateway's own (rustls) against nginx's (OpenSSL),
# with the same certificate; wrk keeps its connections, so this is the cost
# of TLS records, not of handshakes.
"$icn" gateway --listen 127.0.0.1:18093 --data "$work/gw-tls" --no-stun --tls-cert "$work/tls.pem" \
  --tls-key "$work/tls.key" > "$work/gw-tls.out" 2> "$work/gw-tls.err" &
sleep 1
url=$("$icn" publish --gateway https://127.0.0.1:18093 --ca-cert "$work/ca.pem" --key "$work/k.pem" \
  --name /bench/one.bin --in "$work/www/one.bin" | tail -1)
for round in 1 2 3; do
  icn_rps=$(wrk -t2 -c64 -d10s "$url" | awk '/Requests\/sec/ {print $2}')
  nginx_rps=$(wrk -t2 -c64 -d10s https://127.0.0.1:18094/one.bin | awk '/Requests\/sec/ {print $2}')
  echo "https round $round: icn $icn_rps req/s, nginx $nginx_rps req/s, ratio $(echo "$icn_rps / $nginx_rps" | bc -l | cut -c1-5)"
done
target/release/icn-bench-ws --gateway ws://127.0.0.1:18091/ws --pid "$gw_pid" --peers 1000 --idle 20
