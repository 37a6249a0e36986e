"""Sibling novelty: a second, video-side actionness cue beside the LAF scores.

Sibling actions share their activity's scene, and an untrimmed video is mostly that scene, so a
context frame has near neighbours among the frames of the *sibling* videos (the same activity,
another label), while the action is what those videos lack. A frame's novelty is its mean
feature distance (standardised features) to its ``k`` nearest frames among the sibling training
videos; like the LAF cue it is then taken relative to its own video
(``trainer.data.relative_to_video``).

Why beside LAF: LAF = CNN_i(V)[a_V] comes from web images, and when a sibling's images mostly show
the activity's generic scene (a pool for "Freestyle", a pitch for "PenaltyKick"), its videos' LAF
scores are nearly as high on context as on the action: every context frame then passes for an
action, the class head learns "this scene = that sibling", and the other siblings' actions are
lost in it. Novelty needs only the video-level labels; ``trainer.data.actionness_targets`` takes
the geometric mean of both cues, so a frame must look like the action's web images and unlike the
sibling videos; where a video's LAF scores barely rise above their median, novelty stands in for the
LAF cue (``trainer.data.laf_span``).
"""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf

from laf.transfer.moments import usable_std
from schemas import names
from schemas.records import VideoRecord
from schemas.vocabulary import split_label
from trainer.data import Files, relative_to_video, whole_videos

log = logging.getLogger(__name__)

BLOCK_BYTES = 256 << 20  # one block of a video's frame-to-reference distances
PROGRESS_S = 30.0  # seconds between progress lines


@dataclasses.dataclass(frozen=True, eq=False)
class Frames:
    """What novelty reads of a video record: its id, label, activity and [T, D] features."""

    video_id: str
    label: str
    activity: str
    features: np.ndarray

    @property
    def num_frames(self) -> int:
        return len(self.features)


def read_frames(files: Files, dim: int) -> Iterator[Frames]:
    """The records' :class:`Frames`, in stored order (``trainer.data.whole_videos``)."""
    context = {names.VIDEO_ID: tf.io.FixedLenFeature([], tf.string), names.LABEL: tf.io.FixedLenFeature([], tf.string),
               names.ACTIVITY: tf.io.FixedLenFeature([], tf.string, default_value="")}
    text = ("utf-8", "surrogateescape")  # as schemas.records decodes names
    for found, features in whole_videos(files, dim, context):
        label = found[names.LABEL].decode(*text)
        yield Frames(found[names.VIDEO_ID].decode(*text), label,
                     found[names.ACTIVITY].decode(*text) or split_label(label), features)


def _sq_distances(a: np.ndarray, b: np.ndarray, b_sq: Optional[np.ndarray] = None) -> np.ndarray:
    """Squared distances of the rows of ``a`` to those of ``b`` (``b_sq``: ``b``'s squared norms)."""
    b_sq = (b * b).sum(1) if b_sq is None else b_sq
    return np.maximum((a * a).sum(1)[:, None] + b_sq[None, :] - 2.0 * a @ b.T, 0.0)


