#!/usr/bin/env bash
# SIGINT to a running tofu-perf: it dies of SIGINT (status 130) and leaves
# neither its temporary directory (under $TMPDIR) nor its server process.
#   perf_sigint.sh TOFU_PERF
source "$(dirname "$0")/lib.sh"
perf=$1
mkdir "$work/tmp"
mkfifo "$work/stderr"
# uds: the server's socket lives in the temporary directory. The count is
# far more than the test lasts; the signal ends it.
TMPDIR="$work/tmp" "$perf" --transport uds --count 1G --max-seconds 0 >/dev/null 2>"$work/stderr" &
pid=$!
exec 3<"$work/stderr"
# tofu-perf prints the progress line once the case's server is listening.
line=
IFS= read -r -t 60 line <&3 || true
if [[ "$line" != "case 1/1: "* ]]; then
    fail "no progress line; got: '$line'"
fi
server=$(pgrep -P "$pid" || true)
if [ -z "$server" ]; then
    fail "no server process under tofu-perf ($pid)"
fi
kill -INT "$pid"
status=0
wait "$pid" || status=$?
pid=
if [ "$status" -ne 130 ]; then
    fail "tofu-perf exited with status $status, expected 130 (SIGINT)"
fi
if kill -0 "$server" 2>/dev/null; then
    fail "the server process $server outlived tofu-perf"
fi
left=$(ls -A "$work/tmp")
if [ -n "$left" ]; then
    fail "left behind in TMPDIR: $left"
fi
echo "ok: status 130, server $server gone, TMPDIR empty"
