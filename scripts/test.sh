#!/usr/bin/env bash
# Runs the whole Gapless test suite from a fresh clone: formatting, lints, and every test.
#
#   scripts/test.sh          the suite CI runs (under 45 minutes on a 2-core machine)
#   scripts/test.sh --long   also the long campaigns (docs/testing.md)
#
# It installs what it needs and is safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

long=false
case "${1:-}" in
  "") ;;
  --long) long=true ;;
  *) echo "usage: scripts/test.sh [--long]" >&2; exit 2 ;;
esac

step() { printf '\n== %s\n' "$*"; }
started=$SECONDS

# Installs the Debian packages among "$@" that are missing; nothing when all are there.
ensure_packages() {
  local missing=()
  local package
  for package in "$@"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  if ((${#missing[@]})); then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
  fi
}

step "toolchain"
rustc --version
cargo --version

step "system packages"
# Verilator builds the RTL checker into the hwsim crate (so before any cargo build); Icarus
# Verilog lints it; the Verilated C++ needs g++.
ensure_packages verilator iverilog g++

step "protocol crates read no clock"
# The sans-IO rule: time is passed in by the runtime, never read by the protocol layers
# (codec, dict, session, store, seqcheck), nor by the simulation, which runs on virtual time.
if grep -rnE 'Instant::now|SystemTime::now' crates/{codec,dict,session,store,seqcheck,sim}/src; then
  echo "a protocol crate reads the clock (see above)" >&2
  exit 1
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test (debug)"
cargo test --workspace

step "simulation: 10,000 seeds (release; the debug run above did 500)"
cargo test --release -p gapless-sim

step "hardware: RTL lint (verilator -Wall, iverilog)"
hw/lint.sh

step "demo"
cargo run --release --quiet -- demo

step "RTL checker in the gateway: end to end (inline, threaded) and the demo with checker = hwsim (docs/hw.md)"
cargo clippy -p gapless-runtime -p gapless-gateway --all-targets --features hwsim -- -D warnings
cargo test -p gapless-runtime --features hwsim --test e2e -- hwsim
cargo run --release --quiet -p gapless-gateway --features hwsim -- demo --checker hwsim

step "kernel bypass: gapless run over DPDK against gapless venue, in network namespaces (docs/kernel-bypass.md)"
scripts/dpdk-e2e.sh

step "interop with QuickFIX C++ through the fault proxy, with a restart (docs/interop.md)"
scripts/interop-quickfix.sh

step "crash campaign: gapless run SIGKILLed 10 times under load (docs/interop.md)"
scripts/crash-campaign.sh

step "wire check: tshark decodes what Gapless sent (docs/interop.md)"
scripts/wire-check.sh

step "abuse campaign: hostile peers against gapless run beside a healthy session (docs/reliability.md)"
scripts/abuse-campaign.sh

if $long; then
  step "long: property tests with 100x the cases, 200,000 simulation seeds, and the ignored long tests"
  GAPLESS_SIM_SEEDS=200000 PROPTEST_CASES=50000 cargo test --workspace --release -- --include-ignored
  step "long: the QuickFIX interop matrix and 100 crash-and-restart rounds"
  scripts/interop-quickfix.sh --long
  scripts/crash-campaign.sh --long
  step "long: the abuse campaign's larger variants, in both modes"
  scripts/abuse-campaign.sh --long
  scripts/abuse-campaign.sh --long --mode threaded
fi

printf '\n== all tests passed in %d s\n' $((SECONDS - started))
