"""What a trained model learned, measured against the ground truth (diagnostics, never training).

Fine-grained siblings share their scene, so a model can score a perfect activity Hit@1 and still
pick one fixed sibling. These numbers say where: the linear-probe bound on action frames, the
model's own accuracy there, how informative the LAF scores are and how much training weight they
put on action frames, video Hit@1 under each fusion, and whether context frames collapse onto one
class per activity.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from laf.errors import UserError
from laf.evaluate import evaluation
from laf.transfer.moments import usable_std
from schemas.records import VideoRecord

Outputs = Dict[str, np.ndarray]  # per video: probabilities [T, N], actionness [T] (optional)


def _inside(record: VideoRecord, segments) -> np.ndarray:
    """[T] frames of ``record`` whose time lies in one of ``segments`` (start inclusive, end exclusive)."""
    t = np.asarray(record.timestamps, np.float64)
    inside = np.zeros(len(t), bool)
    for segment in segments:
        inside |= (t >= segment.start) & (t < segment.end)
    return inside


def action_mask(record: VideoRecord) -> np.ndarray:
    """[T] frames inside a ground-truth segment of the video's own label, and not Ambiguous."""
    indices = record.segment_label_indices or [None] * len(record.segments)
    own = [s for s, index in zip(record.segments, indices) if index is None or index == record.label_index]
    return _inside(record, own) & ~ambiguous_mask(record)


def ambiguous_mask(record: VideoRecord) -> np.ndarray:
    """[T] frames inside an Ambiguous segment: neither action nor context, as THUMOS14 scores them."""
    return _inside(record, record.ambiguous)


def _action_masks(records: Sequence[VideoRecord], split: str, classes: int = 1) -> List[np.ndarray]:
    """Each record's :func:`action_mask`; a split whose action frames show fewer than ``classes``
    labels is a UserError."""
    masks = [action_mask(r) for r in records]
    found = {r.label_index for r, mask in zip(records, masks) if mask.any()}
    if len(found) < classes:
        why = "are its videos' segments annotated?" if not found else "a probe needs two labels to separate"
        raise UserError(f"the {split} split has ground-truth action frames of {len(found)} label(s), the"
                        f" diagnostics need {classes} or more: {why}")
    return masks


def _action_frames(records: Sequence[VideoRecord], split: str, classes: int = 1):
    """Features and labels of the split's action frames (see :func:`_action_masks`)."""
    x = [r.features[mask] for r, mask in zip(records, _action_masks(records, split, classes))]
    return np.concatenate(x), np.concatenate([np.full(len(f), r.label_index) for f, r in zip(x, records)])


def probe_accuracy(train: Sequence[VideoRecord], test: Sequence[VideoRecord], seed: int = 0) -> float:
    """The linear-probe bound: softmax regression fitted on the train split's action frames
    (standardised features), accuracy on the test split's action frames."""
    from sklearn.linear_model import LogisticRegression

    x, y = _action_frames(train, "train", classes=2)
    x_test, y_test = _action_frames(test, "test")
    mean, std = x.mean(0), usable_std(x.std(0))
    probe = LogisticRegression(max_iter=2000, random_state=seed).fit((x - mean) / std, y)
    return float(np.mean(probe.predict((x_test - mean) / std) == y_test))


