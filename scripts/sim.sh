#!/usr/bin/env bash
# The deterministic simulation at length (tests/sim, docs/design.md §9):
# whole engines on simulated sockets, pollers and time, seeded, every run
# checked step by step, every failure replayable.
#
#   bash scripts/sim.sh [SECONDS]     (default: TOFU_SIM_SECONDS or 240)
#
# Builds tofu_sim in the default (RelWithDebInfo) and asan (ASan+UBSan)
# presets and runs both at once for SECONDS each (the ASan one three
# quarters of that). Each run first replays tests/sim/regressions, checks
# that every coverage item was reached, re-runs every 50th seed to prove it
# deterministic, and compares its speed with tests/sim/calibration. A
# failure prints the seed, the replay command and the shrink command.
source "$(dirname "$0")/common.sh"
seconds=${1:-${TOFU_SIM_SECONDS:-240}}
if [ "$(uname -s)" != Linux ]; then
    echo "sim: the simulated world is built on Linux only" >&2
    [ "${CI:-}" = true ] && exit 1
    echo "SKIPPED: sim"
    exit 0
fi

echo "=== tofu tests: sim (${seconds} s release, $((seconds * 3 / 4)) s ASan+UBSan, at once) ==="
for preset in default asan; do
    cmake --preset "$preset" >/dev/null
    cmake --build --preset "$preset" -j "$jobs" --target tofu_sim
done

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
run() {
    local preset=$1 budget=$2
    "build/$preset/tests/sim/tofu_sim" --seconds "$budget" --check-coverage --determinism 50 \
        --regressions tests/sim/regressions --calibration "tests/sim/calibration/$preset.txt" \
        >"$logs/$preset.log" 2>&1
}
run default "$seconds" &
release=$!
run asan $((seconds * 3 / 4)) &
sanitized=$!
status=0
wait "$release" || status=1
wait "$sanitized" || status=1
for preset in default asan; do
    echo "--- sim, $preset preset ---"
    # Everything on failure; the summary otherwise.
    if [ "$status" -ne 0 ]; then cat "$logs/$preset.log"; else tail -n 4 "$logs/$preset.log"; fi
done
exit "$status"
