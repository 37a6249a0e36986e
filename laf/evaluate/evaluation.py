"""Evaluation of the paper (§4.2–4.5): video-level Hit@k by average fusion, activity-level Hit@k,
sliding-window localization with NMS, and temporal-localization mAP by the ActivityNet protocol.

Beyond the paper, for models with an actionness output (``trainer.model``): *actionness fusion*
(k-max pooling of the class evidence p(class) x actionness, so context frames stop voting for a
sibling) and localization windows scored on that class evidence. Without actionness, the paper's
average fusion and window means of the probabilities.

Pure NumPy, so the CLI, the TFMA metrics, the benchmark and the tests share one implementation;
``laf.serve.localize_tf`` is the graph twin of :func:`detect` for serving.

Deterministic tie rules (documented once, used everywhere):
- Hit@k: a class ranks before an equally scored class with a higher index (what a stable sort by
  descending score or ``tf.math.top_k`` lists).
- Localization: among equal window scores the earlier window is kept first; detections are listed by
  score descending, then class index, then NMS selection order.
- mAP: detections of a class are ranked by score descending, equal scores by video id, start and end; a
  detection matches the unmatched ground-truth segment of highest tIoU, the earlier listed on ties.
  This is the ActivityNet computation (tIoU >= threshold, all-point interpolated AP) with THUMOS14's
  Ambiguous rule, not the THUMOS14 kit's (tIoU > threshold, non-interpolated AP: ``laf.evaluate.thumos14``).
"""
from __future__ import annotations

import bisect
import dataclasses
import math
from typing import TYPE_CHECKING, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from schemas.segment import Detection

if TYPE_CHECKING:  # annotations only
    from schemas.segment import Segment

PAPER_TIOUS = (0.1, 0.2, 0.3, 0.4, 0.5)
WEAKLY_SUPERVISED_TIOUS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


# --- video level ------------------------------------------------------------------------------

def average_fusion(probabilities, num_frames=None) -> np.ndarray:
    """Video-level scores = mean of the per-frame probabilities.

    ``[T, N]`` -> ``[N]``; a padded batch ``[B, T, N]`` with ``num_frames`` ``[B]`` -> ``[B, N]``
    (frames past a video's length are ignored; a video without frames scores zero).
    """
    p = np.asarray(probabilities, np.float64)
    if p.ndim == 2:
        p = p[None]
        num_frames = None if num_frames is None else [num_frames]
    lengths = np.full(p.shape[0], p.shape[1]) if num_frames is None else np.asarray(num_frames, np.int64)
    mask = np.arange(p.shape[1])[None, :] < lengths[:, None]
    fused = (p * mask[..., None]).sum(axis=1) / np.maximum(lengths, 1)[:, None]
    return fused[0] if np.asarray(probabilities).ndim == 2 else fused


TOP_FRACTION = 1 / 8  # share of a video's frames that k-max pooling fuses (W-TALC's k = T/8)


def top_k_fusion(scores, fraction: float = TOP_FRACTION) -> np.ndarray:
    """[T, N] frame scores -> [N] video scores: per class, the mean of its ceil(T * fraction)
    highest frame scores (k-max multiple-instance pooling, as W-TALC and STPN pool).

    Why not the mean of all frames: a fine-grained action fills a few seconds of a long video and
    its siblings share the scene, so a mean over all frames is a mean over context, which scores
    every sibling alike or, worse, one fixed sibling for every video of an activity.
    """
    s = np.asarray(scores, np.float64)
    if len(s) == 0:
        return np.zeros(s.shape[1:])
    k = max(1, int(np.ceil(len(s) * fraction)))
    return np.sort(s, axis=0)[-k:].mean(axis=0)


def actionness_fusion(probabilities, actionness, fraction: float = TOP_FRACTION) -> np.ndarray:
    """One video's scores [N] from probabilities [T, N] and actionness [T]: k-max pooling of the
    class evidence p x actionness (:func:`top_k_fusion`), so each class is judged on the frames that
    most look like that action happening, and context frames (low actionness) do not vote."""
    return top_k_fusion(class_evidence(probabilities, actionness), fraction)


def fuse(probabilities, actionness=None) -> np.ndarray:
    """One video's scores [N] by the product's fusion: actionness fusion when the model has an
    actionness output, else the paper's average fusion."""
    if actionness is None:
        return average_fusion(probabilities)
    return actionness_fusion(probabilities, actionness)


