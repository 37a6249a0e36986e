"""Bidirectional domain transfer between web images and video frames (paper §3.2, Algorithm 1).

Loop, from I = all images and V = all frames:
  1. train CNN_v on V;  2. score I;  3. keep I with CNN_v(I)[a_I] > theta1;
  4. train CNN_i on I;  5. score V;  6. keep V with CNN_i(V)[a_V] > theta2.
After each round one-vs-rest linear SVMs trained on V classify the validation videos (their frame
responses averaged over each video's most action-like frames by CNN_i, :func:`video_accuracy`); the loop
stops when that accuracy drops (the previous round is kept), when a round keeps no images or no frames
(the previous round is kept; ``stop_reason`` in ``rounds.json`` says which), or after ``max_rounds``.
The result is CNN_i, the LAF proposal model, and LAF(V) = CNN_i(V)[a_V] for every training frame.

"Fine-tuning the top layers" of a CNN whose lower layers are frozen is training a small head on
the shared features, so CNN_v / CNN_i are Dense heads over feature vectors.

Scale: frames can number millions, so nothing here holds all the features: scoring holds a chunk (a
video, or 1024 images) at a time, training its shuffle buffers (:func:`training_dataset`). A
``FeatureStream`` re-reads its rows (TFRecords or arrays, one code path through tf.data) in a fixed
order; keep-sets are boolean masks over row positions and scores are float arrays: O(rows) small scalars.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from laf import tfrecords
from laf.errors import UserError, first_line
from laf.evaluate.evaluation import TOP_FRACTION
from laf.transfer.moments import moments_from_sums, usable_std
from laf.transfer.thresholds import check_something_kept
from schemas import names

log = logging.getLogger(__name__)

ROUNDS_FILE = "rounds.json"
FLOOR_FILE = "floor_cases.json"
IMAGE_FILTER_FILE = "image_filter.json"
_CHUNK_IMAGES = 1024    # images parsed together (vectorized parsing); a video is its own chunk
_STEPS_PER_CALL = 64    # training steps per graph call: Python per-step overhead dominates small heads
MIN_CHUNKS_MIXED = 16   # videos (chunks) a training batch draws from at least, whatever their length


@dataclasses.dataclass(frozen=True)
class TransferConfig:
    """Parameters of Algorithm 1; the heads are trained from a fresh seeded init every round."""

    theta1: float = 0.1               # keep image I if CNN_v(I)[a_I] > theta1 (the pipeline config's default)
    theta2: float = 0.1               # keep frame V if CNN_i(V)[a_V] > theta2
    max_rounds: int = 3
    hidden_units: Tuple[int, ...] = (256,)
    epochs: int = 5
    batch_size: int = 256
    learning_rate: float = 1e-3
    min_images_per_class: int = 5     # class floor for images (the paper is silent; see apply_floor)
    min_frames_per_class: int = 20    # the same floor for frames
    svm_epochs: int = 3
    svm_l2: float = 1e-4
    shuffle_buffer: int = 16384       # rows per shuffle buffer, at least MIN_CHUNKS_MIXED chunks' worth
    seed: int = 0

    def validate(self) -> None:
        for name in ("theta1", "theta2"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise UserError(f"{name} must be in [0, 1] (a softmax threshold), got {value}")
        for name in ("max_rounds", "epochs", "batch_size", "svm_epochs", "shuffle_buffer"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.min_images_per_class < 0 or self.min_frames_per_class < 0:
            raise UserError("class floors must be >= 0")
        check_something_kept(self.theta1, self.theta2, self.min_images_per_class, self.min_frames_per_class)
        if not self.hidden_units or any(int(u) < 1 for u in self.hidden_units):
            raise UserError(f"hidden_units must be one or more positive layer sizes, got {list(self.hidden_units)}")
        if not self.learning_rate > 0:  # 0: the heads stay at their random init, and every score is noise
            raise UserError(f"learning_rate must be > 0, got {self.learning_rate}")
        if not self.svm_l2 >= 0:
            raise UserError(f"svm_l2 must be >= 0, got {self.svm_l2}")


class FeatureStream:
    """An ordered, re-readable stream of labelled feature rows, delivered in chunks.

    Rows are addressed by position, so filtering and scoring never copy features. Rows are grouped
    into contiguous groups (a video's frames; one row per group for images) so per-video averages
    need only O(groups) memory.
    """

    def __init__(self, chunks: Callable[[], tf.data.Dataset], labels: np.ndarray,
                 lengths: np.ndarray, dim: int, chunk_rows: int):
        self._chunks = chunks
        self.chunk_rows = max(1, int(chunk_rows))         # typical rows per chunk, to size buffers
        self.labels = np.asarray(labels, np.int32)       # [rows]
        self.lengths = np.asarray(lengths, np.int64)     # [groups], rows per group
        self.dim = int(dim)
        if int(self.lengths.sum()) != len(self.labels):
            raise ValueError("group lengths do not add up to the number of rows")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def group_labels(self) -> np.ndarray:
        """Label of each group (a video's label), -1 for empty groups."""
        starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)
        out = np.full(len(self.lengths), -1, np.int32)
        nonempty = self.lengths > 0
        out[nonempty] = self.labels[starts[nonempty]]
        return out

    def moments(self) -> Tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation [D] of every row (one streaming pass)."""
        n, total, squares, shift = 0, np.zeros(self.dim), np.zeros(self.dim), None
        with np.errstate(invalid="ignore", over="ignore"):  # non-finite features: refused by the caller
            for x, _ in self._chunks():
                if not len(x):
                    continue
                x = x.numpy().astype(np.float64)
                shift = x[0].copy() if shift is None else shift  # about one row: moments_from_sums
                x = x - shift
                n, total, squares = n + len(x), total + x.sum(0), squares + (x * x).sum(0)
            return moments_from_sums(n, total, squares, np.zeros(self.dim) if shift is None else shift)

    def indexed(self) -> tf.data.Dataset:
        """Chunks ``(x [b, D], y [b], row [b])`` in stream order."""
        def number(start, chunk):
            x, y = chunk
            n = tf.cast(tf.shape(y)[0], tf.int64)
            return start + n, (x, y, tf.range(start, start + n))

        return self._chunks().scan(tf.constant(0, tf.int64), number)

    @classmethod
    def from_arrays(cls, features: np.ndarray, labels: np.ndarray,
                    groups: Optional[np.ndarray] = None, chunk_size: int = 4096) -> "FeatureStream":
        """In-memory rows (tests, small data); ``groups`` (e.g. video ordinal) must be contiguous."""
        features = np.asarray(features, np.float32)
        labels = np.asarray(labels, np.int32)
        if features.ndim != 2 or len(features) != len(labels):
            raise ValueError("features must be [rows, D] with one label per row")
        if groups is None:
            lengths = np.ones(len(labels), np.int64)
        else:
            groups = np.asarray(groups)
            if len(groups) and np.any(np.diff(groups) < 0):
                raise ValueError("groups must be sorted (each group's rows contiguous)")
            _, lengths = np.unique(groups, return_counts=True)
        return cls(lambda: tf.data.Dataset.from_tensor_slices((features, labels)).batch(chunk_size),
                   labels, lengths, features.shape[1], chunk_size)

    @classmethod
    def from_video_files(cls, pattern_or_dir: str, num_classes: int) -> "FeatureStream":
        """Frames of the contract's video SequenceExamples, one group per video; the feature size is
        the records' own, so streams of another size meet :func:`run`'s check, not a parse error."""
        paths = _paths(pattern_or_dir)
        dim = _first_dim(paths, video=True)  # 0 for a split without frames (an empty test split)
        labels, lengths = [], []
        for label, num in _video_index(paths):
            _check_label(label, num_classes, pattern_or_dir)
            labels.append(np.full(num, label, np.int32))
            lengths.append(num)
        spec = {names.FRAME_FEATURES: tf.io.FixedLenSequenceFeature([dim], tf.float32)}
        context = {names.LABEL_INDEX: tf.io.FixedLenFeature([], tf.int64)}
        lengths = np.asarray(lengths, np.int64)

        def parse(serialized, counted):  # one video at a time: batching would pad every video to the longest
            ctx, seq = tf.io.parse_single_sequence_example(serialized, context, spec)
            x = seq[names.FRAME_FEATURES]
            tf.debugging.assert_equal(  # the index counted timestamps: rows must match them
                tf.cast(tf.shape(x)[0], tf.int64), counted,
                message=f"a video's {names.FRAME_FEATURES} and {names.TIMESTAMP} lists differ in length")
            return x, tf.fill([tf.shape(x)[0]], tf.cast(ctx[names.LABEL_INDEX], tf.int32))

        def chunks():
            records = tf.data.TFRecordDataset(paths, compression_type="GZIP")
            return (tf.data.Dataset.zip((records, tf.data.Dataset.from_tensor_slices(lengths)))
                    .map(parse, num_parallel_calls=tf.data.AUTOTUNE))

        return cls(chunks, _concat(labels, np.int32), lengths, dim, lengths.mean() if len(lengths) else 1)

    @classmethod
    def from_image_files(cls, pattern_or_dir: str, num_classes: int) -> "FeatureStream":
        """The contract's image Examples, one row (and group) per image (feature size: the records')."""
        paths = _paths(pattern_or_dir)
        dim = _first_dim(paths, video=False)
        spec = {names.LABEL_INDEX: tf.io.FixedLenFeature([], tf.int64)}
        labels = _concat([b[names.LABEL_INDEX].numpy() for b in
                          tf.data.TFRecordDataset(paths, compression_type="GZIP")
                          .batch(_CHUNK_IMAGES).map(lambda s: tf.io.parse_example(s, spec))], np.int32)
        for label in np.unique(labels):
            _check_label(int(label), num_classes, pattern_or_dir)
        spec = {names.IMAGE_FEATURES: tf.io.FixedLenFeature([dim], tf.float32), **spec}

        def parse(serialized):
            ex = tf.io.parse_example(serialized, spec)
            return ex[names.IMAGE_FEATURES], tf.cast(ex[names.LABEL_INDEX], tf.int32)

        def chunks():
            return (tf.data.TFRecordDataset(paths, compression_type="GZIP")
                    .batch(_CHUNK_IMAGES).map(parse, num_parallel_calls=tf.data.AUTOTUNE))

        return cls(chunks, labels, np.ones(len(labels), np.int64), dim, _CHUNK_IMAGES)


def _paths(pattern_or_dir: str) -> List[str]:
    paths = tfrecords.files(pattern_or_dir)
    if not paths:
        raise UserError(f"no TFRecord files in {pattern_or_dir}")
    return paths


def _concat(parts: List[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)


def _check_label(label: int, num_classes: int, where: str) -> None:
    if not 0 <= label < num_classes:
        raise UserError(f"{where}: label_index {label} is outside the vocabulary of {num_classes} labels")


def _first_dim(paths: List[str], video: bool) -> int:
    from tensorflow.core.example import example_pb2

    for raw in tf.data.TFRecordDataset(paths, compression_type="GZIP"):
        if video:
            seq = example_pb2.SequenceExample.FromString(raw.numpy())
            rows = seq.feature_lists.feature_list[names.FRAME_FEATURES].feature
            if rows:
                return len(rows[0].float_list.value)
        else:
            ex = example_pb2.Example.FromString(raw.numpy())
            return len(ex.features.feature[names.IMAGE_FEATURES].float_list.value)
    return 0  # no rows: an empty stream, which run() refuses where it needs rows


def _video_index(paths: List[str]):
    """(label_index, num_frames) per video, reading only the context (cheap first pass)."""
    context = {names.LABEL_INDEX: tf.io.FixedLenFeature([], tf.int64)}
    spec = {names.TIMESTAMP: tf.io.FixedLenSequenceFeature([], tf.float32)}

    def parse(serialized):
        ctx, seq = tf.io.parse_single_sequence_example(serialized, context, spec)
        return ctx[names.LABEL_INDEX], tf.shape(seq[names.TIMESTAMP], out_type=tf.int64)[0]

    # one record parsed at a time, only the small outputs batched: a batch of whole records held 1024
    # videos' features at once
    ds = tf.data.TFRecordDataset(paths, compression_type="GZIP").map(parse).batch(1024)
    for labels, lens in ds:
        yield from zip(labels.numpy().tolist(), lens.numpy().tolist())


# --- heads, SVMs and streaming passes ----------------------------------------------------------

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
        responses, confidence = (np.concatenate(parts) for parts in zip(*pending))
        while group < len(ends) and ends[group] <= start + len(responses):
            n = int(ends[group] - start)
            if n:
                k = max(1, int(np.ceil(n * fraction)))
                best = np.argsort(-confidence[:n], kind="stable")[:k]
                predicted[group] = int(responses[:n][best].mean(0).argmax())
            responses, confidence, start, group = responses[n:], confidence[n:], int(ends[group]), group + 1
        pending = [(responses, confidence)]
    labels = videos.group_labels
    valid = labels >= 0
    if not valid.any():
        raise UserError("the validation videos have no frames")
    return float(np.mean(predicted[valid] == labels[valid]))


# --- the class floor and the loop ----------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class FloorCase:
    """A class the thresholds would have pushed below the floor, and what was kept instead. Every
    round's repairs are listed, the last round's too when the stopping rule then discarded it."""

    round: int
    kind: str               # "images" or "frames"
    label: str
    passed_threshold: int   # rows of the class above theta
    kept: int               # rows kept after applying the floor


def apply_floor(candidates: np.ndarray, passed: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                minimum: int, num_classes: int) -> Tuple[np.ndarray, Dict[int, Tuple[int, int]]]:
    """Top up every class below ``minimum`` with its best-scoring candidates.

    Filtering can empty a class, after which no model could learn it again; keeping the class's
    top-scoring rows is the least arbitrary repair. Returns the new mask and, per repaired class,
    (rows that passed, rows kept).
    """
    mask = passed.copy()
    cases: Dict[int, Tuple[int, int]] = {}
    if minimum <= 0:
        return mask, cases
    counts = np.bincount(labels[passed], minlength=num_classes)
    for c in np.flatnonzero(counts < minimum):
        pool = np.flatnonzero(candidates & (labels == c))
        if len(pool) <= counts[c]:
            continue  # nothing more to give (the class never had more)
        order = np.lexsort((pool, -scores[pool]))  # best first; ties by position (deterministic)
        mask[pool[order[:minimum]]] = True
        cases[int(c)] = (int(counts[c]), int(mask[pool].sum()))
    return mask, cases


def emptied_classes(candidates: np.ndarray, kept: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Classes that had candidate rows and kept none: only a class floor of 0 lets a round do that."""
    had = np.bincount(labels[candidates], minlength=num_classes) > 0
    return np.flatnonzero(had & (np.bincount(labels[kept], minlength=num_classes) == 0))


