#!/usr/bin/env bash
# Abuse campaign: hostile peers (`gapless-abuse`) against a running `gapless run`, while a
# healthy session carries an application stream end to end.
#
#   scripts/abuse-campaign.sh                 # the short form (CI, about a minute and a half)
#   scripts/abuse-campaign.sh --long          # larger variants (more inputs, bytes, connections)
#   scripts/abuse-campaign.sh --seed N        # random bytes and corpus mutations follow N
#   scripts/abuse-campaign.sh --only NAME     # one attack (see `gapless-abuse --list`)
#   scripts/abuse-campaign.sh --mode threaded # the gateway's threaded mode (default inline)
#   scripts/abuse-campaign.sh --keep          # keep the work directory
#
# The gateway runs one acceptor session per attack (named abuse-<attack>, CompID the attack's
# name in capitals) and the healthy session `venue`, an initiator to `gapless venue`, which
# streams ExecutionReports (ExecID 1..N) at a fixed rate while `gapless-recorder` on the
# session's channel sends NewOrderSingles (O1..M) and records everything it receives.
# Each attack is run by `gapless-abuse`, which checks from the peer's side what the gateway
# did (closed what it had to close, kept answering where it had to, no more resends than the
# limit). After each attack this script checks and prints:
#   gateway alive          the process is still there
#   healthy stream         how many messages the healthy session's application received during
#                          the attack (must be more than 0 while the stream lasts: it kept
#                          flowing)
#   peak RSS               VmHWM of the gateway, at most $rss_growth_mib MiB above its VmHWM
#                          before the first attack; VmRSS now
#   log line               the gateway's log names the session (or the peer's address, before
#                          a session is known) and the reason
# At the end: the recorder got ExecIDs 1..N and the acknowledgements of O1..M exactly once and
# in order. Exit status non-zero on any failure.
#
# Binaries: $GAPLESS_BIN_DIR/{gapless,gapless-recorder,gapless-abuse} if set, else
# `cargo build --release`.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
long=false
seed=1
keep=false
only=""
mode=inline
while [ $# -gt 0 ]; do
  case "$1" in
    --long) long=true ;;
    --seed) seed=$2; shift ;;
    --only) only=$2; shift ;;
    --mode) mode=$2; shift ;;
    --keep) keep=true ;;
    *) echo "usage: $0 [--long] [--seed N] [--only ATTACK] [--mode inline|threaded] [--keep]" >&2
       exit 2 ;;
  esac
  shift
done

# The gateway's logon timeout, which also bounds how long it waits for a connection's first
# message: short, so that slowloris and silent connections are dealt with quickly.
logon_timeout=3
resend_limit=50
# The bound on the growth of the gateway's peak resident memory over what it holds before the
# first attack (inline about 20 MiB; threaded about 200 MiB, mostly the two 8 MiB rings per
# session between its threads).
rss_growth_mib=64
rate=200                                  # healthy ExecutionReports per second
if $long; then duration=900; else duration=150; fi   # longest the campaign may take, seconds
# The stream outlasts the attacks in practice; an attack that runs after its end is not held to
# the "kept flowing" check.
messages=$((rate * duration / 3))
orders=$((messages / 20))
order_rate=$((rate / 20))

work=$(mktemp -d /tmp/gapless-abuse.XXXXXX)
source "$root/scripts/lib/processes.sh"

find_binaries
if [ -z "${GAPLESS_BIN_DIR:-}" ]; then
  (cd "$root" && cargo build --release -q -p gapless-abuse)
fi
for program in "$bin/gapless" "$bin/gapless-recorder" "$bin/gapless-abuse"; do
  [ -x "$program" ] || { echo "missing $program" >&2; exit 1; }
done

mapfile -t attacks < <("$bin/gapless-abuse" --list | awk '{print $1}')
if [ -n "$only" ]; then
  printf '%s\n' "${attacks[@]}" | grep -qx "$only" || { echo "no attack $only" >&2; exit 2; }
  attacks=("$only")
