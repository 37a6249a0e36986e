"""The demo data generator: deterministic real media, parseable ground truth, honest truth files."""
from __future__ import annotations

import csv
import dataclasses
import glob
import hashlib
import json
import os
import subprocess
import sys

import av
import numpy as np
import pytest
from PIL import Image

from demo_fixtures import TINY
from laf import demo_data
from laf.demo_data import DemoConfig
from laf.errors import UserError


def _digests(root: str) -> dict:
    out = {}
    for path in sorted(glob.glob(os.path.join(root, "videos", "*.mp4")) + glob.glob(os.path.join(root, "*.*")) +
                       glob.glob(os.path.join(root, "images", "*", "*.jpg"))):
        with open(path, "rb") as f:
            out[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("demo"))
    return root, demo_data.generate(root, TINY, workers=2)


def test_same_seed_same_bytes_other_seed_other_media(data, tmp_path):
    """Also: rendering in one process gives the bytes that two rendering processes gave."""
    root, _ = data
    again = str(tmp_path / "again")
    demo_data.generate(again, TINY, workers=1)
    first = _digests(root)
    assert len(first) == 12 + 4 * 9 + 3  # videos, images, manifest + truth + demo_data.json
    assert _digests(again) == first
    other = str(tmp_path / "other")
    demo_data.generate(other, dataclasses.replace(TINY, seed=8))
    changed = {k for k, v in _digests(other).items() if first.get(k) != v}
    assert len(changed) == len(first)


def test_a_set_of_other_settings_replaces_the_old_one_whole(tmp_path):
    root = str(tmp_path / "data")
    demo_data.ensure_generated(root, dataclasses.replace(TINY, images_per_action=4))
    os.makedirs(os.path.join(root, "backbone"))
    open(os.path.join(root, "backbone", "calibrated_on_the_old_media.weights.h5"), "wb").close()
    demo_data.ensure_generated(root, TINY)
    fresh = str(tmp_path / "fresh")
    demo_data.ensure_generated(fresh, TINY)
    assert _digests(root) == _digests(fresh)  # no image of the larger set left to be ingested
    assert not os.path.exists(os.path.join(root, "backbone"))


def test_the_settings_of_a_set_read_back_keep_it(data):
    """What `laf run` without --config does: keep the set `laf demo --seed/--looks/...` made."""
    root, _ = data
    kept = demo_data.existing_config(root)
    assert kept == TINY
    before = _digests(root), os.stat(os.path.join(root, "demo_data.json")).st_mtime_ns
    demo_data.ensure_generated(root, kept)
    assert (_digests(root), os.stat(os.path.join(root, "demo_data.json")).st_mtime_ns) == before
    assert demo_data.existing_config(os.path.join(root, "nothing here")) is None


def test_a_folder_that_holds_no_demo_set_is_refused_not_emptied(tmp_path):
    mine = tmp_path / "mine"
    (mine / "videos").mkdir(parents=True)
    (mine / "videos" / "my_clip.mp4").write_bytes(b"precious")
    (mine / "manifest.csv").write_text("video,label\n")
    with pytest.raises(UserError, match="holds manifest.csv, videos but no demo data set"):
        demo_data.ensure_generated(str(mine), TINY)
    assert (mine / "videos" / "my_clip.mp4").read_bytes() == b"precious"
    with pytest.raises(UserError, match="seed must be >= 0"):
        demo_data.ensure_generated(str(tmp_path / "new"), dataclasses.replace(TINY, seed=-1))


def test_an_interrupted_set_is_replaced(tmp_path):
    root = tmp_path / "data"
    (root / "images" / "A").mkdir(parents=True)
    (root / "images" / "A" / "left_over.png").write_bytes(b"x")
    (root / demo_data.PARTIAL).write_bytes(b"")
    demo_data.ensure_generated(str(root), TINY)
    assert not (root / "images" / "A" / "left_over.png").exists() and not (root / demo_data.PARTIAL).exists()
    assert demo_data.generated_config(str(root)) == demo_data.config_record(TINY)


def test_a_set_with_missing_media_or_a_broken_description_is_not_taken_as_complete(tmp_path, capsys):
    root = tmp_path / "data"
    demo_data.ensure_generated(str(root), TINY)
    whole = _digests(str(root))
    for video in sorted((root / "videos").iterdir())[:2]:
        video.unlink()
    demo_data.ensure_generated(str(root), TINY)
    assert "it holds only 10 of its 12 videos" in capsys.readouterr().err
    assert _digests(str(root)) == whole
    (root / "manifest.csv").unlink()  # before, a set without its manifest passed as complete: every run then failed
    demo_data.ensure_generated(str(root), TINY)
    assert "it has no manifest.csv" in capsys.readouterr().err
    assert _digests(str(root)) == whole
    for broken in ("{", "[]", '{"version": 1}'):  # cut short (a full disk), or not what generate writes
        (root / "demo_data.json").write_text(broken)
        assert demo_data.existing_config(str(root)) is None
        demo_data.ensure_generated(str(root), TINY)
        assert "its demo_data.json is unreadable" in capsys.readouterr().err
        assert _digests(str(root)) == whole


