"""Ingestion output files that are the same bytes for the same inputs, on any Beam runner.

Runners deliver records in any order (``beam.Reshuffle`` spreads the work), and a plain
``gzip.GzipFile`` header holds the write time and the (temporary) file name. So each file's
records are written sorted by a key (a hash of the record's id or content), and gzip gets ``mtime=0`` and no name.

The files are written by a DoFn after a GroupByKey, and the counts come from the written data,
not from Beam metrics or side inputs: that is the subset of Beam that every runner supports,
Beam 2.59's DaskRunner included (no ``fileio`` finalize step, no metrics, see
``laf.ingest.runners``). Each writer leaves its count in ``<output>/.counts/``; ``complete``
reads and removes them.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
import uuid
from typing import Dict, Iterable, List, Tuple, Union

import apache_beam as beam
from apache_beam.io.tfrecordio import _TFRecordUtil

from laf import files
from laf.ingest import rejects
from laf.ingest.runners import portable_key

REJECTED = "rejected"    # the destination of rejected records (JSON lines in rejected.jsonl)
DUPLICATE = "duplicate"  # the destination of dropped duplicates (JSON lines in duplicates.jsonl)
DUPLICATES_FILE = "duplicates.jsonl"
TEXT = (REJECTED, DUPLICATE)  # JSON-line destinations; the others hold TFRecords
COUNTS_DIR = ".counts"   # per-destination counts (and files being written), removed by ``complete``
DATA_FILE = "data_tfrecord-00000-of-00001.gz"
Element = Tuple[str, str, Union[bytes, str]]  # (destination, sort key, record or JSON line)


def gzip_writer(fileobj) -> gzip.GzipFile:
    """A gzip stream whose header holds neither a time nor a file name."""
    return gzip.GzipFile(filename="", mode="wb", fileobj=fileobj, mtime=0)


def file_name(destination: str) -> str:
    """The file of a destination, relative to the output."""
    if destination == DUPLICATE:
        return DUPLICATES_FILE
    if destination == REJECTED:
        return rejects.REJECTED_FILE
    return f"{destination}/{DATA_FILE}"


def duplicate(key: str, source: str, label: str, kept: str, kept_label: str, **more: str) -> Element:
    """A dropped duplicate as a line of ``duplicates.jsonl``, naming the copy kept."""
    line = json.dumps({"source": source, "label": label, "kept": kept, "kept_label": kept_label, **more},
                      sort_keys=True)
    return DUPLICATE, files.wire_text(key), line


def spread_key(record_id: str) -> str:
    """The sort key that stores records in an order of their ids' hashes, as TFDS writes its
    examples. Why: ids often follow the labels (``v_BasketballDunk_g01_c01``, folders per class), and
    readers shuffle in buffers smaller than a large split (the trainer, domain transfer): in id order
    their batches would march through the classes one after another."""
    return hashlib.sha256(record_id.encode("utf-8", "surrogateescape")).hexdigest()


def _by_destination(element: Element) -> Tuple[int, Element]:
    return portable_key(element[0]), element


class WriteSorted(beam.DoFn):
    """(key, the ``Element``s of one destination) -> its file, records sorted by (key, digest),
    and its count. Records spill to a local
    temporary file and only (key, digest, offset, length) stay in memory, so a destination of any
    size is sorted on runners that stream the group. The file is written under a temporary name and
    renamed: a retried writer leaves the same file."""

    def __init__(self, output: str):
        self._output = output

    def process(self, group: Tuple[int, Iterable[Element]]) -> Iterable[None]:
        import tensorflow as tf

        index: List[Tuple[str, bytes, int, int]] = []
        count = 0
        with tempfile.TemporaryFile() as spill:
            for destination, key, payload in group[1]:
                count += 1
                data = payload if isinstance(payload, bytes) else payload.encode("utf-8")
                index.append((key, hashlib.sha256(data).digest(), spill.tell(), len(data)))
                spill.write(data)
            temporary = os.path.join(self._output, COUNTS_DIR, f"writing-{uuid.uuid4().hex}")
            with tf.io.gfile.GFile(temporary, "wb") as f:
                _write_sorted(spill, sorted(index), f, tfrecord=destination not in TEXT)
            tf.io.gfile.rename(temporary, os.path.join(self._output, file_name(destination)), overwrite=True)
        with tf.io.gfile.GFile(os.path.join(self._output, COUNTS_DIR, f"{destination}.json"), "w") as f:
            f.write(json.dumps({destination: count}))
        return []


def _write_sorted(spill, index: List[Tuple[str, bytes, int, int]], fh, tfrecord: bool) -> None:
    out = gzip_writer(fh) if tfrecord else fh
    for _, _, offset, length in index:
        spill.seek(offset)
        data = spill.read(length)
        if tfrecord:
            _TFRecordUtil.write_record(out, data)
        else:
            out.write(data + b"\n")
    if tfrecord:
        out.close()  # the gzip trailer; the caller closes the file itself


def write(elements: beam.PCollection, output: str) -> None:
    """``Element``s -> ``output/<destination>/data_tfrecord-00000-of-00001.gz`` (gzipped
    TFRecords), ``output/rejected.jsonl`` and ``output/duplicates.jsonl``, each sorted by key."""
    _ = (elements
         | "ByDestination" >> beam.Map(_by_destination)
         | "GroupByDestination" >> beam.GroupByKey()
         | "WriteSorted" >> beam.ParDo(WriteSorted(output)))


def prepare(output: str, destinations: Tuple[str, ...]) -> None:
    """Make the destination folders before the run (local file systems do not create folders
    on write) and drop what an earlier run into the same folder left: its counts, and its files of
    these destinations and rejections, which this run would otherwise keep wherever nothing arrives
    (a video moved from test to train would stay in both)."""
    import tensorflow as tf

    counts = os.path.join(output, COUNTS_DIR)
    if tf.io.gfile.exists(counts):
        tf.io.gfile.rmtree(counts)
    stale = [file_name(d) for d in (*destinations, *TEXT)] + [rejects.SUMMARY_FILE]  # no summary outlives a failed run
    for path in (os.path.join(output, name) for name in stale):
        if tf.io.gfile.exists(path):
            tf.io.gfile.remove(path)
    for directory in (*destinations, COUNTS_DIR):
        tf.io.gfile.makedirs(os.path.join(output, directory))


def complete(output: str, destinations: Tuple[str, ...]) -> Dict[str, int]:
    """After the run: what readers expect even where nothing arrived (an empty TFRecord file per
    destination, and empty rejected.jsonl and duplicates.jsonl), and the count of every destination that the
    writers left (0 where nothing arrived); the counts folder goes."""
    import tensorflow as tf

    counts: Dict[str, int] = {destination: 0 for destination in (*destinations, *TEXT)}
    folder = os.path.join(output, COUNTS_DIR)
    for name in sorted(files.listdir(folder)):  # not a glob: an output named `feats[v2]` matched nothing
        if name.endswith(".json"):
            with tf.io.gfile.GFile(os.path.join(folder, name)) as f:
                counts.update(json.load(f))
    tf.io.gfile.rmtree(folder)
    for destination in (*destinations, *TEXT):
        path = os.path.join(output, file_name(destination))
        if not tf.io.gfile.exists(path):
            with tf.io.gfile.GFile(path, "wb") as f:
                if destination in TEXT:
                    f.write(b"")  # GFile creates no file before a write
                else:
                    gzip_writer(f).close()
    return counts
