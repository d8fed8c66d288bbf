#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang 14 (AddressSanitizer and UndefinedBehaviorSanitizer
# on the whole build) and runs each for a fixed time from its seed corpus, fuzz/corpus/<target>/.
#
#   scripts/fuzz.sh                       every target, 60 s each
#   scripts/fuzz.sh --time 300 json_fuzz  one target, 5 minutes
#
# Options:
#   --time SECONDS     how long each target runs (default 60)
#   --build-dir DIR    the build folder (default build/fuzz)
#   --build-only       build, do not run
# The units a run finds are kept in <build dir>/corpus/<target>/ for the next run; the seed corpus in
# the repository is only read. A crash, leak, timeout or broken invariant stops that target, leaves the
# input in <build dir>/artifacts/ and makes the script exit non-zero once every target has run. Replay
# an input with `<build dir>/<target> <file>`; turn it into a regression unit test before fixing it.
# Needs clang-14 and libclang-rt-14-dev (scripts/install-deps.sh installs them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=60
build_dir=build/fuzz
build_only=0
targets=()
while [[ $# -gt 0 ]]; do
    case "$1" in
    --time) seconds=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --build-only) build_only=1; shift ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
    esac
done
all_targets=(json_fuzz filter_fuzz event_line_fuzz)
[[ ${#targets[@]} -gt 0 ]] || targets=("${all_targets[@]}")

# The longest input each target is given: json_fuzz needs room for nesting up to the reader's limit
# (6,000 levels); a filter program needs far less.
max_len() {
    case "$1" in
    json_fuzz) echo 16384 ;;
    *) echo 4096 ;;
    esac
}

if ! command -v clang++-14 >/dev/null 2>&1; then
    echo "fuzz.sh: clang++-14 not found; run scripts/install-deps.sh" >&2
    exit 1
fi

started=$(date +%s)
cmake -S . -B "$build_dir" -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DEVENTSTORE_BUILD_FUZZERS=ON -DEVENTSTORE_BUILD_TESTS=OFF -DEVENTSTORE_BUILD_EXAMPLES=OFF \
    -DEVENTSTORE_WARNINGS_AS_ERRORS=ON >/dev/null
cmake --build "$build_dir" -j2 --target "${targets[@]}"
echo "fuzz.sh: built ${targets[*]} in $(($(date +%s) - started)) s"
[[ "$build_only" == 1 ]] && exit 0

# ASan's shadow memory does not fit beside more than 28 bits of mmap randomisation with clang 14 on
# some kernels; run without ASLR there when the kernel lets us (as scripts/test.sh does for TSan).
wrapper=()
rnd_bits=$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 0)
if [[ "$rnd_bits" -gt 28 ]] && setarch "$(uname -m)" -R true 2>/dev/null; then
    wrapper=(setarch "$(uname -m)" -R)
fi
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"

failed=()
for target in "${targets[@]}"; do
    seeds=fuzz/corpus/$target
    corpus=$build_dir/corpus/$target
    artifacts=$build_dir/artifacts
    mkdir -p "$corpus" "$artifacts"
    echo "fuzz.sh: $target for $seconds s (seeds: $seeds, $(find "$seeds" -type f | wc -l) files)"
    log=$build_dir/$target.log
    if "${wrapper[@]}" "$build_dir/$target" -max_total_time="$seconds" -max_len="$(max_len "$target")" \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/$target-" \
        "$corpus" "$seeds" >"$log" 2>&1; then
        grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)' "$log" |
            sed "s/^/fuzz.sh: $target: /"
    else
        echo "fuzz.sh: $target FAILED; the end of its log ($log):" >&2
        tail -n 40 "$log" >&2
        ls -1 "$artifacts"/"$target"-* 2>/dev/null | sed 's/^/fuzz.sh: input: /' >&2 || true
        failed+=("$target")
    fi
done

echo "fuzz.sh: done in $(($(date +%s) - started)) s"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz.sh: FAILED: ${failed[*]}" >&2
    exit 1
fi
