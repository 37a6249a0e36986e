"""The demo's feature extractor and what its features show.

No pretrained weights exist offline, so ``calibrated_backbone`` writes a random-init
backbone whose BatchNorm statistics are estimated on the demo's media
(``laf.ingest.backbones.calibrate``), ``demo_backbone`` is the ``BackboneConfig`` to extract demo
features with, and ``probe`` measures whether those features show the paper's effect on this data.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import os
import time
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image

from laf.demo.dataset import load_info
from laf.demo.settings import DEMO_INPUT_SIZE, DEMO_LAYER, KINDS, PATHS
from laf.demo.videos import sample_frames
from laf.errors import UserError
from schemas.names import SPLITS


def _square(images, size: int) -> np.ndarray:
    return np.stack([np.asarray(Image.fromarray(np.asarray(im)).convert("RGB").resize((size, size), Image.BILINEAR))
                     for im in images])


def _set_info(output_dir: str) -> dict:
    """``demo_data.json`` of a complete set, which the caller needs."""
    info = load_info(output_dir)
    if info is None:
        raise UserError(f"no complete demo data set under {output_dir}: write it with `laf demo-data --output"
                        f" {output_dir}`")
    return info


def calibrated_backbone(output_dir: str, config=None, samples: int = 256) -> str:
    """Path of a backbone weights file for the demo, written once under ``output_dir/backbone``.

    Why: offline there are no ImageNet weights, and a random-init network's BatchNorm
    statistics (mean 0, var 1) collapse deep activations to ~0, so every frame gets almost
    the same feature. Re-estimating the statistics on a sample of the demo's own training
    frames and images (``laf.ingest.backbones.calibrate``) keeps the random features informative
    (colour, texture, layout). Every BatchNorm is calibrated, whatever ``config.layer``.
    """
    from laf.ingest.backbones import BackboneConfig, calibrate

    config = dataclasses.replace(config or BackboneConfig(input_size=DEMO_INPUT_SIZE), layer=None)
    path = os.path.join(output_dir, PATHS["backbone"], f"{config.name}_{config.size}_seed{config.seed}.weights.h5")
    if os.path.exists(path):
        return path
    info = _set_info(output_dir)
    rng = np.random.default_rng([info["config"]["seed"], 3])
    with open(os.path.join(output_dir, PATHS["manifest"])) as f:
        videos = [os.path.join(output_dir, row["video"]) for row in csv.DictReader(f) if row["split"] == "train"]
    frames = np.concatenate([sample_frames(v)[0] for v in videos])
    images = sorted(os.path.join(output_dir, PATHS["images"], k) for k in _truth(output_dir))
    n_img = min(len(images), samples // 4)
    picked = [frames[i] for i in rng.choice(len(frames), min(len(frames), samples - n_img), replace=False)]
    picked += [Image.open(images[i]) for i in rng.choice(len(images), n_img, replace=False)]
    return calibrate(config, _square(picked, config.size), path)


def demo_backbone(output_dir: str):
    """The ``BackboneConfig`` the demo ingests frames and images with (calibrating once)."""
    from laf.ingest.backbones import BackboneConfig

    return BackboneConfig(weights=calibrated_backbone(output_dir), layer=DEMO_LAYER, input_size=DEMO_INPUT_SIZE)


def _truth(output_dir: str) -> Dict[str, dict]:
    with open(os.path.join(output_dir, PATHS["images_truth"])) as f:
        return json.load(f)


def _ridge_probe(x_train, y_train, x_test, classes: int, lam: float = 1.0) -> np.ndarray:
    """Scores [N_test, classes] of a least-squares linear probe on standardised features."""
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-6
    a = np.hstack([(x_train - mu) / sd, np.ones((len(x_train), 1))])
    b = np.hstack([(x_test - mu) / sd, np.ones((len(x_test), 1))])
    w = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ np.eye(classes)[y_train])
    return b @ w


def _sibling_accuracy(scores, y, siblings: np.ndarray) -> float:
    """Accuracy when the activity is known: argmax among the true label's siblings only."""
    masked = np.where(siblings[y], scores, -np.inf)
    return float(np.mean(masked.argmax(1) == y))


def _features(extract, images: np.ndarray, batch: int) -> Tuple[np.ndarray, float]:
    """(features, images/s): fixed-size batches (the last one padded), so the compiled
    function is traced once; the first batch warms up outside the timing."""
    pad = (-len(images)) % batch
    padded = np.concatenate([images, np.zeros((pad, *images.shape[1:]), images.dtype)])
    extract(padded[:batch])
    started = time.perf_counter()
    out = np.concatenate([extract(padded[i:i + batch]) for i in range(0, len(padded), batch)])
    return out[:len(images)], len(images) / (time.perf_counter() - started)


