"""Training-step time of LSTMP (1024 cells, projection 512) vs keras.layers.LSTM(1024).

Both models see the same [batch 12, k 20, D 576] chunk, have the same softmax head, loss and
optimizer, and are compiled the same way; the time of a full ``train_on_batch`` step
(forward, backward, update) is compared. Timings alternate between the two models in rounds so
that load from other processes on a shared machine hits both alike; the median per round is kept.
Prints one JSON object as the last line.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as bench/<script>.py
from laf.report.strict_json import bench_main, dumps  # noqa: E402
from laf.quiet import quiet  # noqa: E402

quiet()


def _model(recurrent, steps: int, dim: int, classes: int):
    import keras

    inputs = keras.Input((steps, dim), batch_size=None)
    outputs = keras.layers.Dense(classes, activation="softmax")(recurrent(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.0024), loss="sparse_categorical_crossentropy",
                  jit_compile=False)  # XLA did not speed up either on CPU
    return model


def _time_steps(model, x, y, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return (time.perf_counter() - start) / steps


def measure(cells: int, projection: int, k: int, batch: int, dim: int, classes: int,
            rounds: int, steps: int) -> dict:
    import keras  # here, not at the top: bad flags and Ctrl-C during the import still end in the JSON line
    import numpy as np

    from trainer.lstmp import LSTMP

    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, k, dim)).astype(np.float32)
    y = rng.integers(0, classes, size=(batch, k))
    models = {
        "lstmp": _model(LSTMP(cells, projection), k, dim, classes),
        "keras_lstm": _model(keras.layers.LSTM(cells, return_sequences=True), k, dim, classes),
    }
    for model in models.values():  # trace/compile and warm up
        _time_steps(model, x, y, 3)
    times = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            times[name].append(_time_steps(model, x, y, steps))
    lstmp, lstm = statistics.median(times["lstmp"]), statistics.median(times["keras_lstm"])
    return {"ratio_vs_keras_lstm": round(lstmp / lstm, 4), "lstmp_step_s": round(lstmp, 5),
            "keras_lstm_step_s": round(lstm, 5)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1024)
    parser.add_argument("--projection", type=int, default=512)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--batch", type=int, default=12)
    parser.add_argument("--dim", type=int, default=576)
    parser.add_argument("--classes", type=int, default=240)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=5, help="train steps per timed round")
    args = parser.parse_args()
    for name, value in vars(args).items():
        if value < 1:
            parser.error(f"--{name} must be >= 1")
    shape = dict(cells=args.cells, projection=args.projection, k=args.k, batch=args.batch,
                 dim=args.dim, classes=args.classes, rounds=args.rounds, steps=args.steps)
    import tensorflow as tf

    device = "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
    print(dumps({**measure(**shape), **shape, "compile": "tf.function, no XLA",
                      "device": device}))


if __name__ == "__main__":
    sys.exit(bench_main("lstmp_speed", main))
