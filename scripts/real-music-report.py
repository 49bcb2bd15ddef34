#!/usr/bin/env python3
"""The shipped models' report, written by scripts/train-models.sh (stdlib only).

Usage: real-music-report.py WORK PRECISION REPORT.md [MODELS_README.md]

Reads, in WORK: shipped.txt (the classifier chosen per encoder), pretrain/*/metrics.csv
(the encoders' curves), classifiers/RUN/metrics.csv (the transfer curves),
classifiers/RUN/evaluation-test.json and evaluation-test-PRECISION.json (the f32 file and
the shipped file on the test part), and heldout/GAME/RUN.json, RUN-f32.json and
baselines.json (`trainer evaluate --json` and `trainer baselines --json` on each held-out
game). Writes REPORT.md and WORK/default.txt: the shipped classifier with the best arousal
AUC averaged over the held-out games, ties broken by valence AUC. With MODELS_README.md,
also replaces the part of that file between the two marker lines below with the shipped
classifiers' tables, so that models/README.md always shows the committed numbers.
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


def metrics(work, folder):
    """(run name, rows of its metrics.csv) for each run under WORK/FOLDER, by name."""
    for name in sorted(os.listdir(os.path.join(work, folder))):
        path = os.path.join(work, folder, name, "metrics.csv")
        if os.path.exists(path):
            with open(path) as f:
                yield name, list(csv.DictReader(f))


def joined(rows, column):
    return ", ".join(fmt(float(r[column])) for r in rows if r.get(column))


def f1(evaluation, level):
    return evaluation[level]["quadrant"]["scores"]["weighted"]["f1"]


BEGIN = "<!-- begin: written by scripts/real-music-report.py -->"
END = "<!-- end: written by scripts/real-music-report.py -->"


def write(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def main(work, precision, out, models_readme=None):
    with open(os.path.join(work, "shipped.txt")) as f:
        shipped = [line.strip() for line in f if line.strip()]
    games = sorted(os.listdir(os.path.join(work, "heldout")))
    heldout = lambda g, name: load(os.path.join(work, "heldout", g, f"{name}.json"))
    evals = {g: {r: heldout(g, r) for r in shipped} for g in games}
    evals_f32 = {g: {r: heldout(g, f"{r}-f32") for r in shipped} for g in games}
    bases = {g: heldout(g, "baselines") for g in games}

    def mean_auc(r, task):
        vals = [evals[g][r]["people"][task] for g in games]
        vals = [v for v in vals if v is not None]
        return sum(vals) / len(vals) if vals else None

    def key(r):
        return (mean_auc(r, "arousal_auc") or 0.0, mean_auc(r, "valence_auc") or 0.0)

    default = max(shipped, key=key)
    with open(os.path.join(work, "default.txt"), "w") as f:
        f.write(default + "\n")

    md = [
        "# The shipped models on real music",
        "",
        "Written by `scripts/train-models.sh`. The held-out games' clips "
        "(`corpora/music/games/heldout-GAME.csv`) never reach training or validation: no clip "
        "of those games is in `music/shipped.csv`, the classifiers' training set. Scores are "
        "song-level (a clip's probabilities averaged over its patches), against the labels "
        "people made (each game's own use of its tracks, read from its data files; "
        "`results/CORPORA.md` lists them), never against the teacher's. Quadrant accuracy "
        "counts only the clips whose two labels both come from the game. "
        f"The files scored are the shipped ones ({precision}). The page's default is the "
        "shipped classifier with the best arousal AUC averaged over the held-out games.",
        "",
        "## Shipped classifiers",
        "",
        "| classifier | "
        + " | ".join(
            f"{g}: arousal AUC | {g}: valence AUC | {g}: quadrant accuracy" for g in games
        )
        + " | mean arousal AUC |",
        "|---|" + "---|---|---|" * len(games) + "---|",
    ]
    first = len(md) - 2
    for r in shipped:
        name = f"**{r}** (default)" if r == default else r
        cells = " | ".join(
            f"{fmt(evals[g][r]['people']['arousal_auc'])} | "
            f"{fmt(evals[g][r]['people']['valence_auc'])} | "
            f"{fmt(evals[g][r]['people']['quadrant_accuracy'])}"
            for g in games
        )
        md.append(f"| {name} | {cells} | {fmt(mean_auc(r, 'arousal_auc'))} |")
    shipped_table = md[first:]
    baseline_rows = []
    for g in games:
        p0 = next(iter(evals[g].values()))["people"]
        best = max(
            (b for b in bases[g]["scores"] if b["arousal_auc"] is not None and not b["name"].startswith("teacher")),
            key=lambda b: b["arousal_auc"],
        )
        teacher = next((b for b in bases[g]["scores"] if b["name"].startswith("teacher")), None)
        baseline_rows.append(
            f"| {g} | {p0['arousal_songs']} | {fmt(evals[g][default]['people']['arousal_auc'])} "
            f"| {fmt(teacher['arousal_auc']) if teacher else ''} | {best['name']}: {fmt(best['arousal_auc'])} |"
        )
        md += [
            "",
            f"## Baselines on {g}",
            "",
            f"Arousal over {p0['arousal_songs']} clips, valence over {p0['valence_songs']}, "
            f"quadrant over the {p0['quadrant_songs']} clips with both labels from the game. "
            "Each descriptor alone, its direction fixed beforehand (higher = positive); the "
            "teacher is the model whose values label the clips where a game says nothing.",
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
        f"## What {precision} costs against f32",
        "",
        "Each shipped file is exported from its run's f32 weights (`trainer export`). "
        "Quadrant F1 (weighted) on the test part of `music/shipped.csv` (rendered and real "
        "music) and on the held-out games (against the CSV's quadrants, where the teacher "
        "completes what the game does not say), and the held-out arousal AUC; in points "
        "(hundredths), shipped minus f32.",
        "",
        "| classifier | test F1 patches: f32 | "
        + precision
        + " | test F1 songs: f32 | "
        + precision
        + " | "
        + " | ".join(f"{g} F1 patches: f32 | {precision} | {g} arousal AUC: f32 | {precision}" for g in games)
        + " | largest F1 loss (points) |",
        "|---|" + "---|" * (4 + 4 * len(games)) + "---|",
    ]
    for r in shipped:
        run = os.path.join(work, "classifiers", r)
        t32 = load(os.path.join(run, "evaluation-test.json"))
        tq = load(os.path.join(run, f"evaluation-test-{precision}.json"))
        pairs = [(f1(t32, "patch"), f1(tq, "patch")), (f1(t32, "song"), f1(tq, "song"))]
        cells = [fmt(x) for p in pairs for x in p]
        for g in games:
            a, b = evals_f32[g][r], evals[g][r]
            pairs.append((f1(a, "patch"), f1(b, "patch")))
            cells += [fmt(f1(a, "patch")), fmt(f1(b, "patch"))]
            cells += [fmt(a["people"]["arousal_auc"]), fmt(b["people"]["arousal_auc"])]
        loss = max(100 * (x - y) for x, y in pairs)
        md.append(f"| {r} | " + " | ".join(cells) + f" | {loss:.2f} |")
    # Song-level F1 on the held-out games: one clip there is worth about 0.6 points.
    song_changes = [
        (100 * (f1(evals[g][r], "song") - f1(evals_f32[g][r], "song")), r, g, evals[g][r]["songs"])
        for r in shipped
        for g in games
    ]
    worst = min(song_changes)
    md += [
        "",
        f"Song-level quadrant F1 on the held-out games (not in the table: one of their "
        f"{min(c[3] for c in song_changes)}-{max(c[3] for c in song_changes)} clips moves it "
        f"by about {100 / min(c[3] for c in song_changes):.1f} points) changes by "
        f"{worst[0]:+.2f} points at worst ({worst[1]}, {worst[2]}) and "
        f"{max(song_changes)[0]:+.2f} at best.",
    ]
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
    for enc, rows in metrics(work, "pretrain"):
        md.append(
            f"| {enc} | {len(rows)} | {joined(rows, 'val_loss')} | {joined(rows, 'val_accuracy')} |"
        )
    md += [
        "",
        "## Transfer curves",
        "",
        "Validation quadrant accuracy (patches) per epoch; phase 0 is Feat. Ext. (frozen "
        "encoder), phase 1 the Full fine-tuning that starts from its best epoch.",
        "",
        "| classifier | Feat. Ext. | Full |",
        "|---|---|---|",
    ]
    for r, rows in metrics(work, "classifiers"):
        phase = lambda p: joined([x for x in rows if x["phase"] == p], "val_quadrant_accuracy")
        md.append(f"| {r} | {phase('0')} | {phase('1')} |")
    md.append("")
    write(out, "\n".join(md))
    if models_readme:
        block = [
            BEGIN,
            "",
            f"Song-level scores on the held-out games ({precision} files; "
            "`results/real-music.md` has the baselines, the cost of the precision and the "
            "training curves):",
            "",
            *shipped_table,
            "",
            f"The default ({default}) against the teacher and the best one-feature baseline "
            "(arousal AUC):",
            "",
            "| held-out game | clips with a game label | default | teacher | best one-feature baseline |",
            "|---|---|---|---|---|",
            *baseline_rows,
            "",
            END,
        ]
        with open(models_readme) as f:
            text = f.read()
        if BEGIN not in text or END not in text:
            sys.exit(f"{models_readme}: no {BEGIN} ... {END} block to replace")
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        write(models_readme, head + "\n".join(block) + tail)


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    main(*sys.argv[1:])
