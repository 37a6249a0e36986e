"""``laf report``: one self-contained HTML report of a finished local pipeline run."""
from __future__ import annotations

import argparse
import os
import sys

from laf.commands import flags


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pipeline-root", required=True, type=flags.path, metavar="DIR",
                        help="pipeline root of a finished run of `laf run`/`laf demo` on this machine (its metadata.sqlite is"
                             " there, or for a gs:// root under $LAF_METADATA_HOME, default ~/.laf/metadata)")
    parser.add_argument("--baselines", metavar="FILE", type=flags.path,
                        help="bench/paper_tables.py JSON whose methods are shown next to this run, with their "
                             "per-frame profiles when it has them")
    parser.add_argument("--output", type=flags.path, default="report.html", help="HTML file to write (default: %(default)s)")
    parser.add_argument("--videos", type=int, default=4, help="test videos shown as timelines")
    parser.add_argument("--images", type=int, default=6, help="kept and dropped images shown per class")


def run(args: argparse.Namespace) -> int:
    from laf import files
    from laf.errors import UserError
    from laf.report import collect

    if args.videos < 0 or args.images < 0:
        raise UserError("--videos and --images must be >= 0")
    if files.is_remote(args.output):  # was made absolute: a local folder named `gs:` got the page
        raise UserError(f"--output {args.output}: the report is a local HTML file; write it here and copy it"
                        " (e.g. gsutil cp)")
    args.output = files.local(args.output)  # file:///tmp/r.html is /tmp/r.html
    if os.path.isdir(args.output) or files.folder_blocker(os.path.dirname(os.path.abspath(args.output))):  # first
        raise UserError(f"--output {args.output}: need an HTML file in a folder that can be written")
    data = collect.collect(args.pipeline_root, args.baselines, max_videos=args.videos)
    print(f"report: {os.path.abspath(write(data, args.output, args.images))}")
    return 0


def write(data, path: str, images_per_class: int = 6) -> str:
    """The report page of ``data`` at ``path`` (returned), its notes on stderr as every command's
    notes (stdout keeps what a script reads)."""
    from laf.report import page

    notes: list = []
    path = page.render(data, path, images_per_class=images_per_class, shown=notes)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return path
