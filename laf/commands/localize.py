"""``laf localize``: detected action segments in your videos, from a pushed model.

The backbone must be the one the model was trained with. A pushed model carries it (name,
weights, input size, fps) and its labels in its assets (``laf.serve.assets``), so ``--model DIR``
is all it takes. ``--pipeline-root`` reads them from the run's ML Metadata instead (for models
exported without them), or ``--weights`` and ``--fps`` give them (and ``--backbone`` /
``--input-size`` when not the defaults); flags override what the model or the run recorded.
With ``--server URL`` the model runs in TF Serving (REST, ``laf.serve.rest``): videos are still
decoded and featurized here, so the backbone must come from one of the above.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys

from laf import files
from laf.commands import localize_stream
from laf.commands.flags import finite, local_path, path
from laf.serve.rest import DEFAULT_MODEL_NAME

TOP = 5  # best detections per video in the printed table, unless --top says otherwise


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("videos", nargs="*", metavar="VIDEO", help="video files to localize actions in")
    parser.add_argument("--model", metavar="DIR",
                        help="SavedModel directory (a pushed version, e.g. serving/<version>); its assets give the"
                             " backbone, fps and labels. Optional with --server for video files (then it only supplies those);"
                             " needed with --stream --server")
    parser.add_argument("--server", metavar="URL",
                        help="TF Serving REST address (e.g. http://localhost:8501): the model runs there; videos are"
                             " featurized here, with the backbone of --model's assets, --pipeline-root or the flags")
    parser.add_argument("--model-name", help=f"the model's name in TF Serving (default {DEFAULT_MODEL_NAME})")
    parser.add_argument("--pipeline-root", metavar="DIR", type=path,
                        help="local pipeline root of the run that trained the model: backbone, fps and labels"
                             " (instead of the model's assets)")
    parser.add_argument("--backbone", help="backbone name (laf.ingest.backbones.BACKBONES)")
    parser.add_argument("--weights", type=path, help='backbone weights: "imagenet", "none" or a .weights.h5 file')
    parser.add_argument("--input-size", type=int, help="backbone input size in pixels")
    parser.add_argument("--layer", type=path, help="backbone layer tapped for features (default: the model's, from its assets)")
    parser.add_argument("--fps", type=finite, help="frames sampled per second")
    parser.add_argument("--labels", metavar="FILE", type=path,
                        help="labels.json (default: the model's assets, else the pipeline run's vocabulary)")
    parser.add_argument("--json", metavar="FILE", type=local_path, help="write every detection as ActivityNet result JSON")
    parser.add_argument("--plot", metavar="DIR", type=local_path, help="write a PNG timeline per video into DIR")
    parser.add_argument("--top", type=int, default=None,
                        help=f"best detections per video in the printed table (0: all; default {TOP})")
    parser.add_argument("--batch-size", type=int, default=32, help="frames per backbone call")
    localize_stream.add_arguments(parser)


def _versions_hint(model: str) -> None:
    """--model of a run's serving folder (its numbered subfolders are the model versions), the likely
    mistake: say which version to give, before anything asks that folder for its assets."""
    from laf import run_store
    from laf.errors import UserError

    if run_store.holds_model(model):
        return
    versions = run_store.model_versions(model)
    if versions:
        raise UserError(f"{model} holds model versions, not a SavedModel: give one of them, e.g. --model "
                        f"{versions[max(versions)]}")


def _settings(args: argparse.Namespace):
    from laf.errors import UserError
    from laf.ingest.backbones import BACKBONES, PUBLIC_WEIGHTS, BackboneConfig, min_input_size
    from laf.serve import assets, rest
    from laf.serve.localize import IngestSettings, settings_from_pipeline

    if not args.model and not args.server:
        raise UserError("give --model DIR (a SavedModel here) or --server URL (TF Serving)")
    if args.model and not files.isdir(args.model):  # before the slow part (gs:// too: TF loads it from there)
        raise UserError(f"model directory not found: {args.model}")
    if args.model:
        _versions_hint(args.model)
    if args.model and not args.server and not files.exists(files.join(args.model, "saved_model.pb")):
        raise UserError(f"{args.model} is not a SavedModel (no saved_model.pb)")  # before its assets are looked for
    if args.server:
        rest.predict_url(args.server, args.model_name)  # a malformed URL fails now, not after featurizing
    carried = assets.load(args.model) if args.model and not args.pipeline_root else None
    if args.pipeline_root:
        settings = settings_from_pipeline(args.pipeline_root)
    elif carried is not None:
        settings = carried
    elif args.weights is None or args.fps is None:
        where = "the model carries no assets/features.json" if args.model else "no --model"
        raise UserError(f"the model's backbone is unknown ({where}): give --pipeline-root of its run, or --weights"
                        " and --fps (and --backbone/--input-size) as used at ingestion")
    else:
        settings = IngestSettings(BackboneConfig(), args.fps)
    changes = {k: v for k, v in (("name", args.backbone), ("weights", args.weights),
                                 ("input_size", args.input_size), ("layer", args.layer)) if v is not None}
    backbone = dataclasses.replace(settings.backbone, **changes)
    if backbone.name not in BACKBONES:
        raise UserError(f"unknown backbone {backbone.name!r}; choose one of {sorted(BACKBONES)}")
    fps = settings.fps if args.fps is None else args.fps
    smallest = min_input_size(backbone.name)
    too_small = backbone.size < smallest or (args.input_size is not None and args.input_size < smallest)
    if not math.isfinite(fps) or fps <= 0 or args.batch_size < 1 or (args.top or 0) < 0 or too_small:
        raise UserError(f"--fps must be > 0, --batch-size >= 1, --top >= 0 and --input-size >= {smallest}"
                        f" (for {backbone.name})")
    weights = backbone.weights
    if weights not in PUBLIC_WEIGHTS and not files.is_remote(weights) and not os.path.isfile(files.local(weights)):
        raise UserError(f"backbone weights file not found: {weights}")
    return IngestSettings(backbone, fps, settings.vocabulary)


def _check_outputs(args: argparse.Namespace) -> None:
    """Where results go must be writable before the slow part (featurizing every video)."""
    from laf.errors import UserError

    if args.json:
        folder = os.path.dirname(os.path.abspath(args.json))
        if os.path.isdir(args.json) or not os.path.isdir(folder):
            raise UserError(f"--json {args.json}: need a file in an existing folder")
        if files.folder_blocker(folder):
            raise UserError(f"--json {args.json}: cannot write in {folder}")
    if args.plot:
        if os.path.exists(args.plot) and not os.path.isdir(args.plot):
            raise UserError(f"--plot {args.plot}: is a file; give a folder for the timelines")
        blocker = files.folder_blocker(args.plot)
        if blocker is not None:
            raise UserError(f"--plot {args.plot}: cannot write in {blocker}" if os.path.isdir(blocker)
                            else f"--plot {args.plot}: {blocker} is a file, so the folder cannot be made")


def _vocabulary(args: argparse.Namespace, settings):
    """--labels, else the model's assets, else the pipeline run's vocabulary; None (with a note) if none."""
    from laf.errors import UserError
    from laf.serve import localize
    from schemas.vocabulary import Vocabulary

    try:
        vocabulary = (Vocabulary.load(args.labels) if args.labels
                      else (args.model and localize.model_vocabulary(args.model)) or settings.vocabulary)
    except Exception as e:  # noqa: BLE001 -- any unreadable vocabulary is the user's to fix
        raise UserError(f"cannot read the label vocabulary {args.labels or 'of the model'}: {e}") from None
    if vocabulary is None:
        print("note: no label vocabulary (model assets, --pipeline-root or --labels); classes are numbered",
              file=sys.stderr)
    return vocabulary


def _featurize(args: argparse.Namespace, settings):
    """The videos' records, one at a time, None where a video cannot be used: among several, such a
    video is named on stderr and skipped (the exit status says so), so one bad file does not cost
    the others; a single one is an error."""
    from laf.serve import localize

    def skip(message: str) -> None:
        print(f"skipped: {message}", file=sys.stderr, flush=True)

    return localize.featurize_each(args.videos, settings, args.batch_size, skip=skip if len(args.videos) > 1 else None)


def _localize_each(args: argparse.Namespace, model, examples, vocabulary):
    """Per-video results of the ``localize`` signature, from TF Serving with --server, else ``model``
    (one per video localized). One call per video, each featurized as its turn comes: a batch is
    padded to its longest video, so one call for all would need memory for every video at that
    length, and all records at once memory for every video's features.
    Among several videos, one the model or server refuses is named on stderr and skipped; a server
    that cannot answer (after :data:`laf.serve.rest.SERVER_PATIENCE`) skips that video, and two
    videos in a row end the requests: the videos done are kept either way. The first two refused
    alike, before any success, are the model's or server's failure, not the videos' (another feature
    size, a wrong model name): an error."""
    from laf.errors import UserError
    from laf.serve import localize, rest

    todo = zip(examples, localize.video_ids(args.videos), args.videos)
    results, refused, unanswered = [], [], 0
    for n, (example, video_id, video) in enumerate(todo, 1):
        if example is None:
            continue
        try:
            if args.server:
                found = rest.predict_patiently(args.server, "localize", {"examples": [example]}, args.model_name,
                                               timeout=rest.REQUEST_TIMEOUT)
                localize.check_localize_outputs(found, f"the model {args.model_name!r} at {args.server}")
            else:
                found = localize.localize_outputs(model, [example])
        except rest.ServerUnavailable as e:
            if len(args.videos) == 1:
                raise
            unanswered += 1
            if unanswered == 2 and n < len(args.videos):  # not one long video's timeout: the server is gone
                print(f"skipped: {video} and the videos after it are not localized: {e}", file=sys.stderr, flush=True)
                break
            print(f"skipped: cannot localize {video}: {e}", file=sys.stderr, flush=True)
            continue
        except UserError as e:
            if len(args.videos) == 1 or (not results and str(e) in refused):
                raise
            refused.append(str(e))
            unanswered = 0  # the server answered
            print(f"skipped: cannot localize {video}: {e}", file=sys.stderr, flush=True)
            continue
        unanswered = 0
        results += localize.results_from_outputs(found, [example], [video_id], [video], vocabulary)
    return results


def run(args: argparse.Namespace) -> int:
    from laf.errors import UserError
    from laf.evaluate.annotations import write_results
    from laf.serve import localize

    if bool(args.videos) == bool(args.stream):
        raise UserError("give video files or --stream SOURCE (one of the two)")
    if args.stream and (args.json or args.plot or args.top is not None):
        raise UserError("--json, --plot and --top apply to video files; --stream writes one JSON line per event on"
                        " stdout")
    stream_only = [] if args.stream else localize_stream.given(args)
    if stream_only:
        raise UserError(f"{', '.join(stream_only)}: only with --stream SOURCE")
    if args.model_name is not None and not args.server:  # given, even as its default: it would go unread
        raise UserError("--model-name names the model in TF Serving: only with --server URL")
    if args.stream and not args.reconnect and args.max_reconnects is not None:
        raise UserError("--max-reconnects counts reconnects, which --no-reconnect turns off: give one of the two")
    args.model_name = args.model_name or DEFAULT_MODEL_NAME
    localize.video_ids(args.videos)  # a video given twice is refused before the model loads
    settings = _settings(args)
    _check_outputs(args)
    if args.stream:
        return localize_stream.run(args, settings, _vocabulary(args, settings))
    model = None if args.server else localize.load_model(args.model)  # a bad model or --labels shows
    vocabulary = _vocabulary(args, settings)  # before the videos are featurized
    classes = localize.model_classes(model) if model is not None else None
    if classes is not None:
        localize.class_names(vocabulary, classes)  # refuses a vocabulary of another size
    results = _localize_each(args, model, _featurize(args, settings), vocabulary)
    if not results:
        raise UserError(f"none of the {len(args.videos)} videos could be localized (each named above)")
    written = []  # before the table: a reader that leaves early (`| head`) stopped the command before them
    if args.json:
        write_results(args.json, [d for r in results for d in r.detections])
        written.append(f"results: {os.path.abspath(args.json)}")
    if args.plot:
        labels = localize.class_names(vocabulary, results[0].probabilities.shape[-1])
        for r in results:  # an id with folders (names that repeat) keeps them: one plot per id
            plot = localize.plot_timeline(r, labels, os.path.join(args.plot, f"{r.video_id}.png"))
            written.append(f"plot: {os.path.abspath(plot)}")
    top = TOP if args.top is None else args.top
    print(localize.format_table(results, top=top or None))
    for line in written:
        print(line)
    skipped = len(args.videos) - len(results)
    if skipped:
        print(f"error: {skipped} of {len(args.videos)} videos skipped (named above); the others are localized",
              file=sys.stderr)
    return 1 if skipped else 0
