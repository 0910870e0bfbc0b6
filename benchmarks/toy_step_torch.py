#!/usr/bin/python3
"""PyTorch reference step times for the paper's toy multitask model.

Times one full training step (zero grad, forward, backward, optimizer step)
of the GradNorm toy regression network (Chen et al. 2018, Section 4) in three
variants, so the C++ step can be compared against a familiar baseline:

  equal                 loss = sum_i L_i
  gradnorm_torch        GradNorm as public PyTorch code usually writes it:
                        G_i from autograd.grad(create_graph=True), dLgrad/dw
                        by double backward
  gradnorm_closed_form  same update using dLgrad/dw_i = sign(G_i - t_i) g_i,
                        with g_i from first-order autograd.grad per task

Model: trunk Linear(250,100) ReLU Linear(100,100) ReLU Linear(100,100) ReLU
Linear(100,100) (the last one is W, the last shared layer, output z), then T
heads ReLU Linear(100,100). MSE per task, Adam(1e-3) for the network and
Adam(0.025) for the task weights w.

Run with Debian's interpreter (see scripts/install_torch.sh):
    /usr/bin/python3 benchmarks/toy_step_torch.py --threads 1
    /usr/bin/python3 benchmarks/toy_step_torch.py --tasks 10 --json
On a GPU (scripts/gpu_check.sh, profile bench), with a CUDA build of torch:
    python3 benchmarks/toy_step_torch.py --device cuda --json
There the model, the weights and the pre-generated batches live on the GPU
and every timed step ends with torch.cuda.synchronize().
"""

import argparse
import gc
import json
import math
import os
import re
import statistics
import sys
import time

VARIANTS = ("equal", "gradnorm_torch", "gradnorm_closed_form")
IN_DIM, HIDDEN, OUT_DIM = 250, 100, 100
NET_LR, WEIGHT_LR = 1e-3, 0.025
DATA_POOL = 8          # distinct pre-generated batches, cycled through
EQUIV_STEPS = 10       # steps over which (b) and (c) must agree
EQUIV_ATOL = 1e-5


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", type=int, action="append",
                   help="number of tasks T (repeatable; default: 2 and 10)")
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--steps", type=int, default=300, help="timed steps")
    p.add_argument("--warmup", type=int, default=30, help="untimed steps")
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op (OpenMP) threads")
    p.add_argument("--blas-threads", type=int, default=1,
                   help="OpenBLAS threads (default 1: see below)")
    p.add_argument("--alpha", type=float, default=0.12)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--variants", nargs="+", choices=VARIANTS,
                   default=list(VARIANTS))
    p.add_argument("--device", default="cpu",
                   help="torch device: cpu (default) or cuda / cuda:N")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object per (variant, T) on stdout; "
                        "the table goes to stderr")
    args = p.parse_args()
    args.tasks = args.tasks or [2, 10]
    if min(args.tasks) < 1 or args.batch < 1 or args.steps < 1 \
            or args.warmup < 1 or min(args.threads, args.blas_threads) < 1:
        p.error("--tasks, --batch, --steps, --warmup and the thread counts "
                "must be >= 1")
    return args


# Must happen before torch is imported: Debian's torch calls the system BLAS
# (OpenBLAS via alternatives), whose own thread pool torch.set_num_threads
# does not control. With both pools at 2 threads on a 2-core machine they
# spin against each other (measured ~5x slower steps), so BLAS defaults to 1.
ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None:
    os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.blas_threads)

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402


# ---------------------------------------------------------------- model, data

class ToyNet(nn.Module):
    def __init__(self, tasks):
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Linear(IN_DIM, HIDDEN), nn.ReLU(),
            nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
            nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
            nn.Linear(HIDDEN, HIDDEN))
        self.heads = nn.ModuleList(
            nn.Sequential(nn.ReLU(), nn.Linear(HIDDEN, OUT_DIM))
            for _ in range(tasks))

    @property
    def shared_weight(self):
        """W.weight: the parameter GradNorm measures gradient norms at."""
        return self.trunk[-1].weight

    def task_losses(self, x, targets):
        z = self.trunk(x)
        return torch.stack([F.mse_loss(head(z), y)
                            for head, y in zip(self.heads, targets)])


def toy_sigmas(tasks, gen):
    # Paper: (1, 100) for T = 2; "a wide normal distribution" otherwise, for
    # which a log-uniform spread over [1, 100] stands in.
    if tasks == 2:
        return torch.tensor([1.0, 100.0])
    return torch.exp(torch.rand(tasks, generator=gen) * math.log(100.0))


