"""Labelled feature rows (video frames or web images) that domain transfer re-reads every round.

Frames can number millions, so nothing holds all the features: a ``FeatureStream`` re-reads its rows
(TFRecords or arrays, one code path through tf.data) in a fixed order, a chunk (a video, or 1024
images) at a time. Keep-sets are boolean masks over row positions and scores are float arrays:
O(rows) small scalars.
"""
from __future__ import annotations

import contextlib
from typing import Callable, List, Optional, Tuple

import numpy as np
import tensorflow as tf

from laf import tfrecords
from laf.errors import UserError, first_line
from laf.transfer.moments import moments_from_sums
from schemas import names

_CHUNK_IMAGES = 1024    # images parsed together (vectorized parsing); a video is its own chunk


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
        the records' own, so streams of another size meet the loop's input check, not a parse error."""
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


@contextlib.contextmanager
def reading_errors():
    """A record that does not parse or a truncated shard, as a one-line UserError instead of a
    traceback through tf.data (other TF errors, e.g. a failed write, stay what they are)."""
    try:
        yield
    except (tf.errors.InvalidArgumentError, tf.errors.DataLossError) as e:
        raise UserError(f"malformed feature records: {first_line(e.message, type(e).__name__)}") from e


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
