"""``laf localize --stream SOURCE``: the flags and the run of online localization (``laf.serve.live``).

Kept apart from the file mode in ``laf.commands.localize``, which owns the shared flags (model,
backbone, fps, labels) and calls :func:`run` when ``--stream`` is given.
"""
from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from typing import Iterator, List

from laf.commands.flags import finite
from laf.serve.online import OnlineConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("live streams (--stream)")
    group.add_argument("--stream", metavar="SOURCE",
                       help="localize online in a live source instead of files: an rtsp/rtmp/srt/udp/tcp/http(s)"
                            " URL, a growing file, or - for MPEG-TS on stdin; one JSON line per event on stdout")
    group.add_argument("--partial", action="store_true", help="also emit the open segment as it grows")
    group.add_argument("--no-reconnect", dest="reconnect", action="store_false",
                       help="end with an error when a network source stalls or breaks (default: reconnect with backoff);"
                            " a file or stdin ends when it stalls")
    group.add_argument("--max-reconnects", type=int, metavar="N",
                       help="consecutive failed reconnects before giving up (0: never; default 0)")
    group.add_argument("--read-timeout", type=finite, default=10.0, metavar="S",
                       help="seconds without data before the source counts as stalled (default %(default)s)")
    group.add_argument("--progress-every", type=finite, default=60.0, metavar="S",
                       help="a progress line on stderr per this many stream seconds (default %(default)s)")
    group.add_argument("--on", type=finite, default=OnlineConfig.on,
                       help="open a segment when the top-class evidence reaches this (default %(default)s)")
    group.add_argument("--off", type=finite, default=OnlineConfig.off,
                       help="close it when the evidence falls below this (default %(default)s)")
    group.add_argument("--min-length", type=finite, default=OnlineConfig.min_length, metavar="S",
                       help="drop segments shorter than this many seconds (default %(default)s)")


def given(args: argparse.Namespace) -> List[str]:
    """The stream-only flags set to other than their defaults: file mode refuses them rather than
    ignore them."""
    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    flags = {a.dest: a.option_strings[0] for a in parser._actions if a.option_strings}
    return [flags[k] for k, v in vars(parser.parse_args([])).items() if k != "stream" and getattr(args, k) != v]


NO_ACTIONNESS = ("stream: warning: the model has no actionness head (the paper's scheme), so the online detector"
                 " sees the class probabilities alone, which a recurrent model keeps high after an action, and"
                 " its segments run on far past it (README \"The online detector\"). Localize whole videos with"
                 " `laf localize` instead.")


def run(args: argparse.Namespace, settings, vocabulary) -> int:
    """Load the model (or, with ``--server``, reach it), warm the backbone and the step up, then follow
    the source until it ends."""
    import numpy as np

    from laf.errors import UserError
    from laf.ingest.backbones import build_errors, feature_fn
    from laf.serve import live
    from laf.serve.localize import class_names
    from laf.serve.stream import LiveSource, SourceOptions

    config = OnlineConfig(args.on, args.off, args.min_length)
    max_reconnects = args.max_reconnects or 0  # not given: never give up
    if args.read_timeout <= 0 or max_reconnects < 0 or args.progress_every <= 0:
        raise UserError("--read-timeout and --progress-every must be > 0 and --max-reconnects >= 0")
    source = LiveSource(args.stream, SourceOptions(open_timeout=args.read_timeout, read_timeout=args.read_timeout,
                                                   reconnect=args.reconnect, max_attempts=max_reconnects))
    if args.server and not args.model:
        raise UserError("--stream --server needs --model DIR too: the served model's SavedModel, for its state"
                        " sizes and its backbone and labels")
    stepper = (live.RestStepper(args.server, args.model_name, args.model) if args.server
               else live.LocalStepper(args.model))
    if args.server and stepper.pin_error:
        print(f"stream: warning: cannot pin the served model's version ({stepper.pin_error}): a version pushed while"
              " the stream runs would answer its steps unsaid", file=sys.stderr, flush=True)
    elif args.server:
        _say_served_version(stepper.model_name, args.server, args.model)
    size = settings.backbone.size
    with build_errors(settings.backbone):  # a layer it lacks, an unreadable weights file: one line
        features = feature_fn(settings.backbone)
    probabilities, actionness = stepper.step(features(np.zeros([1, size, size, 3], np.uint8)))  # traced before
    stepper.reset()
    if actionness is None:
        print(NO_ACTIONNESS, file=sys.stderr, flush=True)
    labels = class_names(vocabulary, probabilities.shape[-1])
    print(f"stream: following {args.stream} at {settings.fps:g} fps", file=sys.stderr, flush=True)
    try:
        with _stop_signals():
            closed = live.run(source, settings.fps, features, stepper, size, labels, config, args.partial,
                              args.batch_size, progress_every=args.progress_every)
    except Stopped as e:  # the segment open at the stop was printed, closed at the last frame
        print(f"stream: stopped by {signal.Signals(e.signum).name}", file=sys.stderr, flush=True)
        return 128 + e.signum
    print(f"stream: ended after {closed} events", file=sys.stderr, flush=True)
    return 0


def _say_served_version(model_name: str, server: str, model_dir: str) -> None:
    """Which version of the served model the stream keeps; a warning where ``--model`` (its labels,
    backbone and state sizes) is a pushed folder of another version."""
    import os

    print(f"stream: localizing with {model_name} at {server} for the whole stream", file=sys.stderr, flush=True)
    local, served = os.path.basename(os.path.normpath(model_dir)), model_name.rpartition("/versions/")[2]
    if local.isdigit() and served.isdigit() and int(local) != int(served):  # laf/versions/x: the server refuses it
        print(f"stream: warning: the server's version is {served}, --model's folder is version {local}: the labels,"
              " backbone and state sizes come from --model", file=sys.stderr, flush=True)


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP (a service manager, a closed terminal): handled as Ctrl-C is, so the segment
    still open is printed before the command ends (it died at once, losing it)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _stop_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Stopped` inside the block, except one set to be ignored (``nohup``
    ignores SIGHUP, so the stream outlives the terminal); Python takes signals in the main thread only,
    so a command run from another thread keeps their handlers as they are."""
    import threading

    def stop(signum, _frame):
        raise Stopped(signum)

    main = threading.current_thread() is threading.main_thread()
    before = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)
              if main and signal.getsignal(sig) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for sig, handler in before.items():
            if handler is not None:  # None: a handler set from C, which Python cannot put back
                signal.signal(sig, handler)
