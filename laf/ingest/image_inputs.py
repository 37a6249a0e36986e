"""The web-image inputs of ingestion, listed and checked on the driver before any work starts:
a folder tree ``<root>/<label folder>/<files>`` or a manifest (see ``laf.ingest.image_ingest``).

Kept free of Beam and TensorFlow (``laf.files`` loads TF only for remote URIs), so
``laf run``'s pre-flight finds a bad folder or manifest line in a second.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

from laf import files
from laf.errors import UserError
from laf.ingest.manifest import check_header, check_label, csv_rows, jsonl_rows
from schemas.vocabulary import Vocabulary, canonical

FOLDER_SEPARATOR = "__"      # stands for ':' in label folder names
SOURCE_COLUMNS = ("image", "path", "url")


@dataclasses.dataclass(frozen=True)
class ImageItem:
    label: str               # "" for a file outside any label folder
    source: str



def folder_label(name: str, vocabulary: Optional[Vocabulary] = None) -> str:
    """A label folder's name -> its ``Activity:Action`` label (see the module docstring), in NFC as
    :func:`check_label` makes every label (macOS writes folder names decomposed)."""
    name = canonical(name)
    label = name if ":" in name else name.replace(FOLDER_SEPARATOR, ":", 1)
    if vocabulary is None or label in vocabulary.labels:
        return label
    matches = [known for known in vocabulary.labels if known.split(":", 1)[-1] == name]
    return matches[0] if len(matches) == 1 else label


def list_folder(root: str, vocabulary: Optional[Vocabulary] = None) -> List[ImageItem]:
    items: List[ImageItem] = []
    for name in sorted(files.listdir(root)):
        path = f"{root.rstrip('/')}/{name}"
        if name.startswith("."):
            continue
        if not files.isdir(path):
            items.append(ImageItem("", path))
            continue
        if not _utf8(name):  # a label is text in labels.json and in every record: it must be one
            raise UserError(f"{files.wire_text(path)}/: the"
                            " label folder's name is not UTF-8 text (an old crawl's Latin-1?): rename it")
        label = check_label(folder_label(name, vocabulary), f"{path}/")
        found = [f"{d.rstrip('/')}/{f}" for d, _, fs in files.walk(path) for f in sorted(fs)
                 if not f.startswith(".") and "/." not in d[len(path):]]
        if not found:
            raise UserError(f"{path}/: label folder {name!r} holds no images")
        items.extend(ImageItem(label, f) for f in sorted(found))
    if not any(item.label for item in items):
        raise UserError(f"{root}: no label folders (expected <root>/<label>/<image files>)")
    return items


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # the OS listed bytes that are not UTF-8 (surrogate escapes)
        return False
    return True


def read_manifest(path: str) -> List[ImageItem]:
    """Rows of an image manifest; raises ``UserError`` naming the file and line."""
    text = files.read_text(path, "image manifest")
    # a relative folder made absolute (a colon in it read as a URI scheme); "/list.csv"'s is "" ("/" + name)
    local = not files.is_remote(path)
    base = files.absolute(os.path.dirname(files.local(path)) or ".").rstrip("/") if local else path.rsplit("/", 1)[0]
    items = [_item(fields, f"{path}:{line}", base) for line, fields in _rows(path, text)]
    if not items:
        raise UserError(f"{path}: the manifest lists no images")
    return items


def _rows(path: str, text: str) -> Iterator[Tuple[int, Dict[str, Any]]]:
    if path.lower().endswith((".jsonl", ".json")):
        yield from jsonl_rows(path, text)
        return
    header: Optional[List[str]] = None
    for row, (number, values) in enumerate(csv_rows(path, text)):
        cells = [v.strip().lower() for v in values]
        if row == 0 and set(cells) & {"label", *SOURCE_COLUMNS}:
            _check_columns(cells, f"{path}:{number}")
            header = cells
            continue
        columns = header or ["label", "image"]
        if len(values) != len(columns):
            raise UserError(f"{path}:{number}: {len(values)} fields, expected {len(columns)} ({columns})")
        yield number, dict(zip(columns, values))


def _check_columns(columns: Iterable[str], where: str) -> List[str]:
    columns = list(columns)
    check_header(columns, where)
    present = [c for c in SOURCE_COLUMNS if c in columns]
    if "label" not in columns or len(present) != 1:
        raise UserError(f"{where}: need a 'label' column and exactly one of {list(SOURCE_COLUMNS)},"
                        f" got {columns}")
    return present


def _item(fields: Dict[str, Any], where: str, base: str) -> ImageItem:
    present = _check_columns(fields, where)
    label = check_label(fields["label"], where)
    source = str(fields[present[0]] or "").strip()
    if not source:
        raise UserError(f"{where}: empty image path or URL")
    source = os.path.expanduser(source)  # ``~/crawl/a.jpg`` is the home folder's, as in the config
    if not _is_uri(source, base) and not os.path.isabs(source):
        source = f"{base}/{source}"  # relative to the manifest
    return ImageItem(label, source)


# Schemes written without "//" that a manifest row may hold; other text before a ':' is a path (a
# label folder such as "Tennis:Serve/a.jpg")
_BARE_SCHEMES = {"data", "file", "javascript", "mailto", "blob", "about", "ftp", "http", "https"}


def _is_uri(source: str, base: str) -> bool:
    """A URI (left as written, for ``images.check_source`` to allow or refuse), not a relative path;
    text that starts like a bare scheme is a path where that file exists beside the manifest (a
    label folder "Data:Entry/a.jpg")."""
    head = source.split("/", 1)[0]
    if "://" in source:
        return True
    if not (":" in head and head.split(":", 1)[0].lower() in _BARE_SCHEMES):
        return False
    return files.is_remote(base) or not os.path.exists(files.local(f"{base}/{source}"))


def list_inputs(root: str, vocabulary: Optional[Vocabulary] = None) -> List[ImageItem]:
    """A folder tree or a manifest file. A local folder's images are listed by absolute path: a relative
    one whose first folder holds a colon ("crawl-2024-05-01T10:00/...") read as a URI scheme, refused."""
    if files.isdir(root):
        return list_folder(files.absolute(root), vocabulary)
    if not files.exists(root):
        raise UserError(f"image root {root} does not exist (want a folder tree or a manifest)")
    return read_manifest(root)
