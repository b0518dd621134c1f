#!/usr/bin/env bash
# Builds and runs every test suite. Usage: scripts/test.sh [STAGE...]
# Stages: lint plain install asan tsan sim fuzz windows kqueue macos (default: all of them,
# in that order). Each failure makes the script exit non-zero; every stage prints
# its own ctest (or libFuzzer) summary and how long it took.
#   lint    clang-format on every C++ file, clang-tidy on src/, doxygen on include/tofu/ (scripts/lint.sh)
#   install static and shared installs used by consumers (scripts/install-check.sh)
#   sim     the deterministic simulation for 4 minutes (scripts/sim.sh)
#   kqueue  the kqueue backend on Linux, on libkqueue (scripts/kqueue.sh)
#   macos   the macOS cross build: x86_64 everything, arm64 library and tools (scripts/macos.sh)
source "$(dirname "$0")/common.sh"
bash scripts/deps.sh
stages=("$@")
((${#stages[@]})) || stages=(lint plain install asan tsan sim fuzz windows kqueue macos)

run_preset() {
    local preset=$1
    echo "=== tofu tests: $preset ==="
    cmake --preset "$preset" >/dev/null
    cmake --build --preset "$preset" -j "$jobs"
    ctest --preset "$preset" -j "$jobs"
}

for stage in "${stages[@]}"; do
    started=$(date +%s)
    case "$stage" in
    plain) run_preset default ;;
    asan) run_preset asan ;;
    tsan) run_preset tsan ;;
    fuzz)
        echo "=== tofu tests: fuzz (the decoder 60 s on its seed corpus, whole engines 60 s) ==="
        cmake --preset fuzz >/dev/null
        cmake --build --preset fuzz -j "$jobs" --target decoder_fuzz engine_fuzz
        scratch=$(mktemp -d)
        ./build/fuzz/fuzz/decoder_fuzz -max_total_time=60 -print_final_stats=1 "$scratch" fuzz/corpus
        rm -rf "$scratch"
        scratch=$(mktemp -d)
        ./build/fuzz/fuzz/engine_fuzz -max_total_time=60 -max_len=4096 -print_final_stats=1 "$scratch"
        rm -rf "$scratch"
        ;;
    lint) bash scripts/lint.sh ;;
    install) bash scripts/install-check.sh ;;
    sim) bash scripts/sim.sh ;;
    windows) bash tools/windows/run-tests.sh ;;
    kqueue) bash scripts/kqueue.sh ;;
    macos) bash scripts/macos.sh ;;
    *) echo "unknown stage: $stage" >&2; exit 2 ;;
    esac
    echo "=== stage $stage took $(($(date +%s) - started)) s ==="
done
