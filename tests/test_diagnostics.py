"""Learning diagnostics (laf.evaluate.diagnostics) on hand-made records and outputs."""
import dataclasses

import numpy as np
import pytest

from laf.errors import UserError
from laf.evaluate import diagnostics as dg
from schemas.records import Segment, VideoRecord


def record(video_id: str, label: str, index: int, steps: int, segments, indices, rng, laf=None) -> VideoRecord:
    return VideoRecord(video_id=video_id, label=label, label_index=index,
                       features=rng.normal(size=(steps, 4)).astype(np.float32),
                       timestamps=np.arange(steps, dtype=np.float32), fps=1.0, duration=float(steps),
                       segments=segments, segment_label_indices=indices, laf_scores=laf)


def test_action_mask_keeps_only_the_video_own_label():
    r = record("v", "A:x", 0, 10, [Segment(2, 4, "A:x"), Segment(6, 8, "A:y")], [0, 1], np.random.default_rng(0))
    assert dg.action_mask(r).tolist() == [False, False, True, True, False, False, False, False, False, False]


def test_auc_and_weight_share():
    assert dg.auc(np.array([0.9, 0.8]), np.array([0.1, 0.2])) == 1.0
    assert dg.auc(np.array([0.1]), np.array([0.9])) == 0.0
    assert dg.auc(np.array([0.5]), np.array([0.5])) == 0.5
    assert np.isnan(dg.auc(np.array([0.5]), np.array([]))) and np.isnan(dg.auc(np.array([]), np.array([0.5])))
    r = record("v", "A:x", 0, 4, [Segment(0, 1, "A:x")], [0], np.random.default_rng(0),
               laf=np.array([0.6, 0.2, 0.1, 0.1], np.float32))
    assert dg.weight_share_action([r.laf_scores], [r]) == pytest.approx(0.6)
    assert dg.laf_auc([r]) == 1.0


def test_context_collapse_hit_and_accuracy():
    rng = np.random.default_rng(1)
    records = [record(f"v{i}", f"A:{'xyz'[i]}", i, 6, [Segment(2, 4, f"A:{'xyz'[i]}")], [i], rng) for i in range(3)]
    outputs = []
    for i, r in enumerate(records):
        p = np.full((6, 3), 0.05)
        p[:, 0] = 0.9          # context: always the first sibling
        p[2:4] = 0.05
        p[2:4, i] = 0.9        # action frames: the right one
        a = np.array([0.1, 0.1, 0.9, 0.9, 0.1, 0.1])
        outputs.append({"probabilities": p, "actionness": a})
    assert dg.context_class_collapse(outputs, records) == 1.0
    assert dg.action_frame_accuracy(outputs, records) == 1.0
    hit = dg.hit_at_1(outputs, records)
    assert hit["average"] == pytest.approx(1 / 3) and hit["actionness"] == 1.0
    assert dg.actionness_auc(outputs, records) == 1.0
    for i, o in enumerate(outputs):  # context that names the video's own action: no collapse
        o["probabilities"][[0, 1, 4, 5]] = np.eye(3)[i] * 0.85 + 0.05
    assert dg.context_class_collapse(outputs, records) == pytest.approx(1 / 3)
    plain = [dataclasses.replace(r, label="xyz"[i], activity="A") for i, r in enumerate(records)]
    assert dg.context_class_collapse(outputs, plain) == pytest.approx(1 / 3)  # siblings by the taxonomy's activity


def test_probe_separates_linearly_separable_action_frames():
    rng = np.random.default_rng(2)

    def videos(split):
        out = []
        for i in range(20):
            r = record(f"{split}{i}", f"A:{i % 2}", i % 2, 10, [Segment(2, 8, f"A:{i % 2}")], [i % 2], rng)
            r.features[2:8, 0] += 4.0 if i % 2 else -4.0
            out.append(r)
        return out

    assert dg.probe_accuracy(videos("train"), videos("test")) == 1.0