def toy_batches(tasks, batch, sigmas, gen, device="cpu"):
    """Pre-generated batches so data generation stays out of the timing.

    Targets follow the paper's f_i(x) = sigma_i tanh((B + eps_i) x), with B
    and eps_i drawn from N(0, 10) and N(0, 3.5) (read as std) and x ~ N(0, 1).
    """
    b = torch.randn(OUT_DIM, IN_DIM, generator=gen) * 10.0
    mats = [b + torch.randn(OUT_DIM, IN_DIM, generator=gen) * 3.5
            for _ in range(tasks)]
    pool = []
    for _ in range(DATA_POOL):
        x = torch.randn(batch, IN_DIM, generator=gen)
        ys = [float(s) * torch.tanh(x @ m.T) for s, m in zip(sigmas, mats)]
        pool.append((x, ys))
    if device != "cpu":   # drawn on the CPU, so every device sees the same data
        pool = [(x.to(device), [y.to(device) for y in ys]) for x, ys in pool]
    return pool


# ---------------------------------------------------------------- the steps

class Trainer:
    """Network, task weights and optimizers; step() is one timed step."""

    def __init__(self, variant, tasks, alpha, seed, device="cpu"):
        torch.manual_seed(seed)   # same init for every variant at a given T
        self.variant = variant
        self.tasks = tasks
        self.alpha = alpha
        self.net = ToyNet(tasks).to(device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=NET_LR)
        self.w = torch.ones(tasks, requires_grad=True, device=device)
        self.w_opt = torch.optim.Adam([self.w], lr=WEIGHT_LR)
        self.loss0 = None
        self.step = {"equal": self._step_equal,
                     "gradnorm_torch": self._step_gradnorm_torch,
                     "gradnorm_closed_form": self._step_closed_form}[variant]

    def _step_equal(self, x, ys):
        self.opt.zero_grad(set_to_none=True)
        losses = self.net.task_losses(x, ys)
        losses.sum().backward()
        self.opt.step()
        return losses.detach()

    def _loss_ratios(self, losses):
        if self.loss0 is None:
            self.loss0 = losses.detach().clone()
        r = losses.detach() / self.loss0
        return r / r.mean()

    def _finish_gradnorm(self, weighted_sum, w_grad):
        weighted_sum.backward()    # network grads (also leaves L_i in w.grad)
        self.w.grad = w_grad       # ... which GradNorm replaces
        self.opt.step()
        self.w_opt.step()
        with torch.no_grad():
            self.w.mul_(self.tasks / self.w.sum())

    def _step_gradnorm_torch(self, x, ys):
        self.opt.zero_grad(set_to_none=True)
        self.w_opt.zero_grad(set_to_none=True)
        losses = self.net.task_losses(x, ys)
        weighted = self.w * losses
        shared = self.net.shared_weight
        # T second-order-capable backward passes down to W.
        norms = torch.stack([
            torch.autograd.grad(weighted[i], shared, retain_graph=True,
                                create_graph=True)[0].norm()
            for i in range(self.tasks)])
        target = (norms.mean() * self._loss_ratios(losses) ** self.alpha)
        target = target.detach()
        lgrad = (norms - target).abs().sum()
        # Double backward; the graph is still needed by the network backward.
        w_grad, = torch.autograd.grad(lgrad, self.w, retain_graph=True)
        self._finish_gradnorm(weighted.sum(), w_grad)
        return losses.detach()

    def _step_closed_form(self, x, ys):
        self.opt.zero_grad(set_to_none=True)
        self.w_opt.zero_grad(set_to_none=True)
        losses = self.net.task_losses(x, ys)
        shared = self.net.shared_weight
        # g_i = ||grad_W L_i||, first order only.
        g = torch.stack([
            torch.autograd.grad(losses[i], shared, retain_graph=True)[0].norm()
            for i in range(self.tasks)])
        w = self.w.detach()
        norms = w * g
        target = norms.mean() * self._loss_ratios(losses) ** self.alpha
        # G_i = w_i g_i with g_i independent of w, so the |G - target| grad
        # is exact without a second-order graph.
        w_grad = torch.sign(norms - target) * g
        self._finish_gradnorm((self.w * losses).sum(), w_grad)
        return losses.detach()


# ---------------------------------------------------------------- checks

def check_equivalence(tasks, batch, alpha, seed, device="cpu"):
    """(b) and (c) must produce the same task weights; exit 1 otherwise."""
    gen = torch.Generator().manual_seed(seed + 1)
    pool = toy_batches(tasks, batch, toy_sigmas(tasks, gen), gen, device)
    b = Trainer("gradnorm_torch", tasks, alpha, seed, device)
    c = Trainer("gradnorm_closed_form", tasks, alpha, seed, device)
    for k in range(EQUIV_STEPS):
        x, ys = pool[k % len(pool)]
        b.step(x, ys)
        c.step(x, ys)
    diff = (b.w.detach() - c.w.detach()).abs().max().item()
    if not diff <= EQUIV_ATOL:
        sys.exit(f"toy_step_torch: FAIL T={tasks}: gradnorm_torch and "
                 f"gradnorm_closed_form weights differ by {diff:.3g} "
                 f"(> {EQUIV_ATOL}) after {EQUIV_STEPS} steps")
    return diff