def test_other_looks_draw_other_scenes_and_patterns_and_keep_siblings_apart():
    """``looks`` 0 is the shipped set; any other value redraws every scene and pattern (so a
    method can be checked on objects it was not tuned on), and siblings stay distinguishable."""
    config = dataclasses.replace(TINY, activities=4, actions_per_activity=3)
    shipped_scenes, shipped = demo_data._looks(config)
    assert demo_data._looks(dataclasses.replace(config, looks=0))[1] == shipped
    for n in (1, 2, 3):
        scenes, looks = demo_data._looks(dataclasses.replace(config, looks=n))
        assert looks == demo_data._looks(dataclasses.replace(config, looks=n))[1]
        assert sum(looks[l] != shipped[l] for l in looks) >= len(looks) - 1
        assert all(not np.array_equal(scenes[a][0], shipped_scenes[a][0]) for a in scenes)
        for labels in demo_data.labels_for(config).values():
            assert len({looks[l].shape for l in labels}) == len(labels)
            assert len({looks[l].colour for l in labels}) == len(labels)
            assert all(np.linalg.norm(np.subtract(looks[l].colour, scenes[l.split(":")[0]][0])) > 130
                       for l in labels)
    with pytest.raises(UserError, match="looks"):
        dataclasses.replace(config, looks=-1).validate()


def test_same_frames_same_video_bytes_whatever_the_process_allocated_before(tmp_path):
    """The encoder's output must not depend on heap contents: between frames, arrays of
    varying size are allocated and freed (as rendering does), differently on each run."""
    scenes, looks = demo_data._looks(TINY)
    plan = demo_data.plan_videos(TINY)[1]
    stage = demo_data._Stage(TINY, plan, scenes, looks)
    frames = [stage.frame(i / TINY.fps) for i in range(int(plan.duration * TINY.fps))]
    rng = np.random.default_rng(0)

    def churned():
        for frame in frames:
            np.exp(rng.random(int(rng.integers(1_000, 200_000)))).sum()
            yield frame

    digests = set()
    for run in range(4):
        path = str(tmp_path / f"run{run}.mp4")
        demo_data._encode(path, churned(), TINY)
        with open(path, "rb") as f:
            digests.add(hashlib.sha256(f.read()).hexdigest())
    assert len(digests) == 1


def _manifest(root):
    """Rows with the video path resolved against the manifest's folder and segments parsed."""
    with open(os.path.join(root, "manifest.csv")) as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["video"] = os.path.join(root, r["video"])
        r["segments"] = json.loads(r["segments"])
    return rows


def test_manifest_splits_and_labels(data):
    root, info = data
    rows = _manifest(root)
    assert list(rows[0]) == ["video", "label", "split", "segments", "ambiguous"]
    assert info["activities"] == {"Basketball": ["Basketball:JumpShot", "Basketball:SlamDunk"],
                                  "Soccer": ["Soccer:Dribble", "Soccer:Header"]}
    for label in ("Basketball:JumpShot", "Soccer:Header"):
        assert sorted(r["split"] for r in rows if r["label"] == label) == ["eval", "test", "train"]
    assert all(os.path.exists(r["video"]) and r["segments"] for r in rows)


def _colour_share(frame: np.ndarray, colour) -> float:
    return float(np.mean(np.abs(frame.astype(int) - np.array(colour)).max(-1) < 50))


def test_videos_decode_and_show_the_action_exactly_inside_its_segments(data):
    root, info = data
    with open(os.path.join(root, info["paths"]["activitynet"])) as f:
        database = json.load(f)["database"]
    for row in _manifest(root):
        with av.open(row["video"]) as c:
            stream = c.streams.video[0]
            assert stream.codec_context.name == "h264"
            frames = [(float(fr.pts * stream.time_base), fr.to_ndarray(format="rgb24")) for fr in c.decode(stream)]
        entry = database[os.path.basename(row["video"])[:-4]]
        assert frames[0][1].shape == (120, 160, 3)
        assert len(frames) == round(entry["duration"] * TINY.fps)
        colour = info["looks"][row["label"]]["colour"]
        segs = [a["segment"] for a in entry["annotations"]]
        inside = [_colour_share(im, colour) for t, im in frames if any(s + 0.3 <= t < e - 0.3 for s, e in segs)]
        outside = [_colour_share(im, colour) for t, im in frames if all(t < s - 0.5 or t > e + 0.5 for s, e in segs)]
        assert inside and outside
        assert min(inside) > 0.04 and max(outside) < 0.02, (row["video"], min(inside), max(outside))


