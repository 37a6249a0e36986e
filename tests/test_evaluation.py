"""Hand-computed cases of the evaluation library, plus random cross-checks against straightforward
per-detection loops written from the protocol text."""
import dataclasses

import numpy as np
import pytest

from laf.evaluate import evaluation as ev
from laf.evaluate.evaluation import LocalizeConfig
from schemas.segment import Detection, Segment
from schemas.vocabulary import Vocabulary


def ap_of(gt, dets, tious=(0.5,), ambiguous=None, label="a"):
    return ev.average_precision(gt, dets, tious, ambiguous).ap[label]


# --- Hit@k and activities --------------------------------------------------------------------------

def test_average_fusion_ignores_padding():
    batch = np.zeros((2, 3, 2))
    batch[0] = [[1, 0], [0, 1], [1, 0]]
    batch[1, :1] = [[0.2, 0.8]]
    batch[1, 1:] = 99.0  # padding past num_frames must not count
    np.testing.assert_allclose(ev.average_fusion(batch, [3, 1]), [[2 / 3, 1 / 3], [0.2, 0.8]])
    np.testing.assert_allclose(ev.average_fusion(batch[0]), [2 / 3, 1 / 3])


def test_top_k_fusion_takes_each_class_best_frames():
    scores = np.array([[0.0, 1.0], [0.0, 0.0], [0.0, 0.0], [5.0, 0.0]])
    np.testing.assert_allclose(ev.top_k_fusion(scores, 0.25), [5.0, 1.0])
    np.testing.assert_allclose(ev.top_k_fusion(scores, 1.0), [1.25, 0.25])
    np.testing.assert_allclose(ev.top_k_fusion(scores, 0.01), [5.0, 1.0])  # at least one frame


def test_actionness_fusion_ignores_confident_context():
    """Context frames (low actionness) confidently vote for a sibling; the action frames do not win
    average fusion but do win actionness fusion."""
    p = np.array([[0.1, 0.9]] * 14 + [[0.9, 0.1]] * 2)
    a = np.array([0.1] * 14 + [0.9] * 2)
    assert ev.average_fusion(p).argmax() == 1
    assert ev.fuse(p).argmax() == 1  # no actionness: the paper's average fusion
    assert ev.actionness_fusion(p, a).argmax() == 0
    assert ev.fuse(p, a).argmax() == 0
    np.testing.assert_allclose(ev.class_evidence(p, a), p * a[:, None])
    np.testing.assert_allclose(ev.class_evidence(p), p)


def test_hit_at_k_ties_rank_lower_index_first():
    scores = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.1, 0.2, 0.7]])
    labels = [0, 1, 0]
    assert ev.label_ranks(scores, labels).tolist() == [0, 1, 2]
    assert ev.hit_at_k(scores, labels, 1) == pytest.approx(1 / 3)
    assert ev.hit_at_k(scores, labels, 2) == pytest.approx(2 / 3)
    assert ev.hit_at_k(scores, labels, 3) == 1.0
    assert np.isnan(ev.hit_at_k(np.zeros((0, 3)), [], 1))


def test_non_finite_scores_hit_nothing():
    scores = np.array([[np.nan] * 3, [0.9, np.nan, 0.1], [0.1, 0.2, 0.7]])
    assert ev.label_ranks(scores, [1, 1, 2]).tolist() == [ev.MISSED, ev.MISSED, 0]
    for k in (1, 3, 5):  # k beyond the 3 classes too: the Evaluator's Hit@5
        assert ev.hit_at_k(scores, [1, 1, 2], k) == pytest.approx(1 / 3)


def test_activity_confidence_is_mean_of_child_actions():
    vocab = Vocabulary.build(["A:x", "A:y", "B:z"])
    scores = np.array([[0.4, 0.0, 0.3], [0.1, 0.6, 0.3]])
    np.testing.assert_allclose(ev.activity_scores(scores, vocab.activity_matrix()), [[0.2, 0.3], [0.35, 0.3]])
    labels = [vocab.index("A:x"), vocab.index("A:y")]
    assert ev.hit_at_k(scores, labels, 1) == 1.0
    # Video 0: action right but its activity loses (0.2 < 0.3); video 1: activity A wins.
    assert ev.activity_hit_at_k(scores, labels, vocab.activity_matrix(), 1) == 0.5
    assert ev.activity_hit_at_k(scores, labels, vocab.activity_matrix(), 2) == 1.0


