#!/usr/bin/env bash
# Interoperability with QuickFIX C++ on loopback, under induced gaps and a gateway crash.
#
#   scripts/interop-quickfix.sh           # short (CI): FIX.4.4 one way, FIXT.1.1/FIX.5.0SP2 the other, 10,000 each way
#   scripts/interop-quickfix.sh --long    # FIX.4.2, FIX.4.4 and FIXT.1.1 in both directions, 100,000 each way
#   scripts/interop-quickfix.sh --keep    # keep the work directory (logs, records, stores)
#   scripts/interop-quickfix.sh --hostile # also random faults in the proxy, both ways: per message
#                                         # 0.1% drop, duplicate, delay, corrupt; 0.02% cut (admin
#                                         # messages and resends spared, as the venue does)
#
# Each scenario: Gapless (`gapless run`, the session and its store) with `gapless-recorder` on
# its application channel; QuickFIX's `qf_peer` (benches/quickfix) with a FileStore; between
# them `gapless-proxy`, which drops one message each way, the first time its MsgSeqNum is sent
# (an induced gap, recovered by ResendRequest). Both applications send N messages (Gapless:
# orders or execution reports through AppEnd::try_send; QuickFIX: the other kind) and record
# every id received. Mid-stream `gapless run` is killed with SIGKILL and started again from its
# store. Pass: each side received ids 1..N exactly once, in order; the proxy's two drops
# happened; at the end each side's next sender number is the other's next target number.
#
# Binaries: $GAPLESS_BIN_DIR/{gapless,gapless-proxy,gapless-recorder} if set, else
# `cargo build --release`; QuickFIX peers: $QF_DIR if set, else benches/quickfix/build.sh.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
long=false
keep=false
proxy_faults=()
for arg in "$@"; do
  case "$arg" in
    --long) long=true ;;
    --keep) keep=true ;;
    --hostile)
      proxy_faults=(--seed 7 --drop 0.001 --duplicate 0.001 --delay 0.001 --max-delay-messages 3
        --corrupt 0.001 --cut 0.0002) ;;
    *) echo "usage: $0 [--long] [--keep] [--hostile]" >&2; exit 2 ;;
  esac
done

if $long; then
  messages=100000
  versions=(FIX.4.2 FIX.4.4 FIXT.1.1)
  scenarios=()
  for v in "${versions[@]}"; do scenarios+=("initiator:$v" "acceptor:$v"); done
  scenario_limit=600
else
  messages=10000
  scenarios=("initiator:FIX.4.4" "acceptor:FIXT.1.1")
  scenario_limit=180
fi
# Gapless's recorder sends at this rate so the crash lands while both streams are flowing.
rate=$((messages / 5))
gap_to_gapless=$((messages / 4 + 7))
gap_to_quickfix=$((messages / 3 + 11))

