"""Label checks across videos and images, before any work starts."""
import pytest

from laf.errors import UserError
from laf.ingest.preflight import check_labels

RATIOS = {"train": 0.6, "eval": 0.2, "test": 0.2}


def _inputs(tmp_path, video_labels, image_labels):
    manifest = tmp_path / "videos.csv"
    splits = ("train", "eval", "test")
    manifest.write_text("video,label,split\n" + "".join(f"v{i}.mp4,{l},{splits[i % 3]}\n"
                                                         for i, l in enumerate(video_labels)))
    for label in image_labels:
        folder = tmp_path / "images" / label.replace(":", "__")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "a.jpg").write_bytes(b"\xff\xd8")
    (tmp_path / "images").mkdir(exist_ok=True)
    return str(manifest), str(tmp_path / "images")


def test_matching_labels_give_the_vocabulary(tmp_path):
    videos, images = _inputs(tmp_path, ["A:x", "A:y", "B:z"], ["A:x", "A:y", "B:z"])
    assert check_labels(videos, images, RATIOS).labels == ["A:x", "A:y", "B:z"]


def test_label_missing_on_either_side_fails_naming_it(tmp_path):
    videos, images = _inputs(tmp_path, ["A:x", "A:y"], ["A:x", "C:w"])
    with pytest.raises(UserError) as err:
        check_labels(videos, images, RATIOS)
    assert "videos but no web images" in str(err.value) and "A:y" in str(err.value)
    assert "web images but no videos" in str(err.value) and "C:w" in str(err.value)


def test_a_split_without_videos_fails_before_any_work(tmp_path):
    videos, images = _inputs(tmp_path, ["A:x"], ["A:x"])  # a train row only
    with pytest.raises(UserError, match=r"falls in the eval split\(s\).*trains on train and validates on eval"):
        check_labels(videos, images, RATIOS)
    videos, images = _inputs(tmp_path, ["A:x", "A:y"], ["A:x", "A:y"])  # no test rows: allowed
    assert check_labels(videos, images, RATIOS).labels == ["A:x", "A:y"]


def test_label_without_activity_fails_naming_file_and_line(tmp_path):
    videos, images = _inputs(tmp_path, ["A:x", "Serve"], ["A:x", "Serve"])
    with pytest.raises(UserError, match=r"videos.csv:3: label 'Serve' must be written 'Activity:Action'"):
        check_labels(videos, images, RATIOS)