# --- sliding window + NMS ----------------------------------------------------------------------------

PROBS = np.stack([[0.9, 0.8, 0.1, 0.1, 0.7, 0.9]], axis=1)
PROBS = np.concatenate([PROBS, 1.0 - PROBS], axis=1)  # [6, 2]


def test_window_nms_on_made_up_sequence():
    found = ev.detect(PROBS, np.arange(6.0), LocalizeConfig(window=2, stride=1, nms_overlap=0.0))
    # class 0 windows: .85 .45 .1 .4 .8 -> keep [0,2] .85, [4,6] .8, then [2,4] .1 (touching only)
    # class 1 windows: .15 .55 .9 .6 .2 -> keep [2,4] .9, then [4,6] .2, [0,2] .15
    expected = [(2, 4, 1, 0.9), (0, 2, 0, 0.85), (4, 6, 0, 0.8), (4, 6, 1, 0.2), (0, 2, 1, 0.15), (2, 4, 0, 0.1)]
    got = list(zip(found.start, found.end, found.label, found.score))
    assert [g[:3] for g in got] == [e[:3] for e in expected]
    np.testing.assert_allclose(found.score, [e[3] for e in expected])


def test_window_options_top_k_max_detections_and_overlap():
    top1 = ev.detect(PROBS, np.arange(6.0), LocalizeConfig(window=2, top_k_classes=1, max_detections=2))
    assert top1.label.tolist() == [0, 0] and top1.start.tolist() == [0, 4]
    # nms_overlap 1.0 keeps every window: 5 per class
    assert len(ev.detect(PROBS, np.arange(6.0), LocalizeConfig(window=2, nms_overlap=1.0)).score) == 10
    # tIoU([0,2],[1,3]) = 1/3: allowed at 0.4, so class 0 keeps .85 then .45 is not suppressed by it
    loose = ev.detect(PROBS, np.arange(6.0), LocalizeConfig(window=2, nms_overlap=0.4))
    assert {(s, e) for s, e, c in zip(loose.start, loose.end, loose.label) if c == 0} == {
        (0, 2), (1, 3), (2, 4), (3, 5), (4, 6)}
    with pytest.raises(ValueError, match="window and stride must be >= 1"):
        LocalizeConfig(window=0)


def test_windows_cover_tail_and_short_videos_and_use_timestamps():
    assert ev.window_starts(5, 2, 2)[0].tolist() == [0, 2, 3]
    assert ev.window_starts(3, 10, 1) == (pytest.approx([0]), 3)
    stamps = np.array([0.0, 0.5, 1.5])
    dets = ev.localize("v", np.array([[1.0], [1.0], [1.0]]), stamps, ["X"], LocalizeConfig(window=10))
    assert dets == [Detection("v", 0.0, 2.25, "X", 1.0)]  # last frame lasts the mean interval 0.75 s
    assert ev.localize("v", np.array([[1.0]]), [3.0], ["X"]) == [Detection("v", 3.0, 4.0, "X", 1.0)]  # 1 s
    assert ev.localize("v", np.zeros((0, 1)), [], ["X"]) == []


@pytest.mark.parametrize("stamps, video_end, end", [
    ([0.0], 0.1, 0.1),                  # a clip shorter than a second: not a detection past its end
    ([3.0], 3.5, 3.5),
    ([0.0, 0.5, 1.0], 1.3, 1.3),        # the last sample lasts until the video ends
    ([0, 0, 0, 2, 2, 2, 4, 4, 4, 6, 6, 6], 8.0, 8.0),  # a 0.5 fps source sampled at 2 fps: its last frame lasts 2 s
    ([0.0, 0.5, 1.0], 1.0, 1.5),        # a duration not after the last frame is no duration: the mean interval
    ([0.0, 0.5, 1.0], None, 1.5),
])
def test_the_last_frame_lasts_until_the_video_s_end(stamps, video_end, end):
    n = len(stamps)
    dets = ev.localize("v", np.ones((n, 1)), np.asarray(stamps, np.float64), ["X"], LocalizeConfig(window=n),
                       video_end)
    assert dets == [Detection("v", float(stamps[0]), end, "X", 1.0)]


