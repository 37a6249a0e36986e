"""Kubeflow Pipelines v2 / Vertex AI: compile the same pipeline to a pipeline spec.

The container image (built from the repository's Dockerfile) is a parameter; Beam
arguments for Dataflow / Flink / Spark come from the config's ``beam.extra_args``.
Both targets run the same KFP v2 PipelineSpec. A ``.json`` output is the PipelineJob that Vertex
submits (the spec, and the pipeline root in its runtime config); a ``.yaml`` / ``.yml`` output is
the bare PipelineSpec that the Kubeflow Pipelines 2 SDK and UI upload. Both carry the pipeline
root as the spec's ``defaultPipelineRoot``, which must be a ``gs://`` URI. The Kubeflow spec has no
baseline: its backend runs no resolver task.
"""
from __future__ import annotations

import json
import os
import posixpath
import re
import sys
from typing import Any, Dict

import yaml

from laf import files
from laf.errors import UserError
from pipeline.config import IMAGE_SETUP_PY, IMAGE_WORKDIR, PipelineConfig

TARGETS = ("kubeflow", "vertex")
DEFAULT_SPEC_FILE = "pipeline.json"
# where the launchers write artifacts (the KFP 2 launcher also takes s3:// and minio://, which the
# components' TensorFlow file systems do not write; a local path neither does)
ROOT_NOTE = ("note: {where} needs a gs:// pipeline_root (the Kubeflow launcher also takes s3:// and minio://, which"
             " the components' TensorFlow does not write); {root} is not one")


def no_baseline(floor: float) -> str:
    """Why a Kubeflow spec blesses on the Hit@1 floor alone, and what that floor is."""
    return ("note: the Kubeflow Pipelines 2 backend runs no resolver task (\"resolver executors not implemented\"),"
            " so this spec has no baseline model: a model is blessed when its Hit@1 is at least evaluation.hit1_floor"
            f" ({floor:g}{', so every model' if floor <= 0 else ''}), not also against the latest blessed one"
            " (--target vertex keeps it)")


def compile_pipeline(cfg: PipelineConfig, target: str, image: str, output: str, enable_cache: bool = True,
                     baseline: bool = True) -> str:
    """Write the pipeline spec to ``output`` (a local path or a URI) and return where it went. With
    ``enable_cache``, a task whose inputs and settings are unchanged reuses its earlier result; the
    cluster cannot see that a file at the same path was rewritten, so after changing data in place
    compile without it. Without ``baseline`` (always for Kubeflow) the Evaluator has no baseline model:
    after a change of features or labels the last blessed one cannot read the new records."""
    from pipeline.local_runner import check_beam_runners, check_globbable

    if target not in TARGETS:
        raise UserError(f"--target must be one of {', '.join(TARGETS)}, got {target!r}")
    if not image:
        raise UserError("--image is required (the container image built from the Dockerfile)")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", cfg.pipeline_name):  # its length: config.MAX_PIPELINE_NAME
        raise UserError(f"pipeline_name must be lowercase letters, digits and '-' (not starting with '-')"
                        f" for Kubeflow/Vertex, got {cfg.pipeline_name!r}")
    check_globbable("pipeline_root", cfg.pipeline_root)  # as `laf run` does: on the cluster, after the ingestion
    check_beam_runners(cfg, build=False)
    if not cfg.pipeline_root.startswith("gs://"):  # a local root: no mount helps, the launcher refuses it
        where = "Vertex AI" if target == "vertex" else "Kubeflow Pipelines"
        print(ROOT_NOTE.format(where=where, root=cfg.pipeline_root), file=sys.stderr)
    if target == "kubeflow":
        print(no_baseline(cfg.evaluation.hit1_floor), file=sys.stderr)
    output = spec_path(output)
    if target == "kubeflow" and not _is_yaml(output):
        print(f"note: {output} is the PipelineJob JSON that Vertex AI submits; the Kubeflow Pipelines 2 SDK and UI"
              " upload a PipelineSpec YAML: give --output a .yaml name for them", file=sys.stderr)
    from tfx import v1 as tfx  # after the checks above: a mistake shows before TF and TFX load

    from pipeline.pipeline import create_pipeline

    # Pipeline spec 2.1: the KFP 2 launcher passes parameters only as ExecutorInput.parameterValues, which
    # TFX's container entrypoint reads only when the spec hands it the input definitions (2.1 does).
    config = tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=image, use_pipeline_spec_2_1=True)
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(config=config)
    # Components run inside the image: its setup.py and schema files, not this machine's checkout paths.
    job = runner.run(create_pipeline(cfg, beam_pipeline_args=cfg.beam.pipeline_args(setup_file=IMAGE_SETUP_PY),
                                     project_dir=IMAGE_WORKDIR, enable_cache=enable_cache,
                                     baseline=baseline and target == "vertex"), write_out=False)
    write_spec(job, output, cfg.pipeline_root)
    return output


def write_spec(job: Dict[str, Any], output: str, pipeline_root: str) -> None:
    """``job`` (TFX's PipelineJob dict) as JSON, or its PipelineSpec alone as YAML for a ``.yaml`` name,
    with the pipeline root in the spec. Why: TFX writes the YAML without the root (that lives in the
    PipelineJob's runtime config), so a Kubeflow run put the artifacts under the backend's default
    root, not the config's."""
    from tfx.dsl.io import fileio

    job["pipelineSpec"]["defaultPipelineRoot"] = pipeline_root
    if _is_yaml(output):
        text = "# LAF pipeline: KFP PipelineSpec compiled by `laf compile`\n"
        text += yaml.safe_dump(job["pipelineSpec"], sort_keys=True)
    else:
        text = json.dumps(job, sort_keys=True)
    if files.is_remote(output):
        fileio.makedirs(posixpath.dirname(output))
        with fileio.open(output, "w") as f:
            f.write(text)
        return
    os.makedirs(os.path.dirname(output), exist_ok=True)
    files.write_atomic(output, text.encode("utf-8"))


def _is_yaml(path: str) -> bool:
    return path.lower().endswith((".yaml", ".yml"))


def spec_path(output: str) -> str:
    """The spec file's absolute path, or its URI (``gs://b/p.json`` was written to a local folder
    ``gs:``); a folder (existing, or written with a trailing '/') gets ``pipeline.json`` in it."""
    if not output.strip():
        raise UserError("--output: empty path (want the pipeline JSON file to write)")
    if files.is_remote(output):
        if not output.startswith("gs://"):  # refused before TF loads, not by TF's file system after the compile
            raise UserError(f"--output: {output} is neither a local path nor a gs:// URI")
        return output + DEFAULT_SPEC_FILE if output.endswith("/") else output
    output = files.local(output)
    if output.endswith(("/", os.sep)) or os.path.isdir(output):
        output = os.path.join(output, DEFAULT_SPEC_FILE)
    return os.path.abspath(output)
