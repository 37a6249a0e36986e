"""A fingerprint of the files an ingestion component reads, for TFX's cache key.

Why: TFX reuses a component's output when its execution parameters and input artifacts are the
ones of an earlier run. VideoIngest and ImageIngest take paths only, so a manifest edited in place,
images added to a folder or a weights file replaced at the same path were "reused from cache" and
the new data silently ignored. The fingerprint, one more execution parameter, changes when any local
file they read changes: its path, size or modification time. Remote objects (``gs://``, ``https://``)
count by their address only; ``laf run --no-cache`` re-reads them. What the videos' manifest or
annotations say of each video (its label, split and segments) counts by content, remote or not.
The data contract the records follow (``schemas/``) counts by its content: records of an older
contract are ingested anew. So does the code ingestion runs (``pipeline.code_version``, folded in by
``pipeline.pipeline.create_pipeline``).
"""
from __future__ import annotations

import hashlib
import os
from typing import Iterable, Iterator, List, Sequence, Tuple

import schemas
from laf.files import is_remote, local, walk
from laf.ingest.backbones import PUBLIC_WEIGHTS
from laf.ingest.image_inputs import list_inputs
from laf.ingest.manifest import Manifest


def _entries(path: str) -> Iterator[Tuple[str, object, object]]:
    """(name, size, mtime) of a file, of every file under a folder (sorted), or of an address."""
    if not path or is_remote(path):
        yield path, "", ""
        return
    path = local(path)
    if os.path.isdir(path):
        for root, _, names in walk(path):  # as ingestion lists it: links to folders followed
            for name in sorted(names):
                yield from _entries(os.path.join(root, name))
        return
    try:
        stat = os.stat(path)
    except OSError:
        yield path, "missing", ""
        return
    yield path, stat.st_size, stat.st_mtime_ns


def fingerprint(paths: Iterable[str], contract: str = "") -> str:
    """A short hash of what ``paths`` hold now and of the ``contract`` schema file's content (see
    the module docstring)."""
    digest = hashlib.sha256(schemas.digest(contract).encode() if contract else b"")
    for path in paths:
        for name, size, mtime in _entries(path):
            digest.update(f"{name}\t{size}\t{mtime}\n".encode("utf-8", "surrogateescape"))  # a Latin-1 file name
    return digest.hexdigest()[:16]


def video_inputs(source: str, videos: Manifest, weights: str, taxonomy: str = "") -> str:
    """VideoIngest's: the manifest or annotation files (``source``), every video read from them
    (``videos``) and what the rows say of it, the backbone weights and the taxonomy file if there
    is one."""
    files = fingerprint([source, *(row.uri for row in videos.rows), *_weights_file(weights),
                         *([taxonomy] if taxonomy else [])], schemas.VIDEO_SCHEMA)
    rows = hashlib.sha256("".join(f"{r.video_id}\t{r.uri}\t{r.label}\t{r.split}\t{r.segments}\t{r.ambiguous}\n"
                                  for r in videos.rows).encode("utf-8", "surrogateescape"))  # a remote manifest
    # edited in place too; surrogateescape: a Latin-1 folder name, as fingerprint() reads it
    return f"{files}{rows.hexdigest()[:16]}"


def image_inputs(images: str, weights: str) -> str:
    """ImageIngest's: every image it would read, as it lists them (a label folder that is a symlink
    included, dot-files left out), the manifest if images come from one, and the weights."""
    items = list_inputs(images)
    listed: Sequence[str] = [item.source for item in items]
    files = fingerprint([*([] if os.path.isdir(local(images)) else [images]), *listed, *_weights_file(weights)],
                        schemas.IMAGE_SCHEMA)
    listing = "".join(f"{item.source}\t{item.label}\n" for item in items)
    labels = hashlib.sha256(listing.encode("utf-8", "surrogateescape"))  # a remote manifest
    return f"{files}{labels.hexdigest()[:16]}"


def _weights_file(weights: str) -> List[str]:
    """The weights as a file to fingerprint; none for the keywords (a folder named ``imagenet`` in
    the current folder is not the backbone's weights)."""
    return [] if weights in PUBLIC_WEIGHTS else [weights]