def test_a_repeated_time_lasts_until_the_next_later_frame():
    """Ingestion reuses a frame across a gap of a variable-frame-rate file (times 0, 0, 0, 5, ...):
    no window may end where it starts, or NMS keeps all of them."""
    stamps = np.repeat(np.arange(0.0, 40.0, 5.0), 10)
    assert ev.frame_bounds(stamps)[1][8:13].tolist() == [5.0, 5.0, 10.0, 10.0, 10.0]
    assert ev.frame_bounds([3.0, 3.0, 3.0])[1].tolist() == [4.0, 4.0, 4.0]  # one time throughout: a 1-s frame
    probs = np.random.default_rng(0).dirichlet(np.ones(3), size=len(stamps))
    found = ev.detect(probs, stamps, LocalizeConfig(window=4, scales=(0.5, 1.0, 2.0), run_thresholds=(0.4,)))
    assert len(found.score) and (found.end > found.start).all()


def evidence(frames, actions):
    """[T, 2] class evidence: class 0 at 0.9 on the ``actions`` spans (start, end steps), ~0 elsewhere."""
    e = np.full((frames, 2), 0.02)
    for start, end in actions:
        e[start:end, 0] = 0.9
    return e


def test_window_lengths_follow_the_action_with_several_scales():
    # a 3-step and a 16-step action; the paper's single 8-step window fits neither (tIoU 0.375 and 0.5)
    e, stamps = evidence(60, [(5, 8), (30, 46)]), np.arange(60.0)
    several = LocalizeConfig(window=8, scales=(0.4, 1.0, 2.0))  # 3, 8 and 16 steps
    assert several.widths() == (3, 8, 16)
    found = ev.detect(e, stamps, several)
    best = sorted(zip(found.start[found.label == 0][:2], found.end[found.label == 0][:2]))
    assert best == [(5.0, 8.0), (30.0, 46.0)]
    single = ev.detect(e, stamps, LocalizeConfig(window=8))
    top = list(zip(single.start[single.label == 0][:3], single.end[single.label == 0][:3]))
    assert all(ev.tiou(a, b, 5.0, 8.0) < 0.5 and ev.tiou(a, b, 30.0, 46.0) <= 0.5 for a, b in top)


def test_a_short_video_s_whole_video_window_outranks_its_action_only_on_high_context_evidence():
    """The longest length collapses into one window without flanks, measured against no action
    (evidence 0). A brief action inside still wins, also under NMS that keeps only the best window,
    while the rest of the video stays below ~1/5 of the action's evidence (window_scores' docstring;
    the trained models' context is far lower); above that, the whole video wins."""
    config = LocalizeConfig(window=10, scales=(0.4, 0.6, 1.0, 1.6), nms_overlap=0.0)
    for context, action_first in ((0.02, True), (0.15, True), (0.2, False)):
        e = np.full((16, 1), context)
        e[6:10] = 0.9
        found = ev.detect(e, np.arange(16.0), config)
        assert ((found.start[0], found.end[0]) == (6.0, 10.0)) == action_first, context


def test_a_trimmed_clip_that_is_action_throughout_is_one_detection_of_its_class():
    """No window of such a clip stands out from its flanks; the whole clip does, from no action. With
    a contrast of 0 for it, every class scored ~0 and the top detection was noise (a Vault clip came
    out as Swimming:Backstroke). Short clips take the whole-video window, long ones the evidence run."""
    from pipeline.config import EvaluationConfig

    product = LocalizeConfig(**EvaluationConfig().localize())
    rng = np.random.default_rng(0)
    for frames in (8, 40):  # 8: the whole-video window with its sqrt(8 / 10) length factor
        e = np.stack([0.8 + rng.uniform(-0.05, 0.05, frames), rng.uniform(0.0, 0.05, frames)], axis=1)
        found = ev.detect(e, np.arange(frames) * 0.5, product)
        assert (found.label[0], found.start[0], found.end[0]) == (0, 0.0, frames * 0.5)
        assert found.score[0] == pytest.approx(e[:, 0].mean() * (1.0 if frames > max(product.widths()) else
                                                               np.sqrt(frames / product.window)))
        assert found.score[found.label == 1].max() < 0.1 * found.score[0]


def test_several_scales_merge_two_actions_only_when_the_gap_is_short():
    # two 6-step actions and a window length that spans both exactly. Apart by 16 steps (> twice their
    # length) they stay apart; apart by 4 steps the window over both wins (window_scores' docstring).
    far = ev.detect(evidence(70, [(10, 16), (32, 38)]), np.arange(70.0), LocalizeConfig(window=6, scales=(1.0, 28 / 6)))
    assert sorted(zip(far.start[far.label == 0][:2], far.end[far.label == 0][:2])) == [(10.0, 16.0), (32.0, 38.0)]
    close = ev.detect(evidence(70, [(10, 16), (20, 26)]), np.arange(70.0), LocalizeConfig(window=6, scales=(1.0, 16 / 6)))
    assert (close.start[close.label == 0][0], close.end[close.label == 0][0]) == (10.0, 26.0)


