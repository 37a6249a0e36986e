"""Networks, the LAF-weighted frame loss and truncated-BPTT training (export: ``trainer.serving``).

Both networks map frame features [B, T, D] (+ mask) to per-frame outputs and take / return a flat
list of recurrent states, so one training wrapper and one export serve both:
- ``LSTMPClassifier``: stacked LSTMP + dropout + TimeDistributed softmax, y_t = W_yr r_t + b_y (eq. 10);
- ``FrameCNN``: the single-frame baseline (§4.2): fully-connected layers + softmax on each frame.

Outputs are a dict: ``probabilities`` [B, T, N] and, with ``actionness=True``, ``actionness``
[B, T] (a sigmoid "is this an action frame" head beside the softmax; beyond the paper, as in
BaS-Net/STPN). Context frames are ~90 % of an untrimmed video and carry no sibling evidence; the
actionness head lets fusion and localization ignore them instead of letting them vote. The LSTMP
net with actionness serves its softmax through ``trainer.seen_gate`` (the raw softmax, which the
loss trains, stays in ``class_probabilities``; ``served`` drops it).
Both networks standardise their input (``Standardize``: training mean/std per dimension, kept in
the model so serving still takes raw features).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from laf.transfer.moments import usable_std
from trainer.lstmp import LSTMP
from trainer.seen_gate import SeenGate


Outputs = Dict[str, tf.Tensor]


@keras.saving.register_keras_serializable(package="laf")
class Standardize(keras.layers.Layer):
    """(x - mean) / std per feature dimension, with the training set's moments stored as weights.

    CNN activations have per-dimension means and spreads that differ by an order of magnitude; an
    unstandardised recurrent layer fits the large dimensions first and sibling details late.
    """

    def build(self, input_shape):
        dim = int(input_shape[-1])
        self.mean = self.add_weight(shape=(dim,), initializer="zeros", trainable=False, name="mean")
        self.std = self.add_weight(shape=(dim,), initializer="ones", trainable=False, name="std")

    def set_moments(self, mean, std) -> None:
        self.mean.assign(tf.cast(mean, self.mean.dtype))
        self.std.assign(tf.cast(usable_std(std), self.std.dtype))

    def call(self, x):
        return (x - self.mean) / self.std


class _FrameNet(keras.Model):
    """What both networks share: input standardisation and the per-frame output heads."""

    seen_gate: Optional[SeenGate] = None  # the LSTMP net's with actionness (trainer.seen_gate)

    def __init__(self, num_classes: int, actionness: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.num_classes, self.actionness = num_classes, actionness
        self.supports_masking = True
        self.standardize = Standardize(name="standardize")
        self.head = keras.layers.Dense(num_classes, activation="softmax", name="output")
        self.actionness_head = (keras.layers.Dense(1, activation="sigmoid", name="actionness")
                                if actionness else None)

    def outputs(self, x) -> Outputs:
        out = {"probabilities": self.head(x)}
        if self.actionness_head is not None:
            out["actionness"] = self.actionness_head(x)[..., 0]
        return out

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "actionness": self.actionness}


@keras.saving.register_keras_serializable(package="laf")
class LSTMPClassifier(_FrameNet):
    """Stacked LSTMP layers, dropout after each, per-frame softmax (and actionness) heads."""

    def __init__(self, num_classes: int, cells: int = 1024, projection: int = 512,
                 num_layers: int = 1, dropout: float = 0.0, actionness: bool = True, **kwargs):
        super().__init__(num_classes, actionness, **kwargs)
        self.cells, self.projection = cells, projection
        self.num_layers, self.dropout = num_layers, dropout
        self.recurrent = [LSTMP(cells, projection, return_state=True, name=f"lstmp_{i}")
                          for i in range(num_layers)]
        self.drops = [keras.layers.Dropout(dropout) for _ in range(num_layers)]
        self.seen_gate = SeenGate(num_classes, name="seen_gate") if actionness else None

    @property
    def state_sizes(self) -> List[int]:
        gate = list(self.seen_gate.state_size) if self.seen_gate is not None else []
        return [size for layer in self.recurrent for size in layer.state_size] + gate

    def call(self, features, mask=None, states: Optional[Sequence] = None, training=None):
        x, final = self.standardize(features), []
        for i, (layer, drop) in enumerate(zip(self.recurrent, self.drops)):
            initial = None if states is None else list(states[2 * i:2 * i + 2])
            x, r, c = layer(x, mask=mask, initial_state=initial)
            final += [r, c]
            x = drop(x, training=training)
        outputs = self.outputs(x)
        if self.seen_gate is None:
            return outputs, final
        carried = None if states is None else states[2 * self.num_layers:]
        gated, carried = self.seen_gate(outputs["probabilities"], outputs["actionness"], mask=mask, carried=carried)
        outputs = {**outputs, "probabilities": gated, "class_probabilities": outputs["probabilities"]}
        return outputs, final + list(carried)

    def get_config(self):
        return {**super().get_config(), "cells": self.cells, "projection": self.projection,
                "num_layers": self.num_layers, "dropout": self.dropout}


CNN_DROPOUT = 0.5
"""The single-frame baseline's dropout after each hidden layer. The paper fine-tunes "the top two
fully-connected layers" of AlexNet, which drop half their units in training; without it the
baseline memorises each training video's scene (90 % of its frames, all with the video label)
and, on some seeds, never learns the action frames (a held-out draw, ``laf demo --scale 4 --seed 14
--looks 12``, trainer seed 0: p(label) on the action 0.36 and mAP@0.5 0.19; 0.65 and 0.54 with it)."""


@keras.saving.register_keras_serializable(package="laf")
class FrameCNN(_FrameNet):
    """Single-frame baseline: the top fully-connected layers and a softmax, frame by frame."""

    def __init__(self, num_classes: int, hidden: Sequence[int] = (512, 512), dropout: float = CNN_DROPOUT,
                 actionness: bool = True, **kwargs):
        super().__init__(num_classes, actionness, **kwargs)
        self.hidden, self.dropout = list(hidden), dropout
        self.hidden_layers = []
        for units in self.hidden:
            self.hidden_layers += [keras.layers.Dense(units, activation="relu"),
                                   keras.layers.Dropout(dropout)]

    @property
    def state_sizes(self) -> List[int]:
        return []  # stateless: each frame on its own

    def call(self, features, mask=None, states: Optional[Sequence] = None, training=None):
        x = self.standardize(features)
        for layer in self.hidden_layers:
            x = layer(x, training=training)
        return self.outputs(x), []

    def get_config(self):
        return {**super().get_config(), "hidden": self.hidden, "dropout": self.dropout}


def build(architecture: str, num_classes: int, cells: int = 1024, projection: int = 512,
          num_layers: int = 1, dropout: float = 0.0, cnn_hidden: Sequence[int] = (512, 512),
          actionness: bool = True, cnn_dropout: float = CNN_DROPOUT) -> keras.Model:
    """``architecture``: "lstmp" (the paper's model; ``dropout`` after its LSTMP layers) or "cnn"
    (the single-frame baseline; ``cnn_dropout`` after its hidden layers)."""
    if architecture == "lstmp":
        return LSTMPClassifier(num_classes, cells, projection, num_layers, dropout, actionness)
    if architecture == "cnn":
        return FrameCNN(num_classes, cnn_hidden, cnn_dropout, actionness)
    raise ValueError(f"unknown architecture {architecture!r}; expected 'lstmp' or 'cnn'")


def frame_loss(labels, outputs: Outputs, weights, mask, targets=None, siblings=None) -> tf.Tensor:
    """Per-frame cross-entropy scaled by each frame's penalty weight (its LAF score), plus, for a
    net with an actionness head, the binary cross-entropy of actionness against ``targets``
    (the frame's action weight: a soft "action" label, so 1 - target is its background weight).

    ``siblings`` ([N, N], row i: uniform over label i's activity) gives a frame's remaining
    weight 1 - w a soft target: "this activity, no sibling in particular". A frame before its
    video's action (or long after it, ``trainer.data.seen_recently``) shows the activity's scene and
    nothing that tells siblings apart; untaught (weight 0) the softmax there is confidently arbitrary
    and tends to one fixed sibling per activity.

    Normalized by the number of valid frames, not by the weights' sum, so frames with low LAF
    scores really count less instead of being re-inflated by normalization. The loss trains the
    raw softmax (``class_probabilities`` when the net serves it through ``trainer.seen_gate``).
    """
    probabilities = outputs.get("class_probabilities", outputs["probabilities"])
    mask = tf.cast(mask, probabilities.dtype)
    weights = tf.cast(weights, probabilities.dtype)
    ce = keras.losses.sparse_categorical_crossentropy(labels, probabilities)
    total = tf.reduce_sum(ce * weights * mask)
    if siblings is not None:
        activity = tf.gather(tf.cast(siblings, probabilities.dtype), labels)
        total += tf.reduce_sum(keras.losses.categorical_crossentropy(activity, probabilities) * (1.0 - weights) * mask)
    if "actionness" in outputs:
        target = tf.cast(weights if targets is None else targets, probabilities.dtype)
        bce = keras.losses.binary_crossentropy(target[..., None], outputs["actionness"][..., None])
        total += tf.reduce_sum(bce * mask)
    return total / tf.maximum(tf.reduce_sum(mask), 1.0)


def sibling_targets(activity_matrix, trained: Optional[np.ndarray] = None) -> tf.Tensor:
    """[N, N] rows: uniform distribution over each label's activity (the label included), over its
    ``trained`` labels ([N] bool: labels with training videos) when given. Why: a label of the
    vocabulary without a training video (named only in a segment, or by a larger labels.json) took
    its share of every sibling's context frames in training and in serving; its own row, which no
    training frame uses, keeps itself."""
    m = tf.constant(activity_matrix, tf.float32)
    same = tf.matmul(m, m, transpose_b=True)
    if trained is not None:
        live = tf.constant(np.asarray(trained, np.float32))
        same = same * live[:, None] * live[None, :] + tf.linalg.diag(1.0 - live)  # symmetric, as the seen gate needs
    return same / tf.reduce_sum(same, axis=1, keepdims=True)


class StreamTrainer(keras.Model):
    """Truncated BPTT over B parallel video streams (paper §3.3, k-step chunks).

    Each batch row is a stream; the net's final state of one chunk is the initial state of the
    stream's next chunk and is zeroed where ``reset`` marks a stream's move to a new video.
    Batches are ``({"features", "mask", "reset"}, labels, weights, targets)`` from ``trainer.data``.
    """

    def __init__(self, net: keras.Model, streams: int, siblings=None, **kwargs):
        super().__init__(**kwargs)
        self.net, self.siblings = net, siblings

        def states(phase: str) -> list:
            return [self.add_weight(shape=(streams, size), initializer="zeros", trainable=False,
                                    name=f"{phase}_state_{i}")
                    for i, size in enumerate(net.state_sizes)]

        # Separate streams for validation, so validating between epochs leaves training's alone.
        self.train_states, self.eval_states = states("train"), states("eval")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        # Accuracy on the frames the weighting calls actions: what the class head is taught.
        self.accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy]

    def call(self, inputs, training=None):
        carried = self.train_states if training else self.eval_states
        keep = 1.0 - tf.cast(inputs["reset"], tf.float32)[:, None]
        states = [tf.convert_to_tensor(v) * keep for v in carried]
        outputs, final = self.net(inputs["features"], mask=inputs["mask"], states=states,
                                  training=training)
        for variable, value in zip(carried, final):
            variable.assign(tf.stop_gradient(value))
        return outputs

    def _update_metrics(self, loss, inputs, labels, weights, outputs) -> Dict[str, tf.Tensor]:
        # per frame, as frame_loss divides by the batch's valid frames: a pass's last batches, where most
        # streams are idle, count by their frames, not as much as a full batch
        self.loss_tracker.update_state(loss, sample_weight=tf.reduce_sum(tf.cast(inputs["mask"], tf.float32)))
        self.accuracy.update_state(labels, outputs.get("class_probabilities", outputs["probabilities"]),
                                   sample_weight=tf.cast(inputs["mask"], tf.float32) * weights)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        inputs, labels, weights, targets = data
        with tf.GradientTape() as tape:
            outputs = self(inputs, training=True)
            loss = frame_loss(labels, outputs, weights, inputs["mask"], targets, self.siblings)
        variables = self.net.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        logs = self._update_metrics(loss, inputs, labels, weights, outputs)
        return {**logs, "learning_rate": tf.convert_to_tensor(self.optimizer.learning_rate)}

    def test_step(self, data):
        inputs, labels, weights, targets = data
        outputs = self(inputs, training=False)
        loss = frame_loss(labels, outputs, weights, inputs["mask"], targets, self.siblings)
        return self._update_metrics(loss, inputs, labels, weights, outputs)


SERVED = ("probabilities", "actionness")


def served(outputs: Outputs) -> Outputs:
    """The per-frame outputs of the serving contract (without the raw ``class_probabilities``)."""
    return {k: outputs[k] for k in SERVED if k in outputs}


def frame_outputs(net: keras.Model, features, lengths) -> Outputs:
    """Whole-sequence outputs (``probabilities`` [B, T, N], ``actionness`` [B, T] if the net has
    it), zero past each sequence's length."""
    mask = tf.sequence_mask(lengths, tf.shape(features)[1])
    outputs, _ = net(features, mask=mask, training=False)
    valid = tf.cast(mask, outputs["probabilities"].dtype)
    return {"probabilities": outputs["probabilities"] * valid[:, :, None],
            **({"actionness": outputs["actionness"] * valid} if "actionness" in outputs else {})}


def traced_outputs(net: keras.Model) -> Callable[[Any, Any], Outputs]:
    """``frame_outputs`` of ``net`` as one traced graph for every batch shape. Why: run eagerly, the
    LSTMP's ``tf.scan`` dispatches each time step's ops from Python, ~5x slower on CPU (32 videos x
    300 frames: 0.86 s eager, 0.16 s traced), and the eval split is scored at every epoch."""
    return tf.function(lambda features, lengths: frame_outputs(net, features, lengths), reduce_retracing=True)


def class_evidence(outputs: Outputs) -> tf.Tensor:
    """What localization windows average: p(class) x actionness (graph twin of
    ``laf.evaluate.evaluation.class_evidence``); the plain probabilities for a net without actionness.
    The product is taken in float64, as the library takes it: two windows tied in float32 but not in
    float64 would otherwise break their tie the other way."""
    if "actionness" not in outputs:
        return outputs["probabilities"]
    return tf.cast(outputs["probabilities"], tf.float64) * tf.cast(outputs["actionness"], tf.float64)[..., None]
