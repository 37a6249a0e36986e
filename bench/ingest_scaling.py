"""Scale-out of video ingestion on a real distributed Beam engine (Beam's DaskRunner).

``speedup_2_workers`` = wall time of ``laf.ingest.video_ingest.extract_videos`` over the same videos
on a ``dask.distributed`` LocalCluster of 1 worker ÷ that on 2 workers. Each worker is one process
pinned to its own core, so a worker stands for a one-core machine (unpinned, one worker's decode
threads and TF thread pool would already use both cores and the ratio would say nothing about
scale-out). The workers are warmed up first (TensorFlow imported, the backbone built and traced),
as those of a long-lived cluster are; that cost is reported apart (``warmup_s_*``). Both runs must
write the same bytes (``identical_outputs``).

Wall time on a shared machine depends on what else runs, so the CPU seconds each worker process
used during the run are reported too: ``worker_cpu_s_*``, ``cpu_share_*`` (CPU s ÷ wall s per
worker: below 1, the worker waited for a core or for data), ``cpu_bound_speedup`` (the 1-worker CPU s
÷ half the 2 workers' CPU s: the speedup on 2 otherwise idle cores if the work splits evenly, as
Dask's dynamic scheduling of one task per video nearly does) and ``cpu_bound_speedup_as_split``
(÷ the busier worker's CPU s: the split this run had, skewed by whichever core others used more).

    .venv/bin/python bench/ingest_scaling.py [--data laf-demo/data] [--videos 96]

Videos: the demo's (``laf demo-data`` writes them if ``--data`` has no manifest) with the demo's
features settings. Last stdout line: one JSON object with ``speedup_2_workers``, ``wall_s_1_worker``,
``wall_s_2_workers``, ``videos``, ``frames``, ``frames_per_s_*``, ``warmup_s_*``, the CPU keys above,
``pinned``, ``identical_outputs``, ``load_avg_1min_before`` / ``_after``.
"""
from __future__ import annotations

import argparse
import glob
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from laf.errors import UserError  # noqa: E402
from laf.report.strict_json import bench_main, dumps  # noqa: E402

FEATURES = dict(name="mobilenet_v3_small", layer="expanded_conv_3_squeeze_excite_mul", input_size=112)
FPS = 2.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def demo_videos(data: str) -> Tuple[str, str]:
    """(manifest, backbone weights) of the demo data, written first if missing."""
    manifest = os.path.join(data, "manifest.csv")
    if not os.path.exists(manifest):
        from laf.demo.run import DEMO_SCALE  # the data `laf demo` writes there: 144 videos

        log(f"writing the demo data into {data} (laf demo-data --scale {DEMO_SCALE:g})")
        done = subprocess.run([sys.executable, "-m", "laf.cli", "demo-data", "--output", data, "--scale",
                               str(DEMO_SCALE)])
        if done.returncode:
            raise SystemExit(f"ingest_scaling: error: `laf demo-data --output {data}` failed (exit {done.returncode})")
    weights = sorted(glob.glob(os.path.join(data, "backbone", "*.weights.h5")))
    return manifest, weights[0] if weights else "none"  # uncalibrated weights cost the same time


def pin_to_core(core: int) -> None:
    """Runs in a worker: every thread of the process, and all it starts later, on ``core``."""
    for tid in os.listdir("/proc/self/task"):
        os.sched_setaffinity(int(tid), {core})


def warm_up(backbone) -> float:
    """Runs in a worker: import the ingestion code and build and trace the shared backbone (two
    batch sizes: TF then traces one function for any batch size, as it will for each video's tail)."""
    import numpy as np

    from laf.ingest.backbones import shared_model

    start = time.perf_counter()
    model = shared_model(backbone)
    for batch in (32, 1):
        model.run(np.zeros((batch, backbone.size, backbone.size, 3), np.uint8))
    return time.perf_counter() - start


