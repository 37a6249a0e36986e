"""The TF localization gives the NumPy library's detections, also inside a SavedModel signature."""
import numpy as np
import pytest
import tensorflow as tf

from laf.evaluate import evaluation as ev
from laf.evaluate.evaluation import LocalizeConfig
from laf.serve.localize_tf import PAD_LABEL, localize, localize_batch

CONFIGS = [LocalizeConfig(), LocalizeConfig(window=4, stride=3, nms_overlap=0.3),
           LocalizeConfig(window=6, top_k_classes=2, max_detections=7), LocalizeConfig(window=3, nms_overlap=1.0),
           LocalizeConfig(window=6, scales=(0.5, 1.0, 2.5), nms_overlap=0.2),  # 3, 6, 15 steps: some past the video
           LocalizeConfig(window=4, scales=(0.5, 1.0), run_thresholds=(0.1, 0.4, 0.6, 0.9))]  # runs past 4 steps


def random_video(rng, frames, classes=5):
    probs = rng.dirichlet(np.ones(classes) * 0.5, size=frames).astype(np.float32)
    stamps = np.cumsum(rng.uniform(0.5, 1.5, size=frames)).astype(np.float32)
    return probs, stamps


def padded(videos):
    """(probabilities [B, T, N], timestamps [B, T], lengths [B]) of (probs, stamps) videos, padded as
    serving pads a batch."""
    longest = max(len(t) for _, t in videos)
    return (np.stack([np.pad(p, ((0, longest - len(p)), (0, 0))) for p, _ in videos]),
            np.stack([np.pad(t, (0, longest - len(t))) for _, t in videos]),
            np.array([len(t) for _, t in videos], np.int64))


def assert_same(tf_out, lib: ev.Segments, max_detections):
    n = int(tf_out["count"])
    assert n == min(len(lib.score), max_detections)
    np.testing.assert_array_equal(tf_out["label"][:n], lib.label[:n])
    np.testing.assert_allclose(tf_out["start"][:n], lib.start[:n], rtol=1e-6)
    np.testing.assert_allclose(tf_out["end"][:n], lib.end[:n], rtol=1e-6)
    np.testing.assert_allclose(tf_out["score"][:n], lib.score[:n], rtol=1e-5)
    assert (tf_out["label"][n:] == PAD_LABEL).all() and (tf_out["score"][n:] == 0).all()


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_same_detections_as_library_on_random_inputs(config):
    rng = np.random.default_rng(0)
    fn = tf.function(lambda p, t, n: localize(p, t, n, config, max_detections=64),
                     input_signature=[tf.TensorSpec([None, None], tf.float32), tf.TensorSpec([None], tf.float32),
                                      tf.TensorSpec([], tf.int64)])  # one trace serves every length
    for frames in (1, 2, 9, 37):
        probs, stamps = random_video(rng, frames)
        padded = np.concatenate([probs, np.zeros((5, probs.shape[1]), np.float32)])  # as serving pads
        out = {k: v.numpy() for k, v in fn(padded, np.pad(stamps, (0, 5)), np.int64(frames)).items()}
        assert_same(out, ev.detect(probs, stamps, config), 64)


@pytest.mark.parametrize("config", CONFIGS[:4], ids=str)
def test_the_video_s_end_gives_the_library_s_detections(config):
    """The last frame lasts until the video's duration where that lies after it, in the graph as in
    the library, one video and a padded batch alike."""
    rng = np.random.default_rng(6)
    videos = [random_video(rng, frames) for frames in (1, 2, 9, 37, 5, 6)]
    videos[5] = (videos[5][0], videos[5][1] - 100)  # negative times, no duration: the mean interval, not 0
    ends = [v[1][-1] + extra for v, extra in zip(videos, (0.1, 0.0, 3.0, -1.0, np.inf, np.nan))]  # after, at, ...
    for (probs, stamps), end in zip(videos, ends):
        out = {k: v.numpy() for k, v in localize(probs, stamps, len(stamps), config, max_detections=64,
                                                 video_end=np.float32(end)).items()}
        lib = ev.detect(probs, stamps, config, float(np.float32(end)))
        assert_same(out, lib, 64)
    batch = localize_batch(*padded(videos), config, np.asarray(ends, np.float32))
    unknown = localize_batch(*padded(videos), config)
    for i, ((probs, stamps), end) in enumerate(zip(videos, ends)):
        for found, video_end in ((batch, float(np.float32(end))), (unknown, None)):
            lib = ev.detect(probs, stamps, config, video_end)
            assert int(found["count"][i]) == len(lib.score) and np.isfinite(lib.end).all()
            np.testing.assert_allclose(found["end"][i, :len(lib.score)], lib.end, rtol=1e-6)


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_repeated_times_give_the_library_s_detections(config):
    """A variable-frame-rate file's reused frames repeat a time: each lasts until the next later one."""
    probs, _ = random_video(np.random.default_rng(5), 40)
    for stamps in (np.repeat(np.arange(0.0, 40.0, 5.0), 5), np.full(40, 3.0)):  # also one time throughout
        stamps = stamps.astype(np.float32)
        out = {k: v.numpy() for k, v in localize(probs, stamps, 40, config, max_detections=200).items()}
        lib = ev.detect(probs, stamps, config)
        assert (lib.end > lib.start).all()
        assert_same(out, lib, 200)


