"""laf.backbones: a calibrated weights file is the same bytes in any process."""
import hashlib

import numpy as np

from laf.backbones import BackboneConfig, build_backbone, calibrate

CONFIG = BackboneConfig(input_size=32)


def _sha(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_calibrated_weights_are_the_same_bytes_after_other_models_were_built(tmp_path):
    """Keras numbers auto-named layers per process; a file written after other models were
    built must not carry other names (``activation_18``) than one written first."""
    images = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    first = calibrate(CONFIG, images, str(tmp_path / "first.weights.h5"))
    build_backbone(CONFIG)
    second = calibrate(CONFIG, images, str(tmp_path / "second.weights.h5"))
    assert _sha(first) == _sha(second)
    features = build_backbone(BackboneConfig(weights=second, input_size=32))(images.astype(np.float32))
    assert features.shape == (8, 576) and float(np.std(features)) > 0
