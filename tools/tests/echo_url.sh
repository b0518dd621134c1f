#!/usr/bin/env bash
# tofu-echo takes an address as people type it: `tcp://localhost:0` listens
# on a loopback literal and prints the real address in the tofu form; the
# example client reaches it through the same name, as a URL.
#   echo_url.sh TOFU_ECHO TOFU_FIRST_CLIENT
source "$(dirname "$0")/lib.sh"
echo_tool=$1
client=$2
mkfifo "$work/stdout"
"$echo_tool" 'tcp://localhost:0' >"$work/stdout" &
pid=$!
exec 3<"$work/stdout"
line=
IFS= read -r -t 60 line <&3 || true
if [[ ! "$line" =~ ^listening\ on\ tcp\|(127\.0\.0\.1|::1)\|([0-9]+)$ ]]; then
    fail "expected 'listening on tcp|<loopback literal>|<port>'; got: '$line'"
fi
port=${BASH_REMATCH[2]}
"$client" "tcp://localhost:$port" 1 >/dev/null || fail "tofu-first-client could not reach tcp://localhost:$port"
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=
[ "$status" -eq 0 ] || fail "tofu-echo exited with $status after SIGTERM"
