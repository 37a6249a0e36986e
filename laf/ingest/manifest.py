"""The video manifest: which videos to ingest, their weak labels, splits and optional GT segments.

A manifest is CSV (header row) or JSONL (one object per line) with columns ``video`` (local
path, relative to the manifest, or any URI ``tf.io.gfile`` reads), ``label``
(``Activity:Action``), and optionally ``id``, ``split`` (train/eval/test; else a stable hash
of the video id), ``segments`` and ``ambiguous`` (THUMOS14's Ambiguous segments: detections on
them are neither right nor wrong). Every row is validated before any work starts, so a
mistake in the manifest fails at once naming the file and line instead of hours later.
THUMOS14 annotation folders (their ``Ambiguous`` file included) and ActivityNet JSON build the
same rows.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import io
import json
import logging
import math
import os
import tempfile
from typing import Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from laf import files
from laf.errors import UserError
from laf.files import is_remote
from laf.ingest.rejects import machine_fault
from schemas import names
from schemas.segment import AMBIGUOUS, Segment
from schemas.vocabulary import Vocabulary, canonical

log = logging.getLogger(__name__)

COLUMNS = ("video", "label", "id", "split", "segments", "ambiguous")
# Rows without a split are hashed into these shares: the pipeline's default (``data.split_ratios``)
# and `laf extract`'s, so one manifest splits alike on both paths.
DEFAULT_RATIOS: Mapping[str, float] = {"train": 0.6, "eval": 0.2, "test": 0.2}
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp",
                    ".ts", ".mts", ".m2ts", ".vob", ".ogv")  # what PyAV decodes; a recorder's MPEG-TS and a DVD's PS


@dataclasses.dataclass(frozen=True)
class VideoRow:
    video_id: str
    uri: str
    label: str
    split: str
    segments: Tuple[Segment, ...] = ()
    where: str = ""  # "file:line", for messages
    ambiguous: Tuple[Segment, ...] = ()  # labelled AMBIGUOUS


@dataclasses.dataclass
class Manifest:
    rows: List[VideoRow]        # unique videos to ingest
    duplicates: List[VideoRow]  # repeated rows: counted, not ingested

    @property
    def inputs(self) -> int:
        return len(self.rows) + len(self.duplicates)

    @property
    def labels(self) -> List[str]:
        """Every label the videos and their segments use."""
        return sorted({r.label for r in self.rows} | {s.label for r in self.rows for s in r.segments})


def split_of(video_id: str, ratios: Mapping[str, float] = DEFAULT_RATIOS) -> str:
    """A split that depends only on the id, so re-running never moves a video between splits."""
    total = sum(ratios.values())
    u = int(hashlib.sha256(video_id.encode("utf-8")).hexdigest()[:16], 16) / 2.0 ** 64
    edge = 0.0
    for split in names.SPLITS:
        edge += ratios.get(split, 0.0) / total
        if u < edge:
            return split
    return [s for s in names.SPLITS if ratios.get(s, 0.0) > 0][-1]


def check_ratios(ratios: Mapping[str, float], name: str = "split ratios") -> Dict[str, float]:
    """``ratios`` if they are shares of train/eval/test that sum to 1: ``laf extract --ratios`` and
    ``data.split_ratios`` by one rule (``--ratios train=0.8`` put every video in train, unsaid)."""
    unknown = set(ratios) - set(names.SPLITS)
    values = list(ratios.values())
    if (unknown or not all(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in values)
            or abs(sum(values) - 1) > 1e-6):
        raise UserError(f"{name} must use keys {'/'.join(names.SPLITS)}, be >= 0 and sum to 1, got {dict(ratios)}")
    return dict(ratios)


def file_size(uri: str) -> int:
    """Bytes of a local path or ``tf.io.gfile`` URI, from metadata only; ``OSError`` if unreadable
    (its message leaves the file unnamed: a rejected record names it)."""
    if not is_remote(uri):
        path = files.local(uri)
        try:
            return os.path.getsize(path)
        except FileNotFoundError:
            raise OSError("file not found") from None
    import tensorflow as tf

    try:
        return tf.io.gfile.stat(uri).length
    except tf.errors.OpError as e:
        raise OSError(f"cannot stat the file: {e.message}") from None


@contextlib.contextmanager
def local_path(uri: str) -> Iterator[str]:
    """A local file for ``uri``: the path itself, or a temporary copy of a remote object
    (PyAV opens local files; ``tf.io.gfile`` reads gs://)."""
    if not is_remote(uri):
        yield files.local(uri)
        return
    import tensorflow as tf

    fd, tmp = tempfile.mkstemp(suffix=os.path.splitext(uri)[1], prefix="laf-video-")
    os.close(fd)
    try:
        try:
            tf.io.gfile.copy(uri, tmp, overwrite=True)
        except tf.errors.OpError as e:
            if machine_fault(e):  # out of disk or memory for the copy: fails the run, not the input's
                raise
            raise OSError(f"cannot copy {uri}: {e.message}") from None
        yield tmp
    finally:
        os.remove(tmp)


def read_taxonomy(path: str) -> Dict[str, str]:
    """A taxonomy JSON file, ``{"Activity": ["Action label", ...]}`` or ``{"label": "Activity"}``,
    as label -> activity (it overrides the activity written before ':')."""
    try:
        data = files.json_loads(files.read_text(path, "taxonomy"), path)
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: taxonomy is not valid JSON ({e.msg})") from None
    if not isinstance(data, dict) or not data:
        raise UserError(f"{path}: taxonomy must be a non-empty JSON object")
    mapping: Dict[str, str] = {}
    for key, value in data.items():
        pairs = [(label, key) for label in value] if isinstance(value, list) else [(key, value)]
        for label, activity in pairs:
            if not isinstance(label, str) or not isinstance(activity, str) or not label or not activity:
                raise UserError(f"{path}: entry {key!r}: labels and activities must be non-empty strings")
            label, activity = canonical(label), canonical(activity)  # as check_label
            if mapping.get(label, activity) != activity:
                raise UserError(f"{path}: label {label!r} is given two activities")
            mapping[label] = activity
    return mapping


def build_vocabulary(manifest: Manifest, taxonomy: Optional[str] = None) -> Vocabulary:
    """The videos' vocabulary: every label needs an activity, written ``Activity:Action`` or given
    by the ``taxonomy`` file, which may name only labels that have videos."""
    mapping = read_taxonomy(taxonomy) if taxonomy else None
    check_activities(manifest, mapping)
    if mapping:
        unused = sorted(set(mapping) - set(manifest.labels))
        if unused:
            raise UserError(f"{taxonomy}: label(s) {unused} have no videos")
    _warn_look_alikes(manifest.labels)
    return Vocabulary.build(manifest.labels, mapping)


def look_alikes(labels: Iterable[str]) -> List[List[str]]:
    """Groups of labels that differ only in case or spacing ("Sports: Diving", "sports:diving"): separate
    classes, which is seldom meant (two annotators' spellings), so ingestion and ``laf evaluate`` say so."""
    groups: Dict[str, List[str]] = {}
    for label in sorted(set(labels)):
        groups.setdefault(" ".join(label.casefold().replace(":", " : ").split()), []).append(label)
    return [g for g in groups.values() if len(g) > 1]


def _warn_look_alikes(labels: Sequence[str]) -> None:
    for alike in look_alikes(labels):
        log.warning("labels %s differ only in case or spacing: they are %d separate classes", alike, len(alike))


# --- reading -----------------------------------------------------------------------------

def read_manifest(path: str, ratios: Mapping[str, float] = DEFAULT_RATIOS) -> Manifest:
    """Parse and validate a CSV or JSONL manifest; raises ``UserError`` naming file and line."""
    ratios = check_ratios(ratios)
    base = os.path.dirname(path) if not is_remote(path) else path.rsplit("/", 1)[0]
    rows = [_row(fields, f"{path}:{line}", base, ratios) for line, fields in _records(path)]
    if not rows:
        raise UserError(f"{path}: the manifest lists no videos")
    return dedupe(rows)


def jsonl_rows(path: str, text: str) -> Iterator[Tuple[int, Dict[str, object]]]:
    """(line number, object) of each non-empty line of a JSONL manifest (video or image). Lines end at
    \n, \r\n or \r only: ``str.splitlines`` also splits at U+2028 and other separators that JSON strings
    may hold raw (``json.dumps(..., ensure_ascii=False)`` writes them so); a key twice in one row is refused."""
    for number, line in enumerate(io.StringIO(text, newline=""), 1):  # as csv_rows splits them
        if not line.strip():
            continue
        try:
            fields = files.json_loads(line, f"{path}:{number}")
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{number}: not a JSON object ({e.msg})") from None
        if not isinstance(fields, dict):
            raise UserError(f"{path}:{number}: expected a JSON object, got {type(fields).__name__}")
        yield number, fields


def csv_rows(path: str, text: str) -> Iterator[Tuple[int, List[str]]]:
    """(line number, fields) of each non-empty row of a CSV (TSV for ``.tsv``) manifest (video or
    image); the reader's own complaints (a NUL byte, an oversized field) name the file and line."""
    # io.StringIO(newline=""): rows end at \n, \r\n or \r as csv expects, not at U+2028 and the other
    # separators str.splitlines also splits at, which a file name may hold
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if path.lower().endswith(".tsv") else ",")
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise UserError(f"{path}:{reader.line_num}: not a readable CSV row ({e})") from None
        if any(v.strip() for v in values):
            yield reader.line_num, values


