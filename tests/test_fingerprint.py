"""laf.ingest.fingerprint: the ingestion components' cache key follows the files they read."""
import os

from laf.ingest import fingerprint


def _inputs(tmp_path):
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "a.mp4").write_bytes(b"video a")
    (tmp_path / "videos.csv").write_text("video,label\nclips/a.mp4,A:b\n")
    for label in ("A__b", "A__c"):
        (tmp_path / "images" / label).mkdir(parents=True)
        (tmp_path / "images" / label / "1.jpg").write_bytes(b"jpeg")
    (tmp_path / "w.weights.h5").write_bytes(b"weights")
    return str(tmp_path / "videos.csv"), str(tmp_path / "images"), str(tmp_path / "w.weights.h5")


def _touch(path: str, data: bytes) -> None:
    before = os.stat(path).st_mtime_ns
    with open(path, "wb") as f:
        f.write(data)
    os.utime(path, ns=(before + 10**9, before + 10**9))  # a later edit, whatever the clock's resolution


def test_same_files_same_fingerprint_and_any_change_a_new_one(tmp_path):
    videos, images, weights = _inputs(tmp_path)
    first = (fingerprint.video_inputs(videos, weights), fingerprint.image_inputs(images, weights))
    assert first == (fingerprint.video_inputs(videos, weights), fingerprint.image_inputs(images, weights))
    _touch(str(tmp_path / "clips" / "a.mp4"), b"video a, re-encoded")  # a listed video replaced in place
    assert fingerprint.video_inputs(videos, weights) != first[0]
    assert fingerprint.image_inputs(images, weights) == first[1]
    (tmp_path / "images" / "A__c" / "2.jpg").write_bytes(b"jpeg")  # an image added to the folder
    assert fingerprint.image_inputs(images, weights) != first[1]
    second = fingerprint.video_inputs(videos, weights)
    _touch(weights, b"other weights")
    assert fingerprint.video_inputs(videos, weights) != second


def test_an_image_manifest_counts_the_files_it_lists_and_remote_ones_by_address(tmp_path):
    _, _, weights = _inputs(tmp_path)
    (tmp_path / "images.csv").write_text("A:b,images/A__b/1.jpg\nA:c,https://example.com/x.jpg\n")
    manifest = str(tmp_path / "images.csv")
    first = fingerprint.image_inputs(manifest, weights)
    _touch(str(tmp_path / "images" / "A__b" / "1.jpg"), b"another jpeg")
    assert fingerprint.image_inputs(manifest, weights) != first
    assert fingerprint.fingerprint(["gs://bucket/v.mp4"]) != fingerprint.fingerprint(["gs://bucket/w.mp4"])



def test_image_folders_count_what_ingestion_reads(tmp_path):
    """A label folder that is a symlink is read by ImageIngest, so its files count; a dot-file is not."""
    _, images, weights = _inputs(tmp_path)
    crawl = tmp_path / "crawl"
    crawl.mkdir()
    (crawl / "1.jpg").write_bytes(b"jpeg")
    os.symlink(crawl, os.path.join(images, "A__d"))
    first = fingerprint.image_inputs(images, weights)
    (crawl / "2.jpg").write_bytes(b"jpeg")  # added where the symlink points
    second = fingerprint.image_inputs(images, weights)
    assert second != first
    (tmp_path / "images" / "A__b" / ".DS_Store").write_bytes(b"finder")
    assert fingerprint.image_inputs(images, weights) == second
