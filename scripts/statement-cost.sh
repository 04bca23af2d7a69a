#!/usr/bin/env bash
# The client's instructions per statement under callgrind (counts, not seconds: the same on
# every run of the same binary), direct vs through the router:
#   sqlx:    `SELECT $1::int` on the replica's pool (with and without sqlx's ping before each
#            use) vs through `&PgRouter` (crates/dbroute/examples/statement_cost.rs);
#   sea-orm: `Entity::find_by_id(..).one(&db)` on a DatabaseConnection to the replica (without
#            the ping) vs through a SeaRouter (crates/dbroute-sea-orm/examples/statement_cost.rs).
#   observability: the router's statement with tracing spans and/or the metrics feature on.
# `./scripts/statement-cost.sh [sqlx|sea-orm|observability]` (sqlx and sea-orm without an
# argument). Needs valgrind and
# the PostgreSQL server binaries (./scripts/test.sh installs the latter).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install valgrind" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

measure() { # package, then the modes to compare ($FEATURES: cargo features to build with)
  local package=$1; shift
  cargo build -q --release -p "$package" --example statement_cost ${FEATURES:+--features "$FEATURES"}
  local bin=target/release/examples/statement_cost
  for mode in "$@"; do
    local counts=()
    for n in 500 2500; do # the difference cancels start-up and warm-up
      MODE=$mode N=$n valgrind --tool=callgrind --toggle-collect='*statement_cost*statements*' \
        --callgrind-out-file="$out/$package.$mode.$n" "$bin" >/dev/null 2>&1
      counts+=("$(grep -E '^summary:' "$out/$package.$mode.$n" | awk '{print $2}')")
    done
    echo "$package $mode: $(( (counts[1] - counts[0]) / 2000 )) instructions per statement"
  done
}

case "${1:-both}" in
  sqlx) measure dbroute direct unpinged router ;;
  observability)
    # The same router statement with tracing spans enabled, then through the metrics
    # feature (without and with a recorder), then both.
    measure dbroute router router-spans
    FEATURES=metrics measure dbroute router router-metrics router-both ;;
  sea-orm) measure dbroute-sea-orm unpinged router ;;
  both) measure dbroute direct unpinged router; measure dbroute-sea-orm unpinged router ;;
  *) echo "usage: $0 [sqlx|sea-orm|observability]" >&2; exit 2 ;;
esac