def blas_info():
    cfg = torch.__config__.show()
    info = {key.lower(): m.group(1) for key in ("BLAS_INFO", "LAPACK_INFO")
            if (m := re.search(key + r"=([^,\s]+)", cfg))}
    # BLAS_INFO=generic says only "some libblas.so.3"; name the one loaded.
    torch.ones(8, 8) @ torch.ones(8, 8)
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({os.path.realpath(line.split()[-1]) for line in f
                           if re.search(r"/lib(open)?blas|mkl_", line)})
    except OSError:
        libs = []
    info["blas_libraries"] = libs
    info["mkl"] = torch.backends.mkl.is_available()
    return info


# ---------------------------------------------------------------- timing

def time_variant(variant, tasks, args):
    gen = torch.Generator().manual_seed(args.seed + 1)
    pool = toy_batches(tasks, args.batch, toy_sigmas(tasks, gen), gen,
                       args.device)
    trainer = Trainer(variant, tasks, args.alpha, args.seed, args.device)
    # CUDA runs asynchronously: a step is timed until its kernels finish.
    if args.device == "cpu":
        def sync():
            pass
    else:
        def sync():
            torch.cuda.synchronize(args.device)
    for k in range(args.warmup):
        x, ys = pool[k % DATA_POOL]
        trainer.step(x, ys)
    sync()
    times = []
    gc.collect()
    gc.disable()   # keep collector pauses out of individual step times
    try:
        for k in range(args.steps):
            x, ys = pool[(args.warmup + k) % DATA_POOL]
            t0 = time.perf_counter()
            losses = trainer.step(x, ys)
            sync()
            times.append((time.perf_counter() - t0) * 1e3)
    finally:
        gc.enable()
    finite = bool(torch.isfinite(losses).all()) and \
        bool(torch.isfinite(trainer.w).all())
    if not finite:
        sys.exit(f"toy_step_torch: FAIL {variant} T={tasks}: non-finite "
                 f"loss or weights after {args.warmup + args.steps} steps")
    if len(times) >= 2:
        deciles = statistics.quantiles(times, n=10, method="inclusive")
        p10, p90 = deciles[0], deciles[-1]
    else:
        p10 = p90 = times[0]
    return {
        "variant": variant, "tasks": tasks, "batch": args.batch,
        "steps": args.steps, "warmup": args.warmup,
        "median_ms": statistics.median(times), "p10_ms": p10, "p90_ms": p90,
        "mean_ms": statistics.fmean(times),
        "final_losses": [round(v, 6) for v in losses.tolist()],
        "final_w": [round(v, 6) for v in trainer.w.detach().tolist()],
    }


def main(args):
    torch.set_num_threads(args.threads)
    common = {"threads": torch.get_num_threads(),
              "blas_threads": args.blas_threads,
              "torch_version": torch.__version__, "blas": blas_info()}
    if args.device != "cpu":
        common["device"] = args.device
        common["device_name"] = torch.cuda.get_device_name(args.device)
    table = sys.stderr if args.json else sys.stdout
    print(f"torch {torch.__version__}, threads {common['threads']}, "
          f"BLAS threads {args.blas_threads}, BLAS {common['blas']}",
          file=table)
    if args.device != "cpu":
        print(f"device {args.device}: {common['device_name']}", file=table)
    print(f"{'T':>3} {'variant':<22} {'median ms':>10} {'p10 ms':>9} "
          f"{'p90 ms':>9} {'vs equal':>9}", file=table)
    for tasks in args.tasks:
        diff = check_equivalence(tasks, args.batch, args.alpha, args.seed,
                                 args.device)
        base = None
        for variant in args.variants:
            res = time_variant(variant, tasks, args)
            res.update(common)
            res["equivalence_max_abs_w_diff"] = diff
            if variant == "equal":
                base = res["median_ms"]
            ratio = f"{res['median_ms'] / base:8.2f}x" if base else ""
            print(f"{tasks:>3} {variant:<22} {res['median_ms']:>10.3f} "
                  f"{res['p10_ms']:>9.3f} {res['p90_ms']:>9.3f} {ratio:>9}",
                  file=table, flush=True)
            if args.json:
                print(json.dumps(res), flush=True)
        print(f"    (gradnorm_torch vs closed form: max |w diff| = "
              f"{diff:.2e} after {EQUIV_STEPS} steps)", file=table)


if __name__ == "__main__":
    main(ARGS)
