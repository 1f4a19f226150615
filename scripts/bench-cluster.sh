#!/usr/bin/env bash
# Benchmark: a mahalanobis template search and a self-crossmatch, in process and on a local
# Ballista cluster with one and then two executors (all started from the same `parallax`
# binary as plain processes). Usage:
#   scripts/bench-cluster.sh [PARALLAX_BINARY] [XMATCH_SOURCES] [DEMO_SOURCES]
# (DEMO_SOURCES: the demo catalogue, a tenth of which has XP spectra; default XMATCH_SOURCES)
set -euo pipefail
BIN=${1:-${CARGO_TARGET_DIR:-$HOME/.cache/parallax-target}/release/parallax}
SOURCES=${2:-1000000}
DEMO=${3:-$SOURCES}
WORK=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$WORK"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

"$BIN" scheduler --listen 127.0.0.1:0 >"$WORK/scheduler.out" 2>"$WORK/scheduler.log" &
pids+=($!)
URL=""
for _ in $(seq 1 100); do
  URL=$(sed -n 's/^parallax: scheduler on \(df:[^ ]*\)$/\1/p' "$WORK/scheduler.out" | head -1)
  [ -n "$URL" ] && break
  sleep 0.2
done
[ -n "$URL" ] || { cat "$WORK/scheduler.log"; exit 1; }
PORT=${URL##*:}

start_executor() {
  local i=$1
  "$BIN" executor --scheduler "$URL" --flight-port $((PORT + 10 + 2 * i)) \
    --grpc-port $((PORT + 11 + 2 * i)) --work-dir "$WORK/exec$i" \
    >"$WORK/exec$i.out" 2>"$WORK/exec$i.log" &
  pids+=($!)
  mkdir -p "$WORK/exec$i"
}
wait_ready() {
  for _ in $(seq 1 100); do
    curl -s "http://127.0.0.1:$PORT/readyz" | grep -q "ready: $1 executors" && return 0
    sleep 0.2
  done
  echo "executors did not register" >&2; exit 1
}

start_executor 1; wait_ready 1
echo "== 1 executor"
"$BIN" bench --suite cluster --data-dir "$WORK/data" --demo-sources "$DEMO" \
  --xmatch-sources "$SOURCES" --xmatch-radii 5 --ballista "$URL"
start_executor 2; wait_ready 2
echo "== 2 executors"
"$BIN" bench --suite cluster --data-dir "$WORK/data" --demo-sources "$DEMO" \
  --xmatch-sources "$SOURCES" --xmatch-radii 5 --ballista "$URL"
