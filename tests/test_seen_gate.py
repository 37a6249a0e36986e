"""trainer.seen_gate: served probabilities name a sibling only once an action was seen lately."""
import numpy as np
import pytest
import tensorflow as tf

from trainer import data, model
from trainer.seen_gate import SeenGate, keep_per_step

ACTIVITY = np.repeat(np.eye(2, dtype=np.float32), 3, axis=0)  # 2 activities x 3 siblings


def _gate(frame_interval_s: float = 1.0) -> SeenGate:
    gate = SeenGate(6)
    gate.build((None, None, 6))
    gate.configure(model.sibling_targets(ACTIVITY), frame_interval_s)
    return gate


def _leaning(steps: int) -> np.ndarray:
    """[1, T, 6]: every frame leans to sibling 0 of activity 0 (0.6 / 0.2 / 0.2, the other activity 0)."""
    return np.tile(np.array([0.6, 0.2, 0.2, 0, 0, 0], np.float32), (1, steps, 1))


def test_identity_until_configured():
    gate = SeenGate(6)
    p = _leaning(4)
    out, (memory, carried) = gate(p, tf.zeros([1, 4]))
    np.testing.assert_allclose(out, p, atol=1e-7)
    assert memory.shape == (1, 6) and carried.shape == (1, 1)


def test_no_sibling_before_the_action_and_a_fading_one_after_it():
    gate = _gate()
    actionness = np.zeros([1, 60], np.float32)
    actionness[0, 10] = 1.0  # a decisive action frame at t = 10 s
    actionness[0, 5] = 0.4   # a weak one before it: not carried (below SEEN_FROM)
    out, (_, carried) = gate(_leaning(60), actionness)
    out = out.numpy()[0]
    np.testing.assert_allclose(out[:5], np.tile([1 / 3, 1 / 3, 1 / 3, 0, 0, 0], (5, 1)), atol=1e-6)
    assert out[5, 0] == pytest.approx(0.4 * 0.6 + 0.6 / 3)  # the frame's own actionness only
    np.testing.assert_allclose(out[6:10, 0], 1 / 3, atol=1e-6)
    assert out[10, 0] == pytest.approx(0.6)  # seen: the class head's own probabilities
    assert out[30, 0] == pytest.approx(0.5 * 0.6 + 0.5 / 3, abs=1e-5)  # one half-life (20 s) later
    np.testing.assert_allclose(out.sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(out[:, :3].sum(1), 1.0, atol=1e-6)  # the activity's mass is kept
    np.testing.assert_array_equal(out[:, :3].argmax(1), 0)  # and with a constant p, whose shape the memory has, its order
    assert float(carried[0, 0]) == pytest.approx(0.5 ** (49 / 20), abs=1e-5)


def test_after_the_action_the_seen_sibling_is_named_not_the_heads_later_guess():
    gate = _gate()
    p = _leaning(40)
    p[0, 10:] = [0.2, 0.5, 0.1, 0.1, 0.05, 0.05]  # after the action the head drifts to sibling 1
    p[0, 5:10] = [0.3, 0.3, 0.3, 0.1, 0, 0]     # while it acts (t = 5..9), it says sibling 0 ...
    p[0, 7] = [0.6, 0.1, 0.1, 0.2, 0, 0]         # ... decisively on the most action-like frame
    actionness = np.zeros([1, 40], np.float32)
    actionness[0, 5:10] = 0.6
    actionness[0, 7] = 1.0
    out = gate(p, actionness)[0].numpy()[0]
    after = out[10:]
    assert (after[:, :3].argmax(1) == 0).all()  # the memory of frame 7 (and 5..9), not the drifting head
    np.testing.assert_allclose(after[:, :3].sum(1), 0.8, atol=1e-6)  # each frame keeps its own activity mass
    np.testing.assert_allclose(after[:, 3:].sum(1), 0.2, atol=1e-6)
    assert after[-1, 0] < after[0, 0]  # fading with the carried share
    np.testing.assert_allclose(out.sum(1), 1.0, atol=1e-6)


def test_an_activity_never_seen_keeps_its_own_probabilities_not_the_memorys_tails():
    """A live stream carries the gate into the next video: its other activity has no remembered sibling."""
    gate = _gate()
    p = np.zeros([1, 12, 6], np.float32)
    p[0, :4] = [0.9, 0.05, 0.04, 1e-5, 1e-4, 0.01]  # activity 0's action; activity 1 only as tails, peaking on 5
    p[0, 4:] = [0.001, 0.001, 0.001, 0.34, 0.33, 0.327]  # the next video: activity 1's context, leaning to 3
    actionness = np.full([1, 12], 0.1, np.float32)
    actionness[0, :4] = 1.0
    out = gate(p, actionness)[0].numpy()[0]
    gate.remember.assign(0.0)
    without = gate(p, actionness)[0].numpy()[0]
    # the tails' shape (~0.99 on sibling 5) would move these frames by up to ~0.5; trusted at ~1 %, by < 0.01
    np.testing.assert_allclose(out[4:, 3:], without[4:, 3:], atol=0.01)
    assert (out[4:, 3:].argmax(1) == 0).all()


def test_without_memory_the_carried_share_serves_the_frames_own_probabilities():
    """An upgraded model from before the memory (no ``seen_memory`` weight) serves what it served."""
    gate = _gate()
    gate.remember.assign(0.0)
    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.ones(6), size=(1, 30)).astype(np.float32)
    a = rng.uniform(0, 1, (1, 30)).astype(np.float32)
    out = gate(p, a)[0].numpy()
    seen = np.zeros(30)
    carried = 0.0
    for t in range(30):
        carried = max(np.clip((a[0, t] - data.SEEN_FROM) / (1 - data.SEEN_FROM), 0, 1), carried * keep_per_step(1.0))
        seen[t] = max(a[0, t], carried)
    flat = p[0] @ model.sibling_targets(ACTIVITY).numpy()
    np.testing.assert_allclose(out[0], seen[:, None] * p[0] + (1 - seen[:, None]) * flat, atol=1e-6)


