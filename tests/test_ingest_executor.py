"""The ingestion executors' Beam pipeline: TFX's own (its launcher hook included), DaskRunner by name."""
import apache_beam as beam
from tfx.dsl.components.base import base_beam_executor

from components.image_ingest.executor import Executor as ImageExecutor
from components.video_ingest.executor import Executor as VideoExecutor
from laf.ingest.backbones import BackboneConfig


def _executor(cls, args, make=None):
    return cls(base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=args, make_beam_pipeline_fn=make))


def test_the_launchers_pipeline_factory_is_used_for_every_runner():
    made = beam.Pipeline()
    for cls in (VideoExecutor, ImageExecutor):
        for args in (["--runner=DirectRunner"], ["--runner=DaskRunner"]):
            assert _executor(cls, args, lambda: made)._make_beam_pipeline() is made


def test_beam_args_choose_the_runner_dask_included():
    from laf.ingest.dask_runner import ClusterDaskRunner

    direct = _executor(VideoExecutor, ["--runner=DirectRunner", "--direct_num_workers=1"])._make_beam_pipeline()
    assert type(direct.runner).__name__ == "SwitchingDirectRunner"
    dask = _executor(ImageExecutor, ["--runner=DaskRunner", "--dask_client_address=tcp://127.0.0.1:9"])
    assert isinstance(dask._make_beam_pipeline().runner, ClusterDaskRunner)


def test_backbone_from_properties_reads_empty_values_as_defaults():
    props = {"backbone": "mobilenet_v3_small", "weights": "", "layer": "", "input_size": 0, "fps": 1.0}
    assert BackboneConfig.from_properties(props) == BackboneConfig(name="mobilenet_v3_small", weights="none")
    props.update(weights="/w.h5", layer="conv", input_size="96")
    assert BackboneConfig.from_properties(props) == BackboneConfig("mobilenet_v3_small", "/w.h5", "conv", 96)
