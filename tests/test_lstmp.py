"""LSTMP layer against a plain NumPy transcription of the paper's eqs. (4)-(10)."""
import numpy as np
import pytest

import tensorflow as tf

from laf.evaluate.evaluation import LocalizeConfig
from schemas.records import VideoRecord
from trainer import model as model_lib, serving
from trainer.lstmp import LSTMP

B, T, D, N, P = 2, 7, 5, 4, 3


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def numpy_lstmp(x, weights, mask=None, r0=None, c0=None):
    """Eqs. (4)-(9) step by step with separate per-gate matrices; masked steps keep the state."""
    w_x, w_r, peephole, bias, w_rm = weights
    w_ix, w_fx, w_cx, w_ox = np.split(w_x, 4, axis=1)
    w_ir, w_rf, w_cr, w_or = np.split(w_r, 4, axis=1)
    b_i, b_f, b_c, b_o = np.split(bias, 4)
    w_ic, w_cf, w_oc = peephole
    batch, steps, _ = x.shape
    r = np.zeros((batch, w_rm.shape[1])) if r0 is None else r0
    c = np.zeros((batch, w_rm.shape[0])) if c0 is None else c0
    outputs = []
    for t in range(steps):
        x_t = x[:, t]
        i = sigmoid(x_t @ w_ix + r @ w_ir + w_ic * c + b_i)                    # (4)
        f = sigmoid(x_t @ w_fx + r @ w_rf + w_cf * c + b_f)                    # (5)
        c_new = f * c + i * np.tanh(x_t @ w_cx + r @ w_cr + b_c)               # (6)
        o = sigmoid(x_t @ w_ox + r @ w_or + w_oc * c_new + b_o)                # (7)
        m = o * np.tanh(c_new)                                                 # (8)
        r_new = m @ w_rm                                                       # (9)
        keep = np.ones((batch, 1), bool) if mask is None else mask[:, t:t + 1]
        r, c = np.where(keep, r_new, r), np.where(keep, c_new, c)
        outputs.append(r)
    return np.stack(outputs, 1), r, c


@pytest.fixture(scope="module")
def layer_and_weights():
    rng = np.random.default_rng(1)
    layer = LSTMP(N, P, return_state=True)
    layer.build((None, None, D))
    weights = [rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in layer.get_weights()]
    layer.set_weights(weights)
    x = rng.normal(size=(B, T, D)).astype(np.float32)
    return layer, [w.astype(np.float64) for w in weights], x


def test_matches_numpy_equations(layer_and_weights):
    layer, weights, x = layer_and_weights
    out, r, c = layer(x)
    want_out, want_r, want_c = numpy_lstmp(x.astype(np.float64), weights)
    assert out.shape == (B, T, P)
    np.testing.assert_allclose(out, want_out, atol=1e-5)
    np.testing.assert_allclose(r, want_r, atol=1e-5)
    np.testing.assert_allclose(c, want_c, atol=1e-5)
    # y_t = W_yr r_t + b_y (eq. 10) is the TimeDistributed head on top of this output.
    assert not np.allclose(want_out[:, 1:], want_out[:, :-1])


def test_peepholes_matter(layer_and_weights):
    """Guards against a reference and layer that both ignore the peepholes."""
    _, weights, x = layer_and_weights
    no_peep = list(weights)
    no_peep[2] = np.zeros_like(weights[2])
    assert not np.allclose(numpy_lstmp(x, weights)[0], numpy_lstmp(x, no_peep)[0], atol=1e-3)


def test_masked_steps_keep_state_and_output(layer_and_weights):
    layer, weights, x = layer_and_weights
    mask = np.ones((B, T), bool)
    mask[0, 2:4] = False   # a gap in the middle
    mask[1, 5:] = False    # padding at the end
    out, r, c = layer(x, mask=mask)
    want_out, want_r, want_c = numpy_lstmp(x.astype(np.float64), weights, mask)
    np.testing.assert_allclose(out, want_out, atol=1e-5)
    np.testing.assert_allclose(c, want_c, atol=1e-5)
    np.testing.assert_allclose(out[0, 3], out[0, 1], atol=0)
    np.testing.assert_allclose(out[1, 6], out[1, 4], atol=0)
    noisy = x.copy()
    noisy[~mask] = 100.0
    np.testing.assert_allclose(layer(noisy, mask=mask)[0], out, atol=1e-6)


