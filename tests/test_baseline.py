"""pipeline.baseline: the latest blessed model is the Evaluator's baseline only when it was trained
on the features and labels this run ingests (a real ML Metadata store, real model assets)."""
import dataclasses
import json

from ml_metadata.proto import metadata_store_pb2 as pb

from bench_helpers import context_id, mlmd_store, put_execution
from laf import run_store
from pipeline import baseline
from pipeline.config import FeaturesConfig, PipelineConfig
from schemas.vocabulary import Vocabulary

LABELS = Vocabulary.build(["Pool:Crawl", "Pool:Fly", "Pitch:Kick"])
PIPELINE = "laf"


def _blessed_model(root, name: str, blessed: int, vocabulary: Vocabulary, fps: float, size: int = 224,
                   pipeline: str = PIPELINE, weights: bytes = b"") -> None:
    """A Trainer's Model whose serving folder carries assets (a copy of a ``weights`` file when
    given), and an Evaluator's blessing of it, both in the context of ``pipeline`` (as TFX
    attributes a run's artifacts)."""
    assets = root / name / "Format-Serving" / "assets"
    assets.mkdir(parents=True)
    vocabulary.save(str(assets))
    if weights:
        (assets / "backbone.weights.h5").write_bytes(weights)
    (assets / "features.json").write_text(json.dumps(
        {"backbone": {"name": "mobilenet_v3_small", "weights": "backbone.weights.h5" if weights else "none",
                      "layer": None, "input_size": size}, "fps": fps}))
    store = mlmd_store(str(root / "metadata.sqlite"))
    put_execution(store, run_store.TRAINER, pb.Execution.COMPLETE,
                  outputs={"model": ("Model", root / name, True)})
    [model] = [a for a in store.get_artifacts_by_type("Model") if a.uri == str(root / name)]
    put_execution(store, run_store.EVALUATOR, pb.Execution.COMPLETE,
                  outputs={"blessing": ("ModelBlessing", root / f"{name}-blessing", True)}, inputs={"model": model.id})
    [blessing] = [a for a in store.get_artifacts_by_type("ModelBlessing") if a.uri == str(root / f"{name}-blessing")]
    blessing.custom_properties["blessed"].int_value = blessed
    blessing.custom_properties["current_model_id"].int_value = model.id
    store.put_artifacts([blessing])
    context = context_id(store, "pipeline", pipeline)
    store.put_attributions_and_associations([pb.Attribution(context_id=context, artifact_id=a.id)
                                             for a in (model, blessing)], [])


def test_a_blessed_model_of_other_features_or_labels_is_no_baseline(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    cfg = PipelineConfig(pipeline_name=PIPELINE, pipeline_root=str(root), features=FeaturesConfig(backbone="mobilenet_v3_small", weights="none",
                                                                          input_size=224, fps=1.0))
    assert baseline.mismatch(cfg, LABELS) is None  # no store yet: a first run
    _blessed_model(root, "same", 1, LABELS, fps=1.0)
    assert baseline.latest_blessed_model(str(root), PIPELINE) == str(root / "same" / "Format-Serving")
    assert baseline.mismatch(cfg, LABELS) is None
    _blessed_model(root, "unblessed", 0, LABELS, fps=2.0)  # the latest model, but not blessed: not the baseline
    assert baseline.mismatch(cfg, LABELS) is None
    _blessed_model(root, "faster", 1, LABELS, fps=2.0)
    assert "other features (mobilenet_v3_small, layer top, 224 px, 2 fps; this run: mobilenet_v3_small, layer top," \
           " 224 px, 1 fps)" in baseline.mismatch(cfg, LABELS)
    assert baseline.mismatch(dataclasses.replace(cfg, features=dataclasses.replace(cfg.features, fps=2.0)),
                             LABELS) is None
    _blessed_model(root, "another_pipeline", 1, LABELS, fps=3.0, pipeline="other")  # not this pipeline's
    assert "2 fps" in baseline.mismatch(cfg, LABELS)
    more = Vocabulary.build(list(LABELS.labels) + ["Pitch:Header"])
    _blessed_model(root, "fewer_labels", 1, LABELS, fps=1.0)
    assert baseline.mismatch(cfg, more) == "it was trained on other labels (3 labels; this run: 4)"


def test_weights_files_are_compared_by_their_bytes_and_an_unreadable_model_is_no_baseline(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    weights = tmp_path / "calibrated.weights.h5"
    weights.write_bytes(b"first")
    cfg = PipelineConfig(pipeline_name=PIPELINE, pipeline_root=str(root), features=FeaturesConfig(
        backbone="mobilenet_v3_small", weights=str(weights), fps=1.0))  # input_size unset: the backbone's 224
    _blessed_model(root, "copy", 1, LABELS, fps=1.0, weights=b"first")
    assert baseline.mismatch(cfg, LABELS) is None
    weights.write_bytes(b"rewritten")
    assert baseline.mismatch(cfg, LABELS) == "it was trained with other backbone weights (backbone.weights.h5)"
    (root / "copy" / "Format-Serving" / "assets" / "features.json").write_text("{not json")
    assert baseline.mismatch(cfg, LABELS).startswith("it cannot be compared (UserError: ")


def test_a_local_run_keeps_its_resolver_when_the_latest_blessed_model_is_no_baseline(tmp_path, capsys):
    """The resolver (``pipeline.resolver``) itself refuses such a model. Before, the note also took the
    resolver node out, which changed the Evaluator's input keys and so its cache key: rerunning an
    earlier configuration after another one's model was blessed evaluated the reused model again and
    pushed it as a new version."""
    from laf.ingest.manifest import Manifest
    from pipeline import local_runner
    from pipeline.config import DataConfig

    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "videos.csv").write_text("video_id,uri,label\n")
    (tmp_path / "images" / "Pool:Crawl").mkdir(parents=True)
    (tmp_path / "images" / "Pool:Crawl" / "a.jpg").write_bytes(b"not decoded here")
    cfg = PipelineConfig(pipeline_name=PIPELINE, pipeline_root=str(root), serving_dir=str(tmp_path / "serving"),
                         data=DataConfig(videos=str(tmp_path / "videos.csv"), images=str(tmp_path / "images")),
                         features=FeaturesConfig(backbone="mobilenet_v3_small", weights="none", input_size=224, fps=1.0))
    _blessed_model(root, "faster", 1, LABELS, fps=2.0)
    pipeline = local_runner.local_pipeline(cfg, inputs=(Manifest([], []), LABELS))
    assert "cannot be this run's baseline: it was trained on other features" in capsys.readouterr().out
    [evaluator] = [c for c in pipeline.components if c.id == "Evaluator"]
    assert "baseline_model" in evaluator.inputs
    assert "latest_blessed_model_resolver" in {c.id for c in pipeline.components}
