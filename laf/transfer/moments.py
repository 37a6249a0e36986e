"""Standard deviations to standardise CNN features by (the domain-transfer SVMs, the trainer's
input layer, sibling novelty)."""
from __future__ import annotations

from typing import Tuple

import numpy as np

CONSTANT = 1e-6  # a spread below this is a dimension constant on the reference frames


def usable_std(std) -> np.ndarray:
    """``std`` [D], with 1 where a dimension is constant on the frames it came from. Why: that
    dimension says nothing there, and dividing by ~0 turns any other value it takes later (a
    ReLU channel dead on every training frame, alive on one test frame) into ~1e6, which saturates
    whatever reads it; its learnt weights never saw a gradient either."""
    std = np.asarray(std, np.float64)
    return np.where(std > CONSTANT, std, 1.0)


def moments_from_sums(count: float, total, squares, shift) -> Tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation [D] from the count, sum and sum of squares of ``x - shift`` over
    the rows (``shift`` [D]: one of them). Why shifted: E[x²] - E[x]² of the raw values cancels
    catastrophically, and a dimension constant at 20 over 100k frames came out with a spread of
    ~1e-6 instead of 0, above :data:`CONSTANT`; about the shift, a constant dimension sums to
    exactly 0."""
    count = max(float(count), 1.0)
    centred = np.asarray(total, np.float64) / count
    variance = np.asarray(squares, np.float64) / count - centred ** 2
    return np.asarray(shift, np.float64) + centred, np.sqrt(np.maximum(variance, 0.0))
