"""tf.data for training: frame labels, per-frame penalty weights, and truncated-BPTT streams.

Every frame is labelled with its video's label (weak supervision); the weight of its loss is
chosen by the weighting variant:
- ``laf``: the frame's LAF score (paper: "LSTM w/ LAF");
- ``uniform``: 1 everywhere ("LSTM w/o LAF" as a plain baseline);
- ``random30``: 1 on a seeded random 30 % of the steps, else 0 (§4.5 baseline);
- ``oracle``: 1 inside the video's ground-truth segments of its own label, else 0 (§4.5
  "Ground truth"); frames of videos without segments weigh 0.

Each frame also gets an actionness target (the soft "this is an action frame" label of the
actionness head, see ``trainer.model``): the weight itself for ``uniform``, ``random30`` and
``oracle``; for ``laf`` the LAF score relative to its own video (:func:`laf_actionness`), and,
when the trainer gives the frame's sibling novelty (``trainer.novelty``: the product's method), the
geometric mean of the two: a soft AND, so a frame is an action where the web images name the
action *and* the sibling videos lack it; a video whose LAF scores barely rise above their median
(:func:`laf_span`) has its LAF cue replaced by novelty in that proportion. When the network has
that head, the class weights become :func:`seen_recently` of the targets.

Truncated BPTT: each video is cut into consecutive k-step chunks (the last one padded and
masked); B streams run side by side, each working through its own share of the videos one after
the other (a video goes to the stream that runs out first), and a batch holds the next chunk of
every stream. ``reset`` marks a stream's first chunk of a new video (its carried state must be
zeroed); streams that run out early are padded with fully masked chunks until the longest one ends.
With ``carry`` > 0 a seeded share of the videos instead start from the state the previous video of
their stream left: a live stream never resets its state (``laf localize --stream``), so the model
must learn that a new scene ends the action it saw before, and taught "this activity, no sibling"
before the new video's action.
"""
from __future__ import annotations

from typing import Dict, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf

from laf import tfrecords
from laf.errors import UserError
from laf.transfer.moments import moments_from_sums
from trainer.choices import WEIGHTINGS
from schemas import names
from schemas.parsing import parse_video
from schemas.records import VideoRecord

RANDOM_FRACTION = 0.3
SHUFFLE_VIDEOS = 10_000  # serialized records the training shuffle buffer holds
SHUFFLE_BYTES = 4 << 30  # and their features' bytes, at most (see stream_batches)
PARSE_CALLS = 4  # videos parsed at once by a reader of whole videos (each held: 6 h x 2048-D is 177 MB)

Files = Union[str, Sequence[str]]


def _paths(files: Files) -> List[str]:
    patterns = [files] if isinstance(files, str) else list(files)
    paths = sorted(p for pattern in patterns for p in tfrecords.files(pattern))
    if not paths:
        raise FileNotFoundError(f"no TFRecord files match {patterns}")
    return paths


def records(files: Files) -> tf.data.Dataset:
    """Serialized records of gzipped TFRecord files, patterns or ``Split-*`` directories."""
    return tf.data.TFRecordDataset(_paths(files), compression_type="GZIP")


def feature_dim(files: Files, weighting: str = "uniform") -> int:
    """D, from the first record with frames (all records share it); checks before a long run
    that it carries what ``weighting`` needs."""
    spec = {names.NUM_FRAMES: tf.io.FixedLenFeature([], tf.int64)}
    try:
        first = [VideoRecord.parse(s) for s in records(files).take(1).as_numpy_iterator()]
        with_frames = [VideoRecord.parse(s) for s in records(files).filter(
            lambda s: tf.io.parse_single_sequence_example(s, spec)[0][names.NUM_FRAMES] > 0).take(1).as_numpy_iterator()]
    except FileNotFoundError:
        first = with_frames = []
    if not first:
        raise UserError(f"the train split holds no videos ({files})")
    if not with_frames:
        raise UserError(f"cannot read the feature dimension: no record of {files} has frames")
    video = with_frames[0]
    if weighting == "laf" and video.laf_scores is None:
        raise ValueError(f"weighting 'laf' needs the {names.LAF_SCORE!r} feature list, which the "
                         f"records of {files} lack: train on the domain-transfer output")
    return int(video.features.shape[1])


