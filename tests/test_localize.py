"""``laf localize`` on real videos (encoded with PyAV) and a real exported SavedModel
(``trainer.model.build`` + ``trainer.serving.export``, random weights, every serving signature):
the session fixture ``served_model`` (``tests/serving_fixtures.py``)."""
import dataclasses
import json
import os
import sys
import time

import numpy as np
import pytest

from laf import run_store
from laf.evaluate import evaluation
from laf.cli import main
from laf.errors import UserError
from laf.serve import assets, localize
from schemas.records import VideoRecord
from schemas.vocabulary import Vocabulary
from serving_fixtures import BACKBONE, BACKBONE_FLAGS, CALIBRATED, CONFIG, FPS, VOCABULARY


def test_signature_detections_equal_the_library(served_model):
    videos, model_dir = served_model.videos, served_model.model_dir
    examples = served_model.examples  # localize.featurize(videos, IngestSettings(BACKBONE, FPS))
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
    # the records' duration ends the last frame: a clip of one frame, 0.3 s long, ends at 0.3 s, not 1 s later
    clip = dataclasses.replace(records[0], features=records[0].features[:1], timestamps=records[0].timestamps[:1],
                               duration=0.3)
    [result] = localize.localize_examples(model, [clip.serialize()], ["clip"], ["clip.mp4"])
    assert result.detections and {(d.start, round(d.end, 5)) for d in result.detections} == {(0.0, 0.3)}


def test_non_finite_features_are_a_clear_error(served_model):
    record = VideoRecord.parse(served_model.examples[0])
    record.features = np.full_like(record.features, np.nan)
    with pytest.raises(UserError, match="the model's outputs are not finite"):
        localize.localize_outputs(localize.load_model(served_model.model_dir), [record.serialize()])


def test_cli_table_json_and_plots(served_model, capsys):
    root, videos, model_dir = served_model.root, served_model.videos, served_model.model_dir
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


def test_a_reader_that_leaves_early_still_gets_the_json_and_the_plots(served_model, monkeypatch):
    """`laf localize --json r.json ... | head -3`: the table was printed first, and the reader's leaving
    (a broken pipe, exit 141) stopped the command before the results file and the plots were written."""
    import sys

    root, videos, model_dir = served_model.root, served_model.videos, served_model.model_dir
    out_json, plots = str(root / "early.json"), str(root / "early_plots")
    read, write = os.pipe()
    os.close(read)  # the reader left
    monkeypatch.setattr(sys, "stdout", os.fdopen(write, "w", buffering=1))
    assert main(["localize", "--model", model_dir, *videos, *BACKBONE_FLAGS, "--json", out_json,
                 "--plot", plots]) == 141
    with open(out_json) as f:
        assert sorted(json.load(f)["results"]) == ["dive", "kick"]
    assert sorted(os.listdir(plots)) == ["dive.png", "kick.png"]


