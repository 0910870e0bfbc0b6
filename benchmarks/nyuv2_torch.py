#!/usr/bin/env python3
"""The NYUv2 SegNet step of benchmarks/bench_nyuv2_step.cpp in PyTorch, for comparison.

Same network as apps/nyuv2/models.h at width_mult 0.25 (VGG16 SegNet, BN, ReLU, 2x2 max-pool with indices
reused by max-unpool; the last decoder conv split into per-task heads BN -> ReLU -> conv3x3), same batch
(8 x 3 x 96 x 128, float32), same losses (cross-entropy over 13 classes with ignore -1; MSE for depth (1)
and normals (3)), equal weights (loss = sum of the three), Adam, 2 threads. One step = zero_grad, forward,
backward, optimizer step. Prints the parameter count and the step time (median and mean of repeated runs).
Parameter counts match ours: 1,847,505 at width 0.25 and 29,453,073 at width 1 with the three heads
(29,443,585 with one 1-channel head, nyuv2::kSegNetParams).

    /usr/bin/python3 benchmarks/nyuv2_torch.py [--threads 2] [--width 0.25] [--steps 20] [--repeats 5]

On a GPU, the twin of BM_SegNetStepCuda (full SegNet, 288x384, batch 24; scripts/gpu_check.sh, profile
bench, step segnet, runs it):

    python3 benchmarks/nyuv2_torch.py --device cuda --width 1 --height 288 --image-width 384 --batch 24 \
        --warmup 5 --steps 20 --repeats 3 --json

On CUDA: torch.backends.cudnn.benchmark = True (cuDNN autotunes every conv shape during the warm-up steps,
which are not timed: PyTorch eager at its fastest), TF32 off (cudnn.allow_tf32 and matmul.allow_tf32 False,
as gradnorm asks cuDNN for plain FMA math; --tf32 turns it on, PyTorch's default for convolutions), and
torch.cuda.synchronize() before the clock starts and before it stops, so a repeat's time is the device's.
--json prints one JSON object on stdout (the human-readable lines go to stderr).
"""
import argparse
import json
import statistics
import sys
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
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    p.add_argument("--width", type=float, default=0.25, help="width multiplier (1: the paper's SegNet)")
    p.add_argument("--height", type=int, default=96, help="input height")
    p.add_argument("--image-width", type=int, default=128, help="input width")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--steps", type=int, default=10, help="steps per timed repeat")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--tf32", action="store_true", help="let cuDNN use TF32 (CUDA; default off)")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout; the text goes to stderr")
    a = p.parse_args()
    say = (lambda *m: print(*m, file=sys.stderr, flush=True)) if a.json else print
    cuda = a.device == "cuda"
    if cuda and not torch.cuda.is_available():
        sys.exit("nyuv2_torch.py: --device cuda but torch.cuda.is_available() is False")
    torch.set_num_threads(a.threads)
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = a.tf32
        torch.backends.cuda.matmul.allow_tf32 = a.tf32
    dev = torch.device(a.device)
    torch.manual_seed(1)
    model = SegNet(a.width, [13, 1, 3]).to(dev)
    params = sum(t.numel() for t in model.parameters())
    where = (f"device {torch.cuda.get_device_name(dev)}, cudnn {torch.backends.cudnn.version()}, "
             f"cudnn.benchmark True, tf32 {a.tf32}" if cuda else f"threads {torch.get_num_threads()}")
    say(f"torch {torch.__version__}, {where}, params {params}")
    opt = torch.optim.Adam(model.parameters(), lr=2e-5)
    B, H, W = a.batch, a.height, a.image_width
    x = torch.randn(B, 3, H, W).to(dev)
    seg = torch.randint(-1, 13, (B, H, W)).to(dev)
    depth = torch.randn(B, 1, H, W).to(dev)
    normals = torch.randn(B, 3, H, W).to(dev)
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    def step():
        opt.zero_grad(set_to_none=False)
        ps, pd, pn = model(x)
        loss = F.cross_entropy(ps, seg, ignore_index=-1) + F.mse_loss(pd, depth) + F.mse_loss(pn, normals)
        loss.backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    sync()
    times, cpu = [], []
    for _ in range(a.repeats):
        sync()
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(a.steps):
            step()
        sync()
        times.append((time.perf_counter() - t0) / a.steps * 1e3)
        cpu.append((time.process_time() - c0) / a.steps * 1e3)
    # On a shared machine the wall time includes waiting for a core; the process CPU time (all threads) does not.
    say(f"step wall ms: median {statistics.median(times):.1f} mean {statistics.mean(times):.1f} "
        f"min {min(times):.1f} max {max(times):.1f} (repeats of {a.steps} steps: "
        + ", ".join(f"{t:.1f}" for t in times) + ")")
    say(f"step cpu ms (all threads): median {statistics.median(cpu):.1f} min {min(cpu):.1f}")
    if a.json:
        out = {"torch": torch.__version__, "device": a.device, "params": params, "width_mult": a.width,
               "batch": B, "height": H, "image_width": W, "warmup": a.warmup, "steps": a.steps, "repeats": a.repeats,
               "step_ms_median": statistics.median(times), "step_ms_min": min(times), "step_ms": times,
               "step_cpu_ms_median": statistics.median(cpu), "images_per_s": B * 1e3 / statistics.median(times)}
        if cuda:
            out.update(gpu=torch.cuda.get_device_name(dev), cudnn=torch.backends.cudnn.version(),
                       cudnn_benchmark=True, tf32=a.tf32,
                       max_memory_allocated_gib=torch.cuda.max_memory_allocated(dev) / 2**30)
        else:
            out.update(threads=torch.get_num_threads())
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