def _context_int(files: Files, key: str) -> tf.data.Dataset:
    """One int64 context feature of every record, parsed alone (cheap whole-data scans)."""
    spec = {key: tf.io.FixedLenFeature([], tf.int64)}
    return records(files).map(lambda s: tf.io.parse_single_sequence_example(s, spec)[0][key])


class SplitScan(NamedTuple):
    """What one pass over a split finds (:func:`check_records`)."""

    frames: np.ndarray  # [videos] each record's number of frames
    labels: np.ndarray  # [videos] its label index
    moments: Optional[Tuple[np.ndarray, np.ndarray]] = None  # mean and std [D] of every frame (``measure``)
    interval: Optional[float] = None  # the median step between frames, in seconds (``measure``)


def check_records(files: Files, split: str, classes: int, dim: int, vocabulary: Optional[Sequence[str]] = None,
                  measure: bool = False) -> SplitScan:
    """Each record's number of frames and label index, read in one pass, after refusing (one line,
    before training) what would fail deep inside tf.data or train on garbage: no records, a first
    record of another feature size, a label index outside the classes, a label name the ``vocabulary``
    (its labels in index order) puts at another index. With ``measure``, the same pass measures the
    frames too (:func:`_moments`, :func:`_interval`): each of them was a read of the whole split
    before training of its own.

    Why the names: a vocabulary given in the trainer's config (not the run's own) with as many labels
    but in another order trained and served every class under another class's name."""
    try:
        head = [VideoRecord.parse(s) for s in records(files).take(1).as_numpy_iterator()]
    except FileNotFoundError:
        head = []
    if not head:
        raise UserError(f"the {split} split holds no videos ({files}): training needs train videos, and model "
                        "selection (early stopping, the kept epoch) eval videos (were they all rejected at ingestion?"
                        " see VideoIngest's rejected.jsonl)")
    if head[0].features.ndim == 2 and head[0].features.shape[1] not in (0, dim):
        raise UserError(f"the {split} split's features have {head[0].features.shape[1]} dimensions, not {dim}")
    context = {key: tf.io.FixedLenFeature([], tf.int64) for key in (names.LABEL_INDEX, names.NUM_FRAMES)}
    context[names.LABEL] = tf.io.FixedLenFeature([], tf.string, default_value="")
    sequence = {names.FRAME_FEATURES: tf.io.FixedLenSequenceFeature([dim], tf.float32),
                names.TIMESTAMP: tf.io.FixedLenSequenceFeature([], tf.float32)}
    shift = _first_frame(files, dim) if measure else None
    measured = ("n", "total", "squares")  # summed; "gaps" are kept

    laf = {names.LAF_SCORE: tf.io.FixedLenSequenceFeature([], tf.float32, allow_missing=True)}

    def parse(serialized):
        found, lists = tf.io.parse_single_sequence_example(serialized, context, {**laf, **(sequence if measure else {})})
        scores = lists[names.LAF_SCORE]  # loss weights and actionness targets: NaN made a NaN model, exported
        found.update(laf_n=tf.size(scores), laf_bad=tf.reduce_sum(tf.cast(~((scores >= 0) & (scores <= 1)), tf.int32)))
        if not measure:
            return found
        x = tf.cast(lists[names.FRAME_FEATURES], tf.float64) - shift
        return {**found, "n": tf.cast(tf.shape(x)[0], tf.float64), "total": tf.reduce_sum(x, 0),
                "squares": tf.reduce_sum(x * x, 0), "gaps": tf.experimental.numpy.diff(lists[names.TIMESTAMP])}

    found, sums, gaps = [], [np.float64(0.0), np.zeros(dim), np.zeros(dim)], []
    try:
        for record in records(files).map(parse).as_numpy_iterator():
            if measure:  # summed in record order, as a tf.data reduce did: the same bits
                sums = [a + record.pop(key) for a, key in zip(sums, measured)]
                gaps.append(record.pop("gaps"))
            found.append(record)
    except tf.errors.InvalidArgumentError as e:  # a record of another size, or without frames or times
        raise UserError(f"a record of the {split} split ({files}) is not a video record of {dim}-dimensional"
                        f" frames with their timestamps: {e.message.splitlines()[0]}") from None
    labels = np.array([f[names.LABEL_INDEX] for f in found], np.int64)
    outside = labels[(labels < 0) | (labels >= classes)]
    if len(outside):
        raise UserError(f"{len(outside)} {split} video(s) have label_index {int(outside[0])}, outside the "
                        f"{classes} classes of the vocabulary")
    if vocabulary is not None:
        named = [(f[names.LABEL].decode("utf-8", "replace"), int(f[names.LABEL_INDEX])) for f in found]
        wrong = [(name, index) for name, index in named if name and name != vocabulary[index]]
        if wrong:
            name, index = wrong[0]
            raise UserError(f"{len(wrong)} {split} video(s) have a label the vocabulary puts elsewhere, e.g. {name!r} at"
                            f" label_index {index}, where the vocabulary names {vocabulary[index]!r}: the vocabulary is"
                            " not the one the records were made with")
    frames = np.array([f[names.NUM_FRAMES] for f in found], np.int64)
    _check_laf_scores(found, frames, split, files)
    if not measure:
        return SplitScan(frames, labels)
    return SplitScan(frames, labels, _moments(files, *sums, shift), _interval(gaps))


