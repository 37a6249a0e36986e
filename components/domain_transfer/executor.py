"""Executor of DomainTransfer: a thin adapter from artifacts to ``laf.transfer.domain_transfer``."""
import json
import os
from typing import Any, Dict, List

from tfx import types
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
from tfx.utils import path_utils

from laf.transfer import domain_transfer as dt
from laf import tfrecords
from laf.errors import UserError
from schemas.vocabulary import Vocabulary

TRAIN, VALIDATION = "train", "eval"
IMAGE_SPLIT = "train"


def _config(props: Dict[str, Any]) -> dt.TransferConfig:
    hidden = props["hidden_units"]
    hidden = json.loads(hidden) if isinstance(hidden, str) else hidden
    optional = {k: props[k] for k in ("min_frames_per_class", "learning_rate", "svm_epochs")
                if props.get(k) is not None}
    return dt.TransferConfig(theta1=float(props["theta1"]), theta2=float(props["theta2"]),
                             max_rounds=int(props["max_rounds"]), hidden_units=tuple(int(u) for u in hidden),
                             epochs=int(props["epochs"]), batch_size=int(props["batch_size"]),
                             min_images_per_class=int(props["min_images_per_class"]), seed=int(props["seed"]),
                             **optional)


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
        with dt.reading_errors():
            _transfer(videos, images, vocabulary, output_dict, exec_properties)


def _transfer(videos: types.Artifact, images: types.Artifact, vocabulary: Vocabulary,
              output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
    n = len(vocabulary)
    frames = dt.FeatureStream.from_video_files(_split(videos, TRAIN), n)
    validation = dt.FeatureStream.from_video_files(_split(videos, VALIDATION), n)
    image_stream = dt.FeatureStream.from_image_files(_split(images, IMAGE_SPLIT), n)
    splits = artifact_utils.decode_split_names(videos.split_names)
    tested = {split: dt.FeatureStream.from_video_files(_split(videos, split), n)  # lazy: frames read when scored
              for split in splits if split not in (TRAIN, VALIDATION)}
    for split, stream in tested.items():  # before any training, not after it (the run checks eval itself)
        dt.check_trained(frames, stream, split, n, vocabulary.labels)
        dt.check_finite(stream, f"{split} frames")
    result = dt.run(frames, image_stream, validation, n, _config(exec_properties), vocabulary.labels)

    model = artifact_utils.get_single_instance(output_dict["laf_model"])
    dt.save_laf_model(result.model, path_utils.serving_model_dir(model.uri), frames.dim)
    rounds = artifact_utils.get_single_instance(output_dict["rounds"])
    dt.write_rounds(result, rounds.uri)
    dt.write_image_filter(result.image_mask, _split(images, IMAGE_SPLIT), rounds.uri)
    rounds.set_int_custom_property("chosen_round", result.chosen_round)

    scored = artifact_utils.get_single_instance(output_dict["scored_examples"])
    for split in splits:  # every split gets laf_score, so all splits share one schema
        if split == TRAIN:
            laf = result.laf
        else:
            laf = dt.own_label_scores(result.model, tested.get(split, validation))
        out = os.path.join(tfrecords.split_dir(scored.uri, split), "data_tfrecord-00000-of-00001.gz")
        dt.write_scored_videos(_split(videos, split), out, laf)
    scored.split_names = artifact_utils.encode_split_names(splits)
    vocabulary.save(scored.uri)  # the trainer sizes its output layer and assets from it
    examples_utils.set_payload_format(scored, example_gen_pb2.PayloadFormat.FORMAT_TF_SEQUENCE_EXAMPLE)
