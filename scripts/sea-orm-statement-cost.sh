#!/usr/bin/env bash
# The client's instructions per SeaORM statement (`Entity::find_by_id(..).one(&db)`), on a
# DatabaseConnection to the replica (without sqlx's ping) vs through a SeaRouter, under
# callgrind (counts, not seconds). Needs valgrind and the PostgreSQL server binaries
# (./scripts/test.sh installs the latter).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is needed: apt-get install valgrind" >&2; exit 1; }
cargo build -q --release -p dbroute-sea-orm --example statement_cost
bin=target/release/examples/statement_cost
out=$(mktemp -d)
count() { # mode n -> instructions inside statements()
  MODE=$1 N=$2 valgrind --tool=callgrind --toggle-collect='*statement_cost*statements*' \
    --callgrind-out-file="$out/$1.$2" "$bin" >/dev/null 2>&1
  grep -E '^summary:' "$out/$1.$2" | awk '{print $2}'
}
for mode in unpinged router; do
  small=$(count "$mode" 500); large=$(count "$mode" 2500)
  echo "$mode: $(( (large - small) / 2000 )) instructions per statement"
done
rm -rf "$out"
