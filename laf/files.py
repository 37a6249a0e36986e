"""File access that loads TensorFlow only for remote URIs.

Local paths use the ``os`` module, so checking a config and its manifests (``laf run``'s
pre-flight) takes a second, not the half minute of importing TF; ``gs://`` URIs go through
``tf.io.gfile``. TensorFlow 2.16 has no other remote file system built in (``s3://``, ``hdfs://``
come only with a plugin such as tensorflow-io's): those fail in one line naming the scheme.
"""
from __future__ import annotations

import contextlib
import json
import os
from typing import Any, Iterator, List, Optional, Tuple

from laf.errors import UserError, first_line


def is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def local(uri: str) -> str:
    """A local URI as a path (``file://`` dropped)."""
    return uri[len("file://"):] if uri.startswith("file://") else uri


@contextlib.contextmanager
def _scheme_known(uri: str):
    """A file system TensorFlow does not have, as a one-line ``UserError``."""
    import tensorflow as tf

    try:
        yield
    except tf.errors.UnimplementedError as e:
        raise UserError(f"{uri}: {first_line(e.message)} (this installation reads local paths and gs://)") from None


def join(base: str, *names: str) -> str:
    """``base``/``names`` with "/" for local paths and URIs alike (os.path.join would do for local only)."""
    return "/".join([base.rstrip("/"), *names]) if names else base


def wire_text(text: str) -> str:
    """``text`` as strict UTF-8 takes it (Beam's str coder, an error message): a file name the OS
    listed in another encoding (Latin-1's ``café``, a surrogate escape in the str) with its odd
    bytes as ``\\xe9``. Why: one such name in a Beam key stopped the whole run."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def absolute(path: str) -> str:
    """A local path made absolute without normalising it (``//`` and ``..`` kept: ``..`` after a link
    is the OS's to resolve, and an absolute path stays what it was); a remote URI as it is. Why: a
    relative path whose first folder holds a colon ("crawl-2024-05-01T10:00/...") reads as a URI."""
    if is_remote(path):
        return path
    path = local(path)
    if os.path.isabs(path):
        return path
    return os.getcwd() if path in ("", ".") else os.path.join(os.getcwd(), path)


def shown(path: str) -> str:
    """A local path made absolute; a remote URI (gs://) as it is (abspath would make it a local path)."""
    return path if is_remote(path) else os.path.abspath(local(path))


def folder_blocker(path: str) -> Optional[str]:
    """What keeps a local folder ``path`` from being made or written, checked before the slow part
    of a command: its nearest existing part (itself if it exists) when that is a file or not
    writable; None when the folder can be used."""
    existing = os.path.abspath(local(path))
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    return None if os.path.isdir(existing) and os.access(existing, os.W_OK | os.X_OK) else existing


def exists(uri: str) -> bool:
    if is_remote(uri):
        import tensorflow as tf

        with _scheme_known(uri):
            return tf.io.gfile.exists(uri)
    return os.path.exists(local(uri))


def isdir(uri: str) -> bool:
    if is_remote(uri):
        import tensorflow as tf

        with _scheme_known(uri):
            return tf.io.gfile.isdir(uri)
    return os.path.isdir(local(uri))


def listdir(uri: str) -> List[str]:
    if is_remote(uri):
        import tensorflow as tf

        with _scheme_known(uri):
            return [name.rstrip("/") for name in tf.io.gfile.listdir(uri)]
    return os.listdir(local(uri))


def walk(uri: str) -> Iterator[Tuple[str, List[str], List[str]]]:
    if is_remote(uri):
        import tensorflow as tf

        return tf.io.gfile.walk(uri)
    return _walk_local(local(uri))


def _walk_local(top: str) -> Iterator[Tuple[str, List[str], List[str]]]:
    """``os.walk``, sorted, following links to folders (a crawl's batch linked into its label folder
    is read like any other), each real folder once (a link back into the tree would loop), and an
    unreadable folder an error naming it: os.walk would skip it silently. A link to a folder that
    holds ``top`` is refused: it would read the other labels' images as this one's."""
    def refuse(error: OSError) -> None:
        raise UserError(f"cannot read folder {error.filename}: {error.strerror}")

    seen, above = set(), os.path.realpath(top)
    for folder, dirs, names in os.walk(top, onerror=refuse, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            dirs[:] = []
            continue
        if real != above and above.startswith(real.rstrip(os.sep) + os.sep):
            raise UserError(f"{folder} links to {real}, which holds {top}: it would read everything there")
        seen.add(real)
        dirs.sort()
        yield folder, dirs, sorted(names)


def read_bytes(uri: str) -> bytes:
    """The file's bytes; ``FileNotFoundError`` if it is missing."""
    if is_remote(uri):
        import tensorflow as tf

        try:
            with _scheme_known(uri), tf.io.gfile.GFile(uri, "rb") as f:
                return f.read()
        except tf.errors.NotFoundError:
            raise FileNotFoundError(uri) from None
    with open(local(uri), "rb") as f:
        return f.read()


def write_atomic(path: str, data: bytes) -> None:
    """Write a local file whole or not at all: a partial file beside it, renamed over it. Why: a
    killed or failed write (a full disk) must leave the previous file, not half of a new one."""
    partial = f"{path}.{os.getpid()}.partial"
    try:
        with open(partial, "wb") as f:
            f.write(data)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


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


def json_loads(text: str, path: str) -> Any:
    """JSON ``text`` read from ``path``, a key repeated in one object refused (``json.loads`` keeps
    only the last: a setting given twice, or a video listed twice, silently lost its first entry)."""
    def once(pairs):
        found = {}
        for key, value in pairs:
            if key in found:
                raise UserError(f"{path}: {key!r} appears twice in one JSON object")
            found[key] = value
        return found

    return json.loads(text, object_pairs_hook=once)