def probe(output_dir: str, config=None, batch: int = 64) -> dict:
    """Does the (calibrated) backbone show the paper's effect on this data? Linear probes on
    1-fps frame features, trained on train videos and scored on eval+test videos:
    activity accuracy, action accuracy on action frames, sibling accuracy on context frames
    (should be chance), and how close each image kind is to its action's frames."""
    from laf.ingest.backbones import feature_fn

    config = config or demo_backbone(output_dir)
    info = _set_info(output_dir)
    labels = [l for ls in info["activities"].values() for l in ls]
    activity_of = np.array([list(info["activities"]).index(l.split(":", 1)[0]) for l in labels])
    siblings = activity_of[:, None] == activity_of[None, :]
    with open(os.path.join(output_dir, PATHS["activitynet"])) as f:
        database = json.load(f)["database"]
    ambiguous = _ambiguous_spans(os.path.join(output_dir, PATHS["thumos14"]))
    frames, ys, is_action, train = [], [], [], []
    for vid, entry in sorted(database.items()):
        video, stamps = sample_frames(os.path.join(output_dir, entry["url"]))
        inside = lambda spans: np.array([any(s <= t < e for s, e in spans) for t in stamps], bool)
        keep = ~inside(ambiguous.get(vid, []))  # THUMOS14 practice: ambiguous frames are left out
        frames.append(_square(video[keep], config.size))
        ys += [labels.index(entry["annotations"][0]["label"])] * int(keep.sum())
        is_action += list(inside([a["segment"] for a in entry["annotations"]])[keep])
        train += [entry["subset"] == "training"] * int(keep.sum())
    extract = feature_fn(config)
    x, rate = _features(extract, np.concatenate(frames), batch)
    y, act, tr = np.array(ys), np.array(is_action), np.array(train)
    out = {"frames": int(len(x)), "action_frames": int(act.sum()), "feature_dim": int(x.shape[1]),
           "backbone": config.name, "layer": config.layer, "input_size": config.size,
           "frames_per_s_features": round(rate, 1)}
    scores = _ridge_probe(x[tr], activity_of[y[tr]], x[~tr], len(info["activities"]))
    out["activity_acc_all_frames"] = float(np.mean(scores.argmax(1) == activity_of[y[~tr]]))
    a_tr, a_te = tr & act, ~tr & act
    scores = _ridge_probe(x[a_tr], y[a_tr], x[a_te], len(labels), lam=30.0)
    out["action_acc_action_frames"] = float(np.mean(scores.argmax(1) == y[a_te]))
    out["sibling_acc_action_frames"] = _sibling_accuracy(scores, y[a_te], siblings)
    c_tr, c_te = tr & ~act, ~tr & ~act
    scores = _ridge_probe(x[c_tr], y[c_tr], x[c_te], len(labels))
    out["sibling_acc_context_frames"] = _sibling_accuracy(scores, y[c_te], siblings)
    out["sibling_chance"] = float(1.0 / siblings.sum(1).mean())
    out["images"] = _image_closeness(output_dir, labels, extract, config.size, x[a_tr], y[a_tr], batch)
    return out


def _ambiguous_spans(thumos_dir: str) -> Dict[str, List[Tuple[float, float]]]:
    """video -> (start, end) of its Ambiguous segments, over every split's THUMOS14 files."""
    from laf.evaluate.annotations import read_ambiguous

    return {video: [(s.start, s.end) for s in segments]
            for split in SPLITS for video, segments in read_ambiguous(thumos_dir, split).items()}


def _image_closeness(output_dir, labels, extract, size, x_action, y_action, batch) -> dict:
    """Per image kind: cosine similarity of each image to its label's mean action-frame
    feature (standardised), and the action-frame probe's accuracy on it. Video-like images
    should be closest; that is what lets the image filter work."""
    truth = _truth(output_dir)
    keys = sorted(truth)
    target = np.array([labels.index(truth[k]["label"]) for k in keys])
    kinds = np.array([truth[k]["kind"] for k in keys])
    sq = _square([Image.open(os.path.join(output_dir, PATHS["images"], k)) for k in keys], size)
    f, rate = _features(extract, sq, batch)
    mu, sd = x_action.mean(0), x_action.std(0) + 1e-6
    centroids = np.stack([((x_action[y_action == i] - mu) / sd).mean(0) for i in range(len(labels))])[target]
    z = (f - mu) / sd
    cos = (z * centroids).sum(1) / (np.linalg.norm(z, axis=1) * np.linalg.norm(centroids, axis=1))
    hit = _ridge_probe(x_action, y_action, f, len(labels), lam=30.0).argmax(1) == target
    out: dict = {"images_per_s_features": round(rate, 1)}
    for kind in KINDS:
        m = kinds == kind
        out[kind] = {"n": int(m.sum()), "cos_to_action_frames": round(float(cos[m].mean()), 4),
                     "action_probe_acc": round(float(hit[m].mean()), 4)}
    return out
