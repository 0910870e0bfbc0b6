#!/usr/bin/python3
"""PyTorch twin of benchmarks/bench_conv_cpu.cpp: conv2d, float32, 3x3, stride 1,
padding 1, with bias, batch 2, at 64->64 @160x160, 128->128 @80x80,
256->256 @40x40 and 512->512 @20x20; forward alone and forward + backward
(gradients of input, weight and bias against a fixed upstream gradient).
GFLOP/s = 2 B C_out C_in 9 H W per forward (3x that with the backward) per
wall second; median of --repeats timed runs after a warm-up.

    /usr/bin/python3 benchmarks/conv_torch.py --threads 1
"""

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

CASES = [(64, 160), (128, 80), (256, 40), (512, 20)]
BATCH = 2


def time_case(channels, size, backward, repeats, device):
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(BATCH, channels, size, size, generator=g) * 2 - 1).to(device)
    w = ((torch.rand(channels, channels, 3, 3, generator=g) * 2 - 1) * 0.05).to(device)
    b = ((torch.rand(channels, generator=g) * 2 - 1) * 0.05).to(device)
    seed = (torch.rand(BATCH, channels, size, size, generator=g) * 2 - 1).to(device)
    for t in (x, w, b):
        t.requires_grad_(backward)

    def step():
        y = F.conv2d(x, w, b, stride=1, padding=1)
        if backward:
            torch.autograd.grad(y, (x, w, b), seed)
        if device != "cpu":
            torch.cuda.synchronize()

    step()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    sec = statistics.median(times)
    flops = 2.0 * BATCH * channels * channels * 9 * size * size * (3 if backward else 1)
    return sec, flops / sec / 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for channels, size in CASES:
        for backward in (False, True):
            sec, gflops = time_case(channels, size, backward, args.repeats, args.device)
            name = f"conv2d_{'fwd_bwd' if backward else 'fwd'}/{channels}x{size}"
            rows.append({"name": name, "ms": sec * 1e3, "gflops": gflops})
    if args.json:
        print(json.dumps({"torch": torch.__version__, "threads": args.threads, "rows": rows}, indent=1))
    else:
        print(f"torch {torch.__version__}, {args.threads} thread(s), {args.device}")
        for r in rows:
            print(f"{r['name']:<24} {r['ms']:9.2f} ms  {r['gflops']:7.1f} GFLOP/s")


if __name__ == "__main__":
    main()
