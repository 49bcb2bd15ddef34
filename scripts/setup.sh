#!/usr/bin/env bash
# Installs what a fresh machine of this kind lacks, idempotently (fast when all is there).
# Sourced by run.sh and test.sh. Every tool is pinned; nothing downloads at run time.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Build outputs live outside the clone so that they survive between CI runs on one machine.
export MER_CACHE="${MER_CACHE:-$HOME/.cache/mer}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$MER_CACHE/target}"
# The wasm build gets its own folder so it never waits on cargo's lock of the native one.
export MER_WEB_TARGET_DIR="${MER_WEB_TARGET_DIR:-$MER_CACHE/target-web}"
export PATH="$HOME/.cargo/bin:$PATH"

TRUNK_VERSION="0.21.14"
# wasm-bindgen's CLI must equal the wasm-bindgen crate in Cargo.lock.
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' "$ROOT/Cargo.lock")"

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

APT_UPDATED=0
apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "apt-get install ${missing[*]}"
    if [ "$APT_UPDATED" = 0 ]; then
        as_root apt-get update -qq
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

setup_native() {
    command -v cargo >/dev/null || { echo "cargo is missing: install Rust with rustup" >&2; exit 1; }
    # Mesa's software Vulkan (lavapipe), for burn-wgpu without a GPU; strace, whose fault
    # injection kills the CLI in the middle of a write in the durability tests; LAME, which
    # encodes the MP3s of the public-corpus layouts built by the tests.
    apt_install mesa-vulkan-drivers strace lame
}

setup_web() {
    rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown \
        || { log "rustup target add wasm32-unknown-unknown"; rustup target add wasm32-unknown-unknown; }
    if [ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK_VERSION" ]; then
        log "cargo install trunk $TRUNK_VERSION (about 14 minutes, once)"
        cargo install trunk --version "$TRUNK_VERSION" --locked --quiet
    fi
    if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
        log "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 5 minutes, once)"
        # Not --locked: one locked dependency is not served by the registry
        # (docs/TOOLCHAIN.md, "wasm-bindgen-cli").
        cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --quiet
    fi
}

setup_browser() {
    apt_install chromium
    if [ ! -d "$ROOT/tests/browser/node_modules/playwright-core" ]; then
        log "npm ci (playwright-core; no browser download)"
        (cd "$ROOT/tests/browser" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --silent --no-audit --no-fund)
    fi
}
