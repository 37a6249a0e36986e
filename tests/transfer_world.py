"""Synthetic features whose truth is known, shared by the domain-transfer stage's tests (the
session fixtures ``transfer_world`` and ``transfer_run`` in conftest).

Videos hold a short run of action frames (around the class's action centre) inside context frames
(around a shared centre). Web images of each label are clean (the action centre), off the video
distribution (centres of actions no video shows: crawling errors), or images of another class.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from laf.transfer import domain_transfer as dt
from laf.transfer.config import TransferConfig
from laf.transfer.feature_stream import FeatureStream

N, D = 4, 32
CLEAN, OFF, OTHER = 0, 1, 2
FAST = dict(hidden_units=(64,), epochs=8, batch_size=64, svm_epochs=8, learning_rate=1e-2, theta1=0.5, theta2=0.5)
TINY = TransferConfig(max_rounds=1, epochs=1, hidden_units=(4,), theta1=0.5, theta2=0.5)


@dataclasses.dataclass
class Videos:
    features: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    action: np.ndarray  # True on true action frames

    def stream(self) -> FeatureStream:
        return FeatureStream.from_arrays(self.features, self.labels, self.groups)


def videos(rng, centers, per_class, t=20, action=6) -> Videos:
    feats, labels, groups, truth = [], [], [], []
    for c in range(N):
        for _ in range(per_class):
            x = rng.normal(scale=0.5, size=(t, D))
            s = rng.integers(0, t - action)
            x[s:s + action] += centers[c]
            feats.append(x)
            truth.append(np.arange(t) - s < action)
            truth[-1] &= np.arange(t) >= s
            labels += [c] * t
            groups += [len(feats) - 1] * t
    return Videos(np.concatenate(feats).astype(np.float32), np.array(labels), np.array(groups),
                  np.concatenate(truth))


def build() -> dict:
    """Train and validation videos, and web images of each label: clean, off the video distribution, or of
    another class (``kinds``)."""
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(N + 2, D))
    centers *= 4 / np.linalg.norm(centers, axis=1, keepdims=True)
    train, val = videos(rng, centers, 30), videos(rng, centers, 10)
    feats, labels, kinds = [], [], []
    for c in range(N):
        others = rng.choice([o for o in range(N) if o != c], 20)
        for kind, mean in ((CLEAN, centers[[c] * 60]), (OFF, centers[rng.integers(N, N + 2, 20)]),
                           (OTHER, centers[others])):
            feats.append(mean + rng.normal(scale=0.5, size=mean.shape))
            labels += [c] * len(mean)
            kinds += [kind] * len(mean)
    images = np.concatenate(feats).astype(np.float32)
    return dict(train=train, val=val, images=images, image_labels=np.array(labels), kinds=np.array(kinds))


def run(world: dict, **overrides) -> dt.TransferResult:
    cfg = TransferConfig(**{**FAST, **overrides})
    images = FeatureStream.from_arrays(world["images"], world["image_labels"])
    return dt.run(world["train"].stream(), images, world["val"].stream(), N, cfg)
