"""``laf extract``: shared CNN features for your own videos, web images or ``.npy`` arrays,
outside TFX (the same Beam transforms the pipeline components run).

Each writes ``Split-*/`` gzipped TFRecords, ``rejected.jsonl``, ``labels.json`` and
``summary.json`` (``{"inputs", "accepted", "rejected", "duplicates"}``) into ``--output``, and
``.laf-extract`` naming the subcommand (a folder of the other kind is refused).
"""
from __future__ import annotations

import argparse
import json
from typing import Dict

from laf.commands.flags import finite, path
from laf.errors import UserError


def _output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", type=path, required=True, metavar="DIR", help="output folder (local or gs:// ...)")
    parser.add_argument("--beam-arg", action="append", default=[], metavar="ARG",
                        help="Beam pipeline option, repeatable (e.g. --beam-arg=--runner=DaskRunner"
                             " --beam-arg=--dask_client_address=tcp://HOST:8786; see the README)")


def _backbone_arguments(parser: argparse.ArgumentParser) -> None:
    from laf.ingest.backbones import BACKBONES

    _output_arguments(parser)
    parser.add_argument("--backbone", default="mobilenet_v3_small", choices=sorted(BACKBONES))
    parser.add_argument("--weights", default="imagenet", type=path,  # "" silently meant random weights
                        help="'imagenet' (Keras download, needs internet; the pipeline's default too), 'none'"
                             " (random), or a weights file (default: %(default)s)")
    parser.add_argument("--layer", default=None, type=path, help="named layer to pool features from (default: top)")
    parser.add_argument("--input-size", type=int, default=None, help="square input size (default: backbone's)")


def _labels_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--labels", default=None, metavar="LABELS_JSON", type=path,
                        help="reuse an existing labels.json (e.g. the videos') so label indices agree")