def _ingest_run(pipeline_root, vocabulary_dir: str, backbone=BACKBONE) -> str:
    """A pipeline root whose ML Metadata records a finished VideoIngest execution, as TFX writes it."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb
    from tfx.orchestration import metadata

    pipeline_root = str(pipeline_root)
    os.makedirs(pipeline_root, exist_ok=True)
    store = metadata_store.MetadataStore(
        metadata.sqlite_metadata_connection_config(os.path.join(pipeline_root, "metadata.sqlite")))
    execution = pb.Execution(type_id=store.put_execution_type(pb.ExecutionType(name=run_store.VIDEO_INGEST)),
                             last_known_state=pb.Execution.COMPLETE)
    props = execution.custom_properties
    props["backbone"].string_value, props["weights"].string_value = backbone.name, backbone.weights
    props["layer"].string_value, props["input_size"].int_value = "", backbone.input_size
    props["fps"].double_value = FPS
    artifact = pb.Artifact(type_id=store.put_artifact_type(pb.ArtifactType(name="laf.LabelVocabulary")),
                           uri=vocabulary_dir)
    event = pb.Event(type=pb.Event.OUTPUT)
    event.path.steps.add().key = localize.VOCABULARY_OUTPUT
    store.put_execution(execution, [(artifact, event)], [])
    return pipeline_root


def test_backbone_and_vocabulary_from_the_pipeline_run(served_model, capsys):
    root, videos, model_dir = served_model.root, served_model.videos, served_model.model_dir
    pipeline_root = _ingest_run(root / "pipeline", os.path.join(model_dir, "assets"))
    settings = localize.settings_from_pipeline(pipeline_root)
    assert settings == localize.IngestSettings(BACKBONE, FPS, VOCABULARY)
    assert main(["localize", "--model", model_dir, "--pipeline-root", pipeline_root, videos[1], "--top", "0"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    assert rows and all(r[0] == "dive" and r[1] in VOCABULARY.labels for r in rows)


def test_pushed_model_needs_no_other_flag(served_model, capsys):
    """The pushed model's assets carry its featurizer (the calibrated weights file, whose source is
    gone) and labels: ``--model`` alone prints what ``--pipeline-root`` of its run gives."""
    s = served_model
    carried = assets.load(s.pushed)
    weights = os.path.join(s.pushed, "assets", CALIBRATED)
    assert carried == localize.IngestSettings(dataclasses.replace(BACKBONE, weights=weights), FPS, VOCABULARY)
    pipeline_root = _ingest_run(s.root / "pushed_run", os.path.join(s.pushed, "assets"), carried.backbone)
    assert main(["localize", "--model", s.model_dir, "--pipeline-root", pipeline_root, *s.videos, "--top", "0"]) == 0
    with_run = capsys.readouterr().out
    assert main(["localize", "--model", s.pushed, *s.videos, "--top", "0"]) == 0
    alone = capsys.readouterr().out
    assert alone == with_run and len(alone.splitlines()) > len(VOCABULARY)
    assert main(["localize", "--model", s.pushed, *s.videos, "--top", "0", "--weights", "none"]) == 0
    assert capsys.readouterr().out != alone  # the carried weights are the ones used


def test_a_pushed_model_on_a_remote_file_system_is_read_from_there(served_model, capfd):
    """--model gs://... after a Vertex run: TF reads the SavedModel, its labels and featurizer from
    there (TF's in-memory ram:// file system stands in for gs:// here)."""
    import tensorflow as tf

    s = served_model
    remote = "ram://serving/pushed/1"
    for folder, _, names in tf.io.gfile.walk(s.pushed):
        target = remote + folder[len(s.pushed):]
        tf.io.gfile.makedirs(target)
        for name in names:
            tf.io.gfile.copy(os.path.join(folder, name), f"{target}/{name}", overwrite=True)
    assert main(["localize", "--model", s.pushed, *s.videos, "--top", "0"]) == 0
    here = capfd.readouterr().out
    assert main(["localize", "--model", remote, *s.videos, "--top", "0"]) == 0
    assert capfd.readouterr().out == here
    assert main(["localize", "--model", "ram://serving/pushed", *s.videos]) == 2
    assert "holds model versions, not a SavedModel: give one of them, e.g. --model ram://serving/pushed/1" \
        in _stderr(capfd)


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
    ("folder_as_video", "a folder, not a video"),
    ("undecodable", "cannot use video"),
    ("no_signatures", "lacks the signature(s) ['serving_default', 'localize']"),
    ("missing_model", "model directory not found"),
    ("no_backbone", "(the model carries no assets/features.json): give --pipeline-root of its run, or --weights"),
    ("no_model", "give --model DIR (a SavedModel here) or --server URL"),
    ("bad_server", "--server must be an http(s) URL such as http://localhost:8501, got 'localhost:8501'"),
    ("bad_assets", "features.json is not a features description: 'backbone'"),
    ("missing_weights", "backbone weights file not found"),
    ("missing_weights_stream", "backbone weights file not found"),
    ("bad_input_size", "--input-size >= 32"),
    ("zero_input_size", "--input-size >= 32"),
    ("serving_folder", "holds model versions, not a SavedModel: give one of them, e.g. --model "),
    ("serving_folder", "serving/10"),
    ("not_a_saved_model", "is not a SavedModel (no saved_model.pb)"),
    ("not_a_saved_model_nor_flags", "is not a SavedModel (no saved_model.pb)"),  # was: give --weights and --fps
    ("unknown_layer", "backbone mobilenet_v3_small (weights none, layer nosuch, input size 32): No such layer"),
    ("unknown_layer_stream", "backbone mobilenet_v3_small (weights none, layer nosuch, input size 32): No such layer"),
    ("json_in_no_folder", "need a file in an existing folder"),
    ("plot_is_a_file", "is a file; give a folder"),
    ("plot_under_a_file", "page.mp4 is a file, so the folder cannot be made"),
    ("labels_of_another_size", "the vocabulary has 1 labels but the model outputs"),
    ("video_twice", "video given more than once"),
    ("json_with_stream", "--json, --plot and --top apply to video files"),
    ("top_with_stream", "--json, --plot and --top apply to video files"),
    ("stream_flags_with_files", "--partial, --on: only with --stream SOURCE"),
])
def test_user_mistakes_are_one_line(served_model, capfd, case, message):
    s = served_model
    root, videos, model_dir, bare = s.root, s.videos, s.model_dir, s.bare
    page = root / "page.mp4"
    page.write_text("<html>not a video</html>")
    broken = root / "broken_assets"
    (broken / "assets").mkdir(parents=True, exist_ok=True)
    (broken / "assets" / "features.json").write_text('{"fps": 2.0}')
    (broken / "saved_model.pb").write_bytes(b"")  # its assets are read before the model loads
    serving, empty = root / "serving", root / "empty_model"
    for folder in (serving, empty):
        folder.mkdir(exist_ok=True)
    for version in ("7", "10", "tmp"):  # the highest number is the one to give, not the last name
        if not (serving / version).exists():
            (serving / version).symlink_to(model_dir)
    argv = {"missing_video": ["--model", model_dir, str(root / "nope.mp4"), *BACKBONE_FLAGS],
            "folder_as_video": ["--model", model_dir, str(root), *BACKBONE_FLAGS],
            "undecodable": ["--model", model_dir, str(page), *BACKBONE_FLAGS],
            "no_signatures": ["--model", bare, videos[0], *BACKBONE_FLAGS],
            "missing_model": ["--model", str(root / "nope"), videos[0], *BACKBONE_FLAGS],
            "no_backbone": ["--model", model_dir, videos[0]],
            "no_model": [videos[0], *BACKBONE_FLAGS],
            "bad_server": ["--server", "localhost:8501", videos[0], *BACKBONE_FLAGS],
            "bad_assets": ["--model", str(broken), videos[0]],
            "missing_weights": ["--model", model_dir, videos[0], *BACKBONE_FLAGS, "--weights", str(root / "no.h5")],
            "missing_weights_stream": ["--model", model_dir, "--stream", videos[0], *BACKBONE_FLAGS,
                                       "--weights", str(root / "no.h5")],
            "bad_input_size": ["--model", model_dir, videos[0], *BACKBONE_FLAGS, "--input-size", "-5"],
            "zero_input_size": ["--model", model_dir, videos[0], *BACKBONE_FLAGS, "--input-size", "0"],
            "serving_folder": ["--model", str(serving), videos[0]],
            "not_a_saved_model": ["--model", str(empty), videos[0], *BACKBONE_FLAGS],
            "not_a_saved_model_nor_flags": ["--model", str(empty), videos[0]],
            "unknown_layer": ["--model", model_dir, videos[0], *BACKBONE_FLAGS, "--layer", "nosuch"],
            "unknown_layer_stream": ["--model", model_dir, "--stream", videos[0], *BACKBONE_FLAGS, "--layer", "nosuch"],
            "json_in_no_folder": ["--model", model_dir, videos[0], *BACKBONE_FLAGS, "--json", str(root / "no/r.json")],
            "plot_is_a_file": ["--model", model_dir, videos[0], *BACKBONE_FLAGS, "--plot", str(page)],
            "plot_under_a_file": ["--model", model_dir, videos[0], *BACKBONE_FLAGS, "--plot", str(page / "plots")],
            "labels_of_another_size": ["--model", model_dir, videos[0], *BACKBONE_FLAGS, "--labels",
                                       Vocabulary.build(["Soccer:Kick"]).save(str(root))],
            "video_twice": ["--model", model_dir, videos[0], videos[0], *BACKBONE_FLAGS],
            "json_with_stream": ["--model", model_dir, "--stream", videos[0], *BACKBONE_FLAGS,
                                 "--json", str(root / "r.json")],
            "top_with_stream": ["--model", model_dir, "--stream", videos[0], *BACKBONE_FLAGS, "--top", "5"],
            "stream_flags_with_files": ["--model", model_dir, videos[0], *BACKBONE_FLAGS, "--partial", "--on", "0.3"]}[case]
    assert main(["localize", *argv]) == 2
    err = _stderr(capfd)
    assert err.startswith("laf localize: error:") and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_an_export_whose_localize_answers_segments_alone_is_named(tmp_path):
    """Exports of 2026-11-27 had a localize signature without the per-frame outputs that results read."""
    import tensorflow as tf

    spec = tf.TensorSpec([None], tf.string, name="examples")
    module = tf.Module()
    module.serve = tf.function(lambda examples: {"score": tf.zeros([1])}, input_signature=[spec])
    module.segments = tf.function(lambda examples: {"start": tf.zeros([1, 1]), "count": tf.zeros([1], tf.int32)},
                                  input_signature=[spec])
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.serve,
                                                           "localize": module.segments})
    with pytest.raises(UserError, match=r"its localize signature lacks the output\(s\) \['end', 'label', 'num_frames',"
                                        r" 'probabilities', 'score', 'timestamps'\] of this version"):
        localize.load_model(str(tmp_path))


