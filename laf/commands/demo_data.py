"""``laf demo-data``: write the embedded demo data set (videos, web images, ground truth)."""
from __future__ import annotations

import argparse
import json
import os
from typing import Dict

from laf.commands.flags import finite, local_path

LOOKS_HELP = "0: the shipped scenes and action patterns; n > 0: another draw of them"


def add_shape_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags for data of another shape than the demo's: a check that what holds on its 4 activities of
    3 siblings, 3-8 s actions in 40-120 s videos, in scenes siblings share, with half its web images
    video-like, is not a property of those choices."""
    from laf.demo.settings import DemoConfig

    parser.add_argument("--activities", type=int, metavar="N", help=f"activities (default {DemoConfig.activities})")
    parser.add_argument("--actions-per-activity", type=int, metavar="N",
                        help=f"sibling actions of each activity (default {DemoConfig.actions_per_activity}; 2 or more)")
    parser.add_argument("--image-mix", nargs=3, type=finite, metavar=("VIDEO_LIKE", "OFF_DOMAIN", "IRRELEVANT"),
                        help="shares of each action's web images that look like its video frames, show it off the"
                             " videos' domain, or show something else (default: "
                             f"{DemoConfig.video_like_rate:g} {DemoConfig.off_domain_rate:g}"
                             f" {DemoConfig.irrelevant_rate:g}; they sum to 1)")
    parser.add_argument("--action-seconds", nargs=2, type=finite, metavar=("MIN", "MAX"),
                        help=f"length of one action occurrence (default: {DemoConfig.min_action:g}"
                             f" {DemoConfig.max_action:g})")
    parser.add_argument("--video-seconds", nargs=2, type=finite, metavar=("MIN", "MAX"),
                        help=f"video length (default: {DemoConfig.min_duration:g} {DemoConfig.max_duration:g})")
    parser.add_argument("--sibling-scene-shift", type=finite, metavar="N",
                        help="move each sibling action's scene colour N steps apart, so context tells siblings"
                             " apart in part, as in real footage (default 0: siblings share their activity's scene)")


def shape(args: argparse.Namespace) -> Dict[str, float]:
    """The ``DemoConfig`` fields the shape flags set (none given: the demo's)."""
    found: Dict[str, float] = {}
    for key in ("activities", "actions_per_activity"):
        if getattr(args, key) is not None:
            found[key] = getattr(args, key)
    if args.image_mix:
        found.update(zip(("video_like_rate", "off_domain_rate", "irrelevant_rate"), args.image_mix))
    if args.action_seconds:
        found.update(min_action=args.action_seconds[0], max_action=args.action_seconds[1])
    if args.video_seconds:
        found.update(min_duration=args.video_seconds[0], max_duration=args.video_seconds[1])
    if args.sibling_scene_shift is not None:
        found.update(sibling_scene_shift=args.sibling_scene_shift)
    return found


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from laf.demo.run import DEMO_SCALE

    parser.add_argument("--output", type=local_path, default="laf-demo/data", help="folder to write (default: %(default)s)")
    parser.add_argument("--scale", type=finite, default=DEMO_SCALE,  # `laf demo`'s, whose data `laf run` reuses
                        help=f"multiply videos and images per action (default {DEMO_SCALE:g}: 144 videos, as laf demo;"
                             " at least 3 videos per action, one per split)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same files")
    parser.add_argument("--looks", type=int, default=0, help=LOOKS_HELP)
    add_shape_arguments(parser)
    parser.add_argument("--probe", action="store_true",
                        help="also calibrate the demo backbone and print linear-probe checks (loads TF)")


def run(args: argparse.Namespace) -> int:
    from laf.demo.dataset import ensure_generated
    from laf.demo.probe import probe
    from laf.demo.settings import DemoConfig
    from laf.report import strict_json

    info = ensure_generated(args.output, DemoConfig(seed=args.seed, looks=args.looks, **shape(args)).scaled(args.scale))
    summary = {"output": os.path.abspath(args.output),
               **{k: info[k] for k in ("videos", "images", "total_video_seconds", "action_fraction", "paths")}}
    if args.probe:
        summary["probe"] = probe(args.output)
    print(json.dumps(strict_json.finite(summary), indent=1, allow_nan=False))  # an undefined probe mean: null
    return 0