def test_splits_without_the_action_frames_the_diagnostics_need_are_user_errors():
    rng = np.random.default_rng(3)
    annotated = [record(f"t{i}", f"A:{i % 2}", i % 2, 6, [Segment(1, 3, f"A:{i % 2}")], [i % 2], rng) for i in range(4)]
    bare = [record(f"b{i}", f"A:{i % 2}", i % 2, 6, [], [], rng) for i in range(4)]
    with pytest.raises(UserError, match=r"the train split has ground-truth action frames of 1 label\(s\), the"
                                        r" diagnostics need 2 or more: a probe needs two labels to separate"):
        dg.probe_accuracy(annotated[::2], annotated)  # one class only: nothing to separate
    with pytest.raises(UserError, match="the test split has ground-truth action frames of 0 label.*segments annotated"):
        dg.probe_accuracy(annotated, bare)
    with pytest.raises(UserError, match="the test split has ground-truth action frames of 0 label"):
        dg.action_frame_accuracy([{"probabilities": np.full((6, 2), 0.5)}] * 4, bare)


def test_label_probability_by_phase():
    rng = np.random.default_rng(2)
    r = record("v", "A:y", 1, 7, [Segment(2, 4, "A:y")], [1], rng)  # frames 0-1 before, 2-3 action, 4-6 after
    p = np.zeros((7, 3))
    p[:, 1] = [0.1, 0.3, 0.8, 1.0, 0.6, 0.5, 0.4]
    empty = record("e", "A:y", 1, 3, [], [], rng)  # no action frames: not counted
    phases = dg.label_probability_by_phase([{"probabilities": p}, {"probabilities": np.ones((3, 3))}], [r, empty])
    assert phases == pytest.approx({"before": 0.2, "action": 0.9, "after": 0.5})


def test_own_label_share_by_phase():
    rng = np.random.default_rng(3)
    right = record("r", "A:y", 1, 7, [Segment(2, 4, "A:y")], [1], rng)  # frames 0-1 before, 2-3 action, 4-6 after
    late = record("l", "A:y", 1, 4, [Segment(2, 4, "A:y")], [1], rng)  # the action ends the video: no after
    p = np.full((7, 3), 0.2)
    p[:2, 0] = 0.6   # before: a fixed sibling
    p[2:, 1] = 0.7   # from the action on: its own label
    q = np.full((4, 3), 0.2)
    q[:, 2] = 0.6    # another sibling throughout
    shares = dg.own_label_share_by_phase([{"probabilities": p}, {"probabilities": q}], [right, late])
    assert shares == pytest.approx({"before": 0.0, "action": 0.5, "after": 1.0})


def test_label_probability_profile_aligns_on_the_first_action_frame():
    rng = np.random.default_rng(4)
    early = record("e", "A:y", 1, 6, [Segment(1, 3, "A:y")], [1], rng)  # first action frame 1
    late = record("l", "A:x", 0, 8, [Segment(4, 5, "A:x")], [0], rng)   # first action frame 4
    p_early = np.zeros((6, 2))
    p_early[:, 1] = [0.1, 0.9, 0.8, 0.7, 0.6, 0.5]
    p_late = np.zeros((8, 2))
    p_late[:, 0] = [0.2, 0.2, 0.2, 0.3, 1.0, 0.4, 0.4, 0.4]
    outputs = [{"probabilities": p_early, "actionness": np.full(6, 0.5)},
               {"probabilities": p_late, "actionness": np.full(8, 1.0)}]
    profile = dg.label_probability_profile(outputs, [early, late], before=2, after=4)
    assert profile["offset"].tolist() == [-2, -1, 0, 1, 2, 3, 4]
    assert profile["videos"].tolist() == [1, 2, 2, 2, 2, 2, 1]  # early starts 1 step in; late ends 3 steps after
    np.testing.assert_allclose(profile["p_label"], [0.2, (0.1 + 0.3) / 2, 0.95, 0.6, 0.55, 0.5, 0.5])
    np.testing.assert_allclose(profile["action_share"], [0, 0, 1, 0.5, 0, 0, 0])
    np.testing.assert_allclose(profile["actionness"], [1.0, 0.75, 0.75, 0.75, 0.75, 0.75, 0.5])
    without = dg.label_probability_profile([{"probabilities": p_early}], [early], before=3, after=0)
    assert "actionness" not in without and np.isnan(without["p_label"][0])  # no video reaches step -3