@pytest.mark.parametrize("flag", ["--fps", "--read-timeout"])
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_non_finite_numbers_are_usage_errors(served_model, capfd, flag, value):
    with pytest.raises(SystemExit) as exited:
        main(["localize", "--model", served_model.model_dir, served_model.videos[0], *BACKBONE_FLAGS, flag, value])
    assert exited.value.code == 2
    assert f"argument {flag}: must be a finite number, got '{value}'" in _stderr(capfd)


def test_video_ids_tell_every_video_apart():
    assert localize.video_ids(["x/a.mp4", "y/b.mp4"]) == ["a", "b"]
    assert localize.video_ids(["d1/a.mp4", "d2/a.mp4"]) == ["d1/a", "d2/a"]
    assert localize.video_ids(["d1/clips/a.mp4", "d2/clips/a.mp4", "d2/b.mp4"]) == ["d1/clips/a", "d2/clips/a", "b"]
    assert localize.video_ids(["x/a.mp4", "x/a.mkv"]) == ["a.mp4", "a.mkv"]
    ids = localize.video_ids(["v/game.ts", "v/game.ts.mp4", "v/game.mp4"])  # a stem that is another's name
    assert len(set(ids)) == 3, ids
    assert localize.video_ids(["/v.mp4", "/x/v.mp4"]) == ["v", "x/v"]  # never "/v": a plot path outside --plot
    # names that differ only at the root: the shorter path's own id was cut off (None: a crash after decoding)
    assert localize.video_ids(["/data/cam/a.mp4", "/mnt/cam/a.mp4", "/backup/data/cam/a.mp4"]) == [
        "data/cam/a", "mnt/cam/a", "backup/data/cam/a"]


