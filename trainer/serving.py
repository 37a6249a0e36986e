"""The serving export: the SavedModel's signatures over a trained net (``trainer.model``).

Serving takes raw features (the net standardises them itself) or serialized video
SequenceExamples (``schemas``), so TF Serving needs nothing from this package. An export that is
given the backbone also takes encoded frames (``localize_frames``): the backbone then runs in the
graph, so a client needs no feature extractor at all.
"""
from __future__ import annotations

import warnings
from typing import Callable, Dict, List, Optional, Tuple

import keras
import tensorflow as tf

from laf.evaluate.evaluation import LocalizeConfig
from laf.ingest.backbones import BackboneConfig, build_backbone
from laf.serve import frames_tf
from laf.serve.localize_tf import localize_batch
from schemas import names
from schemas.parsing import video_sequence_spec
from trainer.model import class_evidence, frame_outputs, served


Endpoint = Tuple[Callable, List[tf.TensorSpec]]


def timestamp_checks(timestamps, num_frames, where: str) -> List[tf.Operation]:
    """Checks that each video's first ``num_frames`` timestamps ``[B, T]`` are finite and do not
    decrease: a client's reversed or NaN times would give segments that end before they start, or
    NaN bounds in the answer's JSON."""
    valid = tf.sequence_mask(num_frames, tf.shape(timestamps)[1])
    finite = tf.debugging.assert_equal(tf.reduce_all(tf.math.is_finite(timestamps) | ~valid), True,
                                       message=f"{where}: timestamps must be finite seconds")
    with tf.control_dependencies([finite]):  # NaN steps would fail the next check too: this one speaks first
        steps = timestamps[:, 1:] - timestamps[:, :-1]
        ordered = tf.debugging.assert_equal(tf.reduce_all((steps >= 0) | ~valid[:, 1:]), True,
                                            message=f"{where}: timestamps must not decrease")
    return [finite, ordered]


def serving_endpoints(net: keras.Model, feature_dim: int, localize_config: Optional[LocalizeConfig] = None,
                      backbone: Optional[Tuple[keras.Model, int]] = None) -> Dict[str, Endpoint]:
    """The serving contract's signatures: ``serving_default``, ``frame_features``, ``localize`` and
    ``localize_step``; with ``backbone`` (the feature model and its input size) also ``localize_frames``.

    ``serving_default`` also returns the frame ``timestamps`` so TFMA's localization metrics
    use the true sampling times; ``localize`` runs the evaluation library's sliding windows,
    evidence runs and NMS in the graph (``laf.serve.localize_tf``) over the class evidence
    (p x actionness), so TF Serving returns segments directly, with the per-frame outputs of ``serving_default`` they
    came from. ``localize_step`` is one chunk of a stream with explicit state in and out
    (``state_r``, ``state_c``: zeros to start; ``state_r`` ends with the seen gate's memory, one column per
    class, and ``state_c`` with its carried value, ``trainer.seen_gate``), so a client can stream through a model server that
    holds no session; chained over chunks it equals ``frame_features`` on the whole sequence.
    ``localize_frames`` takes ONE video as encoded frames (JPEG/PNG, [T]) and their ``timestamps``
    [T], featurizes them in the graph as ingestion featurizes an encoded image
    (``laf.serve.frames_tf``) and answers as ``localize`` does for a batch of that one video.
    """
    localize_config = localize_config or LocalizeConfig()

    def parse(examples, context_features=None):
        context, sequences, lengths = tf.io.parse_sequence_example(
            examples, context_features=context_features, sequence_features=video_sequence_spec(feature_dim))
        same = tf.debugging.assert_equal(  # fewer times than frames: misaligned outputs, or an index error
            lengths[names.TIMESTAMP], lengths[names.FRAME_FEATURES],
            message=f"examples: give one {names.TIMESTAMP} per frame of {names.FRAME_FEATURES}")
        with tf.control_dependencies([same]):
            num_frames = tf.cast(lengths[names.FRAME_FEATURES], tf.int64)
        return (sequences[names.FRAME_FEATURES], sequences[names.TIMESTAMP], num_frames), context

    def frames_of(features, timestamps, num_frames):
        return {**frame_outputs(net, features, num_frames), "timestamps": timestamps, "num_frames": num_frames}

    def from_examples(examples):
        return frames_of(*parse(examples)[0])

    def from_features(frame_features, lengths):
        # a client's lengths [1] for B videos broadcast to every row, one past T was clipped: both silently
        checks = [tf.debugging.assert_equal(tf.size(lengths), tf.shape(frame_features)[0],
                                            message="frame_features: give one length per video (lengths [B])"),
                  tf.debugging.assert_non_negative(lengths, message="frame_features: lengths must be >= 0"),
                  tf.debugging.assert_less_equal(lengths, tf.shape(frame_features)[1],
                                                 message="frame_features: a length beyond the frames given")]
        with tf.control_dependencies(checks):
            valid = tf.sequence_mask(lengths, tf.shape(frame_features)[1])[..., None]  # padding may hold anything
            checks.append(tf.debugging.assert_equal(
                tf.reduce_all(tf.math.is_finite(frame_features) | ~valid), True,
                message="frame_features: features must be finite (no NaN or Inf) up to each video's length"))
        with tf.control_dependencies(checks):
            return frame_outputs(net, tf.identity(frame_features), lengths)

    def step(frame_features, state_r, state_c):
        # a NaN answer's state, fed back, spoilt every later chunk of that stream
        checks = [tf.debugging.assert_all_finite(x, f"localize_step: {name} must be finite (no NaN or Inf)")
                  for name, x in (("frame_features", frame_features), ("state_r", state_r), ("state_c", state_c))]
        with tf.control_dependencies(checks):
            outputs, final = net(tf.identity(frame_features), states=split_states(net, state_r, state_c),
                                 training=False)
        return {**served(outputs), **join_states(final, tf.shape(frame_features)[0])}

    def localized(frames, video_ends=None):
        # the per-frame outputs are returned too: one call gives segments and the evidence they came from
        return {**frames, **localize_batch(class_evidence(frames), frames["timestamps"], frames["num_frames"],
                                           localize_config.for_evidence("actionness" in frames), video_ends)}

    def localize(examples):
        inputs, context = parse(examples, DURATION_SPEC)
        frames = frames_of(*inputs)
        with tf.control_dependencies(timestamp_checks(frames["timestamps"], frames["num_frames"], "localize")):
            return localized({k: tf.identity(v) for k, v in frames.items()}, context[names.DURATION])

    def localize_frames(frames, timestamps):
        checks = [tf.debugging.assert_positive(tf.size(frames), message="localize_frames: no frames"),
                  tf.debugging.assert_equal(tf.size(timestamps), tf.size(frames),
                                            message="localize_frames: give one timestamp per frame")]
        with tf.control_dependencies(checks):
            checks += timestamp_checks(timestamps[None], tf.size(timestamps, out_type=tf.int64)[None], "localize_frames")
        with tf.control_dependencies(checks):
            features = frames_tf.featurize(frames, *backbone)
        return localized(frames_of(features[None], timestamps[None], tf.shape(features, out_type=tf.int64)[:1]))

    examples_spec = [tf.TensorSpec([None], tf.string, name="examples")]
    frames_endpoint = {"localize_frames": (localize_frames, [
        tf.TensorSpec([None], tf.string, name="frames"),
        tf.TensorSpec([None], tf.float32, name="timestamps")])} if backbone else {}
    return {
        "serving_default": (from_examples, examples_spec),
        "frame_features": (from_features, [
            tf.TensorSpec([None, None, feature_dim], tf.float32, name="frame_features"),
            tf.TensorSpec([None], tf.int32, name="lengths")]),
        "localize": (localize, examples_spec),
        "localize_step": (step, [
            tf.TensorSpec([None, None, feature_dim], tf.float32, name="frame_features"),
            tf.TensorSpec([None, sum(state_widths(net)[0])], tf.float32, name="state_r"),
            tf.TensorSpec([None, sum(state_widths(net)[1])], tf.float32, name="state_c")]),
        **frames_endpoint,
    }


