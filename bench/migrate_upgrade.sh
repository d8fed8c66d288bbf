#!/usr/bin/env bash
# What upgrading a table in place costs the application: builds a table in the Go library's layout
# with N events (default 2,500,000), starts a writer (single-row INSERTs) and a reader (primary-key
# SELECTs) with pgbench, runs migrate() (bench/migrate_upgrade.cpp) after 5 s, and prints the
# latencies of the transactions that started while it ran, against those before.
#
#   cmake --build build/release --target migrate_upgrade
#   scripts/throwaway-postgres.sh run -- bash bench/migrate_upgrade.sh build/release/bench/migrate_upgrade
#
# Environment: EVENTS (2500000), SECONDS_EACH (25: pgbench's run time). Works in the database of the
# PG* variables, on tables named events and snapshots, which must not exist.
set -euo pipefail

migrate_bin=$(realpath "${1:?the migrate_upgrade binary}")
events=${EVENTS:-2500000}
seconds=${SECONDS_EACH:-25}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

psql -q -v ON_ERROR_STOP=1 <<SQL
CREATE TABLE events (sequence_number BIGSERIAL PRIMARY KEY, occurred_at TIMESTAMPTZ NOT NULL,
    event_type TEXT NOT NULL, payload JSONB NOT NULL, metadata JSONB DEFAULT '{}');
CREATE TABLE snapshots (projection_type TEXT NOT NULL, filter_hash TEXT NOT NULL, sequence_number BIGINT NOT NULL,
    snapshot_data JSONB NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(), PRIMARY KEY (projection_type, filter_hash));
INSERT INTO events (occurred_at, event_type, payload)
    SELECT now(), 'T' || (g % 1000), jsonb_build_object('BookID', 'book-' || g, 'N', g,
                                                        'Title', 'lorem ipsum dolor sit amet consectetur adipiscing')
    FROM generate_series(1, $events) g;
CREATE INDEX idx_events_event_type ON events (event_type);
CREATE INDEX idx_events_occurred_at ON events (occurred_at);
CREATE INDEX idx_events_payload_gin ON events USING gin (payload jsonb_path_ops) WITH (fastupdate = off);
CREATE INDEX idx_snapshots_sequence ON snapshots (sequence_number DESC);
CREATE INDEX idx_snapshots_created_at ON snapshots (created_at DESC);
VACUUM ANALYZE events;
SQL
echo "table: $events events, $(psql -tAc "SELECT pg_size_pretty(pg_total_relation_size('events'))")"

cat >"$work/insert.sql" <<'SQL'
INSERT INTO events (occurred_at, event_type, payload) VALUES (now(), 'W', '{"BookID":"w"}');
SQL
cat >"$work/select.sql" <<SQL
\set n random(1, $events)
SELECT * FROM events WHERE sequence_number = :n;
SQL
cd "$work"
pgbench -n -c 1 -T "$seconds" -f insert.sql -l --log-prefix=insert >/dev/null 2>&1 &
pgbench -n -c 1 -T "$seconds" -f select.sql -l --log-prefix=select >/dev/null 2>&1 &
sleep 5
from=$(date +%s.%N)
"$migrate_bin" "host=$PGHOST port=${PGPORT:-5432} user=${PGUSER:-postgres} dbname=${PGDATABASE:-postgres}"
until=$(date +%s.%N)
wait

# pgbench's per-transaction log: column 3 is the latency (us), 5 and 6 the start (epoch s, us).
for kind in insert select; do
    awk -v a="$from" -v b="$until" -v kind="$kind" '
        { t = $5 + $6 / 1e6 }
        t < a { n0++; s0 += $3; if ($3 > m0) m0 = $3 }
        t >= a && t <= b { n1++; s1 += $3; if ($3 > m1) m1 = $3 }
        END { printf "%-6s before migrate(): %6d transactions, mean %.2f ms, max %.1f ms; during: %6d, mean %.2f ms, max %.1f ms\n",
                     kind, n0, s0 / n0 / 1000, m0 / 1000, n1, s1 / n1 / 1000, m1 / 1000 }' "$kind".[0-9]*
done
