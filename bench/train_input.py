"""Speed and memory of the trainer's input (``trainer.data.stream_batches``): one pass over a synthetic
split of gzipped video records (real TFRecords, written by ``schemas.records.VideoRecord``), with the
product's LAF weighting and actionness targets, and how far the streams drift apart under each
dealing rule (a simulation of the rule on log-normal video lengths: the chunks a one-read pipeline
must hold until every stream reaches a step).

Last stdout line: ``{"pass_s": x, "frames_per_s": x, "steps": n, "balanced_steps": n, "max_rss_mb": x,
"held_chunks_peak": {"dealt": n, "round_robin": n}, ...}``.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as bench/<script>.py
from laf.report.strict_json import bench_main, dumps  # noqa: E402
from laf.quiet import quiet  # noqa: E402

quiet()
from laf import tfrecords  # noqa: E402
from schemas.records import VideoRecord  # noqa: E402
from trainer import data  # noqa: E402


def write_split(path: str, videos: int, dim: int, frames: tuple, seed: int) -> np.ndarray:
    """``videos`` records of ``frames`` = (fewest, most) frames at 1 fps, 6 classes in 2 activities."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(frames[0], frames[1] + 1, videos)
    records = (VideoRecord(
        video_id=f"v{i:05d}", label=f"A{i % 2}:a{i % 6}", label_index=i % 6,
        features=rng.normal(size=(n, dim)).astype(np.float32), timestamps=np.arange(n, dtype=np.float32),
        fps=1.0, duration=float(n), laf_scores=rng.uniform(size=n).astype(np.float32)).serialize()
        for i, n in enumerate(lengths))
    tfrecords.write(path, records)
    return lengths


def held_chunks_peak(chunks: np.ndarray, streams: int, dealt: bool) -> int:
    """The most chunks read but waiting for the other streams to reach their step, one read of the
    split: video i to the stream that runs out first (``dealt``), or to stream i mod B."""
    counts = np.zeros(streams, np.int64)
    peak = 0
    for i, n in enumerate(chunks):
        counts[int(np.argmin(counts)) if dealt else i % streams] += n
        peak = max(peak, int((counts - counts.min()).sum()))
    return peak


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=200)
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--frames", type=int, nargs=2, default=(20, 400), metavar=("FEWEST", "MOST"))
    parser.add_argument("--streams", type=int, default=12)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--simulated-videos", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as work:
        path = os.path.join(work, "train.gz")
        lengths = write_split(path, args.videos, args.dim, tuple(args.frames), args.seed)
        batches = data.stream_batches(path, args.dim, "laf", args.k, args.streams, seed=args.seed, shuffle=True,
                                      actionness=True, frames=lengths)
        start = time.perf_counter()
        steps = sum(1 for _ in batches)
        seconds = time.perf_counter() - start
        gzipped = os.path.getsize(path)
    chunks = (lengths + args.k - 1) // args.k
    simulated = np.clip(np.random.default_rng(args.seed).lognormal(np.log(180), 1.0, args.simulated_videos),
                        5, 7200).astype(np.int64)  # seconds at 1 fps: a median of 3 minutes, a few hours long
    simulated = (simulated + args.k - 1) // args.k
    return {
        "videos": args.videos, "frames": int(lengths.sum()), "dim": args.dim, "streams": args.streams,
        "gzipped_mb": round(gzipped / 2 ** 20, 1), "pass_s": round(seconds, 2),
        "frames_per_s": round(float(lengths.sum()) / seconds, 1), "steps": steps,
        "balanced_steps": int(max(-(-chunks.sum() // args.streams), chunks.max())),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "held_chunks_peak": {"dealt": held_chunks_peak(simulated, args.streams, True),
                             "round_robin": held_chunks_peak(simulated, args.streams, False)},
    }


if __name__ == "__main__":
    sys.exit(bench_main("train_input", lambda: print(dumps(main()))))
