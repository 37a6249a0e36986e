"""Model selection on the eval split by what the task cares about: video Hit@1 under the product's
fusion (``laf.evaluation.fuse``), computed each epoch on whole eval videos.

Why not a validation loss alone: the paper tuned on validation videos, and with few of them a
weighted frame loss is noisy and rises early (the actionness part and the memory of context frames
start to overfit) while the class head is still learning what tells siblings apart. Hit@1 is
coarse on few videos, so ties are broken by the variant's own weighted validation loss:
``val_selection = val_hit@1 - TIE_BREAK * val_loss``, which early stopping, learning-rate decay and
the restored best epoch all watch.
"""
from __future__ import annotations

from typing import List, Sequence

import keras
import numpy as np
import tensorflow as tf

from laf import evaluation
from schemas import names
from trainer import data

MONITOR = "val_selection"
TIE_BREAK = 1e-3


def eval_videos(files: data.Files, dim: int) -> List[dict]:
    """Features [T, D] and label of every eval video (the eval split is small by design)."""
    spec = {names.FRAME_FEATURES: tf.io.FixedLenSequenceFeature([dim], tf.float32)}
    context = {names.LABEL_INDEX: tf.io.FixedLenFeature([], tf.int64)}
    out = []
    for serialized in data.records(files):
        ctx, seq = tf.io.parse_single_sequence_example(serialized, context, spec)
        out.append({"features": seq[names.FRAME_FEATURES].numpy(), "label": int(ctx[names.LABEL_INDEX])})
    return out


def video_hit_at_1(net: keras.Model, videos: Sequence[dict], batch: int = 32) -> float:
    """Hit@1 of whole-video outputs fused as the product fuses them."""
    from trainer.model import frame_outputs

    fused = []
    for i in range(0, len(videos), batch):
        group = videos[i:i + batch]
        lengths = np.array([len(v["features"]) for v in group], np.int32)
        x = np.zeros((len(group), max(lengths.max(), 1), group[0]["features"].shape[1]), np.float32)
        for j, v in enumerate(group):
            x[j, :lengths[j]] = v["features"]
        found = {k: t.numpy() for k, t in frame_outputs(net, x, lengths).items()}
        for j, n in enumerate(lengths):
            actionness = found["actionness"][j, :n] if "actionness" in found else None
            fused.append(evaluation.fuse(found["probabilities"][j, :n], actionness))
    return evaluation.hit_at_k(np.stack(fused), [v["label"] for v in videos], 1)


class EvalVideoMetrics(keras.callbacks.Callback):
    """Adds ``val_hit@1`` and ``val_selection`` to each epoch's logs (list it before the callbacks
    that read them)."""

    def __init__(self, net: keras.Model, videos: Sequence[dict]):
        super().__init__()
        self.net, self.videos = net, list(videos)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or not self.videos:
            return
        hit1 = video_hit_at_1(self.net, self.videos)
        logs["val_hit@1"] = hit1
        logs[MONITOR] = hit1 - TIE_BREAK * float(logs.get("val_loss", 0.0))
