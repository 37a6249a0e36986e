"""Detection AP as the THUMOS14 evaluation kit computes it (``TH14evalDet``), for numbers comparable
with papers that report THUMOS14 with that kit (the paper's Table 5 among them).

Why beside :func:`laf.evaluate.evaluation.average_precision` (the ActivityNet computation every other
mAP here uses): the kit gives other numbers on the same detections. Per class and video it

- sorts the video's detections by confidence, then lets each ground-truth segment, in time order, take
  the free detection it overlaps most (the first of equal ones), if that tIoU is *greater* than the
  threshold: matching runs from the ground truth's side, not from the detections' in score order;
- drops from the list a detection that matched nothing and overlaps an Ambiguous segment of its video
  (a matched one stays a true positive);
- ranks the kept detections of all videos by confidence (equal ones in the order of video name, then of
  confidence within the video) and takes the *non-interpolated* AP: the sum of the precision at each
  true positive over the number of ground-truth segments. A class without detections scores 0.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from laf.evaluate.evaluation import APResult, Detection
from schemas.segment import Segment

Key = Tuple[str, str]  # (video, class)


def _overlap(gt: np.ndarray, det: np.ndarray) -> np.ndarray:
    """[G, D] the kit's interval overlap: intersection over the span of both, 0 unless they intersect."""
    inter = np.minimum(gt[:, None, 1], det[None, :, 1]) - np.maximum(gt[:, None, 0], det[None, :, 0])
    span = np.maximum(gt[:, None, 1], det[None, :, 1]) - np.minimum(gt[:, None, 0], det[None, :, 0])
    return np.where(inter > 0, inter / np.where(span > 0, span, 1.0), 0.0)


def _matched(gt: np.ndarray, det: np.ndarray, threshold: float) -> np.ndarray:
    """[D] which of a video's detections (sorted by confidence) ground-truth segments took."""
    taken = np.zeros(len(det), bool)
    if not len(gt):
        return taken
    overlap = _overlap(gt, det)
    for row in overlap:
        free = np.flatnonzero(~taken)
        if free.size:
            best = free[np.argmax(row[free])]
            if row[best] > threshold:
                taken[best] = True
    return taken


def _class_ap(videos: Sequence[str], gt: Mapping[Key, np.ndarray], det: Mapping[Key, np.ndarray],
              ambiguous: Mapping[str, np.ndarray], label: str, threshold: float) -> float:
    confidence: List[np.ndarray] = []
    positive: List[np.ndarray] = []
    for video in videos:
        found = det.get((video, label))
        if found is None:
            continue
        found = found[np.argsort(-found[:, 2], kind="stable")]
        tp = _matched(gt.get((video, label), np.zeros((0, 2))), found[:, :2], threshold)
        amb = ambiguous.get(video)
        kept = tp | ~(_overlap(amb, found[:, :2]) > 0).any(0) if amb is not None else np.ones(len(found), bool)
        confidence.append(found[kept, 2])
        positive.append(tp[kept])
    if not confidence:
        return 0.0
    order = np.argsort(-np.concatenate(confidence), kind="stable")
    tp = np.concatenate(positive)[order]
    precision = np.cumsum(tp) / np.arange(1, len(tp) + 1)
    n_gt = sum(len(v) for (_, c), v in gt.items() if c == label)
    return float(precision[tp].sum() / n_gt)


def average_precision(ground_truth: Mapping[str, Sequence[Segment]], detections: Sequence[Detection],
                      tious: Sequence[float] = (0.5,),
                      ambiguous: Optional[Mapping[str, Sequence[Segment]]] = None) -> APResult:
    """AP per class with ground truth and per tIoU threshold, by the THUMOS14 kit (module docstring)."""
    gt: Dict[Key, List[Tuple[float, float]]] = {}
    for video, segments in ground_truth.items():
        for s in segments:
            gt.setdefault((video, s.label), []).append((s.start, s.end))
    classes = sorted({label for _, label in gt})
    gt_arrays = {k: np.asarray(sorted(v), np.float64) for k, v in gt.items()}  # time order
    det: Dict[Key, List[Tuple[float, float, float]]] = {}
    for d in detections:
        det.setdefault((d.video_id, d.label), []).append((d.start, d.end, d.score))
    det_arrays = {k: np.asarray(v, np.float64) for k, v in det.items()}
    amb = {v: np.asarray([(s.start, s.end) for s in segs], np.float64).reshape(-1, 2)
           for v, segs in (ambiguous or {}).items() if segs}
    videos = sorted({v for v, _ in gt} | {v for v, _ in det})
    ap = {label: np.array([_class_ap(videos, gt_arrays, det_arrays, amb, label, t) for t in tious])
          for label in classes}
    return APResult(tuple(float(t) for t in tious), ap)