def test_an_action_longer_than_every_window_gets_its_evidence_run():
    """A 40-step action and two 4-step ones 3 steps apart, windows of at most 17 steps: no window
    reaches tIoU 0.5 on the long action; the run of evidence above a share of the peak does, and
    the short ones keep their own windows (their runs are no longer than a window)."""
    e = evidence(120, [(80, 84), (87, 91)])
    e[20:60, 0] = 0.8
    e[30:35, 0] = 0.6  # a dip inside the long action: the run above 0.8 of the peak (0.72) splits there
    windows = LocalizeConfig(window=10, scales=(0.4, 1.0, 1.7))
    runs = dataclasses.replace(windows, run_thresholds=(0.1, 0.5, 0.8))
    assert ev.evidence_runs(e, windows)[0].size == 0
    assert [tuple(x) for x in np.transpose(ev.evidence_runs(e, runs))] == [(20, 40), (35, 25)]  # 0.1 and 0.5: one run
    from pipeline.config import EvaluationConfig

    product = LocalizeConfig(**EvaluationConfig().localize())  # windows of 4-16 steps, runs from 0.2 of the peak
    for config, hits in ((windows, 0), (runs, 1), (product, 1)):
        found = ev.detect(e, np.arange(120.0), config)
        top = list(zip(found.start[found.label == 0][:3], found.end[found.label == 0][:3]))
        assert sum(ev.tiou(a, b, 20.0, 60.0) >= 0.5 for a, b in top) == hits
        assert config is product or {(80.0, 84.0), (87.0, 91.0)} <= set(top)  # (product: a 16-step window joins them)
    # a run scores its contrast alone: mean 0.775 inside minus the 10-step flanks' 0.02; a window of the
    # same length would get sqrt(40 / 10) = 2 times that
    [score] = ev.window_scores(e, np.array([20]), np.array([40]), runs)[:, 0]
    assert score == pytest.approx((35 * 0.8 + 5 * 0.6) / 40 - 0.02)


def test_the_product_s_runs_keep_two_nearby_occurrences_apart():
    """Two 8-step occurrences 3 steps apart, the gap at 0.15 of the peak. A run from 0.1 of the peak
    joins them and outranks both windows (their flanks touch the other occurrence); the product's
    thresholds start at 0.2 of the peak, so each keeps a window of its own, as without runs."""
    from pipeline.config import EvaluationConfig

    e = evidence(80, [(20, 28), (31, 39)])
    e[28:31, 0] = 0.135
    product = LocalizeConfig(**EvaluationConfig().localize())
    for config, hits in ((product, 2), (dataclasses.replace(product, run_thresholds=(0.1, 0.5, 0.9)), 0),
                         (dataclasses.replace(product, run_thresholds=()), 2)):
        found = ev.detect(e, np.arange(80.0), config)
        top = zip(found.start[found.label == 0][:2], found.end[found.label == 0][:2])
        assert sum(max(ev.tiou(a, b, 20.0, 28.0), ev.tiou(a, b, 31.0, 39.0)) >= 0.5 for a, b in top) == hits


def test_run_thresholds_are_checked_and_need_several_lengths_and_evidence():
    with pytest.raises(ValueError, match="run_thresholds must lie in"):
        LocalizeConfig(run_thresholds=(0.5, 0.0))
    long_action = evidence(60, [(10, 40)])
    several = LocalizeConfig(window=4, scales=(0.5, 1.0), run_thresholds=(0.5,))
    assert [tuple(x) for x in np.transpose(ev.evidence_runs(long_action, several))] == [(10, 30)]
    assert ev.evidence_runs(long_action, dataclasses.replace(several, scales=(1.0,)))[0].size == 0
    assert ev.evidence_runs(np.zeros((50, 2)), several)[0].size == 0


