#!/usr/bin/env bash
# ctest's emulator for the Windows executables (cmake/mingw-w64-x86_64.cmake):
# runs one under Wine. Under load Wine now and then fails to start a program
# at all: it exits non-zero within milliseconds and the program prints
# nothing (not even GoogleTest's first line). Only that is tried again, up to
# three times in all; a program that printed anything keeps its result.
# Usage: wine-run.sh WINE PROGRAM [ARGS...]
wine=$1
shift
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
for attempt in 1 2 3; do
    "$wine" "$@" >"$out" 2>&1
    rc=$?
    if [ "$rc" -eq 0 ] || [ -s "$out" ]; then
        cat "$out"
        exit "$rc"
    fi
    echo "wine-run: $1 exited $rc without any output (attempt $attempt); starting it again" >&2
done
cat "$out"
exit "$rc"
