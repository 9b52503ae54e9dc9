#!/usr/bin/env bash
# Crash campaign: `gapless run` killed with SIGKILL at random points under load, restarted from
# its store each time, against `gapless venue` (which keeps its own store across the run).
#
#   scripts/crash-campaign.sh                 # 10 kills (CI)
#   scripts/crash-campaign.sh --long          # 100 kills
#   scripts/crash-campaign.sh --seed N        # the kill times follow N (default 1)
#   scripts/crash-campaign.sh --keep          # keep the work directory
#
# Load: the venue streams ExecutionReports (ExecID 1..N) at a fixed rate; `gapless-recorder`
# on the session's channel sends NewOrderSingles (O1..M), which the venue acknowledges, and
# records every message it receives durably (peek, append to its record file and flush,
# commit). The recorder is not killed: the gateway is.
# Checks, printed at the end:
#   lost application messages    ExecIDs 1..N and acks of O1..M never delivered      (must be 0)
#   duplicates to the application   ids delivered twice                              (must be 0)
#   sequence numbers reused      an outbound MsgSeqNum sent twice without PossDupFlag=Y, over
#                                every run's message log                             (must be 0)
#   store corrupt                a restart that did not log on again, or that reported an
#                                error                                               (must be 0)
#   orders out of sequence       the venue's count of ClOrdIDs breaking O1, O2, ...  (must be 0)
# and that both ends agree on the sequence numbers at the end.
#
# Binaries: $GAPLESS_BIN_DIR/{gapless,gapless-recorder} if set, else `cargo build --release`.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
kills=10
seed=1
keep=false
while [ $# -gt 0 ]; do
  case "$1" in
    --long) kills=100 ;;
    --seed) seed=$2; shift ;;
    --keep) keep=true ;;
    *) echo "usage: $0 [--long] [--seed N] [--keep]" >&2; exit 2 ;;
  esac
  shift
done

rate=1000                      # streamed ExecutionReports per second
messages=$((kills * 1500 + 5000))
orders=$((messages / 20))
order_rate=$((rate / 15))
limit=$((messages / rate * 3 + 120))   # seconds, for the whole run

work=$(mktemp -d /tmp/gapless-crash.XXXXXX)
source "$root/scripts/lib/processes.sh"

find_binaries
for program in "$bin/gapless" "$bin/gapless-recorder"; do
  [ -x "$program" ] || { echo "missing $program" >&2; exit 1; }
done

port=$(free_port)
log "venue on 127.0.0.1:$port: $messages ExecutionReports at $rate/s; $orders orders at $order_rate/s; $kills kills (seed $seed)"
"$bin/gapless" venue --port "$port" --store "$work/venue" --messages "$messages" --rate "$rate" \
  --heartbeat 5 --end-on-peer-logout false --duration "$limit" --idle sleep \
  >"$work/venue.out" 2>"$work/venue.err" &
venue_pid=$!
pids+=("$venue_pid")

# write_config RUN: the gateway's configuration, with this run's own message log.
write_config() {
  cat >"$work/gapless.toml" <<EOF
[gateway]
mode = "inline"
idle = "sleep"
channel_dir = "$work/chan"
message_log = "$work/log.$1"
[[session]]
name = "venue"
role = "initiator"
connect = "127.0.0.1:$port"
reconnect_initial_ms = 50
reconnect_max_ms = 500
sender_comp_id = "GAPLESS"
target_comp_id = "VENUE"
version = "FIX.4.4"
heartbeat = 5
store = { path = "$work/store", durability = "none" }
EOF
}

start_gateway() {
  write_config "$1"
  "$bin/gapless" run --config "$work/gapless.toml" >"$work/gapless.$1.log" 2>&1 &
  gw_pid=$!
  pids+=("$gw_pid")
}

start_gateway 0
"$bin/gapless-recorder" --channel "$work/chan/venue.chan" --record "$work/app.rec" \
  --send "$orders" --send-kind order --rate "$order_rate" --expect "$messages" \
  --expect-acks "$orders" --timeout "$limit" >"$work/recorder.out" 2>"$work/recorder.err" &
rec_pid=$!
pids+=("$rec_pid")

