"""Gathering the report's data (laf.report.collect): baselines files (with per-frame profiles) and a
pipeline root."""
import json

import numpy as np
import pytest

from laf import run_store
from laf.errors import UserError
from laf.report import collect
from schemas import transfer_files


def test_bad_baselines_are_user_errors(tmp_path):
    bad = tmp_path / "b.json"
    bad.write_text(json.dumps({"cnn": {"hit@1": 0.1}}))
    with pytest.raises(UserError, match="paper_tables"):
        collect.load_baselines(str(bad))
    with pytest.raises(UserError, match="cannot read"):
        collect.load_baselines(str(tmp_path / "missing.json"))
    bad.write_text(json.dumps({"results": {}, "profiles": {"cnn": [0.1, 0.2]}}))  # a list, not {key: [...]}
    with pytest.raises(UserError, match="paper_tables"):
        collect.load_baselines(str(bad))
    bad.write_text(json.dumps({"results": {"cnn": {"mAP@avg": {"mean": 0.5, "std": 0.1}}}}))  # mAP columns name a tIoU
    with pytest.raises(UserError, match="mAP@avg"):
        collect.load_baselines(str(bad))


def test_collect_needs_a_pipeline_root(tmp_path):
    with pytest.raises(UserError, match="metadata.sqlite"):
        collect.collect(str(tmp_path))


def _baselines(tmp_path, profiles=None):
    content = {"results": {"cnn": {"hit@1": {"mean": 0.5, "std": 0.1}}}}
    if profiles is not None:
        content["profiles"] = profiles
    path = tmp_path / "baselines.json"
    path.write_text(json.dumps(content))
    return str(path)


def test_baselines_with_and_without_profiles(tmp_path):
    means, stds, profiles = collect.load_baselines(_baselines(tmp_path))  # written before profiles existed
    assert means == {"cnn": {"hit@1": 0.5}} and stds == {"cnn": {"hit@1": 0.1}} and profiles == {}
    profile = {"offset": [-1, 0], "videos": [0, 3], "p_label": [None, 0.9], "action_share": [None, 1]}
    _, _, profiles = collect.load_baselines(_baselines(tmp_path, {"cnn": profile}))
    assert profiles == {"cnn": {"offset": [-1.0, 0.0], "videos": [0.0, 3.0], "p_label": [None, 0.9],
                                "action_share": [None, 1.0]}}


def test_undefined_means_load_as_nan_and_show_as_a_dash(tmp_path):
    """paper_tables writes a NaN mean (no frames before any action, no ground truth) as null."""
    from laf.report import page

    path = tmp_path / "baselines.json"
    path.write_text(json.dumps({"results": {"cnn": {"hit@1": {"mean": 0.5, "std": 0.1},
                                                    "p_label_before": {"mean": None, "std": None}}}}))
    means, stds, _ = collect.load_baselines(str(path))
    assert np.isnan(means["cnn"]["p_label_before"]) and stds == {"cnn": {"hit@1": 0.1}}
    assert page._number(means["cnn"]["p_label_before"]) == "–"


@pytest.mark.parametrize("profile", [{"offset": [0], "p_label": [0.5]},                          # no action_share
                                     {"offset": [0, 1], "p_label": [0.5], "action_share": [1, 0]},  # lengths differ
                                     {"offset": [0], "p_label": ["high"], "action_share": [1]}])    # not a number
def test_malformed_profiles_are_user_errors(tmp_path, profile):
    with pytest.raises(UserError, match="profiles"):
        collect.load_baselines(_baselines(tmp_path, {"cnn": profile}))


def test_paper_tables_profiles_load_and_draw(tmp_path):
    """The chain bench/paper_tables.py -> JSON -> laf report: diagnostics.mean_profile's output loads
    and draws (one p(label) line per method, actionness dashed where the method has one)."""
    from laf.evaluate import diagnostics
    from laf.report import page
    from schemas.records import VideoRecord
    from schemas.segment import Segment

    record = VideoRecord(video_id="v", label="A:y", label_index=1, features=np.zeros((8, 2), np.float32),
                         timestamps=np.arange(8, dtype=np.float32), fps=1.0, duration=8.0,
                         segments=[Segment(3, 5, "A:y")], segment_label_indices=[1])
    p = np.full((8, 2), 0.5)
    runs = {"cnn": [diagnostics.label_probability_profile([{"probabilities": p}], [record], 2, 3)],
            "lstm_laf": [diagnostics.label_probability_profile(
                [{"probabilities": p, "actionness": np.linspace(0, 1, 8)}], [record], 2, 3)] * 2}
    profiles = {m: diagnostics.mean_profile(r) for m, r in runs.items()}
    _, _, loaded = collect.load_baselines(_baselines(tmp_path, profiles))
    figure = page.profile_figure(loaded)
    assert len(figure.axes[0].lines) == 3 + 1  # 2 p(label), 1 actionness, the line at step 0
    import io

    page.profile_figure({r"my$\bad$method": loaded["cnn"]}).savefig(io.BytesIO(), format="png")  # a name, not TeX


