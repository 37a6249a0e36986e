"""Whole videos in and out of padded batches: what every caller of a per-frame model repeats."""
from __future__ import annotations

from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, TypeVar

import numpy as np

T = TypeVar("T")
FRAME_SLOTS = 1 << 16  # videos x the longest one's frames in one batch (its padded size)


def pad(features: Sequence[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """Videos' [T_i, D] features -> zero-padded [B, max T, D] float32 and lengths [B] int32."""
    lengths = np.asarray([len(f) for f in features], np.int32)
    batch = np.zeros((len(features), max(int(lengths.max()), 1), features[0].shape[1]), np.float32)
    for i, f in enumerate(features):
        batch[i, :len(f)] = f
    return batch, lengths


def unpad(outputs: Dict[str, np.ndarray], lengths: np.ndarray) -> List[Dict[str, np.ndarray]]:
    """Batched per-frame outputs {name: [B, T, ...]} -> one {name: [T_i, ...]} per video."""
    return [{k: v[i, :n] for k, v in outputs.items()} for i, n in enumerate(lengths)]


def groups(items: Iterable[T], length: Callable[[T], int], batch: Optional[int] = None,
           slots: int = FRAME_SLOTS) -> Iterator[List[T]]:
    """Consecutive items, up to ``batch`` of them (None: any number) and, padded to the longest, up
    to ``slots`` frames (one video alone however long). Why: a batch pads every video to its
    longest, and the recurrent layers hold every padded step's gate inputs; 32 videos of 6 h at
    1 fps were ~20 GB."""
    group: List[T] = []
    longest = 0  # of the group's videos
    for item in items:
        longest = max(longest, length(item))
        if group and (len(group) == batch or (len(group) + 1) * longest > slots):
            yield group
            group, longest = [], length(item)
        group.append(item)
    if group:
        yield group


def per_video(run: Callable[[np.ndarray, np.ndarray], Dict[str, np.ndarray]], features: Sequence[np.ndarray],
              slots: int = FRAME_SLOTS) -> List[Dict[str, np.ndarray]]:
    """``run(padded [B, T, D], lengths [B])`` -> {name: [B, T, ...]}, over consecutive groups of at
    most ``slots`` padded frames: one {name: [T_i, ...]} per video, in order."""
    found: List[Dict[str, np.ndarray]] = []
    for group in groups(features, len, slots=slots):
        padded, lengths = pad(group)
        found += unpad(run(padded, lengths), lengths)
    return found
