"""`laf demo`: generate the demo data if missing, run the whole pipeline locally, summarize."""
import argparse
import os

from laf.commands.demo_data import LOOKS_HELP, add_shape_arguments, shape
from laf.commands.flags import finite, local_path
from laf.demo.run import DEMO_FOLDER, DEMO_SCALE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", type=local_path, default=DEMO_FOLDER, help="folder for data, pipeline root, model, report")
    parser.add_argument("--scale", type=finite, default=DEMO_SCALE,
                        help=f"demo data size multiplier (default {DEMO_SCALE:g}: 144 videos)")
    parser.add_argument("--seed", type=int, default=0, help="demo data seed")
    parser.add_argument("--looks", type=int, default=0, help=LOOKS_HELP)
    add_shape_arguments(parser)
    parser.add_argument("--no-cache", action="store_true", help="rerun every component")


def run(args: argparse.Namespace) -> int:
    from laf.demo import run as demo
    from laf.commands import report
    from laf.report import collect, page
    from pipeline import local_runner

    cfg = demo.prepare(args.output, scale=args.scale, seed=args.seed, looks=args.looks, **shape(args))
    print(f"running the pipeline (root {cfg.pipeline_root}) ...", flush=True)
    local_runner.run(cfg, enable_cache=not args.no_cache)
    data = collect.collect(cfg.pipeline_root)
    report_path = report.write(data, os.path.join(args.output, "report.html"))
    summary = demo.summarize(cfg, report=os.path.abspath(report_path), metrics=data.metrics.get(page.RUN_METHOD, {}))
    summary_path = demo.write_summary(args.output, summary)
    print(demo.format_summary(summary))
    print(f"summary:       {os.path.abspath(summary_path)}")
    return 0