def test_mean_profile_averages_runs_as_json_lists():
    runs = [{"offset": np.array([-1, 0, 1]), "videos": np.array([0.0, 2.0, 2.0]),
             "p_label": np.array([np.nan, 0.8, 0.4]), "action_share": np.array([np.nan, 1.0, 0.5])},
            {"offset": np.array([-1, 0, 1]), "videos": np.array([0.0, 2.0, 2.0]),
             "p_label": np.array([np.nan, 0.6, 0.2]), "action_share": np.array([np.nan, 1.0, 0.5])}]
    mean = dg.mean_profile(runs)
    assert mean == {"offset": [-1, 0, 1], "videos": [0, 2, 2], "p_label": [None, 0.7, 0.3],
                    "action_share": [None, 1.0, 0.5]}
    assert all(type(x) is int for x in mean["offset"] + mean["videos"])


def test_unannotated_videos_and_single_action_activities_do_not_pass_for_context():
    """Weakly labelled videos (no segments) would have their action counted as context, and an
    activity with one action (or one label among its test videos) collapses onto it by construction:
    both are left out, and nothing left is NaN, not a number that looks measured."""
    rng = np.random.default_rng(4)
    laf = np.array([0.1, 0.9, 0.9, 0.1, 0.1, 0.1], np.float32)
    annotated = record("a", "A:x", 0, 6, [Segment(1, 3, "A:x")], [0], rng, laf=laf)
    bare = record("b", "A:x", 0, 6, [], [], rng, laf=np.full(6, 0.9, np.float32))  # its action is somewhere
    assert dg.laf_auc([annotated, bare]) == dg.laf_auc([annotated]) == 1.0
    both = dg.weight_share_action([annotated.laf_scores, bare.laf_scores], [annotated, bare])
    assert both == pytest.approx(1.8 / 2.2)
    assert np.isnan(dg.weight_share_action([bare.laf_scores], [bare])) and np.isnan(dg.laf_auc([bare]))
    solo = [record(f"s{i}", "Solo:only", 3, 6, [Segment(1, 3, "Solo:only")], [3], rng) for i in range(3)]
    outputs = [{"probabilities": np.eye(4)[[3] * 6]} for _ in solo]
    assert np.isnan(dg.context_class_collapse(outputs, solo))  # one label: nothing to collapse between
    assert np.isnan(dg.context_class_collapse(outputs[:1], [bare]))
    assert dg.hit_at_1(outputs, solo) == {"average": 1.0, "actionness": None}  # the key, null without the head


def test_ambiguous_frames_count_as_neither_action_nor_context():
    """THUMOS14's Ambiguous spans may show the action: counted as context, a model or LAF score that
    rose on them lowered the AUCs and the weight share, and moved the context's preferred class and
    the after-phase means."""
    rng = np.random.default_rng(5)
    laf = np.array([0.1, 0.9, 0.9, 0.1, 0.95, 0.95, 0.95, 0.1], np.float32)
    r = dataclasses.replace(record("v", "A:x", 0, 8, [Segment(1, 3, "A:x")], [0], rng, laf=laf),
                            ambiguous=[Segment(4, 7, "Ambiguous")])
    assert dg.ambiguous_mask(r).tolist() == [False] * 4 + [True] * 3 + [False]
    assert dg.laf_auc([r]) == 1.0
    assert dg.weight_share_action([r.laf_scores], [r]) == pytest.approx(1.8 / 2.1)
    assert dg.phase_masks(r)["after"].tolist() == [False] * 3 + [True] + [False] * 3 + [True]
    p = np.tile([0.4, 0.6], (8, 1))
    p[4:7] = [1.0, 0.0]  # its own class, strongly, only on the Ambiguous frames
    other = record("w", "A:y", 1, 8, [Segment(1, 3, "A:y")], [1], rng)
    outputs = [{"probabilities": p}, {"probabilities": np.tile([0.4, 0.6], (8, 1))}]
    assert dg.context_class_collapse(outputs, [r, other]) == 1.0  # both contexts prefer A:y
