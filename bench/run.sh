#!/usr/bin/env bash
# Throughput of the front end and of the classifier, Rust (mer on burn flex) against Python
# (librosa 0.11 + PyTorch CPU), on the same synthetic 4-minute song. Prints four Markdown
# tables: the Rust bench's two, then bench/reference.py's two. See BENCHMARKS.md.
#
# Time: with everything built and installed, about 1 minute (Rust bench ~25 s, the Python
# reference ~20 s plus ~10 s of imports). The first run builds burn with the `rayon`
# feature in release mode: 8-20 minutes on 2 cores. Python needs `pip install librosa
# soundfile torch` (torch from PyPI is the CUDA build, ~3.5 GB; it runs on the CPU).
#
# Environment: CARGO_TARGET_DIR (default /root/.cache/mer/target), MER_BENCH_WAV (where the
# song is written, default $TMPDIR/mer_bench_song.wav), MER_BENCH_RUNS (front-end runs,
# default 7), MER_BENCH_BATCHES (timed batches per batch size, default 10), PYTHON.
# Extra arguments go to cargo, e.g. `bench/run.sh --features burn/x86-v4`.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/root/.cache/mer/target}"
export MER_BENCH_WAV="${MER_BENCH_WAV:-${TMPDIR:-/tmp}/mer_bench_song.wav}"
PYTHON="${PYTHON:-python3}"

echo "## Machine"
echo
echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), nproc = $(nproc)"
echo "- load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- $(rustc --version); $("$PYTHON" --version 2>&1)"

echo
echo "## Rust: cargo bench -p mer --bench throughput --features rayon $*"
cargo bench --quiet -p mer --bench throughput --features rayon "$@"

echo
echo "## Python: bench/reference.py"
"$PYTHON" bench/reference.py --wav "$MER_BENCH_WAV"
