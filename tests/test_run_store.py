"""laf.run_store: the latest artifact is the latest *published* one; a file that is no metadata store is refused."""
import sqlite3

import pytest
from ml_metadata.proto import metadata_store_pb2

from laf import run_store
from laf.errors import UserError
from bench_helpers import mlmd_store

Artifact = metadata_store_pb2.Artifact


def test_latest_skips_outputs_a_failed_execution_left_pending():
    found = [Artifact(id=3, state=Artifact.LIVE), Artifact(id=7, state=Artifact.PENDING),
             Artifact(id=5, state=Artifact.LIVE), Artifact(id=9, state=Artifact.ABANDONED)]
    assert run_store.latest(found).id == 5
    assert run_store.latest([Artifact(id=1, state=Artifact.PENDING)]) is None
    assert run_store.latest([]) is None


def test_a_file_that_is_no_metadata_store_is_refused_untouched(tmp_path):
    other = sqlite3.connect(str(tmp_path / "other.sqlite"))
    other.execute("CREATE TABLE notes (x)")
    other.commit()
    other.close()
    cases = {"empty": (b"", "is empty"), "text": (b"not a database\n" * 4, "not an SQLite database"),
             "other": ((tmp_path / "other.sqlite").read_bytes(), "not an ML Metadata store"),
             "malformed": (b"SQLite format 3\x00" + b"\xff" * 200, "cannot read .*metadata.sqlite")}
    for name, (content, message) in cases.items():
        root = tmp_path / name
        root.mkdir()
        (root / run_store.METADATA_FILE).write_bytes(content)
        with pytest.raises(UserError, match=message):
            run_store.open_store(str(root))
        assert (root / run_store.METADATA_FILE).read_bytes() == content  # MLMD never created its tables in it
    mlmd_store(str(tmp_path / run_store.METADATA_FILE))  # a run's store, no execution finished yet
    assert run_store.open_store(str(tmp_path)).get_executions() == []
    odd = tmp_path / "run #2?a=%41"  # characters an SQLite URI would read as its own
    odd.mkdir()
    mlmd_store(str(odd / run_store.METADATA_FILE))
    assert run_store.open_store(str(odd)).get_executions() == []
    assert not (tmp_path / "run ").exists()  # no stray database where an unescaped URI would end the path


def test_a_remote_root_keeps_its_metadata_in_a_local_file_named_by_it(tmp_path, monkeypatch):
    """SQLite cannot open gs://: it would read gs://b/root/metadata.sqlite as a path relative to the
    current folder, so each folder a run starts from had its own store (no cache, no blessed baseline)."""
    from pipeline.config import PipelineConfig

    monkeypatch.setenv(run_store.METADATA_HOME_ENV, str(tmp_path / "home"))
    want = str(tmp_path / "home" / "gs" / "bucket" / "runs" / "a" / run_store.METADATA_FILE)
    assert run_store.metadata_path("gs://bucket/runs/a/") == want
    assert run_store.metadata_path("gs://bucket//runs/../runs/a") == str(tmp_path / "home" / "gs" / "bucket" / "runs"
                                                                          / "runs" / "a" / run_store.METADATA_FILE)
    assert PipelineConfig(pipeline_root="gs://bucket/runs/a").metadata_path == want  # what laf run writes
    assert run_store.metadata_path(f"file://{tmp_path}/r") == f"{tmp_path}/r/{run_store.METADATA_FILE}"
    assert run_store.metadata_path("out/r") == f"out/r/{run_store.METADATA_FILE}"
    with pytest.raises(UserError, match="stays on the machine that ran it"):
        run_store.open_store("gs://bucket/runs/a")
    (tmp_path / "home" / "gs" / "bucket" / "runs" / "a").mkdir(parents=True)
    mlmd_store(want)
    assert run_store.open_store("gs://bucket/runs/a").get_executions() == []
