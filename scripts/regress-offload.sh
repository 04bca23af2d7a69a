#!/usr/bin/env bash
# Scores the router on PostgreSQL's own regression statements (issue 11's targets): none that a
# hot standby refuses may go to a replica, and at least 99 % of those it serves must. Fetches
# the server's source package from Debian's archive (cached under target/pg-regress), then runs
# crates/dbroute/examples/regress_offload.rs on its src/test/regress; the labelled statements go
# to target/regress-offload.tsv. Exits non-zero when a statement the standby refuses would go to
# a replica, or when the offload falls below its recorded floor.
set -euo pipefail
cd "$(dirname "$0")/.."

version="${DBROUTE_PG_SOURCE_VERSION:-15.19}"
major="${version%%.*}"
cache="${DBROUTE_PG_REGRESS_CACHE:-$PWD/target/pg-regress}"
regress="$cache/postgresql-$version/src/test/regress"
if [ ! -f "$regress/parallel_schedule" ]; then
  mkdir -p "$cache"
  url="http://deb.debian.org/debian-security/pool/updates/main/p/postgresql-$major/postgresql-${major}_$version.orig.tar.bz2"
  echo "regress-offload: fetching $url" >&2
  curl -fsSL "$url" | tar xjf - -C "$cache" --wildcards \
    "postgresql-$version/src/test/regress/sql/*" \
    "postgresql-$version/src/test/regress/data/*" \
    "postgresql-$version/src/test/regress/parallel_schedule"
  # The server process reads the data files (COPY ... FROM a file) as the postgres user.
  chmod -R a+rX "$cache"
fi
cargo run -q -p dbroute --example regress_offload -- "$regress"
