#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs the PostgreSQL server binaries if they are
# missing, then runs every test of the workspace. The PostgreSQL tests start their own primary
# and two streaming hot standbys on free loopback ports (crates/dbroute-test-cluster) and stop
# them when they finish; nothing else needs to be running.
set -euo pipefail
cd "$(dirname "$0")/.."

have_server() {
  [ -n "${DBROUTE_PG_BIN:-}" ] && [ -x "${DBROUTE_PG_BIN}/initdb" ] && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

if ! have_server; then
  echo "==> PostgreSQL server binaries not found: installing the Debian package 'postgresql'"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
  have_server || { echo "PostgreSQL server binaries still missing after install" >&2; exit 1; }
fi

echo "==> cargo test --workspace"
cargo test --workspace "$@"