RANDOM=$seed
done_kills=0
for ((run = 1; run <= kills; run++)); do
  # A random point: 0.2 to 2.0 s into this run.
  sleep "$(printf '%d.%03d' $((RANDOM % 2)) $((RANDOM % 1000)))"
  sleep 0.2
  if exited "$venue_pid" || exited "$rec_pid"; then
    echo "the stream ended after $done_kills kills" >&2
    break
  fi
  kill -KILL "$gw_pid"
  wait "$gw_pid" 2>/dev/null || true
  done_kills=$((done_kills + 1))
  received=$(wc -l <"$work/app.rec" 2>/dev/null || echo 0)
  printf '   kill %d after %s recorded\n' "$done_kills" "$received"
  start_gateway "$run"
done

rec_status=0
wait_until "$limit" exited "$rec_pid" || true
wait "$rec_pid" || rec_status=$?
sleep 1
stop "$gw_pid" TERM 15
stop "$venue_pid" TERM 15

rec_line=$(grep '^gapless-recorder:' "$work/recorder.out" || true)
field() { local v; v=$(sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$rec_line"); echo "${v:-0}"; }
lost=$(( $(field missing) + messages - $(field highest) + $(field ack_missing) + orders - $(field ack_highest) ))
duplicates=$(( $(field duplicates) + $(field ack_duplicates) ))

# Outbound MsgSeqNums without PossDupFlag=Y, over every run's log: a number twice is a reuse.
reused=$(cat "$work"/log.*/venue.messages.log 2>/dev/null \
  | grep -a $'\x0149=GAPLESS\x01' | grep -av $'\x0143=Y\x01' \
  | grep -ao $'\x0134=[0-9]*' | sort | uniq -d | wc -l || true)
logons=$(grep -c 'LoggedOn' "$work/recorder.err" || true)
store_errors=$(grep -il 'error\|corrupt\|panic' "$work"/gapless.*.log 2>/dev/null | wc -l || true)
corrupt=$(( store_errors + (logons < done_kills + 1 ? 1 : 0) ))
violations=$(sed -n 's/.* \([0-9]*\) out of sequence.*/\1/p' "$work/venue.out" | tail -n 1)
venue_next=$(sed -n 's/.*next MsgSeqNum out \([0-9]*\) in \([0-9]*\).*/\1 \2/p' "$work/venue.out" | tail -n 1)
gl_out=$(cat "$work"/log.*/venue.messages.log | grep -a $'\x0149=GAPLESS\x01' | grep -ao $'\x0134=[0-9]*' | cut -c5- | sort -n | tail -n 1 || true)
gl_in=$(cat "$work"/log.*/venue.messages.log | grep -a $'\x0149=VENUE\x01' | grep -ao $'\x0134=[0-9]*' | cut -c5- | sort -n | tail -n 1 || true)
gl_out=${gl_out:-0}
gl_in=${gl_in:-0}
agree=false
[ "$venue_next" = "$((gl_in + 1)) $((gl_out + 1))" ] && agree=true

echo
echo "== crash campaign: $done_kills of $kills kills (seed $seed)"
echo "   recorder: ${rec_line#gapless-recorder: }"
sed 's/^/   /' "$work/venue.out" | tail -n 5
echo "   lost application messages:        $lost"
echo "   duplicates to the application:    $duplicates"
echo "   sequence numbers reused:          $reused"
echo "   store corrupt (failed restarts):  $corrupt  ($logons logons for $((done_kills + 1)) starts)"
echo "   orders out of sequence at venue:  ${violations:-?}"
echo "   sequence numbers agree:           $agree (venue next out/in: $venue_next; gapless next out/in: $((gl_out + 1)) $((gl_in + 1)))"
if [ "$rec_status" -eq 0 ] && [ "$done_kills" -eq "$kills" ] && [ "$lost" -eq 0 ] \
  && [ "$duplicates" -eq 0 ] && [ "$reused" -eq 0 ] && [ "$corrupt" -eq 0 ] \
  && [ "${violations:-1}" = 0 ] && $agree; then
  echo "PASS"
else
  echo "FAIL; logs in $work"
  exit 1
fi
