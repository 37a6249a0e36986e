"""Algorithm 1 (laf.transfer.domain_transfer) on synthetic features whose truth is known
(``transfer_world``): which images and frames the loop keeps, its stopping rule, and inputs it refuses."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from laf import tfrecords
from laf.errors import UserError
from laf.transfer import domain_transfer as dt, outputs
from laf.transfer.config import TransferConfig
from laf.transfer.feature_stream import FeatureStream
from schemas.records import ImageRecord, VideoRecord
import transfer_world as tw
from transfer_world import CLEAN, FAST, N, OFF, OTHER, TINY, Videos

FLOOR = 55


@pytest.fixture(scope="module")
def one_round(transfer_world):
    """Round-1 runs that differ only in a threshold (same seed: same CNN_v, and same CNN_i for theta2).

    At theta1 = 1 no image can pass (softmax <= 1), so every class falls under the floor of 55
    by construction.
    """
    base = dict(max_rounds=1, min_images_per_class=FLOOR)
    return {name: tw.run(transfer_world, theta1=t1, theta2=t2, **base)
            for name, (t1, t2) in {"low": (0.3, 0.3), "theta1": (0.9, 0.3), "theta2": (0.3, 0.9),
                                   "floor": (1.0, 0.3), "again": (0.3, 0.3)}.items()}


def test_kept_images_are_the_clean_ones(transfer_world, transfer_run):
    kept, kinds = transfer_run.image_mask, transfer_world["kinds"]
    clean = kinds == CLEAN
    precision = (kept & clean).sum() / kept.sum()
    recall = (kept & clean).sum() / clean.sum()
    removed = {k: float((~kept & (kinds == k)).mean() / (kinds == k).mean()) for k in (OFF, OTHER)}
    print(f"noise filtering: kept precision {precision:.3f} recall {recall:.3f}, "
          f"removed off-distribution {removed[OFF]:.3f}, other-class {removed[OTHER]:.3f}")
    assert precision >= 0.9 and recall >= 0.9
    assert removed[OFF] >= 0.7 and removed[OTHER] >= 0.9


def test_laf_is_higher_on_action_frames_than_context_of_the_same_video(transfer_world, transfer_run):
    train = transfer_world["train"]
    assert transfer_run.laf.shape == (len(train.labels),)
    better = [transfer_run.laf[(train.groups == g) & train.action].mean()
              > transfer_run.laf[(train.groups == g) & ~train.action].mean() for g in np.unique(train.groups)]
    assert np.mean(better) >= 0.95
    # the kept frames are mostly action frames, and nearly all action frames are kept
    assert train.action[transfer_run.frame_mask].mean() >= 0.6
    assert transfer_run.frame_mask[train.action].mean() >= 0.9


def test_higher_theta_keeps_fewer(one_round):
    low, hi1, hi2 = one_round["low"], one_round["theta1"], one_round["theta2"]
    assert not np.any(hi1.image_mask & ~low.image_mask) and hi1.image_mask.sum() < low.image_mask.sum()
    assert np.array_equal(hi2.image_mask, low.image_mask)
    assert not np.any(hi2.frame_mask & ~low.frame_mask) and hi2.frame_mask.sum() < low.frame_mask.sum()


def test_class_floor_keeps_top_images_and_reports(transfer_world, one_round):
    floor = one_round["floor"]
    assert sorted(int(c.label) for c in floor.floor_cases if c.kind == "images") == list(range(N))
    for result in one_round.values():
        per_class = np.bincount(transfer_world["image_labels"][result.image_mask], minlength=N)
        assert per_class.min() >= FLOOR
        for case in result.floor_cases:
            assert case.passed_threshold < FLOOR and per_class[int(case.label)] == case.kept == FLOOR


def test_a_round_that_empties_a_class_with_a_floor_of_0_says_so(caplog):
    rng = np.random.default_rng(0)
    frames = FeatureStream.from_arrays(rng.normal(size=(12, 4)).astype(np.float32), np.repeat([0, 1, 2], 4),
                                       np.repeat(np.arange(3), 4))
    images = FeatureStream.from_arrays(rng.normal(size=(6, 4)).astype(np.float32), [0, 1, 2, 0, 1, 2])
    with pytest.raises(UserError, match="theta1 1 keeps no row"):  # no softmax passes 1: refused before any work
        dt.run(frames, images, frames, 3, dataclasses.replace(TINY, theta1=1.0, min_images_per_class=0), ["A"] * 3)
    cfg = dataclasses.replace(TINY, theta1=0.99, min_images_per_class=0)  # none passes on these random features
    with caplog.at_level("WARNING"), pytest.raises(UserError):  # and then nothing is left to fit
        dt.run(frames, images, frames, 3, cfg, ["A", "B", "C"])
    assert "round 1 kept no images of 'A', 'B', 'C': the thresholds removed them all and the class floor is 0" \
        in caplog.text


def test_label_names_other_than_the_classes_are_refused_before_any_round():
    """Two names for three classes: an IndexError once round 1 had trained."""
    rng = np.random.default_rng(0)
    frames = FeatureStream.from_arrays(rng.normal(size=(12, 4)).astype(np.float32), np.repeat([0, 1, 2], 4),
                                       np.repeat(np.arange(3), 4))
    images = FeatureStream.from_arrays(rng.normal(size=(6, 4)).astype(np.float32), [0, 1, 2, 0, 1, 2])
    with pytest.raises(UserError, match="^2 label names for 3 classes$"):
        dt.run(frames, images, frames, 3, TINY, ["A", "B"])


def test_determinism(one_round):
    a, b = one_round["low"], one_round["again"]
    np.testing.assert_array_equal(a.laf, b.laf)
    assert a.rounds_json() == b.rounds_json()


@pytest.fixture(scope="module")
def world_files(transfer_world, tmp_path_factory):
    """The transfer_world as the component reads it: gzipped TFRecords of the contract's records, several files."""
    root = tmp_path_factory.mktemp("world_files")

    def videos(part: Videos, prefix: str):
        return [VideoRecord(f"{prefix}{g}", f"A:{part.labels[part.groups == g][0]}",
                            int(part.labels[part.groups == g][0]), part.features[part.groups == g],
                            np.arange((part.groups == g).sum(), dtype=np.float32), 1.0, 20.0).serialize()
                for g in np.unique(part.groups)]

    train = videos(transfer_world["train"], "t")
    tfrecords.write(str(root / "train" / "a.gz"), train[:70])
    tfrecords.write(str(root / "train" / "b.gz"), train[70:])
    tfrecords.write(str(root / "val" / "a.gz"), videos(transfer_world["val"], "v"))
    images = [ImageRecord(f"i{i}", "x", int(lab), transfer_world["images"][i], "web", f"{i:064x}").serialize()
              for i, lab in enumerate(transfer_world["image_labels"])]
    tfrecords.write(str(root / "images" / "a.gz"), images[:200])
    tfrecords.write(str(root / "images" / "b.gz"), images[200:])
    return root


