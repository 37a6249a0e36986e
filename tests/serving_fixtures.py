"""A small exported serving model and real encoded videos, built once per session (the
``served_model`` fixture in conftest) for the localize and REST tests: exporting and encoding
take ~15 s, so one copy serves them all."""
from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import List

import numpy as np

from laf.evaluate.evaluation import LocalizeConfig
from laf.ingest.backbones import BackboneConfig
from schemas.vocabulary import Vocabulary
import video_fixtures as vf

BACKBONE = BackboneConfig(name="mobilenet_v3_small", weights="none", input_size=32)
FPS = 2.0
CONFIG = LocalizeConfig(window=4, stride=2)  # small windows: several detections per class
VOCABULARY = Vocabulary.build(["Ball:Kick", "Ball:Throw", "Swim:Dive"])
BACKBONE_FLAGS = ["--backbone", BACKBONE.name, "--weights", "none", "--input-size", "32", "--fps", "2"]
CALIBRATED = "mobilenet_v3_small_32_calibrated.weights.h5"


@dataclasses.dataclass
class Served:
    root: pathlib.Path
    videos: List[str]     # kick.mp4 (9 s, H.264) and dive.webm (6.5 s, VP9)
    examples: List[bytes]  # their serialized records, featurized with BACKBONE at FPS
    model_dir: str        # signatures + labels.json only, as models were exported before assets
    pushed: str           # the same net exported with its featurizer: calibrated weights, features.json,
                          # and the backbone in the graph (``localize_frames``)
    bare: str             # a SavedModel without the contract's signatures


def build(root: pathlib.Path) -> Served:
    import keras
    import tensorflow as tf

    from laf.ingest.backbones import build_backbone, calibrate
    from laf.serve import assets
    from laf.serve.localize import IngestSettings, featurize
    from trainer import model, serving

    videos = [vf.encode(str(root / "kick.mp4"), "libx264", vf.cfr(9.0), tint=(80, 0, 0)),
              vf.encode(str(root / "dive.webm"), "libvpx-vp9", vf.cfr(6.5), tint=(0, 0, 80))]
    dim = int(build_backbone(BACKBONE).output_shape[-1])
    keras.utils.set_random_seed(1)
    net = model.build("lstmp", len(VOCABULARY), cells=16, projection=8)
    model_dir = str(root / "model")
    serving.export(net, dim, model_dir, CONFIG)
    assets.save(model_dir, VOCABULARY)

    # The demo's kind of backbone: random init, BatchNorm statistics calibrated on media. The
    # source file is removed once saved: the pushed model must be all a receiver needs.
    images = np.random.default_rng(0).integers(0, 256, (8, BACKBONE.size, BACKBONE.size, 3)).astype(np.float32)
    weights = calibrate(BACKBONE, images, str(root / "calibration" / CALIBRATED))
    pushed = str(root / "pushed" / "1")
    calibrated = dataclasses.replace(BACKBONE, weights=weights)
    serving.export(net, dim, pushed, CONFIG, calibrated)
    assets.save(pushed, VOCABULARY, IngestSettings(calibrated, FPS))
    os.remove(weights)

    bare = str(root / "bare")
    tf.saved_model.save(tf.Module(), bare)
    return Served(root, videos, featurize(videos, IngestSettings(BACKBONE, FPS)), model_dir, pushed, bare)
