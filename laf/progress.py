"""Progress lines of long local work (``laf extract``): one line per video, one per image batch.

The logger does not propagate, so libraries, pipelines and tests stay silent unless a command
asks for the lines on the console (``to_console``).
"""
from __future__ import annotations

import contextlib
import logging
import sys
from typing import Iterator

LOG = logging.getLogger("laf.progress")
LOG.propagate = False


@contextlib.contextmanager
def to_console() -> Iterator[None]:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    previous = LOG.level
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)
    try:
        yield
    finally:
        LOG.removeHandler(handler)
        LOG.setLevel(previous)


def count(done: int, total: int) -> str:
    """``[done/total]``, or ``[done]`` when the total is unknown (0)."""
    return f"[{done}/{total}]" if total else f"[{done}]"
