#!/usr/bin/env bash
# Makes the event browser's picture in the docs (docs/images/event-browser.png): the book-lending
# example's events, served by `eventstore serve` from a throwaway PostgreSQL, in headless Chromium.
#
#   bash scripts/browser-screenshot.sh [OUTPUT.png]      # default docs/images/event-browser.png
#
# Builds the example and the program in build/dev (the dev preset) first.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out=$(realpath -m "${1:-docs/images/event-browser.png}")

cmake --preset dev >/dev/null
cmake --build build/dev --target book_lending eventstore_program
program="$root/build/dev/tools/eventstore/eventstore"

export PGPORT=${PGPORT:-5488}
# shellcheck source=scripts/throwaway-postgres.sh
source scripts/throwaway-postgres.sh start
work=$(mktemp -d)
server_pid=""
cleanup() { # replaces the EXIT trap the throwaway cluster set, and stops it too
    if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
    throwaway_pg_stop
}
trap cleanup EXIT

build/dev/examples/book_lending --lenders 4 --copies 12 --readers 20 --operations 120 >/dev/null
"$program" serve --table book_lending_events --listen 127.0.0.1:0 >/dev/null 2>"$work/serve.log" &
server_pid=$!
for _ in $(seq 100); do
    grep -q 'serving' "$work/serve.log" && break
    sleep 0.1
done
url=$(grep -o 'http://[0-9.:]*' "$work/serve.log")
# The detail pane open on the newest lending.
position=$("$program" query --table book_lending_events --type BookCopyLentToReader --backwards --limit 1 |
    grep -o '"position":[0-9]*' | cut -d: -f2)

flags=(--headless --disable-gpu --disable-quic --no-first-run --disable-background-networking
    --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$work/profile")
if [[ $(id -u) -eq 0 ]]; then flags+=(--no-sandbox); fi
mkdir -p "$(dirname "$out")"
chromium "${flags[@]}" --window-size=1400,860 --virtual-time-budget=5000 --screenshot="$out" \
    "$url/#event=$position" 2>"$work/chromium.log"
echo "browser-screenshot: wrote $out (event $position open)"