def process_cpu_s() -> float:
    """Runs in a worker: CPU seconds of the whole process (all its threads) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def file_bytes(root: str) -> Dict[str, bytes]:
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, root)] = f.read()
    return found


def run_on_cluster(workers: int, rows, backbone, output: str, pin: bool) -> Tuple[float, float, List[float], dict]:
    """(warm-up s, ingestion wall s, CPU s of each worker, summary) on a fresh LocalCluster of
    ``workers`` processes."""
    from distributed import Client, LocalCluster

    from laf.ingest import video_ingest

    cores = sorted(os.sched_getaffinity(0))  # the cores this process may use, not 0..n-1
    with LocalCluster(n_workers=workers, processes=True, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        addresses = sorted(client.scheduler_info()["workers"])
        if pin:
            for i, address in enumerate(addresses):
                client.run(pin_to_core, cores[i % len(cores)], workers=[address])
        start = time.perf_counter()
        client.run(warm_up, backbone)
        warm = time.perf_counter() - start
        log(f"{workers} worker(s) warm in {warm:.1f} s; ingesting {len(rows.rows)} videos")
        options = video_ingest.VideoOptions(fps=FPS)
        cpu_before = client.run(process_cpu_s)
        start = time.perf_counter()
        summary = video_ingest.extract_videos(
            rows, output, backbone, FPS, ["--runner=DaskRunner", f"--dask_client_address={cluster.scheduler_address}"],
            options=options)
        wall = time.perf_counter() - start
        cpu = [round(after - cpu_before[address], 2) for address, after in sorted(client.run(process_cpu_s).items())]
    log(f"{workers} worker(s): {wall:.1f} s, worker CPU {cpu} s, {summary}")
    return warm, wall, cpu, summary


def main(argv: List[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="laf-demo/data", help="demo data folder (written if missing)")
    parser.add_argument("--videos", type=int, default=96, help="how many of the manifest's videos (default 96)")
    parser.add_argument("--no-pin", action="store_true", help="let every worker use every core")
    args = parser.parse_args(argv)
    if args.videos < 1:
        parser.error("--videos must be >= 1")

    from laf.ingest import manifest as mf
    from laf.ingest import video_ingest
    from laf.ingest.backbones import BackboneConfig
    from schemas import names

    manifest, weights = demo_videos(args.data)
    full = mf.read_manifest(manifest, mf.DEFAULT_RATIOS)
    if len(full.rows) < args.videos:
        raise UserError(f"{manifest} lists {len(full.rows)} videos, fewer than --videos {args.videos}")
    rows = mf.Manifest(full.rows[:args.videos], [])
    backbone = BackboneConfig(weights=weights, **FEATURES)
    load = os.getloadavg()[0]
    log(f"load average before: {os.getloadavg()}; {len(rows.rows)} videos, weights {weights}")
    with tempfile.TemporaryDirectory() as tmp:
        results = {n: run_on_cluster(n, rows, backbone, os.path.join(tmp, f"w{n}"), not args.no_pin) for n in (1, 2)}
        identical = file_bytes(os.path.join(tmp, "w1")) == file_bytes(os.path.join(tmp, "w2"))
        frames = sum(r.num_frames for split in names.SPLITS
                     for r in video_ingest.read_records(os.path.join(tmp, "w1"), split))
    (warm1, wall1, cpu1, summary), (warm2, wall2, cpu2, _) = results[1], results[2]
    print(dumps({
        "speedup_2_workers": round(wall1 / wall2, 3), "wall_s_1_worker": round(wall1, 2),
        "wall_s_2_workers": round(wall2, 2), "videos": summary["accepted"], "frames": frames,
        "frames_per_s_1_worker": round(frames / wall1, 1), "frames_per_s_2_workers": round(frames / wall2, 1),
        "warmup_s_1_worker": round(warm1, 2), "warmup_s_2_workers": round(warm2, 2),
        "worker_cpu_s_1_worker": cpu1, "worker_cpu_s_2_workers": cpu2,
        "cpu_share_1_worker": [round(c / wall1, 2) for c in cpu1],
        "cpu_share_2_workers": [round(c / wall2, 2) for c in cpu2],
        "cpu_bound_speedup": round(cpu1[0] / (sum(cpu2) / 2), 3),
        "cpu_bound_speedup_as_split": round(cpu1[0] / max(cpu2), 3), "pinned": not args.no_pin,
        "identical_outputs": identical, "load_avg_1min_before": round(load, 2),
        "load_avg_1min_after": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    sys.exit(bench_main("ingest_scaling", main))
