"""laf.evaluate.run_records: what the benchmarks cannot score is refused in one line."""
import json
import os

import numpy as np
import pytest

from laf import run_store, tfrecords
from laf.errors import UserError
from laf.evaluate import run_records
from schemas.records import VideoRecord
from schemas.segment import AMBIGUOUS, Segment
from schemas.vocabulary import Vocabulary

VOCABULARY = Vocabulary.build(["A:x", "A:y"])


def _run(tmp_path, splits) -> run_records.Run:
    scored = tmp_path / "scored"
    for split in ("train", "eval", "test"):
        tfrecords.write(os.path.join(tfrecords.split_dir(str(scored), split), "data.gz"), [])  # as an empty split is
    for split in splits:
        record = VideoRecord(video_id=f"{split}0", label="A:x", label_index=0, features=np.zeros((4, 2), np.float32),
                             timestamps=np.arange(4, dtype=np.float32), fps=1.0, duration=4.0)
        tfrecords.write(os.path.join(tfrecords.split_dir(str(scored), split), "data.gz"), [record.serialize()])
    (tmp_path / "data" / "annotations").mkdir(parents=True)
    return run_records.Run(videos="", vocabulary="", scored=str(scored), rounds="", images="",
                           manifest=str(tmp_path / "data" / "videos.csv"), transfer_props={}, model=None,
                           trainer_config={})


def test_a_run_without_test_videos_is_refused(tmp_path):
    with pytest.raises(UserError, match="the run has no test videos"):
        run_records.scored_records(_run(tmp_path, ("train", "eval")), VOCABULARY)


def test_a_run_without_any_ground_truth_gives_its_records_and_says_so(tmp_path):
    """Weak labels only, the product's own case: Hit@k needs no segments, the rest is null (as documented)."""
    records, note = run_records.scored_records(_run(tmp_path, ("train", "eval", "test")), VOCABULARY)
    assert [r.video_id for r in records["test"]] == ["test0"] and records["test"][0].segments == []
    assert note.startswith("ground truth: none (the run's records carry no segments and ") and note.endswith(
        "activitynet.json does not exist): what needs it is null")


def test_a_ground_truth_label_outside_the_vocabulary_is_refused_naming_the_file(tmp_path):
    run = _run(tmp_path, ("train", "eval", "test"))
    anet = tmp_path / "data" / "annotations" / "activitynet.json"
    anet.write_text(json.dumps({"database": {"test0": {"subset": "testing", "duration": 4.0, "annotations": [
        {"segment": [1.0, 2.0], "label": "B:z"}]}}}))
    with pytest.raises(UserError, match=r"activitynet.json: video test0: label 'B:z' is not in the vocabulary"):
        run_records.scored_records(run, VOCABULARY)


def test_records_without_ambiguous_segments_get_them_from_the_thumos14_folder(tmp_path):
    """A run ingested before the records carried them: the folder beside the manifest fills them in."""
    run = _run(tmp_path, ("train", "eval", "test"))
    anet = tmp_path / "data" / "annotations" / "activitynet.json"
    anet.write_text(json.dumps({"database": {"test0": {"subset": "testing", "duration": 4.0, "annotations": [
        {"segment": [1.0, 2.0], "label": "A:x"}]}}}))
    thumos = tmp_path / "data" / "annotations" / "thumos14"
    thumos.mkdir()
    (thumos / "A:x_test.txt").write_text("test0 1.0 2.0\n")
    (thumos / "Ambiguous_test.txt").write_text("test0 2.5 3.5\n")
    records, _ = run_records.scored_records(run, VOCABULARY)
    assert [r.ambiguous for r in records["test"]] == [[Segment(2.5, 3.5, AMBIGUOUS)]]
    assert records["train"][0].ambiguous == []  # no train subset in the folder


