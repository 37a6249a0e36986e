"""Video ingestion as Beam transforms: manifest rows -> sampled frames -> shared CNN features
-> one contract ``VideoRecord`` SequenceExample per video, gzipped per split.

The same transforms run standalone (``laf extract videos``) and inside the TFX component, on
any Beam runner (``laf.ingest.runners``): they keep to Create, ParDo, GroupByKey and Flatten,
with the counts taken from the written data (``laf.ingest.sorted_files``).
The backbone is built once per worker process (``DoFn.setup`` + ``shared.Shared``) and run on
batches; a decoding thread feeds it so decoding overlaps inference. Every bad video becomes a
rejected record (JSONL + Beam counter) and ``inputs = accepted + rejected + duplicates``.
"""
from __future__ import annotations

import collections
import dataclasses
import itertools
import logging
import math
import os
import queue
import threading
import time
from typing import Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import apache_beam as beam
import numpy as np

from laf import files, tfrecords
from laf.errors import UserError
from laf.ingest import manifest as mf
from laf.ingest import rejects, runners, sorted_files
from laf.ingest.backbones import BackboneConfig, shared_model
from laf.progress import LOG as PROGRESS
from laf.progress import count
from schemas import MIN_FPS, names
from schemas.records import VideoRecord
from schemas.vocabulary import Vocabulary

NAMESPACE = "laf.video_ingest"
REJECTED = sorted_files.REJECTED
_DESTINATIONS = tuple(f"Split-{split}" for split in names.SPLITS)  # one folder of TFRecords per split
TIMESTAMP_ERROR_MS = "timestamp_error_ms"  # Beam distribution: |frame time - grid time| per sample
NPY_MAGIC, NPZ_MAGIC = np.lib.format.MAGIC_PREFIX, b"PK\x03\x04"  # .npz: a zip archive


@dataclasses.dataclass(frozen=True)
class VideoOptions:
    fps: float = 1.0               # samples per second
    batch_size: int = 32           # frames per backbone call
    keyframe_window: float = 0.5   # take a keyframe closer than this many intervals
    ref_tolerance: float = 0.25    # accept a reference frame this many intervals off the ideal one
    decode_threads: int = 0        # threads decoding blocks of one video in parallel (0: one per core)
    min_frames: int = 1            # fewer samples: rejected as too short
    max_duration: float = 6 * 3600.0  # longer (seconds): rejected as oversized
    max_bytes: int = 16 * 2**30    # bigger files: rejected as oversized before any copy or decode


def _element(result: Union[VideoRecord, rejects.Rejected]) -> sorted_files.Element:
    """A record or a rejection -> what ``sorted_files.write`` writes (records by
    :func:`sorted_files.spread_key` of their video id)."""
    if isinstance(result, rejects.Rejected):
        beam.metrics.Metrics.counter(NAMESPACE, "rejected").inc()
        beam.metrics.Metrics.counter(NAMESPACE, f"rejected_{result.stage}").inc()
        line = result.to_json()
        return REJECTED, line, line
    beam.metrics.Metrics.counter(NAMESPACE, "accepted").inc()
    return f"Split-{result.split}", sorted_files.spread_key(result.video_id), result.serialize()


def _segment_past_end(row: mf.VideoRow, end: float, what: str = "the video's end") -> Optional[str]:
    """Why to reject a row whose every ground-truth segment starts at or after ``end`` (milliseconds
    or frame numbers?), or None. When only some do, an annotation slip (THUMOS14 has a few videos
    like that), the row is kept with its segments as annotated, which no detection can match, as the
    benchmarks' own evaluation keeps them, and a warning says so."""
    outside = [s for s in row.segments if s.start >= end]
    if not outside:
        return None
    first = f"[{outside[0].start:g}, {outside[0].end:g}]"
    if len(outside) == len(row.segments):
        return f"segment {first} starts after {what} ({end:.1f} s); segments are in seconds"
    logging.warning("%s: %d of its %d ground-truth segments start after %s (%.1f s), e.g. %s; kept as annotated,"
                    " so no detection can match them", row.video_id, len(outside), len(row.segments), what, end, first)
    return None


def _record(row: mf.VideoRow, vocabulary: Vocabulary, features: np.ndarray, timestamps: np.ndarray,
            fps: float, duration: float) -> VideoRecord:
    return VideoRecord(
        video_id=row.video_id, label=row.label, label_index=vocabulary.index(row.label),
        features=features, timestamps=timestamps, fps=fps, duration=duration, source=row.uri,
        split=row.split, segments=list(row.segments),
        segment_label_indices=[vocabulary.index(s.label) for s in row.segments],
        activity=vocabulary.activity_of(row.label), ambiguous=list(row.ambiguous))


