"""Python-side records and their (de)serialization to tf.train protos.

Kept free of TF graph code so Beam workers and tests can build/parse records cheaply;
the tf.data parsing specs live in ``schemas.parsing``.
"""
from __future__ import annotations

import dataclasses
from typing import List, Optional

import numpy as np
from tensorflow.core.example import example_pb2, feature_pb2

from schemas import names
from schemas.segment import AMBIGUOUS, Segment
from schemas.vocabulary import split_label


# A file name that is not UTF-8 (an old crawl's Latin-1 ``café.jpg``) is listed by the OS with
# surrogate escapes; it is stored as the name's own bytes and read back as it was listed.
_NAMES = ("utf-8", "surrogateescape")


def _bytes(values) -> feature_pb2.Feature:
    return feature_pb2.Feature(
        bytes_list=feature_pb2.BytesList(value=[v.encode(*_NAMES) for v in values]))


def _floats(values) -> feature_pb2.Feature:
    return feature_pb2.Feature(float_list=feature_pb2.FloatList(value=np.asarray(values, np.float32).ravel()))


def _ints(values) -> feature_pb2.Feature:
    return feature_pb2.Feature(int64_list=feature_pb2.Int64List(value=[int(v) for v in values]))


def _get_bytes(feature: feature_pb2.Feature) -> List[str]:
    return [v.decode(*_NAMES) for v in feature.bytes_list.value]


@dataclasses.dataclass
class VideoRecord:
    """One untrimmed video: video-level label, per-time-step features and timestamps."""

    video_id: str
    label: str
    label_index: int
    features: np.ndarray            # [T, D] float32
    timestamps: np.ndarray          # [T] float32, seconds
    fps: float
    duration: float
    source: str = ""
    split: str = "train"
    segments: List[Segment] = dataclasses.field(default_factory=list)
    laf_scores: Optional[np.ndarray] = None  # [T], set by domain transfer
    segment_label_indices: Optional[List[int]] = None
    activity: str = ""  # the label's activity: a taxonomy's, else the part before ':' (filled in)
    ambiguous: List[Segment] = dataclasses.field(default_factory=list)  # THUMOS14 Ambiguous segments

    def __post_init__(self) -> None:
        if not self.activity:
            self.activity = split_label(self.label)

    @property
    def num_frames(self) -> int:
        return int(self.features.shape[0])

    def _segment_indices(self) -> List[int]:
        """Each segment's label index. Without ``segment_label_indices`` every segment must be of the
        video's own label. Why: its index was written for every segment whatever its label, so readers
        by index (TFMA, oracle weights, diagnostics) and by name (the report) disagreed on its class."""
        if self.segment_label_indices is not None:
            if len(self.segment_label_indices) != len(self.segments):
                raise ValueError(f"{self.video_id}: {len(self.segments)} segments but"
                                 f" {len(self.segment_label_indices)} segment label indices")
            return list(self.segment_label_indices)
        other = [s.label for s in self.segments if s.label != self.label]
        if other:
            raise ValueError(f"{self.video_id}: a segment of {other[0]!r} in a video of {self.label!r} needs"
                             " segment_label_indices (its index in the vocabulary)")
        return [self.label_index] * len(self.segments)

    def to_proto(self) -> example_pb2.SequenceExample:
        per_step = {"timestamps": self.timestamps, **({"laf_scores": self.laf_scores} if self.laf_scores is not None
                                                      else {})}
        for name, values in per_step.items():  # no schema can say "as long as the frames"; readers assume it
            if len(values) != self.num_frames:
                raise ValueError(f"{self.video_id}: {len(values)} {name} for {self.num_frames} frames")
        seq = example_pb2.SequenceExample()
        ctx = seq.context.feature
        ctx[names.VIDEO_ID].CopyFrom(_bytes([self.video_id]))
        ctx[names.LABEL].CopyFrom(_bytes([self.label]))
        ctx[names.LABEL_INDEX].CopyFrom(_ints([self.label_index]))
        ctx[names.ACTIVITY].CopyFrom(_bytes([self.activity]))
        ctx[names.DURATION].CopyFrom(_floats([self.duration]))
        ctx[names.FPS].CopyFrom(_floats([self.fps]))
        ctx[names.NUM_FRAMES].CopyFrom(_ints([self.num_frames]))
        ctx[names.SOURCE].CopyFrom(_bytes([self.source]))
        ctx[names.SPLIT].CopyFrom(_bytes([self.split]))
        ctx[names.GT_START].CopyFrom(_floats([s.start for s in self.segments]))
        ctx[names.GT_END].CopyFrom(_floats([s.end for s in self.segments]))
        ctx[names.GT_LABEL].CopyFrom(_bytes([s.label for s in self.segments]))
        ctx[names.GT_LABEL_INDEX].CopyFrom(_ints(self._segment_indices()))
        ctx[names.AMBIGUOUS_START].CopyFrom(_floats([s.start for s in self.ambiguous]))
        ctx[names.AMBIGUOUS_END].CopyFrom(_floats([s.end for s in self.ambiguous]))
        lists = seq.feature_lists.feature_list
        feats = lists[names.FRAME_FEATURES].feature
        for row in np.asarray(self.features, np.float32):
            feats.add().CopyFrom(_floats(row))
        stamps = lists[names.TIMESTAMP].feature
        for t in np.asarray(self.timestamps, np.float32):
            stamps.add().CopyFrom(_floats([t]))
        if self.laf_scores is not None:
            laf = lists[names.LAF_SCORE].feature
            for s in np.asarray(self.laf_scores, np.float32):
                laf.add().CopyFrom(_floats([s]))
        return seq

    def serialize(self) -> bytes:
        return self.to_proto().SerializeToString(deterministic=True)  # map order fixed: same bytes

    @classmethod
    def from_proto(cls, seq: example_pb2.SequenceExample) -> "VideoRecord":
        ctx = seq.context.feature
        lists = seq.feature_lists.feature_list
        rows = [list(f.float_list.value) for f in lists[names.FRAME_FEATURES].feature]
        features = np.asarray(rows, np.float32) if rows else np.zeros((0, 0), np.float32)
        stamps = np.asarray([f.float_list.value[0] for f in lists[names.TIMESTAMP].feature], np.float32)
        laf = None
        if names.LAF_SCORE in lists:
            laf = np.asarray([f.float_list.value[0] for f in lists[names.LAF_SCORE].feature], np.float32)
        seg_labels = _get_bytes(ctx[names.GT_LABEL])
        segments = [Segment(float(s), float(e), l) for s, e, l in zip(
            ctx[names.GT_START].float_list.value, ctx[names.GT_END].float_list.value, seg_labels)]
        ambiguous = [Segment(float(s), float(e), AMBIGUOUS) for s, e in zip(
            ctx[names.AMBIGUOUS_START].float_list.value, ctx[names.AMBIGUOUS_END].float_list.value)]
        return cls(
            video_id=_get_bytes(ctx[names.VIDEO_ID])[0],
            label=_get_bytes(ctx[names.LABEL])[0],
            label_index=int(ctx[names.LABEL_INDEX].int64_list.value[0]),
            features=features,
            timestamps=stamps,
            fps=float(ctx[names.FPS].float_list.value[0]),
            duration=float(ctx[names.DURATION].float_list.value[0]),
            source=_get_bytes(ctx[names.SOURCE])[0] if ctx[names.SOURCE].bytes_list.value else "",
            split=_get_bytes(ctx[names.SPLIT])[0] if ctx[names.SPLIT].bytes_list.value else "",
            segments=segments,
            laf_scores=laf,
            segment_label_indices=list(ctx[names.GT_LABEL_INDEX].int64_list.value),
            activity=_get_bytes(ctx[names.ACTIVITY])[0] if ctx[names.ACTIVITY].bytes_list.value else "",
            ambiguous=ambiguous,
        )

    @classmethod
    def parse(cls, serialized: bytes) -> "VideoRecord":
        seq = example_pb2.SequenceExample()
        seq.ParseFromString(serialized)
        return cls.from_proto(seq)


