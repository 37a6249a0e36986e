"""Rejected-record bookkeeping shared by every ingestion path.

One bad item never stops a run: it becomes a JSONL line (source, stage, reason, label) in
``rejected.jsonl`` and a Beam counter, and ``summary.json`` records
``inputs = accepted + rejected + duplicates``.
"""
from __future__ import annotations

import dataclasses
import errno
import json
import os
import sys
from typing import Dict, List

from laf import files

REJECTED_FILE = "rejected.jsonl"
SUMMARY_FILE = "summary.json"


@dataclasses.dataclass(frozen=True)
class Rejected:
    source: str
    stage: str   # e.g. "read", "decode", "sample", "features", "fetch", "validate"
    reason: str
    label: str = ""  # the item's label as given ("" for an image outside a label folder): which action lost it
    unreachable: bool = False  # a download that got no answer in time or a server failure: may pass on a rerun

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


MACHINE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.ENOMEM)  # disk full, quota, out of memory


def read_rejected(output: str) -> List[dict]:
    """The rejected.jsonl lines of an ingestion output (local or gs://), in file order."""
    return [json.loads(line) for line in files.read_text(files.join(output, REJECTED_FILE)).splitlines() if line.strip()]


def machine_fault(error: BaseException) -> bool:
    """Whether ``error`` is the machine's or its environment's, not the input's: out of memory or disk,
    a file store that is down, timed out or refuses the credentials. Such an error fails the run (a rerun
    retries it) instead of rejecting the item, because a rejection is cached with the run's output and
    the unchanged input would stay rejected on every rerun."""
    tf = sys.modules.get("tensorflow")  # a TF error can only come from a process that imported TF
    environment = tf is not None and isinstance(error, (
        tf.errors.ResourceExhaustedError,  # e.g. the backbone's OOM, or a store's rate limit
        tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.UnauthenticatedError))
    # FFmpeg's ENOMEM (PyAV's av.error.MemoryError) is a header claiming an absurd size, which FFmpeg refuses to
    # allocate: the file's fault (it failed every rerun), not the machine's
    from_ffmpeg = type(error).__module__ == "av.error"
    return (isinstance(error, MemoryError) and not from_ffmpeg or environment
            or (isinstance(error, OSError) and error.errno in MACHINE_ERRNOS))


def summary(inputs: int, accepted: int, rejected: int, duplicates: int = 0) -> Dict[str, int]:
    """The summary dict; raises if the books do not balance (silent loss is a bug)."""
    if inputs != accepted + rejected + duplicates:
        raise AssertionError(
            f"ingestion lost items: inputs={inputs} != accepted={accepted} + rejected={rejected}"
            f" + duplicates={duplicates}")
    return {"inputs": inputs, "accepted": accepted, "rejected": rejected, "duplicates": duplicates}


def write_summary(directory: str, counts: Dict[str, int]) -> str:
    import tensorflow as tf

    path = os.path.join(directory, SUMMARY_FILE)
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(json.dumps(counts, indent=2, sort_keys=True) + "\n")
    return path