def check_header(header: Sequence[str], where: str) -> None:
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise UserError(f"{where}: column(s) {repeated} appear more than once in the header")


def _records(path: str) -> Iterator[Tuple[int, Dict[str, object]]]:
    """(line number, fields) of each row of a CSV or JSONL manifest."""
    text = files.read_text(path, "manifest")
    if path.lower().endswith((".jsonl", ".json")):
        for number, fields in jsonl_rows(path, text):
            _check_columns(fields.keys(), f"{path}:{number}")
            yield number, fields
        return
    if not path.lower().endswith((".csv", ".tsv")):
        raise UserError(f"{path}: a manifest must be .csv, .tsv or .jsonl")
    rows = csv_rows(path, text)
    try:
        number, values = next(rows)
    except StopIteration:
        raise UserError(f"{path}: empty manifest (no header row)") from None
    header = [h.strip() for h in values]
    _check_columns(header, f"{path}:{number}")
    for number, values in rows:
        if len(values) != len(header):
            raise UserError(f"{path}:{number}: {len(values)} fields, the header has {len(header)}")
        yield number, dict(zip(header, values))


def _check_columns(columns, where: str) -> None:
    columns = list(columns)
    check_header(columns, where)
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown:
        raise UserError(f"{where}: unknown column(s) {unknown}; known columns are {list(COLUMNS)}")
    missing = [c for c in ("video", "label") if c not in columns]
    if missing:
        raise UserError(f"{where}: missing required column(s) {missing}")


