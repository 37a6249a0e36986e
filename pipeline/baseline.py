"""Whether the latest blessed model of a local run can be the Evaluator's baseline this time.

TFX's ``LatestBlessedModelStrategy`` takes the latest blessed ``Model`` of the pipeline whatever
it was trained on. After a change of backbone, layer, input size, fps or labels under the same
``pipeline_name`` and root, that model cannot read the new records (the Evaluator fails on every
rerun) or scores them against other label indices (its Hit@1 gates the push at random). A local
run compares the model's assets (``laf.serve.assets``: ``features.json`` and ``labels.json``) with
what this run ingests, and runs without a baseline when they differ, as a first run does (weights
files by their bytes: the assets hold a copy of the run's). A local run's resolver
(``pipeline.resolver``) skips the run's own model and compares the one it picks the same way, with
the model the Trainer made (:func:`differs`).
"""
from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Callable, Optional

from laf import files, run_store
from laf.errors import first_line
from laf.ingest.backbones import BACKBONES, PUBLIC_WEIGHTS, BackboneConfig
from pipeline.config import PipelineConfig
from schemas.vocabulary import Vocabulary

if TYPE_CHECKING:
    from laf.serve.localize import IngestSettings


def latest_blessed_model(pipeline_root: str, pipeline_name: str) -> Optional[str]:
    """The serving folder of the model TFX's resolver would pick (a local run's skips the run's own):
    among the published artifacts of the pipeline's own context, the highest id among the models a
    blessing blessed; None when none."""
    from ml_metadata.proto import metadata_store_pb2

    store = run_store.open_store(pipeline_root)
    context = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if context is None:
        return None
    live = [a for a in store.get_artifacts_by_context(context.id) if a.state == metadata_store_pb2.Artifact.LIVE]
    kinds = {t.id: t.name for t in store.get_artifact_types()}
    blessed = {a.custom_properties["current_model_id"].int_value for a in live
               if kinds.get(a.type_id) == "ModelBlessing" and a.custom_properties["blessed"].int_value == 1}
    model = run_store.latest([a for a in live if kinds.get(a.type_id) == "Model" and a.id in blessed])
    return run_store.serving_dir(model.uri) if model is not None else None


def _same_weights(had: str, wanted: str) -> bool:
    """The same public weights by name, or weights files of the same bytes (the model's assets
    hold a copy of the run's file)."""
    if had in PUBLIC_WEIGHTS or wanted in PUBLIC_WEIGHTS:
        return had == wanted
    return files.read_bytes(had) == files.read_bytes(wanted)  # gs:// too


def mismatch(cfg: PipelineConfig, vocabulary: Vocabulary) -> Optional[str]:
    """Why the latest blessed model cannot be this run's baseline (None: it can, or there is none).
    A model or store it cannot read is a reason too: the check advises, it never stops a run."""
    if not os.path.isfile(cfg.metadata_path):
        return None
    return _advised(_mismatch, cfg, vocabulary)


def _mismatch(cfg: PipelineConfig, vocabulary: Vocabulary) -> Optional[str]:
    from laf.serve.localize import IngestSettings

    model = latest_blessed_model(cfg.pipeline_root, cfg.pipeline_name)
    if model is None:
        return None
    features = BackboneConfig.from_properties(dataclasses.asdict(cfg.features))
    return _differs(model, IngestSettings(features, float(cfg.features.fps), vocabulary))


def differs(model: str, candidate: str) -> Optional[str]:
    """Why the model served from ``model`` cannot be the baseline of the one in ``candidate`` (both
    serving folders; None: it can). For ``pipeline.resolver``, which picks the baseline only after
    the Trainer ran: before it, :func:`mismatch` checked the latest blessed model, which an
    unchanged rerun's resolver skips as the run's own."""
    from laf.serve import assets

    def compare() -> Optional[str]:
        wanted = assets.load(candidate)
        if wanted is None or wanted.vocabulary is None:
            return "this run's model carries no features.json or labels.json to compare with"
        return _differs(model, wanted)

    return _advised(compare)


def _advised(check: Callable[..., Optional[str]], *args) -> Optional[str]:
    """``check``'s reason, or that of its failure: unreadable assets, store or weights mean no baseline."""
    try:
        return check(*args)
    except Exception as e:  # noqa: BLE001 -- said why, never stops a run
        return f"it cannot be compared ({type(e).__name__}: {first_line(str(e))})"


def _differs(model: str, wanted: IngestSettings) -> Optional[str]:
    from laf.serve import assets

    carried = assets.load(model)
    if carried is None or carried.vocabulary is None:
        return "it carries no features.json or labels.json to compare with"
    had = carried.backbone

    def features(b: BackboneConfig, fps: float) -> str:
        size = b.input_size or BACKBONES.get(b.name, (None, None, "?"))[2]  # a backbone this version lacks: not ours
        return f"{b.name}, layer {b.layer or 'top'}, {size} px, {fps:g} fps"

    trained, ingested = features(had, carried.fps), features(wanted.backbone, wanted.fps)
    if trained != ingested:
        return f"it was trained on other features ({trained}; this run: {ingested})"
    if not _same_weights(had.weights, wanted.backbone.weights):
        return f"it was trained with other backbone weights ({os.path.basename(had.weights)})"
    if carried.vocabulary.labels != wanted.vocabulary.labels:  # the indices the Evaluator scores by
        return (f"it was trained on other labels ({len(carried.vocabulary)} labels; this run:"
                f" {len(wanted.vocabulary)})")
    return None
