"""Graph twin of :func:`laf.evaluate.evaluation.detect` (sliding windows and evidence runs + greedy
per-class NMS) in TensorFlow ops, so a SavedModel can serve a ``localize`` signature that returns the
library's detections.

Same windows, scores, tie rules and ordering as the NumPy library (computed in float64, returned
as float32); a batch's outputs are padded to its largest ``count``.
"""
from __future__ import annotations

from typing import Dict, Optional

import tensorflow as tf

from laf.errors import NOT_FINITE
from laf.evaluate.evaluation import FLANK, LocalizeConfig

PAD_LABEL = -1


def _window_starts(num_frames: tf.Tensor, window: int, stride: int):
    """Window start steps (the last window ends at the video's end) and the window length."""
    width = tf.minimum(tf.constant(window, tf.int32), num_frames)
    last = num_frames - width
    starts = tf.range(0, last + 1, stride)
    starts = tf.cond(starts[-1] != last, lambda: tf.concat([starts, [last]], 0), lambda: starts)
    return starts, width


def _all_windows(num_frames: tf.Tensor, config: LocalizeConfig):
    """Start step and length of every window (``evaluation.all_windows``): shortest length first,
    lengths beyond the video collapsed into one whole-video window."""
    starts, widths, previous = [], [], None
    for w in config.widths():
        s, width = _window_starts(num_frames, w, config.stride)
        if previous is not None:  # the previous length already covered the whole video
            s = tf.cond(previous >= num_frames, lambda: s[:0], lambda: s)
        starts.append(s)
        widths.append(tf.fill(tf.shape(s), width))
        previous = width
    return tf.concat(starts, 0), tf.concat(widths, 0)