class ExtractVideoFeatures(beam.DoFn):
    """VideoRow -> its record (``Split-<split>``, video id, serialized SequenceExample), or a
    rejected record. ``total``: the number of rows, for the progress lines (``laf.progress``)."""

    def __init__(self, backbone: BackboneConfig, vocabulary: Vocabulary, options: VideoOptions, total: int = 0):
        self._backbone, self._vocabulary, self._options, self._total = backbone, vocabulary, options, total

    def setup(self):
        self._model = shared_model(self._backbone)
        self._errors = beam.metrics.Metrics.distribution(NAMESPACE, TIMESTAMP_ERROR_MS)
        self._done = 0

    def process(self, row: mf.VideoRow) -> Iterator[sorted_files.Element]:
        if not hasattr(self, "_model"):  # a runner without the DoFn lifecycle: Beam 2.59's DaskRunner
            self.setup()
        yield _element(self.extract(row))

    def extract(self, row: mf.VideoRow) -> Union[VideoRecord, rejects.Rejected]:
        """One video's record, or why it is rejected (also used outside Beam, by ``laf localize``)."""
        from laf.ingest.media import MediaError, Video

        beam.metrics.Metrics.counter(NAMESPACE, "inputs").inc()
        self._done += 1
        start, opts = time.perf_counter(), self._options
        try:
            size = mf.file_size(row.uri)
            if size > opts.max_bytes:
                return self._reject(row, "validate", f"oversized: {size} bytes is over max_bytes={opts.max_bytes}")
            with mf.local_path(row.uri) as path:
                video = Video(path, fps=opts.fps, size=self._backbone.size,
                              keyframe_window=opts.keyframe_window, ref_tolerance=opts.ref_tolerance,
                              decode_threads=opts.decode_threads, max_duration=opts.max_duration)
                if len(video.targets) < opts.min_frames:
                    return self._reject(row, "validate", f"too short: {len(video.targets)} samples at"
                                                         f" {opts.fps} fps < min_frames={opts.min_frames}")
                outside = _segment_past_end(row, video.duration)
                if outside:
                    return self._reject(row, "validate", outside)
                features, timestamps, targets = self._features(video)
        except MediaError as e:
            return self._reject(row, e.stage, e.reason)
        except Exception as e:  # noqa: BLE001 -- one bad video must never stop the run
            if rejects.machine_fault(e):
                raise
            if isinstance(e, OSError):
                return self._reject(row, "read", str(e))
            return self._reject(row, "features", f"{type(e).__name__}: {e}")
        finite = np.isfinite(features).all(axis=1)
        if not finite.all():  # a backbone's NaN (e.g. a weights file of float16 overflow): this video, not the run
            return self._reject(row, "features", f"the backbone gave NaN or infinite features on {int((~finite).sum())}"
                                                 f" of {len(finite)} frames (first at t={timestamps[~finite][0]:.2f} s)")
        errors = np.abs(timestamps - targets)
        for err in errors:
            self._errors.update(int(round(err * 1000)))
        if video.damaged:
            beam.metrics.Metrics.counter(NAMESPACE, "videos_with_damaged_packets").inc()
            logging.warning("%s: %d damaged packets skipped (from t=%.1f s); the samples near them took their group's"
                            " nearest decodable frame (largest sample-time error %.2f s)", row.video_id,
                            len(video.damaged), min(video.damaged), float(errors.max()))
        PROGRESS.info("%s %s: %d frames of %.0f s in %.1f s", count(self._done, self._total), row.video_id,
                      len(timestamps), video.duration, time.perf_counter() - start)
        return _record(row, self._vocabulary, features, timestamps.astype(np.float32), opts.fps, video.duration)

    def _reject(self, row: mf.VideoRow, stage: str, reason: str) -> rejects.Rejected:
        PROGRESS.info("%s %s: rejected (%s: %s)", count(self._done, self._total), row.uri, stage, reason)
        return rejects.Rejected(row.uri, stage, reason, row.label)

    def _features(self, video) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Batched backbone features of every sample; a thread decodes the next batch meanwhile."""
        from laf.ingest.media import feed

        batch_size = self._options.batch_size
        frames: "queue.Queue" = queue.Queue(maxsize=2 * batch_size)
        done, stop = object(), threading.Event()

        def decode() -> None:
            try:
                for sample in video.samples():
                    if not feed(frames, sample, stop):
                        return
                feed(frames, done, stop)
            except BaseException as e:  # handed to the consumer, which re-raises it
                feed(frames, e, stop)

        threading.Thread(target=decode, daemon=True, name=f"decode-{os.path.basename(video.path)}").start()
        try:
            return self._consume(frames, done, batch_size)
        finally:
            stop.set()

    def _consume(self, frames: "queue.Queue", done: object, batch_size: int):
        features: List[np.ndarray] = []
        stamps: List[float] = []
        targets: List[float] = []
        batch: List[np.ndarray] = []
        while True:
            item = frames.get()
            if isinstance(item, BaseException):
                raise item
            if item is not done:
                batch.append(item.image)
                stamps.append(item.timestamp)
                targets.append(item.target)
            if batch and (len(batch) == batch_size or item is done):
                features.append(self._run(batch, batch_size))
                batch = []
            if item is done:
                break
        return np.concatenate(features), np.asarray(stamps), np.asarray(targets)

    def _run(self, batch: List[np.ndarray], batch_size: int) -> np.ndarray:
        """Backbone features of a batch padded to a power of two (at most ``batch_size``), so
        the compiled function sees a handful of shapes instead of retracing per video length."""
        n = len(batch)
        padded = min(batch_size, 1 << (n - 1).bit_length())
        images = np.stack(batch + [np.zeros_like(batch[0])] * (padded - n))
        return self._model.run(images)[:n]


class ImportFeatures(beam.DoFn):
    """VideoRow whose ``video`` is a ``.npy`` [T, D] array -> its record, or a rejected record."""

    def __init__(self, vocabulary: Vocabulary, feature_rate: float, feature_dim: Optional[int]):
        self._vocabulary, self._rate, self._dim = vocabulary, feature_rate, feature_dim

    def process(self, row: mf.VideoRow) -> Iterator[sorted_files.Element]:
        beam.metrics.Metrics.counter(NAMESPACE, "inputs").inc()
        yield _element(self._import(row))

    def _import(self, row: mf.VideoRow) -> Union[VideoRecord, rejects.Rejected]:
        try:
            header = _header(row.uri)  # before copying or loading: a frames dump [T, H, W, 3] of many GB failed
            problem = header and _feature_problem(*header, self._dim)  # the run (MemoryError)
            if problem:
                return rejects.Rejected(row.uri, "validate", problem, row.label)
            with mf.local_path(row.uri) as path, open(path, "rb") as f:
                array = np.load(f, allow_pickle=False)
                if not isinstance(array, np.ndarray):  # an .npz archive loads lazily, as a mapping
                    array.close()
                    raise ValueError("an .npz archive, not one array")
        except Exception as e:  # noqa: BLE001 -- unreadable file: rejected, run continues
            if rejects.machine_fault(e):
                raise
            return rejects.Rejected(row.uri, "read", f"not a readable .npy array: {type(e).__name__}: {e}",
                                    row.label)
        t = array.shape[0]  # a [T, D] array: its header was checked (what has none, np.load refused)
        # one step of slack: extractors that keep whole snippets drop the video's last partial one
        problem = _segment_past_end(row, (t + 1) / self._rate, "the features' end, plus one step")
        if problem:
            return rejects.Rejected(row.uri, "validate", problem, row.label)
        with np.errstate(over="ignore"):
            features = array.astype(np.float32)
        if not np.isfinite(features).all():  # float64 beyond float32's range is inf in the records
            return rejects.Rejected(row.uri, "validate", "array holds NaN or infinite values (or values beyond"
                                                         " float32's range)", row.label)
        return _record(row, self._vocabulary, features, (np.arange(t) / self._rate).astype(np.float32),
                       self._rate, t / self._rate)


def _check_magic(head: bytes) -> None:
    """Why: without the format's magic bytes NumPy falls back to unpickling, so a text or any other
    file would be reported as "pickled data" (refused) instead of as what it is: not an array."""
    if head != NPY_MAGIC and not head.startswith(NPZ_MAGIC):
        raise ValueError(f"the file does not start with the .npy format's magic bytes (it starts {head!r})")


def _header(uri: str) -> Optional[Tuple[Tuple[int, ...], np.dtype]]:
    """The (shape, dtype) the .npy file at ``uri`` (local or ``gs://``) declares, read from its header
    alone; None for an .npz archive (refused after ``np.load``) or what ``np.load`` will name itself."""
    if files.is_remote(uri):
        import tensorflow as tf

        with tf.io.gfile.GFile(uri, "rb") as f:
            return _read_header(f, tf.io.gfile.stat(uri).length)
    with open(files.local(uri), "rb") as f:
        return _read_header(f, os.fstat(f.fileno()).st_size)


def _read_header(f, size: int) -> Optional[Tuple[Tuple[int, ...], np.dtype]]:
    """:func:`_header` of an open file of ``size`` bytes, refused if the file cannot hold the data it
    declares. Why: NumPy allocates what an .npy header declares before reading, so a corrupt header
    (shape (2**40, 8)) raised MemoryError, which is the machine's fault and failed the whole run."""
    head = f.read(len(NPY_MAGIC))
    _check_magic(head)
    if head != NPY_MAGIC:
        return None  # an .npz archive
    read_2_0 = np.lib.format.read_array_header_2_0  # version 3.0 differs only in the header's text encoding
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): read_2_0, (3, 0): read_2_0}
    version = tuple(f.read(2))  # after the magic bytes
    if version not in readers:
        return None  # np.load names the version it cannot read
    shape, _, dtype = readers[version](f)
    if dtype.hasobject:
        return None  # pickled objects: np.load refuses them as such
    need = math.prod(shape) * dtype.itemsize
    have = size - f.tell()
    if need > have:
        raise ValueError(f"its header declares shape {list(shape)} of {dtype} ({need} bytes), but the file holds"
                         f" {have} bytes of data (truncated or corrupt)")
    return shape, dtype


