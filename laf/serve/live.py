"""Online localization of a live stream: samples -> backbone -> stateful model step -> online detector.

Decoding runs in its own thread and hands samples over a short queue; the main thread takes
whatever samples are waiting (at most ``batch`` at a time), so a live stream is featurized in
small batches as frames arrive and a fast one (a file, a stream with no pacing) in full batches.
The model runs one chunk at a time through its ``localize_step`` signature, with the recurrent
state (LSTMP and seen gate) of the previous chunk passed in and the new one kept: memory stays flat
however long the stream runs, and the per-frame outputs equal the whole-sequence ones (the net is
causal).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import queue
import re
import sys
import threading
import time
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np

from laf.errors import UserError
from laf.ingest.media import feed
from laf.serve.online import Event, OnlineConfig, OnlineDetector
from laf.serve.stream import LiveSource, samples

STEP_SIGNATURE = "localize_step"


class _Stepper:
    """A ``localize_step`` caller that keeps the recurrent state between calls (``step``)."""

    feature_dim: int
    widths: Tuple[int, int]  # of state_r, state_c

    def reset(self) -> None:
        self.state = tuple(np.zeros([1, w], np.float32) for w in self.widths)

    def step(self, features: np.ndarray) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        """Per-frame probabilities [T, N] and actionness [T] (None without that head) of the next
        ``features`` [T, D]; the state moves on."""
        if features.shape[-1] != self.feature_dim:
            raise UserError(f"the model takes {self.feature_dim}-d features but the backbone gives"
                            f" {features.shape[-1]} (was it trained with another backbone?)")
        out = self._call({"frame_features": features[None].astype(np.float32),
                          "state_r": self.state[0], "state_c": self.state[1]})
        lacking = sorted({"probabilities", "state_r", "state_c"} - set(out))
        if lacking:  # e.g. a model server answering for another model or version
            raise UserError(f"the {STEP_SIGNATURE!r} answer lacks {lacking} (has {sorted(out)}): is the server"
                            " serving a model of this version?")
        self.state = (np.asarray(out["state_r"], np.float32), np.asarray(out["state_c"], np.float32))
        actionness = np.asarray(out["actionness"], np.float32)[0] if "actionness" in out else None
        return np.asarray(out["probabilities"], np.float32)[0], actionness

    def _call(self, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        raise NotImplementedError


class LocalStepper(_Stepper):
    """The SavedModel's ``localize_step`` signature, in this process."""

    def __init__(self, model_dir: str):
        from laf.serve.localize import load_model

        model = load_model(model_dir)
        if STEP_SIGNATURE not in model.signatures:
            raise UserError(f"{model_dir} has no {STEP_SIGNATURE!r} signature (has {sorted(model.signatures)});"
                            " re-export it with laf.serve.upgrade.add_step_signature")
        self._model, self._fn = model, model.signatures[STEP_SIGNATURE]
        spec = self._fn.structured_input_signature[1]
        self.feature_dim = int(spec["frame_features"].shape[-1])
        self.widths = (int(spec["state_r"].shape[-1]), int(spec["state_c"].shape[-1]))
        self.reset()

    def _call(self, inputs):
        import tensorflow as tf

        return {k: v.numpy() for k, v in self._fn(**{k: tf.constant(v) for k, v in inputs.items()}).items()}


class RestStepper(_Stepper):
    """``localize_step`` on a TF Serving model server (REST): the state travels in every request
    and answer, so the server holds no session. The input shapes come from the same model's
    SavedModel here (read from its ``saved_model.pb``, nothing loaded). A bare model name is pinned to
    the version the server answers with at the start (``model_name`` becomes ``NAME/versions/N``):
    TF Serving moves a bare name to each newly pushed version, whose labels, backbone and state need
    not be the stream's. A server without TF Serving's model status keeps the bare name (``pin_error``
    says why)."""

    def __init__(self, server: str, model_name: str, model_dir: str):
        from tensorflow.python.saved_model import loader_impl

        try:
            signatures = loader_impl.parse_saved_model(model_dir).meta_graphs[0].signature_def
        except OSError as e:
            raise UserError(f"--model {model_dir} is not a SavedModel: {e}") from None
        if STEP_SIGNATURE not in signatures:
            raise UserError(f"{model_dir} has no {STEP_SIGNATURE!r} signature; the server's model needs it too")
        shape = {k: [d.size for d in v.tensor_shape.dim] for k, v in signatures[STEP_SIGNATURE].inputs.items()}
        from laf.serve import rest

        self.server, self.model_name, self.pin_error = server, model_name, None
        if not re.search(r"/(versions|labels)/", model_name):  # given as NAME/versions/N: pinned by the user
            try:
                version = rest.patiently(lambda left: rest.served_version(server, model_name, timeout=max(left, 1.0)))
                self.model_name = f"{model_name}/versions/{version}"
            except rest.ServerUnavailable:  # unreachable, or no version loaded within the patience: no stream
                raise
            except UserError as e:  # no TF Serving status here (a proxy routing :predict alone, another server)
                self.pin_error = str(e)
        self.feature_dim = int(shape["frame_features"][-1])
        self.widths = (int(shape["state_r"][-1]), int(shape["state_c"][-1]))
        self.reset()

    def _call(self, inputs):
        """One step on the server, asked again while it cannot answer now (``rest.predict_patiently``):
        the state travels in the request, so a retry is the same step."""
        from laf.serve import rest

        try:
            return rest.predict_patiently(self.server, STEP_SIGNATURE, inputs, self.model_name)
        except UserError as e:
            if "HTTP 404" in str(e) and "/versions/" in self.model_name:
                raise UserError(f"{e}: the server no longer has {self.model_name}, which this stream localizes with"
                                " (a newer version was pushed and the old one unloaded?); start the stream again for"
                                " the new version, with its SavedModel as --model") from None
            raise


