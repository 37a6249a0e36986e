"""``laf demo-data``: write the embedded demo data set (videos, web images, ground truth)."""
from __future__ import annotations

import argparse
import json
import os

LOOKS_HELP = "0: the shipped scenes and action patterns; n > 0: another draw of them"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", default="laf-demo/data", help="folder to write (default: %(default)s)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply videos and images per action (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same files")
    parser.add_argument("--looks", type=int, default=0, help=LOOKS_HELP)
    parser.add_argument("--probe", action="store_true",
                        help="also calibrate the demo backbone and print linear-probe checks (loads TF)")


def run(args: argparse.Namespace) -> int:
    from laf import demo_data

    info = demo_data.ensure_generated(args.output, demo_data.DemoConfig(seed=args.seed, looks=args.looks)
                                      .scaled(args.scale))
    summary = {"output": os.path.abspath(args.output),
               **{k: info[k] for k in ("videos", "images", "total_video_seconds", "action_fraction", "paths")}}
    if args.probe:
        summary["probe"] = demo_data.probe(args.output)
    print(json.dumps(summary, indent=1))
    return 0
