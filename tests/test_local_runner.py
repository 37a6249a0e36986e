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


def _local_inputs(tmp_path) -> dict:
    """PipelineConfig fields: 6 videos (segments on eval/test only) and an image folder, all local."""
    from pipeline.config import DataConfig

    rows = "".join(f"v{i}.mp4,{label},{split},{'[[1, 2]]' if split != 'train' else ''}\n"
                   for i, (label, split) in enumerate((l, s) for l in ("A:x", "A:y") for s in ("train", "eval", "test")))
    (tmp_path / "videos.csv").write_text("video,label,split,segments\n" + rows.replace(",[[1, 2]]", ',"[[1, 2]]"'))
    for i in range(6):
        (tmp_path / f"v{i}.mp4").write_bytes(b"")
    for label in ("A__x", "A__y"):
        (tmp_path / "images" / label).mkdir(parents=True)
        (tmp_path / "images" / label / "a.jpg").write_bytes(b"\xff\xd8")
    data = DataConfig(videos=str(tmp_path / "videos.csv"), images=str(tmp_path / "images"))
    return dict(pipeline_root=str(tmp_path / "root"), serving_dir=str(tmp_path / "serving"), data=data)


def test_the_oracle_without_any_train_segment_or_an_unknown_runner_is_refused_before_the_run(tmp_path):
    """Segments only on eval/test videos (as the README describes them): the oracle's weights would all be 0."""
    from pipeline.config import BeamConfig, PipelineConfig, TrainerConfig
    from pipeline.local_runner import check_inputs

    common = _local_inputs(tmp_path)
    check_inputs(PipelineConfig(**common))  # the product's variant needs no segments
    with pytest.raises(UserError, match="trainer.variant oracle weights each frame by the ground truth, but no train"):
        check_inputs(PipelineConfig(**common, trainer=TrainerConfig(variant="oracle")))
    for key in ("extra_args", "ingest_args"):  # a mistyped runner: one line now, not a traceback after TF loads
        beam = BeamConfig(**{key: ["--runner=DirectRuner"]})
        with pytest.raises(UserError, match=f"^beam.{key}: Beam options .*Unexpected pipeline runner: DirectRuner"):
            check_inputs(PipelineConfig(**common, beam=beam))
    check_inputs(PipelineConfig(**common, beam=BeamConfig(extra_args=["--runner=DirectRunner"])))
    for key in ("extra_args", "ingest_args"):  # a misspelt flag, no runner named: Beam dropped it and ran on
        with pytest.raises(UserError, match=f"^beam.{key}: Beam options: --runer is no flag Beam declares \\(did you mean --runner\\?\\)"):
            check_inputs(PipelineConfig(**common, beam=BeamConfig(**{key: ["--runer=DirectRunner"]})))
    with pytest.raises(UserError, match="Unexpected pipeline runner: DirectRuner"):  # a prefix names the runner too
        check_inputs(PipelineConfig(**common, beam=BeamConfig(extra_args=["--runn=DirectRuner"])))


def test_dataflow_workers_are_not_sent_to_this_machine_s_paths(tmp_path):
    """DataflowRunner with a local root, videos or image folder: refused in one line before the job (it
    failed on the workers, after its submission), and before Beam's own checks reach for the buckets."""
    import dataclasses

    from pipeline.config import BeamConfig, PipelineConfig
    from pipeline.local_runner import check_cloud_worker_paths, check_inputs

    common = _local_inputs(tmp_path)
    dataflow = ["--runner=DataflowRunner", "--project=p", "--region=r", "--temp_location=gs://b/tmp"]
    videos = PipelineConfig(**common).data.read_videos()
    with pytest.raises(UserError, match=rf"^beam.extra_args runs on DataflowRunner, whose workers cannot reach this"
                                        rf" machine's paths: pipeline_root {tmp_path}/root; give gs:// URIs"):
        check_inputs(PipelineConfig(**common, beam=BeamConfig(extra_args=dataflow)))
    remote_root = {**common, "pipeline_root": "gs://b/root"}
    with pytest.raises(UserError, match=rf"^beam.ingest_args runs on DataflowRunner, .*: 6 video\(s\) of"
                                        rf" {tmp_path}/videos.csv, the first {tmp_path}/v0.mp4 \(.*videos.csv:2\);"
                                        rf" data.images {tmp_path}/images; give gs:// URIs$"):
        check_cloud_worker_paths(PipelineConfig(**remote_root, beam=BeamConfig(ingest_args=dataflow)), videos)
    (tmp_path / "images.csv").write_text("image,label\nhttps://example.org/a.jpg,A:x\nimages/A__y/a.jpg,A:y\n")
    listed = dataclasses.replace(common["data"], images=str(tmp_path / "images.csv"))  # its rows go to the workers
    with pytest.raises(UserError, match=rf"; 1 image\(s\) of {tmp_path}/images.csv, the first"
                                        rf" {tmp_path}/images/A__y/a.jpg; give"):
        check_cloud_worker_paths(PipelineConfig(**{**remote_root, "data": listed}, beam=BeamConfig(
            extra_args=dataflow)), videos)
    remote_data = dataclasses.replace(common["data"], images="gs://b/images")
    remote_videos = dataclasses.replace(videos, rows=[dataclasses.replace(r, uri=f"gs://b/{r.video_id}.mp4")
                                                      for r in videos.rows])
    check_cloud_worker_paths(PipelineConfig(**{**remote_root, "data": remote_data}, beam=BeamConfig(
        ingest_args=dataflow)), remote_videos)  # the serving folder is the Pusher's, on this machine
    check_cloud_worker_paths(PipelineConfig(**common, beam=BeamConfig(ingest_args=["--runner=DaskRunner"])), videos)
