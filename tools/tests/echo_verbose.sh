#!/usr/bin/env bash
# tofu-echo -v logs a channel opened and closed (with its cause), and every
# tofu-echo prints the engine's counters when a signal stops it.
#   echo_verbose.sh TOFU_ECHO TOFU_FIRST_CLIENT
source "$(dirname "$0")/lib.sh"
echo_tool=$1
client=$2
mkfifo "$work/stdout" "$work/stderr"
"$echo_tool" -v 'tcp|127.0.0.1|0' >"$work/stdout" 2>"$work/stderr" &
pid=$!
exec 3<"$work/stdout" 4<"$work/stderr"
line=
IFS= read -r -t 60 line <&3 || true
if [[ "$line" != "listening on "* ]]; then
    fail "no listening line; got: '$line'"
fi
"$client" "${line#listening on }" 1 >/dev/null
# The close reaches tofu-echo after the client has seen its own: read its log up to it.
log=
while IFS= read -r -t 60 line <&4; do
    log+="$line"$'\n'
    [[ "$line" != *" closed"* ]] || break
done
kill -TERM "$pid"
log+=$(cat <&4)
status=0
wait "$pid" || status=$?
pid=
printf '%s\n' "$log"
[ "$status" -eq 0 ] || fail "tofu-echo exited with $status after SIGTERM"
grep -Eq '^tofu-echo: channel [0-9]+ opened$' <<<"$log" || fail "no 'channel N opened' line"
grep -Eq '^tofu-echo: channel [0-9]+ closed \(success\)$' <<<"$log" || fail "no 'channel N closed (success)' line"
# In: HelloRequest, Request, ByeRequest; out: their three answers. The
# bytes depend on the port's digits in the address header.
stats='^tofu-echo: stats: 3 messages in \([0-9]+ B\), 3 out \([0-9]+ B\), 1 accepted, 0 connected, 0 refused, '
stats+='1 channels closed \(success 1\)'
grep -Eq "$stats" <<<"$log" || fail "no stats line"
