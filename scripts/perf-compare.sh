#!/usr/bin/env bash
# Before/after figures measured side by side: builds tofu-perf (Release) at
# each COMMIT in a git worktree under build/compare/, then runs the same
# tofu-perf case with each build in turn, ROUNDS rounds interleaved (so load
# drifts hit every build alike), and prints each build's median msg/s and its
# ratio to the first COMMIT's.
#
#   scripts/perf-compare.sh [-r ROUNDS] COMMIT... -- TOFU-PERF-OPTIONS...
#   e.g. scripts/perf-compare.sh 179ff10 HEAD -- --impl tofu --backend epoll --transport uds --size 64
#
# The options must name one case (one transport, one size, throughput).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=5
if [[ ${1:-} == -r ]]; then
    rounds=$2
    shift 2
fi
commits=()
while (($#)) && [[ $1 != -- ]]; do
    commits+=("$1")
    shift
done
if ((${#commits[@]} == 0)) || [[ ${1:-} != -- ]]; then
    echo "usage: $0 [-r ROUNDS] COMMIT... -- TOFU-PERF-OPTIONS..." >&2
    exit 2
fi
shift
root=$PWD
binaries=()
for commit in "${commits[@]}"; do
    sha=$(git rev-parse --short "$commit")
    tree="$root/build/compare/$sha"
    if [[ ! -d $tree ]]; then
        git worktree add --detach -f "$tree" "$sha" >/dev/null
    fi
    if [[ ! -x $tree/build/bench/tools/tofu-perf ]]; then
        echo "building tofu-perf at $sha..." >&2
        (cd "$tree" && cmake --preset bench >/dev/null && cmake --build build/bench --target tofu-perf -j2 >/dev/null)
    fi
    binaries+=("$tree/build/bench/tools/tofu-perf")
done

declare -A results
for ((round = 1; round <= rounds; round++)); do
    for i in "${!binaries[@]}"; do
        line=$("${binaries[$i]}" -q "$@" | grep -m1 ' msg/s=')
        rate=$(sed -E 's/.* msg\/s=([0-9]+).*/\1/' <<<"$line")
        results[$i]+="$rate "
        echo "round $round ${commits[$i]}: $rate msg/s" >&2
    done
done

median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
first=$(median "${results[0]}")
printf '%-14s %14s %8s\n' commit "median msg/s" ratio
for i in "${!binaries[@]}"; do
    m=$(median "${results[$i]}")
    printf '%-14s %14.0f %7.2fx\n' "$(git rev-parse --short "${commits[$i]}")" "$m" "$(awk -v a="$m" -v b="$first" 'BEGIN {print a / b}')"
done
