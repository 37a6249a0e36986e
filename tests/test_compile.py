"""`laf compile`: its notes on paths the containers cannot see, the spec file it writes and the checks before
it compiles (the whole compile: tests/test_pipeline.py, tests/test_container_contract.py)."""
import json

import pytest

from laf.commands.compile import local_paths
from laf.errors import UserError
from pipeline.config import DataConfig, FeaturesConfig, PipelineConfig


def test_file_uris_are_this_machine_s_paths_and_gs_uris_are_not():
    cfg = PipelineConfig(pipeline_root="gs://b/root", serving_dir="file:///srv/models",
                         data=DataConfig(videos="gs://b/videos.csv", images="file:///data/images"),
                         features=FeaturesConfig(weights="/weights/backbone.weights.h5"))
    assert local_paths(cfg) == [("serving_dir", "file:///srv/models"), ("data.images", "file:///data/images"),
                                ("features.weights", "/weights/backbone.weights.h5")]


def _job(root: str = "gs://b/root") -> dict:
    """A PipelineJob dict as TFX's KubeflowV2DagRunner returns it (the fields that matter here)."""
    return {"displayName": "laf", "labels": {"tfx_runner": "kubeflow_v2"},
            "runtimeConfig": {"gcsOutputDirectory": root},
            "pipelineSpec": {"pipelineInfo": {"name": "laf"}, "schemaVersion": "2.1.0", "sdkVersion": "tfx-1.16.0",
                             "root": {"dag": {"tasks": {}}}}}


def test_a_yaml_spec_is_a_bare_pipeline_spec_that_keeps_the_pipeline_root(tmp_path):
    """Kubeflow Pipelines 2 uploads a PipelineSpec YAML (its SDK refuses a .json package). TFX wrote the
    YAML without the pipeline root, which lives in the PipelineJob's runtime config: a run put its
    artifacts under the backend's default root, not the config's."""
    import yaml
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    from pipeline.kubeflow_v2_runner import write_spec

    for name in ("p.yaml", "p.YML"):
        write_spec(_job(), str(tmp_path / "out" / name), "gs://b/root")
        spec = yaml.safe_load((tmp_path / "out" / name).read_text())
        parsed = json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())  # strict: a bare spec, no PipelineJob
        assert parsed.default_pipeline_root == "gs://b/root" and parsed.pipeline_info.name == "laf"
    from kfp.client.client import _extract_pipeline_yaml  # what kfp.Client().create_run_from_pipeline_package reads

    assert _extract_pipeline_yaml(str(tmp_path / "out" / "p.yaml")).pipeline_spec.default_pipeline_root == "gs://b/root"
    write_spec(_job(), str(tmp_path / "p.json"), "gs://b/root")
    job = json.loads((tmp_path / "p.json").read_text())  # Vertex's PipelineJob, as before
    assert job["runtimeConfig"]["gcsOutputDirectory"] == job["pipelineSpec"]["defaultPipelineRoot"] == "gs://b/root"
    assert (tmp_path / "p.json").read_text() == json.dumps(job, sort_keys=True)  # stable bytes


def test_a_uri_output_is_kept_and_a_folder_gets_the_default_name(tmp_path):
    """``gs://b/p.json`` was made absolute: the spec went to a local folder named ``gs:``."""
    from pipeline.kubeflow_v2_runner import spec_path

    assert spec_path("gs://b/specs/p.json") == "gs://b/specs/p.json"
    assert spec_path("gs://b/specs/") == "gs://b/specs/pipeline.json"
    with pytest.raises(UserError, match="neither a local path nor a gs:// URI"):
        spec_path("s3://b/p.json")
    assert spec_path(str(tmp_path)) == str(tmp_path / "pipeline.json")
    assert spec_path(f"file://{tmp_path}/p.yaml") == str(tmp_path / "p.yaml")


def test_compile_makes_the_checks_a_local_run_makes():
    """`laf run` refused a pipeline root with glob characters and an unknown Beam runner in one line;
    `laf compile` wrote the spec, and the cluster failed after the ingestion."""
    from pipeline.kubeflow_v2_runner import compile_pipeline
    from pipeline.config import BeamConfig

    with pytest.raises(UserError, match=r"pipeline_root: gs://b/runs\[1\] holds one of"):
        compile_pipeline(PipelineConfig(pipeline_root="gs://b/runs[1]"), "vertex", "img", "p.json")
    with pytest.raises(UserError, match="beam.extra_args: .*DataflowRuner"):
        compile_pipeline(PipelineConfig(pipeline_root="gs://b/root", beam=BeamConfig(extra_args=["--runner=DataflowRuner"])),
                         "vertex", "img", "p.json")
    with pytest.raises(UserError, match="beam.extra_args: Beam options: --runer is no flag Beam declares \\(did you mean --runner\\?\\)"):
        compile_pipeline(PipelineConfig(pipeline_root="gs://b/root", beam=BeamConfig(extra_args=["--runer=DataflowRunner"])),
                         "vertex", "img", "p.json")
