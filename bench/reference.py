#!/usr/bin/env python3
"""Reference throughput in Python for `mer/benches/throughput.rs`, on the same 4-minute song.

(a) The librosa recipe of docs/METHOD.md, "Features" (librosa 0.11, reflect padding as in 0.7):
    load at 16 kHz (mono, resampled from 44.1 kHz with librosa's default soxr_hq), y / max|y|,
    |stft(n_fft=2048, win_length=1024, hop_length=512, center=True, pad_mode='reflect')|,
    128-band Slaney mel, ln(M + eps), patches of 31 frames every 15.
(b) The paper's multi-task classifier (6,456,426 trainable parameters, the layers of
    mer/src/model.rs) in PyTorch on the CPU, eval mode, torch.set_num_threads(2).

The song is the WAV file that the Rust bench writes (default $TMPDIR/mer_bench_song.wav, or
MER_BENCH_WAV, or --wav): run the Rust bench first, or bench/run.sh for both.
Every figure is a median. Prints two Markdown tables.

Needs: pip install librosa soundfile torch
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

import librosa
import numpy as np
import soundfile as sf
import torch
from torch import nn

SR = 16000
N_FFT = 2048
WIN_LENGTH = 1024
HOP = 512
N_MELS = 128
PATCH_LEN = 31
PATCH_HOP = 15
EPS = np.finfo(np.float32).eps
BATCHES = (32, 64)
WARM_UP = 2


def median_time(runs, f):
    """Median seconds of `runs` calls of f, after one untimed call."""
    f()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def normalise(y):
    peak = np.max(np.abs(y))
    return y / peak if peak > 0 else y


def log_mel(y, mel_basis):
    """ln(mel @ |stft|): float32 16 kHz samples (already normalised) -> (128, n_frames)."""
    S = np.abs(
        librosa.stft(
            y,
            n_fft=N_FFT,
            hop_length=HOP,
            win_length=WIN_LENGTH,
            window="hann",
            center=True,
            pad_mode="reflect",
        )
    )
    return np.log(mel_basis @ S + EPS)


def patches(L):
    """Patches (N, 1, 128, 31) of 31 frames every 15 frames."""
    n_frames = L.shape[1]
    count = 0 if n_frames < PATCH_LEN else (n_frames - PATCH_LEN) // PATCH_HOP + 1
    out = np.zeros((count, 1, N_MELS, PATCH_LEN), dtype=np.float32)
    for i in range(count):
        out[i, 0] = L[:, PATCH_HOP * i : PATCH_HOP * i + PATCH_LEN]
    return out


def features(y, mel_basis):
    return patches(log_mel(y, mel_basis))


# The classifier: the same layers as mer/src/model.rs (Keras BatchNorm: eps 1e-3).
def conv_block(c_in, c_out, pool):
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding="same"),
        nn.ReLU(),
        nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.01),
        nn.Conv2d(c_out, c_out, 3, padding="same"),
        nn.ReLU(),
        nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.01),
        nn.MaxPool2d(pool),
        nn.Dropout(0.25),
    )


def dense(d_in, d_out):
    return nn.Sequential(nn.Linear(d_in, d_out), nn.ReLU(), nn.Dropout(0.25))


def head(classes):
    return nn.Sequential(dense(512, 512), dense(512, 512), nn.Linear(512, classes))


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.BatchNorm2d(1, eps=1e-3, momentum=0.01),
            conv_block(1, 32, (4, 1)),
            conv_block(32, 64, (4, 1)),
            conv_block(64, 128, (2, 1)),
            nn.MaxPool2d((2, 1)),  # latent (128, 2, 31) = 7936
            nn.Flatten(),
        )
        self.trunk = nn.Sequential(dense(128 * 2 * 31, 512), dense(512, 512), dense(512, 512))
        self.quadrant = head(4)
        self.arousal = head(2)
        self.valence = head(2)

    def forward(self, x):
        h = self.trunk(self.encoder(x))
        return self.quadrant(h), self.arousal(h), self.valence(h)


def predict(model, x):
    """Probabilities of the three heads, read back as one (b, 8) array (as mer does)."""
    with torch.inference_mode():
        q, a, v = model(x)
        probs = torch.cat([q.softmax(1), a.softmax(1), v.softmax(1)], 1)
        return probs.numpy()


def main():
    default_wav = os.environ.get(
        "MER_BENCH_WAV", os.path.join(tempfile.gettempdir(), "mer_bench_song.wav")
    )
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wav", default=default_wav, help="the song the Rust bench wrote")
    ap.add_argument("--runs", type=int, default=int(os.environ.get("MER_BENCH_RUNS", 7)))
    ap.add_argument(
        "--batches", type=int, default=int(os.environ.get("MER_BENCH_BATCHES", 10))
    )
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if not os.path.exists(args.wav):
        sys.exit(f"{args.wav} not found: run the Rust bench first (bench/run.sh runs both)")

    info = sf.info(args.wav)
    seconds = info.frames / info.samplerate
    mel_basis = librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=N_MELS)  # Slaney, float32

    # The decoded song in memory, as the Rust bench holds it: (channels, frames) float32.
    stereo, sr_in = sf.read(args.wav, dtype="float32", always_2d=True)
    stereo = np.ascontiguousarray(stereo.T)

    def prepare(x):
        mono = librosa.to_mono(x)
        return normalise(librosa.resample(mono, orig_sr=sr_in, target_sr=SR))

    def from_file():
        y, _ = librosa.load(args.wav, sr=SR, mono=True)
        return features(normalise(y), mel_basis)

    y16 = prepare(stereo)
    P = features(y16, mel_basis)  # also warms numba / FFT plans up
    t_feat = median_time(args.runs, lambda: features(y16, mel_basis))
    t_prep = median_time(args.runs, lambda: prepare(stereo))
    t_front = median_time(args.runs, lambda: features(prepare(stereo), mel_basis))
    t_load = median_time(args.runs, from_file)

    print()
    print(
        f"### Front end (Python, librosa {librosa.__version__}, numpy {np.__version__}), "
        f"{seconds:.0f} s song: {len(y16)} samples at 16 kHz, {P.shape[0]} patches; "
        f"median of {args.runs} runs"
    )
    print()
    print("| stage | median ms | x real time |")
    print("|---|---:|---:|")
    for name, t in [
        ("log-mel patches from 16 kHz mono (stft + mel + log + patches)", t_feat),
        (f"{sr_in / 1000:g} kHz stereo -> 16 kHz mono + normalise (to_mono + resample soxr_hq)", t_prep),
        (f"full front end: {sr_in / 1000:g} kHz stereo -> mono 16 kHz + normalise + patches", t_front),
        ("WAV file: librosa.load(sr=16000) + normalise + patches", t_load),
    ]:
        print(f"| {name} | {t * 1e3:.1f} | {seconds / t:.0f} |")

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Classifier().eval()
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert n_params == 6_456_426, n_params
    data = torch.from_numpy(P)
    print()
    print(
        f"### Classifier inference (Python, PyTorch {torch.__version__} CPU), "
        f"torch.get_num_threads() = {torch.get_num_threads()}; {n_params} trainable parameters; "
        f"median of {args.batches} batches after {WARM_UP} of warm-up"
    )
    print()
    print("| batch | median ms / batch | patches/s |")
    print("|---:|---:|---:|")
    for batch in BATCHES:
        times = []
        for i in range(WARM_UP + args.batches):
            first = (i * batch) % max(len(P) - batch, 1)
            x = data[first : first + batch].clone()
            start = time.perf_counter()
            probs = predict(model, x)
            elapsed = time.perf_counter() - start
            assert probs.shape == (batch, 8)
            if i >= WARM_UP:
                times.append(elapsed)
        t = statistics.median(times)
        print(f"| {batch} | {t * 1e3:.1f} | {batch / t:.1f} |")


if __name__ == "__main__":
    main()
