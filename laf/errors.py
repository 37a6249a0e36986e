"""User-facing errors: printed by the CLI as one clear line, never as a traceback."""
import re


class UserError(Exception):
    """A mistake the user can fix (missing file, bad config, bad manifest row, ...)."""


def first_line(message: str, fallback: str = "") -> str:
    """The first line of an error message, without TensorFlow's ``{{function_node ...}}`` prefix."""
    lines = re.sub(r"\{\{.*?\}\}\s*", "", message or "").strip().splitlines()
    return lines[0] if lines else fallback


NOT_FINITE = "the model's outputs are not finite (NaN or Inf: non-finite features, or diverged weights)"