fi
upper() { tr 'a-z-' 'A-Z_' <<<"$1"; }

venue_port=$(free_port)
gw_port=$(free_port)
{
  cat <<EOF
[gateway]
mode = "$mode"
idle = "sleep"
channel_dir = "$work/chan"
to_app_capacity = 1048576

[acceptor]
listen = "127.0.0.1:$gw_port"

[[session]]
name = "venue"
role = "initiator"
connect = "127.0.0.1:$venue_port"
sender_comp_id = "GAPLESS"
target_comp_id = "VENUE"
version = "FIX.4.4"
heartbeat = 5
logon_timeout = $logon_timeout
EOF
  for attack in "${attacks[@]}"; do
    cat <<EOF

[[session]]
name = "abuse-$attack"
sender_comp_id = "GAPLESS"
target_comp_id = "$(upper "$attack")"
version = "FIX.4.4"
logon_timeout = $logon_timeout
reset_on_logon = true
resend = { max_requests_per_second = $resend_limit }
EOF
  done
} >"$work/gapless.toml"

log "venue on 127.0.0.1:$venue_port: $messages ExecutionReports at $rate/s, $orders orders at $order_rate/s"
"$bin/gapless" venue --port "$venue_port" --messages "$messages" --rate "$rate" --heartbeat 5 \
  --duration "$((duration + 60))" --idle sleep >"$work/venue.out" 2>"$work/venue.err" &
venue_pid=$!
pids+=("$venue_pid")

log "gapless run on 127.0.0.1:$gw_port with ${#attacks[@]} abuse sessions"
NO_COLOR=1 "$bin/gapless" run --config "$work/gapless.toml" >"$work/gapless.log" 2>&1 &
gw_pid=$!
pids+=("$gw_pid")

"$bin/gapless-recorder" --channel "$work/chan/venue.chan" --record "$work/app.rec" \
  --send "$orders" --send-kind order --rate "$order_rate" --expect "$messages" \
  --expect-acks "$orders" --timeout "$((duration + 30))" \
  >"$work/recorder.out" 2>"$work/recorder.err" &
rec_pid=$!
pids+=("$rec_pid")

recorded() { if [ -f "$work/app.rec" ]; then wc -l <"$work/app.rec"; else echo 0; fi; }
flowing() { [ "$(recorded)" -gt 0 ]; }
wait_until 30 flowing || { echo "the healthy stream never started" >&2; exit 1; }

# The log lines an attack must cause, as `FIXED-STRING|FIXED-STRING` pairs that must both be on
# one line (every pair listed must be found).
expected_lines() {
  local s="session=abuse-$1"
  case "$1" in
    corpus-before-logon) echo "connection refused|garbled first message" ;;
    corpus-after-logon) echo "$s|garbled input dropped"; echo "$s|disconnecting" ;;
    random-bytes) echo "connection refused|garbled first message"; echo "$s|garbled input dropped" ;;
    huge-body-length) echo "connection refused|garbled first message"; echo "$s|garbled input dropped" ;;
    oversized) echo "connection refused|garbled first message"; echo "$s|exceeds the maximum" ;;
    slowloris) echo "connection refused|no complete first message in time"; echo "$s|heartbeat timeout" ;;
    logon-flood) echo "connection refused|no session for these CompIDs"; echo "connection refused|no complete first message in time" ;;
    resend-storm) echo "$s|ResendRequests over the rate limit ignored" ;;
    sequence-reset) echo "$s|SequenceReset moved the expected MsgSeqNum"; echo "$s|MsgSeqNum too low" ;;
    never-read) echo "$s|peer not reading" ;;
    *) echo "no expected log line for $1" >&2; return 1 ;;
  esac
}

status_kib() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$gw_pid/status" 2>/dev/null || echo 0; }

