"""`laf run`: the local pipeline run (LocalDagRunner, SQLite MLMD, Beam DirectRunner)."""
import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="pipeline config (YAML/JSON); default: the embedded demo config")
    parser.add_argument("--output", default="laf-demo", help="demo output folder when --config is not given")
    parser.add_argument("--no-cache", action="store_true", help="rerun every component instead of reusing results")


def run(args: argparse.Namespace) -> int:
    from laf import demo
    from pipeline import config, local_runner

    cfg = config.load(args.config) if args.config else demo.prepare(args.output)
    local_runner.run(cfg, enable_cache=not args.no_cache)
    print(demo.format_summary(demo.summarize(cfg)))
    return 0
