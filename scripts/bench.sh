#!/usr/bin/env bash
# The comparison benchmark of docs/performance.md: each operation of the library against its floor
# (plain libpq), measured in alternating blocks, on one durable PostgreSQL 15 cluster, against a cached
# fixture made by tools/generate_fixture (40% book-lending events, 4 per book; 60% noise of 50,000
# types). Prints every measure with its floor, their ratio and the goal's verdict.
#
#   bash scripts/bench.sh                                   # 2.5M events (generated once, then cached)
#   bash scripts/bench.sh --sizes 100000,1000000,2500000,10000000   # the scaling plot's sizes
#   bash scripts/bench.sh -- --benchmark_filter='append'    # arguments after -- go to eventstore_bench
#   bench/compare ...                                       # the same
#
# Options:
#   --sizes N[,N...]   store sizes (events) to run, in this order (default 2500000); a missing fixture
#                      is generated first (tools/generate_fixture), a cached one is reused
#   --build-dir DIR    build eventstore_bench and generate_fixture in DIR (RelWithDebInfo, no tests, no
#                      examples) instead of the release preset's build/release
#   --generate-only    make sure the fixtures exist; run no benchmark
#   --no-deps          do not run scripts/install-deps.sh / install gnuplot
#   --no-build         do not configure and build (the binaries must be in the build directory)
#   --no-plot          do not redraw docs/performance-scaling.png
#
# Environment:
#   EVENTSTORE_BENCH_DIR    the persistent cluster and results (default /var/tmp/eventstore-bench):
#                           data/ (the cluster), run/ (its unix socket), log/server.log,
#                           results/bench-<size>.{csv,txt}, results/scaling.dat, generation.log
#   EVENTSTORE_BENCH_PORT   the port number, i.e. the socket's name (default 5499; no TCP is opened)
#   EVENTSTORE_PG_BINDIR    server binaries (default /usr/lib/postgresql/15/bin)
#   EVENTSTORE_BENCH_BUILD_DIR  the same as --build-dir
#
# The cluster is durable (fsync on, synchronous_commit on: the floors must be realistic), with
# shared_buffers 1GB, max_connections 100, max_locks_per_transaction 256 and the rest at defaults.
# It is started for the run and stopped at the end (left alone if it was already running). Each size
# has its own database, fixture_<size>; it is regenerated when the schema that migrate() creates no
# longer matches the cached one (the library changed), or when an earlier generation did not finish.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bench_dir=${EVENTSTORE_BENCH_DIR:-/var/tmp/eventstore-bench}
port=${EVENTSTORE_BENCH_PORT:-5499}
bindir=${EVENTSTORE_PG_BINDIR:-/usr/lib/postgresql/15/bin}
sizes=2500000
generate_only=false
do_deps=true
do_build=true
do_plot=true
build_dir=${EVENTSTORE_BENCH_BUILD_DIR:-}
bench_args=()

usage() {
    sed -n '2,34p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

while [[ $# -gt 0 ]]; do
    case "$1" in
    --sizes) sizes=${2:?--sizes needs a value}; shift 2 ;;
    --sizes=*) sizes=${1#--sizes=}; shift ;;
    --build-dir) build_dir=${2:?--build-dir needs a value}; shift 2 ;;
    --build-dir=*) build_dir=${1#--build-dir=}; shift ;;
    --generate-only) generate_only=true; shift ;;
    --no-deps) do_deps=false; shift ;;
    --no-build) do_build=false; shift ;;
    --no-plot) do_plot=false; shift ;;
    --) shift; bench_args=("$@"); break ;;
    -h | --help) usage ;;
    *) echo "bench: unknown argument $1" >&2; usage ;;
    esac
done
IFS=, read -r -a size_list <<<"$sizes"
for s in "${size_list[@]}"; do
    [[ "$s" =~ ^[0-9]+$ && "$s" -gt 0 ]] || { echo "bench: not a size: $s" >&2; exit 2; }
done

log() { echo "bench: $*" >&2; }

as_server_user() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# --- dependencies and build ------------------------------------------------------------------------
if $do_deps; then
    bash scripts/install-deps.sh
    if ! dpkg-query -W -f='${Status}' gnuplot-nox 2>/dev/null | grep -q "ok installed"; then
        log "installing gnuplot-nox (the scaling plot)"
        sudo=()
        [[ "$(id -u)" == 0 ]] || sudo=(sudo)
        "${sudo[@]}" apt-get update -q
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gnuplot-nox
    fi
