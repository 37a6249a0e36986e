"""Checks of the inputs that must fail before any work starts.

Domain transfer needs, for every action, both weakly labelled videos and web images: a label
with only one of them cannot be transferred (and would silently train on nothing). A video's label
also needs a video in the train split, or nothing learns it. Without test videos the run is
allowed, with a warning: nothing is evaluated, blessed or pushed. Neither
Beam nor TensorFlow is loaded here for local inputs, so a mistake shows in a second, not after
TF's import.
"""
from __future__ import annotations

import logging
import os
from typing import Dict, List, Mapping, Optional

from laf.errors import UserError
from laf.files import is_remote, local
from laf.ingest.image_inputs import list_inputs
from laf.ingest.manifest import Manifest, VideoRow, build_vocabulary
from schemas.vocabulary import Vocabulary


def check_labels(manifest: Manifest, videos: str, images: str, split_ratios: Mapping[str, float],
                 taxonomy: Optional[str] = None) -> Vocabulary:
    """The videos' vocabulary (``manifest``: the rows read from ``videos``, a manifest or annotation
    files; activities as ``taxonomy`` gives them), after checking every label has videos and web
    images, train and eval have videos (domain transfer trains on train and validates on eval,
    and so does the trainer's model selection: an empty one would fail hours into the run), and
    every video label has a training video."""
    vocabulary = build_vocabulary(manifest, taxonomy)
    existing = [row for row in manifest.rows if _may_exist(row.uri)]
    absent = _labels_without_files(manifest, existing)
    if absent:
        first = next(iter(absent))
        raise UserError(f"label(s) whose every video file is missing: {', '.join(absent)} (e.g. {first}'s"
                        f" {absent[first]})")
    image_labels = {item.label for item in list_inputs(images, vocabulary) if item.label}
    problems = []
    no_images = sorted(set(vocabulary.labels) - image_labels)
    no_videos = sorted(image_labels - set(vocabulary.labels))
    if no_images:
        problems.append(f"label(s) with videos but no web images in {images}: {', '.join(no_images)}")
    if no_videos:
        problems.append(f"label(s) with web images but no videos in {videos}: {', '.join(no_videos)}")
    if problems:
        raise UserError("; ".join(problems))
    present = {row.split for row in existing}
    where = f"(a manifest's split column, else data.split_ratios {dict(split_ratios)})"
    empty = [s for s in ("train", "eval") if s not in present]
    if empty:
        raise UserError(f"no video of {videos} falls in the {', '.join(empty)} split(s) {where}: the pipeline"
                        " trains on train and validates on eval")
    # a label only some segments name (a video is labelled by the class covering most of it) has no
    # video of its own anywhere, and is left as before
    untrained = sorted({row.label for row in existing} - {row.label for row in existing if row.split == "train"})
    if untrained:
        raise UserError(f"label(s) without a video in the train split {where}: {', '.join(untrained)}; nothing"
                        " could learn them and their eval and test videos would all miss")
    if len(vocabulary) == 1:
        raise UserError(f"one label ({vocabulary.labels[0]}) in {videos}: a video-level label tells the model"
                        " nothing when every video has it; give at least two actions")
    if "test" not in present:
        logging.warning("no video of %s falls in the test split %s: the Evaluator has nothing to evaluate, so no"
                        " model is blessed or pushed", videos, where)
    return vocabulary


def _labels_without_files(manifest: Manifest, existing: List[VideoRow]) -> Dict[str, str]:
    """label -> one of its missing files, for each label none of whose rows is among ``existing``.
    Why: a missing file is rejected at ingestion with its reason, which is right for one video; a
    label that lost every video would be trained on nothing, after the whole ingestion."""
    found = {row.label for row in existing}
    missing: Dict[str, str] = {}
    for row in manifest.rows:
        if row.label not in found:
            missing.setdefault(row.label, row.uri)
    return dict(sorted(missing.items()))


def _may_exist(uri: str) -> bool:
    """A local file that exists, or a remote one (not looked up here: that would load TF)."""
    return is_remote(uri) or os.path.exists(local(uri))

