#!/usr/bin/env bash
# Lints the RTL with Verilator (-Wall) and Icarus Verilog; fails on any warning.
#
#   hw/lint.sh
set -euo pipefail
cd "$(dirname "$0")/rtl"

for tool in verilator iverilog; do
  if ! command -v "$tool" >/dev/null; then
    echo "$tool not found: apt-get install -y verilator iverilog" >&2
    exit 1
  fi
done

sources=(*.v)
echo "verilator --lint-only -Wall: ${sources[*]}"
verilator --lint-only -Wall -I. --top-module fix_seqcheck "${sources[@]}"

# Icarus prints warnings but exits 0 on them: any output at all is a failure.
echo "iverilog -g2005 -t null"
out=$(iverilog -g2005 -Wall -t null -I. -s fix_seqcheck "${sources[@]}" 2>&1) || {
  echo "$out" >&2
  exit 1
}
if [[ -n "$out" ]]; then
  echo "$out" >&2
  exit 1
fi
echo "lint clean"