def _nearest_mean(z: np.ndarray, others: np.ndarray, k: int, others_sq: Optional[np.ndarray] = None) -> np.ndarray:
    """[T] mean distance of each row of ``z`` to its ``k`` nearest rows of ``others`` (``others_sq``:
    their squared norms, computed once per pool, not once per block), in blocks of rows whose
    distances fit :data:`BLOCK_BYTES`. Why: the whole [T, M] matrix of a 6-hour video against an
    activity's siblings took gigabytes; the ``k`` smallest by partition, then sorted, sum as a full
    sort's first ``k`` did (the same numbers as before, without sorting all M)."""
    k = min(k, len(others))
    rows = max(1, BLOCK_BYTES // (4 * len(others)))
    others_sq = (others * others).sum(1) if others_sq is None else others_sq
    out = []
    for start in range(0, len(z), rows):
        d = _sq_distances(z[start:start + rows], others, others_sq)
        nearest = np.sort(np.partition(d, k - 1, axis=1)[:, :k], axis=1)
        out.append(np.sqrt(nearest).mean(1))
    return np.concatenate(out)


class _Reservoir:
    """At most ``size`` rows drawn uniformly from the rows added (Algorithm R: the first ``size``
    kept, row n then replaces a random slot with probability size/(n+1)); every row while there are
    fewer. Why: the reference videos stream past once, so the draw cannot wait for their count."""

    def __init__(self, size: int, rng: np.random.Generator):
        self.size, self.rng, self.seen = size, rng, 0
        self.parts: List[np.ndarray] = []

    def add(self, rows: np.ndarray) -> None:
        fill = min(len(rows), self.size - self.seen) if self.seen < self.size else 0
        if fill:
            self.parts.append(rows[:fill].copy())  # the caller's array stays as it was
        rest = rows[fill:]
        if len(rest):
            pool = self.rows()
            slot = self.rng.integers(0, self.seen + fill + np.arange(len(rest)) + 1)  # row n: a slot in [0, n]
            chosen = np.flatnonzero(slot < self.size)[::-1]  # latest first: a slot keeps its last row,
            _, last = np.unique(slot[chosen], return_index=True)  # as one row at a time would
            pool[slot[chosen[last]]] = rest[chosen[last]]
        self.seen += len(rows)

    def rows(self) -> np.ndarray:
        if len(self.parts) != 1:
            self.parts = [np.concatenate(self.parts)]
        return self.parts[0]


def frame_moments(records: Sequence[VideoRecord]) -> Tuple[np.ndarray, np.ndarray]:
    """Mean and std [D] of the frames of records already in memory (a bench, a test); the trainer
    streams them instead (``trainer.data.check_records``)."""
    frames = [r.features for r in records if r.num_frames]
    if not frames:  # nothing to compare with: every video gets no entry
        return np.zeros(0), np.ones(0)
    frames = np.concatenate(frames)
    return frames.mean(0), frames.std(0)


def sibling_novelty(videos: Iterable[Union[VideoRecord, Frames]], reference: Iterable[Union[VideoRecord, Frames]],
                    moments: Tuple[np.ndarray, np.ndarray], k: int = 5, max_reference: int = 5000,
                    seed: int = 0) -> Dict[str, np.ndarray]:
    """video_id -> [T] novelty targets in [0, 1] for each of ``videos``, against the frames of the
    ``reference`` (training) videos of the same activity and another label, standardised by
    ``moments`` (mean and std [D] of the reference frames: ``trainer.data.check_records``). At
    most ``max_reference`` frames per (activity, label), drawn with ``seed``, bound the cost. A
    video without sibling frames gets no entry (its LAF cue stands alone), and so does an empty video.

    Both are read once, one video at a time (the reference first): memory holds the drawn frames,
    about labels x ``max_reference`` x D x 4 bytes, one video's sibling frames joined, one block of
    distances (:data:`BLOCK_BYTES`), one [T] target per video and, with :func:`read_frames`, the
    videos being parsed (``trainer.data.whole_videos``). A line every :data:`PROGRESS_S`
    seconds tells how far it got: at scale this runs for a while before the first training step."""
    mean, std = np.asarray(moments[0], np.float64), usable_std(moments[1])
    rng = np.random.default_rng(seed)
    drawn: Dict[Tuple[str, str], _Reservoir] = {}
    started = last = time.monotonic()
    for done, r in enumerate(reference, 1):
        if r.num_frames:
            drawn.setdefault((r.activity, r.label), _Reservoir(max_reference, rng)).add(r.features)
        last = _progress("reference", done, started, last)
    pools = {key: ((drawn.pop(key).rows() - mean) / std).astype(np.float32) for key in sorted(drawn)}
    norms = {key: (pool * pool).sum(1) for key, pool in pools.items()}
    log.info("sibling novelty: %d reference frames drawn for %d labels in %.1f s",
             sum(len(p) for p in pools.values()), len(pools), time.monotonic() - started)
    found = {}
    for done, video in enumerate(videos, 1):
        siblings = [key for key in pools if key[0] == video.activity and key[1] != video.label]
        if siblings and video.num_frames:
            others = np.concatenate([pools[key] for key in siblings])  # one video's at a time: per label, 20
            z = ((video.features - mean) / std).astype(np.float32)  # siblings held at once took 15 GB
            nearest = _nearest_mean(z, others, k, np.concatenate([norms[key] for key in siblings]))
            found[video.video_id] = relative_to_video(tf.constant(nearest, tf.float32)).numpy()
        last = _progress("targets", done, started, last)
    log.info("sibling novelty: %d videos with siblings in %.1f s", len(found), time.monotonic() - started)
    return found


def _progress(stage: str, done: int, started: float, last: float) -> float:
    """A line on ``stage`` when :data:`PROGRESS_S` passed since the ``last`` one; the time of the last line."""
    now = time.monotonic()
    if now - last < PROGRESS_S:
        return last
    log.info("sibling novelty, %s: %d videos in %.0f s", stage, done, now - started)
    return now
