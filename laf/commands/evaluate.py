"""``laf evaluate``: temporal-localization mAP of an ActivityNet result file against ground truth, by the
ActivityNet computation (every other mAP of the project) or, with ``--protocol thumos14``, as the
THUMOS14 kit computes it (``laf.evaluate.thumos14``)."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Dict, List, Mapping, Optional, Sequence

from laf.errors import UserError
from laf.evaluate.evaluation import PAPER_TIOUS, APResult, distinct_tiou_keys, tiou_key
from laf.evaluate.thumos14 import PROTOCOLS
from schemas.segment import Detection, Segment


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ground-truth", required=True, metavar="GT",
                        help="ActivityNet ground-truth JSON, or a folder of THUMOS14 annotation files")
    parser.add_argument("--predictions", required=True, metavar="PRED", help="ActivityNet result JSON")
    parser.add_argument("--tiou", default=",".join(tiou_key(t) for t in PAPER_TIOUS),
                        help="comma-separated tIoU thresholds (default: %(default)s, as the paper)")
    parser.add_argument("--subset", default=None,
                        help="THUMOS14 subset (val/test) or ActivityNet subset (e.g. validation)")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="activitynet",
                        help="activitynet: tIoU >= t, matched in score order, all-point interpolated AP (as the"
                             " Evaluator and the benches); thumos14: the THUMOS14 kit's (tIoU > t, matched from"
                             " the ground truth's side, non-interpolated AP), comparable with papers using the kit")
    parser.add_argument("--no-ambiguous", action="store_true",
                        help="count false positives on THUMOS14 'Ambiguous' segments instead of ignoring them")
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")


def parse_tious(text: str, protocol: str = "activitynet") -> List[float]:
    """The thresholds, in (0, 1]; the THUMOS14 kit matches on tIoU > t, so there 1 could never match."""
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"--tiou must be comma-separated numbers, got {text!r}") from None
    if not values or any(not 0.0 < v <= 1.0 for v in values):
        raise UserError(f"--tiou thresholds must lie in (0, 1], got {text!r}")
    if protocol == "thumos14" and 1.0 in values:
        raise UserError("--tiou 1 with --protocol thumos14: the kit counts a match at tIoU > t, which 1 never is")
    values = sorted(set(values))  # one column each, in order: 0.5 and 0.50 are one threshold
    if not distinct_tiou_keys(values):
        raise UserError(f"--tiou thresholds {text!r} differ beyond the digits their results are named by")
    return values


def format_table(result: APResult) -> str:
    keys = [tiou_key(t) for t in result.tious]
    width = max([len("class")] + [len(c) for c in result.ap])
    lines = [f"{'class':<{width}}  " + "  ".join(f"{k:>6}" for k in keys)]
    for label, ap in result.ap.items():
        lines.append(f"{label:<{width}}  " + "  ".join(f"{v:6.4f}" for v in ap))
    lines.append(f"{'mAP':<{width}}  " + "  ".join(f"{v:6.4f}" for v in result.mAP))
    lines.append(f"average mAP over tIoU {keys[0]}..{keys[-1]}: {result.average_mAP:.4f}")
    return "\n".join(lines)


def _spellings(video: str) -> List[str]:
    """Other ids a predicted video may have in the ground truth: ActivityNet downloads are files
    ``v_<id>.mp4``, and ``laf localize`` names a video by its file name's stem."""
    from laf.ingest.manifest import VIDEO_EXTENSIONS

    stem = video[:-len(video.rsplit(".", 1)[-1]) - 1] if video.lower().endswith(VIDEO_EXTENSIONS) else video
    return [x for x in (stem, stem[2:] if stem.startswith("v_") else f"v_{stem}") if x != video]


