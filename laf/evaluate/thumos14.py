"""Detection AP as the THUMOS14 evaluation kit computes it (``TH14evalDet`` in its updated form, whose
AP is not interpolated; the first release took 11-point interpolated AP and listed every true positive
before the false positives of equal confidence), for numbers comparable with papers that report
THUMOS14 with that kit.

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

from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from laf.evaluate import evaluation
from laf.evaluate.evaluation import APResult
from schemas.segment import Detection, Segment

Key = Tuple[str, str]  # (video, class)
PROTOCOLS = ("activitynet", "thumos14")  # how mAP matches and averages (evaluation.protocol, laf evaluate --protocol)


def by_protocol(protocol: str) -> Callable[..., APResult]:
    """The AP computation a protocol names: ``evaluation.average_precision`` (ActivityNet) or this
    module's; an unknown name is an error, never a silent fallback to either."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown mAP protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    return average_precision if protocol == "thumos14" else evaluation.average_precision


def _overlap(gt: np.ndarray, det: np.ndarray) -> np.ndarray:
    """[G, D] the kit's interval overlap (intersection over the span of both, 0 unless they intersect),
    which is the tIoU: intersecting intervals span their union."""
    return evaluation.tiou(gt[:, None, 0], gt[:, None, 1], det[None, :, 0], det[None, :, 1])


def _matched(overlap: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """[K, D] which of a video's detections (sorted by confidence) its ground-truth segments took at
    each threshold, from their [G, D] overlaps (segments in time order)."""
    taken = np.zeros((len(thresholds), overlap.shape[1]), bool)
    rows = np.arange(len(thresholds))
    for row in overlap:
        free = np.where(taken, -1.0, row[None])  # the first of equal overlaps among the free ones
        best = free.argmax(1)
        taken[rows, best] |= free[rows, best] > thresholds
    return taken


def _class_ap(found: Sequence[Tuple[np.ndarray, np.ndarray, np.ndarray]], n_gt: int,
              thresholds: Sequence[float]) -> np.ndarray:
    """[K] AP of one class from ``found``: per video with detections of the class (videos in name
    order), its confidences sorted descending, their [G, D] overlaps with its ground truth, and
    whether each lies on an Ambiguous segment."""
    thresholds = np.asarray(thresholds, np.float64)
    ap = np.zeros(len(thresholds))
    if not found:
        return ap
    confidence = np.concatenate([conf for conf, _, _ in found])
    tp = np.concatenate([_matched(overlap, thresholds) for _, overlap, _ in found], axis=1)  # [K, D]
    on_ambiguous = np.concatenate([amb for _, _, amb in found])
    for k in range(len(thresholds)):
        kept = tp[k] | ~on_ambiguous
        order = np.argsort(-confidence[kept], kind="stable")
        hits = tp[k][kept][order]
        precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
        ap[k] = precision[hits].sum() / n_gt
    return ap


def average_precision(ground_truth: Mapping[str, Sequence[Segment]], detections: Sequence[Detection],
                      tious: Sequence[float] = (0.5,),
                      ambiguous: Optional[Mapping[str, Sequence[Segment]]] = None) -> APResult:
    """AP per class with ground truth and per tIoU threshold, by the THUMOS14 kit (module docstring)."""
    gt: Dict[Key, List[Tuple[float, float]]] = {}
    for video, segments in ground_truth.items():
        for s in segments:
            gt.setdefault((video, s.label), []).append((s.start, s.end))
    det: Dict[Key, List[Tuple[float, float, float]]] = {}
    for d in detections:
        det.setdefault((d.video_id, d.label), []).append((d.start, d.end, d.score))
    amb = {v: np.asarray([(s.start, s.end) for s in segs], np.float64)
           for v, segs in (ambiguous or {}).items() if segs}
    found: Dict[str, List[Tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    for (video, label), rows in sorted(det.items()):
        rows = np.asarray(rows, np.float64)
        rows = rows[np.argsort(-rows[:, 2], kind="stable")]
        truth = np.asarray(sorted(gt.get((video, label), [])), np.float64).reshape(-1, 2)  # time order
        on_ambiguous = (_overlap(amb[video], rows[:, :2]) > 0).any(0) if video in amb else np.zeros(len(rows), bool)
        found.setdefault(label, []).append((rows[:, 2], _overlap(truth, rows[:, :2]), on_ambiguous))
    n_gt: Dict[str, int] = {}
    for (_, label), segments in gt.items():
        n_gt[label] = n_gt.get(label, 0) + len(segments)
    return APResult(tuple(float(t) for t in tious),
                    {label: _class_ap(found.get(label, []), n_gt[label], tious) for label in sorted(n_gt)})