def _filter(r: int, kind: str, mask: np.ndarray, scores: np.ndarray, theta: float, labels: np.ndarray,
            minimum: int, label_names: Sequence[str]) -> Tuple[np.ndarray, List[FloorCase]]:
    """One filtering step of round ``r`` (Algorithm 1, steps 3 and 6): the rows of ``mask`` scoring
    above ``theta``, every class topped up to ``minimum``; the floor cases reported. Only a floor of
    0 lets a class lose every row, which is said in the log (``rounds.json`` shows an emptied image class
    as a 0 in ``images_kept_per_class``; frames it counts in total only)."""
    kept, cases = apply_floor(mask, mask & (scores > theta), scores, labels, minimum, len(label_names))
    if minimum <= 0:
        _warn_emptied(r, kind, emptied_classes(mask, kept, labels, len(label_names)), label_names)
    return kept, _report(r, kind, cases, label_names)


def _warn_emptied(r: int, kind: str, classes: np.ndarray, label_names: Sequence[str]) -> None:
    if len(classes):
        log.warning("domain transfer round %d kept no %s of %s: the thresholds removed them all and the class floor"
                    " is 0, so no model learns these actions from %s (raise domain_transfer.min_%s_per_class)",
                    r, kind, ", ".join(repr(label_names[c]) for c in classes), kind, kind)


