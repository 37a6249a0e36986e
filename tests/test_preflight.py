"""Label checks across videos and images, before any work starts."""
import pytest

from laf.errors import UserError
from laf.ingest.manifest import read_manifest, read_videos
from laf.ingest.preflight import check_labels

RATIOS = {"train": 0.6, "eval": 0.2, "test": 0.2}


def _inputs(tmp_path, video_labels, image_labels, splits=None):
    """Video ``v{i}.mp4`` of ``video_labels[i]`` in ``splits[i]`` (default: train, eval, test in turn)."""
    manifest = tmp_path / "videos.csv"
    splits = splits or [("train", "eval", "test")[i % 3] for i in range(len(video_labels))]
    manifest.write_text("video,label,split\n" + "".join(f"v{i}.mp4,{l},{split}\n"
                                                         for i, (l, split) in enumerate(zip(video_labels, splits))))
    for i in range(len(video_labels)):
        (tmp_path / f"v{i}.mp4").write_bytes(b"")
    for label in image_labels:
        folder = tmp_path / "images" / label.replace(":", "__")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "a.jpg").write_bytes(b"\xff\xd8")
    (tmp_path / "images").mkdir(exist_ok=True)
    return str(manifest), str(tmp_path / "images")


def _check(videos, images):
    return check_labels(read_manifest(videos, RATIOS), videos, images, RATIOS)


def _each_split(labels):
    """Each label three times: a train, an eval and a test video."""
    return [label for label in labels for _ in range(3)]


def test_matching_labels_give_the_vocabulary(tmp_path):
    videos, images = _inputs(tmp_path, _each_split(["A:x", "A:y", "B:z"]), ["A:x", "A:y", "B:z"])
    assert _check(videos, images).labels == ["A:x", "A:y", "B:z"]


def test_label_missing_on_either_side_fails_naming_it(tmp_path):
    videos, images = _inputs(tmp_path, ["A:x", "A:y"], ["A:x", "C:w"])
    with pytest.raises(UserError) as err:
        _check(videos, images)
    assert "videos but no web images" in str(err.value) and "A:y" in str(err.value)
    assert "web images but no videos" in str(err.value) and "C:w" in str(err.value)


def test_a_split_without_videos_fails_before_any_work(tmp_path):
    videos, images = _inputs(tmp_path, ["A:x"], ["A:x"])  # a train row only
    with pytest.raises(UserError, match=r"falls in the eval split\(s\).*trains on train and validates on eval"):
        _check(videos, images)



def test_a_label_only_segments_name_needs_no_training_video_of_its_own(tmp_path):
    """A video is labelled by the class covering most of it; a minority class is a segment's label only."""
    videos, images = _inputs(tmp_path, _each_split(["A:x"]), ["A:x", "A:y"])
    rows = open(videos).read().splitlines()
    segments = ["segments", "", '"[[1, 5], [6, 7, ""A:y""]]"', ""]  # the eval video also shows A:y, briefly
    open(videos, "w").write("".join(f"{row},{cell}\n" for row, cell in zip(rows, segments)))
    assert _check(videos, images).labels == ["A:x", "A:y"]


def test_a_label_without_a_training_video_fails_and_no_test_video_is_a_warning(tmp_path, caplog):
    videos, images = _inputs(tmp_path, ["A:x", "A:y", "A:y"], ["A:x", "A:y"], ["train", "eval", "test"])
    with pytest.raises(UserError, match=r"label\(s\) without a video in the train split .*: A:y; nothing could"):
        _check(videos, images)
    videos, images = _inputs(tmp_path, ["A:x", "A:y", "A:x"], ["A:x", "A:y"], ["train", "train", "eval"])
    with caplog.at_level("WARNING"):
        assert _check(videos, images).labels == ["A:x", "A:y"]  # no test rows: allowed, and said
    assert "falls in the test split" in caplog.text and "no model is blessed or pushed" in caplog.text


def test_label_without_activity_fails_naming_file_and_line(tmp_path):
    videos, images = _inputs(tmp_path, ["A:x", "Serve"], ["A:x", "Serve"])
    with pytest.raises(UserError, match=r"videos.csv:3: label 'Serve' must be written 'Activity:Action'"):
        _check(videos, images)


