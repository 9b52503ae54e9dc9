#!/usr/bin/env bash
# Builds the QuickFIX C++ peers (qf_peer, qf_bench) into OUT_DIR, installing Debian's
# libquickfix-dev (QuickFIX 1.15.1) first when it is missing.
#
#   benches/quickfix/build.sh OUT_DIR
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: benches/quickfix/build.sh OUT_DIR" >&2
  exit 2
fi
src=$(cd "$(dirname "$0")" && pwd)
out=$1
if ! dpkg -s libquickfix-dev >/dev/null 2>&1; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y libquickfix-dev g++
fi
mkdir -p "$out"
# C++14: QuickFIX 1.15.1's headers use dynamic exception specifications, removed in C++17.
for program in qf_peer qf_bench; do
  g++ -std=c++14 -O2 -Wall -Wextra -Wno-deprecated -o "$out/$program" "$src/$program.cpp" -lquickfix -lpthread
done
echo "built $out/qf_peer and $out/qf_bench"
