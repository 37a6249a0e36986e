"""Local runs: LocalDagRunner, SQLite ML Metadata under the pipeline root, Beam DirectRunner.

Caching is on, so rerunning after a failure or a kill resumes: completed components are
reused from ML Metadata and only the rest runs.
"""
from __future__ import annotations

import os

from pipeline.config import PipelineConfig


def run(cfg: PipelineConfig, enable_cache: bool = True) -> None:
    from tfx import v1 as tfx

    from pipeline.pipeline import create_pipeline

    os.makedirs(cfg.pipeline_root, exist_ok=True)
    metadata = tfx.orchestration.metadata.sqlite_metadata_connection_config(cfg.metadata_path)
    tfx.orchestration.LocalDagRunner().run(
        create_pipeline(cfg, metadata_connection_config=metadata, enable_cache=enable_cache))
