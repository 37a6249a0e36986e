"""laf.ingest.backbones: a calibrated weights file is the same bytes in any process, and is read from any
``tf.io.gfile`` file system."""
import hashlib

import numpy as np
import pytest
import tensorflow as tf

from laf.ingest.backbones import BackboneConfig, build_backbone, calibrate

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


def test_weights_file_on_another_file_system_gives_the_same_features(tmp_path):
    """A ``gs://``-style URI (here TF's ``ram://``) works where Keras needs a local path."""
    images = np.random.default_rng(1).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8).astype(np.float32)
    local = calibrate(CONFIG, images, str(tmp_path / "local.weights.h5"))
    uri = "ram://laf-test/remote.weights.h5"
    tf.io.gfile.copy(local, uri, overwrite=True)
    want = build_backbone(BackboneConfig(weights=local, input_size=32))(images)
    got = build_backbone(BackboneConfig(weights=uri, input_size=32))(images)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    with pytest.raises(FileNotFoundError, match="ram://laf-test/missing.weights.h5"):
        build_backbone(BackboneConfig(weights="ram://laf-test/missing.weights.h5", input_size=32))
