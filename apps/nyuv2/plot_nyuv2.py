#!/usr/bin/env python3
"""Plots of gradnorm-nyuv2 runs from their metrics.csv files.

Usage: /usr/bin/python3 apps/nyuv2/plot_nyuv2.py RUN [RUN ...] [--out FIGURE.png]

One column per task: the loss weight w_i over training (top), the training loss (middle) and the val error
of the task (bottom: seg 100-mIoU, depth RMSE, normal 1-|cos|, keypoint error %), one line per (run, method).
Tasks and weights are read from the columns (w_0 .., train_loss_0 .., val_<task>_<metric>). Needs matplotlib.
"""
import argparse
import csv
import math
import os
import sys

ERROR_COLUMN = {
    "seg": "val_seg_100_minus_iou",
    "depth": "val_depth_rmse",
    "normal": "val_normal_one_minus_abs_cos",
    "keypoint": "val_keypoint_error_pct",
}


def read_runs(paths):
    runs = []  # (label, tasks, rows by method)
    for path in paths:
        csv_path = path if path.endswith(".csv") else os.path.join(path, "metrics.csv")
        with open(csv_path, newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows:
            sys.exit(f"plot_nyuv2: {csv_path} has no rows")
        tasks = [k for k in ERROR_COLUMN if ERROR_COLUMN[k] in rows[0]]
        by_method = {}
        for r in rows:
            by_method.setdefault(r["method"], []).append(r)
        runs.append((os.path.basename(os.path.normpath(os.path.dirname(csv_path) or ".")), tasks, by_method))
    return runs


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="run folders (holding metrics.csv) or metrics.csv files")
    ap.add_argument("--out", default=None, help="figure file (default: FIRST_RUN/curves.png)")
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = read_runs(args.runs)
    tasks = runs[0][1]
    fig, axes = plt.subplots(3, len(tasks), figsize=(4.2 * len(tasks), 9), squeeze=False)
    for label, run_tasks, by_method in runs:
        for method, rows in by_method.items():
            steps = [number(r["step"]) for r in rows]
            name = f"{label}/{method}" if len(runs) > 1 else method
            for i, task in enumerate(tasks):
                if task not in run_tasks:
                    continue
                k = run_tasks.index(task)
                axes[0][i].plot(steps, [number(r[f"w_{k}"]) for r in rows], label=name)
                axes[1][i].plot(steps, [number(r[f"train_loss_{k}"]) for r in rows], label=name)
                axes[2][i].plot(steps, [number(r[ERROR_COLUMN[task]]) for r in rows], label=name)
    for i, task in enumerate(tasks):
        axes[0][i].set_title(f"{task}: weight w")
        axes[1][i].set_title(f"{task}: train loss")
        axes[2][i].set_title(f"{task}: val {ERROR_COLUMN[task][4:]}")
        for row in axes:
            row[i].set_xlabel("step")
            row[i].grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    out = args.out or os.path.join(args.runs[0] if os.path.isdir(args.runs[0]) else ".", "curves.png")
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
