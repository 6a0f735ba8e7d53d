#!/usr/bin/env bash
# The main job: build this repository with a receipt, verify the receipt strictly (artifacts
# and source tree included), and print its summary. Arguments go to `cargo receipt build`.
#
# The tool runs from a copy outside target/: the build it records rewrites target/debug/
# (its own binary included), and `verify --artifacts` then checks exactly what was built.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build -q -p cargo-receipt
tool_dir=$(mktemp -d)
trap 'rm -rf "$tool_dir"' EXIT
cp target/debug/cargo-receipt "$tool_dir/"
tool="$tool_dir/cargo-receipt"

"$tool" receipt build --workspace "$@"
"$tool" receipt verify --artifacts --source
"$tool" receipt show