def check_label(label: object, where: str) -> str:
    if label is not None and not isinstance(label, str):
        raise UserError(f"{where}: label {label!r} is not text")
    if not label or not label.strip():
        raise UserError(f"{where}: empty label")
    label = canonical(label.strip())
    if "://" in label:  # a headerless manifest written path,label: every row would be its own class
        raise UserError(f"{where}: label {label!r} is a URL: are the columns the other way round (without a header,"
                        " an image manifest is label,path and a video manifest video,label)?")
    if ":" in label and not all(part.strip() for part in label.split(":", 1)):
        raise UserError(f"{where}: label {label!r} must be written 'Activity:Action'")
    return label


def check_activities(manifest: Manifest, taxonomy: Optional[Mapping[str, str]] = None) -> None:
    """Every label (of a video or a segment) needs an activity, which activity Hit@k scores:
    written ``Activity:Action``, or given by ``taxonomy`` (label -> activity)."""
    for row in manifest.rows:
        for label in (row.label, *(s.label for s in row.segments)):
            if ":" not in label and label not in (taxonomy or {}):
                mapped = " or be mapped by the taxonomy" if taxonomy is not None else ""
                raise UserError(f"{row.where}: label {label!r} must be written 'Activity:Action'{mapped}")


def _row(fields: Mapping[str, object], where: str, base: str, ratios: Mapping[str, float]) -> VideoRow:
    video = fields.get("video")
    if not isinstance(video, str) or not video.strip():
        raise UserError(f"{where}: empty video path")
    video = os.path.expanduser(video.strip())  # ``~/clips/a.mp4`` is the home folder's, as in the config
    if not is_remote(video) and not os.path.isabs(video) and not video.startswith("file://"):
        video = f"{base}/{video}" if is_remote(base) else os.path.join(base, video)
    if not is_remote(video) and not video.startswith("file://"):
        video = os.path.normpath(video)  # `a.mp4` and `./a.mp4` are one file, not two rows
    label = check_label(fields.get("label"), where)
    given = fields.get("id")
    video_id = ("" if given is None else str(given)).strip() or os.path.splitext(os.path.basename(video))[0]
    split = str(fields.get("split") or "").strip() or split_of(video_id, ratios)
    if split not in names.SPLITS:
        raise UserError(f"{where}: split {split!r} is not one of {list(names.SPLITS)}")
    segments = tuple(_segments(fields.get("segments"), label, where))
    ambiguous = tuple(Segment(s.start, s.end, AMBIGUOUS)
                      for s in _segments(fields.get("ambiguous"), AMBIGUOUS, f"{where} (ambiguous)"))
    return VideoRow(video_id, video, label, split, segments, where, ambiguous)


