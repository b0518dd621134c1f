#!/usr/bin/env bash
# The README's main job: build the tools and watch tofu work.
#
#   1. configure (cmake --preset default) and build only what the demo runs
#   2. start tofu-echo on TCP 127.0.0.1 (port 0: the kernel picks) and on a
#      Unix socket in a temporary directory; read the real address from its
#      `listening on ...` line
#   3. run the example client against each server and show the conversation
#   4. a short tofu-perf throughput figure: 64 B messages over TCP and UDS
#   5. stop the servers with SIGTERM and check that they exited 0
#
# Exits non-zero on any failure. Needs cmake and a C++20 compiler
# (scripts/deps.sh installs them on Debian). After the build it takes a few
# seconds. TOFU_JOBS sets the build parallelism (default 2); TOFU_DEMO_BUILD_DIR
# another build directory than the preset's build/default.
source "$(dirname "$0")/common.sh"
build=${TOFU_DEMO_BUILD_DIR:-build/default}
step() { printf '\n== %s ==\n' "$*"; }
fail() {
    printf 'demo: FAILED: %s\n' "$*" >&2
    exit 1
}

# A fresh machine: install what the build needs (Debian packages, if missing).
bash scripts/deps.sh || fail "scripts/deps.sh could not install the build dependencies"

step "configure and build (cmake --preset default; tofu-echo, tofu-perf, the first client)"
# Tools and examples on, whatever an earlier configure of this directory chose.
cmake --preset default -B "$build" -DTOFU_BUILD_TOOLS=ON -DTOFU_BUILD_EXAMPLES=ON \
    >"${TMPDIR:-/tmp}/tofu-demo-configure.log" 2>&1 ||
    { cat "${TMPDIR:-/tmp}/tofu-demo-configure.log" >&2; fail "cmake --preset default"; }
cmake --build "$build" -j "$jobs" --target tofu-echo tofu-perf tofu-first-client ||
    fail "build"

echo_bin=$build/tools/tofu-echo
perf_bin=$build/tools/tofu-perf
client_bin=$build/examples/tofu-first-client
for binary in "$echo_bin" "$perf_bin" "$client_bin"; do
    [[ -x $binary ]] || fail "$binary was not built"
done

scratch=$(mktemp -d "${TMPDIR:-/tmp}/tofu-demo-XXXXXX")
server_pids=()
cleanup() {
    for pid in "${server_pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    rm -rf "$scratch"
}
trap cleanup EXIT

# start_echo NAME ADDRESS: starts tofu-echo, waits for its `listening on`
# line, sets $listening (the real address) and $echo_pid.
start_echo() {
    local name=$1 address=$2
    "$echo_bin" "$address" >"$scratch/$name.out" 2>"$scratch/$name.err" &
    echo_pid=$!
    server_pids+=("$echo_pid")
    for _ in $(seq 100); do
        if grep -q '^listening on ' "$scratch/$name.out" 2>/dev/null; then
            listening=$(sed -n 's/^listening on //p' "$scratch/$name.out" | head -n 1)
            echo "tofu-echo $address -> listening on $listening (pid $echo_pid)"
            return 0
        fi
        kill -0 "$echo_pid" 2>/dev/null || { cat "$scratch/$name.err" >&2; fail "tofu-echo $address exited"; }
        sleep 0.1
    done
    fail "tofu-echo $address did not say 'listening on' within 10 s"
}

step "start tofu-echo on TCP and on a Unix socket"
start_echo tcp 'tcp|127.0.0.1|0'
tcp_address=$listening tcp_pid=$echo_pid
start_echo uds "uds|$scratch/echo.sock"
uds_address=$listening uds_pid=$echo_pid

for address in "$tcp_address" "$uds_address"; do
    step "example client -> $address"
    timeout 30 "$client_bin" "$address" 3 | sed 's/^/  /' || fail "tofu-first-client against $address"
done

step "tofu-perf: 64 B one-way throughput, two processes, TCP and UDS"
timeout 60 "$perf_bin" --transport tcp,uds --size 64 --count 1000000 --max-seconds 2 | sed 's/^/  /' ||
    fail "tofu-perf"

step "stop the servers (SIGTERM)"
for entry in "tcp:$tcp_pid" "uds:$uds_pid"; do
    name=${entry%%:*} pid=${entry#*:}
    kill -TERM "$pid"
    if wait "$pid"; then rc=0; else rc=$?; fi
    echo "tofu-echo ($name) exited with $rc; its log:"
    sed 's/^/  /' "$scratch/$name.err"
    (( rc == 0 )) || fail "tofu-echo ($name) exited with $rc"
done
server_pids=()
[[ ! -e $scratch/echo.sock ]] || fail "the Unix socket file was left behind"

step "demo passed"