def _check_laf_scores(found: Sequence[Mapping[str, np.ndarray]], frames: np.ndarray, split: str, files: Files) -> None:
    """LAF scores, where records carry them, are one per frame in [0, 1]: a NaN one trained a NaN model
    and a negative one flipped its frame's loss, both silently (DomainTransfer writes them so; records
    written by hand may not)."""
    counts = np.array([f["laf_n"] for f in found], np.int64)
    bad = np.flatnonzero((counts > 0) & (counts != frames))
    if len(bad):
        raise UserError(f"{len(bad)} {split} video(s) of {files} have another number of LAF scores than frames"
                        f" (e.g. {counts[bad[0]]} for {frames[bad[0]]} frames)")
    outside = sum(int(f["laf_bad"]) for f in found)
    if outside:
        raise UserError(f"{outside} LAF score(s) of the {split} split ({files}) are not in [0, 1] (NaN, Inf or out of"
                        " range): DomainTransfer writes them so; were these records written by hand?")


def whole_videos(files: Files, dim: int, context: Mapping[str, tf.io.FixedLenFeature]
                 ) -> Iterator[Tuple[Dict[str, np.ndarray], np.ndarray]]:
    """(the ``context`` features, [T, D] frames) of every record, in stored order, parsed by tf.data
    :data:`PARSE_CALLS` at a time: what the readers of whole videos (the per-epoch eval, sibling
    novelty) need, without a record parsed into Python lists (``VideoRecord.parse``: ~200 us a frame)."""
    sequence = {names.FRAME_FEATURES: tf.io.FixedLenSequenceFeature([dim], tf.float32)}

    def parse(serialized):
        found, lists = tf.io.parse_single_sequence_example(serialized, context, sequence)
        return found, lists[names.FRAME_FEATURES]

    return records(files).map(parse, num_parallel_calls=PARSE_CALLS).prefetch(1).as_numpy_iterator()


def num_classes(files: Files) -> int:
    """1 + the largest label index in the records (fallback when no vocabulary is given)."""
    largest = _context_int(files, names.LABEL_INDEX).reduce(tf.constant(-1, tf.int64), tf.maximum)
    return int(largest.numpy()) + 1


def frame_counts(files: Files) -> np.ndarray:
    """[videos] each record's number of frames (what sizing an epoch and the shuffle buffer needs)."""
    return np.fromiter(_context_int(files, names.NUM_FRAMES).as_numpy_iterator(), np.int64)


