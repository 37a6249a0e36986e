"""The whole demo data set on disk: written once per settings, reused when complete, replaced
when not. Layout written under ``output_dir`` (see ``generate``)::

    videos/<video_id>.mp4             H.264, yuv420p, ``frame_size`` at ``fps``; the id names the split
    manifest.csv                      video,label,split,segments,ambiguous (paths relative to it;
                                      segments as JSON [[start, end], ...] in seconds, every split)
    annotations/thumos14/<label>_<split>.txt and Ambiguous_<split>.txt   "video start end"
    annotations/activitynet.json      ActivityNet v1.3 style (subsets training/validation/testing;
                                      "url" is the video path relative to the output folder)
    images/<label>/img_NNNN.jpg       one folder per action, named by its full label
    images_truth.json                 "<label>/<file>" -> kind, style, drawn label
    demo_data.json                    the config, hierarchy, counts and paths
    backbone/                         the calibrated backbone weights (``laf.demo.probe``)
"""
from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import sys
from typing import Optional, Sequence

from laf import files
from laf.cpu import usable_cores
from laf.demo.images import render_images
from laf.demo.looks import check_visible, scenes_and_looks
from laf.demo.settings import (ACTIVITYNET_SUBSET, DEMO_INPUT_SIZE, DEMO_LAYER, KINDS, PARTIAL, PATHS, VERSION,
                               DemoConfig, config_record, labels_for)
from laf.demo.videos import VideoPlan, plan_videos, render_videos, video_path
from laf.errors import UserError
from schemas.names import SPLITS


def _write_annotations(output_dir: str, config: DemoConfig, plans: Sequence[VideoPlan]) -> None:
    labels = [l for ls in labels_for(config).values() for l in ls]
    thumos = os.path.join(output_dir, PATHS["thumos14"])
    os.makedirs(thumos, exist_ok=True)
    for split in SPLITS:
        for cls in labels + ["Ambiguous"]:
            lines = []
            for p in plans:
                if p.split != split:
                    continue
                spans = p.ambiguous if cls == "Ambiguous" else (p.segments if p.label == cls else [])
                lines += [f"{p.video_id} {s:.2f} {e:.2f}\n" for s, e in spans]
            with open(os.path.join(thumos, f"{cls}_{split}.txt"), "w") as f:
                f.writelines(lines)
    taxonomy = [{"nodeId": 0, "nodeName": "Root", "parentId": None, "parentName": None}]
    for activity, acts in labels_for(config).items():
        aid = len(taxonomy)
        taxonomy.append({"nodeId": aid, "nodeName": activity, "parentId": 0, "parentName": "Root"})
        taxonomy += [{"nodeId": aid + k + 1, "nodeName": l, "parentId": aid, "parentName": activity}
                     for k, l in enumerate(acts)]
    database = {p.video_id: {
        "subset": ACTIVITYNET_SUBSET[p.split], "duration": p.duration,
        "url": video_path(p),
        "annotations": [{"segment": [s, e], "label": p.label} for s, e in p.segments]}
        for p in plans}
    anet = os.path.join(output_dir, PATHS["activitynet"])
    with open(anet, "w") as f:
        json.dump({"version": "demo", "taxonomy": taxonomy, "database": database}, f, indent=1)
    with open(os.path.join(output_dir, PATHS["manifest"]), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["video", "label", "split", "segments", "ambiguous"])
        w.writerows([video_path(p), p.label, p.split, json.dumps([list(x) for x in p.segments]),
                     json.dumps([list(x) for x in p.ambiguous])] for p in plans)


def generate(output_dir: str, config: DemoConfig = DemoConfig(), workers: Optional[int] = None) -> dict:
    """Write the whole demo data set under ``output_dir``; returns what ``demo_data.json`` holds.
    ``workers``: processes that render videos (default: the usable cores)."""
    config.validate()
    scenes, looks = scenes_and_looks(config)
    check_visible(scenes, looks, config.sibling_scene_shift)  # also in ensure_generated, before a set is removed
    plans = plan_videos(config)
    os.makedirs(os.path.join(output_dir, PATHS["videos"]), exist_ok=True)
    open(os.path.join(output_dir, PARTIAL), "w").close()  # ours, though not complete yet
    render_videos(output_dir, config, plans, scenes, looks, usable_cores() if workers is None else workers)
    _write_annotations(output_dir, config, plans)
    truth = render_images(output_dir, config, scenes, looks)
    with open(os.path.join(output_dir, PATHS["images_truth"]), "w") as f:
        json.dump(truth, f, indent=1, sort_keys=True)
    action_time = sum(e - s for p in plans for s, e in p.segments)
    info = {
        "version": VERSION,
        "config": dataclasses.asdict(config),
        "activities": labels_for(config),
        "looks": {l: dataclasses.asdict(v) for l, v in looks.items()},
        "videos": {s: sum(p.split == s for p in plans) for s in SPLITS},
        "total_video_seconds": sum(p.duration for p in plans),
        "action_fraction": action_time / sum(p.duration for p in plans),
        "images": {k: sum(t["kind"] == k for t in truth.values()) for k in KINDS},
        "paths": PATHS,
        "backbone": {"name": "mobilenet_v3_small", "layer": DEMO_LAYER, "input_size": DEMO_INPUT_SIZE,
                     "note": ("no pretrained weights offline: demo_backbone() calibrates a random-init "
                              "backbone's BatchNorm statistics on these media")},
    }
    files.write_atomic(os.path.join(output_dir, "demo_data.json"), json.dumps(info, indent=1).encode())
    os.remove(os.path.join(output_dir, PARTIAL))
    return info


