"""Executor of VideoIngest: a thin adapter running ``laf.ingest.video_ingest`` on the component's
Beam pipeline (``beam_pipeline_args``, on any runner: ``components.ingest_executor``) and describing the
output artifacts."""
import json
from typing import Any, Dict, List

from tfx import types
from tfx.components.util import examples_utils
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils

from components.ingest_executor import IngestExecutor
from laf.ingest import manifest as mf
from laf.ingest import video_ingest
from laf.ingest.backbones import BackboneConfig
from schemas import names


def _ratios(value: Any) -> Dict[str, float]:
    if not value:
        return dict(mf.DEFAULT_RATIOS)
    return mf.check_ratios(json.loads(value) if isinstance(value, str) else value)


class Executor(IngestExecutor):
    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        props = exec_properties
        examples = artifact_utils.get_single_instance(output_dict["examples"])
        vocabulary = artifact_utils.get_single_instance(output_dict["vocabulary"])
        ratios = _ratios(props.get("split_ratios"))
        rows = mf.read_videos(*(props.get(key) or "" for key in ("manifest", "annotations", "video_dir", "subset")),
                              ratios=ratios)
        backbone = BackboneConfig.from_properties(props)
        limits = {k: props[k] for k in ("max_bytes", "max_duration") if props.get(k)}
        options = video_ingest.VideoOptions(batch_size=props.get("batch_size") or 32, **limits)
        summary = video_ingest.extract_videos(
            rows, examples.uri, backbone, float(props["fps"]), options=options,
            taxonomy=props.get("taxonomy") or None, pipeline=self._make_beam_pipeline(),
            vocabulary_dir=vocabulary.uri)
        examples.split_names = artifact_utils.encode_split_names(list(names.SPLITS))
        examples_utils.set_payload_format(examples, example_gen_pb2.PayloadFormat.FORMAT_TF_SEQUENCE_EXAMPLE)
        for key, value in summary.items():
            examples.set_int_custom_property(key, value)
