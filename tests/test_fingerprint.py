"""laf.ingest.fingerprint: the ingestion components' cache key follows the files they read."""
import os

from file_tree import latin1_file
from laf.ingest import fingerprint
from laf.ingest.manifest import read_manifest, read_videos


def _inputs(tmp_path):
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "a.mp4").write_bytes(b"video a")
    (tmp_path / "videos.csv").write_text("video,label\nclips/a.mp4,A:b\n")
    for label in ("A__b", "A__c"):
        (tmp_path / "images" / label).mkdir(parents=True)
        (tmp_path / "images" / label / "1.jpg").write_bytes(b"jpeg")
    (tmp_path / "w.weights.h5").write_bytes(b"weights")
    return str(tmp_path / "videos.csv"), str(tmp_path / "images"), str(tmp_path / "w.weights.h5")


def _video_inputs(manifest: str, weights: str) -> str:
    return fingerprint.video_inputs(manifest, read_manifest(manifest), weights)


def _touch(path: str, data: bytes) -> None:
    before = os.stat(path).st_mtime_ns
    with open(path, "wb") as f:
        f.write(data)
    os.utime(path, ns=(before + 10**9, before + 10**9))  # a later edit, whatever the clock's resolution


def test_same_files_same_fingerprint_and_any_change_a_new_one(tmp_path):
    videos, images, weights = _inputs(tmp_path)
    first = (_video_inputs(videos, weights), fingerprint.image_inputs(images, weights))
    assert first == (_video_inputs(videos, weights), fingerprint.image_inputs(images, weights))
    _touch(str(tmp_path / "clips" / "a.mp4"), b"video a, re-encoded")  # a listed video replaced in place
    assert _video_inputs(videos, weights) != first[0]
    assert fingerprint.image_inputs(images, weights) == first[1]
    (tmp_path / "images" / "A__c" / "2.jpg").write_bytes(b"jpeg")  # an image added to the folder
    assert fingerprint.image_inputs(images, weights) != first[1]
    second = _video_inputs(videos, weights)
    _touch(weights, b"other weights")
    assert _video_inputs(videos, weights) != second


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



def test_a_file_name_that_is_not_utf8_is_fingerprinted(tmp_path):
    """An old crawl's Latin-1 name (``caf\xe9.jpg``) is listed with a surrogate escape: counted, not a crash."""
    _, images, weights = _inputs(tmp_path)
    before = fingerprint.image_inputs(images, weights)
    latin1_file(os.path.join(images, "A__b"), b"jpeg")
    assert fingerprint.image_inputs(images, weights) not in ("", before)


def test_videos_in_a_folder_whose_name_is_not_utf8_are_fingerprinted(tmp_path):
    """A manifest in a Latin-1 folder (``caf\xe9/``) lists its videos with a surrogate escape: the rows
    were hashed with strict UTF-8, a crash of `laf run` after its preflight checks had passed."""
    folder = os.path.join(os.fsencode(str(tmp_path)), b"caf\xe9")
    os.mkdir(folder)
    with open(os.path.join(folder, b"a.mp4"), "wb") as f:
        f.write(b"video a")
    manifest = os.fsdecode(os.path.join(folder, b"videos.csv"))
    with open(manifest, "w") as f:
        f.write("video,label\na.mp4,A:b\n")
    weights = tmp_path / "w.weights.h5"
    weights.write_bytes(b"weights")
    first = _video_inputs(manifest, str(weights))
    assert first and first == _video_inputs(manifest, str(weights))
    with open(manifest, "w") as f:
        f.write("video,label\na.mp4,A:c\n")
    assert _video_inputs(manifest, str(weights)) != first


def test_annotation_files_count_with_the_videos_they_name(tmp_path):
    _, _, weights = _inputs(tmp_path)
    thumos = tmp_path / "thumos"
    thumos.mkdir()
    (thumos / "A:b_val.txt").write_text("a 1.0 2.0\nlate 3.0 4.0\n")

    def key():
        source = str(thumos)
        return fingerprint.video_inputs(source, read_videos(annotations=source, video_dir=str(tmp_path / "clips")),
                                        weights)

    first = key()
    assert key() == first
    (tmp_path / "clips" / "late.mp4").write_bytes(b"video late")  # an annotated video that was missing arrives
    second = key()
    assert second != first
    _touch(str(thumos / "A:b_val.txt"), b"a 1.0 2.5\nlate 3.0 4.0\n")  # a segment edited
    assert key() != second
    videos = read_manifest(str(tmp_path / "videos.csv"))
    taxonomy = tmp_path / "taxonomy.json"
    taxonomy.write_text('{"A": ["A:b"]}')
    with_taxonomy = fingerprint.video_inputs("m", videos, weights, str(taxonomy))
    assert with_taxonomy != fingerprint.video_inputs("m", videos, weights)
    _touch(str(taxonomy), b'{"B": ["A:b"]}')  # the taxonomy edited in place
    assert fingerprint.video_inputs("m", videos, weights, str(taxonomy)) != with_taxonomy


def test_a_changed_data_contract_changes_the_fingerprint(tmp_path, monkeypatch):
    """Records ingested under an older schema are not reused from cache after an upgrade that changed it."""
    import shutil

    import schemas

    videos, images, weights = _inputs(tmp_path)
    contract = str(tmp_path / "video_schema.pbtxt")
    shutil.copy(schemas.VIDEO_SCHEMA, contract)
    monkeypatch.setattr(schemas, "VIDEO_SCHEMA", contract)
    first = (_video_inputs(videos, weights), fingerprint.image_inputs(images, weights))
    os.utime(contract, ns=(0, 0))  # the same contract in a fresh checkout: same fingerprint
    assert (_video_inputs(videos, weights), fingerprint.image_inputs(images, weights)) == first
    with open(contract, "a") as f:
        f.write('feature { name: "new" type: FLOAT }\n')
    assert _video_inputs(videos, weights) != first[0] and fingerprint.image_inputs(images, weights) == first[1]


def test_what_a_remote_image_manifest_says_of_an_image_counts_by_content(tmp_path):
    first = tmp_path / "a" / "images.csv"
    second = tmp_path / "b" / "images.csv"
    for path, label in ((first, "A:b"), (second, "A:c")):
        path.parent.mkdir()
        path.write_text(f"{label},https://example.com/x.jpg\nA:d,https://example.com/y.jpg\n")
        os.utime(path, ns=(10**18, 10**18))
    prints = [fingerprint.image_inputs(str(path), "imagenet") for path in (first, second)]
    assert prints[0][16:] != prints[1][16:]  # the same image, another label: the label half differs


def test_what_a_remote_manifest_says_of_a_video_counts_by_content():
    """gs://b/videos.csv edited in place (a split changed): its address is the same, its rows are not."""
    from laf.ingest.manifest import Manifest, VideoRow

    def inputs(split: str) -> str:
        rows = [VideoRow("a", "gs://b/clips/a.mp4", "A:b", split)]
        return fingerprint.video_inputs("gs://b/videos.csv", Manifest(rows, []), "imagenet")

    assert inputs("eval") == inputs("eval") and inputs("eval") != inputs("test")


def test_weights_keywords_are_not_files_of_the_current_folder(tmp_path, monkeypatch):
    videos, images, _ = _inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    first = (_video_inputs(videos, "imagenet"), fingerprint.image_inputs(images, "imagenet"))
    (tmp_path / "imagenet").mkdir()  # e.g. a data set's folder
    (tmp_path / "imagenet" / "x.jpg").write_bytes(b"jpeg")
    assert (_video_inputs(videos, "imagenet"), fingerprint.image_inputs(images, "imagenet")) == first
