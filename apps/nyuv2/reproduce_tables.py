#!/usr/bin/env python3
"""The paper's Tables 1 and 2 (Section 5.2) on synthetic NYUv2-like scenes, over several seeds.

Usage:
  python3 apps/nyuv2/reproduce_tables.py --out runs/nyu_tables --seeds 1,2,3 --steps 1000 --jobs 2

Table 1 (VGG SegNet; depth, segmentation, normals): depth only, seg only, normals only, equal weights,
GradNorm static, GradNorm alpha = 1.5. Table 2 (thin ResNet FCN; depth, keypoints, normals): the three
single-task networks, equal weights, uncertainty weighting (Kendall et al.), GradNorm static, GradNorm
alpha = 1.5 (the paper's Table 2 also has a VGG half: --table2-model segnet). The ResNet FCN predicts at 1/4
of the input resolution; its keypoint targets are the heatmaps' 4x4 block means (multitask/task.h). GradNorm static is retrained with the time-averaged weights E_t[w_i(t)] of the same seed's
GradNorm run (summary.json's mean_weights), as the paper does.

Every run is one `gradnorm-nyuv2 train` child (at most --jobs at once, --threads 1 each), in
OUT/table<N>_<model>/seed_<s>/<row>/; a run whose summary.json says "finished" is not run again, so the script
resumes. The data set is written once by `gradnorm-nyuv2 synth` into OUT/data (with keypoint heatmaps). It
writes OUT/tables.md (mean +- sd over seeds of each task's error, lower is better; per claim, in how many
seeds it held) and OUT/tables.json. These are synthetic scenes at a small size: the numbers say whether the
paper's orderings hold on this data and these settings, nothing about NYUv2 itself.
"""
import argparse
import concurrent.futures
import json
import math
import os
import statistics
import subprocess
import sys

TASK_ERROR = {  # summary.json metric key of each task's error (the paper's Table 1 and 2 measures)
    "depth": ("depth_rmse", "depth RMS"),
    "seg": ("seg_100_minus_iou", "seg 100-IoU"),
    "normal": ("normal_one_minus_abs_cos", "normals 1-|cos|"),
    "keypoint": ("keypoint_error_pct", "kpt err %"),
}

TABLES = {
    1: {"model": "segnet", "tasks": ["depth", "seg", "normal"],
        "rows": ["depth_only", "seg_only", "normal_only", "equal", "gradnorm_static", "gradnorm"]},
    2: {"model": "resnet-fcn", "tasks": ["depth", "keypoint", "normal"],
        "rows": ["depth_only", "keypoint_only", "normal_only", "equal", "uncertainty", "gradnorm_static",
                 "gradnorm"]},
}
ROW_LABEL = {"equal": "Equal weights", "uncertainty": "Uncertainty (Kendall et al.)",
             "gradnorm_static": "GradNorm static", "gradnorm": "GradNorm alpha = 1.5"}


def row_label(row):
    return ROW_LABEL.get(row, row.replace("_only", "").capitalize() + " only")


def run(cmd, log):
    with open(log, "w") as f:
        return subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode


def summary_of(run_dir, method):
    path = os.path.join(run_dir, method, "summary.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def finished(run_dir, method):
    s = summary_of(run_dir, method)
    return s is not None and s.get("status") == "finished" and os.path.exists(os.path.join(run_dir, "run.json"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--app", default="build/apps/nyuv2/gradnorm-nyuv2")
    ap.add_argument("--out", required=True)
    ap.add_argument("--tables", default="1,2", help="1, 2 or 1,2")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3, help="network lr (the paper's 2e-5 is for the full networks)")
    ap.add_argument("--width-mult", type=float, default=0.125)
    ap.add_argument("--alpha", type=float, default=1.5)
    ap.add_argument("--train", type=int, default=400)
    ap.add_argument("--val", type=int, default=100)
    ap.add_argument("--height", type=int, default=48)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--keypoints", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--table2-model", default="resnet-fcn", choices=["resnet-fcn", "segnet"])
    ap.add_argument("--report-only", action="store_true", help="run nothing: tabulate the runs finished so far")
    args = ap.parse_args()
    try:
        tables = [int(t) for t in args.tables.split(",")]
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        sys.exit("reproduce_tables: --tables and --seeds are comma-separated integers")
    if not tables or any(t not in TABLES for t in tables) or not seeds or min(seeds) < 0:
        sys.exit("reproduce_tables: --tables takes 1 and/or 2; --seeds non-negative integers")
    if args.steps < 1 or args.jobs < 1 or args.batch < 1:
        sys.exit("reproduce_tables: --steps, --jobs and --batch must be >= 1")
    if not os.access(args.app, os.X_OK):
        sys.exit(f"reproduce_tables: {args.app} is not an executable (build it first: bash scripts/build.sh)")
    TABLES[2]["model"] = args.table2_model
    os.makedirs(args.out, exist_ok=True)

    data = os.path.join(args.out, "data")
    if not args.report_only and not os.path.exists(os.path.join(data, "val")):
        cmd = [args.app, "synth", "--out", data, "--train", str(args.train), "--val", str(args.val), "--height",
               str(args.height), "--width", str(args.width), "--seed", "1", "--keypoints", str(args.keypoints)]
        if run(cmd, os.path.join(args.out, "synth.log")) != 0:
            sys.exit(f"reproduce_tables: synth failed, see {args.out}/synth.log")

    decay_steps = max(1, round(0.3 * args.steps))  # the paper: x0.2 every 6000 of 20000 steps

    def command(table, seed, row, static_weights=None):
        spec = TABLES[table]
        tasks = [row[:-5]] if row.endswith("_only") else spec["tasks"]
        method = {"gradnorm_static": "gradnorm-static"}.get(row, row if not row.endswith("_only") else "equal")
        run_dir = os.path.join(args.out, f"table{table}_{TABLES[table]['model']}", f"seed_{seed}", row)
        cmd = [args.app, "train", "--data", data, "--out", run_dir, "--model", spec["model"], "--width-mult",
               str(args.width_mult), "--tasks", ",".join(tasks), "--method", method, "--alpha", str(args.alpha),
               "--steps", str(args.steps), "--batch", str(args.batch), "--lr", str(args.lr), "--lr-decay", "0.2",
               "--lr-decay-steps", str(decay_steps), "--eval-every", str(max(1, args.steps // 10)), "--seed",
               str(seed), "--threads", "1", "--device", "cpu", "--quiet"]
        if static_weights:
            cmd += ["--static-weights", ",".join(f"{w:.17g}" for w in static_weights)]
        return run_dir, method, cmd

    def launch(jobs):
        todo = [(d, m, c) for d, m, c in jobs if not finished(d, m) and not args.report_only]
        failed = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = {}
            for d, m, c in todo:
                os.makedirs(d, exist_ok=True)
                futures[pool.submit(run, c, os.path.join(d, "log.txt"))] = d
            for f in concurrent.futures.as_completed(futures):
                if f.result() != 0:
                    failed.append(futures[f])
                print(f"reproduce_tables: {futures[f]} exit {f.result()}", flush=True)
        return failed

    # Table by table: every row but GradNorm static, then GradNorm static from GradNorm's E_t[w_i(t)].
    failed = []
    for t in tables:
        failed += launch([command(t, s, r) for s in seeds for r in TABLES[t]["rows"] if r != "gradnorm_static"])
        phase2 = []
        for s in seeds:
            gn = summary_of(os.path.join(args.out, f"table{t}_{TABLES[t]['model']}", f"seed_{s}", "gradnorm"), "gradnorm")
            if gn and gn.get("status") == "finished":
                phase2.append(command(t, s, "gradnorm_static", gn["mean_weights"]))
        failed += launch(phase2)

    report, record = [], {"settings": vars(args), "tables": {}}
    for t in tables:
        spec = TABLES[t]
        errors = {}  # row -> task -> [error per seed]
        for r in spec["rows"]:
            errors[r] = {}
            method = "gradnorm-static" if r == "gradnorm_static" else ("equal" if r.endswith("_only") else r)
            for s in seeds:
                summ = summary_of(os.path.join(args.out, f"table{t}_{spec['model']}", f"seed_{s}", r), method)
                if not summ or summ.get("status") != "finished":
                    continue
                for task in spec["tasks"]:
                    v = summ.get("metrics", {}).get(TASK_ERROR[task][0])
                    if isinstance(v, (int, float)) and math.isfinite(v):
                        errors[r].setdefault(task, []).append((s, v))
        record["tables"][t] = {r: {k: dict(v) for k, v in e.items()} for r, e in errors.items()}
        report.append(f"## Table {t} ({spec['model']}, synthetic scenes; {len(seeds)} seeds, {args.steps} steps)\n")
        report.append("| method | " + " | ".join(TASK_ERROR[k][1] for k in spec["tasks"]) + " |")
        report.append("|---|" + "---|" * len(spec["tasks"]))
        means = {r: {k: statistics.mean(x for _, x in v) for k, v in e.items()} for r, e in errors.items()}
        for r in spec["rows"]:
            cells = []
            for k in spec["tasks"]:
                vals = [x for _, x in errors[r].get(k, [])]
                if not vals:
                    cells.append("-")
                    continue
                sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
                best = min(means[q][k] for q in spec["rows"] if k in means[q])
                text = f"{statistics.mean(vals):.4f} +- {sd:.4f}"
                cells.append(f"**{text}**" if means[r][k] == best else text)
            report.append(f"| {row_label(r)} | " + " | ".join(cells) + " |")
        report.append("")

        def paired(a, b, k):  # seeds where row a's error < row b's, of the seeds both have
            ea, eb = dict(errors[a].get(k, [])), dict(errors[b].get(k, []))
            common = sorted(set(ea) & set(eb))
            return sum(ea[s] < eb[s] for s in common), len(common)

        report.append("Paired over seeds (in how many seeds the first row's error is lower):\n")
        others = [r for r in ("equal", "uncertainty", "gradnorm_static") if r in spec["rows"]]
        for k in spec["tasks"]:
            parts = []
            for o in others + [f"{k}_only"]:
                w, n = paired("gradnorm", o, k)
                parts.append(f"vs {row_label(o).lower()} {w}/{n}")
            report.append(f"- {TASK_ERROR[k][1]}: GradNorm " + ", ".join(parts))
        report.append("")
    if failed:
        report.append("Failed runs (see their log.txt): " + ", ".join(failed) + "\n")
    with open(os.path.join(args.out, "tables.md"), "w") as f:
        f.write("\n".join(report))
    with open(os.path.join(args.out, "tables.json"), "w") as f:
        json.dump(record, f, indent=1)
    print("\n".join(report))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