def test_same_records_and_seed_give_bit_identical_laf_scores(world_files, tmp_path):
    """Issue 13: two domain-transfer runs over the same TFRecords (parallel parsing, seeded shuffles,
    Keras training) give the same LAF scores bit for bit, and the same scored records byte for byte."""
    cfg = TransferConfig(**{**FAST, "epochs": 3, "svm_epochs": 3}, max_rounds=2)
    runs = []
    for name, earlier in (("first", 1), ("second", 2)):
        tf.random.set_seed(earlier)  # as an earlier step in the process may (a backbone built locally, not on Kubeflow)
        frames = FeatureStream.from_video_files(str(world_files / "train"), N)
        images = FeatureStream.from_image_files(str(world_files / "images"), N)
        validation = FeatureStream.from_video_files(str(world_files / "val"), N)
        result = dt.run(frames, images, validation, N, cfg)
        out = tmp_path / name / "scored.gz"
        outputs.write_scored_videos(str(world_files / "train"), str(out), result.laf)
        runs.append((result, out.read_bytes()))
    (a, a_bytes), (b, b_bytes) = runs
    assert len(a.rounds) == 2 and 0 < a.frame_mask.sum() < len(a.frame_mask)  # the loop really filtered
    assert a.laf.dtype == np.float32
    differ = np.flatnonzero(a.laf.view(np.uint32) != b.laf.view(np.uint32))
    assert differ.size == 0, (f"{differ.size} of {a.laf.size} LAF scores differ, "
                              f"by up to {np.abs(a.laf - b.laf).max():.3g}")
    np.testing.assert_array_equal(a.image_mask, b.image_mask)
    np.testing.assert_array_equal(a.frame_mask, b.frame_mask)
    assert a.rounds_json() == b.rounds_json()
    for wa, wb in zip(a.model.get_weights(), b.model.get_weights()):
        assert wa.tobytes() == wb.tobytes()
    assert a_bytes == b_bytes


def test_stopping_rule():
    assert dt.chosen_round([0.5]) == (1, False)
    assert dt.chosen_round([0.5, 0.5, 0.7]) == (3, False)
    assert dt.chosen_round([0.5, 0.7, 0.6]) == (2, True)


