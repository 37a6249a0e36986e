"""pipeline.resolver: the Evaluator's baseline is the latest blessed model other than the run's own,
and only one the run's model can be compared with (real model assets)."""
import json

from tfx.types import standard_artifacts

from pipeline.resolver import CANDIDATE, OtherBlessedModelStrategy
from schemas.vocabulary import Vocabulary

LABELS = Vocabulary.build(["Pool:Crawl", "Pool:Fly"])


def _model(artifact_id: int, root=None, fps: float = 1.0) -> standard_artifacts.Model:
    """A Model artifact; under ``root``, with a serving folder whose assets say ``fps``."""
    model = standard_artifacts.Model()
    model.id = artifact_id
    if root is not None:
        assets = root / f"m{artifact_id}" / "Format-Serving" / "assets"
        assets.mkdir(parents=True)
        LABELS.save(str(assets))
        (assets / "features.json").write_text(json.dumps(
            {"backbone": {"name": "mobilenet_v3_small", "weights": "none", "layer": None, "input_size": 224},
             "fps": fps}))
        model.uri = str(root / f"m{artifact_id}")
    return model


def _blessing(model_id: int, blessed: int) -> standard_artifacts.ModelBlessing:
    blessing = standard_artifacts.ModelBlessing()
    blessing.set_int_custom_property("current_model_id", model_id)
    blessing.set_int_custom_property("blessed", blessed)
    return blessing


def _resolve(own, models, blessings):
    found = OtherBlessedModelStrategy().resolve_artifacts(
        None, {"model": models, "model_blessing": blessings, CANDIDATE: [own]})
    assert [m.id for m in found[CANDIDATE]] == [own.id]  # passed through
    return [m.id for m in found["model"]], [b.get_int_custom_property("current_model_id") for b in found["model_blessing"]]


def test_the_run_s_own_model_is_never_its_baseline(tmp_path):
    models = [_model(i, tmp_path) for i in (1, 2, 3, 4)]
    blessings = [_blessing(1, 1), _blessing(2, 0), _blessing(3, 1)]
    assert _resolve(models[2], models[:3], blessings) == ([1], [1])  # its own (reused from cache): the one before
    assert _resolve(models[3], models, blessings) == ([3], [3])  # a new model: the latest blessed, as TFX's
    assert _resolve(models[0], models[:1], [_blessing(1, 1)]) == ([], [])  # only its own: none, as on a first run


def test_a_blessed_model_of_other_features_is_no_baseline(tmp_path, caplog):
    """Features changed: the last run's model (1 fps) was refused before the run by pipeline.baseline
    and this run's (2 fps) blessed; rerun unchanged, the resolver skips the run's own and would take
    the 1 fps one, which cannot read its records."""
    old, new = _model(1, tmp_path, fps=1.0), _model(2, tmp_path, fps=2.0)
    with caplog.at_level("WARNING"):
        assert _resolve(new, [old, new], [_blessing(1, 1), _blessing(2, 1)]) == ([], [])
    assert "cannot be its baseline: it was trained on other features" in caplog.text
