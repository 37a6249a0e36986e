"""ImageIngest: the Beam image-ingestion transforms of ``laf.ingest.image_ingest`` as a TFX component.

Outputs an Examples artifact (gzipped ``tf.train.Example`` TFRecords in ``Split-train``,
plus ``rejected.jsonl``, ``summary.json`` and the ``labels.json`` it used). Given the
LabelVocabulary artifact of video ingestion (or, in a local run, that vocabulary's text as
``vocabulary_json``), label indices match the videos' and images whose label is not in it are
rejected; without it the vocabulary is built from the images.
"""
import json
from typing import Any, Dict, Optional

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import component_spec, standard_artifacts

from components.artifacts import LabelVocabulary
from components.image_ingest import executor

P = component_spec.ExecutionParameter


class ImageIngestSpec(types.ComponentSpec):
    PARAMETERS = {
        "root": P(type=str),                          # folder tree or manifest
        "backbone": P(type=str),
        "weights": P(type=str),
        "layer": P(type=str, optional=True),          # "" = global-average-pooled top
        "input_size": P(type=int, optional=True),     # 0 = the backbone's default
        "batch_size": P(type=int, optional=True),
        "options": P(type=str, optional=True),  # JSON: threads and ImageOptions limits (TFX drops dicts)
        "inputs_fingerprint": P(type=str, optional=True),  # laf.ingest.fingerprint: new files, new cache key
        # the videos' vocabulary itself (labels.json's text) where it is known before the run (a local run),
        # instead of the channel: keyed by its content, not by VideoIngest's artifact, which any video change renews
        "vocabulary_json": P(type=str, optional=True),
    }
    INPUTS = {"vocabulary": component_spec.ChannelParameter(type=LabelVocabulary, optional=True)}
    OUTPUTS = {"examples": component_spec.ChannelParameter(type=standard_artifacts.Examples)}


class ImageIngest(base_beam_component.BaseBeamComponent):
    SPEC_CLASS = ImageIngestSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(self, root: str, vocabulary: Optional[types.BaseChannel] = None,
                 backbone: str = "mobilenet_v3_small", weights: str = "none", layer: str = "",
                 input_size: int = 0, batch_size: int = 64, options: Optional[Dict[str, Any]] = None,
                 inputs_fingerprint: str = "", vocabulary_json: Optional[str] = None):
        if vocabulary is not None and vocabulary_json is not None:
            raise ValueError("give the vocabulary as a channel or as vocabulary_json, not both")
        super().__init__(spec=ImageIngestSpec(
            root=root, vocabulary=vocabulary, backbone=backbone, weights=weights, layer=layer,
            input_size=int(input_size), batch_size=int(batch_size), options=json.dumps(dict(options)) if options else None,
            inputs_fingerprint=inputs_fingerprint, vocabulary_json=vocabulary_json,
            examples=types.Channel(type=standard_artifacts.Examples)))
