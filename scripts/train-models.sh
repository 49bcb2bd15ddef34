#!/usr/bin/env bash
# The whole demo pipeline, from nothing to the files committed in this repository:
#   1. the demo corpora (`trainer corpus demo`),
#   2. the paper's grid on them (`trainer reproduce`, 3 h of speech per pretraining):
#      results/demo-grid/REPORT.md, results.csv, plots/,
#   3. the twelve shipped classifiers (SCAE and CPC x eng, man, mix x Feat. Ext. and Full),
#      each transferred from the grid's encoder to both demo music sets together:
#      models/*.mer, models/index.json, results/shipped-models.md (their scores on the
#      demo test split and on real recorded music).
# Every step resumes where it stopped when rerun. Usage:
#   scripts/train-models.sh [WORK]        (WORK defaults to ~/mer-demo)
# The schedule (epochs and patches drawn per epoch) comes from the variables below; the
# committed files were made with the defaults, on 2 CPU cores (times in models/README.md).
# DEVICE=wgpu (or cuda, with a `--features cuda` build) trains on a GPU.
set -euo pipefail
shopt -s nullglob

REPO="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mkdir -p "${1:-$HOME/mer-demo}" && cd "${1:-$HOME/mer-demo}" && pwd)"
PRETRAIN_EPOCHS="${PRETRAIN_EPOCHS:-3}"
PRETRAIN_PATCHES="${PRETRAIN_PATCHES:-160}"
TRANSFER_EPOCHS="${TRANSFER_EPOCHS:-3}"
TRANSFER_PATCHES="${TRANSFER_PATCHES:-768}"
DEVICE="${DEVICE:-cpu}"

cd "$REPO"
cargo build --release --locked -p trainer
TRAINER="$(cd "${CARGO_TARGET_DIR:-$REPO/target}" && pwd)/release/trainer"

TIMES="$WORK/times.md"
echo "| run of $(date -u '+%Y-%m-%d %H:%M') UTC | |" >>"$TIMES"
stage() { # stage NAME COMMAND...: runs it and records its wall time
    local name="$1" t0
    shift
    echo "== $name" >&2
    t0=$(date +%s)
    "$@"
    echo "| $name | $(($(date +%s) - t0)) s |" >>"$TIMES"
}

cd "$WORK"
stage "corpora (trainer corpus demo)" "$TRAINER" corpus demo --out corpora

stage "grid (trainer reproduce: 6 encoders, 24 classifiers)" \
    "$TRAINER" reproduce --speech-en corpora/speech/eng --speech-man corpora/speech/man \
    --music-en corpora/music/western/annotations.csv \
    --music-man corpora/music/chinese/annotations.csv \
    --repeats 1 --hours 3 \
    --pretrain-epochs "$PRETRAIN_EPOCHS" --epoch-patches "$PRETRAIN_PATCHES" \
    --transfer-epochs "$TRANSFER_EPOCHS" --transfer-epoch-patches "$TRANSFER_PATCHES" \
    --device "$DEVICE" --out grid

ship() {
    for method in scae cpc; do
        for lang in eng man mix; do
            local common=(--encoder "grid/pretrain/$method-$lang-r0"
                --music corpora/music/both.csv --music-name western+chinese
                --epochs "$TRANSFER_EPOCHS" --epoch-patches "$TRANSFER_PATCHES"
                --device "$DEVICE" --cache grid/feature-cache)
            "$TRAINER" transfer "${common[@]}" --mode feat-ext --out "models/$method-$lang-featext"
            "$TRAINER" transfer "${common[@]}" --mode full \
                --frozen-from "models/$method-$lang-featext" --out "models/$method-$lang-full"
        done
    done
}
stage "shipped models (trainer transfer: 12 classifiers on both music sets)" ship

# The shipped models on real recorded music (Wesnoth, labelled by track titles): all clips.
real() {
    mkdir -p real
    for run in models/*/; do
        "$TRAINER" evaluate --model "$run/model.mer" --music corpora/music/real/annotations.csv \
            --split all --json --cache grid/feature-cache >"real/$(basename "$run").json"
    done
}
stage "shipped models on real music (trainer evaluate)" real

# Into the repository: the report and the models.
mkdir -p "$REPO/results/demo-grid/plots" "$REPO/models"
cp grid/REPORT.md grid/results.csv "$REPO/results/demo-grid/"
cp grid/plots/*.svg "$REPO/results/demo-grid/plots/"
cp corpora/CORPORA.md "$REPO/results/demo-grid/CORPORA.md"
rm -f "$REPO"/models/*.mer
for run in models/*/; do
    cp "$run/model.mer" "$REPO/models/$(basename "$run").mer"
done
{
    echo "# The shipped models' scores"
    echo
    echo "Written by scripts/train-models.sh. Test split of the demo music (both sets), from each file's metadata:"
    echo
    "$TRAINER" index "$REPO/models"
    echo
    echo "Real recorded music (corpora/music/real/annotations.csv, all clips):"
    echo
    echo "| file | clips | quadrant F1 weighted, patches | quadrant accuracy, songs | arousal accuracy, songs | valence accuracy, songs |"
    echo "|---|---|---|---|---|---|"
    for f in real/*.json; do
        python3 - "$f" <<'PY'
import json, os, sys
e = json.load(open(sys.argv[1]))
acc = lambda t: e["song"][t]["scores"]["accuracy"]
print(f"| {os.path.basename(sys.argv[1])[:-5]}.mer | {e['songs']} | {e['patch']['quadrant']['scores']['weighted']['f1']:.3f} "
      f"| {acc('quadrant'):.3f} | {acc('arousal'):.3f} | {acc('valence'):.3f} |")
PY
    done
} >"$REPO/results/shipped-models.md.tmp"
mv "$REPO/results/shipped-models.md.tmp" "$REPO/results/shipped-models.md"
echo "times per stage:" >&2
cat "$TIMES" >&2
