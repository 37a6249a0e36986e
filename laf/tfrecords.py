"""Gzipped TFRecord I/O in the layout TFX Examples artifacts use (``Split-<name>/*.gz``)."""
from __future__ import annotations

import os
from typing import Iterable, Iterator, List

import tensorflow as tf

from laf import files as files_lib

OPTIONS = tf.io.TFRecordOptions(compression_type="GZIP")


def split_dir(artifact_uri: str, split: str) -> str:
    return os.path.join(artifact_uri, f"Split-{split}")


def write(path: str, records: Iterable[bytes]) -> int:
    """Write serialized records to one gzipped TFRecord file; returns the count."""
    tf.io.gfile.makedirs(os.path.dirname(path) or ".")
    n = 0
    with tf.io.TFRecordWriter(path, OPTIONS) as writer:
        for record in records:
            writer.write(record)
            n += 1
    return n


def files(pattern_or_dir: str) -> List[str]:
    """Files of a TFRecord pattern, or every file of a directory but its folders and JSON
    sidecars (``labels.json``, ``rejected.jsonl``); a directory is listed, not globbed, so that a
    folder named ``feats[v2]`` is read as named."""
    if tf.io.gfile.isdir(pattern_or_dir):
        found = [os.path.join(pattern_or_dir, name) for name in files_lib.listdir(pattern_or_dir)]
        return sorted(f for f in found if not tf.io.gfile.isdir(f) and not f.endswith((".json", ".jsonl")))
    return sorted(tf.io.gfile.glob(pattern_or_dir))


def read(pattern_or_dir: str) -> Iterator[bytes]:
    """Iterate serialized records (eagerly, for small data and tests)."""
    paths = files(pattern_or_dir)
    if not paths:
        raise FileNotFoundError(f"no TFRecord files match {pattern_or_dir}")
    for record in tf.data.TFRecordDataset(paths, compression_type="GZIP"):
        yield record.numpy()
