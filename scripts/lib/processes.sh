# Shared by the scripts that start Gapless processes (interop, crash campaign, wire check):
# sourced after the script sets `work` (its scratch directory) and `keep` (true to keep it).
# Every process a script starts goes into `pids`; on any exit they are killed and `work` is
# removed (kept on failure, or with --keep).

pids=()
log() { printf '== %s\n' "$*"; }

cleanup() {
  local status=$?
  set +e
  for pid in "${pids[@]}"; do
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  if $keep || [ "$status" -ne 0 ]; then
    echo "work directory kept: $work"
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free TCP port on loopback.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_until SECONDS COMMAND...: polls COMMAND every 0.1 s, at most SECONDS.
wait_until() {
  local limit=$1 i
  shift
  for ((i = 0; i < limit * 10; i++)); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  return 1
}
exited() { ! kill -0 "$1" 2>/dev/null; }

# stop PID SIGNAL SECONDS: signal, wait bounded, SIGKILL if still there.
stop() {
  local pid=$1 signal=$2 limit=$3
  kill "-$signal" "$pid" 2>/dev/null || true
  wait_until "$limit" exited "$pid" || kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# Sets `bin` to the directory of the release binaries (gapless, gapless-proxy,
# gapless-recorder): $GAPLESS_BIN_DIR if set, else built now.
find_binaries() {
  if [ -n "${GAPLESS_BIN_DIR:-}" ]; then
    bin=$GAPLESS_BIN_DIR
  else
    log "building gapless, gapless-proxy and gapless-recorder (release)"
    (cd "$root" && cargo build --release -q -p gapless-gateway -p gapless-proxy)
    bin=${CARGO_TARGET_DIR:-$root/target}/release
  fi
}