def _segments(value: object, label: str, where: str) -> Iterator[Segment]:
    """``[[s, e], [s, e, label], {"start", "end", "label"}, ...]`` or CSV ``s-e;s-e``."""
    if value is None or value == "":
        return
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as e:
                raise UserError(f"{where}: segments are not valid JSON ({e.msg})") from None
        else:
            value = [part.split("-", 1) for part in text.split(";") if part.strip()]
    if not isinstance(value, list):
        raise UserError(f"{where}: segments must be a list, got {value!r}")
    for item in value:
        try:
            if isinstance(item, (str, bytes)):
                raise TypeError(item)
            if isinstance(item, dict):
                start, end = item["segment"] if "segment" in item else (item["start"], item["end"])
                seg_label = item.get("label", label)
            elif len(item) in (2, 3):
                start, end, seg_label = (list(item) + [label])[:3]
            else:  # more would be lost, e.g. a second label
                raise ValueError(item)
            if isinstance(start, bool) or isinstance(end, bool):  # JSON true would read as 1 s
                raise TypeError(item)
            start, end = float(start), float(end)
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{where}: cannot read segment {item!r} (want [start, end] in seconds)") from None
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end < start:
            raise UserError(f"{where}: invalid segment [{start}, {end}] (need 0 <= start <= end)")
        yield Segment(start, end, check_label(seg_label, where))


def _annotated(row: VideoRow) -> Tuple[Tuple[Segment, ...], ...]:
    """A row's ground truth (empty when it has none), in time order: the same segments listed in
    another order are the same ground truth."""
    def ordered(segments):
        return tuple(sorted(segments, key=lambda s: (s.start, s.end, s.label)))

    return (ordered(row.segments), ordered(row.ambiguous)) if row.segments or row.ambiguous else ()


def dedupe(rows: Sequence[VideoRow]) -> Manifest:
    """Repeated rows are duplicates, and a repeat without segments leaves the annotated row's; one id
    with two different files, labels, splits or sets of segments is an error (which one holds?), and so
    is one file under two ids: it was ingested twice, maybe once in train and once in test (a test video
    the model trained on), or with two labels for the same frames."""
    kept: Dict[str, int] = {}
    by_file: Dict[str, VideoRow] = {}  # one key per local file however written (relative, file://)
    unique: List[VideoRow] = []
    duplicates: List[VideoRow] = []
    for row in rows:
        if row.video_id not in kept:
            other = by_file.setdefault(files.shown(row.uri), row)
            if other is not row:
                raise UserError(f"{row.where}: {row.uri} is listed at {other.where} already, as video"
                                f" {other.video_id!r} ({other.label}, {other.split}); one file is one video, keep"
                                " one row")
            kept[row.video_id] = len(unique)
            unique.append(row)
            continue
        seen = unique[kept[row.video_id]]
        if (seen.uri, seen.label) != (row.uri, row.label):
            raise UserError(f"{row.where}: video id {row.video_id!r} already used at {seen.where} for"
                            f" {seen.uri} ({seen.label}); ids must be unique (without an 'id' column a video's id is its"
                            " file name: add one to tell them apart)")
        if seen.split != row.split or (_annotated(seen) and _annotated(row) and _annotated(seen) != _annotated(row)):
            what = ("split" if seen.split != row.split else "set of segments"
                    if _annotated(seen)[0] != _annotated(row)[0] else "set of Ambiguous segments")
            raise UserError(f"{row.where}: video {row.video_id!r} repeats {seen.where} with another {what};"
                            " keep one row")
        if _annotated(row) and not _annotated(seen):
            unique[kept[row.video_id]], row = row, seen
        duplicates.append(row)
    return Manifest(unique, duplicates)


# --- THUMOS14 / ActivityNet ----------------------------------------------------------------