def test_a_deleted_push_is_read_where_the_pusher_got_it_not_from_a_later_trainer(tmp_path):
    """The pushed folder and the Pusher's own copy deleted: the model the Pusher was given, not the
    latest Trainer's, which a later run stopped after training may have made."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    from bench_helpers import mlmd_store, put_execution
    from laf.evaluate import run_records

    store = mlmd_store(str(tmp_path / "metadata.sqlite"))
    put_execution(store, run_store.TRAINER, pb.Execution.COMPLETE, {"model": ("Model", tmp_path / "t1", True)})
    [pushed_model] = [a.id for a in store.get_artifacts_by_type("Model")]
    put_execution(store, run_store.PUSHER, pb.Execution.COMPLETE,
                  {"pushed_model": ("PushedModel", tmp_path / "pusher", True)}, {"model": pushed_model})
    put_execution(store, run_store.TRAINER, pb.Execution.COMPLETE, {"model": ("Model", tmp_path / "t2", True)})
    [pushed] = store.get_artifacts_by_type("PushedModel")
    pushed.custom_properties["pushed"].int_value = 1
    pushed.custom_properties["pushed_destination"].string_value = str(tmp_path / "serving" / "7")
    store.put_artifacts([pushed])
    for folder in ("t1/Format-Serving", "t2/Format-Serving"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "saved_model.pb").write_bytes(b"")
    assert run_records._model(store)[0] == str(tmp_path / "t1" / "Format-Serving")
    (tmp_path / "pusher").mkdir()
    (tmp_path / "pusher" / "saved_model.pb").write_bytes(b"")
    assert run_records._model(store)[0] == str(tmp_path / "pusher")
    (tmp_path / "serving" / "7").mkdir(parents=True)
    (tmp_path / "serving" / "7" / "saved_model.pb").write_bytes(b"")
    assert run_records._model(store)[0] == str(tmp_path / "serving" / "7")


def test_the_benches_read_the_model_s_own_lineage(tmp_path):
    """The diagnostics score a model against the records it was trained from: after runs A, B and A
    again from cache, A's; with a later run stopped after domain transfer, still the model's. Before,
    each component's latest execution was read on its own (a stopped run's new records beside an
    older model)."""
    from bench_helpers import mlmd_store, pipeline_run

    store = mlmd_store(str(tmp_path / "metadata.sqlite"))
    a = pipeline_run(store, tmp_path, 1, last="Trainer")
    (tmp_path / "run1" / "model" / "Format-Serving").mkdir(parents=True)
    pipeline_run(store, tmp_path, 2, last="DomainTransfer")
    run = run_records.locate(str(tmp_path))
    assert (run.videos, run.vocabulary, run.scored, run.rounds, run.images) == tuple(
        str(tmp_path / "run1" / key) for key in ("videos", "vocabulary", "scored_examples", "rounds", "images"))
    assert (run.manifest, run.trainer_config) == ("/data/run1/videos.csv", {"epochs": 1})
    assert run.model == str(tmp_path / "run1" / "model" / "Format-Serving")
    pipeline_run(store, tmp_path, 3, last="Trainer")
    pipeline_run(store, tmp_path, 4, cached_from=a, last="Trainer")
    assert run_records.locate(str(tmp_path)).scored == str(tmp_path / "run1" / "scored_examples")


def test_without_a_model_the_records_are_read_with_their_own_labels_not_a_later_ingestion_s(tmp_path):
    """No Trainer finished, and a later run stopped after its VideoIngest: the vocabulary and videos were
    that later ingestion's, the scored records the earlier domain transfer's (their label indices)."""
    from bench_helpers import mlmd_store, pipeline_run

    store = mlmd_store(str(tmp_path / "metadata.sqlite"))
    pipeline_run(store, tmp_path, 1, last="DomainTransfer")
    pipeline_run(store, tmp_path, 2, last="VideoIngest")
    run = run_records.locate(str(tmp_path))
    assert (run.videos, run.vocabulary, run.scored, run.rounds, run.images) == tuple(
        str(tmp_path / "run1" / key) for key in ("videos", "vocabulary", "scored_examples", "rounds", "images"))
    assert run.manifest == "/data/run1/videos.csv" and run.model is None and run.model_uri is None


def test_a_bench_that_scores_the_model_refuses_a_run_without_one(tmp_path):
    """A run stopped after domain transfer has records but no model: the benches that score the model
    (learning_diagnostics, stream_latency) said so in one line in one bench, and crashed with a
    TypeError from the SavedModel loader in the other."""
    from bench_helpers import mlmd_store, pipeline_run

    store = mlmd_store(str(tmp_path / "metadata.sqlite"))
    pipeline_run(store, tmp_path, 1, last="DomainTransfer")
    assert run_records.locate(str(tmp_path)).model is None
    with pytest.raises(UserError, match="holds no trained model"):
        run_records.locate(str(tmp_path), need_model=True)
