"""`laf compile`: the Kubeflow Pipelines v2 / Vertex AI pipeline spec."""
import argparse
import sys

from laf import files
from laf.commands import flags
from laf.demo.run import DEMO_FOLDER
from laf.ingest.backbones import PUBLIC_WEIGHTS
from pipeline.kubeflow_v2_runner import TARGETS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", choices=TARGETS, default="kubeflow")
    parser.add_argument("--config", help="pipeline config (YAML/JSON); default: the embedded demo config")
    parser.add_argument("--image", required=True, help="container image built from the repository's Dockerfile")
    parser.add_argument("--output", type=flags.path, required=True,
                        help="the spec file, a local path or a gs:// URI: .json (the PipelineJob Vertex AI submits)"
                        " or .yaml (the PipelineSpec Kubeflow Pipelines 2 uploads)")
    parser.add_argument("--demo-dir", help=f"demo folder the embedded config points at (default: {DEMO_FOLDER})")
    parser.add_argument("--no-cache", action="store_true",
                        help="rerun every task on every submission (after data changed in place at the same paths)")
    parser.add_argument("--no-baseline", action="store_true",
                        help="no baseline model (a Kubeflow spec never has one): bless on evaluation.hit1_floor alone."
                             " After a change of features or labels the last blessed model cannot read the new"
                             " records, and every Evaluator task would fail")


def run(args: argparse.Namespace) -> int:
    from laf.demo import run as demo
    from laf.commands.flags import demo_folder
    from pipeline import config
    from pipeline.kubeflow_v2_runner import compile_pipeline

    demo_dir = demo_folder(args.config, args.demo_dir, "--demo-dir")
    cfg = config.load(args.config, check_paths=False) if demo_dir is None else demo.demo_config(demo_dir)
    path = compile_pipeline(cfg, args.target, args.image, args.output, enable_cache=not args.no_cache,
                            baseline=not args.no_baseline)
    print(f"wrote {args.target} pipeline spec: {path}")
    for key, path in local_paths(cfg):
        print(f"note: {key} is the local path {path}: the spec names it as is, so the containers must see it"
              " at that path (or give a gs:// URI they read)", file=sys.stderr)
    return 0


def local_paths(cfg):
    """(key, path) of every path in ``cfg`` that is this machine's, not a URI the cluster reads
    (a relative path in the config is made absolute against the config's folder on loading). Not the
    pipeline root: a launcher writes only under a bucket URI, which ``compile_pipeline`` says."""
    from pipeline.config import DATA_PATHS

    paths = [("serving_dir", cfg.serving_dir)]
    paths += [(f"data.{key}", getattr(cfg.data, key)) for key in DATA_PATHS]
    if cfg.features.weights not in PUBLIC_WEIGHTS:
        paths.append(("features.weights", cfg.features.weights))
    return [(key, path) for key, path in paths if path and not files.is_remote(path)]  # file:// is this machine's
