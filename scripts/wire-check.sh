#!/usr/bin/env bash
# Wire check: capture a Gapless session on loopback with tshark, decode it with Wireshark's FIX
# dissector, and compare every message on the wire with Gapless's own message log.
#
#   scripts/wire-check.sh [--messages N] [--keep]
#
# The session: `gapless run` (initiator, FIX.4.4) against `gapless venue`, which streams N
# ExecutionReports (default 2,000) and drops one (--gap-at) so a ResendRequest, a resend with
# PossDupFlag and the rest of recovery are on the wire too; `gapless-recorder` sends N/10
# orders and records what arrives. Checks:
#   - every TCP segment with payload on the port decodes as FIX, none malformed, and the
#     dissector's own checksum verdict is never "bad";
#   - per direction, the sequence of (MsgType, MsgSeqNum) on the wire equals the sequence in
#     `[gateway] message_log`, message for message;
#   - the application received every ExecutionReport and acknowledgement once, in order.
# Installs tshark if missing (non-interactively, without the setuid dumpcap). Needs root for
# the capture on `lo`.
#
# Binaries: $GAPLESS_BIN_DIR/{gapless,gapless-recorder} if set, else `cargo build --release`.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
messages=2000
keep=false
while [ $# -gt 0 ]; do
  case "$1" in
    --messages) messages=$2; shift ;;
    --keep) keep=true ;;
    *) echo "usage: $0 [--messages N] [--keep]" >&2; exit 2 ;;
  esac
  shift
done
orders=$((messages / 10))
limit=120

if ! dpkg -s tshark >/dev/null 2>&1; then
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y tshark
fi

work=$(mktemp -d /tmp/gapless-wire.XXXXXX)
source "$root/scripts/lib/processes.sh"

find_binaries

port=$(free_port)
capture=$work/capture.pcapng
log "capturing tcp port $port on lo"
tshark -q -i lo -f "tcp port $port" -w "$capture" >"$work/tshark.out" 2>&1 &
tshark_pid=$!
pids+=("$tshark_pid")
capturing() { grep -qs 'Capturing on' "$work/tshark.out"; }
wait_until 20 capturing || { cat "$work/tshark.out" >&2; echo "tshark did not start" >&2; exit 1; }

"$bin/gapless" venue --port "$port" --messages "$messages" --rate $((messages / 2)) \
  --gap-at $((messages / 2)) --heartbeat 5 --duration "$limit" --idle sleep \
  >"$work/venue.out" 2>"$work/venue.err" &
venue_pid=$!
pids+=("$venue_pid")
cat >"$work/gapless.toml" <<EOF
[gateway]
mode = "inline"
idle = "sleep"
channel_dir = "$work/chan"
message_log = "$work/log"
[[session]]
name = "venue"
role = "initiator"
connect = "127.0.0.1:$port"
reconnect_initial_ms = 50
sender_comp_id = "GAPLESS"
target_comp_id = "VENUE"
version = "FIX.4.4"
heartbeat = 5
EOF
"$bin/gapless" run --config "$work/gapless.toml" >"$work/gapless.log" 2>&1 &
gw_pid=$!
pids+=("$gw_pid")
rec_status=0
"$bin/gapless-recorder" --channel "$work/chan/venue.chan" --record "$work/app.rec" \
  --send "$orders" --send-kind order --rate $((orders + 1)) --expect "$messages" \
  --expect-acks "$orders" --timeout "$limit" >"$work/recorder.out" 2>"$work/recorder.err" \
  || rec_status=$?
stop "$gw_pid" TERM 15
stop "$venue_pid" TERM 15
sleep 1
stop "$tshark_pid" INT 15

