"""VideoIngest: the Beam video-ingestion transforms of ``laf.ingest.video_ingest`` as a TFX component.

Outputs an Examples artifact (gzipped ``tf.train.SequenceExample`` TFRecords, splits
train/eval/test, plus ``rejected.jsonl`` and ``summary.json``) and the LabelVocabulary
artifact (``labels.json``) every downstream component reads.
"""
import json
from typing import Dict, Optional

from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import component_spec, standard_artifacts

from components.artifacts import LabelVocabulary
from components.video_ingest import executor

P = component_spec.ExecutionParameter


class VideoIngestSpec(types.ComponentSpec):
    PARAMETERS = {
        "manifest": P(type=str, optional=True),       # CSV/JSONL manifest, or ...
        "annotations": P(type=str, optional=True),    # ... THUMOS14 folder / ActivityNet JSON
        "video_dir": P(type=str, optional=True),      # with annotations: where the videos are
        "subset": P(type=str, optional=True),
        "fps": P(type=float),
        "split_ratios": P(type=str, optional=True),       # JSON {"train": r, ...}: TFX drops dict properties
        "backbone": P(type=str),
        "weights": P(type=str),
        "layer": P(type=str, optional=True),          # "" = global-average-pooled top
        "input_size": P(type=int, optional=True),     # 0 = the backbone's default
        "batch_size": P(type=int, optional=True),
        "taxonomy": P(type=str, optional=True),
        "max_bytes": P(type=int, optional=True),      # bigger video files are rejected (0 = default cap)
        "max_duration": P(type=float, optional=True),  # longer videos (seconds) are rejected (0 = default)
        "inputs_fingerprint": P(type=str, optional=True),  # laf.ingest.fingerprint: new files, new cache key
    }
    INPUTS = {}
    OUTPUTS = {
        "examples": component_spec.ChannelParameter(type=standard_artifacts.Examples),
        "vocabulary": component_spec.ChannelParameter(type=LabelVocabulary),
    }


class VideoIngest(base_beam_component.BaseBeamComponent):
    SPEC_CLASS = VideoIngestSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(self, manifest: str = "", fps: float = 1.0, split_ratios: Optional[Dict[str, float]] = None,
                 backbone: str = "mobilenet_v3_small", weights: str = "none", layer: str = "",
                 input_size: int = 0, batch_size: int = 32, annotations: str = "", video_dir: str = "",
                 subset: str = "", taxonomy: str = "", max_bytes: int = 0, max_duration: float = 0.0,
                 inputs_fingerprint: str = ""):
        if bool(manifest) == bool(annotations):
            raise ValueError("VideoIngest needs exactly one of manifest= or annotations= (with video_dir=)")
        super().__init__(spec=VideoIngestSpec(
            manifest=manifest, annotations=annotations, video_dir=video_dir, subset=subset, fps=float(fps),
            split_ratios=json.dumps(dict(split_ratios), sort_keys=True) if split_ratios else None, backbone=backbone, weights=weights,
            layer=layer, input_size=int(input_size), batch_size=int(batch_size), taxonomy=taxonomy,
            max_bytes=int(max_bytes), max_duration=float(max_duration), inputs_fingerprint=inputs_fingerprint,
            examples=types.Channel(type=standard_artifacts.Examples),
            vocabulary=types.Channel(type=LabelVocabulary)))
