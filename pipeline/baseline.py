"""Whether the latest blessed model of a local run can be the Evaluator's baseline this time.

TFX's ``LatestBlessedModelStrategy`` takes the latest blessed ``Model`` of the pipeline whatever
it was trained on. After a change of backbone, layer, input size, fps or labels under the same
``pipeline_name`` and root, that model cannot read the new records (the Evaluator fails on every
rerun) or scores them against other label indices (its Hit@1 gates the push at random). A local
run compares the model's assets (``laf.serve.assets``: ``features.json`` and ``labels.json``) with
what this run ingests, and runs without a baseline when they differ, as a first run does. Weights
files are not compared: the assets hold a copy whose bytes need not match, and the same network
and input give records the baseline can read.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Optional

from laf import files, run_store
from laf.errors import UserError
from laf.ingest.backbones import BackboneConfig
from pipeline.config import PipelineConfig
from schemas.vocabulary import Vocabulary


def latest_blessed_model(pipeline_root: str) -> Optional[str]:
    """The serving folder of the model the Resolver would pick (the highest id among the models a
    published blessing blessed); None when there is none."""
    from ml_metadata.proto import metadata_store_pb2

    store = run_store.open_store(pipeline_root)
    blessed = {b.custom_properties["current_model_id"].int_value
               for b in store.get_artifacts_by_type("ModelBlessing")
               if b.state == metadata_store_pb2.Artifact.LIVE and b.custom_properties["blessed"].int_value == 1}
    models = [m for m in store.get_artifacts_by_type("Model") if m.id in blessed]
    return files.join(max(models, key=lambda m: m.id).uri, "Format-Serving") if models else None


def mismatch(cfg: PipelineConfig, vocabulary: Vocabulary) -> Optional[str]:
    """Why the latest blessed model cannot be this run's baseline (None: it can, or there is none)."""
    from laf.serve import assets

    if not os.path.isfile(cfg.metadata_path):
        return None
    model = latest_blessed_model(cfg.pipeline_root)
    if model is None:
        return None
    try:
        carried = assets.load(model)
    except UserError as e:
        return f"its assets cannot be read ({e})"
    if carried is None or carried.vocabulary is None:
        return "it carries no features.json or labels.json to compare with"
    wanted = BackboneConfig.from_properties(dataclasses.asdict(cfg.features))
    had = carried.backbone

    def features(b: BackboneConfig, fps: float) -> str:
        return f"{b.name}, layer {b.layer or 'top'}, {b.size} px, {fps:g} fps"

    if features(had, carried.fps) != features(wanted, float(cfg.features.fps)):
        return (f"it was trained on other features ({features(had, carried.fps)}; this run:"
                f" {features(wanted, float(cfg.features.fps))})")
    if carried.vocabulary != vocabulary:
        return (f"it was trained on other labels ({len(carried.vocabulary)} labels; this run:"
                f" {len(vocabulary)})")
    return None
