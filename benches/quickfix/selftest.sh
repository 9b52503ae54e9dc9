#!/usr/bin/env bash
# Checks the QuickFIX peers against each other on loopback, every step bounded in time:
#   1. qf_peer to qf_peer, 10,000 messages each way, in FIX.4.2, FIX.4.4 and FIXT.1.1;
#   2. the receiving acceptor killed with SIGKILL mid-stream and started again on its FileStore:
#      its sequence numbers continue and the record holds every message exactly once;
#   3. qf_bench against qf_peer --echo: 10,000 round trips, then 100,000 orders for throughput.
#
#   benches/quickfix/selftest.sh [OUT_DIR]     (default /tmp/gapless-quickfix)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-/tmp/gapless-quickfix}
"$here/build.sh" "$out" >/dev/null
work=$(mktemp -d)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
port=$((20000 + RANDOM % 20000))

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Starts qf_peer in the background (no wrapper, so that $last_pid is qf_peer itself, which the
# restart test kills); its output goes to $work/$1.out.
peer() {
  local name=$1
  shift
  "$out/qf_peer" --port "$port" "$@" >"$work/$name.out" 2>&1 &
  pids+=($!)
  last_pid=$!
}

# Waits at most 60 s for the process $1 to exit and checks that its summary line matches $2.
expect_summary() {
  local pid=$1 pattern=$2 name=$3 i status=0
  for ((i = 0; i < 600; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && fail "$name still running after 60 s: $(cat "$work/$name.out")"
  wait "$pid" || status=$?
  ((status == 0)) || fail "$name exited with $status: $(cat "$work/$name.out")"
  grep -q "$pattern" "$work/$name.out" || fail "$name: want '$pattern', got: $(cat "$work/$name.out")"
  echo "ok   $name: $(tail -1 "$work/$name.out")"
}

for version in FIX.4.2 FIX.4.4 FIXT.1.1; do
  port=$((port + 1))
  peer "acceptor-$version" --role acceptor --version "$version" --send 10000 --exit-after-received 10000 \
    --record "$work/acceptor-$version.rec"
  acceptor=$last_pid
  peer "initiator-$version" --role initiator --version "$version" --send 10000 --exit-after-received 10000 \
    --record "$work/initiator-$version.rec"
  initiator=$last_pid
  exact='received=10000 in_order=true duplicates=0 gaps=0'
  expect_summary "$acceptor" "$exact" "acceptor-$version"
  expect_summary "$initiator" "$exact" "initiator-$version"
done

# Kill the receiver after 3,000 messages; the sender keeps persisting what it sends, and the
# restarted receiver asks for the rest with a ResendRequest. The receiver spends 200 us on each
# message after recording it, so the kill almost surely lands before QuickFIX has counted the
# message, which then comes again with PossDupFlag=Y and must not be recorded twice.
port=$((port + 1))
receiver=(--role acceptor --store "$work/store-acceptor" --reset-on-logon N --record "$work/killed.rec"
  --exit-after-received 10000 --work-us 200)
peer killed "${receiver[@]}"
victim=$last_pid
peer sender --role initiator --store "$work/store-initiator" --reset-on-logon N --send 10000
sender=$last_pid
for ((i = 0; i < 600; i++)); do
  [[ -f $work/killed.rec ]] && (($(wc -l <"$work/killed.rec") >= 3000)) && break
  sleep 0.05
done
kill -KILL "$victim"
wait "$victim" 2>/dev/null || true # 137, as meant
before=$(wc -l <"$work/killed.rec")
seq_before=$(tail -1 "$work/killed.rec" | sed 's/^34=\([0-9]*\) .*/\1/')
echo "ok   killed the acceptor after $before records (last MsgSeqNum $seq_before)"
peer restarted "${receiver[@]}"
expect_summary "$last_pid" 'received=10000 in_order=true duplicates=0 gaps=0' restarted
# The record file is one line per message over both runs, numbered 1..10000 once each.
[[ $(sed 's/.*11=O//' "$work/killed.rec" | sort -n | uniq | wc -l) == 10000 ]] || fail "record file lacks orders"
[[ $(wc -l <"$work/killed.rec") == 10000 ]] || fail "record file has duplicates"
# QuickFIX numbers the messages of the second run after those of the first.
first_after=$(sed -n "$((before + 1))p" "$work/killed.rec" | sed 's/^34=\([0-9]*\) .*/\1/')
((first_after == seq_before + 1)) || fail "MsgSeqNum after restart is $first_after, not $((seq_before + 1))"
echo "ok   MsgSeqNum continues at $first_after after the restart"
kill -TERM "$sender"
expect_summary "$sender" 'next_sender_seq=' sender

port=$((port + 1))
peer echo --role acceptor --echo
echo_pid=$last_pid
sleep 0.3
timeout 60 "$out/qf_bench" --port "$port" --count 10000 --warmup 1000 --latencies "$work/rt.bin" | tee "$work/bench.out"
[[ $(stat -c %s "$work/rt.bin") == 80000 ]] || fail "latency file should hold 10000 u64s"
timeout 60 "$out/qf_bench" --port "$port" --mode throughput --count 100000 | tail -1
kill -TERM "$echo_pid"
expect_summary "$echo_pid" 'received=111000 ' echo
echo "all QuickFIX peer checks passed"
