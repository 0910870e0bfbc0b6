#!/usr/bin/env python3
"""Qualitative figure of gradnorm-nyuv2 predictions (the paper's Fig. 6): input, ground truth and predictions.

Usage: /usr/bin/python3 apps/nyuv2/plot_predictions.py --data DATA EVAL [EVAL ...]
           [--labels NAME,...] [--ids 0,3,7 | --count 4] [--out FIGURE.png]

EVAL is the --out folder of `gradnorm-nyuv2 eval --dump-predictions` (it holds pred/<task>/<id>.npy and
metrics.json); DATA the data set it evaluated (DATA/val/{image,label,depth,normal,keypoint}/<id>.npy).
One row per val image; columns: the RGB input, then per task its ground truth followed by one prediction
per EVAL (labelled with --labels, else the method named in EVAL/metrics.json, else the folder's name):
  seg       a fixed colour per class (the 13 NYUv2 classes, legend below), ignored pixels (-1) black
  depth     one colour scale per row, written under the truth: the range of the valid ground-truth depths
            and of the predictions' 2nd-98th percentiles; invalid ground truth (0) black; predictions are
            drawn everywhere (outliers clipped to the row's scale)
  normal    (n + 1) / 2 as RGB, invalid ground truth (all zero) black
  keypoint  the maximum over the K heatmaps, in [0, 1], over the dimmed image; heatmaps predicted at 1/s
            of the image's size (the ResNet FCN's stride 4) are drawn as s x s blocks
Tasks are those dumped in the first EVAL; every EVAL must hold the same tasks and ids. A missing file, a
missing task folder or shapes that disagree stop the script with an error naming the file (exit status 1).
Needs numpy and matplotlib.
"""
import argparse
import json
import os
import sys

import numpy as np

TASKS = ("seg", "depth", "normal", "keypoint")
TRUTH_FOLDER = {"seg": "label", "depth": "depth", "normal": "normal", "keypoint": "keypoint"}
CLASSES = ("bed", "books", "ceiling", "chair", "floor", "furniture", "objects", "picture", "sofa", "table", "tv",
           "wall", "window")
# A fixed colour per class (0..12, the order above), so every figure colours a class the same way.
CLASS_COLOURS = np.array([
    (0.75, 0.30, 0.30),  # bed
    (0.95, 0.85, 0.20),  # books
    (0.60, 0.85, 0.95),  # ceiling
    (0.90, 0.50, 0.10),  # chair
    (0.55, 0.40, 0.25),  # floor
    (0.40, 0.20, 0.55),  # furniture
    (0.95, 0.40, 0.70),  # objects
    (0.20, 0.65, 0.30),  # picture
    (0.15, 0.35, 0.75),  # sofa
    (0.70, 0.70, 0.20),  # table
    (0.30, 0.90, 0.80),  # tv
    (0.80, 0.80, 0.80),  # wall
    (0.55, 0.75, 1.00),  # window
])


def fail(message):
    sys.exit(f"plot_predictions: {message}")


def load(path):
    if not os.path.isfile(path):
        fail(f"missing file {path}")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 (any unreadable file is reported the same way)
        fail(f"cannot read {path}: {e}")


def numeric_ids(folder):
    if not os.path.isdir(folder):
        fail(f"missing folder {folder}")
    ids = []
    for name in os.listdir(folder):
        stem, ext = os.path.splitext(name)
        if ext == ".npy" and stem.isdigit():
            ids.append(int(stem))
    return sorted(ids)


def expect_shape(array, shape, path, what):
    if tuple(array.shape) != tuple(shape):
        fail(f"{path}: shape {tuple(array.shape)}, expected {tuple(shape)} ({what})")


def read_truth(data, task, i, hw):
    """Ground truth of one val sample, as the data set stores it, checked against the image's H x W."""
    h, w = hw
    path = os.path.join(data, "val", TRUTH_FOLDER[task], f"{i}.npy")
    a = load(path)
    if task == "seg":
        if a.ndim == 3 and a.shape[2] == 1:
            a = a[:, :, 0]
        expect_shape(a, (h, w), path, "the image's H x W")
        return a.astype(np.int64)
    if task == "depth":
        if a.ndim == 3 and a.shape[2] == 1:
            a = a[:, :, 0]
        expect_shape(a, (h, w), path, "the image's H x W")
        return a.astype(np.float64)
    if task == "normal":
        expect_shape(a, (h, w, 3), path, "the image's H x W x 3")
        return a.astype(np.float64)
    if a.ndim != 3 or a.shape[1:] != (h, w):
        fail(f"{path}: shape {tuple(a.shape)}, expected (K, {h}, {w})")
    return a.astype(np.float64)


