"""``laf localize`` on real videos (encoded here with PyAV) and a real exported SavedModel
(``trainer.model.build`` + ``trainer.serving.export``, random weights, every serving signature)."""
import json
import os
import sys
import time

import numpy as np
import pytest

from laf import evaluation
from laf.backbones import BackboneConfig
from laf.cli import main
from laf.evaluation import LocalizeConfig
from laf.serve import localize
from schemas.records import VideoRecord
from schemas.vocabulary import Vocabulary
import video_fixtures as vf

BACKBONE = BackboneConfig(name="mobilenet_v3_small", weights="none", input_size=32)
FPS = 2.0
CONFIG = LocalizeConfig(window=4, stride=2)  # small windows: several detections per class
VOCABULARY = Vocabulary.build(["Ball:Kick", "Ball:Throw", "Swim:Dive"])
BACKBONE_FLAGS = ["--backbone", BACKBONE.name, "--weights", "none", "--input-size", "32", "--fps", "2"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    import keras

    from laf.backbones import build_backbone
    from trainer import model, serving

    root = tmp_path_factory.mktemp("localize")
    videos = [vf.encode(str(root / "kick.mp4"), "libx264", vf.cfr(9.0), tint=(80, 0, 0)),
              vf.encode(str(root / "dive.webm"), "libvpx-vp9", vf.cfr(6.5), tint=(0, 0, 80))]
    dim = int(build_backbone(BACKBONE).output_shape[-1])
    keras.utils.set_random_seed(1)
    net = model.build("lstmp", len(VOCABULARY), cells=16, projection=8)
    model_dir = str(root / "model")
    serving.export(net, dim, model_dir, CONFIG)
    VOCABULARY.save(os.path.join(model_dir, "assets"))
    bare = str(root / "bare")  # a SavedModel without the contract's signatures
    import tensorflow as tf

    tf.saved_model.save(tf.Module(), bare)
    return root, videos, model_dir, bare


def test_signature_detections_equal_the_library(setup):
    _, videos, model_dir, _ = setup
    settings = localize.IngestSettings(BACKBONE, FPS)
    examples = localize.featurize(videos, settings)
    records = [VideoRecord.parse(e) for e in examples]
    assert [r.num_frames for r in records] == [18, 13]  # 9 s and 6.5 s at 2 fps
    model = localize.load_model(model_dir)
    results = localize.localize_examples(model, examples, localize.video_ids(videos), videos,
                                         vocabulary=localize.model_vocabulary(model_dir))
    for record, result in zip(records, results):
        assert result.probabilities.shape == (record.num_frames, len(VOCABULARY))
        assert result.actionness.shape == (record.num_frames,)
        np.testing.assert_allclose(result.timestamps, record.timestamps)
        expected = evaluation.localize(result.video_id, result.probabilities, result.timestamps,
                                       VOCABULARY.labels, CONFIG, actionness=result.actionness)
        assert len(expected) > len(VOCABULARY)
        assert [d.label for d in result.detections] == [d.label for d in expected]
        for got, want in zip(result.detections, expected):
            assert (got.start, got.end) == pytest.approx((want.start, want.end), abs=1e-5)
            assert got.score == pytest.approx(want.score, abs=1e-6)


def test_cli_table_json_and_plots(setup, capsys):
    root, videos, model_dir, _ = setup
    out_json, plots = str(root / "results.json"), str(root / "plots")
    assert main(["localize", "--model", model_dir, *videos, *BACKBONE_FLAGS, "--top", "3",
                 "--json", out_json, "--plot", plots]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["video", "label", "start", "end", "score"]
    rows = [line.split() for line in lines[1:] if line.split()[0] in ("kick", "dive")]
    assert len(rows) == 6 and all(r[1] in VOCABULARY.labels for r in rows)
    with open(out_json) as f:
        results = json.load(f)["results"]
    assert sorted(results) == ["dive", "kick"]
    for entries in results.values():
        assert len(entries) > 3 and all(0.0 <= e["segment"][0] < e["segment"][1] for e in entries)
    for name in ("kick.png", "dive.png"):
        with open(os.path.join(plots, name), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def _ingest_run(root, vocabulary_dir: str) -> str:
    """A pipeline root whose ML Metadata records a finished VideoIngest execution, as TFX writes it."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb
    from tfx.orchestration import metadata

    pipeline_root = str(root / "pipeline")
    os.makedirs(pipeline_root, exist_ok=True)
    store = metadata_store.MetadataStore(
        metadata.sqlite_metadata_connection_config(os.path.join(pipeline_root, "metadata.sqlite")))
    execution = pb.Execution(type_id=store.put_execution_type(pb.ExecutionType(name=localize.VIDEO_INGEST_TYPE)),
                             last_known_state=pb.Execution.COMPLETE)
    props = execution.custom_properties
    props["backbone"].string_value, props["weights"].string_value = BACKBONE.name, BACKBONE.weights
    props["layer"].string_value, props["input_size"].int_value = "", BACKBONE.input_size
    props["fps"].double_value = FPS
    artifact = pb.Artifact(type_id=store.put_artifact_type(pb.ArtifactType(name="laf.LabelVocabulary")),
                           uri=vocabulary_dir)
    event = pb.Event(type=pb.Event.OUTPUT)
    event.path.steps.add().key = localize.VOCABULARY_OUTPUT
    store.put_execution(execution, [(artifact, event)], [])
    return pipeline_root


def test_backbone_and_vocabulary_from_the_pipeline_run(setup, capsys):
    root, videos, model_dir, _ = setup
    pipeline_root = _ingest_run(root, os.path.join(model_dir, "assets"))
    settings = localize.settings_from_pipeline(pipeline_root)
    assert settings == localize.IngestSettings(BACKBONE, FPS, VOCABULARY)
    assert main(["localize", "--model", model_dir, "--pipeline-root", pipeline_root, videos[1], "--top", "0"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    assert rows and all(r[0] == "dive" and r[1] in VOCABULARY.labels for r in rows)


def _stderr(capfd, wait: float = 5.0) -> str:
    """fd-level stderr: ``laf.cli`` routes fd 2 through a filtering thread, so give it a moment."""
    sys.stderr.flush()
    err, deadline = "", time.monotonic() + wait
    while "\n" not in err and time.monotonic() < deadline:
        time.sleep(0.05)
        err += capfd.readouterr().err
    return err


@pytest.mark.parametrize("case, message", [
    ("missing_video", "video not found"),
    ("undecodable", "cannot use video"),
    ("no_signatures", "lacks the signature(s) ['serving_default', 'localize']"),
    ("missing_model", "model directory not found"),
    ("no_backbone", "give --pipeline-root of its run, or --weights and --fps"),
])
def test_user_mistakes_are_one_line(setup, capfd, case, message):
    root, videos, model_dir, bare = setup
    page = root / "page.mp4"
    page.write_text("<html>not a video</html>")
    argv = {"missing_video": ["--model", model_dir, str(root / "nope.mp4"), *BACKBONE_FLAGS],
            "undecodable": ["--model", model_dir, str(page), *BACKBONE_FLAGS],
            "no_signatures": ["--model", bare, videos[0], *BACKBONE_FLAGS],
            "missing_model": ["--model", str(root / "nope"), videos[0], *BACKBONE_FLAGS],
            "no_backbone": ["--model", model_dir, videos[0]]}[case]
    assert main(["localize", *argv]) == 2
    err = _stderr(capfd)
    assert err.startswith("laf localize: error:") and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
