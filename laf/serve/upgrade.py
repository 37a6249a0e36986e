"""Give a model exported before ``localize_step`` existed that signature, without retraining.

A SavedModel keeps the net's weights, not its Keras config, so the LSTMP classifier is rebuilt
from the weights' shapes (feature dimension, cells, projection, layers, classes, actionness head),
the weights are copied in, and the model is exported again with today's signatures. The copy is
checked: the new ``frame_features`` must equal the old one on random features, and so must the
``localize`` detections (whose windows the old model does not say: pass the ``evaluation`` settings
of its pipeline when they are not the defaults), else nothing is kept. A model from before
``trainer.seen_gate`` gets the gate as the identity, one from before the gate's memory keeps its gate without it.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

from laf.errors import UserError
from laf.evaluate.evaluation import LocalizeConfig


# trainer.seen_gate's; older models have none, or no seen_memory (it stays 0: the gate serves what it served)
GATE_WEIGHTS = ("seen_siblings", "seen_keep", "seen_memory")

LEGACY_WIDTH = 100  # older exports padded `localize` to this many detections and dropped the rest


def short_name(variable) -> str:
    """A variable's own name (``seen_memory``), without its layer path and ``:0``; how a loaded
    SavedModel's variables are found by the name their layer gave them."""
    return variable.name.split("/")[-1].split(":")[0]


def _same_detections(old, new, features: np.ndarray) -> bool:
    """Whether both models' ``localize`` signatures give the same segments on one record of
    ``features`` [T, D] at 2 steps per second."""
    import tensorflow as tf

    from schemas.records import VideoRecord

    steps = len(features)
    record = VideoRecord("probe", "", 0, features, np.arange(steps, dtype=np.float32) / 2, 2.0, steps / 2)
    examples = tf.constant([record.serialize()])
    want, got = ({k: v.numpy()[0] for k, v in m.signatures["localize"](examples=examples).items()} for m in (old, new))
    n = int(want["count"])
    cut = n == len(want["start"]) == LEGACY_WIDTH  # an older export, its fixed width filled: it cut the rest
    if int(got["count"]) != n and not (cut and int(got["count"]) > n):
        return False
    return all(np.allclose(want[k][:n], got[k][:n], atol=1e-5) for k in ("start", "end", "label", "score"))


HELD_STEPS = 240  # 2 minutes at 2 steps a second: longer than the longest window of any sensible settings
FRAME_TOLERANCE = 1e-4  # the same graph ops in one process: a rebuilt featurizer agrees to ~1e-6


def probe_frames(count: int) -> Dict[str, object]:
    """``localize_frames``' inputs for ``count`` random 64x48 JPEG frames, 0.5 s apart (seeded)."""
    import io

    import tensorflow as tf
    from PIL import Image

    rng = np.random.default_rng(0)
    frames = []
    for _ in range(count):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
        frames.append(buffer.getvalue())
    return {"frames": tf.constant(frames), "timestamps": tf.constant(np.arange(count) * 0.5, tf.float32)}


def _same_frame_answers(old, new) -> bool:
    """Whether the rebuilt model still answers ``localize_frames`` (exported without it when the
    featurizer's size is not the net's, with only a warning) and gives the old model's per-frame
    probabilities on a few encoded frames, to within :data:`FRAME_TOLERANCE`."""
    if "localize_frames" not in new.signatures:
        return False
    inputs = probe_frames(4)
    want, got = (m.signatures["localize_frames"](**inputs)["probabilities"].numpy() for m in (old, new))
    return want.shape == got.shape and float(np.abs(want - got).max()) <= FRAME_TOLERANCE


def classifier_variables(variables: List) -> List:
    """The recurrent classifier's own variables: a model that answers ``localize_frames`` also
    carries its backbone's, whose kernels and biases would be read as heads and weights."""
    peephole = next((v for v in variables if short_name(v) == "peephole"), None)
    if peephole is None or "/" not in peephole.name:
        return list(variables)
    prefix = peephole.name.split("/")[0] + "/"
    return [v for v in variables if v.name.startswith(prefix)]


def architecture(variables: List) -> Dict[str, object]:
    """``trainer.model.build`` arguments (and the feature dimension) read off the weights' shapes."""
    by_name: Dict[str, List] = {}
    for v in variables:
        by_name.setdefault(short_name(v), []).append(tuple(v.shape))
    if "peephole" not in by_name or "projection_kernel" not in by_name:
        raise UserError("only LSTMP models can be upgraded (this one has no recurrent weights)")
    cells = by_name["peephole"][0][1]
    heads = [shape[0] for shape in by_name["bias"]]
    for _ in by_name["peephole"]:  # one LSTMP bias per layer; the rest are the softmax's and actionness' (a
        heads.remove(4 * cells)    # softmax of 4 x cells classes was taken for an LSTMP bias)
    return {"feature_dim": by_name["mean"][0][0], "cells": cells,
            "projection": by_name["projection_kernel"][0][1], "num_layers": len(by_name["peephole"]),
            "actionness": 1 in heads, "num_classes": max(heads)}