def class_evidence(probabilities, actionness=None) -> np.ndarray:
    """Per-frame evidence that localization windows average: p(class) x actionness, or p alone."""
    p = np.asarray(probabilities, np.float64)
    return p if actionness is None else p * np.asarray(actionness, np.float64)[..., None]


MISSED = np.iinfo(np.int64).max  # the rank of a row with non-finite scores: beyond every k


def label_ranks(scores, labels) -> np.ndarray:
    """0-based rank of each row's true label among its scores ``[B, N]`` (ties: lower index first);
    a row with a non-finite score gets rank ``MISSED``, a miss at every k: NaN compares false, so a
    model whose outputs went NaN would otherwise hit every video."""
    s = np.asarray(scores, np.float64)
    labels = np.asarray(labels, np.int64)
    own = s[np.arange(len(labels)), labels][:, None]
    lower = np.arange(s.shape[1])[None, :] < labels[:, None]
    ranks = ((s > own) | ((s == own) & lower)).sum(axis=1)
    return np.where(np.isfinite(s).all(axis=1), ranks, MISSED)


def hit_at_k(scores, labels, k: int) -> float:
    """Share of videos whose label is among the top ``k`` of their scores (NaN for no videos); with
    k >= the number of classes every video with finite scores hits."""
    labels = np.asarray(labels, np.int64)
    if labels.size == 0:
        return float("nan")
    return float(np.mean(label_ranks(scores, labels) < k))


def activity_scores(scores, activity_matrix) -> np.ndarray:
    """Activity confidence = mean of its child actions' confidences (paper §4.3); ``[B, N] -> [B, A]``."""
    m = np.asarray(activity_matrix, np.float64)
    return np.asarray(scores, np.float64) @ m / np.maximum(m.sum(axis=0), 1.0)


def activity_hit_at_k(scores, labels, activity_matrix, k: int) -> float:
    """Hit@k over activities; ``activity_matrix`` is ``Vocabulary.activity_matrix()`` ``[N, A]``."""
    m = np.asarray(activity_matrix)
    activity_labels = m[np.asarray(labels, np.int64)].argmax(axis=1)
    return hit_at_k(activity_scores(scores, m), activity_labels, k)


