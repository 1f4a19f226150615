#!/usr/bin/env bash
# Runs the whole Parallax test suite: Rust unit, fixture, sqllogictest and HTTP tests, then the
# conformance suite with real clients (STILTS taplint and tapquery, pyvo, astroquery, pyarrow,
# the ADBC Flight SQL driver and pyarrow.flight)
# against the real `parallax serve` binary. Installs what it needs; safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/parallax-target}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
SHARED=${PARALLAX_SHARED:-$ROOT/../shared}

step() { printf '\n=== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

step "installing test dependencies"
"$ROOT/scripts/install-test-deps.sh"

step "cargo fmt --check"
cargo fmt --all -- --check

step "building (dev profile)"
cargo build --workspace --all-targets --locked

step "cargo test"
cargo test --workspace --locked

step "conformance: starting parallax serve on the demo catalogue"
WORK=$(mktemp -d)
LOG=$WORK/server.log
"$CARGO_TARGET_DIR/debug/parallax" serve --http 127.0.0.1:0 --flight 127.0.0.1:0 --data-dir "$WORK/data" \
  --demo-sources "${PARALLAX_TEST_SOURCES:-20000}" >"$WORK/stdout" 2>"$LOG" &
SERVER=$!
cleanup() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; }
trap cleanup EXIT
URL=""
for _ in $(seq 1 600); do
  URL=$(sed -n 's/^parallax: listening on \(http[^ ]*\)$/\1/p' "$WORK/stdout" | head -1)
  [ -n "$URL" ] && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$LOG"; echo "server died" >&2; exit 1; }
  sleep 0.5
done
[ -n "$URL" ] || { cat "$LOG"; echo "server did not start" >&2; exit 1; }
FLIGHT=$(sed -n 's/^parallax: flight sql on \(grpc[^ ]*\)$/\1/p' "$WORK/stdout" | head -1)
[ -n "$FLIGHT" ] || { cat "$LOG"; echo "Flight SQL did not start" >&2; exit 1; }
echo "server at $URL, Flight SQL at $FLIGHT"

step "conformance: STILTS taplint"
TAPLINT_OUT=$WORK/taplint "$SHARED/tools/run_taplint.sh" "$URL" \
  | tee "$WORK/taplint.summary"
python3 "$ROOT/conformance/check_taplint.py" "$WORK/taplint"

step "conformance: pyvo, astroquery, STILTS tapquery, format round trips"
PARALLAX_URL=$URL PARALLAX_FLIGHT=$FLIGHT PARALLAX_SHARED=$SHARED python3 -m pytest -q "$ROOT/conformance" \
  -p no:cacheprovider
