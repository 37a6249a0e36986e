"""What a pushed model carries in ``assets/`` so it localizes raw videos on its own.

A model only understands the features of the backbone it was trained on. The trainer writes that
featurizer (backbone config and sampling fps) as ``assets/features.json``, copies a backbone
weights file into ``assets/`` (a public name such as ``imagenet`` or ``none`` stays a name), and
the label vocabulary as ``assets/labels.json``. Whoever receives the model directory (a TF
Serving host, a colleague) then needs no pipeline root: :func:`load` gives the settings back.
Paths go through ``tf.io.gfile`` on the writing side, as the trainer may write to ``gs://``.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any, Dict, Optional

from laf import files
from laf.errors import UserError
from laf.ingest.backbones import PUBLIC_WEIGHTS, BackboneConfig
from laf.serve.localize import IngestSettings, model_vocabulary
from schemas.vocabulary import Vocabulary

FEATURES_FILE = "features.json"


def save(model_dir: str, vocabulary: Optional[Vocabulary], settings: Optional[IngestSettings] = None) -> str:
    """Write ``labels.json`` (when known) and the featurizer of ``settings`` (backbone and fps:
    ``features.json`` + a weights file) into the model's assets."""
    import tensorflow as tf

    assets = os.path.join(model_dir, "assets")
    tf.io.gfile.makedirs(assets)
    if vocabulary is not None:
        vocabulary.save(assets)
    if settings is None:
        return assets
    backbone = dataclasses.asdict(settings.backbone)
    if settings.backbone.weights not in PUBLIC_WEIGHTS:
        backbone["weights"] = os.path.basename(settings.backbone.weights)  # relative to assets/
        tf.io.gfile.copy(settings.backbone.weights, os.path.join(assets, backbone["weights"]), overwrite=True)
    with tf.io.gfile.GFile(os.path.join(assets, FEATURES_FILE), "w") as f:
        f.write(json.dumps({"backbone": backbone, "fps": settings.fps}, indent=1, sort_keys=True) + "\n")
    return assets


def _checked(backbone: BackboneConfig) -> BackboneConfig:
    """``backbone`` as read from JSON, refused (ValueError) where a field has the wrong type, which
    would otherwise fail later, far from the file."""
    def whole(value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    if not (isinstance(backbone.name, str) and backbone.name and isinstance(backbone.weights, str) and backbone.weights):
        raise ValueError("backbone name and weights must be non-empty strings")
    if backbone.layer is not None and not isinstance(backbone.layer, str):
        raise ValueError(f"backbone layer must be a name or null, got {backbone.layer!r}")
    if backbone.input_size is not None and not (whole(backbone.input_size) and backbone.input_size > 0):
        raise ValueError(f"backbone input_size must be a whole number > 0 or null, got {backbone.input_size!r}")
    if not whole(backbone.seed):
        raise ValueError(f"backbone seed must be a whole number, got {backbone.seed!r}")
    return backbone


def load(model_dir: str) -> Optional[IngestSettings]:
    """The settings a model's assets carry; None for a model exported without them."""
    assets = files.join(model_dir, "assets")
    path = files.join(assets, FEATURES_FILE)
    if not files.exists(path):
        return None
    try:
        found: Dict[str, Any] = json.loads(files.read_text(path, "features description"))
        backbone = _checked(BackboneConfig(**found["backbone"]))
        fps = float(found["fps"])
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a number > 0, got {found['fps']!r}")
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(f"{path} is not a features description: {e}") from None
    if backbone.weights not in PUBLIC_WEIGHTS:
        backbone = dataclasses.replace(backbone, weights=files.join(assets, backbone.weights))
    try:
        vocabulary = model_vocabulary(model_dir)
    except Exception as e:  # noqa: BLE001 -- any unreadable labels.json is the user's to fix
        raise UserError(f"cannot read the label vocabulary in {assets}: {e}") from None
    return IngestSettings(backbone, fps, vocabulary)