# One line per TCP segment with payload: frame, source port, MsgTypes, MsgSeqNums, malformed,
# checksum verdicts, the frame a split message was reassembled in, whether a retransmission.
tshark -r "$capture" -2 -d "tcp.port==$port,fix" -Y 'tcp.len > 0' -T fields -E separator=/t \
  -E occurrence=a -E aggregator=, -e frame.number -e tcp.srcport -e fix.MsgType \
  -e fix.MsgSeqNum -e _ws.malformed -e fix.checksum_good -e tcp.reassembled_in \
  -e tcp.analysis.retransmission >"$work/frames.tsv" 2>"$work/tshark-read.err"
segments=$(wc -l <"$work/frames.tsv")
# A segment without FIX fields must be the front part of a message the dissector reassembled
# in a later segment, or a TCP retransmission of bytes already dissected.
not_fix=$(awk -F'\t' '$3 == "" && $7 == "" && $8 == ""' "$work/frames.tsv" | wc -l)
partial=$(awk -F'\t' '$3 == "" && $7 != ""' "$work/frames.tsv" | wc -l)
retransmitted=$(awk -F'\t' '$3 == "" && $7 == "" && $8 != ""' "$work/frames.tsv" | wc -l)
malformed=$(awk -F'\t' '$5 != ""' "$work/frames.tsv" | wc -l)
# Messages whose CheckSum the dissector verified as good (a "not checked" counts as not good).
good_checksum=$(awk -F'\t' '{ n = split($6, v, ","); for (i = 1; i <= n; i++) if (v[i] == "1" || v[i] == "True") good++ } END { print good + 0 }' "$work/frames.tsv")

# Per direction (by source port: the venue's port is $port), "MsgType MsgSeqNum" per message.
awk -F'\t' -v venue="$port" '{
    n = split($3, types, ","); split($4, seqs, ",")
    for (i = 1; i <= n; i++) print (($2 == venue) ? "in" : "out"), types[i], seqs[i]
  }' "$work/frames.tsv" >"$work/wire.txt"
# The message log: "<time> : <message>"; direction from SenderCompID.
tr '\001' '|' <"$work/log/venue.messages.log" | awk '{
    dir = ($0 ~ /\|49=GAPLESS\|/) ? "out" : "in"
    match($0, /\|35=[^|]*/); t = substr($0, RSTART + 4, RLENGTH - 4)
    match($0, /\|34=[0-9]*/); s = substr($0, RSTART + 4, RLENGTH - 4)
    print dir, t, s
  }' >"$work/logged.txt"
mismatch=0
for dir in in out; do
  if ! diff <(grep "^$dir " "$work/wire.txt") <(grep "^$dir " "$work/logged.txt") >"$work/diff.$dir"; then
    mismatch=$((mismatch + $(grep -c '^[<>]' "$work/diff.$dir")))
  fi
done
wire_messages=$(wc -l <"$work/wire.txt")
bad_checksum=$((wire_messages - good_checksum))
logged_messages=$(wc -l <"$work/logged.txt")
types=$(awk '{print $2}' "$work/wire.txt" | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')
rec_line=$(grep '^gapless-recorder:' "$work/recorder.out" || true)

echo
echo "== wire check: port $port, $segments TCP segments with payload"
echo "   FIX messages on the wire: $wire_messages (by MsgType: $types)"
echo "   in the message log:       $logged_messages"
echo "   segments not FIX:         $not_fix (plus $partial fronts of split messages, $retransmitted TCP retransmissions)"
echo "   malformed:                $malformed"
echo "   checksum not verified:    $bad_checksum"
echo "   wire vs log differences:  $mismatch"
echo "   recorder: ${rec_line#gapless-recorder: }"
if [ "$segments" -gt 0 ] && [ "$not_fix" -eq 0 ] && [ "$malformed" -eq 0 ] && [ "$bad_checksum" -eq 0 ] \
  && [ "$mismatch" -eq 0 ] && [ "$wire_messages" -eq "$logged_messages" ] && [ "$rec_status" -eq 0 ] \
  && grep -q ' 2 ' "$work/wire.txt"; then
  echo "PASS"
else
  echo "FAIL; capture and logs in $work"
  exit 1
fi
