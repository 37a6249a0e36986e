"""laf.transfer.moments: a dimension constant on the reference frames is divided by 1, not ~0, in
every place that standardises features (trainer input, domain-transfer SVMs, sibling novelty)."""
import numpy as np

from laf.transfer.domain_transfer import build_svm
from laf.transfer.moments import usable_std
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