def _missing_media(output_dir: str, info: dict) -> Optional[str]:
    """What of a complete set's files is gone (None if nothing): a set whose files were removed must
    not pass for complete, or ingestion rejects every missing file (and without its manifest every
    run fails)."""
    for key in ("manifest", "images_truth"):
        if not os.path.isfile(os.path.join(output_dir, PATHS[key])):
            return f"it has no {PATHS[key]}"
    for kind in ("videos", "images"):
        have = sum(len(names) for _, _, names in os.walk(os.path.join(output_dir, PATHS[kind])))
        want = sum(info[kind].values())
        if have < want:
            return f"it holds only {have} of its {want} {kind}"
    return None


def ensure_generated(output_dir: str, config: DemoConfig = DemoConfig()) -> dict:
    """The data under ``output_dir``: reused when a complete set with the same config is
    there (``demo_data.json`` is written last), generated otherwise, after removing what an earlier
    set left: images and videos a smaller set does not overwrite would be ingested with it, and a
    backbone calibrated on other media would be reused. Only a folder this module wrote (a set,
    complete or interrupted) is emptied: a folder holding anything else is refused."""
    config.validate()
    check_visible(*scenes_and_looks(config), config.sibling_scene_shift)  # refused before the old set goes
    path = os.path.join(output_dir, "demo_data.json")
    interrupted = os.path.exists(os.path.join(output_dir, PARTIAL))
    ours = os.path.exists(path) or interrupted
    replacing = None  # why a complete set is replaced
    if ours and not interrupted:
        info = load_info(output_dir)
        if info is None:
            replacing = "its demo_data.json is unreadable"
        elif info["version"] != VERSION or info["config"] != config_record(config):
            replacing = "its settings differ"
        else:
            missing = _missing_media(output_dir, info)
            if missing is None:
                return info
            replacing = missing
    names = [*PATHS.values(), "demo_data.json", PARTIAL]
    if not ours:
        found = sorted(n for n in names if os.path.lexists(os.path.join(output_dir, n)))
        if found:
            raise UserError(f"{output_dir} holds {', '.join(found)} but no demo data set: the demo data "
                            "would replace them; choose a new or empty folder")
    else:
        if replacing:
            print(f"replacing the demo data set under {output_dir}: {replacing}", file=sys.stderr, flush=True)
        open(os.path.join(output_dir, PARTIAL), "w").close()  # still ours if interrupted while emptied
    for name in names[:-1]:
        old = os.path.join(output_dir, name)
        if os.path.isdir(old) and not os.path.islink(old):
            shutil.rmtree(old)
        elif os.path.lexists(old):
            os.remove(old)
    return generate(output_dir, config)


def generated_config(output_dir: str) -> Optional[dict]:
    """The config of the complete data set under ``output_dir``; None when there is none."""
    info = load_info(output_dir)
    return info["config"] if info else None


def existing_config(output_dir: str) -> Optional[DemoConfig]:
    """The settings of the complete data set under ``output_dir`` as a ``DemoConfig``; None when there
    is none, or when it was written with settings this code no longer has (it is then regenerated)."""
    raw = generated_config(output_dir)
    if raw is None or set(raw) != {f.name for f in dataclasses.fields(DemoConfig)}:
        return None
    return DemoConfig(**{**raw, "frame_size": tuple(raw["frame_size"])})


def load_info(output_dir: str) -> Optional[dict]:
    """``demo_data.json``; None if it is unreadable or not what :func:`generate` writes (e.g. cut
    short by a full disk): the set is then written anew."""
    try:
        with open(os.path.join(output_dir, "demo_data.json")) as f:
            info = json.load(f)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):  # missing too
        return None
    keys = ("version", "config", "videos", "images")
    return info if isinstance(info, dict) and all(k in info for k in keys) else None
