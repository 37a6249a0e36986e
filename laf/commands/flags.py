"""Argument types shared by the subcommands' flags."""
from __future__ import annotations

import argparse
import math
from typing import Optional

from laf.errors import UserError


def finite(text: str) -> float:
    """A float flag's value; NaN and infinities are refused at parsing, since every range check
    after it (``value <= 0``) lets NaN through and a NaN rate or limit silently corrupts the output."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def path(text: str) -> str:
    """A folder or file flag's value; an empty one (an unset shell variable) is refused at parsing:
    joined to file names it wrote into the current folder, or to ``/`` (``laf.files.join``)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty path")
    return text


def local_path(text: str) -> str:
    """:func:`path` for a flag whose files are written with the local file system (the demo, plots):
    ``gs://b/d`` there made a folder named ``gs:`` under the current one, without a word; ``file://``
    is dropped."""
    from laf.files import is_remote, local

    if is_remote(path(text)):
        raise argparse.ArgumentTypeError(f"must be a local path, got {text!r} (write locally, then copy it there,"
                                         " e.g. with gsutil -m cp -r)")
    return local(text)  # file:///d as /d: joined as it is, it made a folder named file:


def demo_folder(config: Optional[str], folder: Optional[str], flag: str) -> Optional[str]:
    """The demo's folder (``flag``'s value, default :data:`laf.demo.run.DEMO_FOLDER`) when no ``--config`` is given, else
    None. Refused: an empty ``--config`` (an unset shell variable would silently run the demo
    instead) and ``flag`` beside ``--config``, whose pipeline_root and serving_dir say where
    outputs go (the flag would be silently ignored)."""
    if config is not None and not config.strip():
        raise UserError("--config: empty path")
    if config is not None:
        if folder is not None:
            raise UserError(f"{flag} is the demo's folder; with --config the config's pipeline_root and"
                            " serving_dir say where outputs go")
        return None
    from laf.demo.run import DEMO_FOLDER  # here: laf.demo.run loads the config module, which the other flags need not

    folder = DEMO_FOLDER if folder is None else folder
    try:
        return local_path(folder)
    except argparse.ArgumentTypeError as e:
        raise UserError(f"{flag}: {e}") from None
