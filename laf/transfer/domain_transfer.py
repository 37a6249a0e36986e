"""Bidirectional domain transfer between web images and video frames (paper §3.2, Algorithm 1).

Loop, from I = all images and V = all frames:
  1. train CNN_v on V;  2. score I;  3. keep I with CNN_v(I)[a_I] > theta1;
  4. train CNN_i on I;  5. score V;  6. keep V with CNN_i(V)[a_V] > theta2.
After each round one-vs-rest linear SVMs trained on V classify the validation videos (their frame
responses averaged over each video's most action-like frames by CNN_i,
:func:`laf.transfer.heads.video_accuracy`); the loop stops when that accuracy drops (the previous round
is kept), when a round after the first keeps no images or no frames (the previous round is kept;
``stop_reason`` in ``rounds.json`` says which; in round 1 it is an error naming the settings), or after
``max_rounds``. The result is CNN_i, the LAF proposal model, and
LAF(V) = CNN_i(V)[a_V] for every training frame.

The stage's other modules: ``config`` (the parameters), ``feature_stream`` (the rows, re-read every
round, never all held), ``heads`` (CNN_v, CNN_i and the SVMs; training and scoring passes), ``floor``
(one filtering step and its class floor), ``outputs`` (what the component writes).
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from laf.errors import UserError
from laf.transfer.config import TransferConfig
from laf.transfer.feature_stream import FeatureStream, check_finite, reading_errors
from laf.transfer.floor import FloorCase, filter_step
from laf.transfer.heads import build_head, build_svm, fit, own_label_scores, video_accuracy

log = logging.getLogger(__name__)


@dataclasses.dataclass
class RoundLog:
    round: int
    images_kept: int
    images_kept_per_class: Dict[str, int]
    frames_kept: int
    val_accuracy: float


@dataclasses.dataclass
class TransferResult:
    model: object                 # CNN_i of the chosen round (Keras model over feature vectors)
    laf: np.ndarray               # [frames] LAF(V) = CNN_i(V)[a_V] for every training frame
    image_mask: np.ndarray        # kept images I of the chosen round
    frame_mask: np.ndarray        # kept frames V of the chosen round
    rounds: List[RoundLog]
    chosen_round: int
    floor_cases: List[FloorCase]
    config: TransferConfig
    stop_reason: str              # why the loop ended, for the person reading rounds.json

    def rounds_json(self) -> dict:
        return {"rounds": [dataclasses.asdict(r) for r in self.rounds], "chosen_round": self.chosen_round,
                "stop_reason": self.stop_reason, "theta1": self.config.theta1, "theta2": self.config.theta2}


def chosen_round(accuracies: Sequence[float]) -> Tuple[int, bool]:
    """(round to keep, stop now) after the given per-round validation accuracies (round = index+1)."""
    if len(accuracies) >= 2 and accuracies[-1] < accuracies[-2]:
        return len(accuracies) - 1, True
    return len(accuracies), False


def run(frames: FeatureStream, images: FeatureStream, validation: FeatureStream, num_classes: int,
        cfg: TransferConfig, label_names: Optional[Sequence[str]] = None) -> TransferResult:
    """Algorithm 1 with the paper's stopping criterion; deterministic for ``cfg.seed``."""
    with reading_errors():
        return _run(frames, images, validation, num_classes, cfg, label_names)


def check_trained(frames: FeatureStream, held_out: FeatureStream, split: str, num_classes: int,
                  label_names: Sequence[str]) -> None:
    """Refuse a ``split`` (eval, test) whose videos name an action without training frames (neither
    transfer nor the trainer could learn it, so those videos would all miss) or hold features of
    another size (another backbone). Reads only labels and the first record."""
    untrained = ((np.bincount(frames.labels, minlength=num_classes) == 0)
                 & (np.bincount(held_out.labels, minlength=num_classes) > 0))
    if untrained.any():
        raise UserError("no training videos for " + ", ".join(repr(label_names[c]) for c in np.flatnonzero(untrained))
                        + f": every action with {split} videos needs videos in the train split (were they all"
                        " rejected at ingestion? see the videos' rejected.jsonl)")
    if len(held_out) and held_out.dim != frames.dim:
        raise UserError(f"feature sizes differ: train {frames.dim}, {split} {held_out.dim}")


