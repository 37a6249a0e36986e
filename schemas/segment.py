"""A ground-truth or detected temporal segment (kept free of TensorFlow for light readers)."""
import dataclasses

AMBIGUOUS = "Ambiguous"  # label of a THUMOS14 Ambiguous segment: detections on it are neither right nor wrong


@dataclasses.dataclass(frozen=True)
class Segment:
    """A temporal segment [start, end) in seconds with its action label."""

    start: float
    end: float
    label: str


@dataclasses.dataclass(frozen=True)
class Detection:
    """One localized action instance, as in ActivityNet result files."""

    video_id: str
    start: float
    end: float
    label: str
    score: float
