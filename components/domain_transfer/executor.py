"""Executor of DomainTransfer: a thin adapter from artifacts to ``laf.transfer.domain_transfer``."""
import os
from typing import Any, Dict, List

from tfx import types
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
from tfx.utils import path_utils

from laf import tfrecords
from laf.errors import UserError
from laf.transfer import domain_transfer as dt, outputs
from laf.transfer.config import from_properties
from laf.transfer.feature_stream import FeatureStream, check_finite, reading_errors
from laf.transfer.heads import own_label_scores
from schemas.vocabulary import Vocabulary

TRAIN, VALIDATION = "train", "eval"
IMAGE_SPLIT = "train"


def _split(artifact: types.Artifact, split: str) -> str:
    if split not in artifact_utils.decode_split_names(artifact.split_names):
        raise UserError(f"{artifact.uri} has no '{split}' split (it has {artifact.split_names})")
    return tfrecords.split_dir(artifact.uri, split)


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        videos = artifact_utils.get_single_instance(input_dict["videos"])
        images = artifact_utils.get_single_instance(input_dict["images"])
        vocabulary = Vocabulary.load(artifact_utils.get_single_instance(input_dict["vocabulary"]).uri)
        with reading_errors():
            _transfer(videos, images, vocabulary, output_dict, exec_properties)


def _transfer(videos: types.Artifact, images: types.Artifact, vocabulary: Vocabulary,
              output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
    n = len(vocabulary)
    frames = FeatureStream.from_video_files(_split(videos, TRAIN), n)
    validation = FeatureStream.from_video_files(_split(videos, VALIDATION), n)
    image_stream = FeatureStream.from_image_files(_split(images, IMAGE_SPLIT), n)
    splits = artifact_utils.decode_split_names(videos.split_names)
    tested = {split: FeatureStream.from_video_files(_split(videos, split), n)  # lazy: frames read when scored
              for split in splits if split not in (TRAIN, VALIDATION)}
    for split, stream in tested.items():  # before any training, not after it (the run checks eval itself)
        dt.check_trained(frames, stream, split, n, vocabulary.labels)
        check_finite(stream, f"{split} frames")
    result = dt.run(frames, image_stream, validation, n, from_properties(exec_properties), vocabulary.labels)

    model = artifact_utils.get_single_instance(output_dict["laf_model"])
    outputs.save_laf_model(result.model, path_utils.serving_model_dir(model.uri), frames.dim)
    rounds = artifact_utils.get_single_instance(output_dict["rounds"])
    outputs.write_rounds(result, rounds.uri)
    outputs.write_image_filter(result.image_mask, _split(images, IMAGE_SPLIT), rounds.uri)
    rounds.set_int_custom_property("chosen_round", result.chosen_round)

    scored = artifact_utils.get_single_instance(output_dict["scored_examples"])
    for split in splits:  # every split gets laf_score, so all splits share one schema
        if split == TRAIN:
            laf = result.laf
        else:
            laf = own_label_scores(result.model, tested.get(split, validation))
        out = os.path.join(tfrecords.split_dir(scored.uri, split), "data_tfrecord-00000-of-00001.gz")
        outputs.write_scored_videos(_split(videos, split), out, laf)
    scored.split_names = artifact_utils.encode_split_names(splits)
    vocabulary.save(scored.uri)  # the trainer sizes its output layer and assets from it
    examples_utils.set_payload_format(scored, example_gen_pb2.PayloadFormat.FORMAT_TF_SEQUENCE_EXAMPLE)
