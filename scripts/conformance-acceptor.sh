#!/usr/bin/env bash
# Builds Gapless (release) and runs it in the foreground as the acceptor QuickFIX's session
# acceptance scripts expect (config/conformance.toml), listening on PORT.
#
#   scripts/conformance-acceptor.sh PORT
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 1 ]; then
  echo "usage: scripts/conformance-acceptor.sh PORT" >&2
  exit 2
fi
cargo build --release --quiet -p gapless-gateway
target_dir="${CARGO_TARGET_DIR:-target}"
exec "$target_dir/release/gapless" acceptor --config config/conformance.toml --port "$1"
