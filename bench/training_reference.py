#!/usr/bin/env python3
"""PyTorch reference for `mer/benches/training.rs`: training-step throughput of the paper's
SCAE, CPC and multi-task classifier on the CPU, same layers, same batch (32), same thread
count (torch.set_num_threads(2)), AMSGrad Adam, median of timed steps after two warm-up
steps. Prints a Markdown table.

Run: python3 bench/training_reference.py   (needs: pip install torch librosa soundfile;
the layer helpers are shared with bench/reference.py)
"""

import os
import statistics
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(__file__))
from reference import Classifier, conv_block  # noqa: E402

STEPS = int(os.environ.get("MER_BENCH_STEPS", "10"))
B = int(os.environ.get("MER_BENCH_BATCH", "32"))


def encoder():
    return nn.Sequential(
        nn.BatchNorm2d(1, eps=1e-3, momentum=0.01),
        conv_block(1, 32, (4, 1)),
        conv_block(32, 64, (4, 1)),
        conv_block(64, 128, (2, 1)),
        nn.MaxPool2d((2, 1)),
    )


def deconv(c_in, c_out):
    return nn.Sequential(
        nn.ConvTranspose2d(c_in, c_out, 3, padding=1),
        nn.ReLU(),
        nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.01),
    )


class Scae(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = encoder()
        self.decoder = nn.Sequential(
            nn.Upsample(scale_factor=(4, 1)),
            deconv(128, 128), deconv(128, 128), nn.Dropout(0.25),
            nn.Upsample(scale_factor=(4, 1)),
            deconv(128, 64), deconv(64, 64), nn.Dropout(0.25),
            nn.Upsample(scale_factor=(4, 1)),
            deconv(64, 32),
            nn.ConvTranspose2d(32, 1, 3, padding=1), nn.Sigmoid(),
        )

    def forward(self, x):
        return self.decoder(self.encoder(x))


class Cpc(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(encoder(), nn.Flatten())
        self.code = nn.Sequential(
            nn.Linear(7936, 256), nn.ReLU(), nn.BatchNorm1d(256, eps=1e-3, momentum=0.01),
            nn.Linear(256, 256),
        )
        self.gru = nn.GRU(256, 256, batch_first=True)
        self.predictors = nn.ModuleList([nn.Linear(256, 256) for _ in range(2)])

    def forward(self, x, b):
        codes = self.code(self.encoder(x)).reshape(b, 6, 256)
        _, h = self.gru(codes[:, :4])
        pred = torch.stack([p(h[0]) for p in self.predictors], 1)
        return (pred * codes[:, 4:]).mean(2).mean(1)


def count(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def bench(step):
    step()
    step()
    times = []
    for _ in range(STEPS):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    torch.set_num_threads(2)
    torch.manual_seed(0)
    rows = []

    scae = Scae().train()
    assert count(scae) == 712_803, count(scae)
    opt = torch.optim.Adam(scae.parameters(), lr=1e-3, amsgrad=True)
    x = torch.randn(B, 1, 128, 31) * 2 - 4

    def scae_step():
        opt.zero_grad()
        loss = nn.functional.mse_loss(scae(x + 0.3 * torch.randn_like(x)), torch.sigmoid(x))
        loss.backward()
        opt.step()

    rows.append(("SCAE", B, bench(scae_step)))

    cpc = Cpc().train()
    assert count(cpc) == 2_911_842, count(cpc)
    opt_c = torch.optim.Adam(cpc.parameters(), lr=1e-3, amsgrad=True)
    xc = torch.randn(B * 6, 1, 128, 31) * 2 - 4
    y = (torch.arange(B) % 2).float()

    def cpc_step():
        opt_c.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(cpc(xc, B), y)
        loss.backward()
        opt_c.step()

    rows.append((f"CPC ({B} windows of 6 patches)", B * 6, bench(cpc_step)))

    clf = Classifier().train()
    assert count(clf) == 6_456_426, count(clf)
    opt_k = torch.optim.Adam(clf.parameters(), lr=1e-3, amsgrad=True)
    q, a = torch.arange(B) % 4, torch.arange(B) % 2

    def clf_step():
        opt_k.zero_grad()
        oq, oa, ov = clf(x)
        ce = nn.functional.cross_entropy
        loss = ce(oq, q) + ce(oa, a) + ce(ov, a)
        loss.backward()
        opt_k.step()

    rows.append(("classifier (Full: every layer trained)", B, bench(clf_step)))

    print(f"Training steps in PyTorch {torch.__version__} on the CPU, batch {B}, "
          f"{torch.get_num_threads()} threads, median of {STEPS} steps\n")
    print("| network | patches per step | s per step | patches/s |\n|---|---|---|---|")
    for name, n, s in rows:
        print(f"| {name} | {n} | {s:.3f} | {n / s:.1f} |")


if __name__ == "__main__":
    main()
