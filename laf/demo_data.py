"""Embedded demo data in the paper's setting, generated deterministically from a seed.

Why synthetic media: the method needs untrimmed videos whose fine-grained label is visible
only during a short action, and noisy crawled images of each action. Real data sets
(THUMOS14, FGA-240) cannot ship with the code, so we draw the same structure:

* every activity has a *scene* (floor colour, texture, court lines, moving "players") that
  all of its actions share, so context frames cannot tell sibling actions apart;
* every fine-grained action has a distinctive foreground *pattern* (shape, colour, motion)
  that appears only inside the ground-truth segments (a few seconds, sometimes repeatedly);
* web images per action mix video-like highlights (the pattern on its scene), off-domain
  renderings (product shot on white, cartoon) and irrelevant images (other classes'
  patterns, noise), with the truth recorded so the image filter can be scored.

Layout written under ``output_dir`` (see ``generate``)::

    videos/<video_id>.mp4             H.264, yuv420p, ``frame_size`` at ``fps``; the id names the split
    manifest.csv                      video,label,split,segments,ambiguous (paths relative to it;
                                      segments as JSON [[start, end], ...] in seconds, every split)
    annotations/thumos14/<label>_<split>.txt and Ambiguous_<split>.txt   "video start end"
    annotations/activitynet.json      ActivityNet v1.3 style (subsets training/validation/testing;
                                      "url" is the video path relative to the output folder)
    images/<label>/img_NNNN.jpg       one folder per action, named by its full label
    images_truth.json                 "<label>/<file>" -> kind, style, drawn label
    demo_data.json                    the config, hierarchy, counts and paths

No pretrained weights exist offline, so ``calibrated_backbone`` writes a random-init
backbone whose BatchNorm statistics are estimated on these media (``laf.ingest.backbones.calibrate``),
``demo_backbone`` is the ``BackboneConfig`` to extract demo features with, and ``probe``
measures whether those features show the paper's effect on this data.
"""
from __future__ import annotations

import colorsys
import csv
import dataclasses
import json
import math
import multiprocessing
import os
import shutil
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from laf import files
from laf.cpu import usable_cores
from laf.errors import UserError

SPLITS = ("train", "eval", "test")
ACTIVITYNET_SUBSET = {"train": "training", "eval": "validation", "test": "testing"}
KINDS = ("video_like", "off_domain", "irrelevant")
VERSION = 2

# Names follow sports hierarchies like the paper's FGA-240; beyond the table, generic names.
HIERARCHY: Dict[str, Tuple[str, ...]] = {
    "Basketball": ("JumpShot", "SlamDunk", "FreeThrow", "Layup"),
    "Soccer": ("Dribble", "Header", "PenaltyKick", "ThrowIn"),
    "Swimming": ("Freestyle", "Butterfly", "Backstroke", "Breaststroke"),
    "Gymnastics": ("Vault", "Rings", "BalanceBeam", "FloorRoutine"),
    "Tennis": ("Serve", "Forehand", "Backhand", "Volley"),
    "IceHockey": ("Faceoff", "Slapshot", "Save", "Bodycheck"),
}

# Muted scene base colours and textures (one per activity, cycled).
_SCENES = (
    ((176, 124, 74), "planks"),
    ((52, 122, 56), "mowed"),
    ((34, 92, 160), "waves"),
    ((74, 62, 96), "spotlight"),
    ((58, 108, 140), "court"),
    ((196, 204, 214), "ice"),
)
# Saturated pattern colours, shapes and motions for the actions.
_COLOURS = ((235, 30, 30), (250, 222, 20), (232, 40, 200), (30, 230, 230), (250, 250, 250),
            (15, 15, 15), (140, 250, 40), (40, 60, 250), (255, 140, 0))
_SHAPES = ("disc", "triangle", "cross", "ring", "star", "square", "diamond", "bar")
_MOTIONS = ("bounce", "sweep", "spin", "orbit", "pulse")
# The demo's feature extractor (demo_backbone): a calibrated random-init MobileNetV3-Small
# tapped after its 4th block. Deeper random layers wash out colour and shape: on the default
# data a linear probe on the 576-D top tells sibling actions apart on action frames at ~0.69
# (activities 0.88), on this 96-D tap at ~0.94 (activities 0.99); `probe` measures it.
DEMO_LAYER = "expanded_conv_3_squeeze_excite_mul"
DEMO_INPUT_SIZE = 112
_GAP = 3.0  # seconds between occurrences and from the video's ends
# Where things go under the output folder; every path written in a file is relative to it,
# so the data set can be moved and the same seed gives the same bytes anywhere.
PATHS = {"manifest": "manifest.csv", "videos": "videos", "images": "images",
         "images_truth": "images_truth.json", "thumos14": "annotations/thumos14",
         "activitynet": "annotations/activitynet.json", "backbone": "backbone"}
