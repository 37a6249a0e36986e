"""JSON that every parser reads: NaN and infinities become null.

Why: ``json.dumps`` writes ``NaN``, which is not JSON; a bench script's last line is read by other
checks, and an undefined number (no context frames, a probe that scored nothing) must not break them.
"""
from __future__ import annotations

import json
import math
from typing import Any


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


def dumps(value: Any) -> str:
    return json.dumps(finite(value), allow_nan=False)
