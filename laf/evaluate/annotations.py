"""Ground-truth and result files of the two standard benchmarks.

- THUMOS14: a folder of ``<Class>_<subset>.txt`` files, one ``<video> <start> <end>`` line per segment;
  ``Ambiguous_<subset>.txt`` lists segments whose detections are neither right nor wrong.
- ActivityNet ground truth: ``{"database": {video: {"subset", "duration", "annotations":
  [{"segment": [start, end], "label"}]}}}``.
- ActivityNet results: ``{"version", "results": {video: [{"label", "score", "segment"}]},
  "external_data"}``.

Malformed input raises :class:`laf.errors.UserError` naming the file (and line).
"""
from __future__ import annotations

import json
import logging
import math
import os
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from laf import files
from laf.errors import UserError
from schemas.segment import AMBIGUOUS, Detection, Segment
from schemas.vocabulary import canonical

RESULTS_VERSION = "VERSION 1.3"

log = logging.getLogger(__name__)


def read_ground_truth(path: str, subset: Optional[str] = None, one_subset: bool = False) -> Dict[str, List[Segment]]:
    """Ground truth from a THUMOS14 folder or an ActivityNet ``.json`` file: video -> segments
    (``one_subset``: see :func:`read_activitynet`; a THUMOS14 folder always needs one)."""
    if files.isdir(path):
        return read_thumos14(path, subset)
    if path.lower().endswith(".json"):
        return read_activitynet(path, subset, one_subset)
    if not files.exists(path):
        raise UserError(f"ground truth {path!r} not found")
    raise UserError(f"ground truth {path!r} is neither a THUMOS14 annotation folder nor a .json file")


# --- THUMOS14 ----------------------------------------------------------------------------------

def thumos14_subsets(folder: str) -> Dict[str, Dict[str, str]]:
    """subset -> class -> path of the ``<Class>_<subset>.txt`` files of a folder (Ambiguous included)."""
    if not files.isdir(folder):
        raise UserError(f"THUMOS14 annotation folder {folder!r} does not exist")
    found: Dict[str, Dict[str, str]] = {}
    for name in sorted(files.listdir(folder)):
        stem, ext = os.path.splitext(name)
        if ext != ".txt" or "_" not in stem:
            continue
        label, file_subset = stem.rsplit("_", 1)
        label = canonical(label)  # a file name written decomposed (macOS)
        found.setdefault(file_subset, {})[label] = f"{folder.rstrip('/')}/{name}"
    return found


def _chosen_subset(folder: str, subset: Optional[str]) -> Tuple[str, Dict[str, Dict[str, str]]]:
    """(the subset read, :func:`thumos14_subsets` of the folder): ``subset``, else the folder's only one."""
    found = thumos14_subsets(folder)
    if not found:
        raise UserError(f"{folder!r} holds no THUMOS14 annotation files (<Class>_<subset>.txt)")
    if subset is None:
        if len(found) > 1:
            raise UserError(f"{folder!r} holds several subsets {sorted(found)}; choose one"
                            " (--subset, or data.subset in a pipeline config)")
        subset = next(iter(found))
    if subset not in found:
        raise UserError(f"{folder!r} has no annotation files of subset {subset!r} (found {sorted(found)})")
    return subset, found


