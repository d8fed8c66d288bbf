#!/usr/bin/env bash
# Builds and runs the book-lending example: lender threads competing for the same book copies through
# the event store, followed by a check of the invariants over the whole log.
#
#   bash scripts/run-example.sh                      # throwaway local PostgreSQL, default workload
#   bash scripts/run-example.sh --lenders 16 --seconds 10
#   bash scripts/run-example.sh --dsn 'host=db.example dbname=lending user=app'
#   PGHOST=/var/run/postgresql PGDATABASE=lending bash scripts/run-example.sh
#
# Every argument goes to the app (see --help). With --dsn, or with any of PGHOST, PGPORT, PGDATABASE
# or PGSERVICE set, the app runs against that server. Otherwise a throwaway PostgreSQL 15 is started
# in a temporary folder for the run and deleted afterwards (scripts/throwaway-postgres.sh).
# The exit code is the app's: 0 when the invariants hold and nothing unexpected happened.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/install-deps.sh

# Only the example's target: the release preset also configures tests and benchmarks, which need not
# be compiled just to run the example. -j2 comes from the build preset.
cmake --preset release
cmake --build --preset release --target book_lending
app="$root/build/release/examples/book_lending"

use_given_server=false
for arg in "$@"; do
    case "$arg" in
    --dsn | --dsn=*) use_given_server=true ;;
    --help | -h) use_given_server=true ;; # nothing to connect to
    esac
done
for var in PGHOST PGPORT PGDATABASE PGSERVICE; do
    if [[ -n "${!var:-}" ]]; then
        use_given_server=true
    fi
done

if $use_given_server; then
    exec "$app" "$@"
fi

echo "run-example: no --dsn and no PGHOST/PGPORT/PGDATABASE/PGSERVICE set, so starting a throwaway local" \
    "PostgreSQL for this run (deleted afterwards)"
exec bash scripts/throwaway-postgres.sh run -- "$app" "$@"
