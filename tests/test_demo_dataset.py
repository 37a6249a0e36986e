"""The demo data set on disk: deterministic real media, parseable ground truth, reuse and replacement."""
from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import subprocess
import sys

import pytest

from demo_fixtures import TINY, manifest
from laf.cpu import usable_cores
from laf.demo.dataset import ensure_generated, existing_config, generate, generated_config
from laf.demo.settings import ACTIVITYNET_SUBSET, PARTIAL, config_record
from laf.errors import UserError
from schemas.names import SPLITS


def _digests(root: str) -> dict:
    out = {}
    for path in sorted(glob.glob(os.path.join(root, "videos", "*.mp4")) + glob.glob(os.path.join(root, "*.*")) +
                       glob.glob(os.path.join(root, "images", "*", "*.jpg"))):
        with open(path, "rb") as f:
            out[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def test_same_seed_same_bytes_other_seed_other_media(tiny_demo, tmp_path):
    """Also: rendering in one process gives the bytes that two rendering processes gave."""
    root, _ = tiny_demo
    again = str(tmp_path / "again")
    generate(again, TINY, workers=1)
    first = _digests(root)
    assert len(first) == 12 + 4 * 9 + 3  # videos, images, manifest + truth + demo_data.json
    assert _digests(again) == first
    other = str(tmp_path / "other")
    generate(other, dataclasses.replace(TINY, seed=8))
    changed = {k for k, v in _digests(other).items() if first.get(k) != v}
    assert len(changed) == len(first)


def test_a_set_of_other_settings_replaces_the_old_one_whole(tmp_path):
    root = str(tmp_path / "data")
    ensure_generated(root, dataclasses.replace(TINY, images_per_action=4))
    os.makedirs(os.path.join(root, "backbone"))
    open(os.path.join(root, "backbone", "calibrated_on_the_old_media.weights.h5"), "wb").close()
    ensure_generated(root, TINY)
    fresh = str(tmp_path / "fresh")
    ensure_generated(fresh, TINY)
    assert _digests(root) == _digests(fresh)  # no image of the larger set left to be ingested
    assert not os.path.exists(os.path.join(root, "backbone"))


def test_the_settings_of_a_set_read_back_keep_it(tiny_demo):
    """What `laf run` without --config does: keep the set `laf demo --seed/--looks/...` made."""
    root, _ = tiny_demo
    kept = existing_config(root)
    assert kept == TINY
    before = _digests(root), os.stat(os.path.join(root, "demo_data.json")).st_mtime_ns
    ensure_generated(root, kept)
    assert (_digests(root), os.stat(os.path.join(root, "demo_data.json")).st_mtime_ns) == before
    assert existing_config(os.path.join(root, "nothing here")) is None


def test_a_folder_that_holds_no_demo_set_is_refused_not_emptied(tmp_path):
    mine = tmp_path / "mine"
    (mine / "videos").mkdir(parents=True)
    (mine / "videos" / "my_clip.mp4").write_bytes(b"precious")
    (mine / "manifest.csv").write_text("video,label\n")
    with pytest.raises(UserError, match="holds manifest.csv, videos but no demo data set"):
        ensure_generated(str(mine), TINY)
    assert (mine / "videos" / "my_clip.mp4").read_bytes() == b"precious"
    with pytest.raises(UserError, match="seed must be >= 0"):
        ensure_generated(str(tmp_path / "new"), dataclasses.replace(TINY, seed=-1))


def test_an_interrupted_set_is_replaced(tmp_path):
    root = tmp_path / "data"
    (root / "images" / "A").mkdir(parents=True)
    (root / "images" / "A" / "left_over.png").write_bytes(b"x")
    (root / PARTIAL).write_bytes(b"")
    ensure_generated(str(root), TINY)
    assert not (root / "images" / "A" / "left_over.png").exists() and not (root / PARTIAL).exists()
    assert generated_config(str(root)) == config_record(TINY)


def test_a_set_with_missing_media_or_a_broken_description_is_not_taken_as_complete(tmp_path, capsys):
    root = tmp_path / "data"
    ensure_generated(str(root), TINY)
    whole = _digests(str(root))
    for video in sorted((root / "videos").iterdir())[:2]:
        video.unlink()
    ensure_generated(str(root), TINY)
    assert "it holds only 10 of its 12 videos" in capsys.readouterr().err
    assert _digests(str(root)) == whole
    (root / "manifest.csv").unlink()  # before, a set without its manifest passed as complete: every run then failed
    ensure_generated(str(root), TINY)
    assert "it has no manifest.csv" in capsys.readouterr().err
    assert _digests(str(root)) == whole
    for broken in ("{", "[]", '{"version": 1}'):  # cut short (a full disk), or not what generate writes
        (root / "demo_data.json").write_text(broken)
        assert existing_config(str(root)) is None
        ensure_generated(str(root), TINY)
        assert "its demo_data.json is unreadable" in capsys.readouterr().err
        assert _digests(str(root)) == whole


def test_manifest_splits_and_labels(tiny_demo):
    root, info = tiny_demo
    rows = manifest(root)
    assert list(rows[0]) == ["video", "label", "split", "segments", "ambiguous"]
    assert info["activities"] == {"Basketball": ["Basketball:JumpShot", "Basketball:SlamDunk"],
                                  "Soccer": ["Soccer:Dribble", "Soccer:Header"]}
    for label in ("Basketball:JumpShot", "Soccer:Header"):
        assert sorted(r["split"] for r in rows if r["label"] == label) == ["eval", "test", "train"]
    assert all(os.path.exists(r["video"]) and r["segments"] for r in rows)


def _thumos(root):
    out = {}
    for path in glob.glob(os.path.join(root, "annotations", "thumos14", "*.txt")):
        cls, subset = os.path.basename(path)[:-4].rsplit("_", 1)
        with open(path) as f:
            for line in f:
                vid, start, end = line.split()
                out.setdefault((cls, subset), []).append((vid, float(start), float(end)))
    return out


def test_thumos14_and_activitynet_ground_truth_agree(tiny_demo):
    root, info = tiny_demo
    rows = {os.path.basename(r["video"])[:-4]: r for r in manifest(root)}
    with open(os.path.join(root, info["paths"]["activitynet"])) as f:
        anet = json.load(f)
    db = anet["database"]
    assert set(db) == set(rows)
    names = {n["nodeName"]: n for n in anet["taxonomy"]}
    for activity, labels in info["activities"].items():
        assert all(names[l]["parentName"] == activity for l in labels)
    thumos = _thumos(root)
    assert {s for _, s in thumos} <= set(SPLITS)
    from_thumos = {}
    ambiguous = {}
    for (cls, subset), lines in thumos.items():
        for vid, s, e in lines:
            assert rows[vid]["split"] == subset
            assert 0 <= s < e <= db[vid]["duration"]
            if cls != "Ambiguous":
                assert rows[vid]["label"] == cls
                from_thumos.setdefault(vid, []).append([s, e])
            else:
                ambiguous.setdefault(vid, []).append([s, e])
    assert ("Ambiguous", "train") in thumos or ("Ambiguous", "test") in thumos or ("Ambiguous", "eval") in thumos
    for vid, entry in db.items():
        assert entry["subset"] == ACTIVITYNET_SUBSET[rows[vid]["split"]]
        assert all(a["label"] == rows[vid]["label"] for a in entry["annotations"])
        assert os.path.join(root, entry["url"]) == rows[vid]["video"]
        assert sorted(a["segment"] for a in entry["annotations"]) == rows[vid]["segments"]
        segs = sorted(a["segment"] for a in entry["annotations"])
        assert 1 <= len(segs) <= TINY.max_occurrences
        assert segs == sorted(from_thumos[vid])
        assert json.loads(rows[vid]["ambiguous"]) == sorted(ambiguous.get(vid, []))  # the manifest carries them too
        assert all(TINY.min_action - 0.25 <= e - s <= TINY.max_action + 0.25 for s, e in segs)
        assert all(b[0] - a[1] >= 2.5 for a, b in zip(segs, segs[1:]))


def test_project_readers_accept_the_manifest_and_ground_truth(tiny_demo):
    """What ingestion and evaluation will read: same videos, labels, splits and segments."""
    from laf.evaluate.annotations import read_ground_truth
    from laf.ingest.manifest import read_manifest

    root, _ = tiny_demo
    rows = {os.path.basename(r["video"])[:-4]: r for r in manifest(root)}
    read = read_manifest(os.path.join(root, "manifest.csv"))
    assert {r.video_id: (r.uri, r.label, r.split, [[s.start, s.end] for s in r.segments],
                         [[s.start, s.end] for s in r.ambiguous])
            for r in read.rows} == {
        k: (r["video"], r["label"], r["split"], r["segments"], json.loads(r["ambiguous"])) for k, r in rows.items()}
    for split, subset in ACTIVITYNET_SUBSET.items():
        thumos = read_ground_truth(os.path.join(root, "annotations", "thumos14"), split)
        anet = read_ground_truth(os.path.join(root, "annotations", "activitynet.json"), subset)
        assert set(anet) == {k for k, r in rows.items() if r["split"] == split}
        assert {k: sorted((s.start, s.end, s.label) for s in v) for k, v in thumos.items()} == \
               {k: sorted((s.start, s.end, s.label) for s in v) for k, v in anet.items()}


@pytest.mark.skipif(usable_cores() < 2, reason="one core renders in-process, without the pool under test")
def test_ctrl_c_stops_the_rendering_of_the_videos_not_started(tmp_path):
    """Before, the two rendering workers took Ctrl-C for their video's failure and went on, and the
    command rendered every video before it stopped (all 384 here, ~40 s more)."""
    import signal
    import time

    out = tmp_path / "data"
    proc = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "laf"), "demo-data", "--output", str(out),
                             "--scale", "8"], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as a terminal's
    videos = out / "videos"
    while proc.poll() is None and (not videos.is_dir() or len(os.listdir(videos)) < 10):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and b"laf demo-data: interrupted" in err
    assert len(os.listdir(videos)) < 100  # of 384