def _read_thumos_file(path: str, label: str) -> Dict[str, List[Segment]]:
    """One class's segments; exactly three columns (a fourth, or a lost line break that joins two
    lines, would otherwise drop a value or a segment unseen)."""
    out: Dict[str, List[Segment]] = {}
    first: Dict[tuple, str] = {}
    for number, line in enumerate(files.read_text(path).splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        try:
            if len(fields) != 3:
                raise ValueError(line)
            video, start, end = fields[0], float(fields[1]), float(fields[2])
        except ValueError:
            raise UserError(f"{path}:{number}: expected '<video> <start> <end>', got {line.strip()!r}") from None
        where = f"{path}:{number}"
        _check_segment(start, end, where)
        segment = Segment(start, end, label)
        if label != AMBIGUOUS:  # an Ambiguous segment is never a positive
            _note_ground_truth(where, video, segment, first)
        out.setdefault(video, []).append(segment)
    if not out and label != AMBIGUOUS:
        log.warning("%s holds no segments: class %s is left out of the mAP", path, label)
    return out


def _note_ground_truth(where: str, video: str, segment: Segment, first: Dict[tuple, str],
                       duration: Optional[float] = None) -> None:
    """Warn of a ground-truth segment that can only count as missed, though kept as the benchmarks'
    kits keep it: a repeat (two positives, one of them unmatchable), zero length (tIoU 0 with any
    detection), or one past the video's known ``duration``."""
    start, end = segment.start, segment.end
    key = (video, start, end, segment.label)
    if key in first:
        log.warning("%s repeats the segment of %s: counted twice, so one copy can only be missed", where, first[key])
    first.setdefault(key, where)
    if end == start:
        log.warning("%s: zero-length segment [%g, %g] of %s can never be matched", where, start, end, video)
    if duration is not None and start >= duration:
        log.warning("%s: segment [%g, %g] starts at or after the end of %s (%g s): times in another unit?",
                    where, start, end, video, duration)


def _merge(parts: Iterable[Dict[str, List[Segment]]]) -> Dict[str, List[Segment]]:
    merged: Dict[str, List[Segment]] = {}
    for part in parts:
        for video, segments in part.items():
            merged.setdefault(video, []).extend(segments)
    return {v: sorted(s, key=lambda seg: (seg.start, seg.end, seg.label)) for v, s in sorted(merged.items())}


def read_thumos14(folder: str, subset: Optional[str] = None) -> Dict[str, List[Segment]]:
    """Action segments of one subset (``val``/``test``; may be omitted if the folder holds one)."""
    subset, found = _chosen_subset(folder, subset)
    by_label = found[subset]
    elsewhere = sorted({label for other in found.values() for label in other} - set(by_label) - {AMBIGUOUS})
    if elsewhere:  # e.g. Header_Test.txt beside Kick_test.txt: that class would silently leave the mAP
        log.warning("%s: class(es) %s have annotation files of other subsets (%s) but none of %r: left out of"
                    " the mAP", folder, ", ".join(elsewhere), ", ".join(s for s in sorted(found) if s != subset),
                    subset)
    return _merge(_read_thumos_file(path, label) for label, path in by_label.items() if label != AMBIGUOUS)


def read_ambiguous(folder: str, subset: Optional[str] = None) -> Dict[str, List[Segment]]:
    """The ``Ambiguous`` segments of one subset of a THUMOS14 folder or an ActivityNet ``.json`` file
    (empty if it has none)."""
    if not files.isdir(folder) and folder.lower().endswith(".json"):
        return read_activitynet(folder, subset, ambiguous=True)
    subset, found = _chosen_subset(folder, subset)
    path = found[subset].get(AMBIGUOUS)
    return _merge([_read_thumos_file(path, AMBIGUOUS)]) if path else {}


def write_thumos14(folder: str, gt: Mapping[str, Sequence[Segment]], subset: str) -> List[str]:
    """One ``<label>_<subset>.txt`` per label (``Ambiguous`` segments included); returns the paths."""
    by_label: Dict[str, List[str]] = {}
    for video, segments in sorted(gt.items()):
        if any(c.isspace() for c in video):
            raise UserError(f"video id {video!r} contains whitespace; THUMOS14 files cannot hold it")
        for s in segments:
            if "/" in s.label or os.sep in s.label:
                raise UserError(f"label {s.label!r} cannot be a THUMOS14 file name")
            by_label.setdefault(s.label, []).append(f"{video} {float(s.start)!r} {float(s.end)!r}\n")
    os.makedirs(folder, exist_ok=True)
    paths = []
    for label, lines in sorted(by_label.items()):
        path = os.path.join(folder, f"{label}_{subset}.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(lines)
        paths.append(path)
    return paths


# --- ActivityNet ---------------------------------------------------------------------------------

def _load_json(path: str) -> dict:
    try:
        data = files.json_loads(files.read_text(path), path)
    except ValueError as e:  # JSONDecodeError, or an integer of more digits than Python converts
        raise UserError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object at the top level")
    return data


def _check_segment(start: float, end: float, where: str, truth: bool = True) -> None:
    """A ground-truth segment needs finite 0 <= start <= end, as a manifest's; a detection (``truth``
    False) may start before 0, as a method's boundary regression gives and the benchmarks' kits take."""
    if not (math.isfinite(start) and math.isfinite(end)) or end < start or (truth and start < 0):
        bounds = "0 <= start <= end" if truth else "start <= end"
        raise UserError(f"{where}: invalid segment [{start}, {end}] (need finite {bounds})")


def _is_json_number(value) -> bool:
    """A JSON number: ``true`` and ``"0.5"`` are not (float() would take both)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _segment(entry, where: str, truth: bool = True):
    try:
        bounds = entry["segment"]
        if not isinstance(bounds, list) or not all(map(_is_json_number, bounds)):
            raise TypeError(entry)
        start, end = (float(x) for x in bounds)
    except (KeyError, TypeError, ValueError, OverflowError):  # a 400-digit integer: too large for a float
        raise UserError(f"{where}: expected \"segment\": [start, end], got {entry!r}") from None
    _check_segment(start, end, where, truth)
    return start, end


def _label(entry, where: str) -> str:
    """An entry's label: a non-empty string (``null`` or a number would become a class of its own)."""
    label = entry.get("label") if isinstance(entry, dict) else None
    if not isinstance(label, str) or not label.strip():
        raise UserError(f"{where}: \"label\" must be a non-empty string, got {entry!r}")
    return canonical(label.strip())  # as ingestion reads a manifest's labels (check_label)


def read_activitynet(path: str, subset: Optional[str] = None, one_subset: bool = False,
                     ambiguous: bool = False) -> Dict[str, List[Segment]]:
    """Ground truth of an ActivityNet JSON file (optionally one ``subset``, e.g. ``validation``).
    ``one_subset``: refuse a file of several subsets when none is chosen (scoring against all of
    them counts the training videos' segments as missed). Segments labelled ``Ambiguous`` (in any
    case: THUMOS14 converted to this format keeps them so) are left out, or with ``ambiguous`` are
    the only ones read: scored as a class of their own they lowered the mAP, and detections on
    them counted as wrong."""
    database = _load_json(path).get("database")
    if not isinstance(database, dict):
        raise UserError(f"{path}: no \"database\" object; is this ActivityNet ground truth?")
    subsets = sorted({str(info["subset"]) for info in database.values() if isinstance(info, dict) and "subset" in info})
    if one_subset and subset is None and len(subsets) > 1:
        raise UserError(f"{path} holds the subsets {subsets}: choose one (--subset)")
    if subset is not None and subsets and subset not in subsets:
        raise UserError(f"{path} has no subset {subset!r} (found {subsets})")
    out: Dict[str, List[Segment]] = {}
    for video, info in database.items():
        if not isinstance(info, dict) or not isinstance(info.get("annotations", []), list):
            raise UserError(f"{path}: {video}: expected {{\"annotations\": [...], ...}}, got {info!r}")
        if subset is not None and "subset" not in info:  # not silently left out of subset's scoring
            raise UserError(f"{path}: {video} has no \"subset\", and subset {subset!r} was chosen (--subset, or"
                            " data.subset in a pipeline config)")
        if subset is not None and str(info.get("subset")) != subset:  # as the subsets are listed
            continue
        segments, first = [], {}
        duration = info.get("duration")
        try:
            duration = float(duration) if _is_json_number(duration) and duration > 0 else None
        except OverflowError:  # a 400-digit integer: ignored, as a missing duration is
            duration = None
        for i, ann in enumerate(info.get("annotations", [])):
            where = f"{path}: {video} annotation {i}"
            label, bounds = _label(ann, where), _segment(ann, where)  # each entry checked, whichever is read
            if (label.casefold() == AMBIGUOUS.casefold()) != ambiguous:
                continue
            segment = Segment(*bounds, AMBIGUOUS if ambiguous else label)
            if not ambiguous:  # an Ambiguous segment is never a positive
                _note_ground_truth(where, video, segment, first, duration)
            segments.append(segment)
        if segments or not ambiguous:
            out[video] = segments
    return out


def write_activitynet(path: str, gt: Mapping[str, Sequence[Segment]],
                      durations: Optional[Mapping[str, float]] = None, subset: str = "validation") -> None:
    """ActivityNet ground-truth JSON; videos without segments are kept (they hold only background)."""
    database = {}
    for video, segments in gt.items():
        entry = {"subset": subset,
                 "annotations": [{"segment": [s.start, s.end], "label": s.label} for s in segments]}
        if durations is not None and video in durations:
            entry["duration"] = float(durations[video])
        database[video] = entry
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"version": RESULTS_VERSION, "database": database}, f, indent=1)


