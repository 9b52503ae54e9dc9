#!/usr/bin/env bash
# The Gapless gateway over kernel bypass, end to end: `gapless run` with [gateway] transport =
# "dpdk" (userspace TCP on a net_af_packet port) in one network namespace, `gapless venue` on the
# kernel's TCP stack in another, joined by a veth pair, and an application (the `order_flow`
# example of crates/net-dpdk) attached to the gateway's channel. The application sends 10,000
# NewOrderSingles, one at a time, and the venue answers each with an ExecutionReport, while the
# venue streams 10,000 ExecutionReports of its own with one forced gap (--gap-at) that the
# gateway recovers. The application checks that every stream ExecID and every order's answer
# arrives exactly once, in order; the venue checks that every ClOrdID arrives exactly once, in
# order. The gateway then logs out cleanly on SIGTERM. Needs root.
#
#   scripts/dpdk-e2e.sh               # EAL without hugepages (--no-huge), as in CI
#   scripts/dpdk-e2e.sh --hugepages   # 2 MB hugepages reserved for the run, given back after
#   scripts/dpdk-e2e.sh --kernel      # baseline: the same run with the gateway on kernel TCP
#
# Installs dpdk, libdpdk-dev, pkg-config, libclang-dev, iproute2 and ethtool if missing. Every
# namespace, link, mount, hugepage reservation, process and file it makes is undone on exit,
# failure included. The order round trips the application prints are the figures to compare
# between the DPDK run and --kernel.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
hugepages=false
kernel=false
for arg in "$@"; do
  case "$arg" in
    --hugepages) hugepages=true ;;
    --kernel) kernel=true ;;
    *) echo "usage: $0 [--hugepages] [--kernel]" >&2; exit 2 ;;
  esac
done

messages=10000                # orders the application sends, and reports the venue streams
gap_at=5000                   # the venue's MsgSeqNum that is dropped the first time it is sent
tag="glpk$$"                  # names unique to this run
ns_gw="$tag-gw"               # the gateway: DPDK owns its veth end
ns_cp="$tag-cp"               # the venue: kernel TCP
veth_gw="${tag}g"
veth_cp="${tag}c"
cp_ip=10.77.0.1
gw_ip=10.77.0.2
fix_port=9876
file_prefix="gapless-e2e-$$"
huge_dir="/mnt/$tag-huge"
work=""                       # configurations, the channel and the logs, in /dev/shm
saved_hugepages=""
cp_pid=""
gw_pid=""
app_pid=""

log() { printf '== %s\n' "$*"; }

stop_process() {
  local pid=$1
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  set +e
  stop_process "$app_pid"
  stop_process "$gw_pid"
  stop_process "$cp_pid"
  if [ "$status" -ne 0 ] && [ -n "$work" ]; then
    for f in gateway.log venue.log app.log; do
      if [ -s "$work/$f" ]; then
        echo "--- last lines of $f"
        tail -n 20 "$work/$f"
      fi
    done
  fi
  ip netns del "$ns_gw" 2>/dev/null
  ip netns del "$ns_cp" 2>/dev/null
  rm -rf "/var/run/dpdk/$file_prefix" "/var/run/dpdk/$file_prefix-fail"
  [ -n "$work" ] && rm -rf "$work"
  if mountpoint -q "$huge_dir" 2>/dev/null; then
    umount "$huge_dir"
  fi
  rmdir "$huge_dir" 2>/dev/null
  if [ -n "$saved_hugepages" ]; then
    echo "$saved_hugepages" > /proc/sys/vm/nr_hugepages
  fi
  if [ "$status" -eq 0 ]; then log "PASS"; else log "FAIL (exit $status)"; fi
  exit "$status"
}
trap cleanup EXIT
trap "exit 130" INT TERM

