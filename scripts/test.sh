#!/usr/bin/env bash
# Runs the whole test suite, as CI does:
#   1. installs the build and test dependencies (scripts/install-deps.sh; a no-op when present)
#   2. dev preset (Debug, warnings as errors): build, then every test with ctest -j2: unit,
#      integration (against a throwaway PostgreSQL 15, unix socket only: one cluster for the whole
#      ctest run, in which each test process makes a database of its own; the few tests that need a
#      server to themselves start their own) and the installed-package consumer
#   3. tsan preset: builds the test binaries labelled "concurrency" and runs them under
#      ThreadSanitizer (skipped with a notice while there are none)
# Exits non-zero on any failure.
#
# Environment: EVENTSTORE_SKIP_DEPS=1 skips step 1; EVENTSTORE_SKIP_TSAN=1 skips step 3.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==== %s\n' "$*"; }
started=$(date +%s)

if [[ "${EVENTSTORE_SKIP_DEPS:-0}" != 1 ]]; then
    step "dependencies"
    bash scripts/install-deps.sh
fi

step "dev: configure"
cmake --preset dev
step "dev: build"
cmake --build --preset dev -j2
step "dev: test (unit, integration, package)"
ctest --preset dev -j2 --no-tests=error

if [[ "${EVENTSTORE_SKIP_TSAN:-0}" == 1 ]]; then
    step "tsan: skipped (EVENTSTORE_SKIP_TSAN=1)"
else
    step "tsan: configure"
    cmake --preset tsan
    targets_file=build/tsan/concurrency-test-targets.txt
    mapfile -t targets < <(grep -v '^[[:space:]]*$' "$targets_file" || true)
    if [[ ${#targets[@]} -eq 0 ]]; then
        step "tsan: NOTICE: no test carries the label \"concurrency\" yet; nothing to run under ThreadSanitizer"
    else
        step "tsan: build ${targets[*]}"
        cmake --build --preset tsan -j2 --target "${targets[@]}"
        step "tsan: test -L concurrency"
        export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
        # TSan's shadow memory layout cannot cope with more than 28 bits of mmap randomisation
        # (newer kernels default to 32); run without ASLR there when the kernel lets us.
        wrapper=()
        rnd_bits=$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 0)
        if [[ "$rnd_bits" -gt 28 ]] && setarch "$(uname -m)" -R true 2>/dev/null; then
            wrapper=(setarch "$(uname -m)" -R)
        fi
        "${wrapper[@]}" ctest --preset tsan -j2 -L concurrency --no-tests=error
    fi
fi

step "all tests passed in $(($(date +%s) - started)) s"
