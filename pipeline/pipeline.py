"""The LAF pipeline: one ``create_pipeline`` wiring every stage (house style: TFX penguin/taxi).

image + video ingestion -> statistics / schema / validation (gate) -> domain transfer
(Algorithm 1, LAF scores) -> Trainer (LSTMP w/ LAF or a baseline) -> Evaluator (Hit@k,
localization mAP; blessing) -> Pusher (TF Serving layout, only blessed models).
"""
from __future__ import annotations

import dataclasses
import os
from typing import List, Mapping, Optional

from tfx import v1 as tfx

import schemas
from components.domain_transfer.component import DomainTransfer
from components.image_ingest.component import ImageIngest
from components.validation_gate.component import ValidationGate
from components.video_ingest.component import VideoIngest
from laf.errors import UserError
from pipeline import code_version
from pipeline import resolver as resolver_lib
from pipeline.config import PipelineConfig
from schemas.vocabulary import Vocabulary

RUN_FN = "trainer.run_fn.run_fn"


def _validated(examples, schema_file: str, name: str, gate_code: str) -> List:
    """StatisticsGen + ImportSchemaGen + ExampleValidator + gate for one example kind."""
    stats = tfx.components.StatisticsGen(examples=examples).with_id(f"{name}StatisticsGen")
    schema = tfx.components.ImportSchemaGen(schema_file=schema_file).with_id(f"{name}SchemaGen")
    validator = tfx.components.ExampleValidator(
        statistics=stats.outputs["statistics"], schema=schema.outputs["schema"]).with_id(f"{name}ExampleValidator")
    gate = ValidationGate(anomalies=validator.outputs["anomalies"], dataset_name=name,  # new gate code: it alone anew
                          code_version=gate_code).with_id(f"{name}ValidationGate")
    return [stats, schema, validator, gate]


def _schema_file(path: str, project_dir: Optional[str], schema_dir: Optional[str]) -> str:
    """A schema file of ``schemas/`` as seen where the pipeline runs: in ``schema_dir`` if given, else
    in ``project_dir``'s ``schemas/`` (this project's folder there, e.g. the container image's), else
    in this checkout."""
    if schema_dir is not None:
        return os.path.join(schema_dir, os.path.basename(path))
    return path if project_dir is None else f"{project_dir}/schemas/{os.path.basename(path)}"