install_missing() {
  local missing=()
  dpkg -s dpdk libdpdk-dev pkg-config libclang-dev iproute2 ethtool >/dev/null 2>&1 || {
    for pkg in dpdk libdpdk-dev pkg-config libclang-dev iproute2 ethtool; do
      dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
  }
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

build() {
  log "building gapless (DPDK feature on) and the order_flow application"
  (cd "$root" && cargo build --release -q -p gapless-gateway --features dpdk &&
    cargo build --release -q -p gapless-net-dpdk --example order_flow)
  local target="${CARGO_TARGET_DIR:-$root/target}/release"
  gapless="$target/gapless"
  app="$target/examples/order_flow"
}

make_network() {
  log "namespaces $ns_gw and $ns_cp, veth $veth_gw <-> $veth_cp"
  ip netns add "$ns_gw"
  ip netns add "$ns_cp"
  ip link add "$veth_gw" netns "$ns_gw" type veth peer name "$veth_cp" netns "$ns_cp"
  # The venue's end is an ordinary kernel interface.
  ip -n "$ns_cp" addr add "$cp_ip/24" dev "$veth_cp"
  ip -n "$ns_cp" link set "$veth_cp" up
  ip -n "$ns_cp" link set lo up
  # The gateway's end has no kernel address: the userspace stack owns 10.77.0.2, and the kernel
  # must neither answer ARP for it nor reset its TCP connections. The baseline gives it to the
  # kernel instead.
  ip netns exec "$ns_gw" sysctl -qw "net.ipv6.conf.$veth_gw.disable_ipv6=1"
  if $kernel; then ip -n "$ns_gw" addr add "$gw_ip/24" dev "$veth_gw"; fi
  ip -n "$ns_gw" link set "$veth_gw" up
  # veth leaves TCP checksums to an offload that never happens on the way to a packet socket,
  # and would hand it 64 KB GSO frames: make the kernel side send finished, MTU-sized frames.
  # The baseline gets the same settings, so that only the gateway's stack differs.
  ip netns exec "$ns_cp" ethtool -K "$veth_cp" tx off tso off gso off >/dev/null
  ip netns exec "$ns_gw" ethtool -K "$veth_gw" tx off tso off gso off gro off >/dev/null
}

reserve_hugepages() {
  saved_hugepages=$(cat /proc/sys/vm/nr_hugepages)
  local want=$((saved_hugepages + 384))
  log "reserving 384 x 2 MB hugepages (nr_hugepages $saved_hugepages -> $want), hugetlbfs at $huge_dir"
  echo "$want" > /proc/sys/vm/nr_hugepages
  local got
  got=$(cat /proc/sys/vm/nr_hugepages)
  if [ "$got" -lt "$want" ]; then
    echo "only $got hugepages could be reserved (wanted $want): memory too fragmented" >&2
    exit 1
  fi
  mkdir -p "$huge_dir"
  mount -t hugetlbfs -o pagesize=2M nodev "$huge_dir"
}

# eal_toml PREFIX [ARG...]: the EAL arguments as a TOML array, memory first.
eal_toml() {
  local memory='"--no-huge", "-m", "512"'
  if $hugepages; then memory="\"--huge-dir\", \"$huge_dir\", \"-m\", \"512\""; fi
  local prefix=$1
  shift
  local extra=""
  for arg in "$@"; do extra+=", \"$arg\""; done
  echo "[$memory, \"--no-pci\", \"-l\", \"0\", \"--file-prefix=$prefix\", \"--no-telemetry\", \"--log-level=*:warning\"$extra]"
}

# write_config FILE TRANSPORT [EAL-PREFIX EAL-ARG...]: one initiator session to $connect (the
# venue unless changed), with $dpdk_extra appended to [gateway.dpdk].
connect="$cp_ip:$fix_port"
dpdk_extra=""
write_config() {
  local file=$1 transport=$2
  shift 2
  cat > "$file" <<EOF
[gateway]
mode = "inline"
transport = "$transport"
network_cpu = 0
idle = "yield"
channel_dir = "$work/channels"
shutdown_timeout = 5

[[session]]
name = "venue"
role = "initiator"
connect = "$connect"
sender_comp_id = "GAPLESS"
target_comp_id = "VENUE"
version = "FIX.4.4"
heartbeat = 30
EOF
  if [ "$transport" = dpdk ]; then
    cat >> "$file" <<EOF

[gateway.dpdk]
eal = $(eal_toml "$@")
port = 0
address = "$gw_ip/24"
$dpdk_extra
EOF
  fi
}

start_venue() {
  log "venue on $cp_ip:$fix_port (kernel TCP): $messages ExecutionReports, gap at MsgSeqNum $gap_at"
  ip netns exec "$ns_cp" "$gapless" venue --host "$cp_ip" --port "$fix_port" \
    --messages "$messages" --gap-at "$gap_at" --logout-after-stream false \
    >"$work/venue.log" 2>&1 &
  cp_pid=$!
  # Bounded wait for the listening socket.
  for _ in $(seq 1 100); do
    if ip netns exec "$ns_cp" ss -ltn | grep -q ":$fix_port "; then return 0; fi
    sleep 0.05
  done
  echo "the venue did not start listening" >&2
  exit 1
}

start_gateway() {
  if $kernel; then
    write_config "$work/gateway.toml" socket
    log "gateway on $gw_ip (kernel TCP: the baseline)"
  else
    write_config "$work/gateway.toml" dpdk "$file_prefix" "--vdev=net_af_packet0,iface=$veth_gw"
    log "gateway on $gw_ip (DPDK net_af_packet on $veth_gw, userspace TCP)"
  fi
  ip netns exec "$ns_gw" "$gapless" run --config "$work/gateway.toml" >"$work/gateway.log" 2>&1 &
  gw_pid=$!
}

# wait_for PID SECONDS: waits (bounded) for PID to exit; returns its status, or 124 on timeout.
wait_for() {
  local pid=$1 seconds=$2
  for _ in $(seq 1 $((seconds * 20))); do
    if ! kill -0 "$pid" 2>/dev/null; then
      local status=0
      wait "$pid" || status=$?
      return "$status"
    fi
    sleep 0.05
  done
  return 124
}

run_application() {
  log "application: $messages orders, one at a time, and the check of $messages stream reports"
  taskset -c 1 "$app" "$work/channels/venue.chan" --orders "$messages" --stream "$messages" \
    --timeout 150 >"$work/app.log" 2>&1 &
  app_pid=$!
  # The application or the gateway ends first; either way, bounded (160 s).
  for _ in $(seq 1 3200); do
    kill -0 "$app_pid" 2>/dev/null || break
    if ! kill -0 "$gw_pid" 2>/dev/null; then
      echo "the gateway exited under the application" >&2
      exit 1
    fi
    sleep 0.05
  done
  local status=0
  wait_for "$app_pid" 1 || status=$?
  app_pid=""
  cat "$work/app.log"
  if [ "$status" -ne 0 ]; then
    echo "the application failed (exit $status)" >&2
    exit 1
  fi
}

stop_gateway_and_check_venue() {
  log "SIGTERM to the gateway: logout"
  kill -TERM "$gw_pid"
  local status=0
  wait_for "$gw_pid" 15 || status=$?
  gw_pid=""
  if [ "$status" -ne 0 ]; then
    echo "the gateway did not stop cleanly (exit $status)" >&2
    exit 1
  fi
  status=0
  wait_for "$cp_pid" 15 || status=$?
  cp_pid=""
  grep -v '^gapless venue:' "$work/venue.log" || true
  if [ "$status" -ne 0 ]; then
    echo "the venue failed (exit $status)" >&2
    exit 1
  fi
  # The whole stream sent, every order exactly once in order, one logon, the gap resent.
  local report expected
  report=$(cat "$work/venue.log")
  for expected in "$messages ExecutionReports streamed" \
    "orders: $messages received, $messages acknowledged, 0 out of sequence; 0 other messages" \
    "1 logons (0 reconnects)"; do
    if ! grep -qF "$expected" <<<"$report"; then
      echo "the venue's report lacks \"$expected\"" >&2
      exit 1
    fi
  done
  if grep -qF "recovery: 0 resend requests answered" <<<"$report"; then
    echo "the forced gap was never asked for again" >&2
    exit 1
  fi
}

# A failure must be an error naming its cause, never a hang: EAL arguments DPDK refuses, no
# port. A peer nobody answers is no failure: the session retries until stopped.
expect_failure() {
  local what=$1 expected=$2 config=$3
  local output
  if output=$(timeout 60 ip netns exec "$ns_gw" "$gapless" run --config "$config" 2>&1); then
    echo "$what: succeeded, but should have failed" >&2
    exit 1
  fi
  if ! grep -qF "$expected" <<<"$output"; then
    printf '%s: failed without saying "%s":\n%s\n' "$what" "$expected" "$output" >&2
    exit 1
  fi
  log "$what fails as it should: $(grep -F "$expected" <<<"$output" | tail -n 1)"
}

failure_checks() {
  local fail="$file_prefix-fail"
  write_config "$work/bad-eal.toml" dpdk "$fail" --no-such-option
  expect_failure "a bad EAL argument" "rte_eal_init failed" "$work/bad-eal.toml"
  write_config "$work/no-port.toml" dpdk "$fail"
  expect_failure "no port" "no DPDK port 0: 0 port(s) available" "$work/no-port.toml"

  # Nobody at 10.77.0.9: ARP goes unanswered, each connect times out after 1 s and the
  # session tries again; SIGTERM still stops the gateway cleanly. The port gets a MAC of ours.
  local mac=02:00:00:00:77:02
  connect="10.77.0.9:$fix_port"
  dpdk_extra=$(printf 'mac = "%s"\nconnect_timeout_ms = 1000' "$mac")
  write_config "$work/unreachable.toml" dpdk "$fail" "--vdev=net_af_packet0,iface=$veth_gw"
  ip netns exec "$ns_gw" "$gapless" run --config "$work/unreachable.toml" \
    >"$work/unreachable.log" 2>&1 &
  gw_pid=$!
  sleep 4
  kill -TERM "$gw_pid"
  local status=0
  wait_for "$gw_pid" 15 || status=$?
  gw_pid=""
  local attempts
  attempts=$(grep -c "connecting.*10.77.0.9" "$work/unreachable.log" || true)
  if [ "$status" -ne 0 ] || [ "$attempts" -lt 2 ] || ! grep -qF "$mac" "$work/unreachable.log"; then
    echo "an unreachable peer: exit $status, $attempts connect attempts:" >&2
    cat "$work/unreachable.log" >&2
    exit 1
  fi
  log "an unreachable peer: $attempts connect attempts in 4 s on MAC $mac, then a clean stop"
}

install_missing
build
work=$(mktemp -d /dev/shm/gapless-e2e.XXXXXX)
make_network
if $hugepages; then reserve_hugepages; fi
start_venue
start_gateway
run_application
stop_gateway_and_check_venue
if ! $kernel; then failure_checks; fi