def test_sample_frames_one_per_second(data):
    root, _ = data
    frames, stamps = demo_data.sample_frames(_manifest(root)[0]["video"])
    assert frames.shape[1:] == (120, 160, 3)
    np.testing.assert_allclose(stamps, np.arange(len(stamps)), atol=1e-6)


def _thumos(root):
    out = {}
    for path in glob.glob(os.path.join(root, "annotations", "thumos14", "*.txt")):
        cls, subset = os.path.basename(path)[:-4].rsplit("_", 1)
        with open(path) as f:
            for line in f:
                vid, start, end = line.split()
                out.setdefault((cls, subset), []).append((vid, float(start), float(end)))
    return out


def test_thumos14_and_activitynet_ground_truth_agree(data):
    root, info = data
    rows = {os.path.basename(r["video"])[:-4]: r for r in _manifest(root)}
    with open(os.path.join(root, info["paths"]["activitynet"])) as f:
        anet = json.load(f)
    db = anet["database"]
    assert set(db) == set(rows)
    names = {n["nodeName"]: n for n in anet["taxonomy"]}
    for activity, labels in info["activities"].items():
        assert all(names[l]["parentName"] == activity for l in labels)
    thumos = _thumos(root)
    assert {s for _, s in thumos} <= set(demo_data.SPLITS)
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
        assert entry["subset"] == demo_data.ACTIVITYNET_SUBSET[rows[vid]["split"]]
        assert all(a["label"] == rows[vid]["label"] for a in entry["annotations"])
        assert os.path.join(root, entry["url"]) == rows[vid]["video"]
        assert sorted(a["segment"] for a in entry["annotations"]) == rows[vid]["segments"]
        segs = sorted(a["segment"] for a in entry["annotations"])
        assert 1 <= len(segs) <= TINY.max_occurrences
        assert segs == sorted(from_thumos[vid])
        assert json.loads(rows[vid]["ambiguous"]) == sorted(ambiguous.get(vid, []))  # the manifest carries them too
        assert all(TINY.min_action - 0.25 <= e - s <= TINY.max_action + 0.25 for s, e in segs)
        assert all(b[0] - a[1] >= 2.5 for a, b in zip(segs, segs[1:]))


def test_image_truth_matches_files_and_rates(data):
    root, info = data
    with open(os.path.join(root, info["paths"]["images_truth"])) as f:
        truth = json.load(f)
    on_disk = {os.path.relpath(p, os.path.join(root, "images"))
               for p in glob.glob(os.path.join(root, "images", "*", "*"))}
    assert on_disk == set(truth)
    expected = demo_data.kind_counts(TINY)
    assert expected == {"video_like": 5, "off_domain": 2, "irrelevant": 2}
    for label in (l for ls in info["activities"].values() for l in ls):
        entries = {k: v for k, v in truth.items() if k.startswith(label + "/")}
        assert {k: sum(v["kind"] == k for v in entries.values()) for k in demo_data.KINDS} == expected
        for key, entry in entries.items():
            assert entry["label"] == label
            with Image.open(os.path.join(root, "images", key)) as im:
                assert im.format == "JPEG" and min(im.size) >= 120
            if entry["kind"] == "irrelevant":
                assert entry["drawn_label"] != label
            else:
                assert entry["drawn_label"] == label
    assert info["images"] == {k: 4 * n for k, n in expected.items()}


@pytest.mark.parametrize("n,rates", [(30, (0.5, 0.25, 0.25)), (7, (0.6, 0.3, 0.1)), (40, (1.0, 0.0, 0.0))])
def test_kind_counts_follow_rates(n, rates):
    config = DemoConfig(images_per_action=n, video_like_rate=rates[0], off_domain_rate=rates[1],
                        irrelevant_rate=rates[2])
    counts = demo_data.kind_counts(config)
    assert sum(counts.values()) == n
    assert all(abs(counts[k] - n * r) < 1 for k, r in zip(demo_data.KINDS, rates))


