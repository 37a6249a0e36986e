"""pipeline.resolver: the Evaluator's baseline is the latest blessed model other than the run's own."""
from tfx.types import standard_artifacts

from pipeline.resolver import CANDIDATE, OtherBlessedModelStrategy


def _model(artifact_id: int) -> standard_artifacts.Model:
    model = standard_artifacts.Model()
    model.id = artifact_id
    return model


def _blessing(model_id: int, blessed: int) -> standard_artifacts.ModelBlessing:
    blessing = standard_artifacts.ModelBlessing()
    blessing.set_int_custom_property("current_model_id", model_id)
    blessing.set_int_custom_property("blessed", blessed)
    return blessing


def _resolve(own, models, blessings):
    found = OtherBlessedModelStrategy().resolve_artifacts(
        None, {"model": [_model(i) for i in models], "model_blessing": blessings, CANDIDATE: [_model(own)]})
    return [m.id for m in found["model"]], [b.get_int_custom_property("current_model_id") for b in found["model_blessing"]]


def test_the_run_s_own_model_is_never_its_baseline():
    blessings = [_blessing(1, 1), _blessing(2, 0), _blessing(3, 1)]
    assert _resolve(3, [1, 2, 3], blessings) == ([1], [1])  # its own (reused from cache): the one before
    assert _resolve(4, [1, 2, 3, 4], blessings) == ([3], [3])  # a new model: the latest blessed, as TFX's
    assert _resolve(1, [1], [_blessing(1, 1)]) == ([], [])  # only its own: none, as on a first run
