"""Standard deviations to standardise CNN features by (the domain-transfer SVMs, the trainer's
input layer, sibling novelty)."""
from __future__ import annotations

import numpy as np

CONSTANT = 1e-6  # a spread below this is a dimension constant on the reference frames


def usable_std(std) -> np.ndarray:
    """``std`` [D], with 1 where a dimension is constant on the frames it came from. Why: that
    dimension says nothing there, and dividing by ~0 turns any other value it takes later (a
    ReLU channel dead on every training frame, alive on one test frame) into ~1e6, which saturates
    whatever reads it; its learnt weights never saw a gradient either."""
    std = np.asarray(std, np.float64)
    return np.where(std > CONSTANT, std, 1.0)
