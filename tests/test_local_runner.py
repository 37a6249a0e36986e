"""pipeline.local_runner's checks before a run: output folders that the last step could not write."""
import pytest

from laf.errors import UserError
from pipeline.local_runner import check_output_folder


def test_an_output_folder_that_is_a_file_or_lies_under_one_is_refused_before_the_run(tmp_path):
    (tmp_path / "taken").write_text("x")
    with pytest.raises(UserError, match=f"^serving_dir: {tmp_path}/taken is a file, not a folder$"):
        check_output_folder("serving_dir", str(tmp_path / "taken"))
    with pytest.raises(UserError, match=f"^pipeline_root: {tmp_path}/taken/a/b cannot be created: {tmp_path}/taken is a file$"):
        check_output_folder("pipeline_root", str(tmp_path / "taken" / "a" / "b"))


def test_a_new_nested_folder_an_existing_one_and_a_remote_uri_pass_and_nothing_is_created(tmp_path):
    for path in (str(tmp_path / "new" / "deeper"), str(tmp_path), "gs://bucket/serving"):
        check_output_folder("serving_dir", path)
    assert not (tmp_path / "new").exists()


def test_metadata_an_earlier_version_kept_under_the_current_folder_is_named_not_lost(tmp_path, monkeypatch):
    from pipeline.config import PipelineConfig
    from pipeline.local_runner import check_metadata_moved

    monkeypatch.chdir(tmp_path)
    from laf.run_store import METADATA_HOME_ENV

    monkeypatch.setenv(METADATA_HOME_ENV, str(tmp_path / "home"))
    cfg = PipelineConfig(pipeline_root="gs://bucket/runs/a")
    check_metadata_moved(cfg)  # nothing there: a first run
    old = tmp_path / "gs:" / "bucket" / "runs" / "a" / "metadata.sqlite"  # where SQLite put it
    old.parent.mkdir(parents=True)
    old.write_bytes(b"")
    with pytest.raises(UserError, match=f"is at {old}, where earlier versions kept it; move it to {cfg.metadata_path}"):
        check_metadata_moved(cfg)


def test_the_oracle_without_any_train_segment_or_an_unknown_runner_is_refused_before_the_run(tmp_path):
    """Segments only on eval/test videos (as the README describes them): the oracle's weights would all be 0."""
    from pipeline.config import BeamConfig, DataConfig, PipelineConfig, TrainerConfig
    from pipeline.local_runner import check_inputs

    rows = "".join(f"v{i}.mp4,{label},{split},{'[[1, 2]]' if split != 'train' else ''}\n"
                   for i, (label, split) in enumerate((l, s) for l in ("A:x", "A:y") for s in ("train", "eval", "test")))
    (tmp_path / "videos.csv").write_text("video,label,split,segments\n" + rows.replace(",[[1, 2]]", ',"[[1, 2]]"'))
    for i in range(6):
        (tmp_path / f"v{i}.mp4").write_bytes(b"")
    for label in ("A__x", "A__y"):
        (tmp_path / "images" / label).mkdir(parents=True)
        (tmp_path / "images" / label / "a.jpg").write_bytes(b"\xff\xd8")
    data = DataConfig(videos=str(tmp_path / "videos.csv"), images=str(tmp_path / "images"))
    common = dict(pipeline_root=str(tmp_path / "root"), serving_dir=str(tmp_path / "serving"), data=data)
    check_inputs(PipelineConfig(**common))  # the product's variant needs no segments
    with pytest.raises(UserError, match="trainer.variant oracle weights each frame by the ground truth, but no train"):
        check_inputs(PipelineConfig(**common, trainer=TrainerConfig(variant="oracle")))
    for key in ("extra_args", "ingest_args"):  # a mistyped runner: one line now, not a traceback after TF loads
        beam = BeamConfig(**{key: ["--runner=DirectRuner"]})
        with pytest.raises(UserError, match=f"^beam.{key}: Beam options .*Unexpected pipeline runner: DirectRuner"):
            check_inputs(PipelineConfig(**common, beam=beam))
    check_inputs(PipelineConfig(**common, beam=BeamConfig(extra_args=["--runner=DirectRunner"])))