def action_frame_accuracy(outputs: Sequence[Outputs], records: Sequence[VideoRecord]) -> float:
    """Per-frame accuracy (argmax of the class probabilities) on ground-truth action frames."""
    masks = _action_masks(records, "test")
    hits = [o["probabilities"][m].argmax(1) == r.label_index for o, r, m in zip(outputs, records, masks)]
    return float(np.mean(np.concatenate(hits)))


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(a positive scores above a negative), ties counting half (rank-sum form, O(n log n));
    NaN (undefined) without positives or without negatives, or with a non-finite score."""
    scores = np.concatenate([positive, negative])
    if len(positive) == 0 or len(negative) == 0 or not np.all(np.isfinite(scores)):
        return float("nan")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    below = np.cumsum(counts) - counts  # scores under each distinct value
    ranks = below[inverse] + (counts[inverse] + 1) / 2  # ties share their average rank (1-based)
    n_pos, n_neg = len(positive), len(negative)
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def annotated(records: Sequence[VideoRecord], values: Sequence[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """(action mask, values) of the frames of the videos with a ground-truth action frame, less their
    Ambiguous frames. Why: a video without annotated segments (weak labels only, or only Ambiguous
    ones) has its action somewhere among frames that would all count as context; an Ambiguous frame
    may show the action too."""
    masks = [action_mask(r) for r in records]
    kept = [i for i, m in enumerate(masks) if m.any()]
    if not kept:
        return np.zeros(0, bool), np.zeros(0)
    clear = [~ambiguous_mask(records[i]) for i in kept]  # action frames are clear already (action_mask)
    return (np.concatenate([masks[i][c] for i, c in zip(kept, clear)]),
            np.concatenate([np.asarray(values[i], np.float64)[c] for i, c in zip(kept, clear)]))


def action_vs_context_auc(records: Sequence[VideoRecord], values: Sequence[np.ndarray]) -> float:
    """How well per-frame ``values`` (one [T] array per record) single out the ground-truth action
    frames among all frames of the annotated videos (0.5 = uninformative; NaN without any)."""
    inside, scores = annotated(records, values)
    return auc(scores[inside], scores[~inside])


def laf_auc(records: Sequence[VideoRecord]) -> float:
    """How well LAF scores single out action frames among all frames (0.5 = uninformative)."""
    return action_vs_context_auc(records, [r.laf_scores for r in records])


def weight_share_action(weights: Sequence[np.ndarray], records: Sequence[VideoRecord]) -> float:
    """Share of the total per-frame loss weight, over the annotated videos, that falls on their
    ground-truth action frames (NaN without any annotated video)."""
    inside, w = annotated(records, weights)
    return float(w[inside].sum() / max(w.sum(), 1e-12)) if inside.size else float("nan")


def hit_at_1(outputs: Sequence[Outputs], records: Sequence[VideoRecord]) -> Dict[str, float]:
    """Video Hit@1 under each fusion the product offers (actionness only for models that have it)."""
    labels = [r.label_index for r in records]
    found = {"average": evaluation.hit_at_k(
        np.stack([evaluation.average_fusion(o["probabilities"]) for o in outputs]), labels, 1)}
    found["actionness"] = evaluation.hit_at_k(
        np.stack([evaluation.actionness_fusion(o["probabilities"], o["actionness"]) for o in outputs]), labels, 1) \
        if all("actionness" in o for o in outputs) else None
    return found


def context_class_collapse(outputs: Sequence[Outputs], records: Sequence[VideoRecord]) -> float:
    """Largest share, over activities, of an activity's videos whose context frames (outside every
    segment, Ambiguous ones too) prefer the same class; 1.0 = context always votes for one fixed sibling. Only annotated
    videos count (an unannotated one's action would count as context), and only activities whose
    test videos show two labels or more (one label alone is one class by construction); NaN
    without any."""
    preferred: Dict[str, List[int]] = {}
    labels: Dict[str, set] = {}
    for o, r in zip(outputs, records):
        context = ~(ambiguous_mask(r) | _inside(r, r.segments))
        if context.any() and action_mask(r).any():
            preferred.setdefault(r.activity, []).append(int(o["probabilities"][context].mean(0).argmax()))
            labels.setdefault(r.activity, set()).add(r.label_index)
    shares = [np.bincount(classes).max() / len(classes) for activity, classes in preferred.items()
              if len(labels[activity]) > 1]
    return float(max(shares)) if shares else float("nan")


def actionness_auc(outputs: Sequence[Outputs], records: Sequence[VideoRecord]) -> Optional[float]:
    """How well the model's actionness separates action from context frames (None without it)."""
    if not all("actionness" in o for o in outputs):
        return None
    return action_vs_context_auc(records, [o["actionness"] for o in outputs])


PHASES = ("before", "action", "after")


def phase_masks(record: VideoRecord) -> Optional[Dict[str, np.ndarray]]:
    """[T] masks of the frames before the video's first action frame, on its action frames and
    after its last one, Ambiguous frames in none (None for a video without an action frame)."""
    inside = action_mask(record)
    if not inside.any():
        return None
    index, clear = np.arange(len(inside)), ~ambiguous_mask(record)
    first, last = index[inside][0], index[inside][-1]
    return dict(zip(PHASES, ((index < first) & clear, inside, (index > last) & clear)))


def label_probability_by_phase(outputs: Sequence[Outputs], records: Sequence[VideoRecord]) -> Dict[str, float]:
    """Mean probability of the video's own label on frames before its first action frame, on action
    frames, and on frames after its last one. Why: a window over the class evidence localizes the
    action only if that evidence falls again after it; a causal model taught the label on every
    frame keeps naming the action long after it ended, a single-frame model cannot."""
    found: Dict[str, List[np.ndarray]] = {phase: [] for phase in PHASES}
    for o, r in zip(outputs, records):
        masks = phase_masks(r)
        for phase, frames in (masks or {}).items():
            found[phase].append(o["probabilities"][frames, r.label_index])
    return {phase: float(np.concatenate(v).mean()) if v and sum(map(len, v)) else float("nan")
            for phase, v in found.items()}


def own_label_share_by_phase(outputs: Sequence[Outputs], records: Sequence[VideoRecord]) -> Dict[str, float]:
    """Per phase, the share of videos (with frames in it) whose mean probabilities there prefer the
    video's own label. Why beside the collapse: context is the frames before *and* after the
    action, and only the latter can know the action (a causal model before it can only guess, 1/3
    among 3 siblings by chance); this says which of the two makes context vote for a fixed sibling."""
    found: Dict[str, List[bool]] = {phase: [] for phase in PHASES}
    for o, r in zip(outputs, records):
        masks = phase_masks(r)
        for phase, frames in (masks or {}).items():
            if frames.any():
                found[phase].append(int(o["probabilities"][frames].mean(0).argmax()) == r.label_index)
    return {phase: float(np.mean(v)) if v else float("nan") for phase, v in found.items()}


def label_probability_profile(outputs: Sequence[Outputs], records: Sequence[VideoRecord], before: int = 20,
                              after: int = 40) -> Dict[str, np.ndarray]:
    """Per time step from ``before`` steps before a video's first action frame to ``after`` steps
    after it (``offset``, 0 = that frame): the mean probability of the video's own label
    (``p_label``), the mean actionness where every output has one (``actionness``), the share of
    the videos there that are on an action frame (``action_share``) and how many videos reach that
    step (``videos``). Why: the per-phase means as a curve, showing where a method starts naming
    the action and how long after it it keeps doing so."""
    offsets = np.arange(-before, after + 1)
    with_actionness = bool(outputs) and all("actionness" in o for o in outputs)
    keys = ("p_label", "action_share") + (("actionness",) if with_actionness else ())
    sums = {key: np.zeros(len(offsets)) for key in keys}
    videos = np.zeros(len(offsets))
    for o, r in zip(outputs, records):
        inside = action_mask(r)
        if not inside.any():
            continue
        frames = offsets + int(inside.argmax())
        reached = (frames >= 0) & (frames < len(inside))
        frames = frames[reached]
        values = {"p_label": o["probabilities"][frames, r.label_index], "action_share": inside[frames],
                  "actionness": o["actionness"][frames] if with_actionness else None}
        for key in keys:
            sums[key][reached] += values[key]
        videos[reached] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"offset": offsets, **{k: v / videos for k, v in sums.items()}, "videos": videos}


def mean_profile(runs: Sequence[Dict[str, np.ndarray]]) -> Dict[str, List[Optional[float]]]:
    """:func:`label_probability_profile` of several runs on the same videos (seeds) averaged, as JSON
    lists: offsets and video counts as ints, None where no video reaches a step."""
    counts = ("offset", "videos")  # the same in every run
    out: Dict[str, List[Optional[float]]] = {key: [int(x) for x in runs[0][key]] for key in counts}
    for key in [k for k in runs[0] if k not in counts]:  # in the profile's order: same JSON bytes every run
        mean = np.mean([r[key] for r in runs], axis=0)
        out[key] = [round(float(x), 4) if np.isfinite(x) else None for x in mean]
    return out