def test_a_round_that_lowers_validation_accuracy_is_not_chosen(transfer_world):
    # Undertrained heads with strict thresholds collapse the keep-sets, so accuracy moves.
    result = tw.run(transfer_world, theta1=0.9, theta2=0.9, max_rounds=5, epochs=8, svm_epochs=8, learning_rate=1e-3)
    acc = [r.val_accuracy for r in result.rounds]
    assert acc[-1] < acc[-2], f"the data no longer produce a drop: {acc}"
    assert result.chosen_round == len(acc) - 1 and len(acc) < 5
    assert result.stop_reason == f"validation accuracy fell in round {len(acc)} ({acc[-1]:.4f} after {acc[-2]:.4f})"
    assert all(a >= b for a, b in zip(acc[1:-1], acc[:-2]))  # no earlier drop was ignored
    chosen = result.rounds[result.chosen_round - 1]
    assert result.frame_mask.sum() == chosen.frames_kept and result.image_mask.sum() == chosen.images_kept


@pytest.mark.parametrize("case", ["no images of a class", "no frames of a class", "NaN frames", "NaN images",
                                  "NaN validation frames", "no validation"])
def test_inputs_that_cannot_train_are_refused_up_front(case):
    rng = np.random.default_rng(0)
    frames_x, images_x = rng.normal(size=(12, 4)).astype(np.float32), rng.normal(size=(6, 4)).astype(np.float32)
    image_labels = [0, 1, 2, 0, 1, 2]
    validation = FeatureStream.from_arrays(frames_x, np.repeat([0, 1, 2], 4), np.repeat(np.arange(3), 4))
    frame_labels = np.repeat([0, 1, 2], 4)
    if case == "no images of a class":
        image_labels = [0, 1, 0, 1, 0, 1]
    elif case == "no frames of a class":
        frame_labels = np.repeat([0, 2, 2], 4)
    elif case == "NaN frames":
        frames_x[3, 2] = np.nan
    elif case == "NaN images":
        images_x[1, 0] = np.inf
    elif case == "NaN validation frames":  # the stopping rule's accuracy was silently wrong, and the run failed last
        bad = frames_x.copy()
        bad[5, 1] = np.nan
        validation = FeatureStream.from_arrays(bad, np.repeat([0, 1, 2], 4), np.repeat(np.arange(3), 4))
    else:
        validation = FeatureStream.from_arrays(np.zeros((0, 4), np.float32), [])
    frames = FeatureStream.from_arrays(frames_x, frame_labels, np.repeat(np.arange(3), 4))
    images = FeatureStream.from_arrays(images_x, image_labels)
    expected = {"no images of a class": "no web images for 'C'",
                "no frames of a class": "no training videos for 'B': every action with eval videos needs videos",
                "NaN frames": "training frames' features hold NaN",
                "NaN images": "images' features hold NaN",
                "NaN validation frames": "validation frames' features hold NaN",
                "no validation": "validation frames; got 12, 6 and 0 .*see the rejected.jsonl"}
    with pytest.raises(UserError, match=expected[case]):
        dt.run(frames, images, validation, 3, TINY, ["A", "B", "C"])


def test_a_round_that_keeps_nothing_ends_the_loop_with_the_round_before(transfer_world, caplog):
    """With class floors of 0, strict thresholds can filter out every row. Round 1 has nothing to fall
    back on: an error naming the settings. A later round keeps the round before, as a drop in
    validation accuracy does (it ended the run with "nothing left to train on", losing the rounds)."""
    strict = dict(max_rounds=5, epochs=8, svm_epochs=8, learning_rate=1e-3, min_images_per_class=0,
                  min_frames_per_class=0)
    with pytest.raises(UserError, match="round 1 kept no frames: each scored at most domain_transfer.theta2=0.95 and"
                                        " domain_transfer.min_frames_per_class is 0"):
        tw.run(transfer_world, theta1=0.95, theta2=0.95, **strict)
    with caplog.at_level("WARNING"):
        result = tw.run(transfer_world, theta1=0.9, theta2=0.9, **{**strict, "min_images_per_class": 5})
    assert len(result.rounds) == 1 and result.chosen_round == 1
    assert result.stop_reason == "round 2 kept no frames (theta2 0.9)"
    assert "round 2 kept 5 images" in caplog.text and not result.floor_cases  # round 2's floor cases: not kept
    assert result.frame_mask.sum() == result.rounds[0].frames_kept > 0
    assert result.image_mask.sum() == result.rounds[0].images_kept > 0
    assert "domain transfer round 2 kept no" in caplog.text and "round 1 is the result" in caplog.text
