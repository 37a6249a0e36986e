"""tf.data parsing of the contract's records (graph-side twin of ``schemas.records``)."""
from __future__ import annotations

from typing import Dict

import tensorflow as tf

from schemas import names


def video_context_spec() -> Dict[str, tf.io.FixedLenFeature]:
    return {
        names.VIDEO_ID: tf.io.FixedLenFeature([], tf.string),
        names.LABEL_INDEX: tf.io.FixedLenFeature([], tf.int64),
        names.NUM_FRAMES: tf.io.FixedLenFeature([], tf.int64),
        names.FPS: tf.io.FixedLenFeature([], tf.float32),
        names.DURATION: tf.io.FixedLenFeature([], tf.float32),
        names.GT_START: tf.io.VarLenFeature(tf.float32),
        names.GT_END: tf.io.VarLenFeature(tf.float32),
        names.GT_LABEL_INDEX: tf.io.VarLenFeature(tf.int64),
    }


def video_sequence_spec(feature_dim: int, with_laf: bool = False) -> Dict[str, tf.io.FixedLenSequenceFeature]:
    spec = {
        names.FRAME_FEATURES: tf.io.FixedLenSequenceFeature([feature_dim], tf.float32),
        names.TIMESTAMP: tf.io.FixedLenSequenceFeature([], tf.float32),
    }
    if with_laf:
        spec[names.LAF_SCORE] = tf.io.FixedLenSequenceFeature([], tf.float32)
    return spec


def parse_video(serialized: tf.Tensor, feature_dim: int, with_laf: bool = False) -> Dict[str, tf.Tensor]:
    """One serialized SequenceExample -> dict of dense tensors (segments densified)."""
    context, sequence = tf.io.parse_single_sequence_example(
        serialized, video_context_spec(), video_sequence_spec(feature_dim, with_laf))
    out = dict(sequence)
    for key, value in context.items():
        out[key] = tf.sparse.to_dense(value) if isinstance(value, tf.sparse.SparseTensor) else value
    return out


def image_spec(feature_dim: int) -> Dict[str, tf.io.FixedLenFeature]:
    return {
        names.IMAGE_FEATURES: tf.io.FixedLenFeature([feature_dim], tf.float32),
        names.LABEL_INDEX: tf.io.FixedLenFeature([], tf.int64),
        names.IMAGE_ID: tf.io.FixedLenFeature([], tf.string),
    }


def parse_image(serialized: tf.Tensor, feature_dim: int) -> Dict[str, tf.Tensor]:
    return tf.io.parse_single_example(serialized, image_spec(feature_dim))
