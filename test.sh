#!/usr/bin/env bash
# Sets up what is missing, then runs every test: formatting, lints, the Rust tests (librosa
# parity, networks, model files, CLI end to end) and, once the page exists, the browser tests.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup.sh
setup_native

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (all targets, warnings are errors)"
cargo clippy --release --all-targets --quiet -- -D warnings

echo "== cargo test (release: the tests run the networks)"
cargo test --release --workspace

if [ -f web/Cargo.toml ]; then
    setup_web
    setup_browser
    echo "== browser tests"
    bash tests/browser/run.sh
fi
