"""`laf run`: the local pipeline run (LocalDagRunner, SQLite MLMD, Beam DirectRunner)."""
import argparse
import os

from laf.demo.run import DEMO_FOLDER


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="pipeline config (YAML/JSON); default: the embedded demo config")
    parser.add_argument("--output", help=f"demo output folder when --config is not given (default: {DEMO_FOLDER})")
    parser.add_argument("--no-cache", action="store_true", help="rerun every component instead of reusing results")


def run(args: argparse.Namespace) -> int:
    from laf.demo import run as demo
    from laf.commands.flags import demo_folder
    from pipeline import config, local_runner

    output = demo_folder(args.config, args.output, "--output")
    if output is None:  # config and inputs are checked before TF/TFX load (seconds, not a minute), once
        cfg = config.load(args.config)
        inputs = local_runner.check_inputs(cfg)
    else:  # the demo's data set as it is there (`laf demo --seed/--looks/...` made it), else the default one
        from laf.demo.dataset import existing_config

        cfg = demo.prepare(output, data_config=existing_config(os.path.join(output, "data")))
        inputs = None
    local_runner.run(cfg, enable_cache=not args.no_cache, inputs=inputs)
    print(demo.format_summary(demo.summarize(cfg)))
    return 0
