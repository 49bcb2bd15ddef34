#!/usr/bin/env python3
"""Makes tests/real-clips/ from a built demo corpus (stdlib and `lame` only).

Usage: python3 tests/real-clips/make.py CORPORA   (the folder of `trainer corpus demo`)

From 0 A.D.'s held-out clips (corpora/music/games/heldout-0ad.csv, labels read from the
game's data: battle music = arousal positive, peace music = negative): every battle clip,
and as many peace clips again, spread evenly over the peace clips sorted by file name
(the i-th of n at index i * len // n; no clip is picked by how any model scores it). Each
30 s clip is encoded as 32 kbit/s MP3 and listed in annotations.csv with the corpus's
columns. trainer/tests/real_clips.rs scores the page's default model on them.
"""
import csv
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main(corpora):
    games = os.path.join(corpora, "music", "games")
    with open(os.path.join(games, "heldout-0ad.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    battle = sorted((r for r in rows if r["Arousal"] == "positive"), key=lambda r: r["Songs"])
    peace = sorted((r for r in rows if r["Arousal"] == "negative"), key=lambda r: r["Songs"])
    n = len(battle)
    picked = battle + [peace[i * len(peace) // n] for i in range(n)]
    out_rows = []
    for r in picked:
        name = os.path.splitext(os.path.basename(r["Songs"]))[0] + ".mp3"
        dest = os.path.join(HERE, name)
        src = os.path.join(games, r["Songs"])
        subprocess.run(
            ["lame", "--quiet", "-m", "m", "-b", "32", "--noreplaygain", src, dest + ".tmp"],
            check=True,
        )
        os.replace(dest + ".tmp", dest)
        out_rows.append({**r, "Songs": name})
    with open(os.path.join(HERE, "annotations.csv.tmp"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(out_rows)
    os.replace(os.path.join(HERE, "annotations.csv.tmp"), os.path.join(HERE, "annotations.csv"))
    print(f"{len(out_rows)} clips ({n} battle, {n} peace) -> {HERE}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