def write_results(path: str, detections: Iterable[Detection]) -> None:
    """ActivityNet-style result JSON of the detections."""
    results: Dict[str, list] = {}
    for d in detections:
        results.setdefault(d.video_id, []).append(
            {"label": d.label, "score": float(d.score), "segment": [float(d.start), float(d.end)]})
    document = {"version": RESULTS_VERSION, "results": results, "external_data": {}}
    files.write_atomic(path, json.dumps(document).encode("utf-8"))  # whole or not at all


def read_results(path: str) -> List[Detection]:
    """Detections of an ActivityNet-style result JSON, in file order."""
    results = _load_json(path).get("results")
    if not isinstance(results, dict):
        raise UserError(f"{path}: no \"results\" object; is this an ActivityNet result file?")
    out = []
    for video, entries in results.items():
        if not isinstance(entries, list):
            raise UserError(f"{path}: {video}: expected a list of results, got {entries!r}")
        for i, e in enumerate(entries):
            where = f"{path}: {video} result {i}"
            try:
                label, score = _label(e, where), e["score"]
                if not _is_json_number(score):
                    raise TypeError(e)
                score = float(score)
            except (KeyError, TypeError, ValueError, OverflowError):
                raise UserError(f"{where}: expected \"label\" and a numeric \"score\", got {e!r}") from None
            if not math.isfinite(score):
                raise UserError(f"{where}: score {score} is not finite")
            out.append(Detection(video, *_segment(e, where, truth=False), label, score))
    return out