def test_probabilities_alone_keep_the_papers_single_window():
    several = LocalizeConfig(window=4, scales=(0.5, 1.0, 2.0), run_thresholds=(0.5,))
    assert several.for_evidence(actionness=True) == several
    assert several.for_evidence(actionness=False) == LocalizeConfig(window=4)
    probs, stamps = evidence(30, [(5, 9)]), np.arange(30.0)
    assert (ev.localize("v", probs, stamps, ["a", "b"], several)
            == ev.localize("v", probs, stamps, ["a", "b"], LocalizeConfig(window=4)))
    with_actionness = ev.localize("v", probs, stamps, ["a", "b"], several, actionness=np.ones(30))
    assert with_actionness != ev.localize("v", probs, stamps, ["a", "b"], LocalizeConfig(window=4),
                                          actionness=np.ones(30))
    with pytest.raises(ValueError, match="scales must be positive and not empty"):  # not min()'s own ValueError
        LocalizeConfig(scales=())
    with pytest.raises(ValueError, match="scales must be positive and not empty"):
        LocalizeConfig(scales=(1.0, -0.5))


def reference_nms(probs, stamps, window, overlap):
    """Per class: all windows sorted by score (stable), greedily keep non-overlapping ones."""
    t = len(probs)
    starts, w = ev.window_starts(t, window, 1)
    ends_f = np.append(stamps[1:], stamps[-1] + (stamps[-1] - stamps[0]) / (t - 1))
    out = []
    for c in range(probs.shape[1]):
        cand = sorted(((probs[s:s + w, c].mean(), s) for s in starts), key=lambda x: -x[0])
        kept = []
        for score, s in cand:
            a, b = stamps[s], ends_f[s + w - 1]
            if all(ev.tiou(a, b, ka, kb) <= overlap for _, ka, kb in kept):
                kept.append((score, a, b))
        out += [(a, b, c, score) for score, a, b in kept]
    return sorted(out, key=lambda x: (-x[3], x[2], x[0]))


@pytest.mark.parametrize("seed", range(3))
def test_detect_matches_reference_loop_on_random_input(seed):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(4), size=40)
    stamps = np.cumsum(rng.uniform(0.5, 1.5, size=40))
    for overlap in (0.0, 0.3):
        found = ev.detect(probs, stamps, LocalizeConfig(window=5, nms_overlap=overlap))
        ref = reference_nms(probs, stamps, 5, overlap)
        assert len(found.score) == len(ref)
        np.testing.assert_allclose(np.stack([found.start, found.end, found.label, found.score], 1), ref)


# --- mAP -------------------------------------------------------------------------------------------

def test_detection_overlapping_two_segments_matches_highest_tiou():
    gt = {"v": [Segment(0, 10, "a"), Segment(12, 20, "a")]}
    # [5,15]: tIoU 1/3 with the first, 0.2 with the second
    dets = [Detection("v", 5, 15, "a", 0.9), Detection("v", 12, 20, "a", 0.8)]
    np.testing.assert_allclose(ap_of(gt, dets, (0.1, 0.3, 0.5)), [1.0, 1.0, 0.25])
    # [9,20] prefers the second segment (8/11); [12,20] then finds it taken and the first too far
    dets = [Detection("v", 9, 20, "a", 0.9), Detection("v", 12, 20, "a", 0.8)]
    np.testing.assert_allclose(ap_of(gt, dets, (0.5,)), [0.5])
    # [7,20] clears 0.1 with both (0.15 and 8/13) and must take the better one, even though listed second
    dets = [Detection("v", 7, 20, "a", 0.9), Detection("v", 12, 20, "a", 0.8)]
    np.testing.assert_allclose(ap_of(gt, dets, (0.1,)), [0.5])


def test_second_detection_on_one_segment_is_false():
    gt = {"v1": [Segment(0, 10, "a")], "v2": [Segment(0, 10, "a")]}
    dets = [Detection("v1", 0, 10, "a", 0.9), Detection("v1", 1, 10, "a", 0.8), Detection("v2", 0, 10, "a", 0.7)]
    # precision 1, 1/2, 2/3 at recall .5, .5, 1 -> .5 * 1 + .5 * 2/3
    np.testing.assert_allclose(ap_of(gt, dets), [5 / 6])


def test_windows_without_a_finite_score_are_neither_kept_nor_suppress_others():
    p = np.full((30, 2), 0.1)
    p[10:20, 0] = 0.9
    p[25, 0] = np.nan  # one broken frame: the windows it reaches have no score
    found = ev.detect(p, np.arange(30.0), ev.LocalizeConfig(window=10))
    assert np.isfinite(found.score).all() and len(found.score)
    best = np.flatnonzero(found.label == 0)[0]
    assert (found.start[best], found.end[best]) == (10.0, 20.0)
    assert len(ev.detect(np.full((30, 2), np.nan), np.arange(30.0), ev.LocalizeConfig(window=10)).score) == 0


