"""The models Algorithm 1 trains on feature rows, and the streaming passes that score with them.

"Fine-tuning the top layers" of a CNN whose lower layers are frozen is training a small head on
the shared features, so CNN_v / CNN_i are Dense heads over feature vectors; the stopping rule's
one-vs-rest SVMs are a linear layer. Training holds only its shuffle buffers
(:func:`training_dataset`), scoring one chunk at a time.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from laf.errors import UserError
from laf.evaluate.evaluation import TOP_FRACTION
from laf.transfer.config import TransferConfig
from laf.transfer.feature_stream import FeatureStream
from laf.transfer.moments import usable_std

_STEPS_PER_CALL = 64    # training steps per graph call: Python per-step overhead dominates small heads
MIN_CHUNKS_MIXED = 16   # videos (chunks) a training batch draws from at least, whatever their length


def build_head(dim: int, num_classes: int, hidden_units: Sequence[int], seed: int,
               learning_rate: float = 1e-3):
    """Dense(ReLU) layers + softmax over the N actions: the fine-tuned top layers of the CNN."""
    import keras

    inputs = keras.Input((dim,), name="features")
    x = inputs
    for i, units in enumerate(hidden_units):
        x = keras.layers.Dense(int(units), activation="relu", name=f"fc{i + 1}",
                               kernel_initializer=keras.initializers.GlorotUniform(seed=seed + i))(x)
    out = keras.layers.Dense(num_classes, activation="softmax", name="probabilities",
                             kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 97))(x)
    model = keras.Model(inputs, out)
    model.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy",
                  jit_compile=False, steps_per_execution=_STEPS_PER_CALL)
    return model


def build_svm(dim: int, num_classes: int, l2: float, seed: int, learning_rate: float = 1e-3,
              moments: Optional[Tuple[np.ndarray, np.ndarray]] = None):
    """One-vs-rest linear SVMs: a linear layer, squared hinge on ±1 targets, L2 weight penalty; on
    features standardised by ``moments`` (mean, std), since CNN activations differ per dimension by
    an order of magnitude and an L2-penalised linear model then sees only the large ones."""
    import keras

    inputs = keras.Input((dim,), name="features")
    x = inputs
    if moments is not None:
        mean, std = moments
        x = keras.layers.Normalization(mean=mean, variance=usable_std(std) ** 2, name="standardize")(x)
    out = keras.layers.Dense(num_classes, name="responses", kernel_regularizer=keras.regularizers.L2(l2),
                             kernel_initializer=keras.initializers.GlorotUniform(seed=seed))(x)
    model = keras.Model(inputs, out)
    model.compile(keras.optimizers.Adam(learning_rate), keras.losses.SquaredHinge(), jit_compile=False,
                  steps_per_execution=_STEPS_PER_CALL)
    return model


def training_dataset(stream: FeatureStream, mask: np.ndarray, batch_size: int, shuffle_buffer: int,
                     seed: int, epochs: int = 1) -> tf.data.Dataset:
    """``epochs`` passes over the kept rows as shuffled (x, label) batches.

    The shuffle buffers bound the memory: ``shuffle_buffer`` rows, but at least
    :data:`MIN_CHUNKS_MIXED` chunks' worth, each buffer. Why the floor: the stream reads a video whole,
    so a buffer of 16384 rows held 4 one-hour videos (3600 frames each at 1 fps), and a batch drew its
    frames from a handful of videos, a few classes, in file order. The epochs are repeated inside one
    dataset because a Keras epoch costs a fresh iterator and callbacks, which dominates on small keep-sets.
    """
    keep = tf.constant(mask, tf.bool)

    def select(x, y, row):
        m = tf.gather(keep, row)
        return tf.boolean_mask(x, m), tf.boolean_mask(y, m)

    batches = -(-int(np.count_nonzero(mask)) // batch_size)
    rows = max(shuffle_buffer, MIN_CHUNKS_MIXED * stream.chunk_rows)
    return (stream.indexed()
            .shuffle(rows // stream.chunk_rows, seed=seed)  # mixes a video's frames with other videos'
            .map(select)
            .unbatch()
            .shuffle(rows, seed=seed + 1)
            .batch(batch_size)
            .repeat(epochs)
            .apply(tf.data.experimental.assert_cardinality(batches * epochs))
            .prefetch(2))


def fit(model, stream: FeatureStream, mask: np.ndarray, num_classes: int, epochs: int,
        cfg: TransferConfig, seed: int, one_hot: bool = False):
    if not mask.any():
        raise UserError("nothing left to train on: every row was filtered out")
    ds = training_dataset(stream, mask, cfg.batch_size, cfg.shuffle_buffer, seed, epochs)
    if one_hot:
        ds = ds.map(lambda x, y: (x, tf.one_hot(y, num_classes)))
    model.fit(ds, epochs=1, verbose=0)
    return model


def own_label_scores(model, stream: FeatureStream) -> np.ndarray:
    """model(x)[label] for every row of the stream, in stream order (a batched streaming pass)."""
    spec = (tf.TensorSpec([None, stream.dim], tf.float32), tf.TensorSpec([None], tf.int32))

    @tf.function(input_signature=spec)
    def own(x, y):
        scores = tf.gather(model(x, training=False), y, batch_dims=1)
        return scores, tf.reduce_all(tf.math.is_finite(x), axis=1) & tf.math.is_finite(scores)

    out = np.zeros(len(stream), np.float32)
    seen, bad = 0, 0
    for x, y, row in stream.indexed().prefetch(2):
        scores, finite = own(x, y)
        out[row.numpy()] = scores.numpy()
        seen += int(tf.size(row))
        bad += int(np.sum(~finite.numpy()))
    if seen != len(stream):
        raise UserError(f"the records changed while reading: expected {len(stream)} rows, read {seen}")
    if bad:  # the features as well as the scores: a head may turn a NaN feature into a finite score
        raise UserError(f"{bad} rows have NaN or infinite features or scores (records not made by ingestion,"
                        " which rejects such features, or diverged weights)")
    return out


def video_accuracy(svm, videos: FeatureStream, laf_model, fraction: float = TOP_FRACTION) -> float:
    """Video-level accuracy of the SVM responses averaged over each video's most action-like frames
    (the ceil(T * fraction) frames where the round's LAF model CNN_i is most confident of any class;
    label-free), argmax vs the video label. Streams: holds one video's responses at a time.

    Why not the paper's mean over all frames: siblings share their scene, so that mean is a mean over
    context; the SVMs, trained on kept frames that are still mostly context, score one fixed sibling
    there, the accuracy sat at chance whatever a round kept, and the stopping rule could not see a
    difference between rounds.
    """
    spec = tf.TensorSpec([None, videos.dim], tf.float32)
    respond = tf.function(lambda x: (svm(x, training=False), tf.reduce_max(laf_model(x, training=False), -1)),
                          input_signature=[spec])
    ends = np.cumsum(videos.lengths)
    predicted = np.full(len(videos.lengths), -1, np.int64)
    pending, start, group = [], 0, 0  # (responses, confidence) of rows start.. not yet fused
    for x, _, _ in videos.indexed().prefetch(2):
        pending.append(tuple(t.numpy() for t in respond(x)))
        if not all(np.isfinite(part).all() for part in pending[-1]):  # argmax takes NaN for the largest: class 0
            raise UserError("the SVMs or the LAF model give NaN or infinite responses on the validation videos"
                            " (diverged weights): the stopping rule cannot compare rounds")
        responses, confidence = (np.concatenate(parts) for parts in zip(*pending))
        while group < len(ends) and ends[group] <= start + len(responses):
            n = int(ends[group] - start)
            if n:
                k = max(1, int(np.ceil(n * fraction)))
                best = np.argsort(-confidence[:n], kind="stable")[:k]
                predicted[group] = int(responses[:n][best].mean(0).argmax())
            responses, confidence, start, group = responses[n:], confidence[n:], int(ends[group]), group + 1
        pending = [(responses, confidence)]
    if start != (ends[-1] if len(ends) else 0):  # videos never reached counted as wrong
        raise UserError(f"the records changed while reading: expected {int(ends[-1])} rows, read {start}")
    labels = videos.group_labels
    valid = labels >= 0
    if not valid.any():
        raise UserError("the validation videos have no frames")
    return float(np.mean(predicted[valid] == labels[valid]))