# --- localization -------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class LocalizeConfig:
    """Sliding-window localization settings (paper §4.2: windows of 10 time steps, then NMS).

    ``scales`` > 1 entry: windows of ``round(window x scale)`` steps side by side, scored by their
    contrast (:func:`window_scores`), so an action shorter or longer than ``window`` still gets a
    window of its own length. Used on ``p x actionness`` only (:meth:`for_evidence`).

    ``run_thresholds`` (with several lengths): a run of frames whose peak class evidence stays at or
    above such a share of the video's peak, and that is longer than the longest window, is a
    candidate too (:func:`evidence_runs`), so an action longer than every window still gets one of
    its own length.
    """

    window: int = 10                      # time steps per window (shorter videos: one window)
    scales: Tuple[float, ...] = (1.0,)    # window lengths as multiples of ``window``; (1.0,) = the paper
    stride: int = 1                       # time steps between window starts
    nms_overlap: float = 0.0              # drop a window whose tIoU with a kept one exceeds this
    run_thresholds: Tuple[float, ...] = ()  # shares of the peak evidence; () = sliding windows only
    top_k_classes: Optional[int] = None   # localize only the top-k classes by mean evidence over frames; None = all
    max_detections: Optional[int] = None  # per video, highest scores first; None = all

    def __post_init__(self):
        if self.window < 1 or self.stride < 1:
            raise ValueError(f"window and stride must be >= 1, got {self.window} and {self.stride}")
        object.__setattr__(self, "scales", tuple(float(x) for x in self.scales))
        if not self.scales or min(self.scales) <= 0:
            raise ValueError(f"scales must be positive and not empty, got {list(self.scales)}")
        object.__setattr__(self, "run_thresholds", tuple(float(x) for x in self.run_thresholds))
        if any(not 0.0 < x <= 1.0 for x in self.run_thresholds):
            raise ValueError(f"run_thresholds must lie in (0, 1], got {list(self.run_thresholds)}")
        if not 0.0 <= self.nms_overlap <= 1.0:
            raise ValueError(f"nms_overlap must be in [0, 1], got {self.nms_overlap}")
        for name in ("top_k_classes", "max_detections"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {value}")

    def widths(self) -> Tuple[int, ...]:
        """Window lengths in time steps, ascending, each at least 1."""
        return tuple(sorted({max(1, round(self.window * x)) for x in self.scales}))

    def for_evidence(self, actionness: bool) -> "LocalizeConfig":
        """The settings for one kind of class evidence: several window lengths need evidence that
        is ~0 off the action (p x actionness); probabilities alone (the paper's scheme and its
        baselines) keep the paper's single window."""
        return self if actionness else dataclasses.replace(self, scales=(1.0,), run_thresholds=())


class Segments(NamedTuple):
    """Detections of one video as arrays (seconds, class index, score), best first."""

    start: np.ndarray
    end: np.ndarray
    label: np.ndarray
    score: np.ndarray


def frame_bounds(timestamps, video_end: Optional[float] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Start/end seconds of each time step: a frame lasts until the next later one; the last until
    ``video_end`` (the video's duration) where that is finite and after it, else for the mean sampling
    interval (1 s for a single frame). Why the duration: a clip shorter than a second, or a source
    slower than the sampling (a frame repeated, then a long last one), would otherwise end its
    detections before or past the video's end. Why "later": ingestion reuses a frame across a gap
    in a variable-frame-rate file, so a time repeats, and a frame lasting until its repeat would
    make zero-length windows that NMS never suppresses."""
    t = np.asarray(timestamps, np.float64)
    if video_end is not None and np.isfinite(video_end) and video_end > t[-1]:
        last = float(video_end)
    else:  # 1 s where the times give none: one frame, or one time repeated throughout
        last = t[-1] + ((t[-1] - t[0]) / (len(t) - 1) if len(t) > 1 and t[-1] > t[0] else 1.0)
    return t, np.append(t, last)[np.searchsorted(t, t, side="right")]


def window_starts(num_frames: int, window: int, stride: int) -> Tuple[np.ndarray, int]:
    """First time step of every window and the window length; the last window ends at the video's
    end so the tail is never skipped."""
    width = min(window, num_frames)
    starts = np.arange(0, num_frames - width + 1, stride)
    if starts[-1] != num_frames - width:
        starts = np.append(starts, num_frames - width)
    return starts, width


def all_windows(num_frames: int, config: LocalizeConfig) -> Tuple[np.ndarray, np.ndarray]:
    """Start step and length of every window ``[S]``, shortest length first; lengths beyond the
    video collapse into one whole-video window."""
    starts, widths = [], []
    for w in config.widths():
        if widths and widths[-1][0] >= num_frames:
            break
        s, width = window_starts(num_frames, w, config.stride)
        starts.append(s)
        widths.append(np.full(len(s), width))
    return np.concatenate(starts), np.concatenate(widths)


def evidence_runs(evidence: np.ndarray, config: LocalizeConfig) -> Tuple[np.ndarray, np.ndarray]:
    """Start step and length of the runs of frames whose peak class evidence (max over classes) is
    at least ``threshold`` x the video's peak, for each of ``config.run_thresholds`` in order, runs in
    time order; only runs longer than the longest window, each once (first found).

    Why: windows reach only the lengths ``scales`` names, and longer ones would merge nearby
    occurrences (docs/learning.md: "Window lengths that follow the action"); a run above a share of the peak
    follows the evidence itself, whatever the action's length. Kept to runs longer than every window, and
    scored without the windows' length bonus (:func:`window_scores`), so what the windows already
    localize keeps its windows. A run at a low threshold joins two nearby occurrences whose gap
    stays above it, and outranks their windows, whose flanks touch the other occurrence: hence the
    product's thresholds start at 0.2 of the peak, above the typical context evidence of the trained
    models measured (``pipeline.config.EvaluationConfig``, docs/learning.md). Measured on pushed models, mAP@0.5 on
    actions of 8-20 s: 0.630 -> 0.907, of 10-25 s: 0.297 -> 0.884 (docs/learning.md).
    """
    none = np.zeros(0, np.int64), np.zeros(0, np.int64)
    if len(config.widths()) == 1 or not config.run_thresholds or not len(evidence):
        return none
    peak = np.asarray(evidence, np.float64).max(axis=1)
    if peak.max() <= 0:
        return none
    starts, widths = [], []
    for threshold in config.run_thresholds:
        edges = np.diff(np.concatenate([[0], (peak >= threshold * peak.max()).astype(np.int64), [0]]))
        s = np.flatnonzero(edges == 1)
        w = np.flatnonzero(edges == -1) - s
        longer = w > max(config.widths())
        starts.append(s[longer])
        widths.append(w[longer])
    s, w = np.concatenate(starts), np.concatenate(widths)
    first = np.sort(np.unique(s * (len(peak) + 1) + w, return_index=True)[1])
    return s[first], w[first]


def candidates(evidence: np.ndarray, config: LocalizeConfig) -> Tuple[np.ndarray, np.ndarray]:
    """Every window (:func:`all_windows`), then the :func:`evidence_runs`: start steps and lengths."""
    starts, width = all_windows(evidence.shape[0], config)
    run_starts, run_width = evidence_runs(evidence, config)
    return np.concatenate([starts, run_starts]), np.concatenate([width, run_width])


FLANK = 0.25  # each side of a window, as a share of its length (AutoLoc's outer-inner contrast)


def window_scores(evidence: np.ndarray, starts: np.ndarray, width: np.ndarray, config: LocalizeConfig) -> np.ndarray:
    """Scores ``[S, N]`` of windows over per-frame evidence ``[T, N]``. One length: the mean
    (paper). Several: the mean minus the mean of the flanks (``FLANK`` of the length each side,
    clipped to the video), times sqrt(length / ``window``). Why: a plain mean is as high for any
    window inside an action as for the one that fits it, so the shortest would always win; the
    contrast falls for a window inside the action (its flanks are action too) and for one past it
    (its mean falls), and the sqrt breaks ties between equal contrasts towards the longer window.
    Two actions closer than about twice their length fall into one window when a length spans both.
    A candidate longer than the longest window is an evidence run (:func:`evidence_runs`): its
    length comes from the evidence, not from a choice among lengths, so it scores the contrast alone.
    A candidate without flanks spans the whole video; it is measured against no action (evidence 0),
    since the evidence is p x actionness, ~0 where nothing happens. So a trimmed clip that is action
    throughout gets its whole length at its mean evidence (with contrast 0, every window of such a clip
    scored ~0 and the best "detection" was any class's noise). The cost: a short video's whole-video
    window outranks, and under NMS suppresses, a brief action inside it when the rest of the video
    has evidence above ~1/5 of the action's (2 s of action in an 8 s video with the product's
    windows); the trained models' mean context actionness is 0.005-0.04 per class, their evidence lower still."""
    cumulative = np.concatenate([np.zeros((1, evidence.shape[1])), np.cumsum(evidence, axis=0)])
    ends = starts + width
    inner = (cumulative[ends] - cumulative[starts]) / width[:, None]
    if len(config.widths()) == 1:
        return inner
    flank = np.maximum(1, np.round(width * FLANK)).astype(np.int64)
    before, after = np.maximum(starts - flank, 0), np.minimum(ends + flank, evidence.shape[0])
    outer_n = (starts - before) + (after - ends)
    outer = ((cumulative[starts] - cumulative[before]) + (cumulative[after] - cumulative[ends]))
    outer = np.where((outer_n > 0)[:, None], outer / np.maximum(outer_n, 1)[:, None], 0.0)  # no flanks: vs no action
    bonus = np.where(width > max(config.widths()), 1.0, np.sqrt(width / config.window))
    return (inner - outer) * bonus[:, None]


def considered_classes(probabilities, top_k: Optional[int]) -> np.ndarray:
    """Class indices to localize (ascending): all, or the top-k by average fusion of what is localized
    (the class evidence, p x actionness with an actionness head), not by the video's Hit@k fusion."""
    n = np.asarray(probabilities).shape[1]
    if top_k is None or top_k >= n:
        return np.arange(n)
    fused = average_fusion(probabilities)
    return np.sort(np.argsort(-fused, kind="stable")[:top_k])


def tiou(start_a, end_a, start_b, end_b) -> np.ndarray:
    """Temporal intersection over union, broadcasting; 0 where the union is empty."""
    inter = np.clip(np.minimum(end_a, end_b) - np.maximum(start_a, start_b), 0.0, None)
    union = (np.subtract(end_a, start_a) + np.subtract(end_b, start_b)) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def greedy_nms(starts: np.ndarray, ends: np.ndarray, scores: np.ndarray, overlap: float) -> np.ndarray:
    """Greedy NMS for all classes at once: windows ``[S]`` with scores ``[C, S]`` -> ``[C, S]`` int,
    the selection step at which each window was kept, -1 if suppressed.

    Each step keeps every class's best remaining window and drops its overlapping ones, so the
    number of steps is the largest number of windows kept for one class. A window without a finite
    score (a model that outputs NaN) is never kept, so it neither counts nor suppresses others; window
    sums are running sums, so a non-finite frame leaves every window from it to the video's end
    without a score. Beyond :data:`BY_CLASS_WINDOWS` windows the same result is computed class by
    class (:func:`greedy_nms_by_class`), in time that grows with the video's length, not its square.
    """
    starts, ends, scores = (np.asarray(a, np.float64) for a in (starts, ends, scores))
    if scores.shape[1] > BY_CLASS_WINDOWS:
        return greedy_nms_by_class(starts, ends, scores, overlap)
    return greedy_nms_all_classes(starts, ends, scores, overlap)


def greedy_nms_all_classes(starts: np.ndarray, ends: np.ndarray, scores: np.ndarray, overlap: float) -> np.ndarray:
    """:func:`greedy_nms` as one loop over all classes at once (see there)."""
    alive = np.isfinite(scores)
    step_of = np.full(scores.shape, -1, np.int64)
    rows = np.arange(scores.shape[0])
    step = 0
    while alive.any():
        best = np.where(alive, scores, -np.inf).argmax(axis=1)  # first maximum: earliest window
        live = alive[rows, best]
        step_of[rows[live], best[live]] = step
        overlaps = tiou(starts[best][:, None], ends[best][:, None], starts[None, :], ends[None, :])
        alive &= overlaps <= overlap
        alive[rows, best] = False
        step += 1
    return step_of


BY_CLASS_WINDOWS = 4096  # windows beyond which greedy_nms goes class by class (about 20 minutes at 1 fps)


def greedy_nms_by_class(starts: np.ndarray, ends: np.ndarray, scores: np.ndarray, overlap: float) -> np.ndarray:
    """:func:`greedy_nms`'s result computed one class at a time: its windows in the order that loop
    keeps them (score descending, then earliest), each kept unless a kept window of its class overlaps
    it by more than ``overlap``. The kept windows are held by length (a power-of-2 bucket each), sorted
    by start, so a check bisects each bucket for the windows that can reach the candidate: a long
    evidence run among short windows widens only its own bucket's search. Why: each step of the
    all-classes loop scans every class's windows, and the steps grow with the video, so a video cost
    O(classes x T^2) (a 6-hour one at 1 fps: tens of minutes per model); this costs O(classes x S log S)
    plus the kept windows each check meets. The loop stays for short videos, where it is faster."""
    scores = np.asarray(scores, np.float64)
    step_of = np.full(scores.shape, -1, np.int64)
    start, end = np.asarray(starts, np.float64).tolist(), np.asarray(ends, np.float64).tolist()
    for c, row in enumerate(scores):
        finite = np.flatnonzero(np.isfinite(row))
        buckets: Dict[int, _Kept] = {}
        kept = 0
        for w in finite[np.lexsort((finite, -row[finite]))].tolist():
            s, e = start[w], end[w]
            if any(b.overlaps(s, e, overlap, start, end) for b in buckets.values()):
                continue
            buckets.setdefault(math.frexp(max(e - s, 0.0))[1], _Kept()).add(w, s, e - s)
            step_of[c, w] = kept
            kept += 1
    return step_of


class _Kept:
    """Kept windows of one length bucket, sorted by start, and the longest of them."""

    def __init__(self):
        self.starts: List[float] = []
        self.windows: List[int] = []
        self.reach = 0.0

    def add(self, window: int, start: float, length: float) -> None:
        at = bisect.bisect_right(self.starts, start)
        self.starts.insert(at, start)
        self.windows.insert(at, window)
        self.reach = max(self.reach, length)

    def overlaps(self, s: float, e: float, overlap: float, start: List[float], end: List[float]) -> bool:
        """Whether a kept window overlaps [s, e] by more than ``overlap``: only one starting before e
        and at most ``reach`` (with a margin for rounding) before s can intersect it at all."""
        lo = bisect.bisect_left(self.starts, s - self.reach - 1e-6 * (abs(s) + self.reach) - 1e-9)
        hi = bisect.bisect_left(self.starts, e)
        return any(_tiou(start[k], end[k], s, e) > overlap for k in self.windows[lo:hi])


def _tiou(start_a: float, end_a: float, start_b: float, end_b: float) -> float:
    """:func:`tiou` of two windows in Python floats, with the same operations (the same bits)."""
    inter = max(min(end_a, end_b) - max(start_a, start_b), 0.0)
    union = ((end_a - start_a) + (end_b - start_b)) - inter
    return inter / union if union > 0 else 0.0


def detect(probabilities, timestamps, config: LocalizeConfig = LocalizeConfig(),
           video_end: Optional[float] = None) -> Segments:
    """Sliding-window localization of one video from its per-frame probabilities ``[T, N]``.

    A window's score for a class is the mean probability over its time steps (several window lengths:
    :func:`window_scores`, and runs of the evidence, :func:`candidates`); per class, greedy NMS keeps
    the best windows. Start/end come from the per-frame ``timestamps`` ``[T]``, and the last frame's
    end from ``video_end``, the video's duration where known (:func:`frame_bounds`).
    """
    p = np.asarray(probabilities, np.float64)
    num_frames = p.shape[0]
    if num_frames == 0:
        return Segments(np.zeros(0), np.zeros(0), np.zeros(0, np.int64), np.zeros(0))
    starts, width = candidates(p, config)
    scores = window_scores(p, starts, width, config)  # [S, N]
    frame_start, frame_end = frame_bounds(np.asarray(timestamps)[:num_frames], video_end)
    win_start, win_end = frame_start[starts], frame_end[starts + width - 1]
    classes = considered_classes(p, config.top_k_classes)
    class_scores = scores[:, classes].T  # [C, S]
    step_of = greedy_nms(win_start, win_end, class_scores, config.nms_overlap)
    c, s = np.nonzero(step_of >= 0)
    score = class_scores[c, s]
    order = np.lexsort((step_of[c, s], c, -score))[:config.max_detections]
    c, s = c[order], s[order]
    return Segments(win_start[s], win_end[s], classes[c], score[order])


def detect_evidence(probabilities, timestamps, config: LocalizeConfig = LocalizeConfig(),
                    video_end: Optional[float] = None, actionness=None) -> Segments:
    """:func:`detect` on the class evidence (p x actionness, or p alone), with the window lengths
    that evidence allows (:meth:`LocalizeConfig.for_evidence`)."""
    return detect(class_evidence(probabilities, actionness), timestamps,
                  config.for_evidence(actionness is not None), video_end)


def localize(video_id: str, probabilities, timestamps, labels: Sequence[str],
             config: LocalizeConfig = LocalizeConfig(),
             video_end: Optional[float] = None, actionness=None) -> List[Detection]:
    """:func:`detect_evidence` with class names: the detections of one video, best first."""
    found = detect_evidence(probabilities, timestamps, config, video_end, actionness)
    return [Detection(video_id, float(s), float(e), labels[int(c)], float(v))
            for s, e, c, v in zip(found.start, found.end, found.label, found.score)]


# --- mAP ------------------------------------------------------------------------------------------

def tiou_key(threshold: float) -> str:
    """The JSON/table key of a tIoU threshold: ``0.1`` -> ``"0.1"``."""
    return f"{threshold:g}"


def distinct_tiou_keys(thresholds: Sequence[float]) -> bool:
    """Whether every threshold has a key of its own (a repeat, or two that differ beyond the key's
    digits, would share one metric and count twice in the average)."""
    return len({tiou_key(t) for t in thresholds}) == len(thresholds)


@dataclasses.dataclass(frozen=True)
class APResult:
    """Average precision per class (classes with ground truth) at each tIoU threshold."""

    tious: Tuple[float, ...]
    ap: Dict[str, np.ndarray]  # class -> [len(tious)]

    @property
    def mAP(self) -> np.ndarray:
        if not self.ap:  # no ground truth: undefined, not zero
            return np.full(len(self.tious), np.nan)
        return np.mean(list(self.ap.values()), axis=0)

    @property
    def average_mAP(self) -> float:
        return float(np.mean(self.mAP))

    def to_dict(self) -> dict:
        keys = [tiou_key(t) for t in self.tious]
        return {
            "mAP": {k: float(v) for k, v in zip(keys, self.mAP)},
            "average_mAP": self.average_mAP,
            "ap": {c: {k: float(v) for k, v in zip(keys, ap)} for c, ap in self.ap.items()},
        }


def _group_members(sorted_keys: np.ndarray, query_keys: np.ndarray):
    """For each query key, the indices of its rows in ``sorted_keys``, padded: ``(index [Q, M], valid)``."""
    lo = np.searchsorted(sorted_keys, query_keys, side="left")
    count = np.searchsorted(sorted_keys, query_keys, side="right") - lo
    width = int(count.max()) if count.size else 0
    j = np.arange(width)[None, :]
    valid = j < count[:, None]
    index = np.where(valid, lo[:, None] + j, 0)
    return index, valid


def _segment_starts(group: np.ndarray) -> np.ndarray:
    """Index of the first row of each row's run in a sorted ``group`` array."""
    first = np.ones(len(group), bool)
    first[1:] = group[1:] != group[:-1]
    return np.maximum.accumulate(np.where(first, np.arange(len(group)), 0))


class _Ranked(NamedTuple):
    """Detections ranked per class and matched at each tIoU (shared by AP and PR curves)."""

    classes: List[str]
    n_gt: np.ndarray        # [C] ground-truth segments per class
    det_class: np.ndarray   # [D] class code of each ranked detection (grouped by class)
    tp: np.ndarray          # [K, D] true positive at each threshold
    tp_c: np.ndarray        # [K, D] true positives so far within the class
    precision: np.ndarray   # [K, D] precision after each detection within its class
    counted: np.ndarray     # [K, D] False: a false positive on an Ambiguous segment, ignored


def _rank_and_match(ground_truth: Mapping[str, Sequence["Segment"]], detections: Sequence[Detection],
                    tious: Sequence[float],
                    ambiguous: Optional[Mapping[str, Sequence["Segment"]]]) -> _Ranked:
    """The matching of :func:`average_precision` (see there), vectorised."""
    thresholds = np.asarray(tious, np.float64)
    classes = sorted({seg.label for segs in ground_truth.values() for seg in segs})
    class_code = {c: i for i, c in enumerate(classes)}
    video_code: Dict[str, int] = {}
    gt = [(video_code.setdefault(v, len(video_code)), class_code[s.label], s.start, s.end)
          for v, segs in ground_truth.items() for s in segs]
    dets = [(video_code.setdefault(d.video_id, len(video_code)), class_code[d.label], d.start, d.end, d.score)
            for d in detections if d.label in class_code]
    n_videos = max(len(video_code), 1)
    g = np.asarray(gt, np.float64).reshape(-1, 4)
    d = np.asarray(dets, np.float64).reshape(-1, 5)
    gt_key = g[:, 1].astype(np.int64) * n_videos + g[:, 0].astype(np.int64)
    gt_order = np.argsort(gt_key, kind="stable")
    gt_key, g = gt_key[gt_order], g[gt_order]
    n_gt = np.bincount(g[:, 1].astype(np.int64), minlength=len(classes))

    # Rank detections: class, then score descending, then video id, start and end, so that equal scores
    # rank alike whatever order the caller lists videos in (the Evaluator, `laf evaluate`, the report).
    det_class = d[:, 1].astype(np.int64)
    id_rank = np.empty(n_videos, np.int64)
    id_rank[[video_code[v] for v in sorted(video_code)]] = np.arange(len(video_code))
    order = np.lexsort((d[:, 3], d[:, 2], id_rank[d[:, 0].astype(np.int64)], -d[:, 4], det_class))
    d, det_class = d[order], det_class[order]
    det_key = det_class * n_videos + d[:, 0].astype(np.int64)

    # tIoU of every detection with the ground truth of its (class, video) group: [D, M].
    members, valid = _group_members(gt_key, det_key)
    overlap = np.where(valid, tiou(d[:, 2:3], d[:, 3:4], g[members, 2], g[members, 3]), -1.0)

    # Greedy matching in rounds: round r handles the r-th best detection of every group at once.
    by_group = np.lexsort((np.arange(len(d)), det_key))  # stable: keeps the score ranking
    rank = np.empty(len(d), np.int64)
    rank[by_group] = np.arange(len(d)) - _segment_starts(det_key[by_group])
    matched = np.zeros((len(thresholds), len(g)), bool)
    tp = np.zeros((len(thresholds), len(d)), bool)
    round_order = np.argsort(rank, kind="stable")
    bounds = np.searchsorted(rank[round_order], np.arange(rank.max() + 2 if len(d) else 1))
    for r in range(len(bounds) - 1 if members.shape[1] else 0):  # M = 0: no detection shares a group
        sel = round_order[bounds[r]:bounds[r + 1]]
        cand = overlap[sel]  # [n, M]
        avail = (cand[None] >= thresholds[:, None, None]) & ~matched[:, members[sel]] & valid[sel][None]
        best = np.where(avail, cand[None], -1.0).argmax(axis=2)  # [K, n]
        hit = avail.any(axis=2)
        k_idx, n_idx = np.nonzero(hit)
        matched[k_idx, members[sel][n_idx, best[k_idx, n_idx]]] = True
        tp[:, sel] = hit

    counted = np.ones((len(thresholds), len(d)), bool)
    if ambiguous:
        amb = [(video_code[v], s.start, s.end) for v, segs in ambiguous.items() if v in video_code for s in segs]
        a = np.asarray(amb, np.float64).reshape(-1, 3)
        a = a[np.argsort(a[:, 0], kind="stable")]
        amb_members, amb_valid = _group_members(a[:, 0].astype(np.int64), d[:, 0].astype(np.int64))
        inter = np.minimum(d[:, 3:4], a[amb_members, 2]) - np.maximum(d[:, 2:3], a[amb_members, 1])
        counted = tp | ~((inter > 0) & amb_valid).any(axis=1)[None]

    # Per-class cumulative sums over the ranking.
    start = _segment_starts(det_class)
    tp_cum = np.cumsum(tp, axis=1)
    fp_cum = np.cumsum(~tp & counted, axis=1)
    prior = np.where(start > 0, start - 1, 0)
    tp_c = tp_cum - np.where(start > 0, tp_cum[:, prior], 0)
    fp_c = fp_cum - np.where(start > 0, fp_cum[:, prior], 0)
    total = tp_c + fp_c
    precision = np.where(total > 0, tp_c / np.maximum(total, 1), 0.0)
    return _Ranked(classes, n_gt, det_class, tp, tp_c, precision, counted)


def annotated_only(ground_truth: Mapping[str, Sequence["Segment"]], detections: Sequence[Detection]
                   ) -> Tuple[Dict[str, List["Segment"]], List[Detection]]:
    """The videos of ``ground_truth`` with a segment, and the detections in them: what the product's
    localization AP scores. Why: every video carries its weak label, so one without segments is
    unannotated, not background: its detections (of its own action, which it shows somewhere, as of
    others) cannot be told right or wrong, and as false positives they lowered every AP of a test
    split that mixes annotated and weakly labelled videos."""
    kept = {video: list(segments) for video, segments in ground_truth.items() if len(segments)}
    return kept, [d for d in detections if d.video_id in kept]


def average_precision(ground_truth: Mapping[str, Sequence["Segment"]], detections: Sequence[Detection],
                      tious: Sequence[float] = PAPER_TIOUS,
                      ambiguous: Optional[Mapping[str, Sequence["Segment"]]] = None) -> APResult:
    """AP per class and tIoU threshold by the ActivityNet detection protocol, vectorised.

    Per class, detections are ranked by score over all videos; each matches the unmatched
    ground-truth segment of its video with the highest tIoU if that is >= the threshold, else it is
    a false positive (also in videos without ground truth). AP is the all-point interpolated area
    under the precision-recall curve; classes with ground truth but no detections get 0. With
    ``ambiguous`` (THUMOS14), a false positive overlapping an ambiguous segment of its video is
    ignored instead of counted.
    """
    classes, n_gt, det_class, tp, _, precision, _ = _rank_and_match(ground_truth, detections, tious, ambiguous)
    # All-point interpolated AP per class.
    # Running max from the end within each class: offsets keep later classes below earlier ones.
    offset = 2.0 * det_class[::-1]
    interp = (np.maximum.accumulate(precision[:, ::-1] - offset, axis=1) + offset)[:, ::-1]
    ap = np.zeros((len(tious), len(classes)))
    for k in range(len(tious)):
        ap[k] = np.bincount(det_class, weights=np.where(tp[k], interp[k], 0.0), minlength=len(classes))
    ap = ap / np.maximum(n_gt, 1)[None]
    return APResult(tuple(float(t) for t in tious), {c: ap[:, i] for i, c in enumerate(classes)})


def precision_recall(ground_truth: Mapping[str, Sequence["Segment"]], detections: Sequence[Detection],
                     threshold: float = 0.5, ambiguous: Optional[Mapping[str, Sequence["Segment"]]] = None
                     ) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """Per class with ground truth: (precision, recall) after each of its ranked detections at one tIoU,
    the points :func:`average_precision` integrates (empty arrays for a class without detections).
    A detection ignored on an Ambiguous segment adds no point: it moves neither precision nor recall."""
    ranked = _rank_and_match(ground_truth, detections, [threshold], ambiguous)
    out = {}
    for i, c in enumerate(ranked.classes):
        rows = (ranked.det_class == i) & ranked.counted[0]
        out[c] = (ranked.precision[0, rows], ranked.tp_c[0, rows] / max(int(ranked.n_gt[i]), 1))
    return out
