"""Model selection on the eval split by what the task cares about, computed each epoch:
``val_selection = val_hit@1 + val_accuracy``, which early stopping, learning-rate decay and the
restored best epoch all watch.

- ``val_hit@1``: video Hit@1 of whole eval videos under the product's fusion
  (``laf.evaluate.evaluation.fuse``): the paper tuned on validation videos. Coarse when they are few.
- ``val_accuracy``: the class head's frame accuracy on the eval split, weighted as the variant
  trains (``trainer.model.StreamTrainer``): what the variant optimises, on many frames.

Why not the weighted validation loss: measured on the demo, it rises after a few epochs (confident
mistakes on the few eval videos' uncertain frames) while the accuracy on test action frames keeps
climbing from 0.6 to 0.85; both accuracies above climb with it.
"""
from __future__ import annotations

from typing import List, Sequence

import keras
import numpy as np
import tensorflow as tf

from laf.evaluate import evaluation
from laf.evaluate import batches
from schemas import names
from trainer import data

MONITOR = "val_selection"
MAX_VIDEOS = 512  # eval videos held for Hit@1: bounds memory on large eval splits (in record order)


def eval_videos(files: data.Files, dim: int, max_videos: int = MAX_VIDEOS) -> List[dict]:
    """Features [T, D] and label of the first ``max_videos`` eval videos, held in memory for the
    per-epoch Hit@1 (the weighted frame accuracy still streams the whole eval split)."""
    spec = {names.FRAME_FEATURES: tf.io.FixedLenSequenceFeature([dim], tf.float32)}
    context = {names.LABEL_INDEX: tf.io.FixedLenFeature([], tf.int64)}
    out = []
    for serialized in data.records(files).take(max_videos):
        ctx, seq = tf.io.parse_single_sequence_example(serialized, context, spec)
        out.append({"features": seq[names.FRAME_FEATURES].numpy(), "label": int(ctx[names.LABEL_INDEX])})
    return out


def video_hit_at_1(net: keras.Model, videos: Sequence[dict], batch: int = 32) -> float:
    """Hit@1 of whole-video outputs fused as the product fuses them."""
    from trainer.model import frame_outputs

    fused = []
    for i in range(0, len(videos), batch):
        x, lengths = batches.pad([v["features"] for v in videos[i:i + batch]])
        for out in batches.unpad({k: t.numpy() for k, t in frame_outputs(net, x, lengths).items()}, lengths):
            fused.append(evaluation.fuse(out["probabilities"], out.get("actionness")))
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
        logs[MONITOR] = hit1 + float(logs.get("val_accuracy", 0.0))
