#!/usr/bin/env bash
# FIX end to end over kernel bypass: a Gapless session on the DPDK transport (userspace TCP on a
# net_af_packet port) in one network namespace, a counterparty on the kernel's TCP stack in
# another, joined by a veth pair. Logon, 10,000 application messages each way, one gap the
# counterparty forces and the gateway recovers, clean logout. Needs root.
#
#   scripts/dpdk-e2e.sh               # EAL without hugepages (--no-huge), as in CI
#   scripts/dpdk-e2e.sh --hugepages   # 2 MB hugepages reserved for the run, given back after
#   scripts/dpdk-e2e.sh --kernel      # baseline: the same run with the gateway on kernel TCP
#
# Installs dpdk, libdpdk-dev, pkg-config, libclang-dev, iproute2 and ethtool if missing. Every
# namespace, link, mount and hugepage reservation it makes is undone on exit, failure included.
#
# The two sides are the functions run_gateway and start_counterparty below. Today they run the
# `fix_e2e` example of crates/net-dpdk; moving to `gapless run` and `gapless venue` replaces
# their command lines and nothing else.
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

messages=10000
gap_at=5000
tag="glpk$$"                  # names unique to this run
ns_gw="$tag-gw"               # the Gapless side: DPDK owns its veth end
ns_cp="$tag-cp"               # the counterparty: kernel TCP
veth_gw="${tag}g"
veth_cp="${tag}c"
cp_ip=10.77.0.1
gw_ip=10.77.0.2
fix_port=9876
file_prefix="gapless-e2e-$$"
huge_dir="/mnt/$tag-huge"
saved_hugepages=""
cp_pid=""

log() { printf '== %s\n' "$*"; }

cleanup() {
  local status=$?
  set +e
  [ -n "$cp_pid" ] && kill "$cp_pid" 2>/dev/null && wait "$cp_pid" 2>/dev/null
  ip netns del "$ns_gw" 2>/dev/null
  ip netns del "$ns_cp" 2>/dev/null
  rm -rf "/var/run/dpdk/$file_prefix" "/var/run/dpdk/$file_prefix-fail"
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
  log "building the e2e binary (DPDK feature on)"
  (cd "$root" && cargo build --release -q -p gapless-net-dpdk --features dpdk --example fix_e2e)
  bin="${CARGO_TARGET_DIR:-$root/target}/release/examples/fix_e2e"
}

make_network() {
  log "namespaces $ns_gw and $ns_cp, veth $veth_gw <-> $veth_cp"
  ip netns add "$ns_gw"
  ip netns add "$ns_cp"
  ip link add "$veth_gw" netns "$ns_gw" type veth peer name "$veth_cp" netns "$ns_cp"
  # The counterparty's end is an ordinary kernel interface.
  ip -n "$ns_cp" addr add "$cp_ip/24" dev "$veth_cp"
  ip -n "$ns_cp" link set "$veth_cp" up
  ip -n "$ns_cp" link set lo up
  # The Gapless end has no kernel address: the userspace stack owns 10.77.0.2, and the kernel
  # must neither answer ARP for it nor reset its TCP connections. The baseline gives it to the
  # kernel instead.
  ip netns exec "$ns_gw" sysctl -qw "net.ipv6.conf.$veth_gw.disable_ipv6=1"
  if $kernel; then ip -n "$ns_gw" addr add "$gw_ip/24" dev "$veth_gw"; fi
  ip -n "$ns_gw" link set "$veth_gw" up
  # veth leaves TCP checksums to an offload that never happens on the way to a packet socket,
  # and would hand it 64 KB GSO frames: make the kernel side send finished, MTU-sized frames.
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

eal_args() {
  local memory="--no-huge -m 512"
  if $hugepages; then memory="--huge-dir $huge_dir -m 512"; fi
  echo "$memory --no-pci -l 0 --file-prefix=$file_prefix --vdev=net_af_packet0,iface=$veth_gw --no-telemetry --log-level=*:warning"
}

# The counterparty: kernel TCP, FIX acceptor, forces one gap. Later: `gapless venue ...`.
start_counterparty() {
  log "counterparty on $cp_ip:$fix_port (kernel TCP)"
  ip netns exec "$ns_cp" "$bin" counterparty --listen "$cp_ip:$fix_port" \
    --messages "$messages" --gap-at "$gap_at" &
  cp_pid=$!
  # Bounded wait for the listening socket.
  for _ in $(seq 1 100); do
    if ip netns exec "$ns_cp" ss -ltn | grep -q ":$fix_port "; then return 0; fi
    sleep 0.05
  done
  echo "counterparty did not start listening" >&2
  exit 1
}

# The Gapless side: DPDK transport, FIX initiator. Later: `gapless run --config ...`.
run_gateway() {
  if $kernel; then
    log "gateway on $gw_ip (kernel TCP: the baseline)"
    timeout 180 ip netns exec "$ns_gw" "$bin" gateway --transport kernel \
      --peer "$cp_ip:$fix_port" --messages "$messages"
    return
  fi
  log "gateway on $gw_ip (DPDK net_af_packet on $veth_gw, userspace TCP)"
  timeout 180 ip netns exec "$ns_gw" "$bin" gateway --eal "$(eal_args)" \
    --ip "$gw_ip/24" --peer "$cp_ip:$fix_port" --messages "$messages"
}

# A failure must be an error naming its cause, never a hang: EAL arguments DPDK refuses, no
# port, and a peer nobody answers (ARP unanswered: the 5 s connect timeout).
expect_failure() {
  local what=$1 expected=$2
  shift 2
  local output
  if output=$(timeout 60 ip netns exec "$ns_gw" "$bin" gateway "$@" 2>&1); then
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
  local eal="--no-huge -m 512 --no-pci -l 0 --no-telemetry --log-level=*:error --file-prefix=$file_prefix-fail"
  local to=(--ip "$gw_ip/24" --peer "$cp_ip:$fix_port")
  expect_failure "a bad EAL argument" "rte_eal_init failed" --eal "$eal --no-such-option" "${to[@]}"
  expect_failure "no port" "no DPDK port 0: 0 port(s) available" --eal "$eal" "${to[@]}"
  expect_failure "an unreachable peer" "ConnectFailed(TimedOut)" \
    --eal "$eal --vdev=net_af_packet0,iface=$veth_gw" --ip "$gw_ip/24" --peer 10.77.0.9:$fix_port
}

install_missing
build
make_network
if $hugepages; then reserve_hugepages; fi
start_counterparty
run_gateway
# The counterparty checks its side and exits by itself after the logout.
timeout 30 tail --pid="$cp_pid" -f /dev/null
wait "$cp_pid"
cp_pid=""
if ! $kernel; then failure_checks; fi
