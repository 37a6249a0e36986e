"""File access that loads TensorFlow only for remote URIs.

Local paths use the ``os`` module, so checking a config and its manifests (``laf run``'s
pre-flight) takes a second, not the half minute of importing TF; ``gs://``, ``s3://``...
go through ``tf.io.gfile``.
"""
from __future__ import annotations

import os
from typing import Iterator, List, Tuple

from laf.errors import UserError


def is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def local(uri: str) -> str:
    """A local URI as a path (``file://`` dropped)."""
    return uri[len("file://"):] if uri.startswith("file://") else uri


def exists(uri: str) -> bool:
    if is_remote(uri):
        import tensorflow as tf

        return tf.io.gfile.exists(uri)
    return os.path.exists(local(uri))


def isdir(uri: str) -> bool:
    if is_remote(uri):
        import tensorflow as tf

        return tf.io.gfile.isdir(uri)
    return os.path.isdir(local(uri))


def listdir(uri: str) -> List[str]:
    if is_remote(uri):
        import tensorflow as tf

        return [name.rstrip("/") for name in tf.io.gfile.listdir(uri)]
    return os.listdir(local(uri))


def walk(uri: str) -> Iterator[Tuple[str, List[str], List[str]]]:
    if is_remote(uri):
        import tensorflow as tf

        return tf.io.gfile.walk(uri)
    return os.walk(local(uri))


def read_bytes(uri: str) -> bytes:
    """The file's bytes; ``FileNotFoundError`` if it is missing."""
    if is_remote(uri):
        import tensorflow as tf

        try:
            with tf.io.gfile.GFile(uri, "rb") as f:
                return f.read()
        except tf.errors.NotFoundError:
            raise FileNotFoundError(uri) from None
    with open(local(uri), "rb") as f:
        return f.read()


def read_text(path: str, what: str = "file") -> str:
    """A (local or gfile) UTF-8 text file's content; ``UserError`` naming ``what`` if it is missing,
    a folder or not UTF-8."""
    try:
        return read_bytes(path).decode("utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise UserError(f"{what} {path} is a folder, not a file") from None
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text ({e})") from None