def add_step_signature(model_dir: str, out_dir: str, localize_config: Optional[LocalizeConfig] = None) -> str:
    """Write ``model_dir`` again to ``out_dir`` with every current signature (assets copied).
    ``localize_config``: the ``localize`` signature's windows (the old model does not say).
    ``out_dir`` must be new: the model is written beside it and renamed into place only once checked
    and complete, so TF Serving never loads a half-written or unchecked version (on a local disk; a
    gs:// rename copies object by object, so there stage it under another folder than the one TF
    Serving watches), and a failed check removes only what this call wrote."""
    import tensorflow as tf

    if tf.io.gfile.exists(out_dir):
        raise UserError(f"{out_dir}: already exists; give a new folder for the upgraded model (e.g. the next"
                        " version number under the serving folder)")
    partial = f"{out_dir.rstrip('/')}.partial"
    if tf.io.gfile.exists(partial):
        tf.io.gfile.rmtree(partial)  # left by an interrupted upgrade
    try:
        _rebuild(tf.saved_model.load(model_dir), model_dir, partial, localize_config)
    except BaseException:
        if tf.io.gfile.exists(partial):
            tf.io.gfile.rmtree(partial)
        raise
    tf.io.gfile.rename(partial, out_dir)
    return out_dir


def _frames_backbone(old, model_dir: str):
    """The backbone of a model that answers ``localize_frames`` (its assets' featurizer), so the
    upgrade keeps that signature; None for a model without it."""
    from laf.serve import assets

    if "localize_frames" not in old.signatures:
        return None
    settings = assets.load(model_dir)
    if settings is None:
        raise UserError(f"{model_dir}: it answers localize_frames, but its assets/{assets.FEATURES_FILE} (the"
                        " featurizer to rebuild that signature with) cannot be read here; not upgraded")
    return settings.backbone


def _rebuild(old, model_dir: str, out_dir: str, localize_config: Optional[LocalizeConfig]) -> None:
    """The net of ``old`` (loaded from ``model_dir``) exported to ``out_dir`` and checked against it."""
    import tensorflow as tf

    from trainer import model as models
    from trainer import serving

    backbone = _frames_backbone(old, model_dir)  # a refusal before any work
    variables = classifier_variables(old.variables)
    arch = architecture(variables)
    dim = arch.pop("feature_dim")
    net = models.build("lstmp", arch.pop("num_classes"), **arch)
    net(tf.zeros([1, 1, dim]))
    unused = list(variables)
    for variable in net.variables:  # the same kind and shape, in the order Keras tracks them
        match = next((v for v in unused if short_name(v) == short_name(variable) and v.shape == variable.shape), None)
        if match is None and short_name(variable) in GATE_WEIGHTS:
            continue  # a model from before the seen gate (or its memory): the gate stays what it was
        if match is None:
            raise UserError(f"{model_dir}: no weight for {variable.path} {tuple(variable.shape)}")
        variable.assign(match)
        unused.remove(match)
    serving.export(net, dim, out_dir, localize_config, backbone=backbone)
    features = tf.constant(np.random.RandomState(0).randn(2, 17, dim).astype(np.float32) * 3)
    lengths = tf.constant([17, 9])
    want = old.signatures["frame_features"](frame_features=features, lengths=lengths)
    new = tf.saved_model.load(out_dir)
    got = new.signatures["frame_features"](frame_features=features, lengths=lengths)
    if any(np.abs(want[k].numpy() - got[k].numpy()).max() > 1e-5 for k in want):
        raise UserError(f"{model_dir}: the rebuilt net does not reproduce the model's outputs; not upgraded")
    if backbone is not None and not _same_frame_answers(old, new):
        raise UserError(f"{model_dir}: its localize_frames signature cannot be rebuilt with the same answers from"
                        " its assets' featurizer (another backbone or feature size); not upgraded")
    # and a scene held still, longer than any window: random steps alone leave no room for an evidence run
    held = np.repeat(features[0, :1].numpy(), HELD_STEPS, axis=0)
    if "localize" in old.signatures and not all(_same_detections(old, new, x) for x in (features[0].numpy(), held)):
        raise UserError(f"{model_dir}: its localize signature finds other segments than windows of"
                        f" {localize_config or LocalizeConfig()}; pass localize_config= with the evaluation settings"
                        " of the pipeline that exported it (run_thresholds=() for a model from before evidence runs);"
                        " not upgraded")
    assets = f"{model_dir.rstrip('/')}/assets"
    for folder, _, names in tf.io.gfile.walk(assets) if tf.io.gfile.isdir(assets) else ():
        target = f"{out_dir.rstrip('/')}/assets{folder[len(assets):]}"  # local or gs://, as the model is
        tf.io.gfile.makedirs(target)
        for name in names:
            tf.io.gfile.copy(f"{folder}/{name}", f"{target}/{name}", overwrite=True)
