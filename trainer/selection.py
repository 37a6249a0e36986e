"""Model selection on the eval split by what the task cares about, computed each epoch:
``val_selection = val_hit@1 + val_accuracy``, which early stopping, learning-rate decay and the
restored best epoch all watch (:class:`RestoreBest`).

- ``val_hit@1``: video Hit@1 of whole eval videos under the product's fusion
  (``laf.evaluate.evaluation.fuse``): the paper tuned on validation videos. Coarse when they are few.
- ``val_accuracy``: the class head's frame accuracy on the eval split, weighted as the variant
  trains (``trainer.model.StreamTrainer``): what the variant optimises, on many frames.

Why not the weighted validation loss: measured on the demo, it rises after a few epochs (confident
mistakes on the few eval videos' uncertain frames) while the accuracy on test action frames keeps
climbing from 0.6 to 0.85; both accuracies above climb with it.
"""
from __future__ import annotations

import logging
from typing import Callable, Iterable, Iterator, Optional, Sized

import keras
import numpy as np
import tensorflow as tf

from laf.evaluate import evaluation
from laf.evaluate import batches
from schemas import names
from trainer import data

log = logging.getLogger(__name__)

MONITOR = "val_selection"
class EvalVideos:
    """The eval split's videos (``features`` [T, D], ``label``), re-read from the records at each
    pass: the per-epoch Hit@1 covers every eval video while memory holds one batch of them."""

    def __init__(self, files: data.Files, dim: int, count: Optional[int] = None):
        """``count``: the number of records when the caller knows it (from ``data.check_records``)."""
        self.files, self.dim = files, dim
        self._count = count if count is not None else int(
            data.records(files).reduce(np.int64(0), lambda n, _: n + 1).numpy())

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[dict]:
        context = {names.LABEL_INDEX: tf.io.FixedLenFeature([], tf.int64)}
        for found, features in data.whole_videos(self.files, self.dim, context):
            yield {"features": features, "label": int(found[names.LABEL_INDEX])}


def video_hit_at_1(outputs: Callable, videos: Iterable[dict], batch: int = 32,
                   slots: int = batches.FRAME_SLOTS) -> float:
    """Hit@1 of whole-video ``outputs(features, lengths)`` (``trainer.model.traced_outputs``) fused as
    the product fuses them (``videos`` is read once, a batch at a time, of at most ``slots`` padded
    frames)."""
    fused, labels = [], []
    for group in batches.groups(videos, lambda video: len(video["features"]), batch, slots):
        x, lengths = batches.pad([v["features"] for v in group])
        for out in batches.unpad({k: t.numpy() for k, t in outputs(x, lengths).items()}, lengths):
            fused.append(evaluation.fuse(out["probabilities"], out.get("actionness")))
        labels += [v["label"] for v in group]
    return evaluation.hit_at_k(np.stack(fused), labels, 1)


def tolerance(videos: Sized) -> float:
    """One eval video's worth of ``val_hit@1``: the smallest difference of the selection quantity
    that is more than one video's luck."""
    return 1.0 / max(len(videos), 1)


class RestoreBest(keras.callbacks.EarlyStopping):
    """Early stopping on :data:`MONITOR`; at the end of training, the best epoch's weights are
    restored only when that epoch beat the last one by more than ``tolerance``.

    Why: the selection quantity is an estimate from few eval videos, and late in a schedule that
    anneals the rate its epochs differ by less than one video. The best of those near ties is a
    lucky fluctuation of an earlier, higher rate, and restoring it adds its luck to the model:
    measured on the bench run (LSTM w/o LAF, 48 eval videos), seed 0's best epoch beat its last by
    0.008 in selection and scored test mAP@0.5 0.597 against the last epoch's 0.511; seeds 1 and 2
    beat theirs by 0.06-0.07 and are still restored. The seed spread fell from 0.058 to 0.021; the
    product's method converges, its best and last epochs score the same.
    """

    def __init__(self, patience: int, tolerance: float):
        super().__init__(monitor=MONITOR, mode="max", patience=patience, restore_best_weights=True)
        self.tolerance, self.last, self.kept_epoch = tolerance, None, None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.last, self.kept_epoch = None, None

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if (logs or {}).get(MONITOR) is not None:
            self.last, self.kept_epoch = float(logs[MONITOR]), epoch

    def on_train_end(self, logs=None):
        if self.last is not None and self.best_weights is not None and self.best - self.last > self.tolerance:
            self.kept_epoch = self.best_epoch
        else:
            self.best_weights = None  # keep the last epoch's weights
        super().on_train_end(logs)
        if self.kept_epoch is not None:
            log.info("model selection: kept epoch %d (%s: best epoch %d %.4f, last %.4f, tolerance %.4f)",
                     self.kept_epoch + 1, MONITOR, self.best_epoch + 1, self.best, self.last, self.tolerance)


class EvalVideoMetrics(keras.callbacks.Callback):
    """Adds ``val_hit@1`` and ``val_selection`` to each epoch's logs (list it before the callbacks
    that read them)."""

    def __init__(self, net: keras.Model, videos: Sized):
        super().__init__()
        from trainer.model import traced_outputs

        self.outputs, self.videos = traced_outputs(net), videos  # a list, or EvalVideos (re-read at each epoch)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or not len(self.videos):
            return
        hit1 = video_hit_at_1(self.outputs, self.videos)
        logs["val_hit@1"] = hit1
        logs[MONITOR] = hit1 + float(logs.get("val_accuracy", 0.0))
