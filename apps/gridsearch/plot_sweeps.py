#!/usr/bin/env python3
"""Figures of a gradnorm-gridsearch sweep directory (the kind is read from DIR/sweep.json):
  grid   DIR/figure4.png: each static network's average per-task change against GradNorm (%) vs the L2
         distance of its weights to GradNorm's time-averaged weights (paper Fig. 4)
  alpha  DIR/figure5.png: the weights w_i(t) over training at each alpha, and the change against equal
         weighting per alpha (paper Fig. 5)
  seeds  DIR/seeds.png: each method's score over seeds (mean and standard deviation)
usage: python3 apps/gridsearch/plot_sweeps.py DIR
"""
import csv
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def plot_grid(d):
    rows = read_csv(os.path.join(d, "gridsearch.csv"))
    with open(os.path.join(d, "summary.json")) as f:
        summary = json.load(f)
    x = [float(r["distance"]) for r in rows]
    y = [float(r["change_pct"]) for r in rows]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.scatter(x, y, s=14)
    ax.axhline(0, color="k", lw=0.8, ls="--", label="GradNorm")
    r = summary.get("pearson_distance_change")
    title = f"{len(rows)} static networks vs GradNorm"
    if r is not None:
        title += f" (Pearson r = {r:.2f})"
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("L2 distance of w_static to GradNorm's E_t[w_i(t)]")
    ax.set_ylabel("average change in task error vs GradNorm (%)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    out = os.path.join(d, "figure4.png")
    fig.savefig(out, dpi=130)
    return out


def weight_trace(alpha_dir):
    rows = [r for r in read_csv(os.path.join(alpha_dir, "metrics.csv")) if r["method"] == "gradnorm"]
    cols = sorted((k for k in rows[0] if k.startswith("w_")), key=lambda k: int(k[2:]))
    steps = [int(r["step"]) for r in rows]
    return steps, [[float(r[c]) for r in rows] for c in cols]


def weight_labels(alpha_dir, count):
    """w_<task name> when the run's summary names its tasks (gradnorm-nyuv2: "tasks": ["depth", ...]), else w_i."""
    try:
        with open(os.path.join(alpha_dir, "gradnorm", "summary.json")) as f:
            tasks = json.load(f).get("tasks")
    except (OSError, ValueError):
        tasks = None
    if isinstance(tasks, list) and len(tasks) == count and all(isinstance(t, str) for t in tasks):
        return [f"w_{t}" for t in tasks]
    return [f"w_{i}" for i in range(count)]


def plot_alpha(d):
    rows = read_csv(os.path.join(d, "alpha.csv"))
    alphas = [r["alpha"] for r in rows]
    n = len(alphas)
    cols = min(n, 3)
    trace_rows = math.ceil(n / cols)
    fig = plt.figure(figsize=(4 * cols, 2.6 * trace_rows + 3))
    grid = fig.add_gridspec(trace_rows + 1, cols)
    for k, a in enumerate(alphas):
        ax = fig.add_subplot(grid[k // cols, k % cols])
        steps, ws = weight_trace(os.path.join(d, f"alpha_{a}"))
        labels = weight_labels(os.path.join(d, f"alpha_{a}"), len(ws))
        for label, w in zip(labels, ws):
            ax.plot(steps, w, lw=1, label=label if len(ws) <= 4 else None)
        ax.set_title(f"alpha = {a}", fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel("w_i(t)", fontsize=8)
        if len(ws) <= 4 and k == 0:
            ax.legend(fontsize=7)
    ax = fig.add_subplot(grid[trace_rows, :])
    ax.plot([float(a) for a in alphas], [float(r["change_vs_equal_pct"]) for r in rows], "o-")
    ax.axhline(0, color="k", lw=0.8, ls="--", label="equal weighting")
    ax.set_xlabel("alpha")
    ax.set_ylabel("average change in task error\nvs equal weighting (%)")
    ax.legend()
    fig.tight_layout()
    out = os.path.join(d, "figure5.png")
    fig.savefig(out, dpi=80)
    return out


def plot_seeds(d):
    with open(os.path.join(d, "summary.json")) as f:
        summary = json.load(f)
    methods = list(summary["methods"])
    means = [summary["methods"][m]["mean"] for m in methods]
    sds = [summary["methods"][m]["sd"] for m in methods]
    fig, ax = plt.subplots(figsize=(1.6 * len(methods) + 2, 3.5))
    ax.bar(methods, means, yerr=sds, capsize=4)
    for k, m in enumerate(methods):
        ax.scatter([k] * len(summary["methods"][m]["scores"]), summary["methods"][m]["scores"], color="k", s=8)
    ax.set_ylabel("score (lower is better)")
    ax.set_title(f"{summary['seeds_complete']} seeds: mean, sd and each seed", fontsize=10)
    fig.tight_layout()
    out = os.path.join(d, "seeds.png")
    fig.savefig(out, dpi=130)
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    d = sys.argv[1]
    try:
        with open(os.path.join(d, "sweep.json")) as f:
            kind = json.load(f)["kind"]
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"plot_sweeps: {d} is not a sweep directory ({e})")
    out = {"grid": plot_grid, "alpha": plot_alpha, "seeds": plot_seeds}[kind](d)
    print(f"plot_sweeps: wrote {out}")


if __name__ == "__main__":
    main()
