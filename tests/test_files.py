"""laf.files: the same answers for local paths (no TF) and remote URIs (tf.io.gfile)."""
import os

import pytest

from laf import files
from laf.errors import UserError


def _tree(root: str, write) -> None:
    write(f"{root}/A__x/a.jpg", b"a")
    write(f"{root}/A__x/sub/b.jpg", b"b")


def test_local_and_remote_agree(tmp_path):
    import tensorflow as tf

    def write_local(path, data):
        import os

        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)

    def write_remote(path, data):
        tf.io.gfile.makedirs(path.rsplit("/", 1)[0])
        with tf.io.gfile.GFile(path, "wb") as f:
            f.write(data)

    for root, write in ((str(tmp_path), write_local), ("ram://laf-files-test", write_remote)):
        _tree(root, write)
        assert files.listdir(root) == ["A__x"] and files.isdir(f"{root}/A__x")
        assert sorted(f for _, _, fs in files.walk(f"{root}/A__x") for f in fs) == ["a.jpg", "b.jpg"]
        assert files.read_bytes(f"{root}/A__x/sub/b.jpg") == b"b" and files.exists(f"{root}/A__x/a.jpg")
        assert not files.exists(f"{root}/missing")
        with pytest.raises(FileNotFoundError):
            files.read_bytes(f"{root}/missing")
    assert files.read_bytes(f"file://{tmp_path}/A__x/a.jpg") == b"a"


def test_a_file_system_tensorflow_lacks_fails_in_one_line_naming_it():
    """As s3:// does in TF 2.16 (a made-up scheme here: a test that imported tensorflow-io registers s3)."""
    for read in (files.exists, lambda uri: files.read_text(uri, "manifest")):
        with pytest.raises(UserError, match=r"^nofs://bucket/videos.csv: File system scheme 'nofs' not implemented"):
            read("nofs://bucket/videos.csv")


def test_a_local_walk_follows_linked_folders_once_and_names_an_unreadable_one(tmp_path, monkeypatch):
    """A crawl's batch linked into a label folder is read; a link back up does not loop; a folder
    the walk cannot read is an error, not silently skipped (os.walk's defaults)."""
    batch = tmp_path / "elsewhere" / "batch2"
    batch.mkdir(parents=True)
    (batch / "c.jpg").write_bytes(b"c")
    label = tmp_path / "A__x"
    label.mkdir()
    (label / "a.jpg").write_bytes(b"a")
    os.symlink(batch, label / "batch2")
    os.symlink(label, label / "loop")
    found = [os.path.relpath(os.path.join(d, f), label) for d, _, fs in files.walk(str(label)) for f in fs]
    assert found == ["a.jpg", "batch2/c.jpg"]
    os.symlink(tmp_path, label / "up")
    with pytest.raises(UserError, match=r"A__x/up links to .*, which holds .*A__x: it would read everything there"):
        list(files.walk(str(label)))
    os.remove(label / "up")
    real_scandir = os.scandir

    def scandir(path="."):
        if os.path.basename(str(path)) == "batch2":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)  # os.walk lists with it (running as root, chmod 0 would not do)
    with pytest.raises(UserError, match=r"^cannot read folder .*batch2: Permission denied$"):
        list(files.walk(str(label)))


def test_an_atomic_write_leaves_the_previous_file_whole_when_it_fails(tmp_path):
    """The report page, summary.json and the paper table: a failed write keeps the old file and no
    partial one (before, the file was emptied first and a crash left half a page)."""
    path = str(tmp_path / "report.html")
    files.write_atomic(path, b"first")
    files.write_atomic(path, b"second")
    assert open(path, "rb").read() == b"second"
    with pytest.raises(TypeError):
        files.write_atomic(path, "not bytes")  # fails inside the write
    assert open(path, "rb").read() == b"second" and os.listdir(tmp_path) == ["report.html"]


def test_a_local_walk_lists_file_names_sorted(tmp_path):
    """It sorted only the folders: file names came in the file system's order (hash order on ext4)."""
    names = [f"{i:02d}-{h}.jpg" for i, h in enumerate("qwertyuiopasdfghjklz")]
    for name in reversed(names):  # a file system that lists in creation order (tmpfs, btrfs) lists them reversed
        (tmp_path / name).write_bytes(b"")
    [(_, _, listed)] = list(files.walk(str(tmp_path)))
    assert listed == sorted(names)
