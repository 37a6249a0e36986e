"""`laf run`: the local pipeline run (LocalDagRunner, SQLite MLMD, Beam DirectRunner)."""
import argparse
import os


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="pipeline config (YAML/JSON); default: the embedded demo config")
    parser.add_argument("--output", default="laf-demo", help="demo output folder when --config is not given")
    parser.add_argument("--no-cache", action="store_true", help="rerun every component instead of reusing results")


def run(args: argparse.Namespace) -> int:
    from laf import demo
    from laf.ingest.preflight import check_labels
    from pipeline import config

    if args.config:  # config and manifests are checked before TF/TFX load (seconds, not a minute)
        cfg = config.load(args.config)
        check_labels(cfg.data.read_videos(), cfg.data.video_source, cfg.data.images, cfg.data.split_ratios,
                     cfg.data.taxonomy)
    else:  # the demo's data set as it is there (`laf demo --seed/--looks/...` made it), else the default one
        from laf import demo_data

        cfg = demo.prepare(args.output, data_config=demo_data.existing_config(os.path.join(args.output, "data")))
    from pipeline import local_runner

    local_runner.run(cfg, enable_cache=not args.no_cache)
    print(demo.format_summary(demo.summarize(cfg)))
    return 0
