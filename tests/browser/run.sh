#!/usr/bin/env bash
# End-to-end tests of the web page in Debian's headless Chromium (playwright-core, no browser
# download): builds the page and the trainer, makes test models, serves both on a free
# loopback port, runs tests/browser/*.test.mjs with node's test runner, stops the server.
# MER_WEB_BENCH=1 also times a 4-minute song per backend (tests/browser/bench.mjs;
# MER_WEB_BENCH_BACKENDS=cpu times only the CPU path).
# Usage: tests/browser/run.sh [PATTERN]   (PATTERN: run only the tests whose names match)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
source scripts/setup.sh
setup_web
setup_browser

OUT="$ROOT/tests/out"
mkdir -p "$OUT"
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "== web: trunk build (wasm worker + page)"
bash web/build.sh

echo "== web: trainer (native, for the reference predictions and test models)"
cargo build --release --quiet -p trainer
TRAINER="$CARGO_TARGET_DIR/release/trainer"

echo "== web: test models (untrained, random weights) in $WORK/models"
MODELS="$WORK/models"
mkdir -p "$MODELS"
"$TRAINER" init --out "$MODELS/a-seed1.mer" --seed 1 2>/dev/null
"$TRAINER" init --out "$MODELS/b-seed2.mer" --seed 2 2>/dev/null
"$TRAINER" init --out "$MODELS/z-damaged.mer" --seed 3 2>/dev/null
# two that claim real variants and test scores (random weights), for the picker and compare
"$TRAINER" init --out "$MODELS/c-scae-full-man.mer" --seed 2 --variant scae:man:full \
    --claimed-f1 0.52 2>/dev/null
"$TRAINER" init --out "$MODELS/d-cpc-feat-ext-mix.mer" --seed 1 --variant cpc:eng+man:feat-ext \
    --claimed-f1 0.41 2>/dev/null
# The default is not the best test score (c-scae-full-man's 0.52): the page must follow it.
"$TRAINER" index "$MODELS" --default d-cpc-feat-ext-mix.mer 2>/dev/null
# Damage one file after indexing: the page must refuse it with a clear message.
node -e 'const fs = require("fs"); const p = process.argv[1]; const b = fs.readFileSync(p);
b[b.length - 1000] ^= 0x40; fs.writeFileSync(p, b);' "$MODELS/z-damaged.mer"

echo "== web: serving dist/ and the test models"
LOG="$OUT/requests.jsonl"
: > "$LOG"
node web/serve.mjs --dist dist --models "$MODELS" --host 127.0.0.1 --port 0 --log "$LOG" \
    > "$WORK/server.out" 2>&1 &
SERVER_PID=$!
for _ in $(seq 50); do
    grep -q '^listening on ' "$WORK/server.out" && break
    sleep 0.1
done
BASE_URL="$(sed -n 's/^listening on //p' "$WORK/server.out" | head -1)"
[ -n "$BASE_URL" ] || { cat "$WORK/server.out"; echo "the server did not start" >&2; exit 1; }
echo "   $BASE_URL"

export BASE_URL TRAINER MODELS REQUEST_LOG="$LOG" OUT_DIR="$OUT" WORK_DIR="$WORK"
echo "== web: browser tests (Chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}'))"
PATTERN=()
[ -n "${1:-}" ] && PATTERN=("--test-name-pattern=$1")
(cd tests/browser && node --test --test-concurrency=1 --test-reporter=spec "${PATTERN[@]}" page.test.mjs)

if [ "${MER_WEB_BENCH:-0}" = 1 ]; then
    echo "== web: benchmark (4-minute song, drop to result, per backend)"
    (cd tests/browser && node bench.mjs)
fi
echo "screenshots: $OUT/*.png"
