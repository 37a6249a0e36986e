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
