#!/usr/bin/env bash
# The main job: build this repository with a receipt, verify the receipt strictly (artifacts
# and source tree included), and print its summary; then the same signed, with a throw-away
# key generated here: build --sign, verify --key (and --since an earlier checkpoint of the
# signed chain), and the consistency proof between the two checkpoints. Arguments go to
# `cargo receipt build`.
#
# The tool runs from a copy outside target/: the build it records rewrites target/debug/
# (its own binary included), and `verify --artifacts` then checks exactly what was built.
# The signed chain lives in a temp directory: its key is new on every run, so a chain kept
# across runs would hold entries no key given here could verify.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build -q -p cargo-receipt
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp target/debug/cargo-receipt "$work/"
tool="$work/cargo-receipt"

"$tool" receipt build --workspace "$@"
"$tool" receipt verify --artifacts --source
"$tool" receipt show

# Signed: a throw-away Ed25519 key (private key mode 0600), two signed builds (the second
# extends the chain), every signature and the chain's growth verified against the key.
"$tool" receipt keygen --out "$work/keys" >/dev/null
key="$work/keys/receipt-signing.key"
pub="$work/keys/receipt-signing.pub"
signed="$work/signed"
"$tool" receipt build --workspace --sign "$key" --out "$signed" "$@"
cp "$signed/checkpoint" "$work/checkpoint-1"
"$tool" receipt build --workspace --sign "$key" --out "$signed" "$@"
"$tool" receipt verify "$signed" --artifacts --source --key "$pub" --since "$work/checkpoint-1"
"$tool" receipt consistency "$work/checkpoint-1" "$signed"
echo
