#!/usr/bin/env python3
"""The shipped models' report, written by scripts/train-models.sh (stdlib only).

Usage: real-music-report.py WORK REPORT.md

Reads WORK/pretrain/*/metrics.csv (the encoders' curves), WORK/classifiers/* (each run's
phase records) and WORK/heldout/GAME/*.json (`trainer evaluate --json` and `trainer
baselines --json` on each held-out game). Writes REPORT.md, and WORK/shipped.txt (the
classifier chosen per encoder: Full when its fine-tuning beat its frozen phase on
validation, else Feat. Ext.) and WORK/default.txt (the shipped classifier with the best
arousal AUC averaged over the held-out games, ties broken by valence AUC).
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
    games = sorted(os.listdir(os.path.join(work, "heldout")))
    evals = {
        g: {r: load(os.path.join(work, "heldout", g, f"{r}.json")) for r in runs} for g in games
    }
    bases = {g: load(os.path.join(work, "heldout", g, "baselines.json")) for g in games}

    def mean_auc(r, task):
        vals = [evals[g][r]["people"][task] for g in games]
        vals = [v for v in vals if v is not None]
        return sum(vals) / len(vals) if vals else None

    def key(r):
        return (mean_auc(r, "arousal_auc") or 0.0, mean_auc(r, "valence_auc") or 0.0)

    default = max(shipped, key=key)
    with open(os.path.join(work, "shipped.txt"), "w") as f:
        f.write("\n".join(shipped) + "\n")
    with open(os.path.join(work, "default.txt"), "w") as f:
        f.write(default + "\n")

    md = [
        "# The shipped models on real music",
        "",
        "Written by `scripts/train-models.sh`. The held-out games' clips "
        "(`corpora/music/games/heldout-GAME.csv`) never reach training or validation: no clip "
        "of those games is in `music/shipped.csv`, the classifiers' training set. Scores are "
        "song-level, against the labels people made (each game's own use of its tracks, read "
        "from its data files; `results/CORPORA.md` lists them), never against the teacher's. "
        "The page's default is the shipped classifier with the best arousal AUC averaged "
        "over the held-out games.",
        "",
        "## Classifiers",
        "",
        "| classifier | shipped | "
        + " | ".join(f"{g}: arousal AUC | {g}: valence AUC" for g in games)
        + " | mean arousal AUC |",
        "|---|---|" + "---|---|" * len(games) + "---|",
    ]
    for r in runs:
        mark = "**default**" if r == default else ("yes" if r in shipped else "")
        cells = " | ".join(
            f"{fmt(evals[g][r]['people']['arousal_auc'])} | "
            f"{fmt(evals[g][r]['people']['valence_auc'])}"
            for g in games
        )
        md.append(f"| {r} | {mark} | {cells} | {fmt(mean_auc(r, 'arousal_auc'))} |")
    for g in games:
        p0 = next(iter(evals[g].values()))["people"]
        md += [
            "",
            f"## Baselines on {g}",
            "",
            f"Arousal over {p0['arousal_songs']} clips, valence over {p0['valence_songs']}, "
            f"quadrant over the {p0['quadrant_songs']} clips with both labels from the game.",
            "",
            "| baseline | arousal AUC | valence AUC | quadrant accuracy |",
            "|---|---|---|---|",
        ]
        for b in bases[g]["scores"]:
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