def test_report_localizes_with_the_trainers_settings_without_an_evaluation(tmp_path):
    """A run whose Evaluator never finished: the report's windows are the run's (the custom_config of
    the model's Trainer, as exported into the model), not the paper's single window, and it says so."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    from bench_helpers import mlmd_store, put_execution
    from laf.evaluate import evaluation as ev

    store = mlmd_store(str(tmp_path / "metadata.sqlite"))
    put_execution(store, run_store.TRAINER, pb.Execution.COMPLETE, {"model": ("Model", tmp_path / "m1", True)})
    [model] = store.get_artifacts_by_type("Model")
    notes = []
    assert collect._localize_settings(None, store, model, notes) == ev.LocalizeConfig()
    assert "paper's defaults" in notes[-1]
    put_execution(store, run_store.TRAINER, pb.Execution.COMPLETE, {"model": ("Model", tmp_path / "m2", True)},
                  props={"custom_config": json.dumps(
                      {"epochs": 3, "localize": {"window": 7, "scales": [0.5, 1.0], "run_thresholds": [0.4]}})})
    [model] = [m for m in store.get_artifacts_by_type("Model") if m.uri.endswith("m2")]
    settings = collect._localize_settings(None, store, model, notes)
    assert (settings.window, list(settings.scales), list(settings.run_thresholds)) == (7, [0.5, 1.0], [0.4])
    assert "the Trainer's" in notes[-1]


def test_a_run_killed_in_training_is_a_report_with_notes_not_another_model_s(tmp_path):
    from laf.evaluate import run_records

    from bench_helpers import partial_run

    partial_run(tmp_path)
    data = collect.collect(str(tmp_path))
    assert any(n.startswith("no metrics of this run: the Evaluator's output") and "is missing" in n for n in data.notes)
    assert any("lacks a trained model (has the Trainer finished?)" in n for n in data.notes)
    assert run_records._model(run_store.open_store(str(tmp_path))) == (None, None)  # not DomainTransfer's image model


def test_a_rerun_stopped_before_its_evaluator_is_named_beside_the_earlier_run_s_metrics(tmp_path):
    """Two pipeline runs in one store; the evaluation belongs to the first: the report says its
    metrics and model are that run's, not the latest's."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    from bench_helpers import mlmd_store, put_execution

    store = mlmd_store(str(tmp_path / "metadata.sqlite"))
    kind = store.put_context_type(pb.ContextType(name="pipeline_run"))
    first, second = store.put_contexts([pb.Context(type_id=kind, name=name)  # LocalDagRunner: start times
                                    for name in ("2026-12-07T19:30:00", "2026-12-07T19:40:00")])
    evaluator = put_execution(store, run_store.EVALUATOR, pb.Execution.COMPLETE,
                              {"evaluation": ("ModelEvaluation", tmp_path / "eval", True)})
    store.put_attributions_and_associations([], [pb.Association(context_id=first, execution_id=evaluator)])
    [evaluation] = store.get_artifacts_by_type("ModelEvaluation")
    assert collect._older_run(store, run_store.producers(store, evaluation)) == [
        "the metrics, model, per-class AP, timelines and domain-transfer rounds are from run 1 of 2 in this pipeline"
        " root; the latest, run 2, has no finished Evaluator (stopped, or still running)"]
    store.put_attributions_and_associations([], [pb.Association(context_id=second, execution_id=evaluator)])
    assert collect._older_run(store, run_store.producers(store, evaluation)) == []  # a cached rerun's: the latest has it



def _lineage(found) -> dict:
    return {k: getattr(found, k).id for k in ("model", "examples", "rounds", "images")}


