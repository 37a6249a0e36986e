"""laf.serve.online: the hysteresis rules, and defaults that catch a low-contrast action."""
import numpy as np
import pytest

from laf.errors import UserError
from laf.serve import online

STEP = 0.5  # seconds between frames (2 fps)


def _frames(actionness, label=1, classes=3, p_label=0.8):
    """[T] timestamps, [T, N] probabilities naming ``label`` with ``p_label``, and the actionness."""
    a = np.asarray(actionness, np.float64)
    p = np.full((len(a), classes), (1.0 - p_label) / (classes - 1))
    p[:, label] = p_label
    return np.arange(len(a)) * STEP, p, a


def test_a_dip_between_the_thresholds_does_not_split_and_the_end_is_the_closing_frame():
    config = online.OnlineConfig(on=0.5, off=0.2, min_length=0.0)
    t, p, a = _frames([0.0, 0.0, 0.9, 0.9, 0.3, 0.9, 0.9, 0.0, 0.0], p_label=1.0)
    events = online.segments(t, p, a, config=config)
    assert [(e.label, e.start, e.end) for e in events] == [(1, 1.0, 3.5)]
    assert events[0].score == pytest.approx(np.mean([0.9, 0.9, 0.3, 0.9, 0.9]))


def test_segments_shorter_than_min_length_are_dropped():
    config = online.OnlineConfig(on=0.5, off=0.2, min_length=1.0)
    t, p, a = _frames([0.0, 0.9, 0.0, 0.0, 0.9, 0.9, 0.9, 0.0], p_label=1.0)
    assert [(e.start, e.end) for e in online.segments(t, p, a, config=config)] == [(2.0, 3.5)]


def test_the_label_is_the_class_with_the_largest_mean_evidence():
    t, p, a = _frames([0.0, 0.9, 0.9, 0.9, 0.0], label=2)
    p[1] = [0.1, 0.8, 0.1]  # one frame leans to class 1, the rest of the segment to class 2
    (event,) = online.segments(t, p, a, config=online.OnlineConfig(on=0.5, off=0.2, min_length=0.0))
    assert event.label == 2


def test_defaults_catch_a_low_contrast_action_and_ignore_context():
    # Context at actionness 0.03, a low-contrast action at 0.25 (evidence 0.8 x 0.25 = 0.2) for 5 s.
    t, p, a = _frames([0.03] * 20 + [0.25] * 10 + [0.03] * 20)
    events = online.segments(t, p, a)
    assert [(e.label, e.start, e.end) for e in events] == [(1, 10.0, 15.0)]


def test_context_alone_opens_no_segment_with_the_defaults():
    t, p, a = _frames(np.random.default_rng(0).uniform(0.0, 0.06, 200))
    assert online.segments(t, p, a) == []


@pytest.mark.parametrize("on, off, min_length", [(0.2, 0.2, 1.0), (0.1, 0.2, 1.0), (1.5, 0.1, 1.0), (0.3, 0.1, -1.0),
                                                     (0.3, 0.0, 1.0)])  # off 0: evidence never falls below it
def test_inconsistent_thresholds_are_a_clear_error(on, off, min_length):
    with pytest.raises(UserError, match="online detector needs"):
        online.OnlineConfig(on=on, off=off, min_length=min_length)


def test_non_finite_outputs_are_a_clear_error():
    t, p, a = _frames([0.0, 0.9, np.nan, 0.9, 0.0])
    with pytest.raises(UserError, match="outputs are not finite"):
        online.segments(t, p, a)
