#!/usr/bin/env bash
# What the lock protocol's advisory locks cost per key, and how that grows with the number of keys:
# pgbench runs, in one transaction each, "take N advisory locks in one statement" (the shape of the
# store's lock statement: unnest of the keys), for N from 0 to 256 (the budget) and past it, shared
# and exclusive, alternating the sizes for several rounds so that drift hits them all alike. Past the
# budget the store itself takes 8 locks (every stripe of the global key): that is the 8-lock line.
#
#   bash bench/lock_cost.sh "host=/path/to/socket/dir port=5432 user=postgres dbname=postgres"
#   scripts/throwaway-postgres.sh run -- bash bench/lock_cost.sh ""      # on a throwaway cluster
#
# Options (environment): ROUNDS (3), SECONDS_EACH (3), SIZES ("0 1 8 16 32 64 128 256 512 1024").
# Prints per size and mode the median over the rounds of pgbench's mean latency (µs), and the cost
# per lock (µs) from the 0-lock and 256-lock lines.
set -euo pipefail

dsn=${1-}
rounds=${ROUNDS:-3}
seconds=${SECONDS_EACH:-3}
sizes=${SIZES:-0 1 8 16 32 64 128 256 512 1024}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for n in $sizes; do
    for mode in shared exclusive; do
        fn=pg_advisory_xact_lock
        [[ $mode == shared ]] && fn=pg_advisory_xact_lock_shared
        # Random keys per transaction, so that clients never share one; generate_series stands in for
        # the unnest of a bound array (the same per-row function calls).
        cat > "$work/$n-$mode.sql" <<EOF
\\set base random(1, 1000000000)
SELECT count($fn(:base::bigint * 2048 + g)) FROM generate_series(1, $n) AS g;
EOF
    done
done

for round in $(seq 1 "$rounds"); do
    for n in $sizes; do
        for mode in shared exclusive; do
            latency=$(pgbench -n -M prepared -T "$seconds" -f "$work/$n-$mode.sql" "$dsn" 2>/dev/null |
                awk '/latency average/ { print $4 * 1000 }')
            echo "$n $mode $latency" >> "$work/results"
        done
    done
done

echo "locks  mode        latency µs (median of $rounds rounds of $seconds s)"
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
for mode in shared exclusive; do
    for n in $sizes; do
        m=$(awk -v n="$n" -v mode="$mode" '$1 == n && $2 == mode { print $3 }' "$work/results" | median)
        printf '%5s  %-10s  %8.1f\n' "$n" "$mode" "$m"
        echo "$n $mode $m" >> "$work/medians"
    done
done
for mode in shared exclusive; do
    awk -v mode="$mode" '$2 == mode && $1 == 0 { z = $3 } $2 == mode && $1 == 256 { t = $3 }
        END { if (t > 0) printf "cost per lock, %s: %.2f µs ((256-lock - 0-lock) / 256)\n", mode, (t - z) / 256 }' \
        "$work/medians"
done
