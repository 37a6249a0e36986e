"""Image ingestion throughput vs. the bare backbone.

``ratio_vs_bare_model`` = images/s of ``laf.ingest.image_ingest.extract_images`` (read, decode,
resize, features, dedup, TFRecord writing) divided by images/s of bare batched ``model(x)``
calls on ready uint8 batches of the same backbone. Goal >= 0.9: decoding runs in a thread
pool while the model works on the previous batch. Like the bare rate (which excludes building
and tracing the model), the ingest rate is the steady-state one: two runs, of ``--images`` and
of one batch, and the extra images divided by the extra time, so fixed per-run costs (Beam
start-up) cancel; a warm-up run first builds the worker's shared backbone, as a long-lived worker
keeps it. ``ratio_including_startup`` uses the whole wall time.
Each timing is the best of ``--repeats`` (shared machines are noisy; the decode-only rate is
measured once, after them); CPU ms per image
of ingestion vs. the bare model is reported too, as a load-independent cross-check.
``ceiling_cpu_bound`` is the highest ratio this machine allows at all: when the model keeps
every core busy, decoding can only use the CPU time the model leaves idle, so the ratio is at
most cores x (bare wall time per image) / (model CPU + decode CPU per image).

Inputs are distinct camera-sized JPEGs written by the bench itself (smooth scenes + noise).
Prints one JSON object as the last line of stdout.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import os
import sys
import tempfile
import time
from typing import Dict, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from laf.cpu import usable_cores  # noqa: E402
from laf.ingest.backbones import BACKBONES  # noqa: E402  (no TensorFlow import)
from laf.errors import UserError  # noqa: E402
from laf.report.strict_json import bench_main, dumps  # noqa: E402

from laf.quiet import quiet  # noqa: E402

quiet()

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402


def write_jpegs(root: str, count: int, width: int, height: int, labels: int = 4) -> None:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    for i in range(count):
        folder = os.path.join(root, f"Bench__Action {i % labels}")
        os.makedirs(folder, exist_ok=True)
        phase = rng.uniform(0, 2 * np.pi, 3)
        scene = np.stack([127 + 100 * np.sin(x / (20 + 7 * c) + y / (31 + 5 * c) + phase[c]) for c in range(3)], -1)
        scene += rng.normal(0, 12, scene.shape)
        Image.fromarray(np.clip(scene, 0, 255).astype(np.uint8)).save(
            os.path.join(folder, f"{i:05d}.jpg"), quality=85)


_BARE = {}


def bare_model_rate(config, batch_size: int, images: int) -> Tuple[float, float]:
    """(images/s, CPU ms per image) of the compiled backbone on ready batches (the function
    ingestion calls)."""
    from laf.ingest.backbones import feature_fn

    if config not in _BARE:
        _BARE[config] = feature_fn(config)
    run = _BARE[config]
    batch = np.random.default_rng(1).integers(0, 256, (batch_size, config.size, config.size, 3), np.uint8)
    run(batch)  # trace + warm up
    steps = max(2, images // batch_size)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        run(batch)
    done = steps * batch_size
    return done / (time.perf_counter() - start), 1000 * (time.process_time() - cpu) / done


def decode_rate(root: str, size: int, threads: int) -> Tuple[float, float]:
    """(images/s, CPU ms per image) of reading + decoding + resizing alone, in the ingestion pool."""
    from laf.ingest import images

    paths = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs]
    def work(path):
        return images.prepare(images.load(path), size)

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, paths[:8]))  # warm up
        start, cpu = time.perf_counter(), time.process_time()
        list(pool.map(work, paths))
    return len(paths) / (time.perf_counter() - start), 1000 * (time.process_time() - cpu) / len(paths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=768)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--backbone", default="mobilenet_v3_small", choices=sorted(BACKBONES))
    parser.add_argument("--input-size", type=int, default=0, help="0: the backbone's default")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0, help="0: the ingestion default")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.batch_size < 1 or args.repeats < 1 or args.images <= args.batch_size or min(args.width, args.height) < 1:
        parser.error("need --batch-size >= 1, --repeats >= 1, --images > --batch-size (the steady rate is the "
                     "difference of the two runs) and a positive --width/--height")
    if args.input_size < 0:
        parser.error("need --input-size >= 0 (0: the backbone's default)")

    import tensorflow as tf

    from laf.ingest.backbones import BackboneConfig
    from laf.ingest.image_ingest import IngestSettings, extract_images

    config = BackboneConfig(name=args.backbone, input_size=args.input_size or None)
    threads = IngestSettings(threads=args.threads).pool_size
    with tempfile.TemporaryDirectory(prefix="laf-bench-images-") as tmp:
        walls: Dict[int, float] = {}
        cpus: Dict[int, float] = {}
        bares = []
        for count in (args.batch_size, args.images):
            write_jpegs(os.path.join(tmp, f"images-{count}"), count, args.width, args.height)
        # warm-up: builds the worker's shared backbone once, as a long-lived worker would
        extract_images(os.path.join(tmp, f"images-{args.batch_size}"), os.path.join(tmp, "warm-up"), config,
                       batch_size=args.batch_size, threads=threads)
        for repeat in range(args.repeats):
            bares.append(bare_model_rate(config, args.batch_size, args.images))
            for count in (args.batch_size, args.images):
                root = os.path.join(tmp, f"images-{count}")
                output = os.path.join(tmp, f"out-{count}-{repeat}")
                start, cpu = time.perf_counter(), time.process_time()
                summary = extract_images(root, output, config, batch_size=args.batch_size, threads=threads)
                wall, cpu = time.perf_counter() - start, time.process_time() - cpu
                if summary["accepted"] != count:
                    raise SystemExit(f"bench: expected {count} accepted images, got {summary}")
                if wall < walls.get(count, float("inf")):
                    walls[count], cpus[count] = wall, cpu
        bare, bare_cpu = max(bares)
        decode, decode_cpu = decode_rate(root, config.size, threads)
    extra = args.images - args.batch_size
    if walls[args.images] <= walls[args.batch_size]:
        raise UserError(f"{args.images} images took no longer than {args.batch_size} "
                        f"({walls[args.images]:.2f} s vs {walls[args.batch_size]:.2f} s): give more --images")
    ingest = extra / (walls[args.images] - walls[args.batch_size])
    # The best any overlap can do when the model already keeps the cores busy: the CPU the
    # model leaves idle (cores x its wall time - its CPU time) is all decoding may use for free.
    cores = usable_cores()  # what ingestion's pools are sized by, not the machine's count
    ceiling = min(1.0, cores * 1000 / bare / (bare_cpu + decode_cpu))
    print(dumps({
        "ratio_vs_bare_model": round(ingest / bare, 3),
        "ingest_images_per_s": round(ingest, 1),
        "bare_model_images_per_s": round(bare, 1),
        "bare_model_spread": round(min(b for b, _ in bares) / bare, 3),
        "ingest_cpu_ms_per_image": round(1000 * (cpus[args.images] - cpus[args.batch_size]) / extra, 2),
        "bare_model_cpu_ms_per_image": round(bare_cpu, 2),
        "decode_only_images_per_s": round(decode, 1),
        "decode_cpu_ms_per_image": round(decode_cpu, 2),
        "ceiling_cpu_bound": round(ceiling, 3),
        "ratio_including_startup": round(args.images / walls[args.images] / bare, 3),
        "ingest_wall_s": round(walls[args.images], 2),
        "one_batch_wall_s": round(walls[args.batch_size], 2),
        "images": args.images,
        "image_size": f"{args.width}x{args.height}",
        "backbone": args.backbone,
        "input_size": config.size,
        "batch_size": args.batch_size,
        "decode_threads": threads,
        "cpu_count": cores,
        "device": "gpu" if tf.config.list_physical_devices("GPU") else "cpu",
    }))


if __name__ == "__main__":
    sys.exit(bench_main("image_ingest", main))