work=$(mktemp -d /tmp/gapless-interop.XXXXXX)
source "$root/scripts/lib/processes.sh"
lines_at_least() { [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; }

find_binaries
if [ -n "${QF_DIR:-}" ]; then
  qf=$QF_DIR
else
  qf=$work/qf
  "$root/benches/quickfix/build.sh" "$qf" >/dev/null
fi
for program in "$bin/gapless" "$bin/gapless-proxy" "$bin/gapless-recorder" "$qf/qf_peer"; do
  [ -x "$program" ] || { echo "missing $program" >&2; exit 1; }
done

# The Gapless version name of a scenario's QuickFIX BeginString.
gapless_version() { [ "$1" = FIXT.1.1 ] && echo FIX.5.0SP2 || echo "$1"; }

# Largest MsgSeqNum in the Gapless message log sent by CompID $2.
max_seq_from() {
  grep -a $'\x0149='"$2"$'\x01' "$1" | grep -a -o $'\x0134=[0-9]*' | cut -c5- | sort -n | tail -n 1
}

failures=0
summary=()

# run_scenario ROLE VERSION: ROLE is Gapless's.
run_scenario() {
  local role=$1 version=$2
  local dir=$work/$role-$version
  mkdir -p "$dir"
  local gversion qf_role gapless_sends proxy_port qf_port="" gw_port=""
  gversion=$(gapless_version "$version")
  proxy_port=$(free_port)
  if [ "$role" = initiator ]; then
    qf_role=acceptor; gapless_sends=order; qf_port=$(free_port)
  else
    qf_role=initiator; gapless_sends=exec; gw_port=$(free_port)
  fi
  log "scenario: Gapless $role <-> QuickFIX $qf_role, $version, $messages each way"

  {
    echo "[gateway]"
    echo "mode = \"inline\""
    echo "idle = \"sleep\""
    echo "channel_dir = \"$dir/chan\""
    echo "message_log = \"$dir/log\""
    echo "[[session]]"
    echo "name = \"qf\""
    echo "role = \"$role\""
    if [ "$role" = initiator ]; then
      echo "connect = \"127.0.0.1:$proxy_port\""
      echo "reconnect_initial_ms = 100"
      echo "reconnect_max_ms = 1000"
    else
      echo "listen = \"127.0.0.1:$gw_port\""
    fi
    echo "sender_comp_id = \"GAPLESS\""
    echo "target_comp_id = \"QF\""
    echo "version = \"$gversion\""
    echo "heartbeat = 5"
    echo "store = { path = \"$dir/store\", durability = \"none\" }"
  } >"$dir/gapless.toml"

  local upstream=$qf_port
  [ "$role" = acceptor ] && upstream=$gw_port
  # to-upstream is the initiator's direction.
  local up_drop=$gap_to_quickfix down_drop=$gap_to_gapless
  [ "$role" = acceptor ] && { up_drop=$gap_to_gapless; down_drop=$gap_to_quickfix; }
  "$bin/gapless-proxy" --listen "127.0.0.1:$proxy_port" --connect "127.0.0.1:$upstream" \
    --drop-seq-to-upstream "$up_drop" --drop-seq-to-client "$down_drop" ${proxy_faults[@]+"${proxy_faults[@]}"} \
    --duration "$scenario_limit" >"$dir/proxy.out" 2>"$dir/proxy.err" &
  local proxy_pid=$!
  pids+=("$proxy_pid")

  "$bin/gapless" run --config "$dir/gapless.toml" >"$dir/gapless.1.log" 2>&1 &
  local gw_pid=$!
  pids+=("$gw_pid")

  local qf_port_arg=$proxy_port
  [ "$role" = initiator ] && qf_port_arg=$qf_port
  "$qf/qf_peer" --role "$qf_role" --version "$version" --host 127.0.0.1 --port "$qf_port_arg" \
    --sender QF --target GAPLESS --heartbeat 5 --store "$dir/qfstore" --reset-on-logon N \
    --send "$messages" --record "$dir/qf.rec" >"$dir/qf.out" 2>"$dir/qf.err" &
  local qf_pid=$!
  pids+=("$qf_pid")

  "$bin/gapless-recorder" --channel "$dir/chan/qf.chan" --record "$dir/gapless.rec" \
    --send "$messages" --send-kind "$gapless_sends" --version "$version" --rate "$rate" \
    --expect "$messages" --timeout "$scenario_limit" >"$dir/recorder.out" 2>"$dir/recorder.err" &
  local rec_pid=$!
  pids+=("$rec_pid")

  # The crash: SIGKILL once the Gapless side has received a third of its stream, restart.
  local crashed=no
  if wait_until 60 lines_at_least "$dir/gapless.rec" $((messages / 3)); then
    kill -KILL "$gw_pid"
    wait "$gw_pid" 2>/dev/null || true
    crashed="after $(wc -l <"$dir/gapless.rec") received"
    sleep 0.3
    "$bin/gapless" run --config "$dir/gapless.toml" >"$dir/gapless.2.log" 2>&1 &
    gw_pid=$!
    pids+=("$gw_pid")
  fi

  local ok=true rec_status=0
  wait_until "$scenario_limit" exited "$rec_pid" || true
  wait "$rec_pid" || rec_status=$?
  [ "$rec_status" -eq 0 ] || ok=false
  wait_until 60 lines_at_least "$dir/qf.rec" "$messages" || ok=false
  # The initiator logs out first (SIGTERM), so that it does not reconnect and log on again to
  # an acceptor that is going away; QuickFIX prints its summary when it stops.
  sleep 1
  if [ "$role" = initiator ]; then
    stop "$gw_pid" TERM 15
    stop "$qf_pid" TERM 15
  else
    stop "$qf_pid" TERM 15
    stop "$gw_pid" TERM 15
  fi
  stop "$proxy_pid" TERM 5

  local qf_line rec_line
  qf_line=$(grep '^received=' "$dir/qf.out" || true)
  rec_line=$(grep '^gapless-recorder:' "$dir/recorder.out" || true)
  local qf_next_sender qf_next_target gl_out gl_in
  qf_next_sender=$(sed -n 's/.*next_sender_seq=\([0-9]*\).*/\1/p' <<<"$qf_line")
  qf_next_target=$(sed -n 's/.*next_target_seq=\([0-9]*\).*/\1/p' <<<"$qf_line")
  gl_out=$(max_seq_from "$dir/log/qf.messages.log" GAPLESS || true)
  gl_in=$(max_seq_from "$dir/log/qf.messages.log" QF || true)
  local drops
  drops=$(grep -c 'dropped_by_seq=1 ' "$dir/proxy.out" || true)

  grep -q "received=$messages in_order=true duplicates=0 gaps=0" <<<"$qf_line" || ok=false
  grep -q "received=$messages highest=$messages in_order=true duplicates=0 skipped=0 missing=0" <<<"$rec_line" || ok=false
  # With --hostile a chosen MsgSeqNum may first travel while the connection is down, and then
  # only as a resend (PossDupFlag=Y), which is never dropped: the two drops are then not required.
  [ "$drops" = 2 ] || [ ${#proxy_faults[@]} -gt 0 ] || ok=false
  [ -n "$gl_out" ] && [ "$qf_next_target" = $((gl_out + 1)) ] || ok=false
  [ -n "$gl_in" ] && [ "$qf_next_sender" = $((gl_in + 1)) ] || ok=false

  echo "   quickfix: $qf_line"
  echo "   gapless:  ${rec_line#gapless-recorder: }"
  echo "   gapless next sender $((${gl_out:-0} + 1)) next target $((${gl_in:-0} + 1)); crash: $crashed"
  sed 's/^/   /' "$dir/proxy.out" | grep -v listening
  local verdict=PASS
  $ok || { verdict=FAIL; failures=$((failures + 1)); }
  summary+=("$verdict  Gapless $role <-> QuickFIX $qf_role $version: $messages each way, gaps induced $drops/2, crash $crashed")
}

for scenario in "${scenarios[@]}"; do
  run_scenario "${scenario%%:*}" "${scenario#*:}"
done

echo
echo "== summary"
printf '%s\n' "${summary[@]}"
if [ "$failures" -ne 0 ]; then
  echo "$failures scenario(s) failed; logs in $work"
  exit 1
fi
echo "all ${#scenarios[@]} scenarios passed"
