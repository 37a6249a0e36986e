"""Whole videos in and out of padded batches: what every caller of a per-frame model repeats."""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np


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