# the records' duration, which ends the last frame's windows (laf.evaluate.evaluation.frame_bounds);
# a record without it (NaN: unknown) keeps the sampling interval
DURATION_SPEC = {names.DURATION: tf.io.FixedLenFeature([], tf.float32, default_value=float("nan"))}


def state_widths(net: keras.Model) -> Tuple[List[int], List[int]]:
    """Per recurrent layer, the widths of its projected output ``r`` and its cell ``c`` (the seen
    gate counts as a layer whose ``r`` is its memory, one per class, and whose ``c`` is one wide)."""
    sizes = list(net.state_sizes)
    return sizes[0::2], sizes[1::2]


def split_states(net: keras.Model, state_r, state_c) -> list:
    """``localize_step``'s state inputs (each layer's r, resp. c, side by side) -> the net's flat list."""
    r_sizes, c_sizes = state_widths(net)
    if not r_sizes:  # a stateless net (the single-frame CNN)
        return []
    rs, cs = tf.split(state_r, r_sizes, axis=-1), tf.split(state_c, c_sizes, axis=-1)
    return [s for pair in zip(rs, cs) for s in pair]


def join_states(final: list, batch) -> Dict[str, tf.Tensor]:
    """The net's flat final state list -> ``state_r`` / ``state_c`` (zero-width for a stateless net)."""
    if not final:
        return {"state_r": tf.zeros([batch, 0]), "state_c": tf.zeros([batch, 0])}
    return {"state_r": tf.concat(final[0::2], axis=-1), "state_c": tf.concat(final[1::2], axis=-1)}


def _featurizer(backbone: BackboneConfig, feature_dim: int) -> Optional[Tuple[keras.Model, int]]:
    """The backbone model and its input size; None, with a warning, when its features are not the
    net's (the config does not describe the training data: frames would meet the wrong features)."""
    model = build_backbone(backbone)
    if model.output_shape[-1] != feature_dim:
        warnings.warn(f"backbone {backbone.name} gives {model.output_shape[-1]}-d features, the net takes"
                      f" {feature_dim}-d: exported without localize_frames")
        return None
    return model, backbone.size


def export(net: keras.Model, feature_dim: int, path: str, localize_config: Optional[LocalizeConfig] = None,
           backbone: Optional[BackboneConfig] = None) -> str:
    """Write the SavedModel with the serving contract's signatures; ``backbone`` (the one ingestion
    featurized with, its weights included) adds ``localize_frames``."""
    net(tf.zeros([1, 1, feature_dim]), mask=tf.ones([1, 1], tf.bool))  # build the weights
    archive = keras.export.ExportArchive()
    archive.track(net)
    featurizer = _featurizer(backbone, feature_dim) if backbone is not None else None
    if featurizer is not None:
        archive.track(featurizer[0])
    for name, (fn, signature) in serving_endpoints(net, feature_dim, localize_config, featurizer).items():
        archive.add_endpoint(name, fn, input_signature=signature)
    archive.write_out(path, verbose=False)
    return path
