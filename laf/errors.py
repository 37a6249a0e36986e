"""User-facing errors: printed by the CLI as one clear line, never as a traceback."""


class UserError(Exception):
    """A mistake the user can fix (missing file, bad config, bad manifest row, ...)."""


NOT_FINITE = "the model's outputs are not finite (NaN or Inf: non-finite features, or diverged weights)"
