#!/usr/bin/env bash
# The kqueue backend on Linux. libkqueue (a userspace kqueue on epoll, a
# test-only stand-in for the macOS/BSD kernel) is built from
# third_party/ into build/libkqueue; the library is built with the
# kqueue backend against it; then the poller contract suite and the whole
# conformance suite run on the kqueue backend alone, plain and under
# AddressSanitizer + UndefinedBehaviorSanitizer. Every kqueue case must pass:
# a skipped one fails the stage.
#
#   bash scripts/kqueue.sh [plain] [asan]      (default: both)
#
# Without the libkqueue archive (a trimmed checkout) the stage fails when
# CI=true and prints
#   SKIPPED: kqueue suite: <reason>
# and exits 0 otherwise.
#
# Environment: TOFU_JOBS (default 2).
source "$(dirname "$0")/common.sh"
variants=("$@")
((${#variants[@]})) || variants=(plain asan)
bash scripts/deps.sh

archive_name=libkqueue-2.7.0-f966089.tar.gz
archive="$root/third_party/$archive_name"
work="$root/build/libkqueue"
prefix="$work/install" # the kqueue presets point TOFU_LIBKQUEUE_PREFIX here

if [ ! -f "$archive" ]; then
    reason="no third_party/$archive_name"
    if [ "${CI:-}" = true ]; then
        echo "FAILED: kqueue suite: $reason" >&2
        exit 1
    fi
    echo "SKIPPED: kqueue suite: $reason"
    exit 0
fi

# --- libkqueue, once per build tree -----------------------------------------------
if [ "$(cat "$work/built-from" 2>/dev/null)" != "$archive_name" ]; then
    echo "kqueue: building libkqueue from $archive_name"
    rm -rf "$work"
    mkdir -p "$work/src"
    tar -xzf "$archive" -C "$work/src" --strip-components=1
    # Its CMakeLists asks git for a version: keep git from finding this
    # repository around the unpacked sources.
    log="$work/build.log"
    if ! { GIT_CEILING_DIRECTORIES="$work" cmake -S "$work/src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib -DENABLE_SHARED=OFF \
        -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DVERSION_OVERRIDE=2.7.0 &&
        cmake --build "$work/build" -j "$jobs" && cmake --install "$work/build"; } >"$log" 2>&1; then
        cat "$log" >&2
        echo "FAILED: kqueue suite: libkqueue did not build (log above)" >&2
        exit 1
    fi
    echo "$archive_name" >"$work/built-from"
fi

# --- build and run, kqueue cases only ------------------------------------------------
run_variant() {
    local preset=$1
    echo "=== tofu tests: $preset (kqueue backend on libkqueue) ==="
    cmake --preset "$preset" >/dev/null
    cmake --build --preset "$preset" -j "$jobs"
    local log="$root/build/$preset/ctest-kqueue.log"
    local status=0
    # The presets select the cases whose backend is kqueue (names ending in
    # /kqueue, before any "  # GetParam() = ..." that gtest appends).
    ctest --preset "$preset" -j "$jobs" --no-tests=error 2>&1 | tee "$log" || status=$?
    local total skipped
    total=$(sed -n 's/.* tests failed out of \([0-9]*\)$/\1/p' "$log" | tail -1)
    skipped=$(grep -c '\*\*\*Skipped' "$log" || true)
    echo "kqueue ($preset): ${total:-0} cases run, $skipped skipped"
    if ((status != 0)); then
        return "$status"
    fi
    if ((skipped != 0)); then
        echo "FAILED: kqueue ($preset): $skipped kqueue cases were skipped; none may be" >&2
        return 1
    fi
}

for variant in "${variants[@]}"; do
    case "$variant" in
    plain) run_variant kqueue ;;
    asan) run_variant kqueue-asan ;;
    *) echo "unknown kqueue variant: $variant" >&2; exit 2 ;;
    esac
done