PARTIAL = ".demo_data_partial"  # while a set is written: an interrupted set is ours to replace
_IMAGE_SIZES = ((160, 120), (200, 150), (240, 180), (256, 256), (320, 180), (180, 240), (224, 224))


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """What to generate. ``scaled`` multiplies the per-action counts (``--scale``)."""

    activities: int = 4
    actions_per_activity: int = 3
    videos_per_action: int = 4            # split train/eval/test as 2/1/1 (see split_counts)
    images_per_action: int = 30
    min_duration: float = 40.0            # seconds
    max_duration: float = 120.0
    min_action: float = 3.0               # one occurrence, seconds
    max_action: float = 8.0
    max_occurrences: int = 3
    ambiguous_rate: float = 0.3           # share of videos with one faint, partial occurrence
    fps: int = 4
    frame_size: Tuple[int, int] = (160, 120)  # width, height (even, for yuv420p)
    video_like_rate: float = 0.5
    off_domain_rate: float = 0.25
    irrelevant_rate: float = 0.25
    seed: int = 0
    looks: int = 0                        # 0: the shipped scenes and patterns; n > 0: another draw

    def scaled(self, scale: float) -> "DemoConfig":
        if scale <= 0:
            raise UserError(f"scale (--scale) must be positive, got {scale:g}")
        return dataclasses.replace(
            self, videos_per_action=max(3, round(self.videos_per_action * scale)),
            images_per_action=max(1, round(self.images_per_action * scale)))

    def validate(self) -> None:
        rates = (self.video_like_rate, self.off_domain_rate, self.irrelevant_rate)
        if min(rates) < 0 or abs(sum(rates) - 1.0) > 1e-6:
            raise UserError(f"image kind rates must be >= 0 and sum to 1, got {rates}")
        if self.activities < 1 or self.actions_per_activity < 2:
            raise UserError("need >= 1 activity with >= 2 actions (fine-grained siblings)")
        if self.videos_per_action < 3:
            raise UserError("videos_per_action must be >= 3 (one per split)")
        w, h = self.frame_size
        if w % 2 or h % 2 or w < 64 or h < 48:
            raise UserError(f"frame_size must be even and at least 64x48, got {self.frame_size}")
        lengths = (self.min_action, self.max_action, self.min_duration, self.max_duration)
        if not all(math.isfinite(x) for x in lengths):
            raise UserError(f"action and video lengths must be finite seconds, got {list(lengths)}")
        if not 0 < self.min_action <= self.max_action:
            raise UserError(f"need 0 < min_action <= max_action (--action-seconds MIN MAX), got"
                            f" {self.min_action:g} {self.max_action:g}")
        shortest = self.max_action + 2 * _GAP
        if self.min_duration < shortest or self.max_duration < self.min_duration:
            raise UserError(f"need max_action + {2 * _GAP:g} s <= min_duration <= max_duration (--video-seconds MIN MAX"
                            f" beside --action-seconds), got actions up to {self.max_action:g} s in videos of"
                            f" {self.min_duration:g} {self.max_duration:g} s")
        if self.max_occurrences < 1:
            raise UserError("max_occurrences must be >= 1")
        if self.looks < 0:
            raise UserError(f"looks must be >= 0, got {self.looks}")
        if self.seed < 0:
            raise UserError(f"seed must be >= 0, got {self.seed}")  # --seed, bench/paper_tables.py's --data-seed


def labels_for(config: DemoConfig) -> Dict[str, List[str]]:
    """activity -> its labels ``Activity:Action`` in generation order."""
    out: Dict[str, List[str]] = {}
    names = list(HIERARCHY.items())
    for i in range(config.activities):
        activity, actions = names[i] if i < len(names) else (f"Activity{i + 1}", ())
        out[activity] = [f"{activity}:{actions[j] if j < len(actions) else f'Action{j + 1}'}"
                         for j in range(config.actions_per_activity)]
    return out