def _label_arguments(parser: argparse.ArgumentParser) -> None:
    from laf.ingest.manifest import DEFAULT_RATIOS

    _labels_argument(parser)
    parser.add_argument("--taxonomy", default=None, metavar="JSON", type=path,
                        help='activity hierarchy {"Activity": ["label", ...]} overriding the "Activity:" prefix')
    parser.add_argument("--ratios", default=",".join(f"{k}={v:g}" for k, v in DEFAULT_RATIOS.items()),
                        help="split ratios for rows without a split column (default: %(default)s)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="what", metavar="WHAT")
    sub.required = True
    videos = sub.add_parser("videos", help="sample frames of untrimmed videos and extract CNN features")
    source = videos.add_mutually_exclusive_group(required=True)
    source.add_argument("--manifest", type=path, metavar="FILE",
                        help="CSV, TSV or JSONL manifest: video, label[, id, split, segments, ambiguous]")
    source.add_argument("--annotations", type=path, metavar="PATH",
                        help="THUMOS14 annotation folder or ActivityNet JSON (needs --videos)")
    videos.add_argument("--videos", type=path, metavar="DIR", help="folder of the annotated videos")
    videos.add_argument("--subset", default=None, help="annotation subset (THUMOS14 val/test, ActivityNet validation)")
    videos.add_argument("--split", default=None, help="split of every annotated video (default: hashed)")
    videos.add_argument("--fps", type=finite, default=1.0, help="frames sampled per second (default: 1)")
    videos.add_argument("--batch-size", type=int, default=32, help="frames per backbone call (default: 32)")
    videos.add_argument("--keyframe-window", type=finite, default=0.5,
                        help="use a keyframe closer than this many sampling intervals (0: exact frames)")
    videos.add_argument("--ref-tolerance", type=finite, default=0.25,
                        help="accept a reference frame this many intervals off the ideal one (0: exact)")
    videos.add_argument("--decode-threads", type=int, default=0,
                        help="threads decoding blocks of one video in parallel (default 0: one per core)")
    videos.add_argument("--max-bytes", type=int, default=None,
                        help="reject bigger video files before copying or decoding them (default: 16 GiB)")
    videos.add_argument("--max-duration", type=finite, default=None,
                        help="reject longer videos, in seconds (default: 6 h)")
    _backbone_arguments(videos)
    _label_arguments(videos)

    images = sub.add_parser("images", help="decode crawled web images and extract CNN features")
    images.add_argument("--root", required=True, type=path, metavar="DIR_OR_MANIFEST",
                        help="folder <root>/<action>/<files>, or a manifest of label, path or URL")
    images.add_argument("--allow-private-addresses", action="store_true",
                        help="fetch URLs on loopback/private/link-local hosts (a self-hosted image mirror);"
                             " refused by default")
    _backbone_arguments(images)
    _labels_argument(images)

    features = sub.add_parser("features", help="import pre-extracted .npy [T, D] features (e.g. I3D)")
    features.add_argument("--manifest", required=True, type=path, metavar="FILE",
                          help="CSV, TSV or JSONL manifest whose video column names .npy files")
    features.add_argument("--rate", type=finite, required=True, help="feature rate, features per second")
    features.add_argument("--feature-dim", type=int, default=None,
                          help="expected D (default: the one most files' headers declare)")
    _output_arguments(features)
    _label_arguments(features)


def parse_ratios(text: str) -> Dict[str, float]:
    try:
        pairs = [(name.strip(), float(value)) for name, value in
                 (part.split("=", 1) for part in text.split(",") if part.strip())]
    except ValueError:
        raise UserError(f"--ratios must look like train=0.6,eval=0.2,test=0.2, got {text!r}") from None
    names = [name for name, _ in pairs]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:  # the last one silently won
        raise UserError(f"--ratios names {', '.join(repeated)} more than once: {text!r}")
    return dict(pairs)


def _backbone(args: argparse.Namespace):
    from laf.ingest.backbones import BackboneConfig, check_weights, min_input_size

    smallest = min_input_size(args.backbone)
    if args.input_size is not None and args.input_size < smallest:
        raise UserError(f"--input-size must be at least {smallest} for {args.backbone}, got {args.input_size}")
    config = BackboneConfig(name=args.backbone, weights=args.weights, layer=args.layer, input_size=args.input_size)
    check_weights(config)
    return config


def _videos(args: argparse.Namespace) -> Dict[str, int]:
    from laf.ingest import manifest as mf
    from laf.ingest import video_ingest

    ratios = mf.check_ratios(parse_ratios(args.ratios), "--ratios")
    unused = [] if args.annotations else [flag for flag, value in (("--videos", args.videos), ("--subset", args.subset),
                                                                  ("--split", args.split)) if value is not None]
    if unused:  # a manifest names its videos, subset and splits itself
        raise UserError(f"{', '.join(unused)}: only with --annotations (a manifest's rows give their own split)")
    if args.annotations:
        if not args.videos:
            raise UserError("--annotations needs --videos, the folder holding the annotated videos")
        rows = mf.from_annotations(args.annotations, args.videos, args.subset, args.split, ratios)
    else:
        rows = mf.read_manifest(args.manifest, ratios)
    for flag, value in (("--decode-threads", args.decode_threads), ("--keyframe-window", args.keyframe_window),
                        ("--ref-tolerance", args.ref_tolerance)):
        if value < 0:
            raise UserError(f"{flag} must be >= 0, got {value}")
    limits = {k: v for k, v in (("max_bytes", args.max_bytes), ("max_duration", args.max_duration)) if v is not None}
    for key, value in limits.items():
        if value <= 0:
            raise UserError(f"--{key.replace('_', '-')} must be > 0, got {value}")
    options = video_ingest.VideoOptions(batch_size=args.batch_size, keyframe_window=args.keyframe_window,
                                        ref_tolerance=args.ref_tolerance, decode_threads=args.decode_threads,
                                        **limits)
    return video_ingest.extract_videos(rows, args.output, _backbone(args), args.fps, args.beam_arg,
                                       labels=args.labels, taxonomy=args.taxonomy, options=options)


def _images(args: argparse.Namespace) -> Dict[str, int]:
    from laf.ingest.image_ingest import extract_images

    options = {"vocabulary": args.labels} if args.labels else {}
    if args.allow_private_addresses:
        options["allow_private_addresses"] = True
    return extract_images(args.root, args.output, _backbone(args), beam_args=args.beam_arg, **options)


def _features(args: argparse.Namespace) -> Dict[str, int]:
    from laf.ingest import manifest as mf
    from laf.ingest import video_ingest

    if args.feature_dim is not None and args.feature_dim < 1:
        raise UserError(f"--feature-dim must be >= 1, got {args.feature_dim}")
    ratios = mf.check_ratios(parse_ratios(args.ratios), "--ratios")
    return video_ingest.import_features(mf.read_manifest(args.manifest, ratios), args.output, args.rate,
                                        args.beam_arg, labels=args.labels, taxonomy=args.taxonomy,
                                        feature_dim=args.feature_dim)


KIND_FILE = ".laf-extract"  # which subcommand wrote the folder


def _check_output(output: str, what: str) -> None:
    """Refuse a folder that another kind of extraction wrote: images and videos write the same
    Split-train file name and labels.json, so ``extract images`` into the videos' folder would
    replace their training split (read only: a refused command leaves no folder behind)."""
    from laf import files

    marker = files.join(output, KIND_FILE)
    other = files.read_text(marker).strip() if files.exists(marker) else what
    if (other == "images") != (what == "images"):  # videos and features both write video records
        raise UserError(f"--output {output} holds the output of `laf extract {other}` (its {KIND_FILE} says so),"
                        f" whose files `laf extract {what}` would replace; give another folder")


def _mark_output(output: str, what: str) -> None:
    import tensorflow as tf

    from laf import files

    with tf.io.gfile.GFile(files.join(output, KIND_FILE), "w") as f:
        f.write(what + "\n")


def run(args: argparse.Namespace) -> int:
    from laf.progress import to_console

    _check_output(args.output, args.what)
    with to_console():  # a line per video / image batch on stderr; the summary alone on stdout
        summary = {"videos": _videos, "images": _images, "features": _features}[args.what](args)
    _mark_output(args.output, args.what)
    print(json.dumps(summary, sort_keys=True))
    if summary.get("inputs") and not summary.get("accepted"):  # a script's next step would read empty splits
        from laf import files

        raise UserError(f"every one of the {summary['inputs']} inputs was rejected or a duplicate: see"
                        f" {files.join(args.output, 'rejected.jsonl')}")
    return 0