def test_ties_in_score_rank_by_video_and_time_whatever_the_input_order():
    """The Evaluator, `laf evaluate` and the report list videos in different orders."""
    gt = {"v": [Segment(0, 10, "a")]}
    false, true = Detection("v", 50, 60, "a", 0.5), Detection("v", 0, 10, "a", 0.5)
    np.testing.assert_allclose(ap_of(gt, [false, true]), [1.0])
    np.testing.assert_allclose(ap_of(gt, [true, false]), [1.0])
    gt = {"v1": [Segment(0, 10, "a")], "v2": []}
    first, second = Detection("v1", 0, 10, "a", 0.5), Detection("v2", 0, 10, "a", 0.5)
    assert ap_of(gt, [second, first]) == ap_of({"v2": [], **gt}, [first, second]) == [1.0]


def test_class_without_detections_scores_zero_and_counts_in_map():
    gt = {"v": [Segment(0, 10, "a"), Segment(20, 30, "b")]}
    result = ev.average_precision(gt, [Detection("v", 0, 10, "a", 1.0), Detection("v", 0, 10, "zzz", 1.0)], (0.5,))
    assert set(result.ap) == {"a", "b"}
    np.testing.assert_allclose(result.ap["b"], [0.0])
    np.testing.assert_allclose(result.mAP, [0.5])
    assert result.to_dict() == {"mAP": {"0.5": 0.5}, "average_mAP": 0.5,
                                "ap": {"a": {"0.5": 1.0}, "b": {"0.5": 0.0}}}


def test_detections_in_videos_without_ground_truth_are_false():
    gt = {"v": [Segment(0, 10, "a")], "background": []}
    for other in ("background", "not-in-gt"):
        dets = [Detection(other, 0, 10, "a", 0.9), Detection("v", 0, 10, "a", 0.8)]
        np.testing.assert_allclose(ap_of(gt, dets), [0.5])


def test_detections_sharing_no_video_and_class_with_the_ground_truth_score_zero():
    gt = {"v1": [Segment(0, 5, "a")], "v2": [Segment(0, 5, "b")]}
    for dets in ([Detection("v_v1", 0, 5, "a", 0.9)], [Detection("v1", 0, 5, "b", 0.9)]):
        result = ev.average_precision(gt, dets, (0.5,), ambiguous={"v9": [Segment(0, 1, "Ambiguous")]})
        assert result.to_dict()["ap"] == {"a": {"0.5": 0.0}, "b": {"0.5": 0.0}}


@pytest.mark.parametrize("a, b, want", [
    ((0, 4), (0, 4), 1.0), ((0, 4), (2, 6), 2 / 6), ((0, 4), (1, 2), 1 / 4), ((0, 4), (4, 8), 0.0),
    ((0, 4), (5, 8), 0.0), ((3, 3), (3, 3), 0.0), ((0, 10), (2.5, 5), 0.25)])
def test_tiou_of_hand_worked_pairs(a, b, want):
    """Intersection over union of two spans, either way round (the references below build on it)."""
    assert float(ev.tiou(*a, *b)) == pytest.approx(want) and float(ev.tiou(*b, *a)) == pytest.approx(want)


def test_tiou_exactly_at_threshold_matches():
    gt = {"v": [Segment(0, 4, "a")]}
    np.testing.assert_allclose(ap_of(gt, [Detection("v", 0, 2, "a", 1.0)], (0.5, 0.6)), [1.0, 0.0])


def test_ambiguous_false_positives_are_ignored_not_true_ones():
    gt = {"v": [Segment(0, 10, "a")]}
    amb = {"v": [Segment(30, 40, "Ambiguous")]}
    dets = [Detection("v", 35, 45, "a", 0.9), Detection("v", 0, 10, "a", 0.8), Detection("v", 40, 50, "a", 0.7)]
    np.testing.assert_allclose(ap_of(gt, dets), [0.5])
    np.testing.assert_allclose(ap_of(gt, dets, ambiguous=amb), [1.0])  # [40,50] only touches: still false
    amb_true = {"v": [Segment(0, 5, "Ambiguous")]}
    np.testing.assert_allclose(ap_of(gt, dets[1:2], ambiguous=amb_true), [1.0])