def from_annotations(annotations: str, video_dir: str, subset: Optional[str] = None,
                     split: Optional[str] = None, ratios: Mapping[str, float] = DEFAULT_RATIOS) -> Manifest:
    """Rows from a THUMOS14 annotation folder or ActivityNet JSON: each video's label is the
    class covering most of its annotated time; every segment keeps its own label. Ambiguous
    segments go with their videos (a video with nothing else has no label: left out, with the
    videos without segments)."""
    from laf.evaluate.annotations import read_ambiguous, read_ground_truth

    ratios = check_ratios(ratios)
    if split is not None and split not in names.SPLITS:
        raise UserError(f"split {split!r} is not one of {list(names.SPLITS)}")
    found, several = _video_files(video_dir)
    truth = read_ground_truth(annotations, subset)  # first: it names a path that is neither folder nor .json
    ambiguous = read_ambiguous(annotations, subset)
    rows, unlabelled = [], []
    for video_id, segments in truth.items():
        where = f"{annotations}: video {video_id}"
        if not segments and subset and video_id not in ambiguous:
            raise UserError(f"{where}: no annotated segments, so no label (choose a labelled subset)")
        if not segments:  # the whole file read: e.g. ActivityNet's testing subset, whose labels are withheld
            unlabelled.append(video_id)
            continue
        segments = [dataclasses.replace(s, label=check_label(s.label, where)) for s in segments]  # trimmed
        cover: Dict[str, float] = {}
        for s in segments:
            cover[s.label] = cover.get(s.label, 0.0) + (s.end - s.start)
        label = max(sorted(cover), key=lambda k: cover[k])
        stem = video_id if video_id in found else f"v_{video_id}"
        if stem in several:
            raise UserError(f"{where}: several files in {video_dir} are this video ({', '.join(several[stem])}):"
                            " keep one")
        uri = found.get(stem) or os.path.join(video_dir, f"{video_id}.mp4")
        rows.append(VideoRow(video_id, uri, label, split or split_of(video_id, ratios), tuple(segments), where,
                             tuple(ambiguous.get(video_id, ()))))
    if not rows:
        raise UserError(f"{annotations}: no annotated videos" + (f" ({len(unlabelled)} without segments, so"
                                                                 " without a label)" if unlabelled else ""))
    if unlabelled:
        log.warning("%s: %d video(s) without annotated segments, so without a label, are left out (e.g. %s)",
                    annotations, len(unlabelled), ", ".join(sorted(unlabelled)[:3]))
    return dedupe(rows)


def read_videos(manifest: str = "", annotations: str = "", video_dir: str = "", subset: str = "",
                ratios: Mapping[str, float] = DEFAULT_RATIOS) -> Manifest:
    """What a pipeline run ingests: a manifest's rows, or the videos of THUMOS14 / ActivityNet
    ``annotations`` (one ``subset`` of them; "" for the only one, or every one of an ActivityNet
    file) found in ``video_dir``, split by ``ratios``. Why one entry point: the preflight check,
    the cache fingerprint and VideoIngest must all read the same rows."""
    if manifest and annotations:
        raise UserError("give the videos as a manifest or as annotation files, not both")
    if not manifest and not annotations:
        raise UserError("no videos: give a manifest or annotation files")
    if not annotations:
        return read_manifest(manifest, ratios)
    if not video_dir:
        raise UserError(f"{annotations}: annotation files need the folder holding their videos")
    return from_annotations(annotations, video_dir, subset or None, None, ratios)


def _video_files(video_dir: str) -> Tuple[Dict[str, str], Dict[str, List[str]]]:
    """(stem -> path of the video files in ``video_dir``, stem -> names where several files share
    it, e.g. ``x.mkv`` beside ``x.mp4``: which is the video is the user's call). Local, or any
    ``tf.io.gfile`` location."""
    if not files.isdir(video_dir):
        raise UserError(f"video folder {video_dir} does not exist")
    found: Dict[str, str] = {}
    names_of: Dict[str, List[str]] = {}
    for name in sorted(files.listdir(video_dir)):
        stem, ext = os.path.splitext(name)
        if ext.lower() in VIDEO_EXTENSIONS:
            found.setdefault(stem, f"{video_dir.rstrip('/')}/{name}")
            names_of.setdefault(stem, []).append(name)
    return found, {stem: listed for stem, listed in names_of.items() if len(listed) > 1}


def load_vocabulary(vocabulary: Union[None, str, Vocabulary]) -> Optional[Vocabulary]:
    """A ``Vocabulary`` from ``labels.json`` (or its folder); ``UserError`` if it cannot be read."""
    if vocabulary is None or isinstance(vocabulary, Vocabulary):
        return vocabulary
    try:
        return Vocabulary.load(vocabulary)
    except Exception as e:  # noqa: BLE001 -- missing file, bad JSON: the user named the wrong thing
        raise UserError(f"cannot read the label vocabulary {vocabulary}: {e}") from None