def test_state_carried_across_chunks_equals_whole_sequence(layer_and_weights):
    layer, _, x = layer_and_weights
    mask = np.ones((B, T), bool)
    mask[1, 6:] = False
    whole, r_whole, c_whole = layer(x, mask=mask)
    state, parts = None, []
    for start in range(0, T, 3):
        out, r, c = layer(x[:, start:start + 3], mask=mask[:, start:start + 3], initial_state=state)
        state = [r, c]
        parts.append(out)
    np.testing.assert_allclose(np.concatenate(parts, 1), whole, atol=1e-6)
    np.testing.assert_allclose(state[1], c_whole, atol=1e-6)


def test_empty_sequence_keeps_initial_state(layer_and_weights):
    layer, _, x = layer_and_weights
    _, r, c = layer(x)
    out, r_empty, c_empty = layer(x[:, :0], initial_state=[r, c])
    assert out.shape == (B, 0, P)
    np.testing.assert_array_equal(r_empty, r)
    np.testing.assert_array_equal(c_empty, c)


def test_config_round_trip(layer_and_weights):
    layer, _, x = layer_and_weights
    clone = LSTMP.from_config(layer.get_config())
    clone.build((None, None, D))
    clone.set_weights(layer.get_weights())
    assert clone.get_config() == layer.get_config()
    np.testing.assert_allclose(clone(x)[0], layer(x)[0], atol=0)


def test_zero_weight_steps_do_not_change_gradients():
    rng = np.random.default_rng(2)
    net = model_lib.build("lstmp", num_classes=3, cells=N, projection=P, actionness=False)  # the paper's loss
    x = rng.normal(size=(B, T, D)).astype(np.float32)
    mask = np.ones((B, T), bool)
    labels = rng.integers(0, 3, size=(B, T))
    weights = rng.uniform(0.2, 1.0, size=(B, T)).astype(np.float32)
    weights[:, 1] = 0.0
    weights[:, 5:] = 0.0

    def grads(features, targets):
        with tf.GradientTape() as tape:
            outputs, _ = net(features, mask=mask)
            loss = model_lib.frame_loss(targets, outputs, weights, mask)
        return [g.numpy() for g in tape.gradient(loss, net.trainable_variables)]

    base = grads(x, labels)
    other_labels = labels.copy()
    other_labels[:, 1] = (labels[:, 1] + 1) % 3
    other_labels[:, 5:] = (labels[:, 5:] + 1) % 3
    other_x = x.copy()
    other_x[:, 5:] = rng.normal(size=(B, T - 5, D))  # trailing zero-weight steps feed nothing later
    for got, want in zip(grads(other_x, other_labels), base):
        np.testing.assert_allclose(got, want, atol=1e-6)
    changed = labels.copy()
    changed[:, 2] = (labels[:, 2] + 1) % 3  # a weighted step does change them
    assert any(not np.allclose(g, w, atol=1e-6) for g, w in zip(grads(x, changed), base))