def _feature_problem(shape: Sequence[int], dtype: np.dtype, dim: Optional[int]) -> Optional[str]:
    """Why an array of this shape and dtype (an .npy header's, before loading) is no [T, D] features."""
    if len(shape) != 2 or min(shape) < 0:  # negative: a corrupt header
        return f"expected a [T, D] array, got shape {list(shape)}"
    if shape[0] == 0:
        return "zero-frame feature array"
    if shape[1] == 0:
        return "zero-width feature array ([T, 0])"
    if not np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.complexfloating):
        return f"non-real dtype {dtype}"
    if dim is not None and shape[1] != dim:
        return f"feature dimension {shape[1]}, not the run's {dim}"
    return None


# --- pipeline ---------------------------------------------------------------------------

def run(pipeline: beam.Pipeline, manifest: mf.Manifest, output: str, dofn: beam.DoFn) -> Dict[str, int]:
    """Run ``dofn`` over the manifest rows into ``output``: ``Split-<name>/`` gzipped TFRecords
    in a fixed order unrelated to the labels (:func:`sorted_files.spread_key`), rejected.jsonl; returns (and writes) the summary, counted from what was
    written (a lost video fails the run)."""
    elements = (pipeline
                | "Rows" >> beam.Create(manifest.rows)
                | "Spread" >> beam.Reshuffle()
                | "Ingest" >> beam.ParDo(dofn))
    repeated = pipeline | "Repeated" >> beam.Create([_repeated(row) for row in manifest.duplicates])
    sorted_files.write((elements, repeated) | "All" >> beam.Flatten(), output)
    pipeline.run().wait_until_finish()
    counts = sorted_files.complete(output, _DESTINATIONS)
    summary = rejects.summary(manifest.inputs, sum(counts[d] for d in _DESTINATIONS), counts[REJECTED],
                              counts[sorted_files.DUPLICATE])
    rejects.write_summary(output, summary)
    return summary