def test_a_cached_rerun_reports_its_own_run_not_the_one_with_the_newest_ids(tmp_path):
    """Runs A, B, then A again from cache: the cached executions link A's artifacts, whose ids are
    lower than B's. The report, `laf run`'s summary and the benches show A's evaluation, model,
    rounds, web images and push (before: B's, the highest ids of each type)."""
    from bench_helpers import mlmd_store, pipeline_run
    from laf.demo import run as demo
    from laf.evaluate import run_records
    from pipeline.config import PipelineConfig

    store = mlmd_store(str(tmp_path / "metadata.sqlite"))
    a = pipeline_run(store, tmp_path, 1)
    for n, root in enumerate([a, pipeline_run(store, tmp_path, 2)], 1):
        [pushed] = store.get_artifacts_by_id([root["pushed_model"]])
        pushed.custom_properties["pushed"].int_value = 1
        pushed.custom_properties["pushed_destination"].string_value = str(tmp_path / "serving" / str(n))
        store.put_artifacts([pushed])
        (tmp_path / "serving" / str(n)).mkdir(parents=True)
        (tmp_path / "serving" / str(n) / "saved_model.pb").write_bytes(b"")
    pipeline_run(store, tmp_path, 3, cached_from=a)
    found = collect.sources(store)
    assert _lineage(found) == {"model": a["model"], "examples": a["videos"], "rounds": a["rounds"], "images": a["images"]}
    assert found.evaluation.id == a["evaluation"]
    summary = demo.summarize(PipelineConfig(pipeline_root=str(tmp_path), serving_dir=str(tmp_path / "serving")))
    assert summary["pushed_model"] == run_records._model(store)[0] == str(tmp_path / "serving" / "1")


def test_without_an_evaluation_the_report_follows_the_trained_model_not_a_later_domain_transfer(tmp_path):
    """Run A stopped after its Trainer, run B after its DomainTransfer: the report shows A's model
    with the rounds, images and test videos it was trained from, not B's."""
    from bench_helpers import mlmd_store, pipeline_run

    store = mlmd_store(str(tmp_path / "metadata.sqlite"))
    a = pipeline_run(store, tmp_path, 1, last="Trainer")
    pipeline_run(store, tmp_path, 2, last="DomainTransfer")
    found = collect.sources(store)
    assert found.evaluation is None
    assert _lineage(found) == {"model": a["model"], "examples": a["videos"], "rounds": a["rounds"], "images": a["images"]}


def test_what_lacks_ground_truth_is_said_not_dropped():
    """Weakly labelled test videos and classes without a true test segment were left out of the per-class
    AP, the PR curves and the timelines without a word."""
    import types

    from laf.report import collect

    videos = [types.SimpleNamespace(segments=[object()]), types.SimpleNamespace(segments=[]),
              types.SimpleNamespace(segments=[])]
    notes = collect._missing_truth(videos, ["A:x", "A:y", "B:z"], {"A:x"})
    assert notes == ["2 of the 3 test videos have no ground-truth segments: they count towards no class's AP and get"
                     " no timeline",
                     "2 of the 3 classes have no ground-truth segment among the test videos, so no AP or PR curve:"
                     " A:y, B:z"]
    assert collect._missing_truth(videos[:1], ["A:x"], {"A:x"}) == []


def test_images_without_a_local_file_are_counted_per_class(tmp_path):
    """A class whose images are all URLs read "0 of 0 shown" as if it had none; the note gave one total."""
    from laf.report import collect

    (tmp_path / "a.jpg").write_bytes(b"jpeg")
    entries = [{"image_id": "1", "label": "A:x", "kept": True, "source": str(tmp_path / "a.jpg")},
               *[{"image_id": str(i), "label": "A:y", "kept": i % 2 == 0, "source": f"http://h/{i}.jpg"}
                 for i in range(2, 5)],
               {"image_id": "9", "label": "A:x", "kept": False, "source": str(tmp_path / "moved.jpg")}]
    (tmp_path / transfer_files.IMAGE_FILTER_FILE).write_text(json.dumps({"images": entries}))
    notes = []
    found = collect._image_examples(str(tmp_path), None, notes)
    assert found == {"A:x": {"kept": [str(tmp_path / "a.jpg")], "dropped": []}, "A:y": {"kept": [], "dropped": []}}
    assert notes == ["4 filtered images have no local file (URL or moved) and are not shown nor counted in the"
                     " per-class 'shown' figures: A:y 3, A:x 1"]


def test_a_kept_record_holds_no_view_of_its_features():
    """``features[:0]`` is a view: the report kept every test video's whole features alive."""
    from schemas.records import VideoRecord

    video = VideoRecord("v", "A:b", 0, np.ones((50, 8), np.float32), np.arange(50, dtype=np.float32), 1.0, 50.0)
    kept = collect._without_features(video)
    assert kept.features.shape == (0, 8) and kept.features.base is None and kept.video_id == "v"

