#!/usr/bin/env python3
"""The NYUv2 SegNet step of benchmarks/bench_nyuv2_step.cpp in PyTorch, for comparison.

Same network as apps/nyuv2/models.h at width_mult 0.25 (VGG16 SegNet, BN, ReLU, 2x2 max-pool with indices
reused by max-unpool; the last decoder conv split into per-task heads BN -> ReLU -> conv3x3), same batch
(8 x 3 x 96 x 128, float32), same losses (cross-entropy over 13 classes with ignore -1; MSE for depth (1)
and normals (3)), equal weights (loss = sum of the three), Adam, 2 threads. One step = zero_grad, forward,
backward, optimizer step. Prints the parameter count and the step time (median and mean of repeated runs).

    /usr/bin/python3 benchmarks/nyuv2_torch.py [--threads 2] [--width 0.25] [--steps 20] [--repeats 5]
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

ENCODER = [[(3, 64), (64, 64)], [(64, 128), (128, 128)], [(128, 256), (256, 256), (256, 256)],
           [(256, 512), (512, 512), (512, 512)], [(512, 512), (512, 512), (512, 512)]]
DECODER = [[(512, 512), (512, 512), (512, 512)], [(512, 512), (512, 512), (512, 256)],
           [(256, 256), (256, 256), (256, 128)], [(128, 128), (128, 64)], [(64, 64)]]


def scaled(c, w):
    return c if c == 3 else max(1, round(c * w))


def stage(convs, w):
    layers = []
    for a, b in convs:
        a, b = scaled(a, w), scaled(b, w)
        layers += [nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU(inplace=False)]
    return nn.Sequential(*layers)


class SegNet(nn.Module):
    """Full decoder; the final conv of decoder stage 1 is per task; W = stage 1's 64 -> 64 conv."""

    def __init__(self, w, task_channels):
        super().__init__()
        self.enc = nn.ModuleList(stage(s, w) for s in ENCODER)
        dec = [list(s) for s in DECODER]
        w_in, w_out = dec[-1].pop()
        self.dec = nn.ModuleList(stage(s, w) for s in dec)
        self.shared = nn.Conv2d(scaled(w_in, w), scaled(w_out, w), 3, padding=1)
        z = scaled(w_out, w)
        self.heads = nn.ModuleList(
            nn.Sequential(nn.BatchNorm2d(z), nn.ReLU(), nn.Conv2d(z, c, 3, padding=1)) for c in task_channels)

    def forward(self, x):
        idx, sizes = [], []
        for s in self.enc:
            x = s(x)
            sizes.append(x.shape[-2:])
            x, i = F.max_pool2d(x, 2, 2, return_indices=True)
            idx.append(i)
        for k, s in enumerate(self.dec):
            x = F.max_unpool2d(x, idx[4 - k], 2, 2, output_size=sizes[4 - k])
            x = s(x)
        z = self.shared(x)
        return [h(z) for h in self.heads]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=10, help="steps per timed repeat")
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = SegNet(a.width, [13, 1, 3])
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"params {sum(t.numel() for t in model.parameters())}")
    opt = torch.optim.Adam(model.parameters(), lr=2e-5)
    B, H, W = a.batch, 96, 128
    x = torch.randn(B, 3, H, W)
    seg = torch.randint(-1, 13, (B, H, W))
    depth = torch.randn(B, 1, H, W)
    normals = torch.randn(B, 3, H, W)

    def step():
        opt.zero_grad(set_to_none=False)
        ps, pd, pn = model(x)
        loss = F.cross_entropy(ps, seg, ignore_index=-1) + F.mse_loss(pd, depth) + F.mse_loss(pn, normals)
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    times, cpu = [], []
    for _ in range(a.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(a.steps):
            step()
        times.append((time.perf_counter() - t0) / a.steps * 1e3)
        cpu.append((time.process_time() - c0) / a.steps * 1e3)
    # On a shared machine the wall time includes waiting for a core; the process CPU time (all threads) does not.
    print(f"step wall ms: median {statistics.median(times):.1f} mean {statistics.mean(times):.1f} "
          f"min {min(times):.1f} max {max(times):.1f} (repeats of {a.steps} steps: "
          + ", ".join(f"{t:.1f}" for t in times) + ")")
    print(f"step cpu ms (all threads): median {statistics.median(cpu):.1f} min {min(cpu):.1f}")


if __name__ == "__main__":
    main()
