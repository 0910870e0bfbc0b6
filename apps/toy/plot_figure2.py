#!/usr/bin/python3
"""Draw the paper's Figure 2 (Chen et al. 2018) from a toy-app run directory.

Usage:
    /usr/bin/python3 apps/toy/plot_figure2.py RUN_DIR [--out FILE.png]

Reads RUN_DIR/metrics.csv, with header
    method,step,test_loss_ratio_sum,w_0..w_{T-1},train_loss_0..,
    test_loss_0..,grad_norm_0..
(one row per logged step per method), and RUN_DIR/*/summary.json (one per
method; sigmas and alpha label the plot). Left panel: w_i(t) of the gradnorm
run; right panel: task-normalised test loss sum_i L_i(t)/L_i(0) per method.
Exits with status 2 and a one-line message when metrics.csv is missing or
malformed, or when the folder does not hold one complete output set: the
app writes RUN_DIR/run.json last (run id, and every file with its size and
64-bit FNV-1a checksum); without it (an interrupted or older run), or when a
listed file differs from it, or a summary.json carries another run's id or is
not listed, the files may come from different runs and nothing is drawn.
"""

import argparse
import csv
import glob
import json
import math
import os
import sys

import matplotlib
matplotlib.use("Agg")  # headless: never needs a display
import matplotlib.pyplot as plt  # noqa: E402

PROG = "plot_figure2"
REQUIRED = ("method", "step", "test_loss_ratio_sum")
# Plot order, labels and colours for the methods the toy app can write.
METHODS = {
    "equal": ("Equal weights", "tab:gray"),
    "static": ("Static weights", "tab:brown"),
    "uncertainty": ("Uncertainty weighting", "tab:orange"),
    "gradnorm-static": ("GradNorm-static", "tab:green"),
    "gradnorm": ("GradNorm", "tab:blue"),
}


class InputError(Exception):
    """Bad or missing input; reported on one line with exit status 2."""


def to_float(text, where, allow_empty=True):
    if text is None:
        raise InputError(f"{where}: fewer fields than the header")
    text = text.strip()
    if text == "" and allow_empty:
        return math.nan   # a value not logged at this step
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{where}: not a number: {text!r}") from None


def read_metrics(path):
    """Returns (T, {method: {"step": [...], "ratio": [...], "w": [[...]]}})."""
    try:
        f = open(path, newline="")
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}") from None
    with f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise InputError(f"{path}: header lacks {', '.join(missing)}")
        tasks = sum(1 for c in header if c.startswith("w_"))
        if tasks == 0 or any(f"w_{i}" not in header for i in range(tasks)):
            raise InputError(f"{path}: header needs columns w_0..w_{{T-1}}")
        runs = {}
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if None in row:   # DictReader's key for surplus fields
                raise InputError(f"{where}: more fields than the header")
            method = (row["method"] or "").strip()
            if not method:
                raise InputError(f"{where}: empty method")
            run = runs.setdefault(method, {"step": [], "ratio": [], "w": []})
            run["step"].append(to_float(row["step"], where, allow_empty=False))
            run["ratio"].append(to_float(row["test_loss_ratio_sum"], where))
            run["w"].append([to_float(row[f"w_{i}"], where)
                             for i in range(tasks)])
    if not runs:
        raise InputError(f"{path}: no data rows")
    for run in runs.values():   # the app may interleave methods
        order = sorted(range(len(run["step"])), key=run["step"].__getitem__)
        for key in run:
            run[key] = [run[key][k] for k in order]
    return tasks, runs