def chunks_per_pass(files: Files, k: int, streams: int, frames: Optional[np.ndarray] = None) -> int:
    """Batches in one pass over the data if the streams were perfectly balanced, and at least the
    longest video's chunks: a stream plays one video at a time, so with fewer videos than streams
    an epoch sized by the total alone was a fraction of a pass (and the patiences counted those).
    ``frames``: :func:`frame_counts` of ``files``, when the caller has them."""
    chunks = ((frame_counts(files) if frames is None else frames) + k - 1) // k
    return max(1, -(-int(chunks.sum()) // streams), int(chunks.max(initial=0)))


def _interval(gaps: List[np.ndarray]) -> float:
    """The median of the records' steps in seconds between consecutive frames (1 s without any): what
    a step of a net that sees no timestamps means in time (``trainer.seen_gate``)."""
    gaps = np.concatenate(gaps or [np.zeros(0)])
    gaps = gaps[gaps > 0]
    return float(np.median(gaps)) if gaps.size else 1.0


def _first_frame(files: Files, dim: int) -> np.ndarray:
    """[D] float64 the first frame of the records (zeros without any): the shift of :func:`_moments`' sums."""
    spec = {names.FRAME_FEATURES: tf.io.FixedLenSequenceFeature([dim], tf.float32)}

    def frames(serialized):
        return tf.cast(tf.io.parse_single_sequence_example(serialized, sequence_features=spec)[1]
                       [names.FRAME_FEATURES], tf.float64)

    return next(records(files).map(frames).filter(lambda x: tf.shape(x)[0] > 0).take(1).as_numpy_iterator(),
                np.zeros([1, dim]))[0]


def _moments(files: Files, count, total, squares, shift: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation [D] of every frame's features from the sums of the frames minus
    ``shift`` (``laf.transfer.moments.moments_from_sums``); a frame not finite is an error."""
    mean, std = moments_from_sums(count, total, squares, shift)
    if not (np.isfinite(mean).all() and np.isfinite(std).all()):  # one NaN frame made a NaN model, exported
        bad = np.flatnonzero(~(np.isfinite(mean) & np.isfinite(std)))
        raise UserError(f"the features of {files} are not all finite (NaN or inf in dimension(s) "
                        f"{', '.join(map(str, bad[:5]))}{' ...' if len(bad) > 5 else ''}): ingestion refuses such frames;"
                        " were these records written by hand?")
    return mean, std


def video_draws(video: Dict[str, tf.Tensor], seed: int, shape) -> tf.Tensor:
    """Uniform [0, 1) draws of ``shape`` that depend only on the video's id and ``seed``."""
    per_video = tf.strings.to_hash_bucket_fast(video[names.VIDEO_ID], 2 ** 31 - 1)
    return tf.random.stateless_uniform(shape, seed=tf.stack([tf.cast(seed, tf.int64), per_video]))


def frame_weights(video: Dict[str, tf.Tensor], weighting: str, seed: int) -> tf.Tensor:
    """[T] float32 penalty weights of one parsed video (see the module docstring)."""
    steps = tf.shape(video[names.TIMESTAMP])[0]
    if weighting == "laf":
        return video[names.LAF_SCORE]
    if weighting == "uniform":
        return tf.ones([steps], tf.float32)
    if weighting == "random30":
        return tf.cast(video_draws(video, seed, [steps]) < RANDOM_FRACTION, tf.float32)
    if weighting == "oracle":
        own = tf.equal(video[names.GT_LABEL_INDEX], video[names.LABEL_INDEX])
        starts = tf.boolean_mask(video[names.GT_START], own)
        ends = tf.boolean_mask(video[names.GT_END], own)
        t = video[names.TIMESTAMP][:, None]
        inside = (t >= starts[None, :]) & (t < ends[None, :])
        return tf.cast(tf.reduce_any(inside, axis=1), tf.float32)
    raise ValueError(f"unknown weighting {weighting!r}; expected one of {WEIGHTINGS}")


def has_oracle_frames(files: Files, dim: int) -> bool:
    """Whether the oracle weights any frame of ``files`` (inside a segment of its video's own label),
    read up to the first video that has one: without any it trains on nothing, and an untrained model
    was exported silently (no segment of a video's own label, or none covering a sampled time)."""
    def count(serialized):
        return tf.reduce_sum(frame_weights(parse_video(serialized, dim), "oracle", 0))

    return bool(list(records(files).map(count).filter(lambda n: n > 0).take(1).as_numpy_iterator()))


def laf_actionness(laf: tf.Tensor) -> tf.Tensor:
    """Actionness targets [T] from one video's LAF scores [T]: (LAF - median) / (max - median),
    clipped to [0, 1] (:func:`relative_to_video`).

    Why relative to the video: LAF = CNN_i(V)[a_V] is high on a context frame too whenever the
    scene alone names the activity (0.3 among 3 siblings), and an untrimmed video is mostly
    context. A weakly labelled video does contain its action, and only briefly, so its median
    frame is context and its best frames are the action: contrast against them says "action" only
    where CNN_i prefers the video's action over its siblings more than on ordinary frames.
    """
    return relative_to_video(laf)


def _relative_and_span(x: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
    """One sort of one video's frames [T]: :func:`relative_to_video` of ``x`` and its span, the best
    frame's value minus the median frame's, clipped to [0, 1]; a video without frames gives (x, 0).

    A clip of one or two frames has no ordinary frame to contrast with (its upper median is its best
    frame, which zeroed every target, so such clips never taught their label): its lower frame is
    the reference, and a single frame counts as its action."""
    def contrast():
        steps = tf.shape(x)[0]
        ordered = tf.sort(x)
        median, top = ordered[tf.where(steps <= 2, 0, steps // 2)], ordered[-1]
        relative = tf.clip_by_value((x - median) / tf.maximum(top - median, 1e-6), 0.0, 1.0)
        relative = tf.where(steps == 1, tf.ones_like(x), relative)
        return relative, tf.clip_by_value(top - median, 0.0, 1.0)

    return tf.cond(tf.size(x) > 0, contrast, lambda: (x, tf.zeros([], x.dtype)))


def relative_to_video(x: tf.Tensor) -> tf.Tensor:
    """[T] (x - median) / (max - median) over one video's frames, clipped to [0, 1]: the frames that
    stand out from the video's ordinary (median) frame; shared by both actionness cues (a clip of
    one or two frames: see :func:`_relative_and_span`)."""
    return _relative_and_span(x)[0]


def laf_span(laf: tf.Tensor) -> tf.Tensor:
    """How much of the probability scale one video's LAF scores use to single out frames: its best
    frame's LAF minus its ordinary (median) frame's, in [0, 1] (0 for a video without frames)."""
    return _relative_and_span(laf)[1]


def actionness_targets(video: Dict[str, tf.Tensor], weighting: str, weights: tf.Tensor,
                       novelty: Optional[tf.Tensor] = None) -> tf.Tensor:
    """[T] soft actionness labels for the actionness head (see the module docstring); for ``laf``
    with the video's ``novelty`` targets (``trainer.novelty``, [T]; empty: none), the geometric
    mean of both cues, where the LAF cue counts as far as the video's :func:`laf_span` reaches:
    ``sqrt(novelty * (span * laf + (1 - span) * novelty))``.

    Why the span: when a sibling's web images show the activity's generic scene, its videos' LAF is
    near 1 on every frame (the median frame's LAF within 0.1 of the best one's). Taken relative to
    the video, that cue is noise stretched to [0, 1]: 0 on the half of the frames below the median,
    action frames among them, and a soft AND with it zeroed those (demo train split, action vs
    context frames: AUC 0.69-0.81 for the soft AND's targets of Freestyle, PenaltyKick and Rings,
    0.98-1.00 for novelty alone). The actionness head then learnt to miss those actions. A video
    whose LAF spans the whole scale keeps the plain geometric mean."""
    if weighting != "laf":
        return weights
    laf, span = _relative_and_span(video[names.LAF_SCORE])  # laf_actionness and laf_span, one sort
    if novelty is None:
        return laf
    return tf.cond(tf.size(novelty) == tf.size(laf),
                   lambda: tf.sqrt(novelty * (span * laf + (1.0 - span) * novelty)), lambda: laf)


class NoveltyTable:
    """video_id -> that video's novelty targets, inside a tf.data pipeline (empty when unknown)."""

    def __init__(self, novelty: Mapping[str, np.ndarray]):
        ids = sorted(novelty)
        rows = [np.asarray(novelty[i], np.float32) for i in ids] + [np.zeros([0], np.float32)]
        self._rows = tf.RaggedTensor.from_row_lengths(np.concatenate(rows), [len(r) for r in rows])
        self._index = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(ids or [""], tf.string),
                                                tf.range(max(len(ids), 1), dtype=tf.int64)),
            default_value=len(ids))

    def __call__(self, video_id: tf.Tensor) -> tf.Tensor:
        return self._rows[self._index.lookup(video_id)]


SEEN_FROM = 0.5  # an actionness target above this is closer to the video's best frame than to its ordinary one


SEEN_HALF_LIFE_S = 20.0  # the paper's truncated-BPTT unroll span: k = 20 steps at 1 fps (§4.2)


def fade(elapsed_s, half_life_s: float = SEEN_HALF_LIFE_S):
    """The share of a carried "seen" value left after ``elapsed_s`` seconds (tensor or float); a
    clock going back keeps it all. Shared by the training rule and ``trainer.seen_gate``."""
    return 0.5 ** (tf.maximum(elapsed_s, 0.0) / half_life_s)


def decisive(targets: tf.Tensor) -> tf.Tensor:
    """Targets (or actionness) counted from :data:`SEEN_FROM`: 0 there and below, 1 at 1."""
    return tf.clip_by_value((targets - SEEN_FROM) / (1.0 - SEEN_FROM), 0.0, 1.0)


def seen_recently(targets: tf.Tensor, timestamps: tf.Tensor, half_life_s: float = SEEN_HALF_LIFE_S) -> tf.Tensor:
    """[T] how surely a video's action has been seen lately by frame t: the frame's own actionness
    target, or, if larger, the targets counted from :data:`SEEN_FROM` (0 there, 1 at the video's
    best frame), each carried forward and halved every ``half_life_s`` seconds of ``timestamps``.
    The class weights of actionness training: the paper's LSTM "is forced to make the correct
    decision after watching a LAF ... and not penalized as heavily when gathering context
    information from earlier frames" (§3.3); here the decision, once made, must also be kept a
    while, so context frames after the action name it too instead of one fixed sibling.

    Why counted only from SEEN_FROM: carrying a weak target on an early context frame (0.3) forward
    weighs every frame up to the action, and for the sibling whose targets fire most often on the
    shared scene those frames add up. Measured on a bench run's train split, that sibling held 71-83 %
    of its activity's label weight before the action, and the trained model preferred it on the
    context of every sibling's test videos.

    Why it fades: a frame long after the action shows the same scene as the frames before it, and
    beyond the unroll its loss cannot reach back to the frame that showed the action. Weighted in
    full (a running maximum), those frames held ~75 % of the label weight (demo train split), so the
    class head learnt scenes as labels, and before the action it leaned to one sibling per activity
    (docs/learning.md: "the action seen lately"). Faded frames are taught "this activity, no sibling" again
    (``trainer.model.frame_loss``). The half-life is the paper's unroll span, in seconds so that it
    means the same at any sampling rate."""
    timestamps = tf.cast(timestamps, targets.dtype)
    earlier = tf.concat([timestamps[:1], timestamps[:-1]], 0)
    keep = fade(timestamps - earlier, half_life_s)
    carried = tf.scan(lambda previous, step: tf.maximum(step[0], previous * step[1]), (decisive(targets), keep),
                      initializer=tf.constant(0.0, targets.dtype))
    return tf.maximum(targets, carried)


def starts_from_zero(video: Dict[str, tf.Tensor], seed: int, carry: float) -> tf.Tensor:
    """Whether a stream zeroes its state at this video's start: with probability 1 - ``carry``,
    drawn once per video and seed (so the same records and seed give the same batches)."""
    return video_draws(video, seed + 1, []) >= carry


def _record_bytes(frames: np.ndarray, dim: int) -> int:
    """A record's features and per-frame values in bytes on average, from the split's :func:`frame_counts`."""
    return int(frames.sum()) * (dim + 4) * 4 // max(1, len(frames))


def video_chunks(video: Dict[str, tf.Tensor], weighting: str, k: int, seed: int,
                 actionness: bool = False, carry: float = 0.0,
                 novelty: Optional[NoveltyTable] = None) -> tf.data.Dataset:
    """One parsed video -> its consecutive k-step chunks (last one padded and masked); with
    ``actionness`` the class weights are :func:`seen_recently` of the actionness targets."""
    steps = tf.shape(video[names.TIMESTAMP])[0]
    chunks = (steps + k - 1) // k
    pad = chunks * k - steps

    def cut(x: tf.Tensor) -> tf.Tensor:
        padded = tf.pad(x, [[0, pad]] + [[0, 0]] * (x.shape.rank - 1))
        return tf.reshape(padded, tf.concat([[chunks, k], tf.shape(x)[1:]], 0))

    labels = tf.fill([steps], video[names.LABEL_INDEX])
    weights = frame_weights(video, weighting, seed)
    targets = actionness_targets(video, weighting, weights,
                                 novelty(video[names.VIDEO_ID]) if novelty is not None else None)
    if actionness:
        weights = seen_recently(targets, video[names.TIMESTAMP])
    return tf.data.Dataset.from_tensor_slices({
        "features": cut(video[names.FRAME_FEATURES]),
        "mask": cut(tf.ones([steps], tf.bool)),
        "reset": tf.equal(tf.range(chunks), 0) & starts_from_zero(video, seed, carry),
        "labels": cut(labels),
        "weights": cut(weights),
        "targets": cut(targets),
    })


def _idle_chunk(k: int, dim: int) -> Dict[str, tf.Tensor]:
    """A fully masked chunk for a stream that has no video left."""
    return {"features": tf.zeros([k, dim]), "mask": tf.zeros([k], tf.bool),
            "reset": tf.constant(True), "labels": tf.zeros([k], tf.int64),
            "weights": tf.zeros([k]), "targets": tf.zeros([k])}


def _placed(videos: tf.data.Dataset, streams: int, chunks_of, idle: Dict[str, tf.Tensor]) -> tf.data.Dataset:
    """``(step, stream, chunk)`` of every chunk of ``videos``, each video dealt to the stream that runs
    out first (the lowest of those tied) at that stream's next steps, then ``idle`` chunks that fill
    every stream up to the longest: each stream's elements in step order, so a step is complete once
    its last stream has come, and no step completes before an earlier one."""
    dealt = videos.flat_map(lambda video: chunks_of(video).enumerate())
    end = tf.data.Dataset.from_tensors((tf.constant(-1, tf.int64), idle))  # chunk -1: the videos ran out

    def place(state, element):
        counts, current = state
        position, chunk = element
        real = position >= 0
        first_free = tf.reduce_min(tf.where(counts == tf.reduce_min(counts), tf.range(streams), streams))
        stream = tf.where(position == 0, first_free, current)
        step = tf.where(real, counts[stream], -1)
        counts += tf.one_hot(stream, streams, dtype=tf.int64) * tf.cast(real, tf.int64)
        return (counts, stream), (step, tf.where(real, stream, -1), chunk, counts)

    def rows(step, stream, chunk, counts):
        """[1] the chunk, or for the end the idle chunks of every stream's missing steps (one map and
        an unbatch: a dataset built per chunk cost about 5x the chunk's own way through)."""
        missing = tf.where(stream < 0, tf.reduce_max(counts) - counts, tf.zeros_like(counts))
        which = tf.repeat(tf.range(streams), missing)
        idle_steps = (tf.gather(counts, which) + tf.range(tf.reduce_sum(missing))
                      - tf.gather(tf.cumsum(missing, exclusive=True), which))
        real = tf.cast(stream >= 0, tf.int32)
        count = real + tf.size(which)  # the end's chunk is the idle one
        return (tf.concat([tf.reshape(step, [1])[:real], idle_steps], 0),
                tf.concat([tf.reshape(stream, [1])[:real], which], 0),
                {key: tf.repeat(value[None], count, axis=0) for key, value in chunk.items()})

    start = (tf.zeros([streams], tf.int64), tf.constant(0, tf.int32))
    return dealt.concatenate(end).scan(start, place).map(rows).unbatch()


def stream_batches(files: Files, dim: int, weighting: str = "laf", k: int = 20,
                   streams: int = 12, seed: int = 0, shuffle: bool = False,
                   actionness: bool = False, carry: float = 0.0,
                   novelty: Optional[Mapping[str, np.ndarray]] = None,
                   frames: Optional[np.ndarray] = None) -> tf.data.Dataset:
    """Batches ``({"features", "mask", "reset"}, labels, weights, targets)`` of shape [B, k, ...]
    (``frames``: :func:`frame_counts` of ``files``, when the caller has them).

    Each video goes to the stream that runs out first (after a seeded shuffle, reshuffled every
    epoch, so each video is used exactly once per epoch), all from ONE read of the split; a batch
    step waits until every stream's chunk for it is read. Why one read: each stream reading the whole
    split and keeping its shard (video i to stream i mod B) read and un-gzipped the split B times per
    pass and held B shuffle buffers; measured by ``bench/train_input.py`` on 200 videos of 20-400
    frames at D = 1280 (202 MiB gzipped, B = 12), a pass took 21.5 s and 3.3 GB, now 2.6 s and 0.9 GB.
    Why the stream that runs out first: the streams stay within a video of each other, so the chunks
    held waiting stay about a video per stream (dealt round-robin from one read, the streams' totals
    drift apart like a random walk: simulated on 10,000 videos of log-normal length, 11,133 chunks held
    at the peak against 600), and fewer idle chunks pad a pass's end (on the 200 videos above, 200
    steps against 229; a balanced pass is 193).

    The shuffle buffer holds :data:`SHUFFLE_VIDEOS` serialized records, and at most
    :data:`SHUFFLE_BYTES` of their features: the shuffle is complete up to that many videos in the
    split, and beyond it mixes a window of that many records in their stored order (by a hash of the
    video id: unrelated to the labels).
    """
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {weighting!r}; expected one of {WEIGHTINGS}")
    if k < 1 or streams < 1:
        raise ValueError(f"k and streams must be positive, got k={k}, streams={streams}")
    paths = _paths(files)
    with_laf = weighting == "laf"
    table = NoveltyTable(novelty) if novelty is not None else None
    ordered = records(paths)
    if shuffle:
        mean = _record_bytes(frame_counts(paths) if frames is None else frames, dim)
        ordered = ordered.shuffle(max(1, min(SHUFFLE_VIDEOS, SHUFFLE_BYTES // max(1, mean))),
                                  seed=seed, reshuffle_each_iteration=True)
    videos = ordered.map(lambda s: parse_video(s, dim, with_laf=with_laf), num_parallel_calls=PARSE_CALLS)
    placed = _placed(videos, streams, lambda v: video_chunks(v, weighting, k, seed, actionness, carry, table),
                     _idle_chunk(k, dim))
    steps = placed.group_by_window(lambda step, stream, chunk: step, lambda step, chunks: chunks.batch(streams),
                                   window_size=streams)

    def stack(step, stream, chunk):
        batch = {key: tf.ensure_shape(tf.gather(value, tf.argsort(stream)), [streams, *value.shape[1:]])
                 for key, value in chunk.items()}
        inputs = {key: batch[key] for key in ("features", "mask", "reset")}
        return inputs, batch["labels"], batch["weights"], batch["targets"]

    return steps.map(stack).prefetch(tf.data.AUTOTUNE)