def _repeated(row: mf.VideoRow) -> sorted_files.Element:
    """A repeated manifest row, as a line of ``duplicates.jsonl`` (the row it repeats is ingested)."""
    return sorted_files.duplicate(f"{row.video_id}\t{row.where}", row.uri, row.label, row.uri, row.label,
                                  where=row.where)


def vocabulary_for(manifest: mf.Manifest, labels: Optional[str] = None,
                   taxonomy: Optional[str] = None) -> Vocabulary:
    """The manifest's vocabulary, or an existing ``labels.json`` (e.g. the images') it must fit,
    whose activities are already set (so a taxonomy beside it is refused, not ignored)."""
    if labels is not None and taxonomy:
        raise UserError("--taxonomy goes with a new vocabulary, not with --labels (whose activities are set)")
    if labels is not None:
        vocabulary = mf.load_vocabulary(labels)
        missing = [label for label in manifest.labels if label not in vocabulary.labels]
        if missing:
            raise UserError(f"labels {missing} of the manifest are not in the vocabulary {labels}")
        return vocabulary
    return mf.build_vocabulary(manifest, taxonomy)


def _manifest(manifest: Union[str, mf.Manifest], ratios: Mapping[str, float]) -> mf.Manifest:
    return manifest if isinstance(manifest, mf.Manifest) else mf.read_manifest(manifest, ratios)


