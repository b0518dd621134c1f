#!/usr/bin/env bash
# Mutation check of the deterministic simulation: does it catch bugs we
# know it should? Each mutant below is one small, deliberate bug in src/
# (the kind of readiness, wake-up and bookkeeping mistake that hurts event
# loops). For each, a scratch copy of the committed tree (HEAD) gets the bug, tofu_sim is
# built there and run for up to SECONDS; the mutant is "caught" when the
# simulation fails, and the first failure is shown.
#
#   bash scripts/mutation.sh [SECONDS] [NAME...]    (default 60 s, every mutant)
#
# Not part of CI (a build per mutant is minutes); docs/design.md §9 has the
# last results. Exits non-zero when a mutant does not apply (the code moved:
# update its text here) or is not caught, except those listed as known
# survivors, each with the suite that catches it instead.
source "$(dirname "$0")/common.sh"
seconds=${1:-60}
shift || true
scratch=${TOFU_MUTATION_DIR:-$root/build/mutation}

# name | file | text | replacement (literal; \n is a newline, \| a bar) | what the bug is
mutants=(
"generation|src/reactor/reactor.cpp|channel == nullptr \|\| channel->token() != token \|\||channel == nullptr \|\||an event for a closed channel's token reaches the channel now using its number"
"budget-revisit|src/reactor/reactor.cpp|            if (still_ready(channel)) ready_.push_back(channel);\n||a channel cut short by its budget waits for a new report"
"full-read-drained|src/reactor/reactor.cpp|if (result.bytes < ReadBuffer::capacity) channel.read_ready = false;|channel.read_ready = false;|a full read is taken as drained"
"partial-write|src/reactor/reactor.cpp|channel.head_written += written;|channel.head_written += written + 1;|a partial write resumes one byte too far"
"dropped-at-close|src/reactor/reactor.cpp|if (notify) hand_back(*channel.group, std::move(message), returned);|(void)returned;|messages still queued at close are dropped, not handed back"
"handshake-timer|src/reactor/reactor.cpp|if (before != arrival.next) timers_.clear(channel.timers, Timeout::handshake);||the handshake deadline outlives the handshake"
"memory-wake|src/pool/pool.cpp|if (listener_ != nullptr && returned >= target && returned - count < target) listener_->memory_returned();|(void)target;|memory returned while the reactor sleeps wakes nobody"
"wake-target-late|src/reactor/reactor.cpp|needed == 0 ? Pool::never_wake : returned + needed;|needed == 0 ? Pool::never_wake : returned + needed + 1;|the reactor asks to be woken one return later than the fewest that could let a channel go on"
"post-vs-sleep|src/engine/engine.cpp|    if (!commands_.empty()) {\n        awake_.store(true, std::memory_order_seq_cst);\n        return false;\n    }\n||a post racing the reactor's sleep is not re-checked"
"forged-origin|src/reactor/protocol.cpp|if (frame.header.origin == Origin::engine) return Status::invalid_message;||a peer frame claiming the engine as origin is accepted"
"pending-leave|src/reactor/reactor.cpp|    if (refused) leave_pending(channel);\n||a pending connection that closes keeps its admission place"
"share-never|src/reactor/reactor_limits.cpp|    if (!past_share) return false;|    if (past_share \|\| !past_share) return false;|a channel's share of the pool is never enforced"
"accept-retry|src/reactor/reactor_limits.cpp|    timers_.set(listener.timers, Timeout::accept_retry, now_ + accept_retry_after);|    (void)accept_retry_after;|a listener out of descriptors waits for one of its own channels to close"
"resume-no-read|src/reactor/reactor.cpp|over_share_.size(), now_);\n    serve_without_report(channel);|over_share_.size(), now_);\n    mark_dirty(channel);|a channel resumed after a pause waits for a new report instead of reading (and decoding its stash) at once"
"paused-interest|src/reactor/reactor.cpp|interest.read = !channel.parked() && !channel.peer_closed;|interest.read = !channel.peer_closed;|a paused channel keeps its read interest registered"
"oneshot-terminal|tests/sim/pollers.cpp|if (c.failed && bug_ != Bug::terminal_rearmed) reg.failure_seen = true;||the one-shot model (AFD) does not remember a terminal failure and re-arms it"
"wait-timers|src/reactor/reactor.cpp|    if (next == Clock::never()) return milliseconds{-1};|    return milliseconds{-1};|the wait ignores the nearest deadline"
)
# Not caught by the simulation (name: what catches it instead, or why
# nothing needs to).
declare -A survivors=(
    [generation]="an equivalent mutant. A stale event is a spurious one, which the contract allows and the reactor tolerates (it reads, finds nothing); the check saves that read"
    [share-never]="caught by Hostile.OneChannelCannotTakeTheWholePool and Hostile.UnreadAnswersPauseTheirSender: the simulated world checks no fairness between channels"
    [oneshot-terminal]="equivalent for this reactor: it closes a channel at the first failure it is told of, so no terminal condition is re-armed while interest remains (the AFD backend remembers them all the same: WrongModels.RearmingATerminalConditionFailsNoInterestNoSpin)"
    [wake-target-late]="caught by Backpressure.ExhaustionInTheMiddleOfAMessageResumesOnReturnAlone, which returns exactly the one message the reactor waits for and then waits itself; the simulated applications keep returning messages, so a wake-up one return late still comes"
    [full-read-drained]="equivalent on every real backend (poll, epoll LT, AFD re-armed with a level check, kqueue level) since they report the rest again. Only the simulation's edge model cannot, and there the stalled frame's deadline closes the channel, which the world cannot tell from a slow link"
)

