#!/usr/bin/env bash
# Fuzz what reads untrusted bytes (photo decoding and preprocessing, model loading) for a few
# minutes: `bash train-native/fuzz.sh [MINUTES]` (default 5). Seeds: the HAM10000 photos when
# ../shared/ham10000 (or $HAM10000_DIR) is there, and the test fixtures. Problems are saved in
# train-native/tests/fuzz-regressions/, which `cargo test` replays. Not run in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-5}"
data="${HAM10000_DIR:-../shared/ham10000}"
seeds=()
[ -d "$data/images" ] && seeds+=("$data/images")
exec cargo run --release --locked -p train-native --example fuzz -- "$minutes" "${seeds[@]}"
