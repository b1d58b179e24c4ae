#!/usr/bin/env bash
# The publisher's round trip with the `icn` CLI, in a scratch directory:
# make a key, sign a small and a large file, verify both, read them back.
# Usage: scripts/demo.sh [DIR]     (DIR defaults to a new temporary directory)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
cargo build --release --locked -p icn-gateway
icn="$PWD/target/release/icn"
dir="${1:-$(mktemp -d)}"
mkdir -p "$dir" && cd "$dir"

echo "# in $dir"
echo "\$ icn keygen --out publisher.pem"
"$icn" keygen --out publisher.pem --force
echo "hello, icn" > hello.txt
echo "\$ icn sign --key publisher.pem --name /blog/2026/hello --in hello.txt --out hello.obj"
"$icn" sign --key publisher.pem --name /blog/2026/hello --in hello.txt --out hello.obj
echo "\$ icn verify hello.obj"
"$icn" verify hello.obj
echo "\$ icn inspect hello.obj"
"$icn" inspect hello.obj
echo "\$ icn cat hello.obj"
"$icn" cat hello.obj
head -c $((5 * 1024 * 1024)) /dev/urandom > big.bin
echo "\$ icn sign --key publisher.pem --name /files/big.bin --in big.bin --out big.obj   # 5 MiB -> 20 blocks"
"$icn" sign --key publisher.pem --name /files/big.bin --in big.bin --out big.obj
"$icn" verify big.obj
"$icn" cat big.obj --out big.copy
cmp big.bin big.copy && echo "big.bin round-tripped byte for byte ($(ls big.obj.blocks | wc -l) blocks)"