def create_pipeline(cfg: PipelineConfig, metadata_connection_config=None,
                    beam_pipeline_args: Optional[List[str]] = None, enable_cache: bool = True,
                    project_dir: Optional[str] = None,
                    input_fingerprints: Optional[Mapping[str, str]] = None,
                    vocabulary: Optional[Vocabulary] = None,
                    schema_dir: Optional[str] = None,
                    other_than_own: bool = False, baseline: bool = True) -> tfx.dsl.Pipeline:
    """For a local run, where the inputs are at hand: ``input_fingerprints`` (``{"videos": ...,
    "images": ...}`` of ``laf.ingest.fingerprint``), so that changed input files are ingested anew
    instead of reused from cache; ``vocabulary`` (the videos', as VideoIngest builds it), so that
    activity Hit@k averages every action of an activity, also one the test split lacks, and
    ImageIngest's cache key holds the labels, not VideoIngest's artifact (a video added would
    otherwise decode and embed every image again). Without
    them (a compiled spec) the Evaluator learns activities from the test videos' records.
    ``schema_dir``: a folder holding copies of the schema files whose path names their content
    (``pipeline.local_runner.schema_snapshot``), because TFX's cache keys ImportSchemaGen by the path it
    reads: a schema changed at the same path would be reused from cache. ``other_than_own`` (a local
    run): the baseline is the latest blessed model other than the run's own, and none when it was
    trained on other features or labels (``pipeline.resolver``), so an unchanged rerun reuses the
    Evaluator and Pusher instead of pushing the same model again. Without ``baseline`` (a spec for the
    Kubeflow Pipelines 2 backend, which runs no resolver task) there is no resolver, and the Evaluator
    blesses on ``evaluation.hit1_floor`` alone, not also against the latest blessed model."""
    from laf.evaluate.tfma_metrics import eval_config

    ingestion_code = code_version.code_version(entries=code_version.INGESTION)  # a compiled spec's too
    fingerprints = {k: f"{(input_fingerprints or {}).get(k, '')}:{ingestion_code}" for k in ("videos", "images")}

    feats = cfg.features
    backbone = dict(backbone=feats.backbone, weights=feats.weights, layer=feats.layer or "",
                    input_size=feats.input_size or 0)
    video_ingest = VideoIngest(manifest=cfg.data.videos, annotations=cfg.data.annotations, video_dir=cfg.data.video_dir,
                               subset=cfg.data.subset, taxonomy=cfg.data.taxonomy, fps=feats.fps,
                               split_ratios=cfg.data.split_ratios,
                               max_bytes=cfg.data.max_video_bytes, max_duration=cfg.data.max_video_seconds,
                               inputs_fingerprint=fingerprints["videos"], **backbone).with_beam_pipeline_args(cfg.beam.ingest_args)
    fetching = {"allow_private_addresses": True} if cfg.data.allow_private_addresses else None
    labels = ({"vocabulary_json": vocabulary.to_json()} if vocabulary is not None  # a video change then keeps the images
              else {"vocabulary": video_ingest.outputs["vocabulary"]})
    image_ingest = ImageIngest(root=cfg.data.images, **labels, options=fetching,
                               inputs_fingerprint=fingerprints["images"], **backbone).with_beam_pipeline_args(cfg.beam.ingest_args)
    video_schema, image_schema = (_schema_file(p, project_dir, schema_dir) for p in (schemas.VIDEO_SCHEMA,
                                                                                     schemas.IMAGE_SCHEMA))
    gate_code = code_version.code_version(entries=code_version.GATE)
    video_checks = _validated(video_ingest.outputs["examples"], video_schema, "Video", gate_code)
    image_checks = _validated(image_ingest.outputs["examples"], image_schema, "Image", gate_code)

    dt = cfg.domain_transfer
    domain_transfer = DomainTransfer(
        videos=video_ingest.outputs["examples"], images=image_ingest.outputs["examples"],
        vocabulary=video_ingest.outputs["vocabulary"], theta1=dt.theta1, theta2=dt.theta2,
        max_rounds=dt.max_rounds, hidden_units=dt.hidden_units, epochs=dt.epochs, batch_size=dt.batch_size,
        min_images_per_class=dt.min_images_per_class, min_frames_per_class=dt.min_frames_per_class,
        learning_rate=dt.learning_rate, svm_epochs=dt.svm_epochs, seed=dt.seed,
        code_version=code_version.code_version())  # any new code: domain transfer and all after it anew
    domain_transfer.add_upstream_nodes([video_checks[-1], image_checks[-1]])

    trainer = tfx.components.Trainer(
        run_fn=RUN_FN,
        examples=domain_transfer.outputs["scored_examples"],
        train_args=tfx.proto.TrainArgs(splits=["train"]),
        eval_args=tfx.proto.EvalArgs(splits=["eval"]),
        custom_config={**dataclasses.asdict(cfg.trainer), "localize": cfg.evaluation.localize(),
                       "features": dataclasses.asdict(feats)})  # into the model's assets

    own = {resolver_lib.CANDIDATE: trainer.outputs["model"]} if other_than_own else {}
    resolvers = [tfx.dsl.Resolver(
        strategy_class=resolver_lib.OtherBlessedModelStrategy if other_than_own
        else tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing), **own,
    ).with_id("latest_blessed_model_resolver")] if baseline else []
    evaluator = tfx.components.Evaluator(
        examples=video_ingest.outputs["examples"], model=trainer.outputs["model"],
        baseline_model=resolvers[0].outputs["model"] if resolvers else None, example_splits=["test"],
        eval_config=eval_config(cfg.evaluation, vocabulary=vocabulary))
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=cfg.serving_dir)))

    components = [video_ingest, image_ingest, *video_checks, *image_checks, domain_transfer, trainer,
                  *resolvers, evaluator, pusher]
    if cfg.pipeline_name in {c.id for c in components}:  # TFX refuses it with a RuntimeError, after the imports
        raise UserError(f"pipeline_name {cfg.pipeline_name!r} is the id of one of the pipeline's components;"
                        " choose another name")
    return tfx.dsl.Pipeline(
        pipeline_name=cfg.pipeline_name,
        pipeline_root=cfg.pipeline_root,
        components=components,
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args if beam_pipeline_args is not None else cfg.beam.pipeline_args(),
    )
