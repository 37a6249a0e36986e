"""Scale of domain transfer (Algorithm 1): seconds per round and peak RSS at 10k, 100k, 1M frames.

Synthetic features are written as the contract's gzipped TFRecords (videos of 100 frames, one
image per 10 frames, validation videos one tenth of the training frames); each size then runs
in a fresh subprocess so its peak RSS is its own. Linear time means ``time_ratio_10x`` (1M / 100k)
near 10; flat memory means peak RSS barely grows with the number of frames.

Usage: python bench/domain_transfer_scale.py [--sizes 10000 100000 1000000] [--workdir DIR]
Prints one JSON object as the last line of stdout.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as bench/<script>.py
from laf.report.strict_json import bench_main, dumps  # noqa: E402

CLASSES, DIM, FRAMES_PER_VIDEO = 10, 64, 100
CONFIG = dict(theta1=0.3, theta2=0.3, max_rounds=2, hidden_units=(64,), epochs=1, svm_epochs=1,
              batch_size=1024, min_images_per_class=5, min_frames_per_class=20, seed=0)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def write_data(frames: int, directory: str) -> None:
    """Videos: 30% action frames around the class centre, the rest around a shared centre."""
    import numpy as np

    from laf import tfrecords
    from schemas.records import ImageRecord, VideoRecord

    rng = np.random.default_rng(0)
    centers = rng.normal(size=(CLASSES, DIM)).astype(np.float32)
    stamps = np.arange(FRAMES_PER_VIDEO, dtype=np.float32)

    def videos(n_frames, prefix):
        for v in range(n_frames // FRAMES_PER_VIDEO):
            label = v % CLASSES
            x = rng.normal(scale=0.7, size=(FRAMES_PER_VIDEO, DIM)).astype(np.float32)
            start = rng.integers(0, FRAMES_PER_VIDEO - 30)
            x[start:start + 30] += centers[label]
            yield VideoRecord(f"{prefix}{v}", f"S:a{label}", label, x, stamps, 1.0, 100.0).serialize()

    def images(n):
        for i in range(n):
            label = i % CLASSES
            mean = centers[label] if i % 4 else centers[rng.integers(CLASSES)]  # a quarter is noise
            x = (mean + rng.normal(scale=0.7, size=DIM)).astype(np.float32)
            yield ImageRecord(f"i{i}", f"S:a{label}", label, x, "web", f"{i:064x}").serialize()

    tfrecords.write(os.path.join(directory, "train", "videos.gz"), videos(frames, "t"))
    tfrecords.write(os.path.join(directory, "eval", "videos.gz"), videos(max(frames // 10, 1000), "e"))
    tfrecords.write(os.path.join(directory, "images", "images.gz"), images(max(frames // 10, 1000)))


def run_size(directory: str) -> dict:
    """One measured domain transfer run over the files in ``directory`` (called in a subprocess)."""
    from laf.quiet import quiet

    quiet()
    from laf.transfer import domain_transfer as dt
    from laf.transfer.config import TransferConfig
    from laf.transfer.feature_stream import FeatureStream

    rss_before = _peak_rss_mb()
    start = time.perf_counter()
    frames = FeatureStream.from_video_files(os.path.join(directory, "train"), CLASSES)
    images = FeatureStream.from_image_files(os.path.join(directory, "images"), CLASSES)
    val = FeatureStream.from_video_files(os.path.join(directory, "eval"), CLASSES)
    result = dt.run(frames, images, val, CLASSES, TransferConfig(**CONFIG))
    seconds = time.perf_counter() - start
    return {"frames": len(frames), "rounds": len(result.rounds), "seconds": seconds,
            "seconds_per_round": seconds / len(result.rounds), "peak_rss_mb": _peak_rss_mb(),
            "rss_after_tf_import_mb": rss_before}


def _child(args: list) -> dict:
    """The child's last-line JSON; a failed child stops the bench with the error its JSON line names
    (the last line of stderr may be TensorFlow's noise at exit), else its last stderr line."""
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if done.returncode != 0:
        reason = _json_error(done.stdout) or (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise SystemExit(f"domain_transfer_scale: {' '.join(args[:2])} failed: {reason}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _json_error(stdout: str) -> str:
    """The ``error`` of a child's last stdout line as ``bench_main`` prints it; "" if there is none."""
    lines = stdout.strip().splitlines()
    try:
        last = json.loads(lines[-1]) if lines else {}
    except ValueError:
        return ""
    return str(last.get("error") or "") if isinstance(last, dict) else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--write", help=argparse.SUPPRESS)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--frames", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:
        write_data(args.frames, args.write)
        print(dumps({"written": args.write}))
        return
    if args.measure:
        print(dumps(run_size(args.measure)))
        return
    if min(args.sizes) < FRAMES_PER_VIDEO:  # at least one training video
        parser.error(f"--sizes must be >= {FRAMES_PER_VIDEO} frames")
    workdir = args.workdir or tempfile.mkdtemp(prefix="dt_scale_")
    sizes = {}
    try:
        for n in args.sizes:
            directory = os.path.join(workdir, str(n))
            _child(["--write", directory, "--frames", str(n)])
            sizes[str(n)] = _child(["--measure", directory])
            shutil.rmtree(directory)
            print(f"{n} frames: {sizes[str(n)]}", flush=True)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    per_round = {k: v["seconds_per_round"] for k, v in sizes.items()}
    ratio = None
    if "1000000" in per_round and "100000" in per_round:
        ratio = per_round["1000000"] / per_round["100000"]
    print(dumps({"seconds_per_round": per_round,
                      "peak_rss_mb": {k: v["peak_rss_mb"] for k, v in sizes.items()},
                      "rss_after_tf_import_mb": {k: v["rss_after_tf_import_mb"] for k, v in sizes.items()},
                      "rounds": {k: v["rounds"] for k, v in sizes.items()},
                      "feature_dim": DIM, "epochs": CONFIG["epochs"],
                      "time_ratio_10x": ratio}))


if __name__ == "__main__":
    sys.exit(bench_main("domain_transfer_scale", main))