def test_no_ground_truth_gives_undefined_map():
    result = ev.average_precision({}, [Detection("v", 0, 1, "a", 1.0)], (0.5,))
    assert result.ap == {} and np.isnan(result.average_mAP)


def reference_ap(gt, dets, tious, ambiguous=None):
    """The protocol as a per-detection loop (ActivityNet reference structure)."""
    out = {}
    for label in sorted({s.label for segs in gt.values() for s in segs}):
        segs = {v: [s for s in ss if s.label == label] for v, ss in gt.items()}
        n_gt = sum(len(s) for s in segs.values())
        ranked = sorted([d for d in dets if d.label == label], key=lambda d: (-d.score, d.video_id, d.start, d.end))
        aps = []
        for thr in tious:
            used, tp, fp = set(), [], []
            for d in ranked:
                cands = sorted(((ev.tiou(d.start, d.end, s.start, s.end), -j, j)
                                for j, s in enumerate(segs.get(d.video_id, []))), reverse=True)
                hit = next(((d.video_id, j) for t, _, j in cands if t >= thr and (d.video_id, j) not in used), None)
                if hit:
                    used.add(hit)
                    tp.append(1), fp.append(0)
                elif not any(min(d.end, a.end) - max(d.start, a.start) > 0
                             for a in (ambiguous or {}).get(d.video_id, [])):
                    tp.append(0), fp.append(1)
            tpc, fpc = np.cumsum(tp), np.cumsum(fp)
            prec = tpc / np.maximum(tpc + fpc, 1)
            rec = tpc / n_gt
            mprec = np.r_[0, prec, 0]
            mrec = np.r_[0, rec, 1]
            for i in range(len(mprec) - 2, -1, -1):
                mprec[i] = max(mprec[i], mprec[i + 1])
            idx = np.nonzero(mrec[1:] != mrec[:-1])[0] + 1
            aps.append(float(np.sum((mrec[idx] - mrec[idx - 1]) * mprec[idx])))
        out[label] = aps
    return out


def random_case(rng, n_videos=12, n_classes=4, n_dets=300):
    labels = [f"c{i}" for i in range(n_classes)]
    gt, amb = {}, {}
    for v in range(n_videos):
        starts = rng.uniform(0, 60, size=rng.integers(0, 8))
        gt[f"v{v}"] = [Segment(float(s), float(s + rng.uniform(2, 20)), labels[rng.integers(n_classes)])
                       for s in starts]
        amb[f"v{v}"] = [Segment(float(s), float(s + 5), "Ambiguous") for s in rng.uniform(0, 100, size=1)]
    dets = []
    for _ in range(n_dets):
        s = float(rng.uniform(0, 70))
        dets.append(Detection(f"v{rng.integers(n_videos + 2)}", s, s + float(rng.uniform(1, 25)),
                              labels[rng.integers(n_classes)], float(rng.integers(0, 50)) / 50))  # many ties
    return gt, dets, amb


@pytest.mark.parametrize("seed", range(4))
def test_average_precision_matches_reference_loop(seed):
    gt, dets, amb = random_case(np.random.default_rng(seed))
    tious = ev.WEAKLY_SUPERVISED_TIOUS
    for ambiguous in (None, amb):
        got = ev.average_precision(gt, dets, tious, ambiguous)
        ref = reference_ap(gt, dets, tious, ambiguous)
        assert set(got.ap) == set(ref)
        for label in ref:
            np.testing.assert_allclose(got.ap[label], ref[label], atol=1e-12)
    assert 0 < got.average_mAP < 1


def test_precision_recall_points_integrate_to_average_precision():
    """The PR curves drawn in the report are the points ``average_precision`` integrates."""
    rng = np.random.default_rng(3)
    classes = ["a", "b", "c"]
    gt = {f"v{i}": [Segment(s, s + rng.uniform(2, 8), classes[int(rng.integers(0, 2))])
                    for s in rng.uniform(0, 50, int(rng.integers(1, 4)))] for i in range(8)}
    dets = [Detection(f"v{int(rng.integers(0, 9))}", s, s + rng.uniform(1, 9), classes[int(rng.integers(0, 3))],
                      float(rng.random())) for s in rng.uniform(0, 50, 80)]
    dets += [Detection(v, g.start + rng.normal(0, 1), g.end + rng.normal(0, 1), g.label, float(rng.random()))
             for v, segs in gt.items() for g in segs]  # near misses and hits, so recall grows
    curves = ev.precision_recall(gt, dets, 0.5)
    expected = ev.average_precision(gt, dets, [0.5]).ap
    assert set(curves) == set(expected) == {"a", "b"}  # "c" has no ground truth
    for label, (precision, recall) in curves.items():
        assert len(precision) == sum(d.label == label for d in dets)
        interpolated = np.maximum.accumulate(precision[::-1])[::-1]
        area = float(np.sum(np.diff(np.concatenate([[0.0], recall])) * interpolated))
        assert area == pytest.approx(float(expected[label][0]), abs=1e-12)
        assert 0 < recall[-1] <= 1 and np.all(np.diff(recall) >= 0)


