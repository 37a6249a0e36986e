"""The demo's untrimmed videos: planned (label, split, action segments), rendered and encoded to
H.264 with bytes that depend only on the plan."""
from __future__ import annotations

import dataclasses
import math
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction
from typing import List, Sequence, Tuple

import numpy as np

from laf.demo.looks import paste, players, scene_canvas, scene_of, sprite
from laf.demo.settings import GAP, PATHS, DemoConfig, labels_for, split_counts
from schemas.names import SPLITS


@dataclasses.dataclass
class VideoPlan:
    """One video before rendering: its label, split, length and where the action happens."""

    video_id: str
    label: str
    split: str
    duration: float
    segments: List[Tuple[float, float]]
    ambiguous: List[Tuple[float, float]]
    rng_seed: int


def _plan_segments(config: DemoConfig, duration: float, rng: np.random.Generator):
    """Non-overlapping action occurrences (and maybe one faint, ambiguous one) on frame
    boundaries, at least ``GAP`` seconds apart and from the video's ends; occurrences that
    do not fit a short video are dropped (the ambiguous one first)."""
    q = 1.0 / config.fps
    n = 1 + int(rng.choice(config.max_occurrences, p=_occurrence_probs(config.max_occurrences)))
    lengths = [round(rng.uniform(config.min_action, config.max_action) / q) * q for _ in range(n)]
    if rng.random() < config.ambiguous_rate:
        lengths.append(round(rng.uniform(1.0, 3.0) / q) * q)
    while duration - sum(lengths) - GAP * (len(lengths) + 1) < 0:
        lengths.pop()
        n = min(n, len(lengths))
    slack = duration - sum(lengths) - GAP * (len(lengths) + 1)
    cuts = np.sort(rng.uniform(0, slack, len(lengths)))
    order = rng.permutation(len(lengths))
    segments, ambiguous, used = [], [], 0.0
    for k, idx in enumerate(order):
        start = round((GAP * (k + 1) + cuts[k] + used) / q) * q
        (segments if idx < n else ambiguous).append((start, start + lengths[idx]))
        used += lengths[idx]
    return sorted(segments), ambiguous


def _occurrence_probs(k: int) -> np.ndarray:
    """P(1 + i occurrences) halves with each extra one: most videos hold the action once."""
    p = 0.5 ** np.arange(k)
    return p / p.sum()


def plan_videos(config: DemoConfig) -> List[VideoPlan]:
    """All videos, shuffled so ids do not reveal labels; deterministic for ``config.seed``."""
    rng = np.random.default_rng([config.seed, 1])
    rows = []
    for labels in labels_for(config).values():
        for label in labels:
            for split, n in split_counts(config.videos_per_action).items():
                rows += [(label, split)] * n
    rows = [rows[i] for i in rng.permutation(len(rows))]
    plans, counters = [], {s: 0 for s in SPLITS}
    for label, split in rows:
        counters[split] += 1
        duration = round(rng.uniform(config.min_duration, config.max_duration) * config.fps) / config.fps
        segments, ambiguous = _plan_segments(config, duration, rng)
        plans.append(VideoPlan(f"demo_{split}_{counters[split]:04d}", label, split, duration,
                               segments, ambiguous, int(rng.integers(2 ** 31))))
    return plans


