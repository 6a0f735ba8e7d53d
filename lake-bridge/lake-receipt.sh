#!/bin/sh
# Build a Lake project and write its receipt to .lake/receipt/.
#
# Usage: lake-receipt.sh [LAKE BUILD ARGS...]   (run from the project root)
#
# Uses `lake-receipt` when it is on PATH, else `cargo receipt lake`. The exit status is
# lake's own when the build fails (the receipt is still written), 1 when verification
# fails, 2 on a usage or I/O error.
set -eu

if command -v lake-receipt >/dev/null 2>&1; then
    run() { lake-receipt "$@"; }
elif command -v cargo >/dev/null 2>&1 && cargo receipt --help >/dev/null 2>&1; then
    run() { cargo receipt lake "$@"; }
else
    echo "lake-receipt.sh: neither lake-receipt nor cargo receipt is installed" >&2
    exit 2
fi

status=0
run build -- "$@" || status=$?
if [ "$status" -ne 0 ]; then
    exit "$status"
fi
run verify
