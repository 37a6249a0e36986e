"""``tf.scan`` over time steps that also takes zero of them.

Why: in a SavedModel the batch size is unknown, and ``tf.scan`` cannot stack the outputs of zero
steps whose shape is not fully known ("Tried to stack elements of an empty list"), so a request
holding only videos without frames failed with a graph error. A sequence without steps gets one
zero step, whose outputs are dropped again.
"""
from __future__ import annotations

from typing import Any, Callable

import tensorflow as tf


def time_scan(fn: Callable[[Any, Any], Any], elems: Any, initializer: Any) -> Any:
    """``tf.scan(fn, elems, initializer)`` over time-major ``elems`` (a tensor or a tuple of
    tensors, time first), correct for zero steps: then every output has zero steps."""
    flat = tf.nest.flatten(elems)
    steps = tf.shape(flat[0])[0]
    pad = tf.maximum(1 - steps, 0)
    padded = [tf.pad(x, [[0, pad]] + [[0, 0]] * (len(x.shape) - 1)) for x in flat]
    out = tf.scan(fn, tf.nest.pack_sequence_as(elems, padded), initializer=initializer)
    return tf.nest.map_structure(lambda x: x[:steps], out)