def fnv1a64_hex(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def check_run_set(run_dir):
    """Refuses (InputError) a folder that is not one complete output set."""
    manifest_path = os.path.join(run_dir, "run.json")
    try:
        with open(manifest_path) as f:
            manifest = json.load(f)
        run_id = str(manifest["run_id"])
        files = {str(e["path"]): e for e in manifest["files"]}
    except OSError as e:
        raise InputError(
            f"cannot read {manifest_path}: {e.strerror}: the run was interrupted "
            "(or written by an older gradnorm-toy) and its files may mix runs; "
            "rerun gradnorm-toy") from None
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(f"{manifest_path}: malformed manifest: {e}") from None
    if "metrics.csv" not in files:
        raise InputError(f"{manifest_path}: does not list metrics.csv")
    for rel, e in files.items():
        path = os.path.join(run_dir, rel)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as err:
            raise InputError(f"cannot read {path} (listed in run.json of run "
                             f"{run_id}): {err.strerror}") from None
        if len(data) != e.get("bytes") or fnv1a64_hex(data) != e.get("fnv1a64"):
            raise InputError(f"{path} is not the file run {run_id} wrote "
                             "(size or checksum differs from run.json)")
    for path in sorted(glob.glob(os.path.join(run_dir, "*", "summary.json"))):
        rel = os.path.relpath(path, run_dir).replace(os.sep, "/")
        try:
            with open(path) as f:
                other = json.load(f).get("run_id")
        except (OSError, ValueError, AttributeError):
            other = None
        if other != run_id or rel not in files:
            raise InputError(f"{path} belongs to run {other}, not to run "
                             f"{run_id} of run.json: the folder mixes runs")
    return run_id


def read_summaries(run_dir):
    """{method: summary dict}; unreadable files are skipped with a warning."""
    out = {}
    for path in sorted(glob.glob(os.path.join(run_dir, "*", "summary.json"))):
        try:
            with open(path) as f:
                s = json.load(f)
            out[str(s["method"])] = s
        except (OSError, ValueError, KeyError, TypeError) as e:
            print(f"{PROG}: warning: ignoring {path}: {e}", file=sys.stderr)
    return out


def pick_sigmas_alpha(summaries, tasks):
    # Every method of one run shares the task set; prefer gradnorm's record.
    ordered = sorted(summaries.values(),
                     key=lambda s: s.get("method") != "gradnorm")
    sigmas = alpha = None
    for s in ordered:
        sig = s.get("sigmas")
        if sigmas is None and isinstance(sig, list) and len(sig) == tasks:
            sigmas = [float(v) for v in sig]
        if alpha is None and isinstance(s.get("alpha"), (int, float)):
            alpha = float(s["alpha"])
    if summaries and sigmas is None:
        print(f"{PROG}: warning: no summary.json has {tasks} sigmas",
              file=sys.stderr)
    return sigmas, alpha


def task_colours(tasks, sigmas):
    if tasks <= 2 or sigmas is None:
        cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        colours = [cycle[i % len(cycle)] for i in range(tasks)]
        return colours, list(range(tasks))
    # Rank by sigma so the colour (and legend order) reads as loss scale.
    order = sorted(range(tasks), key=sigmas.__getitem__)
    cmap = plt.get_cmap("viridis")
    colours = [None] * tasks
    for rank, i in enumerate(order):
        colours[i] = cmap(rank / (tasks - 1))
    return colours, order


def plot_weights(ax, run, tasks, sigmas):
    ax.set_title("GradNorm task weights $w_i(t)$")
    ax.set_xlabel("step")
    ax.set_ylabel("$w_i(t)$")
    if run is None:
        ax.text(0.5, 0.5, "no gradnorm run in metrics.csv",
                ha="center", va="center", transform=ax.transAxes)
        return
    colours, order = task_colours(tasks, sigmas)
    for i in order:
        label = f"task {i}"
        if sigmas:
            label += f" ($\\sigma$={sigmas[i]:.3g})"
        ax.plot(run["step"], [w[i] for w in run["w"]],
                color=colours[i], lw=1.5, label=label)
    ax.axhline(1.0, color="black", lw=0.6, ls=":")
    ax.set_ylim(bottom=0)
    if tasks > 4:   # many traces: keep the legend off the curves
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    else:
        ax.legend(fontsize="small")


def plot_test_loss(ax, runs):
    ax.set_title("Task-normalised test loss $\\Sigma_i\\, L_i(t)/L_i(0)$")
    ax.set_xlabel("step")
    ax.set_ylabel("test loss ratio sum")
    known = [m for m in METHODS if m in runs]
    values = []
    for m in known + sorted(set(runs) - set(METHODS)):
        label, colour = METHODS.get(m, (m, None))
        pts = [(s, r) for s, r in zip(runs[m]["step"], runs[m]["ratio"])
               if math.isfinite(r)]
        if not pts:
            continue
        xs, ys = zip(*pts)
        ax.plot(xs, ys, color=colour, lw=1.5, label=label)
        values += ys
    positive = [v for v in values if v > 0]
    # The curves span decades early in training; log y keeps them apart.
    if positive and len(positive) == len(values) and \
            max(positive) / min(positive) > 10:
        ax.set_yscale("log")
    if values:
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "no test loss logged", ha="center", va="center",
                transform=ax.transAxes)


def main():
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    p.add_argument("run_dir", help="directory holding metrics.csv")
    p.add_argument("--out", help="output image (default RUN_DIR/figure2.png)")
    args = p.parse_args()
    out = args.out or os.path.join(args.run_dir, "figure2.png")

    try:
        check_run_set(args.run_dir)
        tasks, runs = read_metrics(os.path.join(args.run_dir, "metrics.csv"))
    except InputError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    sigmas, alpha = pick_sigmas_alpha(read_summaries(args.run_dir), tasks)

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    plot_weights(left, runs.get("gradnorm"), tasks, sigmas)
    plot_test_loss(right, runs)
    title = f"T = {tasks}" + (f", $\\alpha$ = {alpha:g}" if alpha is not None
                              else "")
    fig.suptitle(title)
    fig.tight_layout()
    try:
        fig.savefig(out, dpi=150)
    except (OSError, ValueError) as e:
        reason = e.strerror if isinstance(e, OSError) else e
        print(f"{PROG}: error: cannot write {out}: {reason}", file=sys.stderr)
        return 1
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
