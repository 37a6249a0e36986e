"""laf.transfer.floor: the class floor tops a class up with its best-scoring rows."""
import numpy as np

from laf.transfer.floor import apply_floor, emptied_classes


def test_apply_floor_picks_top_scores():
    labels = np.array([0, 0, 0, 0, 1, 1, 2])
    scores = np.array([0.9, 0.2, 0.4, 0.3, 0.1, 0.05, 0.0], np.float32)
    candidates = np.array([1, 1, 1, 0, 1, 1, 1], bool)  # row 3 was dropped in an earlier round
    passed = candidates & (scores > 0.5)
    mask, cases = apply_floor(candidates, passed, scores, labels, 2, 3)
    assert mask.tolist() == [1, 0, 1, 0, 1, 1, 1]
    assert cases == {0: (1, 2), 1: (0, 2), 2: (0, 1)}
    assert apply_floor(candidates, passed, scores, labels, 0, 3)[0].tolist() == passed.tolist()


def test_emptied_classes_are_those_that_had_rows_and_kept_none():
    labels = np.array([0, 0, 1, 1, 2])
    kept = np.array([1, 0, 0, 0, 0], bool)
    assert emptied_classes(np.array([1, 1, 1, 1, 0], bool), kept, labels, 3).tolist() == [1]  # 2 had none
