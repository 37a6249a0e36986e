"""Ingestion on a real distributed Beam engine: Beam's DaskRunner on a ``dask.distributed``
LocalCluster of two worker processes, reached by its scheduler address as a production cluster
would be, writes the very bytes DirectRunner writes (same records, bit-identical features,
same rejected lines and summary), through `laf extract` and through the VideoIngest component."""
import os
import sys

import pytest
from distributed import Client, LocalCluster

from laf import cli
from laf.errors import UserError
from laf.ingest import image_ingest, runners
from file_tree import file_bytes
from test_image_ingest import BACKBONE, media, tree  # noqa: F401 -- fixtures
from test_video_ingest import SIZE, clips, weights, write_manifest  # noqa: F401 -- fixtures


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as local:
        yield local


def dask_args(cluster) -> list:
    return ["--runner=DaskRunner", f"--dask_client_address={cluster.scheduler_address}"]


def _forget_ingestion() -> None:
    """Clear a worker's backbone, so :func:`_ingested_here` tells of the next run alone, in any test order."""
    backbones = sys.modules.get("laf.ingest.backbones")
    if backbones is not None:
        backbones._SHARED = None


def _ingested_here() -> bool:
    """True in a worker process that built a backbone, i.e. ran ingestion work."""
    backbones = sys.modules.get("laf.ingest.backbones")
    return backbones is not None and backbones._SHARED is not None


@pytest.fixture(scope="module")
def videos(clips, tmp_path_factory):  # noqa: F811
    return write_manifest(tmp_path_factory.mktemp("manifest") / "m.csv", [
        (clips["h264"], "Color:Red", "", "train", "0.5-2.5"),
        (clips["vp9"], "Color:Green", "", "train", ""),
        (clips["mjpeg"], "Color:Blue", "", "eval", ""),
        (clips["rotated"], "Shade:Yellow", "", "test", ""),
        (clips["vfr"], "Shade:Cyan", "", "train", "1-2"),
        (clips["zero"], "Color:Blue", "", "train", ""),      # rejected: empty file
        (clips["page"], "Color:Green", "", "train", "")])    # rejected: not a video


def test_videos_on_two_dask_workers_equal_direct_runner_byte_for_byte(cluster, videos, weights, tmp_path):  # noqa: F811
    common = ["extract", "videos", "--manifest", videos, "--input-size", str(SIZE), "--weights", weights,
              "--batch-size", "3"]
    direct, dask = str(tmp_path / "direct"), str(tmp_path / "dask")
    assert cli.main([*common, "--output", direct]) == 0
    with Client(cluster.scheduler_address) as client:
        client.run(_forget_ingestion)
    assert cli.main([*common, "--output", dask, *(f"--beam-arg={a}" for a in dask_args(cluster))]) == 0
    expected = file_bytes(direct)
    assert sorted(expected) == [".laf-extract", "Split-eval/data_tfrecord-00000-of-00001.gz",
                                "Split-test/data_tfrecord-00000-of-00001.gz",
                                "Split-train/data_tfrecord-00000-of-00001.gz", "duplicates.jsonl", "labels.json",
                                "rejected.jsonl", "summary.json"]
    assert file_bytes(dask) == expected
    with Client(cluster.scheduler_address) as client:
        assert list(client.run(_ingested_here).values()) == [True, True], "both workers should have ingested"


def test_images_on_dask_equal_direct_runner_byte_for_byte(cluster, tree, tmp_path):  # noqa: F811
    direct, dask = str(tmp_path / "direct"), str(tmp_path / "dask")
    image_ingest.extract_images(tree, direct, BACKBONE, batch_size=2, threads=2)
    summary = image_ingest.extract_images(tree, dask, BACKBONE, dask_args(cluster), batch_size=2, threads=2)
    assert summary["duplicates"] >= 2 and summary["rejected"] >= 4  # dedup and rejects both ran on the workers
    assert file_bytes(dask) == file_bytes(direct)


