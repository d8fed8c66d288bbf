#!/usr/bin/env bash
# Runs the whole test suite, as CI does:
#   1. installs the build and test dependencies (scripts/install-deps.sh; a no-op when present)
#   2. dev preset (Debug, warnings as errors): build, then every test with ctest -j2: unit,
#      integration (against a throwaway PostgreSQL 15, unix socket only: one cluster for the whole
#      ctest run, in which each test process makes a database of its own; the few tests that need a
#      server to themselves start their own) and the installed-package consumer
#   3. fuzzing: builds the libFuzzer targets (clang 14) and runs each from its seed corpus for a
#      minute (scripts/fuzz.sh)
#   4. asan preset: builds everything and runs the whole ctest suite again under AddressSanitizer,
#      LeakSanitizer and UndefinedBehaviorSanitizer; the first report fails its test
#   5. tsan preset: builds the test binaries labelled "concurrency" and runs them under
#      ThreadSanitizer (skipped with a notice while there are none)
# Exits non-zero on any failure.
#
# Environment: EVENTSTORE_SKIP_DEPS=1 skips step 1, EVENTSTORE_SKIP_FUZZ=1 step 3 (EVENTSTORE_FUZZ_SECONDS
# sets its time per target), EVENTSTORE_SKIP_ASAN=1 step 4, EVENTSTORE_SKIP_TSAN=1 step 5. ASAN_OPTIONS,
# UBSAN_OPTIONS and TSAN_OPTIONS are added to (and override) the options below.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

started=$(date +%s)
step() { printf '\n==== [%4d s] %s\n' "$(($(date +%s) - started))" "$*"; }

# The sanitizers' shadow memory layouts cannot cope with more than 28 bits of mmap randomisation
# (newer kernels default to 32): run the sanitized tests without ASLR there when the kernel lets us.
no_aslr=()
rnd_bits=$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 0)
if [[ "$rnd_bits" -gt 28 ]] && setarch "$(uname -m)" -R true 2>/dev/null; then
    no_aslr=(setarch "$(uname -m)" -R)
fi

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

# ---- fuzzing ------------------------------------------------------------------------------------
if [[ "${EVENTSTORE_SKIP_FUZZ:-0}" == 1 ]]; then
    step "fuzz: skipped (EVENTSTORE_SKIP_FUZZ=1)"
else
    step "fuzz: json_fuzz, filter_fuzz and event_line_fuzz, ${EVENTSTORE_FUZZ_SECONDS:-60} s each (clang 14, ASan+UBSan)"
    bash scripts/fuzz.sh --time "${EVENTSTORE_FUZZ_SECONDS:-60}"
fi
# ---- end of fuzzing -----------------------------------------------------------------------------

if [[ "${EVENTSTORE_SKIP_ASAN:-0}" == 1 ]]; then
    step "asan: skipped (EVENTSTORE_SKIP_ASAN=1)"
else
    step "asan: configure"
    cmake --preset asan
    step "asan: build"
    cmake --build --preset asan -j2
    # halt_on_error: the first report ends the process, which fails its test (UBSan's checks are built
    # with -fno-sanitize-recover, so they halt too). detect_stack_use_after_return and the init-order
    # checks catch what plain ASan lets pass.
    asan_options="halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=1"
    asan_options+=":check_initialization_order=1:strict_init_order=1:strict_string_checks=1"
    # LeakSanitizer stops the process's threads with ptrace at exit; where that is forbidden (some
    # containers) it aborts every test, so leaks are then left unchecked, with a notice.
    probe=$("${no_aslr[@]}" env ASAN_OPTIONS="$asan_options" build/asan/tests/unit_context_test \
        --gtest_list_tests 2>&1 >/dev/null) || true
    if [[ "$probe" == *"LeakSanitizer has encountered a fatal error"* || "$probe" == *"does not work under ptrace"* ]]; then
        step "asan: NOTICE: LeakSanitizer cannot run here (${probe%%$'\n'*}); leaks are not checked"
        asan_options+=":detect_leaks=0"
    fi
    export ASAN_OPTIONS="$asan_options${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
    # Leaks of third-party libraries, each explained in the file.
    export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
    step "asan: test (the whole suite; ASAN_OPTIONS=$ASAN_OPTIONS UBSAN_OPTIONS=$UBSAN_OPTIONS LSAN_OPTIONS=$LSAN_OPTIONS)"
    "${no_aslr[@]}" ctest --preset asan -j2 --no-tests=error
fi

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
        export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/scripts/tsan.supp ${TSAN_OPTIONS:-}"
        "${no_aslr[@]}" ctest --preset tsan -j2 -L concurrency --no-tests=error
    fi
fi

step "all tests passed in $(($(date +%s) - started)) s"