def test_plots_of_videos_whose_names_repeat_keep_their_folders(served_model, tmp_path, capsys):
    """Ids x/a, r/a and x_a: one plot each (x/a.png beside x_a.png; before, both were x_a.png)."""
    import shutil

    videos = [tmp_path / "p" / "x" / "a.mp4", tmp_path / "r" / "a.mp4", tmp_path / "q" / "x_a.mp4"]
    for video in videos:
        video.parent.mkdir(parents=True)
        shutil.copy(served_model.videos[0], video)
    plots = tmp_path / "plots"
    assert main(["localize", "--model", served_model.pushed, *map(str, videos), "--top", "1",
                 "--plot", str(plots)]) == 0
    assert "\n".join(sorted(str(p.relative_to(plots)) for p in plots.rglob("*.png"))) == "r/a.png\nx/a.png\nx_a.png"


def test_a_bad_video_among_several_is_skipped_not_the_run(served_model, capfd):
    """One unusable file among many is named and skipped; the others are localized and written,
    and the exit status (1) says that not every video was. None usable: an error (2)."""
    s = served_model
    page, missing = s.root / "skipped_page.mp4", s.root / "skipped_nope.mp4"
    page.write_text("<html>not a video</html>")
    out_json = str(s.root / "partial.json")
    assert main(["localize", "--model", s.pushed, s.videos[0], str(page), s.videos[1], str(missing), "--top", "0",
                 "--json", out_json]) == 1
    captured = capfd.readouterr()
    err = captured.err + _stderr(capfd)
    assert f"skipped: cannot use video {page}" in err and f"skipped: video not found: {missing}" in err
    assert "2 of 4 videos skipped" in err
    assert main(["localize", "--model", s.pushed, *s.videos, "--top", "0"]) == 0
    table = captured.out.replace(f"results: {os.path.abspath(out_json)}\n", "")
    assert table == capfd.readouterr().out  # the same table as without the bad files
    with open(out_json) as f:
        assert sorted(json.load(f)["results"]) == ["dive", "kick"]
    assert main(["localize", "--model", s.pushed, str(page), str(missing)]) == 2
    assert "none of the 2 videos could be localized" in _stderr(capfd)


