"""laf.serve.assets: a model's features description is read back as written, and a malformed one is a
one-line error naming the file, not a TypeError far from it."""
import json

import pytest

from laf.errors import UserError
from laf.ingest.backbones import BackboneConfig
from laf.serve import assets

GOOD = {"name": "mobilenet_v3_small", "weights": "none", "layer": None, "input_size": 112, "seed": 0}


def _model(tmp_path, backbone, fps=2.0) -> str:
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / assets.FEATURES_FILE).write_text(json.dumps({"backbone": backbone, "fps": fps}))
    return str(tmp_path)


def test_a_good_description_is_read_back(tmp_path):
    settings = assets.load(_model(tmp_path, GOOD))
    assert settings.backbone == BackboneConfig(**GOOD) and settings.fps == 2.0


@pytest.mark.parametrize("field, value, message", [
    ("weights", None, "name and weights must be non-empty strings"),
    ("name", "", "name and weights must be non-empty strings"),
    ("input_size", "112", "input_size must be a whole number > 0 or null, got '112'"),
    ("input_size", 0, "input_size must be a whole number > 0 or null, got 0"),
    ("input_size", True, "input_size must be a whole number > 0 or null, got True"),
    ("layer", 3, "layer must be a name or null, got 3"),
    ("seed", 1.5, "seed must be a whole number, got 1.5"),
    ("colour", "red", "unexpected keyword argument 'colour'"),
])
def test_a_malformed_description_is_named(tmp_path, field, value, message):
    with pytest.raises(UserError, match="features.json is not a features description: .*" + message):
        assets.load(_model(tmp_path, {**GOOD, field: value}))
