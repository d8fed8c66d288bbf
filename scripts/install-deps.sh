#!/usr/bin/env bash
# Installs everything needed to build, test and lint the library on Debian 12 (bookworm).
# Idempotent: when every package is already installed, apt is not touched at all.
#
#   bash scripts/install-deps.sh            # as root (CI), or as a user with sudo
#
# Environment: CI=true additionally stops postgresql-15's package scripts from creating and starting
# the default "main" cluster (tests start throwaway clusters of their own; see throwaway-postgres.sh).
set -euo pipefail

packages=(
    # toolchain and build
    build-essential g++ make cmake pkg-config git ca-certificates
    # clang for sanitizers, tidy and format (run-clang-tidy-14 is in clang-tools-14)
    clang-14 libclang-rt-14-dev clang-tidy-14 clang-format-14 clang-tools-14
    # PostgreSQL: client library and a real server for the integration tests
    libpq-dev postgresql-15 postgresql-client-15
    # test and benchmark frameworks; JSON for the tests and the example (the library has its own reader)
    libgtest-dev libgmock-dev googletest libbenchmark-dev nlohmann-json3-dev
    # observability adapters: spdlog for the logger adapter; Prometheus (promtool checks the metrics
    # page and the alerting rules, and the server scrapes the example in a test); cpp-httplib serves
    # the example's /metrics
    libspdlog-dev prometheus libcpp-httplib-dev
    # database adapters: SOCI with its PostgreSQL backend (its headers need Boost's), libpqxx
    libsoci-dev libboost-dev libpqxx-dev
    # the eventstore program's argument parsing
    libcli11-dev
    # the tests run the store behind PgBouncer in transaction pooling mode (a throwaway one each)
    pgbouncer
    # the event browser's tests load the page in headless Chromium
    chromium
)

missing=()
for pkg in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-deps: all ${#packages[@]} packages already installed"
    exit 0
fi

echo "install-deps: installing ${missing[*]}"

sudo=()
if [[ "$(id -u)" != 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        echo "install-deps: not root and no sudo; please install: ${missing[*]}" >&2
        exit 1
    fi
fi

# On CI, no default cluster is wanted: the packaging reads this drop-in directory before creating it.
if [[ "${CI:-}" == "true" ]] && ! dpkg-query -W -f='${Status}' postgresql-15 2>/dev/null | grep -q "ok installed"; then
    "${sudo[@]}" mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" | "${sudo[@]}" tee /etc/postgresql-common/createcluster.d/eventstore-ci.conf >/dev/null
fi

export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: done"
