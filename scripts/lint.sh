#!/usr/bin/env bash
# Formatting check (clang-format-14, every C++ file of the project) and clang-tidy-14 on src/.
#   scripts/lint.sh            both
#   scripts/lint.sh format     formatting only (fix with: clang-format-14 -i <files>)
#   scripts/lint.sh tidy       clang-tidy only (uses build/dev/compile_commands.json; configures the
#                              dev preset when it is missing)
# Exit status: non-zero on a formatting difference or when clang-tidy fails on a file (a compile
# error); clang-tidy's warnings are printed but not fatal (.clang-tidy: WarningsAsErrors is empty).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

what=${1:-all}
status=0

if [[ "$what" == all || "$what" == format ]]; then
    mapfile -t files < <(git ls-files --cached --others --exclude-standard -- \
        '*.cpp' '*.hpp' '*.h' '*.cc' | grep -v '^build/' | while read -r f; do [[ -f "$f" ]] && echo "$f"; done)
    echo "lint: clang-format-14 on ${#files[@]} files"
    if ! clang-format-14 --dry-run -Werror "${files[@]}"; then
        echo "lint: formatting differs (fix: clang-format-14 -i <file>)" >&2
        status=1
    fi
fi

if [[ "$what" == all || "$what" == tidy ]]; then
    if [[ ! -f build/dev/compile_commands.json ]]; then
        cmake --preset dev >/dev/null
    fi
    echo "lint: clang-tidy-14 on src/"
    if command -v run-clang-tidy-14 >/dev/null 2>&1; then
        run-clang-tidy-14 -p build/dev -j 2 -quiet -clang-tidy-binary clang-tidy-14 "$PWD/src/" || status=1
    else
        mapfile -t sources < <(find src -name '*.cpp' | sort)
        for f in "${sources[@]}"; do
            clang-tidy-14 -p build/dev --quiet "$f" || status=1
        done
    fi
fi

exit "$status"
