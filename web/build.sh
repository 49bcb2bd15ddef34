#!/usr/bin/env bash
# Builds the web page into dist/ with trunk, offline (the worker's wasm, its JavaScript,
# the page). Needs what scripts/setup.sh's setup_web installs. Prints the wasm's size.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
setup_web
# Its own target folder, so the wasm build never waits on the native build's lock.
export CARGO_TARGET_DIR="$MER_WEB_TARGET_DIR"
# WebAssembly SIMD (in every current browser) for the CPU path's kernels.
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+simd128"
# trunk runs cargo with --offline: download the crates first (crates.io only).
cargo fetch --quiet
trunk build --release
wasm="dist/mer-web_bg.wasm"
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
awk -v f="$wasm" -v r="$raw" -v g="$gz" \
    'BEGIN { printf "[web] %s: %.1f MB raw, %.2f MB gzipped\n", f, r / 1e6, g / 1e6 }' >&2
