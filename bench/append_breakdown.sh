#!/usr/bin/env bash
# Where a single append's time goes beyond a plain INSERT: pgbench replays the library's statement
# shapes one piece at a time (prepared, generic plans, JIT and parallel query off, as the library's
# sessions run), alternating the scripts for several rounds so that drift hits them all alike.
#
#   bash bench/append_breakdown.sh "host=/var/tmp/eventstore-bench/run port=5499 user=postgres dbname=fixture_2500000"
#
# Options (environment): ROUNDS (3), SECONDS_EACH (8), ONLY (a grep -E pattern of script names). Needs the store's table "events" (migrated,
# ideally a fixture); the rows the scripts insert are deleted at the end. Prints, per script, the
# mean latency of each round in µs and their median.
set -euo pipefail

dsn=${1:?usage: append_breakdown.sh CONNINFO}
rounds=${ROUNDS:-3}
seconds=${SECONDS_EACH:-8}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A BookCopyAddedToCirculation payload with the fixture's nine keys, on a fresh book, as the benchmark
# appends it (OccurredAt fixed: the scripts measure the statements, not the payload's contents).
payload="'{\"EventType\":\"BookCopyAddedToCirculation\",\"BookID\":\"breakdown-' || :id || '\",\"ISBN\":\"978-1-098-10013-1\",\"Title\":\"Learning Domain-Driven Design\",\"Authors\":\"Vlad Khononov\",\"Edition\":\"First Edition\",\"Publisher\":\"O''Reilly Media, Inc.\",\"PublicationYear\":2021,\"OccurredAt\":\"2026-01-01T00:00:00Z\"}'"
types="'{BookCopyAddedToCirculation,BookCopyLentToReader,BookCopyRemovedFromCirculation,BookCopyReturnedByReader}'::text[]"
check="(SELECT coalesce(max(e.sequence_number + 0), 0) FROM events e WHERE (e.event_type || '') = ANY($types) AND e.payload @> ('{\"BookID\":\"breakdown-' || :id || '\"}')::jsonb) = 0"
insert_values="INSERT INTO events (event_type, occurred_at, payload, metadata) VALUES ('BookCopyAddedToCirculation', now(), ($payload)::jsonb, '{}');"
insert_select="INSERT INTO events (event_type, occurred_at, payload, metadata) SELECT 'BookCopyAddedToCirculation', now(), ($payload)::jsonb, '{}'"
# A single book append takes 17 advisory locks (10 writer keys, 8 stripes of the BookID key shared,
# one of them also the writer's).
locks() { echo "SELECT pg_advisory_xact_lock(:id::bigint * 32 + g) FROM generate_series(1, $1) AS g;"; }
var='\set id random(1, 2000000000)'

script() { # name, then the script's lines
    local name=$1
    shift
    printf '%s\n' "$var" "$@" >"$work/$name.sql"
}
script a_select_1 "SELECT 1;"
script b_check_alone "SELECT $check;"
script c_insert "$insert_values"
script d_insert_select "$insert_select WHERE (SELECT 0) = 0;"
script e_insert_checked "$insert_select WHERE $check;"
script f_pipeline_select_1_insert '\startpipeline' "SELECT 1;" "$insert_values" '\endpipeline'
script g_pipeline_1_lock_insert '\startpipeline' "$(locks 1)" "$insert_values" '\endpipeline'
script h_pipeline_17_locks_insert '\startpipeline' "$(locks 17)" "$insert_values" '\endpipeline'
script i_library_shape '\startpipeline' "$(locks 17)" "$insert_select WHERE $check;" '\endpipeline'

export PGOPTIONS="-c plan_cache_mode=force_generic_plan -c jit=off -c max_parallel_workers_per_gather=0"
declare -A results
names=$(find "$work" -name '*.sql' -printf '%f\n' | sed 's|\.sql$||' | sort | grep -E "${ONLY:-.}")
for ((r = 1; r <= rounds; r++)); do
    for name in $names; do
        us=$(pgbench -n -M prepared -T "$seconds" -f "$work/$name.sql" "$dsn" 2>&1 |
            awk '/latency average/ { printf "%.0f", $4 * 1000 }')
        results[$name]="${results[$name]:-} $us"
    done
done
printf '%-30s %-22s %s\n' "script" "mean µs per round" "median"
for name in $names; do
    # shellcheck disable=SC2086
    median=$(printf '%s\n' ${results[$name]} | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
    printf '%-30s %-22s %s\n' "$name" "${results[$name]# }" "$median"
done
psql -X -q "$dsn" -c "DELETE FROM events WHERE payload @> '{\"ISBN\":\"978-1-098-10013-1\",\"OccurredAt\":\"2026-01-01T00:00:00Z\"}' AND payload->>'BookID' LIKE 'breakdown-%'"
psql -X -q "$dsn" -c "VACUUM events"