def test_the_shape_flags_set_action_and_video_lengths():
    """``laf demo-data/demo --action-seconds 8 20 --video-seconds 60 150``: data of another shape."""
    import argparse

    from laf.commands import demo_data as command

    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args(["--action-seconds", "8", "20", "--video-seconds", "60", "150"])
    plans = demo_data.plan_videos(DemoConfig(**command.shape(args)))
    lengths = [end - start for p in plans for start, end in p.segments]
    assert 8.0 <= min(lengths) and max(lengths) <= 20.0 and max(lengths) > 12.0  # the demo's stop at 8 s
    assert all(60.0 <= p.duration <= 150.0 for p in plans) and max(p.duration for p in plans) > 120.0


def test_bad_config_is_rejected():
    with pytest.raises(UserError, match="sum to 1"):
        DemoConfig(video_like_rate=0.9).validate()
    with pytest.raises(UserError, match="min_duration"):
        DemoConfig(min_duration=5.0).validate()
    with pytest.raises(UserError, match="positive"):
        DemoConfig().scaled(0)
    assert DemoConfig().scaled(2.0).videos_per_action == 8


@pytest.mark.parametrize("flags,message", [(["--scale", "-1"], "scale (--scale) must be positive, got -1"),
                                           (["--looks", "-2"], "looks must be >= 0, got -2"),
                                           (["--seed", "-1"], "seed must be >= 0, got -1"),
                                           (["--action-seconds", "9", "3"],  # the flag and the values: named now
                                            "need 0 < min_action <= max_action (--action-seconds MIN MAX), got 9 3"),
                                           (["--action-seconds", "20", "40"], "need max_action + 6 s <= min_duration"
                                            " <= max_duration (--video-seconds MIN MAX beside --action-seconds), got"
                                            " actions up to 40 s in videos of 40 120 s"),
                                           (["--video-seconds", "40", "inf"], "--video-seconds: must be a finite number")])
def test_cli_reports_bad_setting(tmp_path, flags, message):
    done = subprocess.run([sys.executable, "-m", "laf.cli", "demo-data", *flags,
                           "--output", str(tmp_path / "unused")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert message in done.stderr
    assert not (tmp_path / "unused").exists()


def test_infinite_lengths_are_refused_where_no_flag_parsed_them():
    """``bench/paper_tables.py`` builds its DemoConfig from its own flags: the config checks too."""
    with pytest.raises(UserError, match="lengths must be finite seconds"):
        DemoConfig(max_duration=float("inf")).validate()


def test_calibrated_backbone_shows_the_papers_effect(data):
    """Real TF: the calibrated random backbone separates activities, tells sibling actions
    apart on action frames better than on context frames, and video-like images are
    closer to their action's frames than off-domain or irrelevant images are."""
    root, _ = data
    path = demo_data.calibrated_backbone(root)
    assert path.endswith(".weights.h5") and os.path.getsize(path) > 100_000
    assert demo_data.calibrated_backbone(root) == path  # cached, not recalibrated
    result = demo_data.probe(root)
    assert result["feature_dim"] == 96
    assert result["activity_acc_all_frames"] > 0.95
    assert result["sibling_acc_action_frames"] > result["sibling_acc_context_frames"] + 0.25
    images = result["images"]
    assert images["video_like"]["cos_to_action_frames"] > images["off_domain"]["cos_to_action_frames"] + 0.1
    assert images["video_like"]["cos_to_action_frames"] > images["irrelevant"]["cos_to_action_frames"] + 0.1


def test_project_readers_accept_the_manifest_and_ground_truth(data):
    """What ingestion and evaluation will read: same videos, labels, splits and segments."""
    from laf.evaluate.annotations import read_ground_truth
    from laf.ingest.manifest import read_manifest

    root, _ = data
    rows = {os.path.basename(r["video"])[:-4]: r for r in _manifest(root)}
    manifest = read_manifest(os.path.join(root, "manifest.csv"))
    assert {r.video_id: (r.uri, r.label, r.split, [[s.start, s.end] for s in r.segments],
                         [[s.start, s.end] for s in r.ambiguous])
            for r in manifest.rows} == {
        k: (r["video"], r["label"], r["split"], r["segments"], json.loads(r["ambiguous"])) for k, r in rows.items()}
    for split, subset in demo_data.ACTIVITYNET_SUBSET.items():
        thumos = read_ground_truth(os.path.join(root, "annotations", "thumos14"), split)
        anet = read_ground_truth(os.path.join(root, "annotations", "activitynet.json"), subset)
        assert set(anet) == {k for k, r in rows.items() if r["split"] == split}
        assert {k: sorted((s.start, s.end, s.label) for s in v) for k, v in thumos.items()} == \
               {k: sorted((s.start, s.end, s.label) for s in v) for k, v in anet.items()}


@pytest.mark.skipif(demo_data.usable_cores() < 2, reason="one core renders in-process, without the pool under test")
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
