#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster in a temporary folder: unix socket only (no TCP port), trust auth,
# stopped and deleted afterwards.
#
# Run a command against it (the main use):
#   scripts/throwaway-postgres.sh run -- psql -c 'select version()'
#   The command gets PGHOST, PGPORT, PGUSER=postgres and PGDATABASE=postgres; its exit code is ours.
#
# Or source it into a shell (bash), which then has the PG* variables until it exits:
#   source scripts/throwaway-postgres.sh start      # sets an EXIT trap that stops the cluster
#   throwaway_pg_stop                               # or stop it earlier
#
# Environment:
#   EVENTSTORE_PG_FAST=1     fsync=off, synchronous_commit=off, full_page_writes=off (test suites).
#                            Default: durable settings, as benchmarks need.
#   EVENTSTORE_PG_BINDIR     server binaries (default /usr/lib/postgresql/15/bin, else from PATH)
#   EVENTSTORE_PG_KEEP=1     keep the folder (data and server.log) after stopping
#   PGPORT                   the port number, i.e. the socket's name (default 5432; no TCP is opened)
# As root, the server runs as user "postgres" (initdb refuses root) through runuser.

throwaway_pg__bindir() {
    if [[ -n "${EVENTSTORE_PG_BINDIR:-}" ]]; then
        echo "$EVENTSTORE_PG_BINDIR"
    elif [[ -x /usr/lib/postgresql/15/bin/initdb ]]; then
        echo /usr/lib/postgresql/15/bin
    else
        dirname "$(command -v initdb || echo /usr/bin/initdb)"
    fi
}

throwaway_pg__as_server_user() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# Starts the cluster and exports PGHOST, PGPORT, PGUSER, PGDATABASE (and THROWAWAY_PG_DIR).
throwaway_pg_start() {
    local bindir dir port fast
    bindir=$(throwaway_pg__bindir)
    port=${PGPORT:-5432}
    fast=${EVENTSTORE_PG_FAST:-0}
    dir=$(mktemp -d /tmp/eventstore-pg.XXXXXX) || return 1
    if [[ "$(id -u)" == 0 ]]; then
        chown postgres:postgres "$dir" || { rm -rf "$dir"; return 1; }
    fi
    THROWAWAY_PG_DIR=$dir
    THROWAWAY_PG_BINDIR=$bindir

    if ! throwaway_pg__as_server_user "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 \
        --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1; then
        echo "throwaway-postgres: initdb failed:" >&2
        cat "$dir/initdb.log" >&2
        rm -rf "$dir"
        return 1
    fi
    {
        echo "# throwaway-postgres.sh"
        echo "listen_addresses = ''"
        echo "unix_socket_directories = '$dir'"
        echo "port = $port"
        echo "max_connections = 200"
        echo "max_locks_per_transaction = 256"
        if [[ "$fast" == 1 ]]; then
            echo "fsync = off"
            echo "synchronous_commit = off"
            echo "full_page_writes = off"
        fi
    } >>"$dir/data/postgresql.conf"
    # The server must not pick up PG* variables of the caller (e.g. a PGPORT meant for another cluster).
    if ! throwaway_pg__as_server_user env -u PGHOST -u PGPORT -u PGDATA -u PGOPTIONS \
        "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -s start; then
        echo "throwaway-postgres: server failed to start:" >&2
        cat "$dir/server.log" >&2 || true
        rm -rf "$dir"
        return 1
    fi
    export PGHOST=$dir PGPORT=$port PGUSER=postgres PGDATABASE=postgres THROWAWAY_PG_DIR
    echo "throwaway-postgres: PostgreSQL ($([[ "$fast" == 1 ]] && echo fast || echo durable)) at" \
        "PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=$PGUSER PGDATABASE=$PGDATABASE" >&2
}

# Stops the cluster started by throwaway_pg_start and removes its folder. Safe to call twice.
throwaway_pg_stop() {
    local dir=${THROWAWAY_PG_DIR:-}
    [[ -n "$dir" && -d "$dir" ]] || return 0
    if [[ -f "$dir/data/postmaster.pid" ]]; then
        throwaway_pg__as_server_user "${THROWAWAY_PG_BINDIR:-$(throwaway_pg__bindir)}/pg_ctl" \
            -D "$dir/data" -m immediate -s stop >/dev/null 2>&1 || true
    fi
    if [[ "${EVENTSTORE_PG_KEEP:-0}" == 1 ]]; then
        echo "throwaway-postgres: kept $dir" >&2
    else
        rm -rf "$dir"
    fi
    unset THROWAWAY_PG_DIR
}

throwaway_pg__usage() {
    cat >&2 <<'USAGE'
usage: throwaway-postgres.sh run -- <command> [args...]
       source throwaway-postgres.sh start
USAGE
}

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
    # Sourced: define the functions; "start" also starts the cluster and stops it when the shell exits.
    if [[ "${1:-}" == "start" ]]; then
        throwaway_pg_start && trap throwaway_pg_stop EXIT
    fi
    return 0
fi

set -uo pipefail
case "${1:-}" in
run)
    shift
    [[ "${1:-}" == "--" ]] && shift
    if [[ $# -eq 0 ]]; then
        throwaway_pg__usage
        exit 2
    fi
    trap throwaway_pg_stop EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    throwaway_pg_start || exit 1
    "$@"
    exit $?
    ;;
*)
    throwaway_pg__usage
    exit 2
    ;;
esac