def matched_to_ground_truth(detections: Sequence[Detection], gt: Mapping[str, Sequence[Segment]],
                            subset: Optional[str]) -> List[Detection]:
    """The detections, each predicted video not in the ground truth renamed to the one spelling of
    its id the ground truth has (``v_x`` as ``x``, ``x.mp4`` as ``x``), said on stderr. None of them
    in it is an error: their detections could only be false positives, a table of zeros. Some of
    them not in it (another subset, renamed ids) is said, as they only count as false positives."""
    predicted = sorted({d.video_id for d in detections})
    sources: Dict[str, List[str]] = {}  # ground-truth id -> the predicted ids spelled as it
    for video in (v for v in predicted if v not in gt):
        found = [x for x in _spellings(video) if x in gt]
        if len(found) == 1:
            sources.setdefault(found[0], []).append(video)
    clashes = {target: ids for target, ids in sources.items() if len(ids) > 1 or target in predicted}
    if clashes:  # two result lists of one video, scored together: one's detections all false positives
        target, ids = next(iter(sorted(clashes.items())))
        raise UserError(f"predicted videos {sorted(set(ids + [target]) & set(predicted))} are all ground-truth video"
                        f" {target!r} by their ids: keep one")
    renamed = {ids[0]: target for target, ids in sources.items()}
    if renamed:
        first = next(iter(renamed.items()))
        print(f"note: {len(renamed)} predicted video id(s) matched the ground truth by another spelling (e.g."
              f" {first[0]!r} as {first[1]!r})", file=sys.stderr)
        detections = [dataclasses.replace(d, video_id=renamed.get(d.video_id, d.video_id)) for d in detections]
    unknown = sorted({d.video_id for d in detections} - set(gt))
    where = f" of subset {subset!r}" if subset else ""
    if len(unknown) == len(predicted):
        raise UserError(f"none of the {len(predicted)} predicted videos is in the ground truth{where} (e.g."
                        f" {unknown[0]!r}, ground truth e.g. {sorted(gt)[0]!r}): check --subset and the video ids")
    if unknown:
        print(f"note: {len(unknown)} of the {len(predicted)} predicted videos are not in the ground truth{where}"
              f" (e.g. {unknown[0]!r}): their detections count as false positives", file=sys.stderr)
    return list(detections)


def _unmatched(detections, classes, shown: int = 5) -> str:
    """The detections' classes the ground truth lacks, each with the ground-truth class it equals but
    for case or spacing: the usual cause is two spellings, whose AP then counts as 0."""
    def key(label: str) -> str:
        return " ".join(label.casefold().split())

    alike = {key(c): c for c in classes}
    missing = sorted({d.label for d in detections} - set(classes))
    named = [f"{c!r}" + (f", ground truth has {alike[key(c)]!r}" if key(c) in alike else "") for c in missing[:shown]]
    return "; ".join(named) + ("; ..." if len(missing) > shown else "")


def run(args: argparse.Namespace) -> int:
    from laf.evaluate import annotations, thumos14
    from laf.ingest.manifest import look_alikes

    tious = parse_tious(args.tiou, args.protocol)
    gt = annotations.read_ground_truth(args.ground_truth, args.subset, one_subset=True)
    if not any(gt.values()):
        raise UserError(f"{args.ground_truth} holds no ground-truth segments")
    detections = annotations.read_results(args.predictions)
    if not detections:
        raise UserError(f"{args.predictions} holds no detections")
    detections = matched_to_ground_truth(detections, gt, args.subset)
    ambiguous = None if args.no_ambiguous else annotations.read_ambiguous(args.ground_truth, args.subset)
    classes = {s.label for segs in gt.values() for s in segs}
    for alike in look_alikes(classes):  # one of them likely got no detection of its spelling: AP 0
        print(f"note: ground-truth classes {alike} differ only in case or spacing: scored as {len(alike)} classes",
              file=sys.stderr)
    ignored = sum(d.label not in classes for d in detections)
    if ignored:
        print(f"note: {ignored} detections of classes without ground truth were ignored"
              f" ({_unmatched(detections, classes)})", file=sys.stderr)
    result = thumos14.by_protocol(args.protocol)(gt, detections, tious, ambiguous)
    print(json.dumps(result.to_dict()) if args.json else format_table(result))
    return 0
