#!/usr/bin/env python3
"""Helper of `trainer corpus demo`: exports symbolic melodies from music21's corpus and
converts Chinese text to pinyin / zhuyin with pypinyin. Output is JSON, read by
trainer/src/corpus.rs. Deterministic for the same arguments and package versions.

    helper.py melodies --western N --chinese N --out FILE
    helper.py pinyin --text FILE --max-sentences N --out FILE
"""
import argparse
import json
import re
import sys
import warnings

warnings.filterwarnings("ignore")

# European folk collections of the Essen folk song database in music21's corpus
# (German, Lorraine, Luxembourg, Italian, Danish ballads... ; the Han Chinese ones are
# han1/han2).
EUROPEAN_FOLK = [
    "altdeu10", "altdeu20", "ballad10", "ballad20", "ballad30", "boehme10", "boehme20",
    "erk10", "erk20", "erk30", "kinder0", "lot", "lux", "zuccal0", "dva0", "fink0",
]
CHINESE_FOLK = ["han1", "han2"]


def piece_json(score, ident, source, title, collection):
    from music21 import meter
    try:
        k = score.analyze("key")
        tonic, mode = k.tonic.pitchClass, k.mode
    except Exception:  # noqa: BLE001 - key analysis fails on odd input: skip the piece
        return None
    parts = []
    for part in score.parts:
        notes = []
        for n in part.flatten().notes:
            dur = float(n.quarterLength)
            if dur <= 0:
                continue  # grace notes
            pitches = [p.midi for p in n.pitches]
            notes.append([round(float(n.offset), 4), round(dur, 4), pitches])
        if notes:
            parts.append(notes)
    if not parts:
        return None
    ts = score.recurse().getElementsByClass(meter.TimeSignature)
    beats = 4.0
    if ts:
        beats = float(ts[0].barDuration.quarterLength) or 4.0
    length = max(n[0] + n[1] for p in parts for n in p)
    if length < 4:
        return None
    return {
        "id": ident,
        "source": source,
        "title": title or "",
        "collection": collection,
        "tonic": tonic,
        "mode": mode,
        "bar_ql": beats,
        "length_ql": length,
        "parts": parts,
    }


def essen(names, limit, prefix):
    """Tunes of Essen collections, parsed one by one (parsing a whole opus is slow)."""
    from music21 import converter, corpus
    out = []
    for name in names:
        if len(out) >= limit:
            break
        path = corpus.getWork("essenFolksong/" + name)
        text = open(path, encoding="latin-1").read()
        tunes = re.split(r"(?m)^(?=X:)", text)
        head, tunes = tunes[0], tunes[1:]
        for i, tune in enumerate(tunes):
            if len(out) >= limit:
                break
            m = re.match(r"X:\s*(\d+)", tune)
            num = int(m.group(1)) if m else i + 1
            try:
                s = converter.parse(tune, format="abc")
            except Exception:  # noqa: BLE001 - a tune music21 cannot read: skip it
                continue
            t = re.search(r"(?m)^T:(.*)$", tune)
            title = t.group(1).strip() if t else ""
            p = piece_json(s, f"{prefix}-{name}-{num}", f"music21 corpus essenFolksong/{name}.abc X:{num}", title, name)
            if p:
                out.append(p)
    return out


def spread(names, limit, prefix):
    """Draw tunes from several collections in equal shares so that none dominates."""
    per = max(1, -(-limit // len(names)))
    out = []
    for name in names:
        out += essen([name], per, prefix)
    return out[:limit]


def melodies(args):
    from music21 import corpus
    western = []
    n_chorales = args.western // 2
    for path in sorted(corpus.getComposer("bach"), key=str):
        if len(western) >= n_chorales:
            break
        rel = str(path).split("corpus/")[-1]
        if not rel.endswith(".mxl"):
            continue
        try:
            s = corpus.parse(rel)
        except Exception:  # noqa: BLE001
            continue
        title = s.metadata.title if s.metadata else ""
        p = piece_json(s, "bach-" + rel.split("/")[-1].replace(".mxl", ""), "music21 corpus " + rel, title, "bach chorales")
        if p and 2 <= len(p["parts"]) <= 5:
            western.append(p)
    western += spread(EUROPEAN_FOLK, args.western - len(western), "folk")
    chinese = spread(CHINESE_FOLK, args.chinese, "han")
    json.dump({"western": western, "chinese": chinese}, open(args.out, "w"))
    print(f"melodies: {len(western)} western, {len(chinese)} chinese", file=sys.stderr)


def pinyin(args):
    from pypinyin import Style, pinyin as py
    text = open(args.text, encoding="utf-8", errors="ignore").read()
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # fortune files colour titles
    sentences = []
    for chunk in re.split(r"[。！？；\n%]+", text):
        han = "".join(c for c in chunk if "\u4e00" <= c <= "\u9fff" or c in "，、,")
        han = re.sub(r"[，、,]+", "，", han).strip("，")
        n = sum(1 for c in han if c != "，")
        if n < 4 or n > 60:
            continue
        phrases = [p for p in han.split("，") if p]
        tone3 = [[s[0] for s in py(p, style=Style.TONE3, neutral_tone_with_five=True)] for p in phrases]
        zhuyin = [[s[0] for s in py(p, style=Style.BOPOMOFO)] for p in phrases]
        sentences.append({"text": han, "pinyin": tone3, "zhuyin": zhuyin})
        if len(sentences) >= args.max_sentences:
            break
    json.dump(sentences, open(args.out, "w"), ensure_ascii=False)
    print(f"pinyin: {len(sentences)} sentences", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("melodies")
    m.add_argument("--western", type=int, required=True)
    m.add_argument("--chinese", type=int, required=True)
    m.add_argument("--out", required=True)
    p = sub.add_parser("pinyin")
    p.add_argument("--text", required=True)
    p.add_argument("--max-sentences", type=int, required=True)
    p.add_argument("--out", required=True)
    args = ap.parse_args()
    {"melodies": melodies, "pinyin": pinyin}[args.cmd](args)


if __name__ == "__main__":
    main()