def keypoint_stride(pred_shape, truth_shape):
    """The integer stride s when pred is K x H/s x W/s against a K x H x W truth (the ResNet FCN predicts
    keypoint heatmaps at 1/4 resolution), else None."""
    if len(pred_shape) != 3 or len(truth_shape) != 3 or pred_shape[0] != truth_shape[0]:
        return None
    (_, ph, pw), (_, th, tw) = pred_shape, truth_shape
    if ph < 1 or pw < 1 or th % ph or tw % pw or th // ph != tw // pw:
        return None
    return th // ph


def read_prediction(run, task, i, truth, truth_path):
    path = os.path.join(run, "pred", task, f"{i}.npy")
    a = load(path)
    if task == "keypoint" and tuple(a.shape) != tuple(truth.shape):
        s = keypoint_stride(tuple(a.shape), tuple(truth.shape))
        if s is not None:  # shown at the image's size, each predicted cell an s x s block
            return np.repeat(np.repeat(a.astype(np.float64), s, axis=1), s, axis=2)
    if tuple(a.shape) != tuple(truth.shape):
        fail(f"{path}: shape {tuple(a.shape)} disagrees with the ground truth {truth_path}, {tuple(truth.shape)}")
    return a.astype(np.int64 if task == "seg" else np.float64)


def seg_rgb(labels, path):
    if labels.min() < -1 or labels.max() >= len(CLASSES):
        fail(f"{path}: labels outside -1..{len(CLASSES) - 1}")
    rgb = np.zeros(labels.shape + (3,))
    valid = labels >= 0
    rgb[valid] = CLASS_COLOURS[labels[valid]]
    return rgb


def normal_rgb(n, mask):
    rgb = np.clip((n + 1.0) / 2.0, 0.0, 1.0)
    rgb[~mask] = 0.0
    return rgb


