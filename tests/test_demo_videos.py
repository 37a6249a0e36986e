"""The demo's videos: planned, rendered and encoded to the same bytes in any process."""
from __future__ import annotations

import hashlib
import json
import os

import av
import numpy as np

from demo_fixtures import TINY, manifest
from laf.demo.looks import scenes_and_looks
from laf.demo.settings import DemoConfig
from laf.demo.videos import Stage, _encode, plan_videos, sample_frames


def test_same_frames_same_video_bytes_whatever_the_process_allocated_before(tmp_path):
    """The encoder's output must not depend on heap contents: between frames, arrays of
    varying size are allocated and freed (as rendering does), differently on each run."""
    scenes, looks = scenes_and_looks(TINY)
    plan = plan_videos(TINY)[1]
    stage = Stage(TINY, plan, scenes, looks)
    frames = [stage.frame(i / TINY.fps) for i in range(int(plan.duration * TINY.fps))]
    rng = np.random.default_rng(0)

    def churned():
        for frame in frames:
            np.exp(rng.random(int(rng.integers(1_000, 200_000)))).sum()
            yield frame

    digests = set()
    for run in range(4):
        path = str(tmp_path / f"run{run}.mp4")
        _encode(path, churned(), TINY)
        with open(path, "rb") as f:
            digests.add(hashlib.sha256(f.read()).hexdigest())
    assert len(digests) == 1


def _colour_share(frame: np.ndarray, colour) -> float:
    return float(np.mean(np.abs(frame.astype(int) - np.array(colour)).max(-1) < 50))


def test_videos_decode_and_show_the_action_exactly_inside_its_segments(tiny_demo):
    root, info = tiny_demo
    with open(os.path.join(root, info["paths"]["activitynet"])) as f:
        database = json.load(f)["database"]
    for row in manifest(root):
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


def test_sample_frames_one_per_second(tiny_demo):
    root, _ = tiny_demo
    frames, stamps = sample_frames(manifest(root)[0]["video"])
    assert frames.shape[1:] == (120, 160, 3)
    np.testing.assert_allclose(stamps, np.arange(len(stamps)), atol=1e-6)


def test_the_shape_flags_set_action_and_video_lengths():
    """``laf demo-data/demo --action-seconds 8 20 --video-seconds 60 150``: data of another shape."""
    import argparse

    from laf.commands import demo_data as command

    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args(["--action-seconds", "8", "20", "--video-seconds", "60", "150"])
    plans = plan_videos(DemoConfig(**command.shape(args)))
    lengths = [end - start for p in plans for start, end in p.segments]
    assert 8.0 <= min(lengths) and max(lengths) <= 20.0 and max(lengths) > 12.0  # the demo's stop at 8 s
    assert all(60.0 <= p.duration <= 150.0 for p in plans) and max(p.duration for p in plans) > 120.0