def prepare_output(output: str, vocabulary: Vocabulary, vocabulary_dir: Optional[str] = None) -> None:
    import tensorflow as tf

    sorted_files.prepare(output, _DESTINATIONS)
    tf.io.gfile.makedirs(vocabulary_dir or output)
    vocabulary.save(vocabulary_dir or output)


def extract_videos(manifest: Union[str, mf.Manifest], output: str, backbone: BackboneConfig = BackboneConfig(),
                   fps: float = 1.0, beam_args: Optional[Iterable[str]] = None, *,
                   ratios: Mapping[str, float] = mf.DEFAULT_RATIOS, labels: Optional[str] = None,
                   taxonomy: Optional[str] = None, options: Optional[VideoOptions] = None,
                   pipeline: Optional[beam.Pipeline] = None, vocabulary_dir: Optional[str] = None) -> Dict[str, int]:
    """Videos of a manifest -> ``output/Split-*/`` SequenceExamples, labels.json, rejected.jsonl,
    summary.json; returns the summary. The manifest is validated before any work starts."""
    rows = _manifest(manifest, ratios)
    vocabulary = vocabulary_for(rows, labels, taxonomy)
    options = dataclasses.replace(options or VideoOptions(), fps=fps)
    if not fps >= MIN_FPS or options.batch_size < 1:
        raise UserError(f"fps must be >= {MIN_FPS:g} and batch_size >= 1 (got {fps}, {options.batch_size})")
    pipeline = pipeline or runners.make_pipeline(beam_args)  # a bad runner flag fails before the output is touched
    prepare_output(output, vocabulary, vocabulary_dir)
    dofn = ExtractVideoFeatures(backbone, vocabulary, options, total=len(rows.rows))
    return run(pipeline, rows, output, dofn)


def import_features(manifest: Union[str, mf.Manifest], output: str, feature_rate: float,
                    beam_args: Optional[Iterable[str]] = None, *, ratios: Mapping[str, float] = mf.DEFAULT_RATIOS,
                    labels: Optional[str] = None, taxonomy: Optional[str] = None,
                    feature_dim: Optional[int] = None, pipeline: Optional[beam.Pipeline] = None,
                    vocabulary_dir: Optional[str] = None) -> Dict[str, int]:
    """Pre-extracted ``.npy`` [T, D] features (the manifest's ``video`` column) at ``feature_rate``
    features/second -> the same SequenceExamples. ``feature_dim`` defaults to the D most of the files'
    headers declare (ties: the first file's); arrays of another D are rejected."""
    if not feature_rate >= MIN_FPS:  # the records' fps: the schema's floor
        raise UserError(f"feature_rate must be >= {MIN_FPS:g} features/second, got {feature_rate}")
    rows = _manifest(manifest, ratios)
    vocabulary = vocabulary_for(rows, labels, taxonomy)
    if feature_dim is None:
        feature_dim = _common_dim(rows.rows)
    pipeline = pipeline or runners.make_pipeline(beam_args)  # a bad runner flag fails before the output is touched
    prepare_output(output, vocabulary, vocabulary_dir)
    return run(pipeline, rows, output, ImportFeatures(vocabulary, feature_rate, feature_dim))


DIM_SAMPLE = 64  # usable headers that decide the default D (each is a read, serial, maybe remote)


def _common_dim(rows: Sequence[mf.VideoRow]) -> Optional[int]:
    """The D most of the first :data:`DIM_SAMPLE` usable [T, D] ``.npy`` headers of the rows declare
    (ties: the first's); None if none is usable. Why not the first file's: one failed extraction saved
    as ``np.zeros((0, 0))``, or one stray file of another D, first in the manifest had every good file
    rejected for its D."""
    usable = (d for d in map(_npy_dim, (r.uri for r in rows)) if d is not None)
    dims = list(itertools.islice(usable, DIM_SAMPLE))
    return collections.Counter(dims).most_common(1)[0][0] if dims else None  # ties: the first seen


def _npy_dim(uri: str) -> Optional[int]:
    """D of a usable [T, D] ``.npy`` file from its header alone; None if unreadable or not one."""
    try:
        header = _header(uri)
    except Exception:  # noqa: BLE001 -- that file is rejected later with its own reason
        return None
    return None if header is None or _feature_problem(*header, None) else int(header[0][1])


def read_records(output: str, split: str) -> List[VideoRecord]:
    """Every record of one split of an ingestion output (small data, tests and tools)."""
    return [VideoRecord.parse(r) for r in tfrecords.read(tfrecords.split_dir(output, split))]