@dataclasses.dataclass
class RoundLog:
    round: int
    images_kept: int
    images_kept_per_class: Dict[str, int]
    frames_kept: int
    val_accuracy: float


@dataclasses.dataclass
class TransferResult:
    model: object                 # CNN_i of the chosen round (Keras model over feature vectors)
    laf: np.ndarray               # [frames] LAF(V) = CNN_i(V)[a_V] for every training frame
    image_mask: np.ndarray        # kept images I of the chosen round
    frame_mask: np.ndarray        # kept frames V of the chosen round
    rounds: List[RoundLog]
    chosen_round: int
    floor_cases: List[FloorCase]
    config: TransferConfig
    stop_reason: str              # why the loop ended, for the person reading rounds.json

    def rounds_json(self) -> dict:
        return {"rounds": [dataclasses.asdict(r) for r in self.rounds], "chosen_round": self.chosen_round,
                "stop_reason": self.stop_reason, "theta1": self.config.theta1, "theta2": self.config.theta2}


def chosen_round(accuracies: Sequence[float]) -> Tuple[int, bool]:
    """(round to keep, stop now) after the given per-round validation accuracies (round = index+1)."""
    if len(accuracies) >= 2 and accuracies[-1] < accuracies[-2]:
        return len(accuracies) - 1, True
    return len(accuracies), False