def test_video_ingest_component_runs_on_dask_with_the_config_beam_args(cluster, clips, weights, tmp_path):  # noqa: F811
    """The TFX executor gets the config's whole Beam argument list (DirectRunner settings,
    --setup_file, TFX's own labels, then ``beam.ingest_args``), not only the Dask flags, and still
    reaches the cluster."""
    from ml_metadata import metadata_store
    from tfx import v1 as tfx

    from components.video_ingest.component import VideoIngest
    from pipeline.config import BeamConfig

    manifest = write_manifest(tmp_path / "m.csv", [(clips["h264"], "Color:Red", "", "train", ""),
                                                  (clips["mjpeg"], "Color:Blue", "", "eval", ""),
                                                  (clips["zero"], "Color:Blue", "", "test", "")])
    beam = BeamConfig(ingest_args=dask_args(cluster))
    direct = str(tmp_path / "direct")
    assert cli.main(["extract", "videos", "--manifest", manifest, "--output", direct, "--input-size", str(SIZE),
                     "--weights", weights, "--fps", "2"]) == 0
    db = str(tmp_path / "mlmd.sqlite")
    connection = tfx.orchestration.metadata.sqlite_metadata_connection_config(db)
    tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
        pipeline_name="dask-ingest-test", pipeline_root=str(tmp_path / "root"), metadata_connection_config=connection,
        components=[VideoIngest(manifest=manifest, fps=2.0, split_ratios={"train": 1.0}, weights=weights,
                                input_size=SIZE).with_beam_pipeline_args(beam.ingest_args)],
        beam_pipeline_args=beam.pipeline_args()))
    [examples] = metadata_store.MetadataStore(connection).get_artifacts_by_type("Examples")
    expected = {k: v for k, v in file_bytes(direct).items() if k not in ("labels.json", ".laf-extract")}  # the CLI's
    assert file_bytes(examples.uri) == expected


def test_config_sends_dask_to_the_ingestion_components_only(tmp_path):
    """TFX's own Beam components (StatisticsGen, ExampleValidator, Evaluator) need what DaskRunner
    lacks: ``beam.ingest_args`` reach VideoIngest and ImageIngest alone, and DaskRunner in
    ``beam.extra_args`` is refused with the way out."""
    from pipeline import config
    from pipeline.pipeline import create_pipeline

    flags = ["--runner=DaskRunner", "--dask_client_address=tcp://10.0.0.5:8786"]
    data = {"videos": "videos.csv", "images": "images"}
    cfg = config.from_dict({"data": data, "beam": {"ingest_args": flags}}, check_paths=False)
    args = {c.id: c.executor_spec.beam_pipeline_args for c in create_pipeline(cfg).components
            if hasattr(c.executor_spec, "beam_pipeline_args")}
    assert {"VideoIngest", "ImageIngest", "Evaluator"} <= set(args)
    for component, beam_args in args.items():
        assert runners.names_dask(beam_args) == (component in ("VideoIngest", "ImageIngest")), component
    assert args["VideoIngest"][-2:] == flags and "--direct_running_mode=in_memory" in args["VideoIngest"]
    with pytest.raises(UserError, match="put its flags in beam.ingest_args"):
        config.from_dict({"data": data, "beam": {"extra_args": ["--runner", "DaskRunner"]}}, check_paths=False)


def test_the_last_runner_flag_in_argument_order_wins_whatever_its_form():
    """TFX puts beam.extra_args before ingest_args; Beam's parser takes the last --runner."""
    assert runners.names_dask(["--runner", "FlinkRunner", "--runner=DaskRunner"])
    assert not runners.names_dask(["--runner=DaskRunner", "--runner", "FlinkRunner"])
    assert runners.names_dask(["--runner", "DaskRunner"]) and runners.names_dask(["--runn=DaskRunner"])  # a prefix
    assert not runners.names_dask([]) and not runners.names_dask(["--runner=DirectRunner"])
    runners.check_dask_timeout(["--dask_connection_timeout", "+5"])  # int() takes it, as Beam does
    with pytest.raises(UserError, match="whole seconds, got '30s'"):
        runners.check_dask_timeout(["--dask_connection=30s"])
    with pytest.raises(UserError, match="argument --runner: expected one argument"):
        runners.names_dask(["--runner"])


@pytest.mark.parametrize("flag, message", [
    ("--dask_client_address=tcp://127.0.0.1:9", "cannot reach the Dask scheduler"),
    # the dashboard's URL: a ValueError and a traceback before
    ("--dask_client_address=http://127.0.0.1:8787", "cannot reach the Dask scheduler .*unknown address scheme 'http'"),
    ("--dask_scheduler_file={tmp}/typo.json", "--dask_scheduler_file: .*typo.json does not exist"),  # waited forever
])
def test_an_unreachable_scheduler_is_a_user_error(tmp_path, flag, message):
    pipeline = runners.make_pipeline(["--runner=DaskRunner", flag.format(tmp=tmp_path), "--dask_connection_timeout=2"])
    with pytest.raises(UserError, match=message):
        pipeline.run()


def test_portable_keys_hash_alike_in_every_process_where_str_keys_do_not():
    """Why ``portable_key``: DaskRunner partitions GroupByKey by ``hash()``, salted per process for
    str (two workers would write two files for one split); an int hashes alike everywhere."""
    import subprocess

    code = "from laf.ingest.runners import portable_key as k; print(hash('Split-train'), hash(k('Split-train')))"
    seen = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout.split() for seed in ("1", "2")]
    assert seen[0][0] != seen[1][0]
    assert seen[0][1] == seen[1][1]
    assert runners.portable_key("Split-train") != runners.portable_key("Split-eval")
