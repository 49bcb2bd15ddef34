#!/usr/bin/env python3
"""The shipped models' report, written by scripts/train-models.sh (stdlib only).

Usage: real-music-report.py WORK REPORT.md

Reads WORK/pretrain/*/metrics.csv (the encoders' curves), WORK/classifiers/* (each run's
phase records) and WORK/heldout/*.json (`trainer evaluate --json` and `trainer baselines
--json` on the held-out game). Writes REPORT.md, and WORK/shipped.txt (the
classifier chosen per encoder: Full when its fine-tuning beat its frozen phase on
validation, else Feat. Ext.) and WORK/default.txt (the shipped classifier with the best
held-out arousal AUC, ties broken by valence AUC).
"""
import csv
import json
import os
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def fmt(x, digits=3):
    return "" if x is None else f"{x:.{digits}f}"


def main(work, out):
    runs = sorted(d for d in os.listdir(os.path.join(work, "classifiers")))
    encoders = sorted({r.rsplit("-", 1)[0] for r in runs})
    shipped = []
    for enc in encoders:
        full = os.path.join(work, "classifiers", f"{enc}-full", "phase-full.json")
        best_epoch = load(full)["best_epoch"] if os.path.exists(full) else 0
        shipped.append(f"{enc}-full" if best_epoch > 0 else f"{enc}-featext")
    evals = {r: load(os.path.join(work, "heldout", f"{r}.json")) for r in runs}
    base = load(os.path.join(work, "heldout", "baselines.json"))

    def key(r):
        p = evals[r]["people"]
        return (p["arousal_auc"] or 0.0, p["valence_auc"] or 0.0)

    default = max(shipped, key=key)
    with open(os.path.join(work, "shipped.txt"), "w") as f:
        f.write("\n".join(shipped) + "\n")
    with open(os.path.join(work, "default.txt"), "w") as f:
        f.write(default + "\n")

    any_eval = next(iter(evals.values()))
    p0 = any_eval["people"]
    md = [
        "# The shipped models on real music",
        "",
        "Written by `scripts/train-models.sh`. The held-out game's clips "
        "(`corpora/music/games/heldout.csv`) never reach training or validation: no clip of "
        "that game is in `music/shipped.csv`, the classifiers' training set. Scores are "
        "song-level, against the labels people made (the game's own use of each track, read "
        "from its data files; `results/CORPORA.md` lists them), never against the teacher's: "
        f"arousal over {p0['arousal_songs']} clips, valence over {p0['valence_songs']} clips, "
        f"quadrant over the {p0['quadrant_songs']} clips with both labels from the game.",
        "",
        "## Classifiers",
        "",
        "| classifier | shipped | arousal AUC | valence AUC | quadrant accuracy |",
        "|---|---|---|---|---|",
    ]
    for r in runs:
        p = evals[r]["people"]
        mark = "**default**" if r == default else ("yes" if r in shipped else "")
        md.append(
            f"| {r} | {mark} | {fmt(p['arousal_auc'])} | {fmt(p['valence_auc'])} "
            f"| {fmt(p['quadrant_accuracy'])} |"
        )
    md += [
        "",
        "## Baselines on the same clips",
        "",
        "| baseline | arousal AUC | valence AUC | quadrant accuracy |",
        "|---|---|---|---|",
    ]
    for b in base["scores"]:
        md.append(
            f"| {b['name']} | {fmt(b['arousal_auc'])} | {fmt(b['valence_auc'])} "
            f"| {fmt(b['quadrant_accuracy'])} |"
        )
    md += [
        "",
        "## Pretraining curves",
        "",
        "Validation per epoch (SCAE: reconstruction loss; CPC: loss and accuracy of its own "
        "task, chance 0.5 for the binary objective).",
        "",
        "| encoder | epochs | validation loss per epoch | CPC validation accuracy per epoch |",
        "|---|---|---|---|",
    ]
    for enc in sorted(os.listdir(os.path.join(work, "pretrain"))):
        path = os.path.join(work, "pretrain", enc, "metrics.csv")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            rows = list(csv.DictReader(f))
        losses = ", ".join(fmt(float(r["val_loss"])) for r in rows)
        accs = ", ".join(fmt(float(r["val_accuracy"])) for r in rows if "val_accuracy" in r)
        md.append(f"| {enc} | {len(rows)} | {losses} | {accs} |")
    md.append("")
    with open(out + ".tmp", "w") as f:
        f.write("\n".join(md))
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
