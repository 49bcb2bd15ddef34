#!/usr/bin/env bash
# The whole pipeline behind the shipped models, from nothing to the files committed here:
#   1. the demo corpora (`trainer corpus demo`): speech in English and Mandarin, music
#      rendered from melodies with controlled cues, and real game music labelled from the
#      games' own data files (and a teacher model where the game says nothing), with two
#      games held out: music/games/heldout-0ad.csv and heldout-ufoai.csv;
#   2. the encoders (METHODS x LANGS; by default CPC pretrained on eng, man and mix, 3 h of
#      speech each), BatchNorm statistics re-estimated over the speech at every epoch;
#   3. per encoder, a Feat. Ext. classifier (trained on the frozen encoder's outputs,
#      computed once) and a Full one started from it, on music/shipped.csv (rendered + real
#      music, the held-out games excluded); each run keeps its f32 model file;
#   4. per encoder the classifier its validation preferred (Full when its fine-tuning beat
#      its frozen phase, else Feat. Ext.), exported at PRECISION from its f32 weights
#      (`trainer export`, scored on the test part like the f32 file), then scored with the
#      one-feature baselines and the teacher on each held-out game: results/real-music.md;
#   5. into models/: those files (at most six, 40 MB), index.json with the best on the
#      held-out games as the page's default.
# Every step resumes where it stopped when rerun. Usage:
#   scripts/train-models.sh [WORK]        (WORK defaults to ~/mer-demo)
# The schedule comes from the variables below (defaults: 35-45 min per encoder on 2
# busy CPU cores, see the README; METHODS and LANGS choose the encoders: METHODS="scae cpc"
# ships six).
# DEVICE=wgpu (or cuda, with a `--features cuda` build) trains on a GPU: raise the
# schedule there, e.g. PRETRAIN_EPOCHS=30 SCAE_PATCHES= CPC_WINDOWS= FULL_PATCHES=
# TRANSFER_EPOCHS=50 FULL_EPOCHS=50 PATIENCE=10 (empty: every patch or window in each
# epoch).
# GRID=1 also runs the paper's 24-cell grid on the rendered sets (results/demo-grid/).
set -euo pipefail
shopt -s nullglob

REPO="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mkdir -p "${1:-$HOME/mer-demo}" && cd "${1:-$HOME/mer-demo}" && pwd)"
# Pretraining: epochs, and what each epoch draws (SCAE: patches; CPC: windows of 6).
PRETRAIN_EPOCHS="${PRETRAIN_EPOCHS:-6}"
SCAE_PATCHES="${SCAE_PATCHES-1024}"
CPC_WINDOWS="${CPC_WINDOWS-256}"
# Transfer: Feat. Ext. epochs (each sees every patch, on cached encoder outputs), Full
# epochs and the patches each draws (a Full epoch runs the whole network), early-stopping
# patience.
TRANSFER_EPOCHS="${TRANSFER_EPOCHS:-8}"
FULL_EPOCHS="${FULL_EPOCHS:-3}"
FULL_PATCHES="${FULL_PATCHES-1024}"
PATIENCE="${PATIENCE:-3}"
# Precision of the shipped model files: q4 (3.0-3.1 MB each) or int8 (6.5 MB); see the
# README's "Model files" and results/real-music.md for what each costs against f32.
PRECISION="${PRECISION:-q4}"
DEVICE="${DEVICE:-cpu}"
GRID="${GRID:-0}"
# SHIP=0: leave the repository as it is (the report goes to WORK/real-music.md).
SHIP="${SHIP:-1}"
METHODS="${METHODS:-cpc}"
LANGS="${LANGS:-eng man mix}"

cd "$REPO"
# The same build folder as ./run.sh and ./test.sh (~/.cache/mer/target unless overridden).
source "$REPO/scripts/setup.sh"
cargo build --release --locked -p trainer
TRAINER="$CARGO_TARGET_DIR/release/trainer"
opt() { # opt FLAG VALUE: the flag and its value, or nothing when the value is empty
    [ -n "$2" ] && printf '%s\n%s\n' "$1" "$2"
    return 0
}

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

speech_of() { # the --speech arguments of a language code
    case "$1" in
    eng) echo "--speech eng=corpora/speech/eng" ;;
    man) echo "--speech man=corpora/speech/man" ;;
    mix) echo "--speech eng=corpora/speech/eng --speech man=corpora/speech/man" ;;
    esac
}
method_flag() { [ "$1" = scae ] && echo dae || echo cpc; }
drawn() { [ "$1" = scae ] && echo "$SCAE_PATCHES" || echo "$CPC_WINDOWS"; }

pretrain() {
    for method in $METHODS; do
        for lang in $LANGS; do
            # shellcheck disable=SC2046
            "$TRAINER" pretrain --method "$(method_flag "$method")" $(speech_of "$lang") \
                --hours 3 --epochs "$PRETRAIN_EPOCHS" $(opt --epoch-patches "$(drawn "$method")") \
                --device "$DEVICE" --cache feature-cache --out "pretrain/$method-$lang"
        done
    done
}
stage "pretraining (encoders: $METHODS x $LANGS)" pretrain

