"""The online detector: action segments from per-frame outputs as they arrive (``laf localize --stream``).

The offline localizer (sliding windows and evidence runs + NMS, ``laf.evaluate.evaluation.localize``) needs the
whole video.
A stream needs a decision as soon as an action ends, so segments come from hysteresis on the
per-frame class evidence ``e_t = p_t(class) x actionness_t`` (``laf.evaluate.evaluation.class_evidence``;
the probabilities alone for a model without actionness), one frame at a time:

- a segment opens at the first frame whose top-class evidence ``max_c e_t`` reaches ``on``;
- it closes at the first later frame whose top-class evidence falls below ``off`` (< ``on``), so
  a dip between the two thresholds does not split an action; its end is that frame's time;
- its label is the class with the largest mean evidence over its frames, its score that mean;
- segments shorter than ``min_length`` seconds are dropped (single-frame flickers).

The detector's output is a function of the per-frame outputs alone (``segments`` runs it over a
finished video), so online and offline can be compared on the same frames.
"""
from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence

import numpy as np

from laf.errors import NOT_FINITE, UserError
from laf.evaluate.evaluation import class_evidence, frame_bounds


@dataclasses.dataclass(frozen=True)
class OnlineConfig:
    """Hysteresis thresholds on the top-class evidence and the shortest segment kept (seconds)."""

    # Defaults: on the plateau of mean mAP (tIoU 0.1-0.5) of the product's model (LAF + actionness,
    # seen gate) on the demo's eval split and on the test splits of three other generated runs x 3
    # seeds (README "The online detector"). Low, because actionness is near 0 on context while a
    # low-contrast action's is 0.2-0.4: a higher ``on`` misses such an action, a higher ``off`` cuts it short.
    on: float = 0.15
    off: float = 0.05
    min_length: float = 1.0

    def __post_init__(self):
        if not 0.0 < self.off < self.on <= 1.0 or self.min_length < 0:  # evidence is >= 0: off 0 never closes
            raise UserError(f"online detector needs 0 < off < on <= 1 and min_length >= 0;"
                            f" got on={self.on}, off={self.off}, min_length={self.min_length}")


@dataclasses.dataclass(frozen=True)
class Event:
    """A segment in stream seconds; ``partial`` while it is still open."""

    label: int
    start: float
    end: float
    score: float
    emitted_at: float
    partial: bool = False


class OnlineDetector:
    """Feed frames in time order (``push``); each call returns the events they complete. Memory is
    one running sum per class, however long the segment or the stream."""

    def __init__(self, config: OnlineConfig = OnlineConfig()):
        self.config = config
        self._start: Optional[float] = None
        self._sum: Optional[np.ndarray] = None
        self._count = 0
        self._last = 0.0

    def push(self, timestamps: Sequence[float], probabilities, actionness=None,
             partial: bool = False) -> List[Event]:
        """Frames ``[T]`` with probabilities ``[T, N]`` (and actionness ``[T]``); closed segments,
        and with ``partial`` the open one as it stands after these frames."""
        evidence = class_evidence(np.asarray(probabilities), None if actionness is None else np.asarray(actionness))
        if not np.isfinite(evidence).all():  # a NaN frame would neither open nor close a segment
            raise UserError(NOT_FINITE)
        events = []
        for t, e in zip(np.asarray(timestamps, np.float64), evidence):
            top = float(e.max())
            if self._start is not None and top < self.config.off:
                events += self._close(float(t))
            elif self._start is None and top >= self.config.on:
                self._start, self._sum, self._count = float(t), np.zeros_like(e, np.float64), 0
            if self._start is not None:
                self._sum += e
                self._count += 1
            self._last = float(t)
        if partial and self._start is not None:
            events.append(self._event(self._last, partial=True))
        return events

    def finish(self, end: float) -> List[Event]:
        """The segment still open when the stream ends, closed at ``end`` (seconds)."""
        return self._close(end) if self._start is not None else []

    def _event(self, end: float, partial: bool = False) -> Event:
        """The segment up to ``end``, the stream time of the frame that decides it (so emitted then)."""
        mean = self._sum / max(self._count, 1)
        label = int(mean.argmax())
        return Event(label, self._start, end, float(mean[label]), end, partial)

    def _close(self, end: float) -> List[Event]:
        event = self._event(end)
        self._start, self._sum, self._count = None, None, 0
        return [event] if event.end - event.start >= self.config.min_length - 1e-9 else []


def segments(timestamps, probabilities, actionness=None, end: Optional[float] = None,
             config: OnlineConfig = OnlineConfig()) -> List[Event]:
    """The detector over a whole video's frames: what the stream would have emitted."""
    detector = OnlineDetector(config)
    events = detector.push(timestamps, probabilities, actionness)
    if end is None:  # the last frame lasts the mean sampling interval, as offline
        end = float(frame_bounds(timestamps)[1][-1]) if len(timestamps) else 0.0
    return events + detector.finish(end)
