#!/usr/bin/env bash
# The habits CI keeps: every C++ file formatted as .clang-format says,
# src/ clean under the clang-tidy checks of .clang-tidy, and the public
# headers documented: the API reference (Doxyfile) builds without a warning.
# Usage: scripts/lint.sh [format|tidy|docs]... (default: all three)
source "$(dirname "$0")/common.sh"
checks=("$@")
((${#checks[@]})) || checks=(format tidy docs)

for check in "${checks[@]}"; do
    case "$check" in
    format)
        echo "=== lint: clang-format ==="
        git ls-files -z '*.cpp' '*.hpp' '*.h' | xargs -0 clang-format-14 --dry-run --Werror
        echo "every file formatted"
        ;;
    tidy)
        echo "=== lint: clang-tidy on src/ ==="
        # Only the compile commands are needed, not a build.
        cmake -S . -B build/tidy -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DCMAKE_BUILD_TYPE=Debug \
            -DTOFU_BUILD_TESTS=OFF -DTOFU_BUILD_TOOLS=OFF -DTOFU_BUILD_EXAMPLES=OFF >/dev/null
        run-clang-tidy-14 -p build/tidy -j "$jobs" -quiet "$PWD/src/" >build/tidy/report.txt 2>&1 || {
            grep -E "warning:|error:" build/tidy/report.txt || cat build/tidy/report.txt
            echo "lint: clang-tidy found the above" >&2
            exit 1
        }
        echo "src/ clean"
        ;;
    docs)
        echo "=== lint: doxygen on include/tofu/ ==="
        # A fresh output directory, so no page of an earlier run survives.
        rm -rf build/docs
        mkdir -p build/docs
        # The Doxyfile's WARN_AS_ERROR=FAIL_ON_WARNINGS fails the run after
        # every warning is out; with QUIET=YES anything on stderr is one.
        if ! doxygen Doxyfile 2>build/docs/warnings.txt || [[ -s build/docs/warnings.txt ]]; then
            cat build/docs/warnings.txt
            echo "lint: doxygen found the above" >&2
            exit 1
        fi
        echo "API reference built: build/docs/html/index.html"
        ;;
    *) echo "unknown lint check: $check" >&2; exit 2 ;;
    esac
done
