#!/usr/bin/env bash
# Catch-up throughput (bench/catch_up.cpp): fills a table with EVENTS events (9 in 10 of the type the
# subscription follows), then runs COPY of the matching rows (the floor), subscribe from 0 and
# query_stream, each in a process of its own, alternating for ROUNDS rounds; prints every run, the
# medians, and each one's rate against COPY's.
#
#   cmake --build build/release --target catch_up
#   scripts/throwaway-postgres.sh run -- bash bench/catch_up.sh build/release/bench/catch_up
#
# Environment: EVENTS (1111112: 1,000,000 matching), ROUNDS (3). Works in the database of the PG*
# variables, on a table named catchup_events (and its snapshot and checkpoint tables), dropped after.
set -euo pipefail

bin=$(realpath "${1:?the catch_up binary}")
events=${EVENTS:-1111112}
rounds=${ROUNDS:-3}
work=$(mktemp -d)
cleanup() {
    psql -q -X -c "DROP TABLE IF EXISTS catchup_events, catchup_events_snapshots, catchup_events_checkpoints" \
        >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

"$bin" "" setup "$events"
for round in $(seq 1 "$rounds"); do
    for mode in copy subscribe stream; do
        "$bin" "" "$mode" | tee -a "$work/results"
    done
done

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
field() { awk -v m="$1" -v f="$2" '$1 == m { for (i = 2; i <= NF; ++i) { split($i, kv, "="); if (kv[1] == f) print kv[2] } }' "$work/results"; }
copy_rate=$(field copy rate | median)
echo "medians over $rounds rounds:"
for mode in copy subscribe stream; do
    rate=$(field "$mode" rate | median)
    peak=$(field "$mode" peak_rss_mb | median)
    awk -v m="$mode" -v r="$rate" -v c="$copy_rate" -v p="$peak" \
        'BEGIN { printf "  %-9s %9.0f rows/s  %.2fx of COPY  peak memory %.0f MB\n", m, r, r / c, p }'
done
