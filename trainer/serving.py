"""The serving export: the SavedModel's signatures over a trained net (``trainer.model``).

Serving takes raw features (the net standardises them itself) or serialized video
SequenceExamples (``schemas``), so TF Serving needs nothing from this package.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

import keras
import tensorflow as tf

from laf.evaluation import LocalizeConfig
from laf.serve.localize_tf import localize_batch
from schemas import names
from schemas.parsing import video_sequence_spec
from trainer.model import class_evidence, frame_outputs


Endpoint = Tuple[Callable, List[tf.TensorSpec]]


def serving_endpoints(net: keras.Model, feature_dim: int,
                      localize_config: Optional[LocalizeConfig] = None) -> Dict[str, Endpoint]:
    """The serving contract's signatures: ``serving_default``, ``frame_features``, ``localize`` and
    ``localize_step``.

    ``serving_default`` also returns the frame ``timestamps`` so TFMA's localization metrics
    use the true sampling times; ``localize`` runs the evaluation library's sliding window +
    NMS in the graph (``laf.serve.localize_tf``) over the class evidence (p x actionness), so TF
    Serving returns segments directly, with the per-frame outputs of ``serving_default`` they
    came from. ``localize_step`` is one chunk of a stream with explicit state in and out
    (``state_r``, ``state_c``: zeros to start), so a client can stream through a model server that
    holds no session; chained over chunks it equals ``frame_features`` on the whole sequence.
    """
    localize_config = localize_config or LocalizeConfig()

    def parse(examples):
        _, sequences, lengths = tf.io.parse_sequence_example(
            examples, sequence_features=video_sequence_spec(feature_dim))
        num_frames = tf.cast(lengths[names.FRAME_FEATURES], tf.int64)
        return sequences[names.FRAME_FEATURES], sequences[names.TIMESTAMP], num_frames

    def from_examples(examples):
        features, timestamps, num_frames = parse(examples)
        return {**frame_outputs(net, features, num_frames), "timestamps": timestamps, "num_frames": num_frames}

    def from_features(frame_features, lengths):
        return frame_outputs(net, frame_features, lengths)

    def step(frame_features, state_r, state_c):
        outputs, final = net(frame_features, states=split_states(net, state_r, state_c), training=False)
        return {**outputs, **join_states(final, tf.shape(frame_features)[0])}

    def localize(examples):
        frames = from_examples(examples)  # returned too: one call gives segments and their per-frame evidence
        return {**frames, **localize_batch(class_evidence(frames), frames["timestamps"], frames["num_frames"],
                                           localize_config)}

    examples_spec = [tf.TensorSpec([None], tf.string, name="examples")]
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
    }


def state_widths(net: keras.Model) -> Tuple[List[int], List[int]]:
    """Per recurrent layer, the widths of its projected output ``r`` and its cell ``c``."""
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


def export(net: keras.Model, feature_dim: int, path: str,
           localize_config: Optional[LocalizeConfig] = None) -> str:
    """Write the SavedModel with the serving contract's signatures."""
    net(tf.zeros([1, 1, feature_dim]), mask=tf.ones([1, 1], tf.bool))  # build the weights
    archive = keras.export.ExportArchive()
    archive.track(net)
    for name, (fn, signature) in serving_endpoints(net, feature_dim, localize_config).items():
        archive.add_endpoint(name, fn, input_signature=signature)
    archive.write_out(path, verbose=False)
    return path