def _check_inputs(frames: FeatureStream, images: FeatureStream, validation: FeatureStream,
                  num_classes: int, label_names: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
    """Refuse, before any training, what would fail late or train a class on nothing; returns
    the training frames' moments (mean, std)."""
    if len(frames) == 0 or len(images) == 0 or len(validation) == 0:
        raise UserError(f"domain transfer needs training frames, images and validation frames; got "
                        f"{len(frames)}, {len(images)} and {len(validation)} (an empty one: were its videos or"
                        " images all rejected at ingestion? see the rejected.jsonl beside its records)")
    if not (frames.dim == images.dim == validation.dim):
        raise UserError(f"feature sizes differ: frames {frames.dim}, images {images.dim}, "
                        f"validation {validation.dim}")
    check_trained(frames, validation, "eval", num_classes, label_names)
    with_frames = np.bincount(frames.labels, minlength=num_classes) > 0
    starved = with_frames & (np.bincount(images.labels, minlength=num_classes) == 0)
    if starved.any():  # CNN_i could never score their frames: LAF ~ 0, a LAF-weighted class unlearned
        raise UserError("no web images for " + ", ".join(repr(label_names[c]) for c in np.flatnonzero(starved))
                        + ": every action with training videos needs images (were they all rejected at ingestion,"
                        " or kept under another label as the same bytes? see the images' rejected.jsonl and"
                        " duplicates.jsonl; crawl more, or drop the action)")
    moments = check_finite(frames, "training frames", frames.moments())
    check_finite(images, "images")
    check_finite(validation, "validation frames")  # their accuracy decides when the loop stops
    return moments


def _run(frames: FeatureStream, images: FeatureStream, validation: FeatureStream, num_classes: int,
         cfg: TransferConfig, label_names: Optional[Sequence[str]]) -> TransferResult:
    cfg.validate()
    tf.config.experimental.enable_op_determinism()  # same rows and seed, same LAF scores
    tf.random.set_seed(cfg.seed)  # the shuffles' op seeds combine with it: not whatever the process set before
    label_names = list(label_names) if label_names is not None else [str(i) for i in range(num_classes)]
    if len(label_names) != num_classes:  # the floor sizes classes by the names: an IndexError after round 1
        raise UserError(f"{len(label_names)} label names for {num_classes} classes")
    moments = _check_inputs(frames, images, validation, num_classes, label_names)  # the SVMs standardise with these
    image_mask = np.ones(len(images), bool)
    frame_mask = np.ones(len(frames), bool)
    rounds: List[RoundLog] = []
    floor_cases: List[FloorCase] = []
    kept = None
    stop_reason = f"max_rounds ({cfg.max_rounds}) reached"
    for r in range(1, cfg.max_rounds + 1):
        seed = cfg.seed * 1000 + r * 10
        cnn_v = fit(build_head(frames.dim, num_classes, cfg.hidden_units, seed, cfg.learning_rate),
                    frames, frame_mask, num_classes, cfg.epochs, cfg, seed)                   # 1
        image_scores = own_label_scores(cnn_v, images)                                        # 2
        image_mask, cases = filter_step(r, "images", image_mask, image_scores, cfg.theta1,     # 3
                                        images.labels, cfg.min_images_per_class, label_names)
        floor_cases += cases
        if _nothing_kept(r, "images", image_mask, "theta1", cfg.theta1):
            stop_reason = f"round {r} kept no images (theta1 {cfg.theta1:g})"
            break
        cnn_i = fit(build_head(images.dim, num_classes, cfg.hidden_units, seed + 1, cfg.learning_rate),
                    images, image_mask, num_classes, cfg.epochs, cfg, seed + 1)               # 4
        laf = own_label_scores(cnn_i, frames)                                                 # 5
        frame_mask, cases = filter_step(r, "frames", frame_mask, laf, cfg.theta2,              # 6
                                        frames.labels, cfg.min_frames_per_class, label_names)
        floor_cases += cases
        if _nothing_kept(r, "frames", frame_mask, "theta2", cfg.theta2):
            stop_reason = f"round {r} kept no frames (theta2 {cfg.theta2:g})"
            break
        svm = fit(build_svm(frames.dim, num_classes, cfg.svm_l2, seed + 2, cfg.learning_rate, moments),
                  frames, frame_mask, num_classes, cfg.svm_epochs, cfg, seed + 2, one_hot=True)
        per_class = np.bincount(images.labels[image_mask], minlength=num_classes)
        entry = RoundLog(r, int(image_mask.sum()), {label_names[c]: int(per_class[c]) for c in range(num_classes)},
                         int(frame_mask.sum()), video_accuracy(svm, validation, cnn_i))
        rounds.append(entry)
        log.info("domain transfer round %d: %s", r, entry)
        chosen, stop = chosen_round([e.val_accuracy for e in rounds])
        if stop:
            stop_reason = (f"validation accuracy fell in round {r} ({rounds[-1].val_accuracy:.4f} after"
                           f" {rounds[-2].val_accuracy:.4f})")
            break
        kept = (cnn_i, laf, image_mask.copy(), frame_mask.copy())
    model, laf, image_mask, frame_mask = kept
    floor_cases = [c for c in floor_cases if c.round <= len(rounds)]  # as rounds.json: not a round that kept nothing
    return TransferResult(model, laf, image_mask, frame_mask, rounds, chosen, floor_cases, cfg, stop_reason)


def _nothing_kept(r: int, kind: str, mask: np.ndarray, theta_key: str, theta: float) -> bool:
    """Whether round ``r`` filtered out every one of ``kind`` (only a class floor of 0 allows it): then
    the round before is the result (True), as when validation accuracy drops; in round 1 there is
    none, which is an error naming the settings."""
    if mask.any():
        return False
    if r == 1:
        raise UserError(f"domain transfer round 1 kept no {kind}: each scored at most domain_transfer.{theta_key}="
                        f"{theta} and domain_transfer.min_{kind}_per_class is 0; lower the threshold or raise the"
                        " floor")
    log.warning("domain transfer round %d kept no %s (each scored at most %s=%s, and the class floor is 0): round %d"
                " is the result", r, kind, theta_key, theta, r - 1)
    return True
