"""The ``laf`` command line. Subcommands live in ``laf.commands.<name>`` and are imported
lazily, so ``laf --help`` is instant and TF/TFX load only for the command that runs."""
from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from typing import List, Optional

from laf.errors import UserError, first_line

# name -> one-line help; the module laf.commands.<name> provides add_arguments() and run().
COMMANDS = {
    "extract": "extract shared CNN features from your own videos, web images or .npy arrays (Beam)",
    "demo": "build the embedded demo data if missing and run the whole pipeline locally",
    "run": "run the pipeline locally on your data (--config), or on the demo data without it",
    "compile": "compile the pipeline for Kubeflow Pipelines v2 / Vertex AI (pipeline spec, JSON or YAML)",
    "demo-data": "write the embedded demo data: untrimmed videos, crawled-style web images, ground truth",
    "evaluate": "temporal-localization mAP of ActivityNet-style results against ground truth",
    "localize": "detected action segments in your videos from a pushed model: table, ActivityNet JSON, plots",
    "report": "a self-contained HTML report of a finished local pipeline run (metrics, rounds, timelines, baselines)",
}


def _command_module(name: str):
    return importlib.import_module(f"laf.commands.{name.replace('-', '_')}")  # demo-data -> demo_data


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="laf", description="Weakly supervised fine-grained action localization (LAF) pipeline.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, help_text in COMMANDS.items():
        sub.add_parser(name, help=help_text, description=help_text, add_help=False)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    from_console = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        parser.parse_args(argv)  # prints help or the usage error and exits
    name, rest = argv[0], argv[1:]
    from laf.quiet import filter_stderr, quiet

    quiet()
    if from_console:  # only as the console script: in-process callers (tests) keep their stderr
        filter_stderr()
        sys.stdout.reconfigure(errors="surrogateescape")  # a file name that is no UTF-8 prints as its own bytes
    module = _command_module(name)
    cmd_parser = argparse.ArgumentParser(prog=f"laf {name}", description=COMMANDS[name])
    module.add_arguments(cmd_parser)
    args = cmd_parser.parse_args(rest)
    try:
        return int(module.run(args) or 0)
    except UserError as e:
        print(f"laf {name}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader of the output left (`laf ... | head`): stop, as `yes | head` does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        return 128 + 13  # as killed by SIGPIPE
    except Exception as e:  # noqa: BLE001 - only file-system errors are the user's; the rest re-raise
        if not _is_file_error(e):
            raise
        print(f"laf {name}: error: {first_line(getattr(e, 'message', None) or str(e), type(e).__name__)}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"laf {name}: interrupted", file=sys.stderr)
        return 130


_TF_FILE_ERROR = re.compile(r"not a directory|is a directory|no such file|permission denied|file exists|"
                            r"read-only file system|no space left", re.IGNORECASE)


def _is_file_error(e: Exception) -> bool:
    """An output or input path the file system refuses (a file where a folder must be, no
    permission, ...): Python's OSError, or a TensorFlow error (once TF is loaded) whose message
    says so; TF's other errors of the same types (an uninitialised variable) keep their traceback."""
    if isinstance(e, OSError):
        return True
    errors = getattr(sys.modules.get("tensorflow"), "errors", None)
    return (errors is not None and isinstance(e, errors.OpError)
            and bool(_TF_FILE_ERROR.search(getattr(e, "message", "") or "")))


if __name__ == "__main__":
    sys.exit(main())
