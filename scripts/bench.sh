#!/usr/bin/env bash
# Builds (release) and runs the end-to-end benchmarks of issue 7, Gapless and QuickFIX C++ side
# by side on loopback, every step bounded in time, and prints the tables.
#
#   scripts/bench.sh --quick [--results DIR]   2 to 4 minutes after the build: the smoke test
#   scripts/bench.sh [--results DIR]           the full set, 15 to 20 minutes
#
# Results: DIR (default target/bench-results/<UTC timestamp>/) holds one .hgrm and one .svg per
# latency figure, summary.tsv (one line per figure), summary.md (the tables) and the programs'
# logs. Gapless runs inline on CPU 0 with the venue on CPU 1, both busy polling; QuickFIX's
# qf_bench runs on CPU 0 and its peer on CPU 1. What the figures mean: docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

quick=false
results=""
while (($#)); do
  case "$1" in
    --quick) quick=true ;;
    --results)
      results=${2:?--results needs a directory}
      shift
      ;;
    *)
      echo "usage: scripts/bench.sh [--quick] [--results DIR]" >&2
      exit 2
      ;;
  esac
  shift
done

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
results=${results:-$CARGO_TARGET_DIR/bench-results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$results"
results=$(cd "$results" && pwd)
qf_dir=$CARGO_TARGET_DIR/quickfix
gateway_cpu=0
venue_cpu=1

pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

step "build (release)"
cargo build --release -p gapless-benches --bin gapless-bench -p gapless-gateway --bin gapless
"$root/benches/quickfix/build.sh" "$qf_dir"
bench=$CARGO_TARGET_DIR/release/gapless-bench
gapless=$CARGO_TARGET_DIR/release/gapless

# Installs the Debian packages among "$@" that are missing; nothing when all are there.
ensure_packages() {
  local missing=() package
  for package in "$@"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  if ((${#missing[@]})); then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
  fi
}
# taskset (util-linux), ss (iproute2), /usr/bin/time (time).
ensure_packages util-linux iproute2 time

# The machine, for the record.
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "mode: $([[ $quick == true ]] && echo quick || echo full)"
  echo "kernel: $(uname -r)"
  grep -m1 'model name' /proc/cpuinfo || true
  echo "cpus: $(nproc)"
  echo "governor: $(cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor 2>/dev/null || echo unknown)"
  echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
} >"$results/machine.txt"
cat "$results/machine.txt"

# Each figure is bounded twice: by its own --time-limit (the run stops and says so) and by timeout.
# A Gapless figure that fails (a check, a crash, the timeout) is reported and the rest still run;
# the script then exits with status 1.
failures=0
run_bench() {
  timeout 600 "$bench" "$@" --results "$results" --gateway-cpu "$gateway_cpu" --venue-cpu "$venue_cpu" || {
    echo "FAILED: gapless-bench $*" >&2
    failures=$((failures + 1))
  }
}

# Sizes: quick / full.
if [[ $quick == true ]]; then
  n_closed=20000 n_10k=30000 n_100k=100000 n_500k=250000 n_tput=200000 n_stream=1000000
  n_wire=50000 n_loop=50000 small_repeats=20 big_repeats=2
else
  # The venue keeps every streamed message in its in-memory journal: 3,000,000 is ~1 GiB.
  n_closed=200000 n_10k=300000 n_100k=2000000 n_500k=2500000 n_tput=2000000 n_stream=3000000
  n_wire=500000 n_loop=500000 small_repeats=200 big_repeats=10
fi

step "floor: kernel TCP ping-pong on loopback"
run_bench loopback --count "$n_loop" --out-bytes 171 --in-bytes 200

port=$((21000 + RANDOM % 20000))

# Waits (at most 10 s) until something listens on $1.
wait_listening() {
  local i
  for ((i = 0; i < 100; i++)); do
    ss -ltn "sport = :$1" | grep -q LISTEN && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2
  return 1
}

# Runs qf_bench on the gateway's CPU against whatever listens on $port, recording its latencies
# under the figure name $1 (or its throughput when the mode is throughput), with its peak RSS.
qf_run() {
  local name=$1
  shift
  local log=$results/$name.log
  timeout 300 /usr/bin/time -f 'maxrss_kib=%M' -o "$results/$name.time" \
    taskset -c "$gateway_cpu" "$qf_dir/qf_bench" --port "$port" "$@" \
    --latencies "$results/$name.lat" >"$log" 2>&1 || {
    echo "qf_bench $name failed:" >&2
    cat "$log" >&2
    return 1
  }
  tail -2 "$log"
  local rss
  rss=$(sed -n 's/.*maxrss_kib=\([0-9]*\).*/\1/p' "$results/$name.time")
  local note="qf_bench (QuickFIX C++ 1.15.1) $*; qf_bench peak RSS ${rss:-?} KiB"
  local rate
  rate=$(sed -n 's/.*execution_reports_per_second=\([0-9]*\).*/\1/p' "$log")
  if [[ -n $rate ]]; then
    "$bench" rate --results "$results" --name "$name" --count "$(sed -n 's/.*orders=\([0-9]*\).*/\1/p' "$log")" \
      --rate "$rate" --note "$note"
  else
    "$bench" ingest --results "$results" --name "$name" --latencies "$results/$name.lat" --note "$note"
  fi
}

# Starts a counterparty in the background on the venue's CPU, bounded to 10 minutes.
start_peer() {
  local log=$1
  shift
  timeout 600 taskset -c "$venue_cpu" "$@" >"$log" 2>&1 &
  pids+=($!)
  peer_pid=$!
}

stop_peer() {
  kill "$peer_pid" 2>/dev/null || true
  wait "$peer_pid" 2>/dev/null || true
}

# Each round-trip scenario runs Gapless, then QuickFIX against its own peer, then QuickFIX against
# the Gapless venue, back to back, so that a change in the host's load between scenarios does not
# fall between the two sides of a ratio.
qf_scenario() {
  local scenario=$1 against=$2
  shift 2
  port=$((port + 1))
  if [[ $against == quickfix ]]; then
    start_peer "$results/$scenario.$against.peer.log" "$qf_dir/qf_peer" --role acceptor --echo --port "$port"
  else
    start_peer "$results/$scenario.$against.peer.log" "$gapless" venue --port "$port" --messages 0 \
      --idle spin --sender-comp-id VENUE --target-comp-id CLIENT
  fi
  wait_listening "$port"
  # QuickFIX not keeping up (qf_bench's 5 s reply timeout at 100,000/s, say) is a result, not a
  # failure of this script: the figure is missing and the log says why.
  qf_run "$scenario.$against" "$@" || echo "$scenario.$against: no figure (see its log)" >&2
  stop_peer
}

round_trip() {
  local scenario=$1 rate=$2 count=$3
  step "round trip $scenario: Gapless (gateway + venue), QuickFIX (qf_bench + qf_peer --echo), QuickFIX + gapless venue"
  if [[ $scenario == tput-orders ]]; then
    run_bench roundtrip --rate 0 --window 1000 --count "$count" --time-limit 300
    qf_scenario "$scenario" quickfix --mode throughput --window 1000 --count "$count"
    qf_scenario "$scenario" quickfix-venue --mode throughput --window 1000 --count "$count"
  else
    run_bench roundtrip --rate "$rate" --count "$count" --time-limit 300
    qf_scenario "$scenario" quickfix --mode roundtrip --rate "$rate" --count "$count"
    qf_scenario "$scenario" quickfix-venue --mode roundtrip --rate "$rate" --count "$count"
  fi
}

round_trip rt-max 0 "$n_closed"
round_trip rt-10k 10000 "$n_10k"
round_trip rt-100k 100000 "$n_100k"
round_trip tput-orders 0 "$n_tput"
step "Gapless: closed-loop round trip with the outbound journal in memory-mapped files"
# Flushed at the end only, and synced before every send (msync per message).
run_bench roundtrip --rate 0 --count "$n_closed" --store file --name rt-max-filestore.gapless
run_bench roundtrip --rate 0 --count "$((n_closed / 10))" --store file-sync \
  --name rt-max-filesync.gapless
step "Gapless: round trip at 500,000/s offered"
run_bench roundtrip --rate 500000 --count "$n_500k" --time-limit 300

step "Gapless: wire (venue TransactTime) to application, and one-way throughput"
run_bench stream --rate 10000 --count "$n_wire"
run_bench stream --rate 100000 --count "$n_wire"
run_bench stream --rate 0 --count "$n_stream" --time-limit 300

step "Gapless: gap recovery"
run_bench gap --size 1 --repeats "$small_repeats"
# The same single-message gaps, each ResendRequest bounded to what is missing.
run_bench gap --size 1 --repeats "$small_repeats" --request-chunk 1 --name gap-1-chunk1.gapless
run_bench gap --size 10 --repeats "$small_repeats"
run_bench gap --size 50 --repeats "$small_repeats"
run_bench gap --size 1000 --repeats "$big_repeats"
run_bench gap --size 100000 --repeats 1 --stream-rate 100000 --time-limit 300

step "tables"
"$bench" table --results "$results"
echo
echo "results: $results"
if ((failures)); then
  echo "$failures figure(s) failed; see above" >&2
  exit 1
fi
