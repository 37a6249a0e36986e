"""Speed of the vectorised mAP (``laf.evaluate.evaluation.average_precision``) against a straightforward
per-detection Python loop over a pandas frame (the structure of the ActivityNet reference code), on
20 k detections in 400 videos, 20 classes, 5 tIoU thresholds. Also checks both give the same APs.

Last stdout line: ``{"ratio_vs_loop": x, "vectorised_s": x, "loop_s": x, "max_abs_ap_diff": x, ...}``
(goal: ratio <= 0.1).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as bench/<script>.py
from laf.report.strict_json import bench_main, dumps  # noqa: E402
from laf.quiet import quiet  # noqa: E402

quiet()
from laf.evaluate.evaluation import PAPER_TIOUS, average_precision, tiou  # noqa: E402
from schemas.segment import Detection, Segment  # noqa: E402


def make_data(rng, videos: int, classes: int, detections: int):
    labels = [f"class_{i:02d}" for i in range(classes)]
    gt = {}
    for v in range(videos):
        starts = rng.uniform(0, 170, size=rng.integers(1, 6))
        gt[f"video_{v:04d}"] = [Segment(float(s), float(s + rng.uniform(2, 30)), labels[rng.integers(classes)])
                                for s in starts]
    vids = list(gt)
    dets = []
    for _ in range(detections):
        s = float(rng.uniform(0, 190))
        dets.append(Detection(vids[rng.integers(videos)], s, s + float(rng.uniform(1, 30)),
                              labels[rng.integers(classes)], float(rng.random())))
    return gt, dets


def loop_average_precision(gt_df: pd.DataFrame, pred_df: pd.DataFrame, tious) -> dict:
    """Per class, per detection: look up its video's ground truth in the frame and match greedily."""
    out = {}
    for label in sorted(gt_df["label"].unique()):
        gt = gt_df[gt_df["label"] == label].reset_index(drop=True)
        pred = pred_df[pred_df["label"] == label].reset_index(drop=True)
        pred = pred.loc[np.argsort(-pred["score"].values, kind="stable")].reset_index(drop=True)
        by_video = gt.groupby("video_id")
        lock = np.full((len(tious), len(gt)), -1)
        tp = np.zeros((len(tious), len(pred)))
        fp = np.zeros((len(tious), len(pred)))
        for idx, row in pred.iterrows():
            try:
                video_gt = by_video.get_group(row["video_id"])
            except KeyError:
                fp[:, idx] = 1
                continue
            overlaps = tiou(row["start"], row["end"], video_gt["start"].values, video_gt["end"].values)
            ranked = np.argsort(-overlaps, kind="stable")
            for k, thr in enumerate(tious):
                for j in ranked:
                    if overlaps[j] < thr:
                        fp[k, idx] = 1
                        break
                    if lock[k, video_gt.index[j]] >= 0:
                        continue
                    tp[k, idx] = 1
                    lock[k, video_gt.index[j]] = idx
                    break
                if not tp[k, idx] and not fp[k, idx]:
                    fp[k, idx] = 1
        aps = []
        for k in range(len(tious)):
            tp_c, fp_c = np.cumsum(tp[k]), np.cumsum(fp[k])
            rec = tp_c / len(gt)
            prec = tp_c / np.maximum(tp_c + fp_c, 1)
            mprec, mrec = np.r_[0, prec, 0], np.r_[0, rec, 1]
            for i in range(len(mprec) - 2, -1, -1):
                mprec[i] = max(mprec[i], mprec[i + 1])
            change = np.nonzero(mrec[1:] != mrec[:-1])[0] + 1
            aps.append(float(np.sum((mrec[change] - mrec[change - 1]) * mprec[change])))
        out[label] = aps
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=400)
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--detections", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3, help="vectorised runs; the best is reported")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for name in ("videos", "classes", "detections", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")

    gt, dets = make_data(np.random.default_rng(args.seed), args.videos, args.classes, args.detections)
    gt_df = pd.DataFrame([(v, s.start, s.end, s.label) for v, segs in gt.items() for s in segs],
                         columns=["video_id", "start", "end", "label"])
    pred_df = pd.DataFrame([(d.video_id, d.start, d.end, d.label, d.score) for d in dets],
                           columns=["video_id", "start", "end", "label", "score"])

    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        result = average_precision(gt, dets, PAPER_TIOUS)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    reference = loop_average_precision(gt_df, pred_df, PAPER_TIOUS)
    loop_s = time.perf_counter() - t0

    diff = max(float(np.max(np.abs(result.ap[c] - np.asarray(reference[c])))) for c in reference)
    vectorised_s = min(times)
    print(dumps({
        "ratio_vs_loop": vectorised_s / loop_s,
        "vectorised_s": vectorised_s,
        "loop_s": loop_s,
        "max_abs_ap_diff": diff,
        "mAP": result.to_dict()["mAP"],
        "detections": len(dets), "videos": args.videos, "classes": args.classes, "thresholds": len(PAPER_TIOUS),
    }))


if __name__ == "__main__":
    sys.exit(bench_main("eval_speed", main))
