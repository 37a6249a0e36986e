"""Argument types shared by the subcommands' flags."""
from __future__ import annotations

import argparse
import math


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
