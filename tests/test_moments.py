"""laf.transfer.moments: a dimension constant on the reference frames is divided by 1, not ~0, in
every place that standardises features (trainer input, domain-transfer SVMs, sibling novelty)."""
import numpy as np

from laf.transfer.heads import build_svm
from laf.transfer.moments import moments_from_sums, usable_std
from trainer.model import Standardize


def test_constant_dimensions_get_unit_spread_and_the_others_keep_theirs():
    np.testing.assert_array_equal(usable_std([0.0, 1e-9, 0.03, 0.48]), [1.0, 1.0, 0.03, 0.48])


def test_a_dead_training_channel_stays_small_when_it_wakes_up_at_serving():
    train = np.zeros((50, 3), np.float32)
    train[:, 1:] = np.random.default_rng(0).normal(size=(50, 2))
    mean, std = train.mean(0), np.sqrt(((train - train.mean(0)) ** 2).mean(0))
    layer = Standardize()
    layer.build((None, 3))
    layer.set_moments(mean, std)
    out = np.asarray(layer(np.array([[0.5, 0.0, 0.0]], np.float32)))
    assert abs(out[0, 0] - 0.5) < 1e-6
    svm = build_svm(3, 2, l2=1e-3, seed=0, moments=(mean, std))
    assert np.abs(np.asarray(svm.get_layer("standardize")(np.array([[0.5, 0.0, 0.0]], np.float32)))).max() < 1.0


def _constant_and_varied(rows: int = 120_000, constant: int = 64) -> np.ndarray:
    """``constant`` dimensions constant at values in [0, 20), two varied: summed chunk by chunk, the
    raw E[x²] - E[x]² gave some constant ones a spread of ~1e-6 (above usable_std's cutoff), not 0."""
    rng = np.random.default_rng(0)
    x = np.empty((rows, constant + 2), np.float32)
    x[:, :constant] = rng.uniform(0, 20, constant)
    x[:, constant:] = rng.normal(5.0, 0.3, size=(rows, 2))
    return x


def _check(mean, std, x, constant: int = 64):
    np.testing.assert_array_equal(std[:constant], 0.0)
    np.testing.assert_array_equal(mean[:constant], x[0, :constant].astype(np.float64))
    np.testing.assert_allclose(std[constant:], x[:, constant:].astype(np.float64).std(0), rtol=1e-9)
    np.testing.assert_allclose(mean[constant:], x[:, constant:].astype(np.float64).mean(0), rtol=1e-12)


def test_moments_about_the_first_row_find_a_constant_dimension_exactly():
    x = _constant_and_varied()
    n, total, squares = 0, 0.0, 0.0
    for part in np.array_split(x.astype(np.float64) - x[0], 470):  # chunk by chunk, as the streams sum
        n, total, squares = n + len(part), total + part.sum(0), squares + (part ** 2).sum(0)
    _check(*moments_from_sums(n, total, squares, x[0]), x)


def test_both_streaming_passes_find_a_constant_dimension_exactly(tmp_path):
    """The domain-transfer streams and the trainer's Standardize moments."""
    from laf import tfrecords
    from laf.transfer.feature_stream import FeatureStream
    from schemas.records import VideoRecord
    from trainer import data

    x = _constant_and_varied()
    _check(*FeatureStream.from_arrays(x, np.zeros(len(x), np.int64)).moments(), x)
    videos = [VideoRecord(f"v{i}", "A:b", 0, part, np.arange(len(part), dtype=np.float32), 1.0, float(len(part)))
              for i, part in enumerate(np.array_split(x, 400))]
    tfrecords.write(str(tmp_path / "v.gz"), [v.serialize() for v in videos])
    _check(*data.check_records(str(tmp_path / "v.gz"), "train", 1, x.shape[1], measure=True).moments, x)
