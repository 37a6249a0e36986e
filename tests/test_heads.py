"""laf.transfer.heads: the stopping rule's video accuracy, the training batches' mix of videos, and
scores that must be finite."""
import numpy as np
import pytest

from laf.errors import UserError
from laf.transfer.feature_stream import FeatureStream
from laf.transfer.heads import MIN_CHUNKS_MIXED, own_label_scores, training_dataset, video_accuracy


def test_validation_accuracy_sees_short_actions_that_a_mean_over_frames_hides():
    """Siblings share their context and differ only during a short action: the stopping rule's
    video accuracy must tell them apart (SVM responses on the frames the LAF model is most sure of),
    where the mean over all frames sits at chance."""
    import keras

    rng = np.random.default_rng(3)
    t, action, n = 60, 5, 3
    feats, labels, groups = [], [], []
    for v in range(30):
        label = v % n
        x = rng.normal(scale=0.3, size=(t, n)) + np.eye(n)[(label + 1) % n] * 0.3  # context leans to a sibling
        start = rng.integers(0, t - action)
        x[start:start + action, label] += 2.0
        feats.append(x)
        labels += [label] * t
        groups += [v] * t
    stream = FeatureStream.from_arrays(np.concatenate(feats), np.array(labels), np.array(groups), chunk_size=70)
    svm = keras.Sequential([keras.Input((n,)), keras.layers.Dense(n, use_bias=False)])
    svm.layers[0].set_weights([np.eye(n, dtype=np.float32)])
    laf_model = keras.Sequential([keras.Input((n,)), keras.layers.Dense(n, use_bias=False),
                                  keras.layers.Softmax()])
    laf_model.layers[0].set_weights([3 * np.eye(n, dtype=np.float32)])
    assert video_accuracy(svm, stream, laf_model) == 1.0
    assert video_accuracy(svm, stream, laf_model, fraction=1.0) <= 0.5  # the mean of every frame


def test_the_stopping_rule_refuses_responses_it_cannot_rank():
    """NaN SVM responses (diverged weights) argmax to class 0: the accuracy became the share of
    validation videos of label 0, and decided which round was kept. Rows not read: their videos counted
    as wrong."""
    import keras

    n = 3
    stream = FeatureStream.from_arrays(np.ones((12, n), np.float32), np.repeat(np.arange(4) % n, 3),
                                       np.repeat(np.arange(4), 3), chunk_size=5)
    good = keras.Sequential([keras.Input((n,)), keras.layers.Dense(n)])
    nan = keras.Sequential([keras.Input((n,)), keras.layers.Dense(n)])
    nan.layers[0].set_weights([np.full((n, n), np.nan, np.float32), np.zeros(n, np.float32)])
    assert 0 <= video_accuracy(good, stream, good) <= 1
    for svm, laf_model in ((nan, good), (good, nan)):
        with pytest.raises(UserError, match="give NaN or infinite responses on the validation videos"):
            video_accuracy(svm, stream, laf_model)
    whole = stream.indexed
    stream.indexed = lambda: whole().take(1)  # files cut short while read: the videos not reached counted wrong
    with pytest.raises(UserError, match="the records changed while reading: expected 12 rows, read 3"):
        video_accuracy(good, stream, good)


def test_a_batch_draws_from_many_videos_however_long_they_are():
    """40 videos of 2000 frames: a buffer of 16384 rows held 8 of them, and the first batches drew their
    frames from those 8 (here: 8 classes of 40), in file order."""
    videos, rows = 40, 2000
    features = np.repeat(np.arange(videos, dtype=np.float32), rows)[:, None]
    stream = FeatureStream.from_arrays(features, np.repeat(np.arange(videos), rows),
                                       np.repeat(np.arange(videos), rows), chunk_size=rows)
    batches = training_dataset(stream, np.ones(videos * rows, bool), 256, 16384, seed=0)
    x, _ = next(iter(batches))
    assert len(np.unique(x.numpy())) >= MIN_CHUNKS_MIXED


def test_non_finite_scores_are_an_error_not_laf_scores(transfer_run):
    """Eval or test records not made by ingestion (which rejects them) with a NaN feature: the NaN
    was written as the frame's LAF score, which the trainer's eval loss then read."""
    x = np.ones((4, transfer_run.model.input_shape[-1]), np.float32)
    x[2, 0] = np.nan
    with pytest.raises(UserError, match="1 rows have NaN or infinite features or scores"):
        own_label_scores(transfer_run.model, FeatureStream.from_arrays(x, np.zeros(4, np.int32)))