class Stage:
    """Renders one video's frames: panned scene, moving players, the action when active."""

    def __init__(self, config: DemoConfig, plan: VideoPlan, scenes, looks):
        self.config = config
        self.plan = plan
        rng = np.random.default_rng(plan.rng_seed)
        scene = scene_of(scenes, looks, plan.label, config.sibling_scene_shift)
        W, H = config.frame_size
        self.canvas = scene_canvas(scene, W + W // 2, H + H // 3, rng)
        self.pan = (rng.uniform(0.05, 0.2), rng.uniform(0, 2 * math.pi), rng.uniform(0.04, 0.15))
        n = int(rng.integers(2, 6))
        self.players = players(scene[2], rng, n, W / 160)
        self.player_pos = rng.uniform((0, 0), (W, H), (n, 2))
        self.player_vel = rng.uniform(-12, 12, (n, 2)) * (W / 160)
        self.look = looks[plan.label]
        size = int(min(W, H) * rng.uniform(0.58, 0.7))
        self.size = size
        self.angles = (0.0,) if self.look.motion != "spin" else tuple(range(0, 360, 30))
        self.sprites = {a: sprite(self.look, size, a) for a in self.angles}
        if self.look.motion == "pulse":
            self.sprites.update({("s", k): sprite(self.look, int(size * (0.8 + 0.08 * k))) for k in range(6)})
        self.anchors = [rng.uniform((W * 0.35, H * 0.4), (W * 0.65, H * 0.6))
                        for _ in plan.segments + plan.ambiguous]
        self.brightness = rng.uniform(-8, 8)

    def frame(self, t: float) -> np.ndarray:
        W, H = self.config.frame_size
        cw, ch = self.canvas.shape[1] - W, self.canvas.shape[0] - H
        sp, ph, sp2 = self.pan
        x0 = int((0.5 + 0.5 * math.sin(sp * t + ph)) * cw)
        y0 = int((0.5 + 0.5 * math.sin(sp2 * t)) * ch)
        img = self.canvas[y0:y0 + H, x0:x0 + W].copy()
        pos = (self.player_pos + self.player_vel * t) % (W + 20, H + 20) - 10
        for player, (x, y) in zip(self.players, pos):
            paste(img, player, x, y)
        spans = self.plan.segments + self.plan.ambiguous
        for k, (s, e) in enumerate(spans):
            if s <= t < e:
                faint = k >= len(self.plan.segments)
                self._draw_action(img, t - s, self.anchors[k], faint)
        if self.brightness:
            img = np.clip(img.astype(np.int16) + int(self.brightness), 0, 255).astype(np.uint8)
        return img

    def _draw_action(self, img: np.ndarray, dt: float, anchor, faint: bool) -> None:
        W, H = self.config.frame_size
        cx, cy = anchor
        picture = self.sprites[0.0]
        motion = self.look.motion
        if motion == "bounce":
            cy = cy + H * 0.1 - abs(math.sin(dt * 2.5)) * H * 0.2
        elif motion == "sweep":
            cx = cx + math.sin(dt * 1.2) * W * 0.18
        elif motion == "orbit":
            cx, cy = cx + math.cos(dt * 2.0) * W * 0.1, cy + math.sin(dt * 2.0) * H * 0.1
        elif motion == "spin":
            picture = self.sprites[self.angles[int(dt * 8) % len(self.angles)]]
        elif motion == "pulse":
            picture = self.sprites[("s", int(abs(math.sin(dt * 2.0)) * 5.99))]
        if faint:  # ambiguous: half off-frame and washed out
            cx, cy = (-self.size * 0.1 if cx < W / 2 else W + self.size * 0.1), cy
        paste(img, picture, cx, cy, 0.45 if faint else 1.0)


def _encode(path: str, frames, config: DemoConfig) -> None:
    """H.264 MP4, one thread and fixed options so the bytes depend only on the frames.

    MB-tree is off: with it, the bundled x264 (core 165, PyAV 17) gives different bytes for
    the same frames depending on what the process allocated before (it reads heap memory
    it did not write); without it the output is the same in any process."""
    import av

    W, H = config.frame_size
    with av.open(path, mode="w", format="mp4", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream("libx264", rate=config.fps,
                                      options={"preset": "veryfast", "crf": "23", "x264-params": "mbtree=0"})
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.codec_context.thread_count = 1
        stream.codec_context.gop_size = 2 * config.fps  # web-style: a keyframe every 2 s
        stream.codec_context.flags |= av.codec.context.Flags.bitexact
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, config.fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def render_video(path: str, config: DemoConfig, plan: VideoPlan, scenes, looks) -> None:
    stage = Stage(config, plan, scenes, looks)
    n = int(round(plan.duration * config.fps))
    _encode(path, (stage.frame(i / config.fps) for i in range(n)), config)


def video_path(plan: VideoPlan) -> str:
    """Relative to the output folder (and to the manifest, which lies there)."""
    return f"{PATHS['videos']}/{plan.video_id}.mp4"


def render_videos(output_dir: str, config: DemoConfig, plans: Sequence[VideoPlan], scenes, looks,
                   workers: int) -> None:
    """Every video, in ``workers`` processes: each video's bytes depend only on its plan
    (:func:`_encode`), so the split changes nothing but the time. Spawned, not forked: the caller
    (``laf demo``) may already run TensorFlow's threads."""
    jobs = [(os.path.join(output_dir, video_path(p)), config, p, scenes, looks) for p in plans]
    workers = min(workers, len(jobs))
    if workers < 2:
        for job in jobs:
            render_video(*job)
        return
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_leave_interrupts)
    futures = []
    try:
        futures += [pool.submit(render_video, *job) for job in jobs]  # workers start here: inside the try
        for done in futures:
            done.result()  # re-raises a worker's error
    except BaseException:  # Ctrl-C or a worker's error: the videos not started are not rendered
        for future in futures:  # by hand: once the pool is collected, shutdown's cancel_futures is lost
            future.cancel()
        pool.shutdown(wait=False)
        raise
    pool.shutdown()


def _leave_interrupts() -> None:
    """A rendering worker ignores Ctrl-C, which its parent handles. Why: the worker got it too, took
    it for its video's failure and went on to the next, and the parent waited for them all."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def sample_frames(path: str, rate: float = 1.0) -> Tuple[np.ndarray, np.ndarray]:
    """(frames uint8 [T, H, W, 3], timestamps [T]): the first frame at or after each k/rate s.

    The demo videos are tiny, so decoding every frame is cheap; ingestion has its own
    seek-aware decoder for real videos."""
    import av

    frames, stamps, next_t = [], [], 0.0
    with av.open(path) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            t = float(frame.pts * stream.time_base)
            if t + 1e-6 >= next_t:
                frames.append(frame.to_ndarray(format="rgb24"))
                stamps.append(t)
                next_t = math.floor(t * rate + 1e-6) / rate + 1.0 / rate
    return np.stack(frames), np.asarray(stamps, np.float32)