@contextlib.contextmanager
def reading_errors():
    """A record that does not parse or a truncated shard, as a one-line UserError instead of a
    traceback through tf.data (other TF errors, e.g. a failed write, stay what they are)."""
    try:
        yield
    except (tf.errors.InvalidArgumentError, tf.errors.DataLossError) as e:
        raise UserError(f"malformed feature records: {first_line(e.message, type(e).__name__)}") from e


def run(frames: FeatureStream, images: FeatureStream, validation: FeatureStream, num_classes: int,
        cfg: TransferConfig, label_names: Optional[Sequence[str]] = None) -> TransferResult:
    """Algorithm 1 with the paper's stopping criterion; deterministic for ``cfg.seed``."""
    with reading_errors():
        return _run(frames, images, validation, num_classes, cfg, label_names)


def check_trained(frames: FeatureStream, held_out: FeatureStream, split: str, num_classes: int,
                  label_names: Sequence[str]) -> None:
    """Refuse a ``split`` (eval, test) whose videos name an action without training frames (neither
    transfer nor the trainer could learn it, so those videos would all miss) or hold features of
    another size (another backbone). Reads only labels and the first record."""
    untrained = ((np.bincount(frames.labels, minlength=num_classes) == 0)
                 & (np.bincount(held_out.labels, minlength=num_classes) > 0))
    if untrained.any():
        raise UserError("no training videos for " + ", ".join(repr(label_names[c]) for c in np.flatnonzero(untrained))
                        + f": every action with {split} videos needs videos in the train split (were they all"
                        " rejected at ingestion? see the videos' rejected.jsonl)")
    if len(held_out) and held_out.dim != frames.dim:
        raise UserError(f"feature sizes differ: train {frames.dim}, {split} {held_out.dim}")