def test_annotation_files_are_checked_like_a_manifest(tmp_path):
    _, images = _inputs(tmp_path, [], ["A:x", "A:y"])
    thumos, clips = tmp_path / "thumos", tmp_path / "clips"
    thumos.mkdir()
    clips.mkdir()
    for i in range(7):
        (clips / f"v{i}.mp4").write_bytes(b"")
    (thumos / "A:x_val.txt").write_text("".join(f"v{i} 1.0 2.5\n" for i in range(3)))
    (thumos / "A:y_val.txt").write_text("".join(f"v{i} 4.0 6.0\n" for i in range(3, 7)))  # v6 hashes to train
    (thumos / "Ambiguous_val.txt").write_text("v0 7.0 8.0\n")
    ratios = {"train": 0.5, "eval": 0.5, "test": 0.0}
    videos = read_videos(annotations=str(thumos), video_dir=str(clips), ratios=ratios)
    assert [(r.video_id, r.label) for r in videos.rows] == [(f"v{i}", "A:x" if i < 3 else "A:y") for i in range(7)]
    assert check_labels(videos, str(thumos), images, ratios).labels == ["A:x", "A:y"]
    (thumos / "A:y_val.txt").write_text("v3 4.0 6.0\n")  # two videos relabelled A:z, which has no web images
    (thumos / "A:z_val.txt").write_text("v4 4.0 6.0\nv5 1.0 2.0\n")
    videos = read_videos(annotations=str(thumos), video_dir=str(clips), ratios=ratios)
    with pytest.raises(UserError, match=r"videos but no web images in .*images: A:z"):
        check_labels(videos, str(thumos), images, ratios)


@pytest.mark.parametrize("given, message", [
    ({}, "no videos: give a manifest or annotation files"),
    ({"manifest": "m.csv", "annotations": "a.json"}, "not both"),
    ({"annotations": "a.json"}, "need the folder holding their videos")])
def test_videos_come_from_one_source(given, message):
    with pytest.raises(UserError, match=message):
        read_videos(**given)


def test_a_taxonomy_gives_labels_their_activity(tmp_path):
    videos, images = _inputs(tmp_path, _each_split(["Dunk", "Layup", "B:z"]), ["Dunk", "Layup", "B:z"])
    with pytest.raises(UserError, match=r"label 'Dunk' must be written 'Activity:Action'"):
        _check(videos, images)
    taxonomy = tmp_path / "taxonomy.json"
    taxonomy.write_text('{"Basketball": ["Dunk", "Layup"]}')
    vocabulary = check_labels(read_manifest(videos, RATIOS), videos, images, RATIOS, str(taxonomy))
    assert vocabulary.activities == {"B": ["B:z"], "Basketball": ["Dunk", "Layup"]}


def test_a_label_whose_every_video_file_is_missing_fails_before_any_work(tmp_path):
    splits = ["train", "eval", "test", "train"]
    videos, images = _inputs(tmp_path, ["A:x", "A:y", "A:x", "A:y"], ["A:x", "A:y"], splits)
    (tmp_path / "v2.mp4").unlink()  # one of A:x's two videos: rejected at ingestion, with its reason
    assert _check(videos, images).labels == ["A:x", "A:y"]
    (tmp_path / "v0.mp4").unlink()  # the other
    with pytest.raises(UserError, match=r"every video file is missing: A:x \(e.g. A:x's .*v0.mp4\)"):
        _check(videos, images)
    videos, images = _inputs(tmp_path, ["A:x", "A:y", "A:x"], ["A:x", "A:y"])  # v0 train, v1 eval, v2 test
    (tmp_path / "v1.mp4").unlink()  # A:y loses its only video, and eval with it
    with pytest.raises(UserError, match="every video file is missing: A:y"):
        _check(videos, images)
    videos, images = _inputs(tmp_path, ["A:x", "A:y", "A:x", "A:y"], ["A:x", "A:y"], splits)
    (tmp_path / "v1.mp4").unlink()  # the only eval video
    with pytest.raises(UserError, match=r"falls in the eval split"):
        _check(videos, images)
    (tmp_path / "v1.mp4").write_bytes(b"")
    (tmp_path / "v0.mp4").unlink()  # A:x's only training video: its other one is a test video
    with pytest.raises(UserError, match=r"without a video in the train split .*: A:x;"):
        _check(videos, images)


def test_a_single_label_is_refused_before_any_work(tmp_path):
    """Every video has it: the softmax over one class learns nothing and its LAF scores are all 1."""
    videos, images = _inputs(tmp_path, _each_split(["A:x"]), ["A:x"])
    with pytest.raises(UserError, match=r"one label \(A:x\) in .*give at least two actions"):
        _check(videos, images)