rss_base_kib=$(status_kib VmHWM)
rss_limit_mib=$((rss_base_kib / 1024 + rss_growth_mib))
log "gateway peak RSS before the attacks: $((rss_base_kib / 1024)) MiB; allowed from now on: $rss_limit_mib MiB"
failures=0
results=()
for attack in "${attacks[@]}"; do
  log "attack $attack"
  log_from=$(($(wc -l <"$work/gapless.log") + 1))
  before=$(recorded)
  started=$SECONDS
  abuse_status=0
  long_flag=()
  $long && long_flag=(--long)
  timeout "$duration" "$bin/gapless-abuse" --attack "$attack" --connect "127.0.0.1:$gw_port" \
    --sender "$(upper "$attack")" --target GAPLESS --seed "$seed" "${long_flag[@]}" \
    --corpus "$root/crates/codec/fuzz/seeds/decode" --corpus "$root/crates/codec/fuzz/corpus/decode" \
    --logon-timeout "$logon_timeout" --resend-limit "$resend_limit" \
    >"$work/abuse.$attack.out" 2>&1 || abuse_status=$?
  sed 's/^/   /' "$work/abuse.$attack.out"
  sleep 0.5   # let the gateway's log catch up with the last connection
  alive=yes
  exited "$gw_pid" && alive=no
  healthy=$(($(recorded) - before))
  hwm=$(status_kib VmHWM)
  rss=$(status_kib VmRSS)
  missing_lines=()
  while IFS='|' read -r first second; do
    # (Not grep -q: it stops reading early, and with pipefail the SIGPIPE of the commands
    # feeding it would count as a miss.)
    if ! tail -n "+$log_from" "$work/gapless.log" | grep -F -- "$first" | grep -F -- "$second" >/dev/null; then
      missing_lines+=("'$first' with '$second'")
    fi
  done < <(expected_lines "$attack")
  ok=true
  [ "$abuse_status" -eq 0 ] || ok=false
  [ "$alive" = yes ] || ok=false
  [ "$healthy" -gt 0 ] || [ "$before" -ge "$((messages + orders))" ] || ok=false
  [ "$((hwm / 1024))" -le "$rss_limit_mib" ] || ok=false
  [ "${#missing_lines[@]}" -eq 0 ] || ok=false
  printf '   gateway alive: %s; healthy stream: +%d messages in %d s; peak RSS %d MiB (limit %d), RSS now %d MiB\n' \
    "$alive" "$healthy" "$((SECONDS - started))" "$((hwm / 1024))" "$rss_limit_mib" "$((rss / 1024))"
  if [ "${#missing_lines[@]}" -eq 0 ]; then
    echo "   log lines: present"
  else
    printf '   log line missing: %s\n' "${missing_lines[@]}"
  fi
  if $ok; then
    results+=("$(printf '%-20s pass  %s' "$attack" "$(grep -o 'connections=[0-9]*' "$work/abuse.$attack.out" || true)")")
  else
    results+=("$(printf '%-20s FAIL (abuse exit %d)' "$attack" "$abuse_status")")
    failures=$((failures + 1))
  fi
  [ "$alive" = yes ] || break
done

log "waiting for the healthy stream to end"
rec_status=0
wait_until "$((duration + 30))" exited "$rec_pid" || true
wait "$rec_pid" || rec_status=$?
rec_line=$(grep '^gapless-recorder:' "$work/recorder.out" || true)
hwm=$(status_kib VmHWM)
stop "$gw_pid" TERM 15
stop "$venue_pid" TERM 15

echo
echo "== abuse campaign: ${#attacks[@]} attacks ($mode mode, seed $seed$($long && echo ', long' || true))"
printf '   %s\n' "${results[@]}"
echo "   healthy session: ${rec_line#gapless-recorder: } (recorder exit $rec_status)"
echo "   gateway peak RSS over the campaign: $((hwm / 1024)) MiB (limit $rss_limit_mib MiB)"
if [ "$failures" -eq 0 ] && [ "$rec_status" -eq 0 ]; then
  echo "PASS"
else
  echo "FAIL; logs in $work"
  exit 1
fi