def test_half_life_is_in_seconds():
    assert keep_per_step(0.5) == pytest.approx(0.5 ** (0.5 / data.SEEN_HALF_LIFE_S))
    gate = _gate(frame_interval_s=0.5)  # 2 frames a second: 40 steps to halve
    actionness = np.zeros([1, 41], np.float32)
    actionness[0, 0] = 1.0
    out, _ = gate(_leaning(41), actionness)
    assert out.numpy()[0, 40, 0] == pytest.approx(0.5 * 0.6 + 0.5 / 3, abs=1e-5)


def test_masked_steps_keep_the_carried_value_and_chunks_equal_the_whole():
    gate = _gate()
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(6), size=(2, 30)).astype(np.float32)
    a = rng.uniform(0, 1, (2, 30)).astype(np.float32)
    whole, last = gate(p, a)
    parts, carried = [], None
    for start in range(0, 30, 7):
        out, carried = gate(p[:, start:start + 7], a[:, start:start + 7], carried=carried)
        parts.append(out.numpy())
    np.testing.assert_allclose(np.concatenate(parts, 1), whole, atol=1e-6)
    for got, want in zip(carried, last):
        np.testing.assert_allclose(got, want, atol=1e-6)
    mask = np.ones([2, 30], bool)
    mask[:, 20:] = False
    _, padded = gate(p, a, mask=tf.constant(mask))
    _, first = gate(p[:, :20], a[:, :20])
    for got, want in zip(padded, first):
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_the_net_serves_gated_probabilities_and_trains_the_raw_ones():
    net = model.build("lstmp", 6, cells=8, projection=4)
    x = tf.constant(np.random.default_rng(1).normal(size=(2, 25, 5)).astype(np.float32))
    net(x)
    net.seen_gate.configure(model.sibling_targets(ACTIVITY), 1.0)
    outputs, states = net(x)
    assert len(states) == len(net.state_sizes) == 4 and states[-2].shape == (2, 6) and states[-1].shape == (2, 1)
    assert not np.allclose(outputs["probabilities"], outputs["class_probabilities"])
    served = model.frame_outputs(net, x, tf.constant([25, 25]))
    assert set(served) == {"probabilities", "actionness"}
    np.testing.assert_allclose(served["probabilities"], outputs["probabilities"], atol=1e-6)
    labels, weights, mask = tf.zeros([2, 25], tf.int32), tf.ones([2, 25]), tf.ones([2, 25], bool)
    raw = {"probabilities": outputs["class_probabilities"], "actionness": outputs["actionness"]}
    np.testing.assert_allclose(model.frame_loss(labels, outputs, weights, mask),
                               model.frame_loss(labels, raw, weights, mask), rtol=1e-6)
