"""JSON that every parser reads: NaN and infinities become null; a bench script's last line is one
JSON object even when it fails.

Why: ``json.dumps`` writes ``NaN``, which is not JSON; a bench script's last line is read by other
checks, and an undefined number (no context frames, a probe that scored nothing) must not break them,
nor must a run that stopped on bad input (the checks then read ``{"bench": ..., "error": ...}``).
"""
from __future__ import annotations

import json
import math
import sys
import traceback
from typing import Any, Callable, Optional

from laf.errors import UserError


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (NumPy scalars included) replaced by None."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return finite(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(value: Any, **options: Any) -> str:
    return json.dumps(finite(value), allow_nan=False, **options)


def failed(bench: str, reason: str) -> None:
    """The last stdout line of a bench script that stopped: one JSON object naming why."""
    print(dumps({"bench": bench, "error": reason}), flush=True)


def bench_main(bench: str, body: Callable[[], Optional[int]]) -> int:
    """Runs a bench script's ``body`` and returns its exit status, so that its last stdout line is one
    JSON object on failure too: a user mistake (:class:`UserError`) is one stderr line and status 2; an
    exit with a message or a non-zero status (argparse's usage errors) and Ctrl-C are re-raised after
    the line; an unexpected exception keeps its traceback (stderr) and gives status 1."""
    try:
        return int(body() or 0)
    except UserError as e:
        print(f"{bench}: error: {e}", file=sys.stderr, flush=True)
        failed(bench, str(e))
        return 2
    except SystemExit as e:
        if e.code not in (None, 0):
            failed(bench, e.code if isinstance(e.code, str) else f"exit status {e.code} (see stderr)")
        raise
    except KeyboardInterrupt:
        failed(bench, "interrupted")
        raise
    except Exception as e:  # noqa: BLE001 - reported as the last line, traceback kept on stderr
        traceback.print_exc()
        failed(bench, f"{type(e).__name__}: {e}")
        return 1