transfer() {
    for method in $METHODS; do
        for lang in $LANGS; do
            local common=(--encoder "pretrain/$method-$lang"
                --music corpora/music/shipped.csv --music-name western+chinese+games
                --patience "$PATIENCE" --device "$DEVICE" --precision f32 --cache feature-cache)
            "$TRAINER" transfer "${common[@]}" --epochs "$TRANSFER_EPOCHS" --mode feat-ext \
                --out "classifiers/$method-$lang-featext"
            # shellcheck disable=SC2046
            "$TRAINER" transfer "${common[@]}" --epochs "$TRANSFER_EPOCHS" --mode full \
                --full-epochs "$FULL_EPOCHS" $(opt --full-epoch-patches "$FULL_PATCHES") \
                --frozen-from "classifiers/$method-$lang-featext" --out "classifiers/$method-$lang-full"
        done
    done
}
stage "classifiers (Feat. Ext. and Full per encoder)" transfer

chosen() { # chosen METHOD-LANG: the run whose weights validation preferred
    # Full when its fine-tuning beat its frozen phase (best epoch of phase-full.json > 0);
    # else the Full run exported the frozen phase's weights, and Feat. Ext. is the one.
    if python3 -c 'import json, sys; sys.exit(json.load(open(sys.argv[1]))["best_epoch"] == 0)' \
        "classifiers/$1-full/phase-full.json"; then
        echo "$1-full"
    else
        echo "$1-featext"
    fi
}
keep() { # keep FILE COMMAND...: FILE is the command's output, written once it succeeded
    [ -s "$1" ] && return 0
    local file="$1"
    shift
    "$@" >"$file.tmp"
    mv "$file.tmp" "$file"
}
export_chosen() {
    # Per encoder the chosen run's model at PRECISION, from its f32 weights, scored on the
    # test part like the run's own f32 file (evaluation-test.json beside it).
    : >shipped.txt.tmp
    for method in $METHODS; do
        for lang in $LANGS; do
            local run
            run="$(chosen "$method-$lang")"
            echo "$run" >>shipped.txt.tmp
            keep "classifiers/$run/evaluation-test-$PRECISION.json" "$TRAINER" export \
                --run "classifiers/$run" --precision "$PRECISION" \
                --out "classifiers/$run/model-$PRECISION.mer" --json --cache feature-cache
        done
    done
    mv shipped.txt.tmp shipped.txt
}
stage "the chosen classifiers at $PRECISION (trainer export)" export_chosen

heldout() {
    # Per held-out game (corpora/music/games/heldout-GAME.csv): every chosen classifier's
    # shipped file and f32 file, and the baselines with the teacher, in heldout/GAME/.
    for csv in corpora/music/games/heldout-*.csv; do
        local game
        game="$(basename "$csv" .csv)"
        game="${game#heldout-}"
        mkdir -p "heldout/$game"
        while read -r run; do
            keep "heldout/$game/$run.json" "$TRAINER" evaluate \
                --model "classifiers/$run/model-$PRECISION.mer" --music "$csv" --split all \
                --json --cache feature-cache
            # The run's f32 file too: what PRECISION costs on real music.
            keep "heldout/$game/$run-f32.json" "$TRAINER" evaluate \
                --model "classifiers/$run/model.mer" --music "$csv" --split all \
                --json --cache feature-cache
        done <shipped.txt
        keep "heldout/$game/baselines.json" "$TRAINER" baselines --music "$csv" --json \
            --cache feature-cache
    done
}
stage "held-out games: shipped classifiers, baselines, teacher" heldout

if [ "$GRID" = 1 ]; then
    stage "grid (trainer reproduce: 24 cells on the rendered sets)" \
        "$TRAINER" reproduce --speech-en corpora/speech/eng --speech-man corpora/speech/man \
        --music-en corpora/music/western/annotations.csv \
        --music-man corpora/music/chinese/annotations.csv \
        --repeats 1 --hours 3 --pretrain-epochs "$PRETRAIN_EPOCHS" \
        $(opt --epoch-patches "$SCAE_PATCHES") --transfer-epochs 3 \
        --transfer-epoch-patches 768 --device "$DEVICE" --out grid
    if [ "$SHIP" = 1 ]; then
        mkdir -p "$REPO/results/demo-grid/plots"
        cp grid/REPORT.md grid/results.csv "$REPO/results/demo-grid/"
        cp grid/plots/*.svg "$REPO/results/demo-grid/plots/"
    fi
fi

# Into the repository: the chosen classifiers' files at PRECISION, the report, and the
# index with its default.
if [ "$SHIP" != 1 ]; then
    python3 "$REPO/scripts/real-music-report.py" "$WORK" "$PRECISION" "$WORK/real-music.md"
    echo "SHIP=0: report in $WORK/real-music.md; the repository is unchanged" >&2
    exit 0
fi
python3 "$REPO/scripts/real-music-report.py" "$WORK" "$PRECISION" "$REPO/results/real-music.md" \
    "$REPO/models/README.md"
rm -f "$REPO"/models/*.mer
while read -r name; do
    cp "classifiers/$name/model-$PRECISION.mer" "$REPO/models/$name.mer"
done <shipped.txt
cp corpora/CORPORA.md "$REPO/results/CORPORA.md"
"$TRAINER" index "$REPO/models" --default "$(cat default.txt).mer" >/dev/null
echo "times per stage:" >&2
cat "$TIMES" >&2