fi
# A build directory of its own lets a run build while others build the presets on the same checkout.
if [[ -n "$build_dir" ]]; then
    [[ "$build_dir" == /* ]] || build_dir=$root/$build_dir
    if $do_build; then
        cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEVENTSTORE_BUILD_BENCHMARKS=ON \
            -DEVENTSTORE_BUILD_TESTS=OFF -DEVENTSTORE_BUILD_EXAMPLES=OFF >/dev/null
        cmake --build "$build_dir" -j2 --target eventstore_bench generate_fixture
    fi
else
    build_dir=$root/build/release
    if $do_build; then
        cmake --preset release >/dev/null
        cmake --build --preset release --target eventstore_bench generate_fixture
    fi
fi
bench_bin=$build_dir/bench/eventstore_bench
generate_bin=$build_dir/tools/generate_fixture
for b in "$bench_bin" "$generate_bin"; do
    [[ -x "$b" ]] || { log "missing $b (build first, or drop --no-build)"; exit 1; }
done

# What was measured: the commit, and whether the library's sources (src/, include/) differ from it.
library_state() {
    local commit state="src/ and include/ as committed"
    commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null) || { echo "not a git checkout"; return; }
    if ! git -C "$root" diff --quiet HEAD -- src include 2>/dev/null ||
        [[ -n "$(git -C "$root" ls-files --others --exclude-standard -- src include 2>/dev/null)" ]]; then
        state="with uncommitted changes under src/ or include/"
    fi
    echo "commit $commit, $state"
}

# --- the persistent cluster ------------------------------------------------------------------------
mkdir -p "$bench_dir/results"
exec 9>"$bench_dir/lock"
if ! flock -n 9; then
    log "another bench run holds $bench_dir/lock"
    exit 1
fi

data=$bench_dir/data
sock=$bench_dir/run
if [[ ! -f "$data/PG_VERSION" ]]; then
    log "creating the durable benchmark cluster in $data"
    rm -rf "$data"
    mkdir -p "$data" "$sock"
    if [[ "$(id -u)" == 0 ]]; then
        chown postgres:postgres "$data" "$sock"
    fi
    as_server_user "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$bench_dir/initdb.log"
    cat >>"$data/postgresql.conf" <<EOF
# scripts/bench.sh: durable, unix socket only
listen_addresses = ''
unix_socket_directories = '$sock'
port = $port
fsync = on
synchronous_commit = on
shared_buffers = 1GB
max_connections = 100
max_locks_per_transaction = 256
EOF
fi
mkdir -p "$sock" "$bench_dir/log"
if [[ "$(id -u)" == 0 ]]; then
    chown postgres:postgres "$sock" "$bench_dir/log"
fi

started_here=false
stop_cluster() {
    if $started_here; then
        log "stopping the benchmark cluster"
        as_server_user "$bindir/pg_ctl" -D "$data" -m fast -w -t 300 -s stop || true
        started_here=false
    fi
}
trap stop_cluster EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if as_server_user "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    log "the benchmark cluster is already running; it is left running"
else
    log "starting the benchmark cluster ($data, socket $sock, port $port)"
    as_server_user env -u PGHOST -u PGPORT -u PGDATA -u PGOPTIONS \
        "$bindir/pg_ctl" -D "$data" -l "$bench_dir/log/server.log" -w -t 600 -s start
    started_here=true
fi

# PgBouncer in transaction pooling mode in front of the cluster, for the *_pgbouncer_vs_pool lines
# (unix socket in its own folder, stopped with the cluster). Without pgbouncer those lines are skipped.
bouncer_dir=$bench_dir/pgbouncer
bouncer_started=false
stop_bouncer() {
    if $bouncer_started && [[ -f "$bouncer_dir/pgbouncer.pid" ]]; then
        kill "$(cat "$bouncer_dir/pgbouncer.pid")" 2>/dev/null || true
    fi
    bouncer_started=false
}
trap 'stop_bouncer; stop_cluster' EXIT
if [[ -x /usr/sbin/pgbouncer ]]; then
    mkdir -p "$bouncer_dir"
    if [[ -f "$bouncer_dir/pgbouncer.pid" ]]; then
        kill "$(cat "$bouncer_dir/pgbouncer.pid")" 2>/dev/null && sleep 0.5 # left by an interrupted run
    fi
    if [[ "$(id -u)" == 0 ]]; then
        chown postgres:postgres "$bouncer_dir"
    fi
    echo '"postgres" ""' >"$bouncer_dir/userlist.txt"
    printf '%s\n' "[databases]" "* = host=$sock port=$port" "[pgbouncer]" "unix_socket_dir = $bouncer_dir" \
        "listen_port = 6432" "auth_type = trust" "auth_file = $bouncer_dir/userlist.txt" "pool_mode = transaction" \
        "default_pool_size = 4" "max_client_conn = 200" "logfile = $bouncer_dir/pgbouncer.log" \
        "pidfile = $bouncer_dir/pgbouncer.pid" >"$bouncer_dir/pgbouncer.ini"
    as_server_user /usr/sbin/pgbouncer -d -q "$bouncer_dir/pgbouncer.ini"
    bouncer_started=true
    for _ in $(seq 1 100); do
        "$bindir/pg_isready" -q -h "$bouncer_dir" -p 6432 -d pgbouncer && break
        sleep 0.1
    done
    log "PgBouncer (transaction mode) in front of it: socket $bouncer_dir"
fi
bouncer_args_of() {
    if $bouncer_started; then
        echo "--pgbouncer-dsn=host=$bouncer_dir port=6432 user=postgres dbname=$1"
    fi
}

export PGHOST=$sock PGPORT=$port PGUSER=postgres
unset PGDATABASE PGSERVICE PGOPTIONS || true
psql_db() { PGOPTIONS="-c client_min_messages=warning" "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -d "$1" "${@:2}"; }
dsn_of() { echo "host=$sock port=$port user=postgres dbname=$1"; }

# The schema migrate() creates today, to compare with a cached fixture's (pg_dump of the schema, less
# comments, settings and psql meta-commands such as \restrict, whose key is random).
schema_of() {
    "$bindir/pg_dump" -s --no-owner --no-privileges -T bench_fixture -d "$1" | grep -v -e '^--' -e '^$' -e '^SET ' \
        -e '^SELECT pg_catalog.set_config' -e '^[\]'
}
probe_db=bench_schema_probe
psql_db postgres -c "DROP DATABASE IF EXISTS $probe_db" -c "CREATE DATABASE $probe_db"
"$generate_bin" --dsn "$(dsn_of "$probe_db")" --events 0 >/dev/null
current_schema=$(schema_of "$probe_db")
psql_db postgres -c "DROP DATABASE $probe_db"

fixture_ready() {
    local db=$1
    [[ "$(psql_db postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" == 1 ]] || return 1
    [[ "$(psql_db "$db" -tAc "SELECT to_regclass('bench_fixture') IS NOT NULL")" == t ]] || {
        log "$db: no bench_fixture row (an interrupted generation)"
        return 1
    }
    if [[ "$(schema_of "$db")" != "$current_schema" ]]; then
        log "$db: its schema differs from what migrate() creates now"
        return 1
    fi
    return 0
}

ensure_fixture() {
    local size=$1 db=fixture_$1
    if fixture_ready "$db"; then
        log "$db: cached ($(psql_db "$db" -tAc "SELECT events || ' events, generated in ' ||
            round(generation_seconds) || ' s on ' || generated_at FROM bench_fixture"))"
        return 0
    fi
    log "$db: generating $size events"
    psql_db postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
    local start end
    start=$(date +%s.%N)
    "$generate_bin" --dsn "$(dsn_of "$db")" --events "$size" --table events
    end=$(date +%s.%N)
    local seconds
    seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
    psql_db "$db" <<EOF
CREATE TABLE bench_fixture (table_name text PRIMARY KEY, events bigint NOT NULL, last_sequence bigint NOT NULL,
                            generation_seconds double precision NOT NULL, generated_at timestamptz NOT NULL,
                            git_commit text);
INSERT INTO bench_fixture
SELECT 'events', count(*), coalesce(max(sequence_number), 0), $seconds, now(), '$(git rev-parse --short HEAD 2>/dev/null || echo unknown)'
FROM events;
EOF
    local line
    line="$(date -u +%FT%TZ) $db: $size events generated in $seconds s (import and VACUUM ANALYZE), size $(psql_db "$db" -tAc "SELECT pg_size_pretty(pg_database_size(current_database()))")"
    echo "$line" >>"$bench_dir/generation.log"
    log "$line"
}

ran_sizes=()
for size in "${size_list[@]}"; do
    ensure_fixture "$size"
    $generate_only && continue
    db=fixture_$size
    log "$db: running eventstore_bench"
    {
        # The load average before and after: other work on the machine changes what a run measures.
        echo "bench: library $(library_state), $bench_bin"
        echo "bench: before the run: $(uptime)"
        mapfile -t bouncer_args < <(bouncer_args_of "$db")
        "$bench_bin" --dsn "$(dsn_of "$db")" --table events --size "$size" \
            --csv "$bench_dir/results/bench-$size.csv" "${bouncer_args[@]}" "${bench_args[@]}"
        echo "bench: after the run: $(uptime)"
    } | tee "$bench_dir/results/bench-$size.txt"
    ran_sizes+=("$size")
done

stop_bouncer
stop_cluster

# --- every measure with its floor, ratio and verdict ---------------------------------------------------
for size in "${ran_sizes[@]}"; do
    csv=$bench_dir/results/bench-$size.csv
    [[ -f "$csv" ]] || continue
    echo
    echo "Goals at $size events (ratio: median of the per-round ratios of alternating blocks)"
    awk -F, 'NR > 1 {
        unit = $3
        if ($5 == "") {
            v = (unit == "ops/s") ? $12 : (unit == "p99 us") ? $11 : $10
            printf "  %-58s %9.0f %-6s  (no floor)\n", $20 " (" unit ")", v, unit
            next
        }
        mv = (unit == "ops/s") ? $12 : (unit == "p99 us") ? $11 : $10
        fv = (unit == "ops/s") ? $17 : (unit == "p99 us") ? $16 : $15
        printf "  %-58s %9.0f against %-44s %9.0f = %6.2fx  goal %-22s %s\n", $20 " (" unit ")", mv,
            $21, fv, $5, $8, $9
    }' "$csv"
done

# --- the scaling plot: p50 of query and single append against store size ---------------------------
if ! $generate_only && $do_plot; then
    dat=$bench_dir/results/scaling.dat
    {
        echo "# size lib_query_p50_us lib_append_p50_us sql_read_p50_us insert_p50_us select1_p50_us"
        for csv in "$bench_dir"/results/bench-*.csv; do
            [[ -f "$csv" ]] || continue
            # Only the CSVs of this benchmark's layout (an older one has no "compared" column).
            awk -F, 'NR == 1 && $3 != "compared" { exit }
                NR > 1 { m[$2] = $10; f[$2] = $15; size = $1 }
                END { if (size > 0 && ("query_vs_sql_read" in m) && ("append_1_vs_insert" in m))
                      print size, m["query_vs_sql_read"], m["append_1_vs_insert"], f["query_vs_sql_read"],
                            f["append_1_vs_insert"], (("query_vs_select_1" in f) ? f["query_vs_select_1"] : "NaN") }' "$csv"
        done | sort -n
    } >"$dat"
    if [[ $(grep -vc '^#' "$dat") -ge 1 ]] && command -v gnuplot >/dev/null; then
        log "plotting docs/performance-scaling.png from $dat ($(grep -v '^#' "$dat" | awk '{ print $1 }' | paste -sd, -))"
        gnuplot <<EOF
set terminal pngcairo size 900,600 font ",10"
set output "$root/docs/performance-scaling.png"
set title "p50 latency against store size (durable PostgreSQL 15, one client)"
set logscale xy
set xlabel "events in the store"
set ylabel "p50 latency (microseconds, log scale)"
set format x "%.0s%c"
set key below maxrows 3 width -2
set grid
set xrange [50000:20000000]
set yrange [*:*]
set format y "%.0f"
plot "$dat" using 1:3 with linespoints lw 2 pt 7 title "append, 1 event (this library)", \
     "$dat" using 1:5 with linespoints lw 1 pt 4 dt 3 title "floor: plain INSERT", \
     "$dat" using 1:2 with linespoints lw 2 pt 5 title "query, 4-event book (this library)", \
     "$dat" using 1:4 with linespoints lw 1 pt 8 dt 2 title "floor: hand-written SQL read, unprepared", \
     "$dat" using 1:6 with linespoints lw 1 pt 12 dt 3 title "prepared SELECT 1"
EOF
    fi
fi
log "results in $bench_dir/results"
