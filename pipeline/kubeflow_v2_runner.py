"""Kubeflow Pipelines v2 / Vertex AI: compile the same pipeline to a pipeline-spec JSON.

The container image (built from the repository's Dockerfile) is a parameter; Beam
arguments for Dataflow / Flink / Spark come from the config's ``beam.extra_args``.
Both targets consume the same KFP v2 PipelineSpec; Vertex needs a ``gs://`` pipeline root.
"""
from __future__ import annotations

import os
import re
import sys

from laf.errors import UserError
from pipeline.config import IMAGE_SETUP_PY, IMAGE_WORKDIR, PipelineConfig

TARGETS = ("kubeflow", "vertex")
DEFAULT_SPEC_FILE = "pipeline.json"


def compile_pipeline(cfg: PipelineConfig, target: str, image: str, output: str, enable_cache: bool = True) -> str:
    """Write the pipeline-spec JSON to ``output`` and return its path. With ``enable_cache``, a task
    whose inputs and settings are unchanged reuses its earlier result; the cluster cannot see that
    a file at the same path was rewritten, so after changing data in place compile without it."""
    from tfx import v1 as tfx

    from pipeline.pipeline import create_pipeline

    if target not in TARGETS:
        raise UserError(f"--target must be one of {', '.join(TARGETS)}, got {target!r}")
    if not image:
        raise UserError("--image is required (the container image built from the Dockerfile)")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", cfg.pipeline_name):  # its length: config.MAX_PIPELINE_NAME
        raise UserError(f"pipeline_name must be lowercase letters, digits and '-' (not starting with '-')"
                        f" for Kubeflow/Vertex, got {cfg.pipeline_name!r}")
    if target == "vertex" and not cfg.pipeline_root.startswith("gs://"):
        print(f"note: Vertex AI needs a gs:// pipeline_root; {cfg.pipeline_root} is local", file=sys.stderr)
    output = spec_path(output)
    out_dir = os.path.dirname(output)
    os.makedirs(out_dir, exist_ok=True)
    # Pipeline spec 2.1: the KFP 2 launcher passes parameters only as ExecutorInput.parameterValues, which
    # TFX's container entrypoint reads only when the spec hands it the input definitions (2.1 does).
    config = tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=image, use_pipeline_spec_2_1=True)
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=config, output_dir=out_dir, output_filename=os.path.basename(output))
    # Components run inside the image: its setup.py and schema files, not this machine's checkout paths.
    runner.run(create_pipeline(cfg, beam_pipeline_args=cfg.beam.pipeline_args(setup_file=IMAGE_SETUP_PY),
                               project_dir=IMAGE_WORKDIR, enable_cache=enable_cache), write_out=True)
    return output


def spec_path(output: str) -> str:
    """The spec file's absolute path; a folder (existing, or written with a trailing '/') gets
    ``pipeline.json`` in it. Why: TFX writes an empty file name as ``pipeline.json`` beside the
    folder, elsewhere than the path given."""
    if not output.strip():
        raise UserError("--output: empty path (want the pipeline JSON file to write)")
    if output.endswith(("/", os.sep)) or os.path.isdir(output):
        output = os.path.join(output, DEFAULT_SPEC_FILE)
    return os.path.abspath(output)