@dataclasses.dataclass
class Chunk:
    """One model step: its frames' stream times and outputs, and the events they completed."""

    timestamps: np.ndarray
    probabilities: np.ndarray
    actionness: Optional[np.ndarray]
    events: List[Event]


def _decode_thread(source: LiveSource, fps: float, size: int, out: "queue.Queue", done: object,
                   stop: threading.Event) -> None:
    """Samples into ``out`` until the source ends or ``stop`` is set (the consumer left: an error, or
    a caller that stopped reading), then closes the source's decoder and connection."""
    try:
        with contextlib.closing(samples(source, fps, size, stop)) as stream:
            for sample in stream:
                if not feed(out, sample, stop):
                    return
        feed(out, done, stop)
    except BaseException as e:  # noqa: BLE001 -- handed to the consumer, which re-raises it
        feed(out, e, stop)


def localize_stream(source: LiveSource, fps: float, features, stepper, size: int,
                    config: OnlineConfig = OnlineConfig(), partial: bool = False,
                    batch: int = 16) -> Iterator[Chunk]:
    """Run a source to its end (forever for a live one), a ``Chunk`` per model step. ``features``:
    uint8 images [B, size, size, 3] -> [B, D] (``laf.ingest.backbones.feature_fn``)."""
    samples_q: "queue.Queue" = queue.Queue(maxsize=4 * batch)
    done, stop = object(), threading.Event()
    threading.Thread(target=_decode_thread, args=(source, fps, size, samples_q, done, stop), daemon=True,
                     name="stream-decode").start()
    try:
        yield from _steps(samples_q, done, fps, features, stepper, config, partial, batch)
    finally:
        stop.set()  # also when the caller raises or closes this generator early


def _steps(samples_q: "queue.Queue", done: object, fps: float, features, stepper, config: OnlineConfig,
           partial: bool, batch: int) -> Iterator[Chunk]:
    """:func:`localize_stream`'s loop over the decoded samples. Where the sampling grid skips an
    outage (``laf.serve.stream.OnlineSampler``), the open segment closes at the last frame before it
    and the model starts afresh, as for a new video: what came before says nothing about after."""
    detector, last, last_index, finished, failure = OnlineDetector(config), None, None, False, None

    def closing() -> Chunk:  # what is open ends at the last frame's end
        return Chunk(np.zeros(0), np.zeros((0, 0)), None, detector.finish(last + 1.0 / fps))

    try:
        while not finished:
            items = [samples_q.get()]
            while len(items) < batch and items[-1] is not done and not isinstance(items[-1], BaseException):
                try:
                    items.append(samples_q.get_nowait())
                except queue.Empty:
                    break
            failure = items[-1] if isinstance(items[-1], BaseException) else None
            finished = failure is not None or items[-1] is done
            taken = [s for s in items if s is not done and s is not failure]  # decoded before a failure: used
            cuts = [i for i in range(1, len(taken)) if taken[i].index > taken[i - 1].index + 1]
            for part in (taken[a:b] for a, b in zip([0, *cuts], [*cuts, len(taken)]) if a < b):
                if last_index is not None and part[0].index > last_index + 1:
                    yield closing()
                    stepper.reset()
                times = np.asarray([s.timestamp for s in part], np.float64)
                probabilities, actionness = stepper.step(features(np.stack([s.image for s in part])))
                last, last_index = times[-1], part[-1].index
                yield Chunk(times, probabilities, actionness, detector.push(times, probabilities, actionness, partial))
    except KeyboardInterrupt as e:  # Ctrl-C or a stop signal, while waiting here or thrown in by the caller
        failure = e
    if last is not None:  # the stream ended, broke or is stopped: close what is open, then the failure goes on
        yield closing()
    if failure is not None:
        raise failure


def event_json(event: Event, labels: List[str]) -> str:
    """The stdout line of one event (stream seconds); open segments say ``"partial": true``."""
    record = {"label": labels[event.label], "start": round(event.start, 3), "end": round(event.end, 3),
              "score": round(event.score, 5), "emitted_at": round(event.emitted_at, 3)}
    if event.partial:
        record["partial"] = True
    return json.dumps(record)


def run(source: LiveSource, fps: float, features, stepper, size: int, labels: List[str],
        config: OnlineConfig, partial: bool, batch: int, out=None, progress_every: float = 60.0) -> int:
    """Print each event as a JSON line as soon as it is known; a progress line on stderr per
    ``progress_every`` seconds of stream. Returns the number of closed events."""
    out = out or sys.stdout
    started, shown, frames, closed = time.monotonic(), 0.0, 0, 0
    chunks = localize_stream(source, fps, features, stepper, size, config, partial, batch)
    chunk, unprinted = next(chunks, None), []
    while chunk is not None:
        pending = unprinted + list(chunk.events)
        try:
            while pending:
                print(event_json(pending[0], labels), file=out, flush=True)
                closed += not pending.pop(0).partial
            frames += len(chunk.timestamps)
            if len(chunk.timestamps) and chunk.timestamps[-1] - shown >= progress_every:
                shown = float(chunk.timestamps[-1])
                print(f"stream: {shown:.1f} s in {time.monotonic() - started:.1f} s, {frames} frames,"
                      f" {closed} events, {source.reconnects} reconnects", file=sys.stderr, flush=True)
            chunk, unprinted = next(chunks, None), []
        except KeyboardInterrupt as e:  # here (printing): the stream closes what it has open, then stops; the
            unprinted = [event for event in pending if not event.partial]  # chunk's closed events still go
            chunk = chunks.throw(e)  # first (an open one's partial line: the closing chunk's event replaces it)
    return closed
