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

from typing import Dict, Sequence

import numpy as np
import tensorflow as tf

from laf.transfer.moments import usable_std
from schemas.records import VideoRecord
from trainer.data import relative_to_video


def _sq_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T, 0.0)


def sibling_novelty(videos: Sequence[VideoRecord], reference: Sequence[VideoRecord], k: int = 5,
                    max_reference: int = 5000, seed: int = 0) -> Dict[str, np.ndarray]:
    """video_id -> [T] novelty targets in [0, 1] for each of ``videos``, against the frames of the
    ``reference`` (training) videos of the same activity and another label. At most
    ``max_reference`` frames per (activity, label), drawn with ``seed``, bound the cost. A video
    without sibling frames gets no entry (its LAF cue stands alone), and so does an empty video.

    Memory: the reference videos' frames are held whole (their moments come from all of them),
    about frames x D x 4 bytes: fine for thousands of videos, not for the paper's 48k at D=4096."""
    reference = [r for r in reference if r.num_frames]
    everything = np.concatenate([r.features for r in reference]) if reference else np.zeros([0, 1])
    mean, std = everything.mean(0), usable_std(everything.std(0))
    rng = np.random.default_rng(seed)
    pools: Dict[tuple, np.ndarray] = {}
    for key in sorted({(r.activity, r.label) for r in reference}):
        frames = np.concatenate([r.features for r in reference if (r.activity, r.label) == key])
        if len(frames) > max_reference:
            frames = frames[np.sort(rng.choice(len(frames), max_reference, replace=False))]
        pools[key] = ((frames - mean) / std).astype(np.float32)
    found = {}
    for video in videos:
        siblings = [p for (activity, label), p in pools.items() if activity == video.activity and label != video.label]
        if not siblings or not video.num_frames:
            continue
        others = np.concatenate(siblings)
        z = ((video.features - mean) / std).astype(np.float32)
        nearest = np.sort(_sq_distances(z, others), axis=1)[:, :k]
        found[video.video_id] = relative_to_video(tf.constant(np.sqrt(nearest).mean(1), tf.float32)).numpy()
    return found
