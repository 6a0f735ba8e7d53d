#!/usr/bin/env bash
# The whole test suite: installs and starts what the tests need (scripts/test-env.sh), then
# runs every test of the workspace. Arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/test-env.sh
cargo test --workspace "$@"
