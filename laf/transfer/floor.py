"""One filtering step of Algorithm 1 (steps 3 and 6) and the class floor that keeps every action
learnable: a threshold alone can empty a class, after which no later round could learn it again."""
from __future__ import annotations

import dataclasses
import logging
from typing import Dict, List, Sequence, Tuple

import numpy as np

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class FloorCase:
    """A class the thresholds would have pushed below the floor, and what was kept instead. Every
    round's repairs are listed, the last round's too when the stopping rule then discarded it."""

    round: int
    kind: str               # "images" or "frames"
    label: str
    passed_threshold: int   # rows of the class above theta
    kept: int               # rows kept after applying the floor


def apply_floor(candidates: np.ndarray, passed: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                minimum: int, num_classes: int) -> Tuple[np.ndarray, Dict[int, Tuple[int, int]]]:
    """Top up every class below ``minimum`` with its best-scoring candidates.

    Filtering can empty a class, after which no model could learn it again; keeping the class's
    top-scoring rows is the least arbitrary repair. Returns the new mask and, per repaired class,
    (rows that passed, rows kept).
    """
    mask = passed.copy()
    cases: Dict[int, Tuple[int, int]] = {}
    if minimum <= 0:
        return mask, cases
    counts = np.bincount(labels[passed], minlength=num_classes)
    for c in np.flatnonzero(counts < minimum):
        pool = np.flatnonzero(candidates & (labels == c))
        if len(pool) <= counts[c]:
            continue  # nothing more to give (the class never had more)
        order = np.lexsort((pool, -scores[pool]))  # best first; ties by position (deterministic)
        mask[pool[order[:minimum]]] = True
        cases[int(c)] = (int(counts[c]), int(mask[pool].sum()))
    return mask, cases


def emptied_classes(candidates: np.ndarray, kept: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Classes that had candidate rows and kept none: only a class floor of 0 lets a round do that."""
    had = np.bincount(labels[candidates], minlength=num_classes) > 0
    return np.flatnonzero(had & (np.bincount(labels[kept], minlength=num_classes) == 0))


def filter_step(r: int, kind: str, mask: np.ndarray, scores: np.ndarray, theta: float, labels: np.ndarray,
            minimum: int, label_names: Sequence[str]) -> Tuple[np.ndarray, List[FloorCase]]:
    """One filtering step of round ``r`` (Algorithm 1, steps 3 and 6): the rows of ``mask`` scoring
    above ``theta``, every class topped up to ``minimum``; the floor cases reported. Only a floor of
    0 lets a class lose every row, which is said in the log (``rounds.json`` shows an emptied image class
    as a 0 in ``images_kept_per_class``; frames it counts in total only)."""
    kept, cases = apply_floor(mask, mask & (scores > theta), scores, labels, minimum, len(label_names))
    if minimum <= 0:
        _warn_emptied(r, kind, emptied_classes(mask, kept, labels, len(label_names)), label_names)
    return kept, _report(r, kind, cases, label_names)


def _warn_emptied(r: int, kind: str, classes: np.ndarray, label_names: Sequence[str]) -> None:
    if len(classes):
        log.warning("domain transfer round %d kept no %s of %s: the thresholds removed them all and the class floor"
                    " is 0, so no model learns these actions from %s (raise domain_transfer.min_%s_per_class)",
                    r, kind, ", ".join(repr(label_names[c]) for c in classes), kind, kind)



def _report(r: int, kind: str, cases: Dict[int, Tuple[int, int]], label_names: Sequence[str]) -> List[FloorCase]:
    out = [FloorCase(r, kind, label_names[c], passed, kept) for c, (passed, kept) in sorted(cases.items())]
    for case in out:
        log.warning("class floor: round %d kept %d %s of %r (only %d passed the threshold)",
                    r, case.kept, kind, case.label, case.passed_threshold)
    return out
