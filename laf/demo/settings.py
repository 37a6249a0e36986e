"""What the demo data set holds (``DemoConfig``), its names and where its files go."""
from __future__ import annotations

import dataclasses
import json
import math
from typing import Dict, List, Tuple

from laf.errors import UserError

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

# The demo's feature extractor (demo_backbone): a calibrated random-init MobileNetV3-Small
# tapped after its 4th block. Deeper random layers wash out colour and shape: on the default
# data a linear probe on the 576-D top tells sibling actions apart on action frames at ~0.69
# (activities 0.88), on this 96-D tap at ~0.94 (activities 0.99); `probe` measures it.
DEMO_LAYER = "expanded_conv_3_squeeze_excite_mul"
DEMO_INPUT_SIZE = 112
GAP = 3.0  # seconds between occurrences and from the video's ends
# Where things go under the output folder; every path written in a file is relative to it,
# so the data set can be moved and the same seed gives the same bytes anywhere.
PATHS = {"manifest": "manifest.csv", "videos": "videos", "images": "images",
         "images_truth": "images_truth.json", "thumos14": "annotations/thumos14",
         "activitynet": "annotations/activitynet.json", "backbone": "backbone"}
PARTIAL = ".demo_data_partial"  # while a set is written: an interrupted set is ours to replace


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
    sibling_scene_shift: float = 0.0      # base colour step between sibling actions' scenes (0: shared)

    def scaled(self, scale: float) -> "DemoConfig":
        if scale <= 0:
            raise UserError(f"scale (--scale) must be positive, got {scale:g}")
        return dataclasses.replace(
            self, videos_per_action=max(3, round(self.videos_per_action * scale)),
            images_per_action=max(1, round(self.images_per_action * scale)))

    def validate(self) -> None:
        rates = (self.video_like_rate, self.off_domain_rate, self.irrelevant_rate)
        if min(rates) < 0 or abs(sum(rates) - 1.0) > 1e-6:
            raise UserError(f"image kind rates (--image-mix VIDEO_LIKE OFF_DOMAIN IRRELEVANT) must be >= 0 and sum to"
                            f" 1, got {' '.join(f'{x:g}' for x in rates)}")
        if self.activities < 1 or self.actions_per_activity < 2:
            raise UserError(f"need >= 1 activity (--activities) with >= 2 actions (--actions-per-activity: fine-grained"
                            f" siblings), got {self.activities} and {self.actions_per_activity}")
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
        shortest = self.max_action + 2 * GAP
        if self.min_duration < shortest or self.max_duration < self.min_duration:
            raise UserError(f"need max_action + {2 * GAP:g} s <= min_duration <= max_duration (--video-seconds MIN MAX"
                            f" beside --action-seconds), got actions up to {self.max_action:g} s in videos of"
                            f" {self.min_duration:g} {self.max_duration:g} s")
        if self.max_occurrences < 1:
            raise UserError("max_occurrences must be >= 1")
        if self.looks < 0:
            raise UserError(f"looks must be >= 0, got {self.looks}")
        if not (math.isfinite(self.sibling_scene_shift) and self.sibling_scene_shift >= 0):
            raise UserError(f"sibling scene shift (--sibling-scene-shift) must be a finite number >= 0, got"
                            f" {self.sibling_scene_shift:g}")
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


def config_record(config: DemoConfig) -> dict:
    """``config`` as ``demo_data.json`` stores it (JSON types), to compare with a generated set."""
    return json.loads(json.dumps(dataclasses.asdict(config)))