def run_label(run):
    path = os.path.join(run, "metrics.json")
    if os.path.isfile(path):
        try:
            with open(path) as f:
                method = json.load(f).get("method")
            if method:
                return str(method)
        except (OSError, ValueError):
            pass
    return os.path.basename(os.path.normpath(run))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", metavar="EVAL", help="eval --dump-predictions output folders")
    ap.add_argument("--data", required=True, help="the data set (DATA/val/...)")
    ap.add_argument("--labels", default=None, help="comma separated names of the EVAL folders")
    ap.add_argument("--ids", default=None, help="comma separated val ids (default: the first --count)")
    ap.add_argument("--count", type=int, default=4, help="number of val images when --ids is not given")
    ap.add_argument("--out", default=None, help="figure file (default: FIRST_EVAL/predictions.png)")
    ap.add_argument("--dpi", type=int, default=100)
    args = ap.parse_args()

    runs = args.runs
    labels = args.labels.split(",") if args.labels else [run_label(r) for r in runs]
    if len(labels) != len(runs):
        fail(f"--labels names {len(labels)} runs, {len(runs)} EVAL folders were given")
    first_pred = os.path.join(runs[0], "pred")
    if not os.path.isdir(first_pred):
        fail(f"missing folder {first_pred} (run eval with --dump-predictions)")
    tasks = [t for t in TASKS if os.path.isdir(os.path.join(first_pred, t))]
    if not tasks:
        fail(f"{first_pred} holds no task folder ({', '.join(TASKS)})")
    for run in runs[1:]:
        for t in tasks:
            if not os.path.isdir(os.path.join(run, "pred", t)):
                fail(f"missing folder {os.path.join(run, 'pred', t)} (the first EVAL has {t} predictions)")
    if args.ids:
        try:
            ids = [int(s) for s in args.ids.split(",")]
        except ValueError:
            fail(f"--ids {args.ids}: not a comma separated list of integers")
    else:
        if args.count < 1:
            fail("--count must be at least 1")
        ids = numeric_ids(os.path.join(runs[0], "pred", tasks[0]))[: args.count]
        if not ids:
            fail(f"no predictions in {os.path.join(runs[0], 'pred', tasks[0])}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    # Read and check everything first, so an error leaves no half-drawn figure.
    rows = []
    for i in ids:
        image_path = os.path.join(args.data, "val", "image", f"{i}.npy")
        image = load(image_path)
        if image.ndim != 3 or image.shape[2] != 3:
            fail(f"{image_path}: shape {tuple(image.shape)}, expected (H, W, 3)")
        image = image.astype(np.float64) / (255.0 if image.dtype == np.uint8 else 1.0)
        hw = image.shape[:2]
        row = {"id": i, "image": np.clip(image, 0, 1), "tasks": {}}
        for t in tasks:
            truth = read_truth(args.data, t, i, hw)
            truth_path = os.path.join(args.data, "val", TRUTH_FOLDER[t], f"{i}.npy")
            preds = [read_prediction(run, t, i, truth, truth_path) for run in runs]
            if t == "seg":
                truth_img = seg_rgb(truth, truth_path)
                pred_imgs = [seg_rgb(p, os.path.join(run, "pred", t, f"{i}.npy")) for p, run in zip(preds, runs)]
            elif t == "normal":
                truth_img = normal_rgb(truth, np.any(truth != 0, axis=2))
                pred_imgs = [normal_rgb(p, np.ones(hw, dtype=bool)) for p in preds]
            elif t == "depth":
                truth_img, pred_imgs = truth, preds
            else:
                gray = row["image"].mean(axis=2)
                cmap = plt.get_cmap("magma")

                def heat(h, gray=gray, cmap=cmap):
                    return 0.35 * gray[..., None] + 0.65 * cmap(np.clip(h.max(axis=0), 0, 1))[..., :3]

                truth_img, pred_imgs = heat(truth), [heat(p) for p in preds]
            row["tasks"][t] = (truth, truth_img, pred_imgs)
        rows.append(row)

    ncols = 1 + sum(1 + len(runs) for _ in tasks)
    h, w = rows[0]["image"].shape[:2]
    cell = 1.55
    fig_w = ncols * cell
    fig_h = len(rows) * cell * h / w + 0.9 + (0.45 if "seg" in tasks else 0)
    fig, axes = plt.subplots(len(rows), ncols, figsize=(fig_w, fig_h), squeeze=False)
    depth_cmap = plt.get_cmap("viridis").copy()
    depth_cmap.set_bad("black")
    titles = ["RGB input"]
    for t in tasks:
        titles.append(f"{t} truth")
        titles += [f"{t}: {name}" for name in labels]
    for r, row in enumerate(rows):
        col = 0
        axes[r][col].imshow(row["image"], interpolation="nearest")
        axes[r][col].set_ylabel(f"val {row['id']}", fontsize=8)
        col += 1
        for t in tasks:
            truth, truth_img, pred_imgs = row["tasks"][t]
            if t == "depth":
                valid = truth > 0
                lo, hi = (truth[valid].min(), truth[valid].max()) if valid.any() else (np.inf, -np.inf)
                for p in pred_imgs:  # the scale covers the predictions too (robustly: 2nd-98th percentile)
                    finite = p[np.isfinite(p)]
                    if finite.size:
                        lo, hi = min(lo, np.percentile(finite, 2)), max(hi, np.percentile(finite, 98))
                if not lo < hi:
                    lo, hi = (lo - 0.5, lo + 0.5) if np.isfinite(lo) else (0.0, 1.0)
                axes[r][col].imshow(np.ma.masked_where(~valid, truth), cmap=depth_cmap, vmin=lo, vmax=hi,
                                    interpolation="nearest")
                axes[r][col].set_xlabel(f"{lo:.1f}-{hi:.1f} m", fontsize=7, labelpad=1)
                for k, p in enumerate(pred_imgs):
                    axes[r][col + 1 + k].imshow(p, cmap=depth_cmap, vmin=lo, vmax=hi, interpolation="nearest")
            else:
                axes[r][col].imshow(truth_img, interpolation="nearest")
                for k, p in enumerate(pred_imgs):
                    axes[r][col + 1 + k].imshow(p, interpolation="nearest")
            col += 1 + len(pred_imgs)
    for c in range(ncols):
        axes[0][c].set_title(titles[c], fontsize=8)
        for r in range(len(rows)):
            axes[r][c].set_xticks([])
            axes[r][c].set_yticks([])
    bottom = 0.02
    if "seg" in tasks:
        handles = [Patch(color=CLASS_COLOURS[k], label=name) for k, name in enumerate(CLASSES)]
        handles.append(Patch(color="black", label="ignored / invalid"))
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 7), fontsize=7, frameon=False)
        bottom = 0.45 / fig_h + 0.02
    fig.tight_layout(rect=(0, bottom, 1, 1), pad=0.3, h_pad=0.4, w_pad=0.2)
    out = args.out or os.path.join(runs[0], "predictions.png")
    png = out.lower().endswith(".png")
    fig.savefig(out, dpi=args.dpi, **({"pil_kwargs": {"optimize": True}} if png else {}))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
