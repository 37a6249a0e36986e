"""A ground-truth or detected temporal segment (kept free of TensorFlow for light readers)."""
import dataclasses


@dataclasses.dataclass(frozen=True)
class Segment:
    """A temporal segment [start, end) in seconds with its action label."""

    start: float
    end: float
    label: str
