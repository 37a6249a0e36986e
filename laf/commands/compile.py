"""`laf compile`: the Kubeflow Pipelines v2 / Vertex AI pipeline-spec JSON."""
import argparse
import sys

from pipeline.kubeflow_v2_runner import TARGETS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", choices=TARGETS, default="kubeflow")
    parser.add_argument("--config", help="pipeline config (YAML/JSON); default: the embedded demo config")
    parser.add_argument("--image", required=True, help="container image built from the repository's Dockerfile")
    parser.add_argument("--output", required=True, help="where to write the pipeline JSON")
    parser.add_argument("--demo-dir", default="laf-demo", help="demo folder the embedded config points at")


def run(args: argparse.Namespace) -> int:
    from laf import demo
    from pipeline import config
    from pipeline.kubeflow_v2_runner import compile_pipeline

    cfg = config.load(args.config, check_paths=False) if args.config else demo.demo_config(args.demo_dir)
    path = compile_pipeline(cfg, args.target, args.image, args.output)
    print(f"wrote {args.target} pipeline spec: {path}")
    weights = cfg.features.weights
    if weights not in ("imagenet", "none") and "://" not in weights:
        print(f"note: features.weights is the local file {weights}: the image must hold it at that path"
              " (or give a gs:// URI the containers read)", file=sys.stderr)
    return 0
