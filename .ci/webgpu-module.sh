#!/usr/bin/env bash
# Trunk post_build hook (Trunk.toml): the second browser module, built from the same crate with
# `--features webgpu`, beside the CPU-only module trunk builds from index.html. The worker
# fetches it only where WebGPU has a hardware adapter or is asked for by name.
#   TRUNK_STAGING_DIR/skin-lesion-webgpu.js + skin-lesion-webgpu_bg.wasm
set -euo pipefail
profile=web
[ "${TRUNK_PROFILE:-release}" = release ] || profile=dev
target_dir="${CARGO_TARGET_DIR:-target}"
cargo build --locked --offline --target wasm32-unknown-unknown -p skin-lesion --profile "$profile" --features webgpu
dir="$profile"
[ "$profile" = dev ] && dir=debug
wasm-bindgen --target web --no-typescript --out-name skin-lesion-webgpu --out-dir "$TRUNK_STAGING_DIR" \
    "$target_dir/wasm32-unknown-unknown/$dir/skin_lesion.wasm"
if [ "$profile" = web ]; then
    wasm-opt -Oz --output "$TRUNK_STAGING_DIR/skin-lesion-webgpu_bg.wasm" "$TRUNK_STAGING_DIR/skin-lesion-webgpu_bg.wasm"
fi
