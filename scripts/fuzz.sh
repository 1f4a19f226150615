#!/usr/bin/env bash
# Fuzzes the ADQL parser and rewrite (fuzz/fuzz_targets/adql_parse.rs) with libFuzzer.
# Usage: scripts/fuzz.sh [SECONDS]   (default 600). Installs cargo-fuzz if needed.
# cargo-fuzz needs nightly-only flags; RUSTC_BOOTSTRAP lets the stable toolchain accept them.
# The dev build without a sanitizer keeps the build of DataFusion at a few minutes on 2 cores;
# a panic anywhere in parse/render is still a crash that libFuzzer reports and minimises.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz
unset CARGO_TARGET_DIR
RUSTC_BOOTSTRAP=1 cargo fuzz run adql_parse --dev -s none -- \
  -max_total_time="${1:-600}" -print_final_stats=1