def split_counts(n: int) -> Dict[str, int]:
    """Videos of one action per split: half train, the rest shared by eval and test."""
    train = max(1, n // 2)
    ev = max(1, (n - train) // 2)
    return {"train": train, "eval": ev, "test": n - train - ev}


def kind_counts(config: DemoConfig) -> Dict[str, int]:
    """Images of one action per kind: the rates, rounded by largest remainder to the total."""
    n = config.images_per_action
    raw = [n * r for r in (config.video_like_rate, config.off_domain_rate, config.irrelevant_rate)]
    counts = [int(math.floor(x)) for x in raw]
    for i in sorted(range(3), key=lambda i: counts[i] - raw[i])[: n - sum(counts)]:
        counts[i] += 1
    return dict(zip(KINDS, counts))


# --------------------------------------------------------------------------- looks


@dataclasses.dataclass(frozen=True)
class ActionLook:
    shape: str
    colour: Tuple[int, int, int]
    motion: str


def _looks(config: DemoConfig) -> Tuple[Dict[str, tuple], Dict[str, ActionLook]]:
    """Scene per activity and pattern per action. Siblings differ in shape and colour (and,
    in the shipped set, motion); colours too close to their scene are skipped so every
    pattern is visible. ``config.looks`` > 0 draws other scenes and patterns (see
    ``_drawn_looks``), so a method can be checked on objects it was not tuned on."""
    if config.looks:
        return _drawn_looks(config)
    scenes, actions = {}, {}
    for i, (activity, labels) in enumerate(labels_for(config).items()):
        base, texture = _SCENES[i % len(_SCENES)]
        scenes[activity] = (np.array(base, np.float32), texture, i)
        usable = _usable_colours(base)
        for j, label in enumerate(labels):
            actions[label] = ActionLook(_SHAPES[(j + 2 * i) % len(_SHAPES)],
                                        usable[(j * 2 + i) % len(usable)],
                                        _MOTIONS[(j + i) % len(_MOTIONS)])
    return scenes, actions


def _usable_colours(base) -> List[Tuple[int, int, int]]:
    """Pattern colours far enough from the scene's base colour to stand out on it."""
    return [c for c in _COLOURS if np.linalg.norm(np.subtract(c, base)) > 130]


def _drawn_looks(config: DemoConfig) -> Tuple[Dict[str, tuple], Dict[str, ActionLook]]:
    """Another set from the seed ``config.looks``: each activity a texture (shuffled) on a
    muted base colour of random hue, its actions distinct shapes and colours, and motions
    drawn with repeats allowed (siblings may move alike)."""
    rng = np.random.default_rng([config.looks, 4])
    textures = rng.permutation(len(_SCENES))
    scenes, actions = {}, {}
    for i, (activity, labels) in enumerate(labels_for(config).items()):
        hue, sat, val = rng.uniform(0, 1), rng.uniform(0.25, 0.6), rng.uniform(0.3, 0.75)
        base = tuple(int(255 * v) for v in colorsys.hsv_to_rgb(hue, sat, val))
        scenes[activity] = (np.array(base, np.float32), _SCENES[textures[i % len(_SCENES)]][1], i)
        usable = _usable_colours(base)
        shapes = rng.permutation(len(_SHAPES))
        colours = rng.permutation(len(usable))
        for j, label in enumerate(labels):
            actions[label] = ActionLook(_SHAPES[shapes[j % len(_SHAPES)]], usable[colours[j % len(usable)]],
                                        _MOTIONS[int(rng.integers(len(_MOTIONS)))])
    return scenes, actions


def _shape_mask(shape: str, size: int) -> Image.Image:
    """An 'L' mask of ``shape`` filling a size x size box."""
    m = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(m)
    s, c = size - 1, size / 2
    if shape == "disc":
        d.ellipse([0, 0, s, s], fill=255)
    elif shape == "ring":
        d.ellipse([0, 0, s, s], fill=255)
        d.ellipse([size * 0.3, size * 0.3, size * 0.7, size * 0.7], fill=0)
    elif shape == "triangle":
        d.polygon([(c, 0), (s, s), (0, s)], fill=255)
    elif shape == "cross":
        t = size * 0.17
        d.rectangle([c - t, 0, c + t, s], fill=255)
        d.rectangle([0, c - t, s, c + t], fill=255)
    elif shape == "star":
        pts = [(c + (c if k % 2 == 0 else c * 0.42) * math.sin(k * math.pi / 5),
                c - (c if k % 2 == 0 else c * 0.42) * math.cos(k * math.pi / 5)) for k in range(10)]
        d.polygon(pts, fill=255)
    elif shape == "square":
        d.rectangle([size * 0.08, size * 0.08, s - size * 0.08, s - size * 0.08], fill=255)
    elif shape == "diamond":
        d.polygon([(c, 0), (s, c), (c, s), (0, c)], fill=255)
    elif shape == "bar":
        d.rectangle([0, c - size * 0.16, s, c + size * 0.16], fill=255)
        d.ellipse([c - size * 0.22, c - size * 0.22, c + size * 0.22, c + size * 0.22], fill=255)
    else:
        raise ValueError(shape)
    return m


def _sprite(look: ActionLook, size: int, angle: float = 0.0, outline: int = 0) -> np.ndarray:
    """RGBA uint8 sprite: the pattern in its colour, with a dark inner mark so shape and
    colour both show; ``outline`` > 0 adds a cartoon-style black outline."""
    mask = _shape_mask(look.shape, size)
    inner = _shape_mask(look.shape, max(4, size // 3))
    rgb = Image.new("RGB", (size, size), look.colour)
    mark = tuple(int(v * 0.35) for v in look.colour)
    off = (size - inner.size[0]) // 2
    rgb.paste(Image.new("RGB", inner.size, mark), (off, off), inner)
    img = Image.merge("RGBA", (*rgb.split(), mask))
    if outline:
        pad = outline + 1
        big = Image.new("RGBA", (size + 2 * pad, size + 2 * pad), (0, 0, 0, 0))
        grown = Image.new("L", big.size, 0)
        grown.paste(mask, (pad, pad))
        grown = grown.filter(ImageFilter.MaxFilter(2 * outline + 1))
        big.paste(Image.new("RGBA", big.size, (10, 10, 10, 255)), (0, 0), grown)
        big.alpha_composite(img, (pad, pad))
        img = big
    if angle:
        img = img.rotate(angle, resample=Image.BILINEAR, expand=True)
    return np.asarray(img)


def _paste(canvas: np.ndarray, sprite: np.ndarray, cx: float, cy: float, alpha: float = 1.0) -> None:
    """Alpha-blend ``sprite`` centred at (cx, cy) into ``canvas`` (uint8 HxWx3), clipped."""
    h, w = sprite.shape[:2]
    x0, y0 = int(round(cx - w / 2)), int(round(cy - h / 2))
    H, W = canvas.shape[:2]
    xa, ya, xb, yb = max(0, x0), max(0, y0), min(W, x0 + w), min(H, y0 + h)
    if xa >= xb or ya >= yb:
        return
    src = sprite[ya - y0:yb - y0, xa - x0:xb - x0]
    a = src[..., 3:4].astype(np.float32) * (alpha / 255.0)
    dst = canvas[ya:yb, xa:xb].astype(np.float32)
    canvas[ya:yb, xa:xb] = (dst * (1 - a) + src[..., :3] * a + 0.5).astype(np.uint8)


def _scene_canvas(scene: tuple, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A scene texture larger than the frame (the camera pans over it), jittered per video."""
    base, texture, _ = scene
    H, W = height, width
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    shade = np.zeros((H, W), np.float32)
    lines = np.zeros((H, W), bool)
    if texture == "planks":
        plank = (xx // 14).astype(int)
        shade = (plank * 7919 % 11 - 5) * 3.0 + 4 * np.sin(yy / 3 + plank)
        lines = (np.abs(xx - W / 2) < 1.5) | (np.abs(np.hypot(xx - W / 2, yy - H / 2) - 34) < 1.2)
    elif texture == "mowed":
        shade = np.where(((xx + yy * 0.4) // 22) % 2 == 0, 12.0, -12.0)
        lines = (np.abs(yy - H * 0.15) < 1.2) | (np.abs(yy - H * 0.85) < 1.2) | (np.abs(xx - W / 2) < 1.2)
    elif texture == "waves":
        shade = 14 * np.sin(xx / 9 + 2 * np.sin(yy / 7))
        lines = (np.abs((yy % 30) - 15) < 1.3)
    elif texture == "spotlight":
        shade = 60 * np.exp(-((xx - W / 2) ** 2 + (yy - H / 2) ** 2) / (2 * (W / 5) ** 2)) - 15
        shade += ((xx.astype(int) * 31 + yy.astype(int) * 17) % 23 == 0) * 40.0
    elif texture == "court":
        shade = np.where(np.abs(yy - H / 2) < H / 4, 18.0, -6.0)
        lines = (np.abs(yy - H / 4) < 1.2) | (np.abs(yy - 3 * H / 4) < 1.2) | (np.abs(xx - W / 3) < 1.2)
    elif texture == "ice":
        shade = 6 * np.sin(xx / 17 + yy / 23)
        lines = (np.abs(xx - W / 2) < 2.0) | (np.abs(xx - W / 4) < 1.2) | (np.abs(xx - 3 * W / 4) < 1.2)
    tint = rng.uniform(-12, 12, 3).astype(np.float32)
    img = base[None, None] * rng.uniform(0.85, 1.15) + tint + shade[..., None]
    line_colour = np.array((200, 40, 40) if texture == "ice" else (235, 235, 235), np.float32)
    img[lines] = line_colour
    img += rng.normal(0, 4, img.shape).astype(np.float32)  # per-video grain, fixed in time
    return np.clip(img, 0, 255).astype(np.uint8)


def _players(activity_index: int, rng: np.random.Generator, n: int, scale: float = 1.0):
    """Distractor sprites shared by all actions of an activity (its 'players')."""
    teams = ((30, 30, 120), (230, 230, 230), (120, 20, 20), (20, 20, 20), (200, 200, 60))
    out = []
    for k in range(n):
        colour = teams[(activity_index + k % 2) % len(teams)]
        look = ActionLook(("disc", "square")[k % 2], colour, "")
        size = max(5, int(rng.integers(7, 13) * scale))
        out.append(_sprite(look, size))
    return out


# --------------------------------------------------------------------------- videos


@dataclasses.dataclass
class VideoPlan:
    """One video before rendering: its label, split, length and where the action happens."""

    video_id: str
    label: str
    split: str
    duration: float
    segments: List[Tuple[float, float]]
    ambiguous: List[Tuple[float, float]]
    rng_seed: int


def _plan_segments(config: DemoConfig, duration: float, rng: np.random.Generator):
    """Non-overlapping action occurrences (and maybe one faint, ambiguous one) on frame
    boundaries, at least ``_GAP`` seconds apart and from the video's ends; occurrences that
    do not fit a short video are dropped (the ambiguous one first)."""
    q = 1.0 / config.fps
    n = 1 + int(rng.choice(config.max_occurrences, p=_occurrence_probs(config.max_occurrences)))
    lengths = [round(rng.uniform(config.min_action, config.max_action) / q) * q for _ in range(n)]
    if rng.random() < config.ambiguous_rate:
        lengths.append(round(rng.uniform(1.0, 3.0) / q) * q)
    while duration - sum(lengths) - _GAP * (len(lengths) + 1) < 0:
        lengths.pop()
        n = min(n, len(lengths))
    slack = duration - sum(lengths) - _GAP * (len(lengths) + 1)
    cuts = np.sort(rng.uniform(0, slack, len(lengths)))
    order = rng.permutation(len(lengths))
    segments, ambiguous, used = [], [], 0.0
    for k, idx in enumerate(order):
        start = round((_GAP * (k + 1) + cuts[k] + used) / q) * q
        (segments if idx < n else ambiguous).append((start, start + lengths[idx]))
        used += lengths[idx]
    return sorted(segments), ambiguous


def _occurrence_probs(k: int) -> np.ndarray:
    """P(1 + i occurrences) halves with each extra one: most videos hold the action once."""
    p = 0.5 ** np.arange(k)
    return p / p.sum()


def plan_videos(config: DemoConfig) -> List[VideoPlan]:
    """All videos, shuffled so ids do not reveal labels; deterministic for ``config.seed``."""
    rng = np.random.default_rng([config.seed, 1])
    rows = []
    for labels in labels_for(config).values():
        for label in labels:
            for split, n in split_counts(config.videos_per_action).items():
                rows += [(label, split)] * n
    rows = [rows[i] for i in rng.permutation(len(rows))]
    plans, counters = [], {s: 0 for s in SPLITS}
    for label, split in rows:
        counters[split] += 1
        duration = round(rng.uniform(config.min_duration, config.max_duration) * config.fps) / config.fps
        segments, ambiguous = _plan_segments(config, duration, rng)
        plans.append(VideoPlan(f"demo_{split}_{counters[split]:04d}", label, split, duration,
                               segments, ambiguous, int(rng.integers(2 ** 31))))
    return plans


class _Stage:
    """Renders one video's frames: panned scene, moving players, the action when active."""

    def __init__(self, config: DemoConfig, plan: VideoPlan, scenes, looks):
        self.config = config
        self.plan = plan
        rng = np.random.default_rng(plan.rng_seed)
        activity = plan.label.split(":", 1)[0]
        scene = scenes[activity]
        W, H = config.frame_size
        self.canvas = _scene_canvas(scene, W + W // 2, H + H // 3, rng)
        self.pan = (rng.uniform(0.05, 0.2), rng.uniform(0, 2 * math.pi), rng.uniform(0.04, 0.15))
        n = int(rng.integers(2, 6))
        self.players = _players(scene[2], rng, n, W / 160)
        self.player_pos = rng.uniform((0, 0), (W, H), (n, 2))
        self.player_vel = rng.uniform(-12, 12, (n, 2)) * (W / 160)
        self.look = looks[plan.label]
        size = int(min(W, H) * rng.uniform(0.58, 0.7))
        self.size = size
        self.angles = (0.0,) if self.look.motion != "spin" else tuple(range(0, 360, 30))
        self.sprites = {a: _sprite(self.look, size, a) for a in self.angles}
        if self.look.motion == "pulse":
            self.sprites.update({("s", k): _sprite(self.look, int(size * (0.8 + 0.08 * k))) for k in range(6)})
        self.anchors = [rng.uniform((W * 0.35, H * 0.4), (W * 0.65, H * 0.6))
                        for _ in plan.segments + plan.ambiguous]
        self.brightness = rng.uniform(-8, 8)

    def frame(self, t: float) -> np.ndarray:
        W, H = self.config.frame_size
        cw, ch = self.canvas.shape[1] - W, self.canvas.shape[0] - H
        sp, ph, sp2 = self.pan
        x0 = int((0.5 + 0.5 * math.sin(sp * t + ph)) * cw)
        y0 = int((0.5 + 0.5 * math.sin(sp2 * t)) * ch)
        img = self.canvas[y0:y0 + H, x0:x0 + W].copy()
        pos = (self.player_pos + self.player_vel * t) % (W + 20, H + 20) - 10
        for sprite, (x, y) in zip(self.players, pos):
            _paste(img, sprite, x, y)
        spans = self.plan.segments + self.plan.ambiguous
        for k, (s, e) in enumerate(spans):
            if s <= t < e:
                faint = k >= len(self.plan.segments)
                self._draw_action(img, t - s, self.anchors[k], faint)
        if self.brightness:
            img = np.clip(img.astype(np.int16) + int(self.brightness), 0, 255).astype(np.uint8)
        return img

    def _draw_action(self, img: np.ndarray, dt: float, anchor, faint: bool) -> None:
        W, H = self.config.frame_size
        cx, cy = anchor
        sprite = self.sprites[0.0]
        motion = self.look.motion
        if motion == "bounce":
            cy = cy + H * 0.1 - abs(math.sin(dt * 2.5)) * H * 0.2
        elif motion == "sweep":
            cx = cx + math.sin(dt * 1.2) * W * 0.18
        elif motion == "orbit":
            cx, cy = cx + math.cos(dt * 2.0) * W * 0.1, cy + math.sin(dt * 2.0) * H * 0.1
        elif motion == "spin":
            sprite = self.sprites[self.angles[int(dt * 8) % len(self.angles)]]
        elif motion == "pulse":
            sprite = self.sprites[("s", int(abs(math.sin(dt * 2.0)) * 5.99))]
        if faint:  # ambiguous: half off-frame and washed out
            cx, cy = (-self.size * 0.1 if cx < W / 2 else W + self.size * 0.1), cy
        _paste(img, sprite, cx, cy, 0.45 if faint else 1.0)


def _encode(path: str, frames, config: DemoConfig) -> None:
    """H.264 MP4, one thread and fixed options so the bytes depend only on the frames.

    MB-tree is off: with it, the bundled x264 (core 165, PyAV 17) gives different bytes for
    the same frames depending on what the process allocated before (it reads heap memory
    it did not write); without it the output is the same in any process."""
    import av

    W, H = config.frame_size
    with av.open(path, mode="w", format="mp4", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream("libx264", rate=config.fps,
                                      options={"preset": "veryfast", "crf": "23", "x264-params": "mbtree=0"})
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.codec_context.thread_count = 1
        stream.codec_context.gop_size = 2 * config.fps  # web-style: a keyframe every 2 s
        stream.codec_context.flags |= av.codec.context.Flags.bitexact
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, config.fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def render_video(path: str, config: DemoConfig, plan: VideoPlan, scenes, looks) -> None:
    stage = _Stage(config, plan, scenes, looks)
    n = int(round(plan.duration * config.fps))
    _encode(path, (stage.frame(i / config.fps) for i in range(n)), config)


# --------------------------------------------------------------------------- images


def _crop_resize(img: np.ndarray, size: Tuple[int, int], centre, zoom: float) -> Image.Image:
    """Crop ``img`` to the target aspect around ``centre`` (zoomed in), then resize."""
    H, W = img.shape[:2]
    tw, th = size
    cw = min(W, H * tw / th) / zoom
    ch = cw * th / tw
    x0 = float(np.clip(centre[0] - cw / 2, 0, W - cw))
    y0 = float(np.clip(centre[1] - ch / 2, 0, H - ch))
    return Image.fromarray(img).resize(size, Image.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch))


def _video_like(config, label, scenes, looks, rng, size) -> Image.Image:
    """A highlight: the action's pattern on its scene, framed closer than the video is."""
    plan = VideoPlan("img", label, "train", 10.0, [(0.0, 10.0)], [], int(rng.integers(2 ** 31)))
    stage = _Stage(config, plan, scenes, looks)
    t = float(rng.uniform(0, 10))
    return _crop_resize(stage.frame(t), size, stage.anchors[0], float(rng.uniform(1.0, 1.5)))


def _off_domain(look: ActionLook, rng, size, style: str) -> Image.Image:
    """Product shot on white, or a cartoon with a thick outline on a flat pastel background."""
    w, h = size
    if style == "white":
        bg = np.full((h, w, 3), 255, np.uint8)
        bg[int(h * 0.8):] = 240
        sprite = _sprite(look, int(min(w, h) * rng.uniform(0.5, 0.7)))
    else:
        bg = np.empty((h, w, 3), np.uint8)
        bg[:] = rng.integers(170, 256, 3)
        for _ in range(int(rng.integers(3, 9))):  # confetti
            x, y, r = rng.integers(0, w), rng.integers(0, h), rng.integers(2, 6)
            bg[max(0, y - r):y + r, max(0, x - r):x + r] = rng.integers(0, 256, 3)
        s = int(min(w, h) * rng.uniform(0.45, 0.65))
        sprite = _sprite(look, s, float(rng.uniform(-25, 25)), outline=max(2, s // 14))
    _paste(bg, sprite, w / 2 + rng.uniform(-0.1, 0.1) * w, h / 2 + rng.uniform(-0.1, 0.1) * h)
    return Image.fromarray(bg)


def _noise(rng, size) -> Image.Image:
    w, h = size
    style = int(rng.integers(3))
    if style == 0:
        arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    elif style == 1:
        small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        arr = np.asarray(Image.fromarray(small).resize((w, h), Image.BICUBIC))
    else:
        stripes = rng.integers(0, 256, (int(rng.integers(3, 9)), 3))
        idx = (np.arange(w) * len(stripes) // w)
        arr = np.repeat(stripes[idx][None].astype(np.uint8), h, axis=0)
    return Image.fromarray(arr)


def render_images(output_dir: str, config: DemoConfig, scenes, looks) -> Dict[str, dict]:
    """Crawled-image folders; returns the truth keyed by ``<label>/<file>``."""
    rng = np.random.default_rng([config.seed, 2])
    labels = [l for ls in labels_for(config).values() for l in ls]
    counts = kind_counts(config)
    truth: Dict[str, dict] = {}
    for label in labels:
        folder = os.path.join(output_dir, PATHS["images"], label)
        os.makedirs(folder, exist_ok=True)
        kinds = [k for k in KINDS for _ in range(counts[k])]
        kinds = [kinds[i] for i in rng.permutation(len(kinds))]
        for n, kind in enumerate(kinds, 1):
            size = _IMAGE_SIZES[int(rng.integers(len(_IMAGE_SIZES)))]
            drawn: Optional[str] = label
            if kind == "video_like":
                style, img = "scene", _video_like(config, label, scenes, looks, rng, size)
            elif kind == "off_domain":
                style = ("white", "cartoon")[int(rng.integers(2))]
                img = _off_domain(looks[label], rng, size, style)
            elif rng.random() < 0.5:
                drawn = str(rng.choice([l for l in labels if l != label]))
                style = ("other_scene", "other_white")[int(rng.integers(2))]
                img = (_video_like(config, drawn, scenes, looks, rng, size) if style == "other_scene"
                       else _off_domain(looks[drawn], rng, size, "white"))
            else:
                style, drawn, img = "noise", None, _noise(rng, size)
            name = f"img_{n:04d}.jpg"
            img.save(os.path.join(folder, name), "JPEG", quality=int(rng.integers(70, 96)))
            truth[f"{label}/{name}"] = {"label": label, "kind": kind, "style": style, "drawn_label": drawn}
    return truth


# --------------------------------------------------------------------------- annotations


def _write_annotations(output_dir: str, config: DemoConfig, plans: Sequence[VideoPlan]) -> None:
    labels = [l for ls in labels_for(config).values() for l in ls]
    thumos = os.path.join(output_dir, PATHS["thumos14"])
    os.makedirs(thumos, exist_ok=True)
    for split in SPLITS:
        for cls in labels + ["Ambiguous"]:
            lines = []
            for p in plans:
                if p.split != split:
                    continue
                spans = p.ambiguous if cls == "Ambiguous" else (p.segments if p.label == cls else [])
                lines += [f"{p.video_id} {s:.2f} {e:.2f}\n" for s, e in spans]
            with open(os.path.join(thumos, f"{cls}_{split}.txt"), "w") as f:
                f.writelines(lines)
    taxonomy = [{"nodeId": 0, "nodeName": "Root", "parentId": None, "parentName": None}]
    for activity, acts in labels_for(config).items():
        aid = len(taxonomy)
        taxonomy.append({"nodeId": aid, "nodeName": activity, "parentId": 0, "parentName": "Root"})
        taxonomy += [{"nodeId": aid + k + 1, "nodeName": l, "parentId": aid, "parentName": activity}
                     for k, l in enumerate(acts)]
    database = {p.video_id: {
        "subset": ACTIVITYNET_SUBSET[p.split], "duration": p.duration,
        "url": _video_path(p),
        "annotations": [{"segment": [s, e], "label": p.label} for s, e in p.segments]}
        for p in plans}
    anet = os.path.join(output_dir, PATHS["activitynet"])
    with open(anet, "w") as f:
        json.dump({"version": "demo", "taxonomy": taxonomy, "database": database}, f, indent=1)
    with open(os.path.join(output_dir, PATHS["manifest"]), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["video", "label", "split", "segments", "ambiguous"])
        w.writerows([_video_path(p), p.label, p.split, json.dumps([list(x) for x in p.segments]),
                     json.dumps([list(x) for x in p.ambiguous])] for p in plans)


def _video_path(plan: VideoPlan) -> str:
    """Relative to the output folder (and to the manifest, which lies there)."""
    return f"{PATHS['videos']}/{plan.video_id}.mp4"


def _render_videos(output_dir: str, config: DemoConfig, plans: Sequence[VideoPlan], scenes, looks,
                   workers: int) -> None:
    """Every video, in ``workers`` processes: each video's bytes depend only on its plan
    (:func:`_encode`), so the split changes nothing but the time. Spawned, not forked: the caller
    (``laf demo``) may already run TensorFlow's threads."""
    jobs = [(os.path.join(output_dir, _video_path(p)), config, p, scenes, looks) for p in plans]
    workers = min(workers, len(jobs))
    if workers < 2:
        for job in jobs:
            render_video(*job)
        return
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_leave_interrupts)
    futures = []
    try:
        futures += [pool.submit(render_video, *job) for job in jobs]  # workers start here: inside the try
        for done in futures:
            done.result()  # re-raises a worker's error
    except BaseException:  # Ctrl-C or a worker's error: the videos not started are not rendered
        for future in futures:  # by hand: once the pool is collected, shutdown's cancel_futures is lost
            future.cancel()
        pool.shutdown(wait=False)
        raise
    pool.shutdown()


def _leave_interrupts() -> None:
    """A rendering worker ignores Ctrl-C, which its parent handles. Why: the worker got it too, took
    it for its video's failure and went on to the next, and the parent waited for them all."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def generate(output_dir: str, config: DemoConfig = DemoConfig(), workers: Optional[int] = None) -> dict:
    """Write the whole demo data set under ``output_dir``; returns what ``demo_data.json`` holds.
    ``workers``: processes that render videos (default: the usable cores)."""
    config.validate()
    scenes, looks = _looks(config)
    plans = plan_videos(config)
    os.makedirs(os.path.join(output_dir, PATHS["videos"]), exist_ok=True)
    open(os.path.join(output_dir, PARTIAL), "w").close()  # ours, though not complete yet
    _render_videos(output_dir, config, plans, scenes, looks, usable_cores() if workers is None else workers)
    _write_annotations(output_dir, config, plans)
    truth = render_images(output_dir, config, scenes, looks)
    with open(os.path.join(output_dir, PATHS["images_truth"]), "w") as f:
        json.dump(truth, f, indent=1, sort_keys=True)
    action_time = sum(e - s for p in plans for s, e in p.segments)
    info = {
        "version": VERSION,
        "config": dataclasses.asdict(config),
        "activities": labels_for(config),
        "looks": {l: dataclasses.asdict(v) for l, v in looks.items()},
        "videos": {s: sum(p.split == s for p in plans) for s in SPLITS},
        "total_video_seconds": sum(p.duration for p in plans),
        "action_fraction": action_time / sum(p.duration for p in plans),
        "images": {k: sum(t["kind"] == k for t in truth.values()) for k in KINDS},
        "paths": PATHS,
        "backbone": {"name": "mobilenet_v3_small", "layer": DEMO_LAYER, "input_size": DEMO_INPUT_SIZE,
                     "note": ("no pretrained weights offline: demo_backbone() calibrates a random-init "
                              "backbone's BatchNorm statistics on these media")},
    }
    files.write_atomic(os.path.join(output_dir, "demo_data.json"), json.dumps(info, indent=1).encode())
    os.remove(os.path.join(output_dir, PARTIAL))
    return info


def _missing_media(output_dir: str, info: dict) -> Optional[str]:
    """What of a complete set's files is gone (None if nothing): a set whose files were removed must
    not pass for complete, or ingestion rejects every missing file (and without its manifest every
    run fails)."""
    for key in ("manifest", "images_truth"):
        if not os.path.isfile(os.path.join(output_dir, PATHS[key])):
            return f"it has no {PATHS[key]}"
    for kind in ("videos", "images"):
        have = sum(len(names) for _, _, names in os.walk(os.path.join(output_dir, PATHS[kind])))
        want = sum(info[kind].values())
        if have < want:
            return f"it holds only {have} of its {want} {kind}"
    return None


def ensure_generated(output_dir: str, config: DemoConfig = DemoConfig()) -> dict:
    """The data under ``output_dir``: reused when a complete set with the same config is
    there (``demo_data.json`` is written last), generated otherwise, after removing what an earlier
    set left: images and videos a smaller set does not overwrite would be ingested with it, and a
    backbone calibrated on other media would be reused. Only a folder this module wrote (a set,
    complete or interrupted) is emptied: a folder holding anything else is refused."""
    config.validate()
    path = os.path.join(output_dir, "demo_data.json")
    interrupted = os.path.exists(os.path.join(output_dir, PARTIAL))
    ours = os.path.exists(path) or interrupted
    replacing = None  # why a complete set is replaced
    if ours and not interrupted:
        info = _load_info(output_dir)
        if info is None:
            replacing = "its demo_data.json is unreadable"
        elif info["version"] != VERSION or info["config"] != config_record(config):
            replacing = "its settings differ"
        else:
            missing = _missing_media(output_dir, info)
            if missing is None:
                return info
            replacing = missing
    names = [*PATHS.values(), "demo_data.json", PARTIAL]
    if not ours:
        found = sorted(n for n in names if os.path.lexists(os.path.join(output_dir, n)))
        if found:
            raise UserError(f"{output_dir} holds {', '.join(found)} but no demo data set: the demo data "
                            "would replace them; choose a new or empty folder")
    else:
        if replacing:
            print(f"replacing the demo data set under {output_dir}: {replacing}", file=sys.stderr, flush=True)
        open(os.path.join(output_dir, PARTIAL), "w").close()  # still ours if interrupted while emptied
    for name in names[:-1]:
        old = os.path.join(output_dir, name)
        if os.path.isdir(old) and not os.path.islink(old):
            shutil.rmtree(old)
        elif os.path.lexists(old):
            os.remove(old)
    return generate(output_dir, config)


def config_record(config: DemoConfig) -> dict:
    """``config`` as ``demo_data.json`` stores it (JSON types), to compare with a generated set."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def generated_config(output_dir: str) -> Optional[dict]:
    """The config of the complete data set under ``output_dir``; None when there is none."""
    info = _load_info(output_dir)
    return info["config"] if info else None


def existing_config(output_dir: str) -> Optional[DemoConfig]:
    """The settings of the complete data set under ``output_dir`` as a ``DemoConfig``; None when there
    is none, or when it was written with settings this code no longer has (it is then regenerated)."""
    raw = generated_config(output_dir)
    if raw is None or set(raw) != {f.name for f in dataclasses.fields(DemoConfig)}:
        return None
    return DemoConfig(**{**raw, "frame_size": tuple(raw["frame_size"])})


# --------------------------------------------------------------------------- backbone


def sample_frames(path: str, rate: float = 1.0) -> Tuple[np.ndarray, np.ndarray]:
    """(frames uint8 [T, H, W, 3], timestamps [T]): the first frame at or after each k/rate s.

    The demo videos are tiny, so decoding every frame is cheap; ingestion has its own
    seek-aware decoder for real videos."""
    import av

    frames, stamps, next_t = [], [], 0.0
    with av.open(path) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            t = float(frame.pts * stream.time_base)
            if t + 1e-6 >= next_t:
                frames.append(frame.to_ndarray(format="rgb24"))
                stamps.append(t)
                next_t = math.floor(t * rate + 1e-6) / rate + 1.0 / rate
    return np.stack(frames), np.asarray(stamps, np.float32)


def _square(images, size: int) -> np.ndarray:
    return np.stack([np.asarray(Image.fromarray(np.asarray(im)).convert("RGB").resize((size, size), Image.BILINEAR))
                     for im in images])


def _set_info(output_dir: str) -> dict:
    """``demo_data.json`` of a complete set, which the caller needs."""
    info = _load_info(output_dir)
    if info is None:
        raise UserError(f"no complete demo data set under {output_dir}: write it with `laf demo-data --output"
                        f" {output_dir}`")
    return info


def _load_info(output_dir: str) -> Optional[dict]:
    """``demo_data.json``; None if it is unreadable or not what :func:`generate` writes (e.g. cut
    short by a full disk): the set is then written anew."""
    try:
        with open(os.path.join(output_dir, "demo_data.json")) as f:
            info = json.load(f)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):  # missing too
        return None
    keys = ("version", "config", "videos", "images")
    return info if isinstance(info, dict) and all(k in info for k in keys) else None


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