@dataclasses.dataclass
class ImageRecord:
    """One accepted web image: noisy label (a_I) and its shared CNN features."""

    image_id: str
    label: str
    label_index: int
    features: np.ndarray  # [D] float32
    source: str
    sha256: str

    def to_proto(self) -> example_pb2.Example:
        ex = example_pb2.Example()
        f = ex.features.feature
        f[names.IMAGE_ID].CopyFrom(_bytes([self.image_id]))
        f[names.LABEL].CopyFrom(_bytes([self.label]))
        f[names.LABEL_INDEX].CopyFrom(_ints([self.label_index]))
        f[names.IMAGE_FEATURES].CopyFrom(_floats(self.features))
        f[names.SOURCE].CopyFrom(_bytes([self.source]))
        f[names.SHA256].CopyFrom(_bytes([self.sha256]))
        return ex

    def serialize(self) -> bytes:
        return self.to_proto().SerializeToString(deterministic=True)  # map order fixed: same bytes

    @classmethod
    def parse(cls, serialized: bytes) -> "ImageRecord":
        ex = example_pb2.Example()
        ex.ParseFromString(serialized)
        f = ex.features.feature
        return cls(
            image_id=_get_bytes(f[names.IMAGE_ID])[0],
            label=_get_bytes(f[names.LABEL])[0],
            label_index=int(f[names.LABEL_INDEX].int64_list.value[0]),
            features=np.asarray(f[names.IMAGE_FEATURES].float_list.value, np.float32),
            source=_get_bytes(f[names.SOURCE])[0],
            sha256=_get_bytes(f[names.SHA256])[0],
        )
