"""laf.transfer.feature_stream: TFRecords and arrays stream the same rows; records a writer other than
ingestion left malformed, truncated or non-finite are a clear error."""
from __future__ import annotations

from typing import Optional

import numpy as np
import pytest

from laf import tfrecords
from laf.errors import UserError
from laf.transfer import domain_transfer as dt, outputs
from laf.transfer.feature_stream import FeatureStream, check_finite, reading_errors
from laf.transfer.heads import own_label_scores
from schemas import names
from schemas.records import ImageRecord, VideoRecord
from transfer_world import D, N, TINY


def _video(name: str, label: int, rows: int, dim: int, stamps: Optional[int] = None) -> bytes:
    """A record; with ``stamps``, of that many timestamps, as a writer other than the codec (which
    refuses it) may leave it."""
    proto = VideoRecord(name, f"A:{label}", label, np.zeros((rows, dim), np.float32),
                        np.arange(rows, dtype=np.float32), 1.0, 3.0).to_proto()
    if stamps is not None:
        del proto.feature_lists.feature_list[names.TIMESTAMP].feature[stamps:]
    return proto.SerializeToString(deterministic=True)  # as the codec writes: the same bytes in any process


def test_tfrecords_stream_like_arrays_and_scored_copy(transfer_world, transfer_run, tmp_path):
    """Files and arrays share one code path: same rows, same scores; laf_score is added per frame."""
    train = transfer_world["train"]
    videos = [VideoRecord(f"v{g}", f"A:{train.labels[train.groups == g][0]}", int(train.labels[train.groups == g][0]),
                          train.features[train.groups == g], np.arange((train.groups == g).sum(), dtype=np.float32),
                          1.0, 20.0) for g in np.unique(train.groups)]
    tfrecords.write(str(tmp_path / "videos" / "a.gz"), (v.serialize() for v in videos[:50]))
    tfrecords.write(str(tmp_path / "videos" / "b.gz"), (v.serialize() for v in videos[50:]))
    images = [ImageRecord(f"i{i}", "x", int(lab), transfer_world["images"][i], "web", f"{i:064x}")
              for i, lab in enumerate(transfer_world["image_labels"])]
    tfrecords.write(str(tmp_path / "images" / "a.gz"), (r.serialize() for r in images))

    frames = FeatureStream.from_video_files(str(tmp_path / "videos"), N)
    np.testing.assert_array_equal(frames.labels, train.labels)
    np.testing.assert_array_equal(frames.lengths, np.bincount(train.groups))
    np.testing.assert_allclose(own_label_scores(transfer_run.model, frames), transfer_run.laf, rtol=1e-5)
    image_stream = FeatureStream.from_image_files(str(tmp_path / "images"), N)
    assert image_stream.dim == D
    np.testing.assert_array_equal(image_stream.labels, transfer_world["image_labels"])
    with pytest.raises(UserError, match="outside the vocabulary"):
        FeatureStream.from_image_files(str(tmp_path / "images"), 2)

    n = outputs.write_scored_videos(str(tmp_path / "videos"), str(tmp_path / "out" / "scored.gz"), transfer_run.laf)
    assert n == len(videos)
    scored = [VideoRecord.parse(r) for r in tfrecords.read(str(tmp_path / "out"))]
    np.testing.assert_allclose(np.concatenate([v.laf_scores for v in scored]), transfer_run.laf, rtol=1e-6)
    np.testing.assert_array_equal(scored[7].features, videos[7].features)
    with pytest.raises(UserError, match="frames"):
        outputs.write_scored_videos(str(tmp_path / "videos"), str(tmp_path / "bad" / "x.gz"), transfer_run.laf[:-1])


def test_malformed_records_are_a_clear_error(tmp_path):
    tfrecords.write(str(tmp_path / "v.gz"), [_video("a", 0, 3, 8), _video("b", 1, 3, 5)])  # wrong feature size
    frames = FeatureStream.from_video_files(str(tmp_path / "v.gz"), 2)
    images = FeatureStream.from_arrays(np.zeros((4, 8), np.float32), [0, 1, 0, 1])
    with pytest.raises(UserError, match=r"^malformed feature records: (?!\{\{)"):
        dt.run(frames, images, frames, 2, TINY)


def test_frames_and_timestamps_of_different_lengths_are_a_clear_error(tmp_path):
    tfrecords.write(str(tmp_path / "v.gz"), [_video("a", 0, 3, 8), _video("b", 1, 5, 8, stamps=3)])
    frames = FeatureStream.from_video_files(str(tmp_path / "v.gz"), 2)
    images = FeatureStream.from_arrays(np.zeros((4, 8), np.float32), [0, 1, 0, 1])
    with pytest.raises(UserError, match="frame_features and timestamp lists differ in length"):
        dt.run(frames, images, frames, 2, TINY)


def test_a_split_without_videos_is_an_empty_stream(tmp_path, transfer_run):
    """An empty test split (split ratios without test) still gets its scored copy."""
    tfrecords.write(str(tmp_path / "test" / "data.gz"), [])
    empty = FeatureStream.from_video_files(str(tmp_path / "test"), N)
    assert (len(empty), empty.dim) == (0, 0)
    assert own_label_scores(transfer_run.model, empty).shape == (0,)
    assert outputs.write_scored_videos(str(tmp_path / "test"), str(tmp_path / "out" / "data.gz"), np.zeros(0)) == 0


def test_a_truncated_shard_is_a_clear_error(tmp_path):
    tfrecords.write(str(tmp_path / "v.gz"), [_video(f"v{i}", i % 2, 50, 64) for i in range(20)])
    data = (tmp_path / "v.gz").read_bytes()
    (tmp_path / "v.gz").write_bytes(data[:len(data) // 2])
    with pytest.raises(UserError, match="malformed feature records"), reading_errors():
        FeatureStream.from_video_files(str(tmp_path / "v.gz"), 2)


def test_check_finite_passes_an_empty_split_and_refuses_a_nan_one():
    """The executor checks the test split before any training with it (an empty split is a valid one)."""
    empty = FeatureStream.from_arrays(np.zeros((0, 3), np.float32), [])
    assert [a.tolist() for a in check_finite(empty, "test frames")] == [[0.0] * 3, [1.0] * 3]
    x = np.ones((4, 3), np.float32)
    x[2, 2] = np.inf
    with pytest.raises(UserError, match="the test frames' features hold NaN or infinite values"):
        check_finite(FeatureStream.from_arrays(x, np.zeros(4, np.int32)), "test frames")