def _check_inputs(frames: FeatureStream, images: FeatureStream, validation: FeatureStream,
                  num_classes: int, label_names: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
    """Refuse, before any training, what would fail late or train a class on nothing; returns
    the training frames' moments (mean, std)."""
    if len(frames) == 0 or len(images) == 0 or len(validation) == 0:
        raise UserError(f"domain transfer needs training frames, images and validation frames; got "
                        f"{len(frames)}, {len(images)} and {len(validation)} (an empty one: were its videos or"
                        " images all rejected at ingestion? see the rejected.jsonl beside its records)")
    if not (frames.dim == images.dim == validation.dim):
        raise UserError(f"feature sizes differ: frames {frames.dim}, images {images.dim}, "
                        f"validation {validation.dim}")
    check_trained(frames, validation, "eval", num_classes, label_names)
    with_frames = np.bincount(frames.labels, minlength=num_classes) > 0
    starved = with_frames & (np.bincount(images.labels, minlength=num_classes) == 0)
    if starved.any():  # CNN_i could never score their frames: LAF ~ 0, a LAF-weighted class unlearned
        raise UserError("no web images for " + ", ".join(repr(label_names[c]) for c in np.flatnonzero(starved))
                        + ": every action with training videos needs images (were they all rejected at ingestion,"
                        " or kept under another label as the same bytes? see the images' rejected.jsonl and"
                        " duplicates.jsonl; crawl more, or drop the action)")
    moments = check_finite(frames, "training frames", frames.moments())
    check_finite(images, "images")
    check_finite(validation, "validation frames")  # their accuracy decides when the loop stops
    return moments


def check_finite(stream: FeatureStream, what: str,
                 moments: Optional[Tuple[np.ndarray, np.ndarray]] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Refuse a stream holding a NaN or infinite feature (one pass, or its ``moments`` if known; an
    empty stream passes); returns the moments. Why: ingestion rejects such features, records made
    otherwise reach here, and a ReLU head turns a NaN into 0: scores that look measured."""
    if len(stream) == 0:
        return np.zeros(stream.dim), np.ones(stream.dim)
    mean, std = moments if moments is not None else stream.moments()
    if not (np.isfinite(mean).all() and np.isfinite(std).all()):
        raise UserError(f"the {what}' features hold NaN or infinite values")
    return mean, std


def _run(frames: FeatureStream, images: FeatureStream, validation: FeatureStream, num_classes: int,
         cfg: TransferConfig, label_names: Optional[Sequence[str]]) -> TransferResult:
    cfg.validate()
    tf.config.experimental.enable_op_determinism()  # same rows and seed, same LAF scores
    tf.random.set_seed(cfg.seed)  # the shuffles' op seeds combine with it: not whatever the process set before
    label_names = list(label_names) if label_names is not None else [str(i) for i in range(num_classes)]
    moments = _check_inputs(frames, images, validation, num_classes, label_names)  # the SVMs standardise with these
    image_mask = np.ones(len(images), bool)
    frame_mask = np.ones(len(frames), bool)
    rounds: List[RoundLog] = []
    floor_cases: List[FloorCase] = []
    kept = None
    stop_reason = f"max_rounds ({cfg.max_rounds}) reached"
    for r in range(1, cfg.max_rounds + 1):
        seed = cfg.seed * 1000 + r * 10
        cnn_v = fit(build_head(frames.dim, num_classes, cfg.hidden_units, seed, cfg.learning_rate),
                    frames, frame_mask, num_classes, cfg.epochs, cfg, seed)                   # 1
        image_scores = own_label_scores(cnn_v, images)                                        # 2
        image_mask, cases = _filter(r, "images", image_mask, image_scores, cfg.theta1,         # 3
                                    images.labels, cfg.min_images_per_class, label_names)
        floor_cases += cases
        if _nothing_kept(r, "images", image_mask, "theta1", cfg.theta1):
            stop_reason = f"round {r} kept no images (theta1 {cfg.theta1:g})"
            break
        cnn_i = fit(build_head(images.dim, num_classes, cfg.hidden_units, seed + 1, cfg.learning_rate),
                    images, image_mask, num_classes, cfg.epochs, cfg, seed + 1)               # 4
        laf = own_label_scores(cnn_i, frames)                                                 # 5
        frame_mask, cases = _filter(r, "frames", frame_mask, laf, cfg.theta2,                  # 6
                                    frames.labels, cfg.min_frames_per_class, label_names)
        floor_cases += cases
        if _nothing_kept(r, "frames", frame_mask, "theta2", cfg.theta2):
            stop_reason = f"round {r} kept no frames (theta2 {cfg.theta2:g})"
            break
        svm = fit(build_svm(frames.dim, num_classes, cfg.svm_l2, seed + 2, cfg.learning_rate, moments),
                  frames, frame_mask, num_classes, cfg.svm_epochs, cfg, seed + 2, one_hot=True)
        per_class = np.bincount(images.labels[image_mask], minlength=num_classes)
        entry = RoundLog(r, int(image_mask.sum()), {label_names[c]: int(per_class[c]) for c in range(num_classes)},
                         int(frame_mask.sum()), video_accuracy(svm, validation, cnn_i))
        rounds.append(entry)
        log.info("domain transfer round %d: %s", r, entry)
        chosen, stop = chosen_round([e.val_accuracy for e in rounds])
        if stop:
            stop_reason = (f"validation accuracy fell in round {r} ({rounds[-1].val_accuracy:.4f} after"
                           f" {rounds[-2].val_accuracy:.4f})")
            break
        kept = (cnn_i, laf, image_mask.copy(), frame_mask.copy())
    model, laf, image_mask, frame_mask = kept
    floor_cases = [c for c in floor_cases if c.round <= len(rounds)]  # as rounds.json: not a round that kept nothing
    return TransferResult(model, laf, image_mask, frame_mask, rounds, chosen, floor_cases, cfg, stop_reason)


def _nothing_kept(r: int, kind: str, mask: np.ndarray, theta_key: str, theta: float) -> bool:
    """Whether round ``r`` filtered out every one of ``kind`` (only a class floor of 0 allows it): then
    the round before is the result (True), as when validation accuracy drops; in round 1 there is
    none, which is an error naming the settings."""
    if mask.any():
        return False
    if r == 1:
        raise UserError(f"domain transfer round 1 kept no {kind}: each scored at most domain_transfer.{theta_key}="
                        f"{theta} and domain_transfer.min_{kind}_per_class is 0; lower the threshold or raise the"
                        " floor")
    log.warning("domain transfer round %d kept no %s (each scored at most %s=%s, and the class floor is 0): round %d"
                " is the result", r, kind, theta_key, theta, r - 1)
    return True


def _report(r: int, kind: str, cases: Dict[int, Tuple[int, int]], label_names: Sequence[str]) -> List[FloorCase]:
    out = [FloorCase(r, kind, label_names[c], passed, kept) for c, (passed, kept) in sorted(cases.items())]
    for case in out:
        log.warning("class floor: round %d kept %d %s of %r (only %d passed the threshold)",
                    r, case.kept, kind, case.label, case.passed_threshold)
    return out


# --- outputs -------------------------------------------------------------------------------------

def save_laf_model(model, export_dir: str, dim: int) -> str:
    """CNN_i as a SavedModel: ``serving_default(features float32 [B, D]) -> probabilities [B, N]``."""
    module = tf.Module()
    module.model = model
    module.serve = tf.function(lambda features: {"probabilities": model(features, training=False)},
                               input_signature=[tf.TensorSpec([None, dim], tf.float32, name="features")])
    tf.saved_model.save(module, export_dir, signatures={"serving_default": module.serve})
    return export_dir


def write_image_filter(image_mask: np.ndarray, images_pattern_or_dir: str, directory: str) -> str:
    """``image_filter.json``: which web images the chosen round kept (for reports and for
    scoring the filter against known noise). Reads ids in stream order, one record at a time:
    only the small fields are kept, never the features."""
    from schemas.records import ImageRecord

    entries = []
    for raw in tfrecords.read(images_pattern_or_dir):
        if len(entries) == len(image_mask):
            raise UserError(f"image records changed while reading: more than the {len(image_mask)} filtered")
        r = ImageRecord.parse(raw)
        entries.append({"image_id": r.image_id, "label": r.label, "kept": bool(image_mask[len(entries)]),
                        "source": r.source})
    if len(entries) != len(image_mask):
        raise UserError(f"image records changed while reading: {len(entries)} != {len(image_mask)}")
    path = os.path.join(directory, IMAGE_FILTER_FILE)
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps({"images": entries}, indent=1) + "\n")
    return path


def write_rounds(result: TransferResult, directory: str) -> str:
    """``rounds.json``, ``floor_cases.json`` and TensorBoard scalars (one step per round)."""
    tf.io.gfile.makedirs(directory)
    path = os.path.join(directory, ROUNDS_FILE)
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps(result.rounds_json(), indent=2) + "\n")
    with tf.io.gfile.GFile(os.path.join(directory, FLOOR_FILE), "w") as f:
        f.write(json.dumps([dataclasses.asdict(c) for c in result.floor_cases], indent=2) + "\n")
    writer = tf.summary.create_file_writer(directory)
    with writer.as_default():
        for entry in result.rounds:
            tf.summary.scalar("domain_transfer/val_accuracy", entry.val_accuracy, step=entry.round)
            tf.summary.scalar("domain_transfer/images_kept", entry.images_kept, step=entry.round)
            tf.summary.scalar("domain_transfer/frames_kept", entry.frames_kept, step=entry.round)
            for label, n in entry.images_kept_per_class.items():
                tf.summary.scalar(f"images_kept_per_class/{label}", n, step=entry.round)
        tf.summary.scalar("domain_transfer/chosen_round", result.chosen_round, step=result.chosen_round)
    writer.close()
    return path


def write_scored_videos(src_pattern_or_dir: str, dst_path: str, laf: np.ndarray) -> int:
    """Copy video SequenceExamples adding the per-frame ``laf_score`` list; same order as the stream."""
    from tensorflow.core.example import example_pb2

    def scored():
        offset = 0
        for raw in tfrecords.read(src_pattern_or_dir):
            seq = example_pb2.SequenceExample.FromString(raw)
            lists = seq.feature_lists.feature_list
            n = len(lists[names.FRAME_FEATURES].feature)
            if offset + n > len(laf):
                raise UserError(f"{src_pattern_or_dir} holds more frames than were scored ({len(laf)})")
            column = lists[names.LAF_SCORE]
            column.Clear()  # re-scoring replaces an earlier laf_score list
            for s in laf[offset:offset + n]:
                column.feature.add().float_list.value.append(float(s))
            offset += n
            yield seq.SerializeToString(deterministic=True)
        if offset != len(laf):
            raise UserError(f"{src_pattern_or_dir} holds {offset} frames but {len(laf)} were scored")

    return tfrecords.write(dst_path, scored())
