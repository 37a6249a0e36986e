"""laf.ingest.backbones: a calibrated weights file is the same bytes in any process, and is read from any
``tf.io.gfile`` file system; weights that cannot be had fail in one line before any work."""
import hashlib
import tempfile
import urllib.request

import numpy as np
import pytest
import tensorflow as tf

from laf import cli
from laf.errors import UserError
from laf.ingest.backbones import BackboneConfig, build_backbone, calibrate, check_weights, local_copy

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


def test_a_weights_file_replaced_where_the_file_system_keeps_no_times_is_fetched_again(tmp_path, monkeypatch):
    """TF's ``ram://`` reports a modification time of 0: a weights file replaced there by another of the
    same length must be read anew, not from the first one's local copy."""
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # the copies: this test's own
    uri = f"ram://laf-test/{tmp_path.name}/replaced.weights.h5"
    copies = []
    for content in (b"first version", b"other version"):
        if tf.io.gfile.exists(uri):
            tf.io.gfile.remove(uri)  # ram:// appends to a file opened for writing
        with tf.io.gfile.GFile(uri, "wb") as f:
            f.write(content)
        assert tf.io.gfile.stat(uri).mtime_nsec == 0
        copies.append(local_copy(uri))
        with open(copies[-1], "rb") as f:
            assert f.read() == content
    assert copies[0] != copies[1] and copies[0].startswith(str(tmp_path / "tmp"))
    assert local_copy(uri) == copies[1]  # the same content, the same copy


def test_imagenet_weights_that_cannot_be_downloaded_fail_in_one_line(tmp_path, monkeypatch):
    """A real download attempt through a proxy that refuses every connection, into an empty Keras
    cache: what a machine without internet sees."""
    from keras.src.backend import config as keras_config

    (tmp_path / "keras").mkdir()  # writable, so Keras does not fall back to /tmp/.keras (maybe holding the weights)
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path / "keras"))
    for name in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.setattr(urllib.request, "_opener", None)  # urlopen's opener, built with the proxy above
    with pytest.raises(UserError, match="cannot get ImageNet weights for mobilenet_v3_small .*weights 'none'"):
        check_weights(BackboneConfig(weights="imagenet", input_size=32))


def test_missing_weights_file_is_refused_before_any_output(tmp_path, capsys):
    with pytest.raises(UserError, match="weights file not found"):
        check_weights(BackboneConfig(weights=str(tmp_path / "gone.weights.h5"), input_size=32))
    (tmp_path / "web" / "A:b").mkdir(parents=True)
    output = tmp_path / "out"
    assert cli.main(["extract", "images", "--root", str(tmp_path / "web"), "--output", str(output),
                     "--input-size", "32", "--weights", str(tmp_path / "gone.weights.h5")]) == 2
    assert "weights file not found" in capsys.readouterr().err and not output.exists()
    check_weights(BackboneConfig(weights="none", input_size=32))


def test_a_layer_the_backbone_lacks_is_refused_before_any_output(tmp_path):
    with pytest.raises(UserError, match=r"backbone mobilenet_v3_small .*layer expanded_conv_99_add.*No such layer"):
        check_weights(BackboneConfig(weights="none", layer="expanded_conv_99_add", input_size=32))
