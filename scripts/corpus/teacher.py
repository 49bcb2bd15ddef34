#!/usr/bin/env python3
"""Teacher of `trainer corpus demo` (stage music-games): scores audio clips with the PyPI
package vibenet 0.1.0 (GPL-3.0-or-later; its ONNX model is bundled in the wheel, nothing is
downloaded). It runs at corpus-build time only, in its own process and virtual environment;
its outputs (two numbers per clip) become labels in music/games/annotations.csv.

    teacher.py --list FILE --out FILE [--threads N]

--list: one audio path per line. --out: CSV `path,valence,energy`, one row per input path in
input order; valence and energy are vibenet's regression outputs clipped to [0, 1] for the
whole clip (the clips are <= 30 s, the length vibenet's student was distilled on). vibenet
decodes with soundfile, mixes to mono and resamples to 16 kHz with soxr.
A file that cannot be scored stops the run with one line naming it (exit 1).
"""
import argparse
import csv
import importlib.resources as resources
import os
import sys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--list", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    a = ap.parse_args()

    with open(a.list, encoding="utf-8") as f:
        paths = [line.rstrip("\n") for line in f if line.strip()]

    import warnings
    warnings.filterwarnings("ignore")  # pydub: "Couldn't find ffmpeg" (not used here)
    import onnxruntime as ort
    from vibenet import load_model

    model = load_model()
    # vibenet 0.1.0 builds SessionOptions with 1 thread but never passes them to the
    # session: re-open its own bundled model with the options applied.
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = max(1, a.threads)
    so.inter_op_num_threads = 1
    with resources.as_file(
        resources.files("vibenet.artifacts") / "efficientnet_model.onnx"
    ) as p:
        model.ort_sess = ort.InferenceSession(
            str(p), sess_options=so, providers=["CPUExecutionProvider"]
        )

    tmp = a.out + ".tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["path", "valence", "energy"])
        for path in paths:
            try:
                r = model.predict(path)[0]
                v, e = float(r.valence), float(r.energy)
            except Exception as ex:  # one clear line, then stop
                print(f"teacher.py: {path}: {type(ex).__name__}: {ex}", file=sys.stderr)
                return 1
            v, e = min(max(v, 0.0), 1.0), min(max(e, 0.0), 1.0)
            out.writerow([path, f"{v:.6f}", f"{e:.6f}"])
    os.replace(tmp, a.out)
    return 0


if __name__ == "__main__":
    # Single-threaded numerics (set before numpy is imported); vibenet's scipy rfft uses
    # all cores regardless, which is why the caller runs one process per core at most.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main())
