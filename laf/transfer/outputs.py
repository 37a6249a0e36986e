"""What DomainTransfer writes: the LAF model, ``rounds.json`` and its TensorBoard scalars, the image
filter, and the training videos with their ``laf_score`` lists."""
from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import tensorflow as tf

from laf import tfrecords
from laf.errors import UserError
from laf.transfer.domain_transfer import TransferResult
from schemas import names, transfer_files


def save_laf_model(model, export_dir: str, dim: int) -> str:
    """CNN_i as a SavedModel: ``serving_default(features float32 [B, D]) -> probabilities [B, N]``."""
    module = tf.Module()
    module.model = model
    module.serve = tf.function(lambda features: {"probabilities": model(features, training=False)},
                               input_signature=[tf.TensorSpec([None, dim], tf.float32, name="features")])
    tf.saved_model.save(module, export_dir, signatures={"serving_default": module.serve})
    return export_dir


def write_image_filter(image_mask: np.ndarray, images_pattern_or_dir: str, directory: str) -> str:
    """``image_filter.json``: which web images the chosen round kept (for reports and for
    scoring the filter against known noise). Reads ids in stream order, one record at a time:
    only the small fields are kept, never the features."""
    from schemas.records import ImageRecord

    entries = []
    for raw in tfrecords.read(images_pattern_or_dir):
        if len(entries) == len(image_mask):
            raise UserError(f"image records changed while reading: more than the {len(image_mask)} filtered")
        r = ImageRecord.parse(raw)
        entries.append({"image_id": r.image_id, "label": r.label, "kept": bool(image_mask[len(entries)]),
                        "source": r.source})
    if len(entries) != len(image_mask):
        raise UserError(f"image records changed while reading: {len(entries)} != {len(image_mask)}")
    path = os.path.join(directory, transfer_files.IMAGE_FILTER_FILE)
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps({"images": entries}, indent=1) + "\n")
    return path


def write_rounds(result: TransferResult, directory: str) -> str:
    """``rounds.json``, ``floor_cases.json`` and TensorBoard scalars (one step per round)."""
    tf.io.gfile.makedirs(directory)
    path = os.path.join(directory, transfer_files.ROUNDS_FILE)
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps(result.rounds_json(), indent=2) + "\n")
    with tf.io.gfile.GFile(os.path.join(directory, transfer_files.FLOOR_FILE), "w") as f:
        f.write(json.dumps([dataclasses.asdict(c) for c in result.floor_cases], indent=2) + "\n")
    writer = tf.summary.create_file_writer(directory)
    with writer.as_default():
        for entry in result.rounds:
            tf.summary.scalar("domain_transfer/val_accuracy", entry.val_accuracy, step=entry.round)
            tf.summary.scalar("domain_transfer/images_kept", entry.images_kept, step=entry.round)
            tf.summary.scalar("domain_transfer/frames_kept", entry.frames_kept, step=entry.round)
            for label, n in entry.images_kept_per_class.items():
                tf.summary.scalar(f"images_kept_per_class/{label}", n, step=entry.round)
        tf.summary.scalar("domain_transfer/chosen_round", result.chosen_round, step=result.chosen_round)
    writer.close()
    return path


def write_scored_videos(src_pattern_or_dir: str, dst_path: str, laf: np.ndarray) -> int:
    """Copy video SequenceExamples adding the per-frame ``laf_score`` list; same order as the stream."""
    from tensorflow.core.example import example_pb2

    def scored():
        offset = 0
        for raw in tfrecords.read(src_pattern_or_dir):
            seq = example_pb2.SequenceExample.FromString(raw)
            lists = seq.feature_lists.feature_list
            n = len(lists[names.FRAME_FEATURES].feature)
            if offset + n > len(laf):
                raise UserError(f"{src_pattern_or_dir} holds more frames than were scored ({len(laf)})")
            column = lists[names.LAF_SCORE]
            column.Clear()  # re-scoring replaces an earlier laf_score list
            for s in laf[offset:offset + n]:
                column.feature.add().float_list.value.append(float(s))
            offset += n
            yield seq.SerializeToString(deterministic=True)
        if offset != len(laf):
            raise UserError(f"{src_pattern_or_dir} holds {offset} frames but {len(laf)} were scored")

    return tfrecords.write(dst_path, scored())
