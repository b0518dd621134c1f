# Sourced by the tests that run a tool in the background: a scratch
# directory, and no tool left running when the test ends, however it ends.
# The test stores the tool's process id in $pid and clears it once reaped.
set -euo pipefail
work=$(mktemp -d)
pid=
cleanup() {
    [ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "FAILED: $*"
    exit 1
}