wanted=("$@")
echo "=== mutation check: ${#mutants[@]} mutants, up to ${seconds} s of simulation each ==="
# The committed tree (HEAD), untouched by edits under way in this one.
rm -rf "$scratch/tree" "$scratch/pristine"
mkdir -p "$scratch/tree"
git archive HEAD | tar -x -C "$scratch/tree"
cp -a "$scratch/tree" "$scratch/pristine"
cmake -S "$scratch/tree" -B "$scratch/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTOFU_BUILD_TOOLS=OFF \
    -DTOFU_BUILD_EXAMPLES=OFF >/dev/null

status=0
caught=0
for entry in "${mutants[@]}"; do
    IFS='|' read -r name file text replacement what <<<"${entry//\\|/$'\x1f'}"
    text=${text//$'\x1f'/|}
    replacement=${replacement//$'\x1f'/|}
    if ((${#wanted[@]})) && [[ ! " ${wanted[*]} " == *" $name "* ]]; then continue; fi
    if ! FROM="$text" TO="$replacement" perl -0pi -e '
            BEGIN { ($from, $to) = map { s/\\n/\n/gr } @ENV{qw(FROM TO)}; }
            $n = s/\Q$from\E/$to/; END { exit($n ? 0 : 3) }' "$scratch/tree/$file"; then
        echo "MUTANT $name: its text is no longer in $file (update scripts/mutation.sh)"
        status=1
        continue
    fi
    if ! cmake --build "$scratch/build" -j "$jobs" --target tofu_sim >"$scratch/build.log" 2>&1; then
        echo "MUTANT $name: does not build"; tail -5 "$scratch/build.log"; status=1
    else
        started=$(date +%s)
        if "$scratch/build/tests/sim/tofu_sim" --seconds "$seconds" >"$scratch/run.log" 2>&1; then
            if [ -n "${survivors[$name]:-}" ]; then
                echo "survived $name ($what): known; ${survivors[$name]}"
            else
                echo "SURVIVED $name ($what)"; status=1
            fi
        else
            caught=$((caught + 1))
            first=$(grep -m1 -E 'FAILED|Assertion|terminate|ERROR' "$scratch/run.log" || tail -n 1 "$scratch/run.log")
            first=${first:0:220}
            echo "caught   $name ($what), in a ${seconds} s run taking $(($(date +%s) - started)) s: $first"
        fi
    fi
    cp "$scratch/pristine/$file" "$scratch/tree/$file"
done
echo "=== $caught caught ==="
exit "$status"