def test_videos_are_featurized_one_at_a_time(served_model, monkeypatch):
    """`laf localize` localizes each video before featurizing the next, so memory holds one video's
    features (before, every video's were made first). Every video is still opened up front."""
    from laf.ingest import video_ingest

    extracted = []
    extract = video_ingest.ExtractVideoFeatures.extract
    monkeypatch.setattr(video_ingest.ExtractVideoFeatures, "extract",
                        lambda self, row: extracted.append(row.uri) or extract(self, row))
    records = localize.featurize_each(served_model.videos, localize.IngestSettings(BACKBONE, FPS))
    assert extracted == []
    first = next(records)
    assert extracted == [served_model.videos[0]]
    rest = list(records)
    assert extracted == list(served_model.videos)
    parsed = [VideoRecord.parse(r) for r in [first, *rest]]  # a 9 s and a 6.5 s clip at FPS samples a second
    assert [(r.video_id, r.num_frames) for r in parsed] == [("kick", int(9.0 * FPS)), ("dive", int(6.5 * FPS))]


def test_a_timeline_plot_takes_names_literally(tmp_path):
    """``sale_$100_vs_$200.mp4``: the ``$`` pair was read as TeX math and ``--plot`` failed after the
    localization (200 classes: the plot colours the classes it shows, not all of them)."""
    from laf.serve import localize
    from schemas.segment import Detection

    labels = [f"A:c{i}" for i in range(200)]
    probabilities = np.full((6, 200), 1e-3, np.float32)
    probabilities[:3, 3], probabilities[3:, 23] = 0.8, 0.8
    video = "sale_$100_vs_$200"
    result = localize.VideoResult(video, f"{video}.mp4", 6.0, [Detection(video, 0, 3, "A:c3", 0.8),
                                                                Detection(video, 3, 6, "A:c23", 0.8)],
                                  probabilities, np.arange(6.0))
    path = localize.plot_timeline(result, labels, str(tmp_path / "t.png"))
    assert os.path.getsize(path) > 0
