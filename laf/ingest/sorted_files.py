"""Ingestion output files that are the same bytes for the same inputs.

Runners deliver records in any order (``beam.Reshuffle`` spreads the work), and a plain
``gzip.GzipFile`` header holds the write time and the (temporary) file name. So each file's
records are written sorted by a key (the record's id), and gzip gets ``mtime=0`` and no name.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from typing import List, Tuple, Union

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.tfrecordio import _TFRecordUtil

from laf import rejects

REJECTED = "rejected"  # the destination of rejected records (JSON lines in rejected.jsonl)
Element = Tuple[str, str, Union[bytes, str]]  # (destination, sort key, record or JSON line)


def gzip_writer(fileobj) -> gzip.GzipFile:
    """A gzip stream whose header holds neither a time nor a file name."""
    return gzip.GzipFile(filename="", mode="wb", fileobj=fileobj, mtime=0)


class SortedSink(fileio.FileSink):
    """One output file. Records spill to a local temporary file and only (key, digest,
    offset, length) stay in memory, so a split of any size is written sorted on flush."""

    def __init__(self, tfrecord: bool):
        self._tfrecord = tfrecord

    def open(self, fh) -> None:
        self._fh = fh
        self._spill = tempfile.TemporaryFile()
        self._index: List[Tuple[str, bytes, int, int]] = []

    def write(self, element: Element) -> None:
        _, key, payload = element
        data = payload if isinstance(payload, bytes) else payload.encode("utf-8")
        self._index.append((key, hashlib.sha256(data).digest(), self._spill.tell(), len(data)))
        self._spill.write(data)

    def flush(self) -> None:
        out = gzip_writer(self._fh) if self._tfrecord else self._fh
        for _, _, offset, length in sorted(self._index):
            self._spill.seek(offset)
            data = self._spill.read(length)
            if self._tfrecord:
                _TFRecordUtil.write_record(out, data)
            else:
                out.write(data + b"\n")
        if self._tfrecord:
            out.close()  # the gzip trailer; fileio closes the file itself
        self._fh.flush()
        self._spill.close()


def file_name(_window, _pane, shard_index, total_shards, _compression, destination) -> str:
    """File naming for ``fileio.WriteToFiles`` (its callback signature is fixed)."""
    if destination == REJECTED:
        return rejects.REJECTED_FILE
    return f"{destination}/data_tfrecord-{shard_index:05d}-of-{total_shards:05d}.gz"


def write(elements: beam.PCollection, output: str) -> None:
    """``Element``s -> ``output/<destination>/data_tfrecord-00000-of-00001.gz`` (gzipped
    TFRecords) and ``output/rejected.jsonl``, each sorted by key."""
    _ = elements | "WriteSorted" >> fileio.WriteToFiles(
        path=output, destination=lambda e: e[0], shards=1,
        sink=lambda dest: SortedSink(tfrecord=dest != REJECTED), file_naming=file_name)


def prepare(output: str, destinations: Tuple[str, ...]) -> None:
    """Make the destination folders before the run: fileio renames its files into them, and
    local file systems do not create folders on rename."""
    import tensorflow as tf

    for destination in destinations:
        tf.io.gfile.makedirs(os.path.join(output, destination))


def complete(output: str, destinations: Tuple[str, ...]) -> None:
    """What readers expect even where nothing arrived: an empty TFRecord file per
    destination and an empty rejected.jsonl; fileio's temporary folder goes."""
    import tensorflow as tf

    for destination in destinations:
        directory = os.path.join(output, destination)
        if not tf.io.gfile.glob(os.path.join(directory, "*.gz")):
            with tf.io.gfile.GFile(os.path.join(directory, "data_tfrecord-00000-of-00001.gz"), "wb") as f:
                gzip_writer(f).close()
    path = os.path.join(output, rejects.REJECTED_FILE)
    if not tf.io.gfile.exists(path):
        rejects.write_rejected(output, [])
    for temp in tf.io.gfile.glob(os.path.join(output, ".temp*")):
        tf.io.gfile.rmtree(temp)