def test_a_detection_ignored_on_an_ambiguous_segment_adds_no_point_to_the_pr_curve():
    """THUMOS14: a false positive on an Ambiguous segment is not counted, so the curve has no
    point for it (before, a (0, 0) point when it ranked first); AP is 1.0 either way."""
    gt = {"v": [Segment(0.0, 2.0, "a")]}
    ambiguous = {"v": [Segment(9.0, 11.0, "Ambiguous")]}
    dets = [Detection("v", 10.0, 12.0, "a", 0.9), Detection("v", 0.0, 2.0, "a", 0.5)]
    precision, recall = ev.precision_recall(gt, dets, 0.5, ambiguous)["a"]
    np.testing.assert_array_equal(precision, [1.0])
    np.testing.assert_array_equal(recall, [1.0])
    assert ev.average_precision(gt, dets, [0.5], ambiguous).ap["a"][0] == 1.0
    precision, recall = ev.precision_recall(gt, dets, 0.5)["a"]  # without it, a false positive
    np.testing.assert_array_equal(precision, [0.0, 0.5])


def test_annotated_only_keeps_the_videos_with_segments_and_their_detections():
    gt = {"a": [Segment(0.0, 2.0, "X:y")], "b": []}
    found = [Detection("a", 0.0, 2.0, "X:y", 0.8), Detection("b", 2.0, 7.0, "X:y", 0.9), Detection("c", 0, 1, "X:y", 0.7)]
    kept, detections = ev.annotated_only(gt, found)
    assert kept == {"a": gt["a"]} and detections == found[:1]
    assert ev.average_precision(gt, found, [0.5]).mAP[0] < 1.0 == ev.average_precision(kept, detections, [0.5]).mAP[0]


@pytest.mark.parametrize("overlap", [0.0, 0.3, 1.0])
def test_nms_class_by_class_keeps_what_the_all_classes_loop_keeps(overlap):
    """The loop over all classes costs O(classes x T^2) (a 6-hour video: tens of minutes per model);
    long videos go class by class. Both must keep the same windows at the same steps: ties in score
    (rounded scores), non-finite scores, windows of several lengths and long runs among them, repeated
    frame times."""
    rng = np.random.default_rng(int(overlap * 10))
    for trial in range(40):
        steps = int(rng.integers(1, 90)) if trial else 1500  # the last: beyond BY_CLASS_WINDOWS windows
        config = LocalizeConfig(window=int(rng.integers(2, 12)), scales=(0.4, 1.0, 1.6),
                                stride=int(rng.integers(1, 3)) if trial else 1)
        times = np.cumsum(rng.choice([0.0, 0.5, 1.0], steps, p=[0.1, 0.3, 0.6]))  # a repeated time now and then
        starts, width = ev.all_windows(steps, config)
        runs = rng.integers(0, steps, (3, 2))  # a few long candidates, as evidence runs are
        starts = np.concatenate([starts, runs.min(1)])
        width = np.concatenate([width, np.maximum(runs.max(1) - runs.min(1), 1)])
        frame_start, frame_end = ev.frame_bounds(times)
        win_start, win_end = frame_start[starts], frame_end[starts + width - 1]
        scores = rng.random((2 if trial == 0 else 5, len(starts))).round(int(rng.integers(1, 4)))
        scores[rng.random(scores.shape) < 0.05] = np.nan
        scores[0, rng.random(len(starts)) < 0.02] = np.inf
        expected = ev.greedy_nms_all_classes(win_start, win_end, scores, overlap)
        np.testing.assert_array_equal(ev.greedy_nms_by_class(win_start, win_end, scores, overlap), expected)
        np.testing.assert_array_equal(ev.greedy_nms(win_start, win_end, scores, overlap), expected)
        assert (len(starts) > ev.BY_CLASS_WINDOWS) == (trial == 0)
