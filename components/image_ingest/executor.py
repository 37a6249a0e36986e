"""Executor of ImageIngest: a thin adapter running ``laf.ingest.image_ingest`` on the component's
Beam pipeline (``beam_pipeline_args``, on any runner: ``components.ingest_executor``) and describing the
output artifact."""
import json
from typing import Any, Dict, List

from tfx import types
from tfx.components.util import examples_utils
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils

from components.ingest_executor import IngestExecutor
from laf.ingest import image_ingest
from laf.ingest.backbones import BackboneConfig
from schemas.vocabulary import Vocabulary


class Executor(IngestExecutor):
    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        props = exec_properties
        examples = artifact_utils.get_single_instance(output_dict["examples"])
        vocabularies = input_dict.get("vocabulary") or []
        vocabulary = artifact_utils.get_single_instance(vocabularies).uri if vocabularies else None
        if props.get("vocabulary_json"):
            vocabulary = Vocabulary.from_json(props["vocabulary_json"])
        options = props.get("options") or {}
        if isinstance(options, str):
            options = json.loads(options)
        backbone = BackboneConfig.from_properties(props)
        pipeline = self._make_beam_pipeline()
        summary = image_ingest.run(pipeline, props["root"], examples.uri, backbone,
                                   vocabulary=vocabulary, batch_size=props.get("batch_size") or 64, **options)
        examples.split_names = artifact_utils.encode_split_names([image_ingest.SPLIT])
        examples_utils.set_payload_format(examples, example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE)
        for key, value in summary.items():
            examples.set_int_custom_property(key, value)