def test_sibling_targets_teach_the_activity_where_the_action_is_not_yet_seen():
    # labels 0, 1 are siblings (activity A), label 2 is alone (activity B)
    siblings = model_lib.sibling_targets(np.array([[1, 0], [1, 0], [0, 1]], np.float32)).numpy()
    np.testing.assert_allclose(siblings, [[0.5, 0.5, 0], [0.5, 0.5, 0], [0, 0, 1]])
    # label 1 without a training video: it took half of label 0's context; its own row keeps itself (symmetric,
    # as the seen gate's recall assumes)
    trained = model_lib.sibling_targets(np.array([[1, 0], [1, 0], [0, 1]], np.float32), [True, False, True]).numpy()
    np.testing.assert_allclose(trained, [[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    all_trained = model_lib.sibling_targets(np.array([[1, 0], [1, 0], [0, 1]], np.float32), [True] * 3).numpy()
    np.testing.assert_array_equal(all_trained, siblings)  # every label trained: the same targets, to the bit
    p = np.array([[[0.7, 0.2, 0.1], [0.3, 0.3, 0.4]]], np.float32)
    outputs = {"probabilities": tf.constant(p)}
    labels, mask = np.array([[0, 1]]), np.ones((1, 2), bool)
    weights = np.array([[1.0, 0.25]], np.float32)
    plain = model_lib.frame_loss(labels, outputs, weights, mask).numpy()
    np.testing.assert_allclose(plain, (-np.log(0.7) - 0.25 * np.log(0.3)) / 2, rtol=1e-5)
    # frame 2 (weight 0.25) gets 0.75 x cross-entropy against "activity A": half 0, half 1
    with_siblings = model_lib.frame_loss(labels, outputs, weights, mask, siblings=siblings).numpy()
    np.testing.assert_allclose(with_siblings, plain + 0.75 * -(0.5 * np.log(0.3) + 0.5 * np.log(0.3)) / 2, rtol=1e-5)


def test_export_and_reload_give_identical_outputs(tmp_path):
    rng = np.random.default_rng(3)
    net = model_lib.build("lstmp", num_classes=4, cells=N, projection=P, num_layers=2)
    path = serving.export(net, D, str(tmp_path / "model"), LocalizeConfig(window=3))
    loaded = tf.saved_model.load(path)
    assert set(loaded.signatures) >= {"serving_default", "frame_features", "localize"}

    lengths = np.array([T, 4], np.int32)
    x = rng.normal(size=(B, T, D)).astype(np.float32)
    mask = np.arange(T)[None, :] < lengths[:, None]
    outputs = net(x, mask=mask)[0]
    direct = outputs["probabilities"].numpy() * mask[:, :, None]
    by_features = loaded.signatures["frame_features"](frame_features=tf.constant(x), lengths=tf.constant(lengths))
    got = by_features["probabilities"]
    np.testing.assert_allclose(got, direct, atol=1e-6)
    assert np.all(got.numpy()[1, 4:] == 0)
    np.testing.assert_allclose(by_features["actionness"], outputs["actionness"].numpy() * mask, atol=1e-6)

    records = [VideoRecord(f"v{i}", "A:a", 0, x[i, :n], np.arange(n, dtype=np.float32), 1.0, n)
               for i, n in enumerate(lengths)]
    out = loaded.signatures["serving_default"](
        examples=tf.constant([r.serialize() for r in records]))
    np.testing.assert_array_equal(out["num_frames"], lengths)
    np.testing.assert_allclose(out["probabilities"], direct, atol=1e-6)
    # A batch of videos without frames is answered with empty outputs, not a graph error.
    empty = VideoRecord("e", "A:a", 0, np.zeros((0, D), np.float32), np.zeros(0, np.float32), 1.0, 0.0)
    out = loaded.signatures["serving_default"](examples=tf.constant([empty.serialize()]))
    assert out["probabilities"].shape == (1, 0, 4) and out["num_frames"].numpy().tolist() == [0]
    out = loaded.signatures["localize"](examples=tf.constant([empty.serialize()]))
    assert out["count"].numpy().tolist() == [0] and out["start"].shape == (1, 0)
    out = loaded.signatures["frame_features"](frame_features=tf.zeros([2, 0, D]), lengths=tf.constant([0, 0]))
    assert out["probabilities"].shape == (2, 0, 4) and out["actionness"].shape == (2, 0)

    clone = type(net).from_config(net.get_config())
    clone(x, mask=mask)
    clone.set_weights(net.get_weights())
    for key in ("probabilities", "actionness"):
        np.testing.assert_allclose(clone(x, mask=mask)[0][key], net(x, mask=mask)[0][key], atol=0)
