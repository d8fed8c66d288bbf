#!/usr/bin/env bash
# What LISTEN/NOTIFY would cost the writers: 8 pgbench clients appending single rows to a table shaped
# like the events table, each append its own transaction, with and without a pg_notify in it (and
# with one session listening), alternating for several rounds so that drift hits both alike. A
# transaction that notifies takes a database-wide lock at commit to queue its notification in commit
# order, so notifying appends commit one at a time; this measures what that does to throughput.
#
#   bash bench/notify_cost.sh "host=/path/to/socket/dir port=5432 user=postgres dbname=postgres"
#   scripts/throwaway-postgres.sh run -- bash bench/notify_cost.sh ""      # on a throwaway cluster
#
# Options (environment): ROUNDS (3), SECONDS_EACH (10), CLIENTS (8).
# Prints transactions per second per variant and round, the medians, and notify / plain.
set -euo pipefail

dsn=${1-}
rounds=${ROUNDS:-3}
seconds=${SECONDS_EACH:-10}
clients=${CLIENTS:-8}
work=$(mktemp -d)
listener_pid=
cleanup() {
    [[ -n $listener_pid ]] && kill "$listener_pid" 2>/dev/null || true
    psql -q -X "$dsn" -c "DROP TABLE IF EXISTS notify_cost_events" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

psql -q -X -v ON_ERROR_STOP=1 "$dsn" >/dev/null <<'SQL'
DROP TABLE IF EXISTS notify_cost_events;
CREATE TABLE notify_cost_events (sequence_number BIGSERIAL PRIMARY KEY, occurred_at TIMESTAMPTZ NOT NULL,
    event_type TEXT NOT NULL, payload JSONB NOT NULL, metadata JSONB DEFAULT '{}');
SQL
cat > "$work/plain.sql" <<'EOF2'
\set k random(1, 1000000)
BEGIN;
INSERT INTO notify_cost_events (occurred_at, event_type, payload) VALUES (now(), 'Noted', jsonb_build_object('k', :k::text));
COMMIT;
EOF2
cat > "$work/notify.sql" <<'EOF2'
\set k random(1, 1000000)
BEGIN;
INSERT INTO notify_cost_events (occurred_at, event_type, payload) VALUES (now(), 'Noted', jsonb_build_object('k', :k::text));
SELECT pg_notify('notify_cost', '');
COMMIT;
EOF2

# One session listening throughout, reading its notifications, as a store's wake-up connection would.
( psql -q -X "$dsn" >/dev/null 2>&1 <<'SQL'
LISTEN notify_cost;
SELECT pg_sleep(1) FROM generate_series(1, 100000);
SQL
) &
listener_pid=$!

run() {
    pgbench -n -M prepared -c "$clients" -j 2 -T "$seconds" -f "$work/$1.sql" "$dsn" 2>/dev/null |
        awk '/^tps/ { print $3; exit }'
}
for round in $(seq 1 "$rounds"); do
    for variant in plain notify; do
        tps=$(run "$variant")
        echo "$round $variant $tps" | tee -a "$work/results"
    done
done
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
plain=$(awk '$2 == "plain" { print $3 }' "$work/results" | median)
notify=$(awk '$2 == "notify" { print $3 }' "$work/results" | median)
awk -v p="$plain" -v n="$notify" -v c="$clients" \
    'BEGIN { printf "%d clients: plain %.0f tps, with pg_notify %.0f tps: notify / plain = %.2fx\n", c, p, n, n / p }'
