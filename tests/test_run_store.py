"""laf.run_store: the latest artifact is the latest *published* one."""
from ml_metadata.proto import metadata_store_pb2

from laf import run_store

Artifact = metadata_store_pb2.Artifact


def test_latest_skips_outputs_a_failed_execution_left_pending():
    found = [Artifact(id=3, state=Artifact.LIVE), Artifact(id=7, state=Artifact.PENDING),
             Artifact(id=5, state=Artifact.LIVE), Artifact(id=9, state=Artifact.ABANDONED)]
    assert run_store.latest(found).id == 5
    assert run_store.latest([Artifact(id=1, state=Artifact.PENDING)]) is None
    assert run_store.latest([]) is None
