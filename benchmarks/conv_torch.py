#!/usr/bin/python3
"""PyTorch twin of benchmarks/bench_conv_cpu.cpp: conv2d, float32, 3x3, stride 1,
padding 1, with bias, batch 2, at 64->64 @160x160, 128->128 @80x80,
256->256 @40x40 and 512->512 @20x20; forward alone and forward + backward
(gradients of input, weight and bias against a fixed upstream gradient).
GFLOP/s = 2 B C_out C_in 9 H W per forward (3x that with the backward) per
wall second; median of --repeats timed runs after --warmup untimed ones.

    /usr/bin/python3 benchmarks/conv_torch.py --threads 1

On a GPU, twin of benchmarks/bench_conv_cuda.cpp (scripts/gpu_check.sh,
profile bench, runs both on the same GPU):

    python3 benchmarks/conv_torch.py --device cuda --batch 24 --json

There the tensors live on the GPU and every timed run ends with
torch.cuda.synchronize(). cuDNN is set up to match what gradnorm's cuDNN
path does (kernels/cuda/conv_cudnn.cpp: the algorithm from cuDNN's
heuristics, once per shape; deterministic algorithms; no TF32):
  - torch.backends.cudnn.benchmark = False: no autotuning, the heuristics
    pick the algorithm (as gradnorm does);
  - --deterministic off (default) | on | both: torch.use_deterministic_algorithms
    and torch.backends.cudnn.deterministic; gradnorm only uses deterministic
    algorithms, so "on" is the like-for-like row and "off" shows what
    PyTorch's default gives up to be unrestricted ("both" times each);
  - TF32 off (torch.backends.cudnn.allow_tf32 = False), as gradnorm asks
    cuDNN for plain FMA math; --tf32 turns it on (PyTorch's default for
    convolutions) for reference.
--json prints one JSON object (settings and rows) on stdout and the table on
stderr.
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

CASES = [(64, 160), (128, 80), (256, 40), (512, 20)]


def time_case(channels, size, backward, args):
    batch, device = args.batch, args.device
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(batch, channels, size, size, generator=g) * 2 - 1).to(device)
    w = ((torch.rand(channels, channels, 3, 3, generator=g) * 2 - 1) * 0.05).to(device)
    b = ((torch.rand(channels, generator=g) * 2 - 1) * 0.05).to(device)
    seed = (torch.rand(batch, channels, size, size, generator=g) * 2 - 1).to(device)
    for t in (x, w, b):
        t.requires_grad_(backward)

    def step():
        y = F.conv2d(x, w, b, stride=1, padding=1)
        if backward:
            torch.autograd.grad(y, (x, w, b), seed)
        if device != "cpu":
            torch.cuda.synchronize()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    sec = statistics.median(times)
    flops = 2.0 * batch * channels * channels * 9 * size * size * (3 if backward else 1)
    return sec, flops / sec / 1e9


def set_deterministic(on):
    torch.backends.cudnn.deterministic = on
    torch.use_deterministic_algorithms(on)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs per case (default 1)")
    ap.add_argument("--batch", type=int, default=2, help="batch size (default 2, as bench_conv_cpu; 24 on the GPU)")
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda / cuda:N")
    ap.add_argument("--deterministic", choices=("off", "on", "both"), default="off",
                    help="deterministic algorithms (CUDA; default off, see above)")
    ap.add_argument("--tf32", action="store_true", help="let cuDNN use TF32 (CUDA; default off)")
    ap.add_argument("--json", action="store_true", help="JSON on stdout, the table on stderr")
    args = ap.parse_args()
    if min(args.threads, args.repeats, args.warmup, args.batch) < 1:
        ap.error("--threads, --repeats, --warmup and --batch must be >= 1")
    cuda = args.device != "cpu"
    # cuBLAS asks for this under use_deterministic_algorithms(True) (convolutions do not use cuBLAS, but
    # the setting must be there before CUDA starts).
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.set_num_threads(args.threads)
    modes = {"off": [False], "on": [True], "both": [False, True]}[args.deterministic] if cuda else [False]
    info = {"torch": torch.__version__, "threads": args.threads, "device": args.device, "batch": args.batch,
            "repeats": args.repeats, "warmup": args.warmup}
    if cuda:
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.allow_tf32 = args.tf32
        info.update(device_name=torch.cuda.get_device_name(args.device), cudnn=torch.backends.cudnn.version(),
                    cudnn_benchmark=False, tf32=args.tf32)
    table = sys.stderr if args.json else sys.stdout
    if cuda:
        print(f"torch {torch.__version__}, {args.device} ({info['device_name']}), cuDNN {info['cudnn']}, "
              f"batch {args.batch}, cudnn.benchmark off, TF32 {'on' if args.tf32 else 'off'}", file=table)
    else:
        print(f"torch {torch.__version__}, {args.threads} thread(s), {args.device}"
              + (f", batch {args.batch}" if args.batch != 2 else ""), file=table)
    rows = []
    for det in modes:
        if cuda:
            set_deterministic(det)
            print(f"deterministic algorithms {'on' if det else 'off'}:", file=table)
        for channels, size in CASES:
            for backward in (False, True):
                sec, gflops = time_case(channels, size, backward, args)
                name = f"conv2d_{'fwd_bwd' if backward else 'fwd'}/{channels}x{size}"
                row = {"name": name, "ms": sec * 1e3, "gflops": gflops}
                if cuda:
                    row["deterministic"] = det
                rows.append(row)
                print(f"{name:<24} {row['ms']:9.2f} ms  {gflops:7.1f} GFLOP/s", file=table, flush=True)
    if args.json:
        print(json.dumps({**info, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
