#!/usr/bin/env bash
# The real third-party parts the test suite uses, installed and started here so a fresh
# machine needs nothing else. Source it (`. scripts/test-env.sh`) to get the variables in
# your shell, or let `scripts/test.sh` do it:
#
#   RECEIPT_TEST_PYTHON        a Python venv (.venv/) with the third-party verifiers and services:
#                              securesystemslib, in-toto-attestation, check-jsonschema, moto
#                              (a local S3 API), PyNaCl (libsodium, for sealed evidence)
#   RECEIPT_TEST_CHROMIUM      Debian's chromium, for the HTML report tests
#   RECEIPT_TEST_POSTGRES_URL  a PostgreSQL server on loopback, for the receipt server's
#                              second storage backend
#
# Tests that need one of these fail loudly when it is missing; they never pass silently.
# Installing Debian packages needs root (as on CI); otherwise install them yourself.

_receipt_env_main() {
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

  # --- Python venv with the third-party verifiers (pinned) ---------------------------------
  local venv="$root/.venv"
  local req="$root/scripts/test-requirements.txt"
  local stamp="$venv/.requirements.sha256"
  local want
  want=$(sha256sum "$req" | cut -d' ' -f1)
  if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "test-env: creating $venv from scripts/test-requirements.txt" >&2
    python3 -m venv "$venv" || return 1
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" || return 1
    echo "$want" >"$stamp"
  fi
  export RECEIPT_TEST_PYTHON="$venv/bin/python"

  # --- Debian packages: chromium (browser tests), postgresql (server backend) --------------
  local need=()
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
  if [ "${#need[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "test-env: apt-get install ${need[*]}" >&2
      DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" \
        >/dev/null || return 1
    else
      echo "test-env: missing ${need[*]}; install them (Debian packages) or run as root" >&2
      return 1
    fi
  fi
  export RECEIPT_TEST_CHROMIUM
  RECEIPT_TEST_CHROMIUM=$(command -v chromium)

  # --- A private PostgreSQL cluster on loopback --------------------------------------------
  local bin pgdata port=${RECEIPT_TEST_PG_PORT:-55432}
  bin=$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n1)")
  pgdata="${TMPDIR:-/tmp}/receipt-test-pg-$port"
  local as=()
  if [ "$(id -u)" = 0 ]; then as=(runuser -u postgres --); fi
  if [ ! -s "$pgdata/PG_VERSION" ]; then
    mkdir -p "$pgdata" && chmod 700 "$pgdata"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$pgdata"
    "${as[@]}" "$bin/initdb" -D "$pgdata" -A trust -U postgres >/dev/null || return 1
  fi
  if ! "${as[@]}" "$bin/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
    "${as[@]}" "$bin/pg_ctl" -D "$pgdata" -w -l "$pgdata/server.log" \
      -o "-p $port -k $pgdata -c listen_addresses=127.0.0.1" start >/dev/null || {
      echo "test-env: PostgreSQL did not start; see $pgdata/server.log" >&2
      return 1
    }
  fi
  "${as[@]}" "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'receipt_test'" | grep -q 1 ||
    "${as[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres receipt_test || return 1
  export RECEIPT_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/receipt_test"
  echo "test-env: python $RECEIPT_TEST_PYTHON, chromium $RECEIPT_TEST_CHROMIUM, $RECEIPT_TEST_POSTGRES_URL" >&2
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  _receipt_env_main
else
  _receipt_env_main
fi
