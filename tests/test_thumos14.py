"""laf.evaluate.thumos14: the THUMOS14 kit's AP, on cases worked by hand where it differs from the
ActivityNet computation (laf.evaluate.evaluation.average_precision)."""
import pytest

from laf.evaluate import evaluation, thumos14
from schemas.segment import Detection
from schemas.segment import AMBIGUOUS, Segment


def both(gt, dets, tiou=0.5, ambiguous=None):
    """(kit AP, ActivityNet AP) of class "a"."""
    return tuple(float(f(gt, dets, [tiou], ambiguous).ap["a"][0])
                 for f in (thumos14.average_precision, evaluation.average_precision))


def test_ground_truth_takes_the_detection_it_overlaps_most_not_the_best_scored():
    gt = {"v": [Segment(0, 10, "a")]}
    dets = [Detection("v", 0, 8, "a", 0.9), Detection("v", 0, 10, "a", 0.8)]
    # kit: the segment takes the exact 0.8 detection, so the 0.9 one is a false positive ranked first
    assert both(gt, dets) == (pytest.approx(0.5), pytest.approx(1.0))


def test_the_overlap_must_exceed_the_threshold():
    gt = {"v": [Segment(0, 10, "a")]}
    assert both(gt, [Detection("v", 0, 5, "a", 0.9)]) == (0.0, 1.0)  # tIoU exactly 0.5
    assert both(gt, [Detection("v", 0, 5, "a", 0.9)], tiou=0.4) == (1.0, 1.0)


def test_average_precision_is_not_interpolated():
    gt = {"v1": [Segment(0, 10, "a")], "v2": [Segment(0, 10, "a")]}
    dets = [Detection("v1", 50, 60, "a", 0.9), Detection("v1", 0, 10, "a", 0.8), Detection("v2", 0, 10, "a", 0.7)]
    # ranks FP, TP, TP: precisions 1/2 and 2/3 at the hits; interpolated, the first hit gets 2/3 too
    assert both(gt, dets) == (pytest.approx((1 / 2 + 2 / 3) / 2), pytest.approx(2 / 3))


def test_ambiguous_drops_unmatched_detections_only():
    gt = {"v": [Segment(0, 10, "a")]}
    amb = {"v": [Segment(5, 30, AMBIGUOUS)]}
    dets = [Detection("v", 20, 25, "a", 0.9), Detection("v", 0, 10, "a", 0.8)]
    assert both(gt, dets, ambiguous=amb) == (1.0, 1.0)  # the 0.9 false positive lies on the Ambiguous segment
    assert both(gt, dets) == (pytest.approx(0.5), pytest.approx(0.5))
    touching = [Detection("v", 30, 35, "a", 0.9), Detection("v", 0, 10, "a", 0.8)]  # touches, does not overlap
    assert both(gt, touching, ambiguous=amb) == (pytest.approx(0.5), pytest.approx(0.5))


def test_classes_without_detections_and_equal_confidences():
    gt = {"v1": [Segment(0, 10, "a")], "v2": [Segment(0, 10, "b")]}
    result = thumos14.average_precision(gt, [Detection("v1", 0, 10, "a", 0.5)], [0.5])
    assert result.ap["a"].tolist() == [1.0] and result.ap["b"].tolist() == [0.0] and result.mAP.tolist() == [0.5]
    # equal confidences rank in the order of video name: the hit in "v1" before the miss in "v2"
    tied = [Detection("v2", 50, 60, "a", 0.5), Detection("v1", 0, 10, "a", 0.5)]
    assert thumos14.average_precision(gt, tied, [0.5]).ap["a"].tolist() == [1.0]


def test_an_unknown_protocol_is_an_error_not_a_fallback():
    assert thumos14.by_protocol("thumos14") is thumos14.average_precision
    assert thumos14.by_protocol("activitynet") is evaluation.average_precision
    with pytest.raises(ValueError, match="unknown mAP protocol 'THUMOS14'"):
        thumos14.by_protocol("THUMOS14")
