#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz, libFuzzer) of what reads untrusted bytes:
#   audio       mer::audio decoding (WAV, MP3, FLAC, OGG, MP4) and resampling
#   model_file  the .mer loader: whole files, and hostile weights behind a valid checksum
#   music_set   the music-set loaders: CSV, DEAM, PMEmo and emoMusic annotation files
# Each target runs SECONDS (default 600) from seeds made of the test fixtures. Every input
# that crashes, hangs or runs out of memory is copied to tests/fuzz-regressions/TARGET/,
# which `cargo test` replays on stable (mer/tests/fuzz_regressions.rs,
# trainer/tests/fuzz_regressions.rs): commit it with the fix.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
# Needs a nightly toolchain and cargo-fuzz, installed here when missing.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
source scripts/setup.sh
SECONDS_EACH="${1:-600}"
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(audio model_file music_set)

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# The trainer (release, the usual build folder) makes the model-file seeds.
cargo build --release --locked -p trainer --quiet
T="$CARGO_TARGET_DIR/release/trainer"
export CARGO_TARGET_DIR="$MER_CACHE/target-fuzz"

# Seeds: the fixtures with their hint byte; the head of real model files (header, metadata
# and the start of the weights, as a file and as a weight block of each precision);
# small annotation files of each layout.
seed() { # seed TARGET NAME BYTE FILE [LENGTH]
    local dir="fuzz/corpus/$1"
    mkdir -p "$dir"
    { printf "\\x$(printf %02x "$3")"; head -c "${5:-100000000}" "$4"; } >"$dir/$2"
}
F=tests/fixtures
seed audio wav 1 $F/music.wav 60000
seed audio mp3 2 $F/music.mp3
seed audio flac 3 $F/music.flac 60000
seed audio ogg 4 $F/music.ogg
for p in int8 q4; do
    "$T" init --out "fuzz/corpus/$p.mer" --precision "$p" >/dev/null
done
seed model_file int8-head 0 fuzz/corpus/int8.mer 4096
seed model_file q4-head 0 fuzz/corpus/q4.mer 4096
# The weight block alone, behind its precision byte: after the header (magic 8, version 4,
# JSON length 4, JSON, weights length 8).
weights_seed() { # weights_seed BYTE MODEL OUT
    python3 - "$@" <<'PY'
import struct, sys
byte, model, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
b = open(model, "rb").read()
start = 16 + struct.unpack("<I", b[12:16])[0] + 8
open(out, "wb").write(bytes([byte]) + b[start:start + 4096])
PY
}
weights_seed 2 fuzz/corpus/int8.mer fuzz/corpus/model_file/int8-weights
weights_seed 3 fuzz/corpus/q4.mer fuzz/corpus/model_file/q4-weights
rm -f fuzz/corpus/int8.mer fuzz/corpus/q4.mer
mkdir -p fuzz/corpus/music_set
printf '\x00Songs,Quads,Arousal,Valence\nsong.wav,Q1,positive,positive\n' >fuzz/corpus/music_set/csv
printf '\x00Songs,Arousal,Valence\nsong.wav,0.5,-2\n' >fuzz/corpus/music_set/csv-continuous
printf '\x01song_id, valence_mean, valence_std, arousal_mean, arousal_std\n1, 3.1, 0.9, 6.2, 1.1\n' >fuzz/corpus/music_set/deam
printf '\x02musicId,Arousal(mean),Valence(mean)\n1,0.7,0.2\n' >fuzz/corpus/music_set/pmemo
printf '\x03musicId,frameTime,Arousal(mean),Valence(mean)\n1,15.5,0.3,0.4\n1,16.0,0.35,0.4\n' >fuzz/corpus/music_set/pmemo-dynamic
printf '\x05song_id,sample_15000ms,sample_15500ms\n1,0.1,-0.2\n' >fuzz/corpus/music_set/emomusic-dynamic

status=0
for target in "${TARGETS[@]}"; do
    echo "== fuzz $target for ${SECONDS_EACH}s" >&2
    mkdir -p "fuzz/artifacts/$target"
    # -rss_limit_mb: the loaders must stay well inside this; -timeout: no input may take
    # longer (a hang is a bug).
    cargo +nightly fuzz run "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 \
        2>&1 | tail -n 25 || status=1
    found=(fuzz/artifacts/"$target"/{crash,timeout,oom,leak}-*)
    for f in "${found[@]}"; do
        [ -e "$f" ] || continue
        mkdir -p "tests/fuzz-regressions/$target"
        cp "$f" "tests/fuzz-regressions/$target/"
        echo "kept $f in tests/fuzz-regressions/$target/" >&2
        status=1
    done
done
exit "$status"