def _evidence_runs(p, num_frames: tf.Tensor, config: LocalizeConfig):
    """Runs of the peak class evidence above each threshold x its video peak, longer than the
    longest window, each once in first-found order (``evaluation.evidence_runs``)."""
    empty = tf.zeros([0], tf.int32)
    if len(config.widths()) == 1 or not config.run_thresholds:
        return empty, empty
    peak = tf.reduce_max(p, axis=1)
    top = tf.reduce_max(peak)
    longest = max(config.widths())
    starts, widths = [], []
    for threshold in config.run_thresholds:
        above = tf.cast(peak >= tf.constant(threshold, p.dtype) * top, tf.int32)
        edges = tf.experimental.numpy.diff(tf.concat([[0], above, [0]], 0))
        s = tf.cast(tf.where(edges == 1)[:, 0], tf.int32)
        w = tf.cast(tf.where(edges == -1)[:, 0], tf.int32) - s
        longer = w > longest
        starts.append(tf.boolean_mask(s, longer))
        widths.append(tf.boolean_mask(w, longer))
    base = tf.cast(num_frames + 1, tf.int64)
    code = tf.unique(tf.cast(tf.concat(starts, 0), tf.int64) * base + tf.cast(tf.concat(widths, 0), tf.int64)).y
    s, w = tf.cast(code // base, tf.int32), tf.cast(code % base, tf.int32)  # each run once, first-found order
    return tf.cond(top > 0, lambda: (s, w), lambda: (empty, empty))


def _window_scores(p, starts, width, config: LocalizeConfig):
    """``[S, N]`` window scores (``evaluation.window_scores``): the mean, or for several lengths the
    flank contrast times sqrt(length / window), the contrast alone for an evidence run."""
    cumulative = tf.concat([tf.zeros_like(p[:1]), tf.cumsum(p, axis=0)], axis=0)
    ends = starts + width
    length = tf.cast(width, p.dtype)[:, None]
    inner = (tf.gather(cumulative, ends) - tf.gather(cumulative, starts)) / length
    if len(config.widths()) == 1:
        return inner
    num_frames = tf.shape(p)[0]
    flank = tf.maximum(1, tf.cast(tf.round(tf.cast(width, tf.float64) * FLANK), tf.int32))
    before, after = tf.maximum(starts - flank, 0), tf.minimum(ends + flank, num_frames)
    outer_n = (starts - before) + (after - ends)
    outer = ((tf.gather(cumulative, starts) - tf.gather(cumulative, before))  # grouped as the library's sum
             + (tf.gather(cumulative, after) - tf.gather(cumulative, ends))) / tf.cast(tf.maximum(outer_n, 1),
                                                                                  p.dtype)[:, None]
    outer = tf.where((outer_n > 0)[:, None], outer, tf.zeros_like(outer))  # no flanks (the whole video): vs no action
    bonus = tf.where(length > max(config.widths()), tf.ones_like(length), tf.sqrt(length / config.window))
    return (inner - outer) * bonus


def _first_argmax(values: tf.Tensor) -> tf.Tensor:
    """Row-wise argmax that picks the first maximum (``tf.argmax`` does not promise it)."""
    best = tf.reduce_max(values, axis=1, keepdims=True)
    positions = tf.range(tf.shape(values, out_type=tf.int32)[1])[None, :]
    return tf.reduce_min(tf.where(values == best, positions, tf.int32.max), axis=1)


def _tiou(start_a, end_a, start_b, end_b):
    inter = tf.maximum(tf.minimum(end_a, end_b) - tf.maximum(start_a, start_b), 0.0)
    union = (end_a - start_a) + (end_b - start_b) - inter
    return tf.where(union > 0, inter / tf.where(union > 0, union, 1.0), 0.0)


def _greedy_nms(starts, ends, scores, overlap: float) -> tf.Tensor:
    """``[C, S]`` selection step of each kept window, -1 if suppressed (see ``evaluation.greedy_nms``)."""
    shape = tf.shape(scores)
    rows = tf.range(shape[0])

    def body(step, alive, step_of):
        best = _first_argmax(tf.where(alive, scores, tf.constant(-float("inf"), scores.dtype)))
        index = tf.stack([rows, best], axis=1)
        live = tf.gather_nd(alive, index)
        step_of = tf.tensor_scatter_nd_update(
            step_of, index, tf.where(live, step, tf.gather_nd(step_of, index)))
        best_start, best_end = tf.gather(starts, best)[:, None], tf.gather(ends, best)[:, None]
        keep = _tiou(best_start, best_end, starts[None, :], ends[None, :]) <= overlap
        alive = alive & keep & ~tf.cast(tf.one_hot(best, shape[1], on_value=1, off_value=0), tf.bool)
        return step + 1, alive, step_of

    _, _, step_of = tf.while_loop(
        lambda step, alive, step_of: tf.reduce_any(alive), body,
        (tf.constant(0), tf.math.is_finite(scores), tf.fill(shape, -1)))
    return step_of


def _detect(p, timestamps, num_frames, config: LocalizeConfig, video_end):
    starts, width = _all_windows(num_frames, config)
    run_starts, run_width = _evidence_runs(p, num_frames, config)
    starts, width = tf.concat([starts, run_starts], 0), tf.concat([width, run_width], 0)
    window_scores = _window_scores(p, starts, width, config)
    t = timestamps
    span = tf.cast(tf.maximum(num_frames - 1, 1), t.dtype)
    last = t[-1] + tf.where((num_frames > 1) & (t[-1] > t[0]), (t[-1] - t[0]) / span,
                            tf.constant(1.0, t.dtype))  # 1 s where the times give none (frame_bounds)
    if video_end is not None:  # the video's duration, where it lies after the last frame (frame_bounds)
        video_end = tf.cast(video_end, t.dtype)
        last = tf.where(tf.math.is_finite(video_end) & (video_end > t[-1]), video_end, last)
    later = tf.searchsorted(t, t, side="right")  # a frame lasts until the next later one (frame_bounds)
    frame_end = tf.gather(tf.concat([t, [last]], 0), later)
    win_start, win_end = tf.gather(t, starts), tf.gather(frame_end, starts + width - 1)

    n_classes = tf.shape(p)[1]
    classes = tf.range(n_classes)
    if config.top_k_classes is not None:
        mean = tf.reduce_mean(p, axis=0)
        mean = tf.where(tf.math.is_nan(mean), tf.constant(-float("inf"), mean.dtype), mean)  # NaN last, as NumPy sorts
        top = tf.math.top_k(mean, k=tf.minimum(config.top_k_classes, n_classes))
        classes = tf.sort(top.indices)  # top_k lists equal scores lower index first, as the library
    class_scores = tf.transpose(tf.gather(window_scores, classes, axis=1))  # [C, S]
    step_of = _greedy_nms(win_start, win_end, class_scores, config.nms_overlap)

    kept = tf.where(step_of >= 0)  # row-major: class, then window
    c, s = tf.cast(kept[:, 0], tf.int32), tf.cast(kept[:, 1], tf.int32)
    score = tf.gather_nd(class_scores, kept)
    order = tf.argsort(tf.gather_nd(step_of, kept), stable=True)  # least significant key first
    order = tf.gather(order, tf.argsort(tf.gather(c, order), stable=True))
    order = tf.gather(order, tf.argsort(-tf.gather(score, order), stable=True))
    s, c, score = tf.gather(s, order), tf.gather(c, order), tf.gather(score, order)
    return tf.gather(win_start, s), tf.gather(win_end, s), tf.gather(classes, c), score


def localize(probabilities, timestamps, num_frames, config: LocalizeConfig = LocalizeConfig(),
             max_detections: Optional[int] = None, video_end=None) -> Dict[str, tf.Tensor]:
    """Detections of one video from probabilities ``[T, N]`` (rows past ``num_frames`` ignored),
    timestamps ``[T]`` and the video's duration ``video_end`` (a scalar; None, not finite or not after
    the last frame: unknown): ``start``/``end``/``score`` float32, ``label`` int32 and ``count`` int32, best
    first: every detection (as the library gives them, up to ``config.max_detections``), or with
    ``max_detections`` the best that many, padded to that length (``PAD_LABEL`` in padding).
    """
    num_frames = tf.cast(num_frames, tf.int32)
    p = tf.cast(probabilities, tf.float64)[:num_frames]
    t = tf.cast(timestamps, tf.float64)[:num_frames]
    limits = [n for n in (max_detections, config.max_detections) if n is not None]

    def found():
        return _detect(p, t, num_frames, config, video_end)

    def nothing():
        empty = tf.zeros([0], tf.float64)
        return empty, empty, tf.zeros([0], tf.int32), empty

    start, end, label, score = tf.cond(num_frames > 0, found, nothing)
    count = tf.minimum(tf.shape(score)[0], min(limits)) if limits else tf.shape(score)[0]

    def fixed(x, value):
        if max_detections is None:
            return x[:count]
        return tf.ensure_shape(tf.pad(x[:count], [[0, max_detections - count]], constant_values=value),
                               [max_detections])

    return {"start": tf.cast(fixed(start, 0.0), tf.float32), "end": tf.cast(fixed(end, 0.0), tf.float32),
            "label": fixed(label, PAD_LABEL), "score": tf.cast(fixed(score, 0.0), tf.float32), "count": count}


def localize_batch(probabilities, timestamps, num_frames, config: LocalizeConfig = LocalizeConfig(),
                   video_ends=None) -> Dict[str, tf.Tensor]:
    """:func:`localize` over a padded batch: ``[B, T, N]``, ``[B, T]``, ``[B]`` and the videos'
    durations ``video_ends`` ``[B]`` (None: unknown) -> ``[B, M]`` tensors,
    M the batch's largest ``count`` (shorter rows padded, ``label`` with ``PAD_LABEL``), and
    ``count`` ``[B]``: every detection the library gives, none cut at a fixed width. Non-finite
    scores are an error named :data:`NOT_FINITE` (windows scored NaN have no order to keep)."""
    probabilities = tf.debugging.assert_all_finite(probabilities, NOT_FINITE)
    signature = {"start": tf.RaggedTensorSpec([None], tf.float32, ragged_rank=0),
                 "end": tf.RaggedTensorSpec([None], tf.float32, ragged_rank=0),
                 "label": tf.RaggedTensorSpec([None], tf.int32, ragged_rank=0),
                 "score": tf.RaggedTensorSpec([None], tf.float32, ragged_rank=0),
                 "count": tf.TensorSpec([], tf.int32)}
    if video_ends is None:
        video_ends = tf.fill(tf.shape(num_frames), tf.constant(float("nan"), timestamps.dtype))  # unknown
    out = tf.map_fn(lambda x: localize(x[0], x[1], x[2], config, video_end=x[3]),
                    (probabilities, timestamps, num_frames, video_ends), fn_output_signature=signature)
    return {k: v if k == "count" else v.to_tensor(PAD_LABEL if k == "label" else 0) for k, v in out.items()}
