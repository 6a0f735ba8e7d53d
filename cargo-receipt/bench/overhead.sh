#!/usr/bin/env bash
# Overhead of `cargo receipt build` over `cargo build` on a no-op rebuild of this workspace.
#
# Usage: cargo-receipt/bench/overhead.sh [RUNS]   (default 9; run from anywhere)
#
# Both commands run alternately RUNS times after one warm-up each; the script prints every
# sample, the medians and their ratio. Receipts go to a temporary directory, so the
# workspace's own target/receipt/ chain is not extended. Set RECEIPT_BIN to time another
# cargo-receipt binary (default: target/release/cargo-receipt, built first, as `cargo install`
# builds it).
set -euo pipefail

runs="${1:-9}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
cargo build -q --release -p cargo-receipt
bin="${RECEIPT_BIN:-$root/target/release/cargo-receipt}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

ms() { # runs "$@" silently, prints its wall time in milliseconds
  local t0 t1
  t0=$(date +%s%N)
  "$@" >/dev/null 2>&1
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000000 ))
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# Warm-up: the first runs compile whatever is stale and fill the digest caches.
cargo build -q
"$bin" receipt build --out "$out" -- -q >/dev/null 2>&1

plain=()
receipt=()
for i in $(seq "$runs"); do
  plain+=("$(ms cargo build -q)")
  receipt+=("$(ms "$bin" receipt build --out "$out" -- -q)")
  echo "run $i: cargo build ${plain[-1]} ms, cargo receipt build ${receipt[-1]} ms"
done

mp=$(printf '%s\n' "${plain[@]}" | median)
mr=$(printf '%s\n' "${receipt[@]}" | median)
ratio=$(awk -v a="$mr" -v b="$mp" 'BEGIN { printf "%.2f", a / b }')
echo "median cargo build:         ${mp} ms"
echo "median cargo receipt build: ${mr} ms"
echo "ratio: ${ratio}x (target <= 1.5x)"
