#!/usr/bin/env bash
# Installs the build in $1 into a temporary prefix, then configures, builds and runs the consumer
# project against it. Further arguments go to the consumer's cmake configure step.
#   tests/consumer/run.sh <build dir> [-D...]
set -euo pipefail

build_dir=${1:?usage: run.sh <build dir> [cmake args...]}
shift
cmake=${CMAKE_COMMAND:-cmake}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d /tmp/eventstore-consumer.XXXXXX)
trap 'rm -rf "$work"' EXIT

"$cmake" --install "$build_dir" --prefix "$work/prefix" >"$work/install.log" \
    || { cat "$work/install.log"; exit 1; }
"$cmake" -S "$here" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" "$@" >"$work/configure.log" \
    || { cat "$work/configure.log"; exit 1; }
"$cmake" --build "$work/build" -j2
"$work/build/eventstore_consumer"