@pytest.mark.parametrize("config", CONFIGS[:4], ids=str)
def test_windows_without_a_finite_score_are_dropped_as_in_the_library(config):
    probs, stamps = random_video(np.random.default_rng(4), 37)
    probs[30, 1] = np.nan  # a broken frame: the windows it reaches have no score
    out = {k: v.numpy() for k, v in localize(probs, stamps, 37, config, max_detections=64).items()}
    lib = ev.detect(probs, stamps, config)
    assert len(lib.score) and np.isfinite(lib.score).all()
    assert_same(out, lib, 64)


def test_served_class_evidence_is_the_library_s_to_the_last_bit():
    """The served ``localize`` scores p x actionness as the library does (float64), so windows tied
    in float32 but not in float64 keep the library's order."""
    from trainer.model import class_evidence

    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.ones(5), size=(2, 40)).astype(np.float32)
    actionness = rng.uniform(size=(2, 40)).astype(np.float32)
    served = class_evidence({"probabilities": tf.constant(probs), "actionness": tf.constant(actionness)}).numpy()
    np.testing.assert_array_equal(served, ev.class_evidence(probs, actionness))


def test_truncates_to_max_detections_and_handles_empty_video():
    probs, stamps = random_video(np.random.default_rng(1), 30)
    out = {k: v.numpy() for k, v in localize(probs, stamps, 30, LocalizeConfig(window=2), max_detections=5).items()}
    assert_same(out, ev.detect(probs, stamps, LocalizeConfig(window=2)), 5)
    empty = localize(np.zeros((3, 4), np.float32), np.zeros(3, np.float32), 0, max_detections=5)
    assert int(empty["count"]) == 0 and (empty["label"].numpy() == PAD_LABEL).all()


def test_batch_in_a_saved_model_signature_gives_every_detection(tmp_path):
    """Rows padded to the batch's largest count, none cut at a fixed width: a video with hundreds of
    windows gets all the library's detections (the signature once stopped at 100)."""
    config = LocalizeConfig(window=2, nms_overlap=1.0)  # no suppression: a detection per window and class
    rng = np.random.default_rng(2)
    videos = [random_video(rng, n, classes=12) for n in (12, 60, 3)]
    probs, stamps, lengths = padded(videos)

    module = tf.Module()
    module.localize = tf.function(
        lambda probabilities, timestamps, num_frames: localize_batch(probabilities, timestamps, num_frames, config),
        input_signature=[tf.TensorSpec([None, None, None], tf.float32), tf.TensorSpec([None, None], tf.float32),
                         tf.TensorSpec([None], tf.int64)])
    path = str(tmp_path / "model")
    tf.saved_model.save(module, path, signatures={"localize": module.localize})
    served = tf.saved_model.load(path).signatures["localize"]
    out = {k: v.numpy() for k, v in served(probabilities=tf.constant(probs), timestamps=tf.constant(stamps),
                                            num_frames=tf.constant(lengths)).items()}
    found = [len(ev.detect(p, t, config).score) for p, t in videos]
    assert found[1] > 100 and out["start"].shape == (3, max(found)) and out["count"].tolist() == found
    for i, (p, t) in enumerate(videos):
        assert_same({k: v[i] for k, v in out.items()}, ev.detect(p, t, config), found[i])


def test_window_scores_are_the_library_s_to_the_last_bit():
    """Same sums in the same grouping: tied windows keep the library's order on long videos too."""
    from laf.serve.localize_tf import _window_scores

    config = LocalizeConfig(window=10, scales=(0.4, 0.6, 1.0, 1.6))
    for frames in (3000, 12):  # 12: the whole-video window, which has no flanks
        evidence = np.random.default_rng(4).uniform(size=(frames, 3))
        starts, widths = ev.all_windows(len(evidence), config)
        want = ev.window_scores(evidence, starts, widths, config)
        got = _window_scores(tf.constant(evidence), tf.constant(starts, tf.int32), tf.constant(widths, tf.int32),
                             config)
        np.testing.assert_array_equal(got.numpy(), want)


def test_evidence_runs_are_the_library_s_in_the_same_order():
    """Start, length and order of the runs (ties, runs at both ends, repeats across thresholds)."""
    from laf.serve.localize_tf import _evidence_runs

    rng = np.random.default_rng(7)
    config = LocalizeConfig(window=4, scales=(0.5, 1.0), run_thresholds=(0.3, 0.5, 0.5, 0.75, 0.9))
    found = 0
    for frames in (1, 5, 40, 200):
        evidence = rng.integers(0, 5, size=(frames, 3)) / 4.0  # few levels: ties everywhere
        want = ev.evidence_runs(evidence, config)
        got = _evidence_runs(tf.constant(evidence), tf.constant(frames, tf.int32), config)
        np.testing.assert_array_equal(np.stack([g.numpy() for g in got]), np.stack(want))
        found += len(want[0])
    assert found > 10
