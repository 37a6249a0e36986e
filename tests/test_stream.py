"""``laf localize --stream``: real H.264 MPEG-TS, real loopback TCP streams pushed by ffmpeg, a real
exported SavedModel (tiny random LSTMP standardised on the clip's features, so its outputs move
with the scene) and a backbone calibrated on the clip (``laf.ingest.backbones.calibrate``)."""
import contextlib
import dataclasses
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Iterator

import numpy as np
import pytest

from laf.cli import main
from laf.ingest.backbones import BackboneConfig
from laf.serve import live, localize, online, rest
from laf.serve.stream import NO_VIDEO_RETRIES, LiveSource, OnlineSampler, SourceError, SourceOptions, is_network
from schemas.vocabulary import Vocabulary
import video_fixtures as vf

FPS = 2.0
SECONDS = 20.0
TINTS = [(0, 0, 0), (120, 0, 0), (0, 0, 120), (0, 120, 0)]
VOCABULARY = Vocabulary.build(["Ball:Kick", "Ball:Throw", "Swim:Dive"])
CONFIG = online.OnlineConfig(on=0.28, off=0.24, min_length=0.5)  # this tiny model's evidence is 0.15-0.35

# only the tests that run the ffmpeg CLI (a server, an audio track, cover art); the rest decode with PyAV
NEEDS_FFMPEG = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg CLI (make ffmpeg)")


def scene(t: float):
    return TINTS[int(t // 3) % len(TINTS)]  # a new scene every 3 s


@dataclasses.dataclass
class Setup:
    root: str
    ts: str
    backbone: BackboneConfig
    model_dir: str
    dim: int  # the backbone's feature width

    @property
    def flags(self):
        return ["--model", self.model_dir, "--backbone", self.backbone.name, "--weights", self.backbone.weights,
                "--input-size", "32", "--fps", str(FPS)]


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Setup:
    import keras

    from laf.ingest.backbones import calibrate, feature_fn
    from laf.ingest.media import Video
    from trainer import model, serving

    root = str(tmp_path_factory.mktemp("stream"))
    ts = vf.encode(os.path.join(root, "scenes.ts"), "libx264", vf.cfr(SECONDS), tint=scene,
                   options={"g": "20", "bf": "2"})  # a keyframe every 2 s, B-frames
    images = np.stack([s.image for s in Video(ts, fps=FPS, size=32).samples()])
    weights = calibrate(BackboneConfig(input_size=32), images, os.path.join(root, "backbone.weights.h5"))
    backbone = BackboneConfig(weights=weights, input_size=32)
    features = feature_fn(backbone)(images)
    keras.utils.set_random_seed(1)
    net = model.build("lstmp", len(VOCABULARY), cells=16, projection=8)
    net(features[None, :1])
    net.standardize.set_moments(features.mean(0), features.std(0))
    model_dir = os.path.join(root, "model")
    serving.export(net, features.shape[1], model_dir)
    VOCABULARY.save(os.path.join(model_dir, "assets"))
    return Setup(root, ts, backbone, model_dir, int(features.shape[1]))


@pytest.fixture(scope="module")
def offline(setup):
    """What ``laf localize`` computes on the file: its records and the model's per-frame outputs."""
    import tensorflow as tf

    from schemas.records import VideoRecord

    examples = localize.featurize([setup.ts], localize.IngestSettings(setup.backbone, FPS))
    out = localize.load_model(setup.model_dir).signatures["serving_default"](examples=tf.constant(examples))
    record = VideoRecord.parse(examples[0])
    n = record.num_frames
    return record, out["probabilities"].numpy()[0, :n], out["actionness"].numpy()[0, :n]


def _stream_outputs(setup, source: LiveSource, batch: int = 3):
    from laf.ingest.backbones import feature_fn

    chunks = list(live.localize_stream(source, FPS, feature_fn(setup.backbone), live.LocalStepper(setup.model_dir),
                                       32, CONFIG, batch=batch))
    frames = [c for c in chunks if len(c.timestamps)]
    return (np.concatenate([c.timestamps for c in frames]), np.concatenate([c.probabilities for c in frames]),
            np.concatenate([c.actionness for c in frames]), [e for c in chunks for e in c.events])


def test_network_sources_include_tls_rtsp():
    """IP cameras hand out rtsps:// (RTSP over TLS): FFmpeg opens it, it must not be looked up as a file."""
    assert all(map(is_network, ["rtsps://cam:7441/x", "RTSP://cam/live", "srt://host:9000"]))
    assert not any(map(is_network, ["clip.mp4", "file:///tmp/clip.mp4", "-"]))


def test_a_caller_that_stops_reading_stops_the_decode_thread(setup):
    """The decode thread would otherwise block forever on the full queue, holding the decoder and
    the connection open (a library caller that raised, or read only the first chunks)."""
    import threading
    import time

    from laf.ingest.backbones import feature_fn

    before = set(threading.enumerate())
    chunks = live.localize_stream(LiveSource(setup.ts, SourceOptions(read_timeout=0.5)), FPS,
                                  feature_fn(setup.backbone), live.LocalStepper(setup.model_dir), 32, CONFIG, batch=1)
    assert len(next(chunks).timestamps) == 1
    [decoder] = [t for t in set(threading.enumerate()) - before if t.name == "stream-decode"]  # this stream's
    time.sleep(0.5)  # the thread fills the queue and waits on it
    chunks.close()
    decoder.join(timeout=10)
    assert not decoder.is_alive()


def test_localize_step_chained_over_chunks_equals_the_whole_sequence(setup, offline):
    import tensorflow as tf

    record = offline[0]
    model = localize.load_model(setup.model_dir)
    step = model.signatures["localize_step"]
    x = record.features[None].astype(np.float32)
    whole = model.signatures["frame_features"](frame_features=tf.constant(x), lengths=tf.constant([len(x[0])]))
    spec = step.structured_input_signature[1]
    # projection + the seen gate's memory (3 classes); cells + its carried value (trainer.seen_gate)
    assert (spec["state_r"].shape[-1], spec["state_c"].shape[-1]) == (11, 17)
    state = {"state_r": tf.zeros([1, 11]), "state_c": tf.zeros([1, 17])}
    parts = []
    for a, b in ((0, 1), (1, 5), (5, 12), (12, len(x[0]))):
        out = step(frame_features=tf.constant(x[:, a:b]), **state)
        state = {"state_r": out["state_r"], "state_c": out["state_c"]}
        parts.append(out)
    for key in ("probabilities", "actionness"):
        chained = np.concatenate([p[key].numpy() for p in parts], axis=1)
        np.testing.assert_allclose(chained, whole[key].numpy(), atol=1e-6)
    assert np.ptp(whole["actionness"].numpy()) > 0.05  # the outputs really move with the scene


def test_a_file_fed_as_a_stream_equals_laf_localize_on_it(setup, offline):
    record, probabilities, actionness = offline
    times, p, a, events = _stream_outputs(setup, LiveSource(setup.ts, SourceOptions(read_timeout=0.5)))
    np.testing.assert_allclose(times, record.timestamps, atol=1e-6)
    np.testing.assert_allclose(p, probabilities, atol=1e-5)
    np.testing.assert_allclose(a, actionness, atol=1e-5)
    expected = online.segments(record.timestamps, probabilities, actionness, config=CONFIG)
    assert len(expected) >= 2
    assert [(e.label, e.start, e.end) for e in events] == [(e.label, pytest.approx(e.start, abs=1e-5),
                                                            pytest.approx(e.end, abs=1e-5)) for e in expected]


def test_cli_reads_mpeg_ts_on_stdin_and_prints_json_events(setup, offline, capsys):
    code = _cli_on_stdin(setup.ts, [*setup.flags, "--on", str(CONFIG.on), "--off", str(CONFIG.off),
                                    "--min-length", str(CONFIG.min_length)])
    assert code == 0
    captured = capsys.readouterr()
    _assert_printed(captured.out, offline)
    assert "no actionness" not in captured.err  # the warning is for models without that head only


def test_cli_warns_that_a_model_without_actionness_is_a_poor_online_detector(setup, tmp_path, capfd):
    import keras
    import tensorflow as tf

    from laf.commands.localize_stream import NO_ACTIONNESS
    from trainer import model, serving

    keras.utils.set_random_seed(2)
    net = model.build("lstmp", len(VOCABULARY), cells=16, projection=8, actionness=False)  # the paper's scheme
    net(tf.zeros([1, 1, setup.dim]))
    model_dir = str(tmp_path / "paper")
    serving.export(net, setup.dim, model_dir)
    VOCABULARY.save(os.path.join(model_dir, "assets"))
    flags = [f if f != setup.model_dir else model_dir for f in setup.flags]
    assert _cli_on_stdin(setup.ts, flags) == 0
    assert NO_ACTIONNESS in capfd.readouterr().err


def test_stdin_that_stalls_without_closing_ends_after_the_read_timeout(setup, capsys):
    """A writer that stops sending but keeps the pipe open: FFmpeg's own pipe reader would wait for ever."""
    read, write = os.pipe()
    with open(setup.ts, "rb") as f:
        data = f.read()
    writer = threading.Thread(target=os.write, args=(write, data), daemon=True)  # then holds the pipe open
    writer.start()
    codes = []
    command = threading.Thread(target=lambda: codes.append(main(
        ["localize", "--stream", "-", *setup.flags, "--read-timeout", "1", "--no-reconnect"])))
    with _as_stdin(read):
        command.start()
        command.join(60)
        stalled_for_ever = command.is_alive()
        os.close(write)  # a command still waiting ends now, so the test fails instead of hanging
        command.join()
    assert not stalled_for_ever and codes == [0]
    assert capsys.readouterr().out.strip()  # the events of what it did send


@contextlib.contextmanager
def _as_stdin(fd: int) -> Iterator[None]:
    """``fd`` as this process's stdin (file descriptor 0) inside the block; closed after it."""
    saved = os.dup(0)
    os.dup2(fd, 0)
    try:
        yield
    finally:
        os.dup2(saved, 0)
        os.close(fd)
        os.close(saved)


def _cli_on_stdin(path: str, flags) -> int:
    """``laf localize --stream -`` with the file ``path`` as this process's stdin."""
    with _as_stdin(os.open(path, os.O_RDONLY)):
        return main(["localize", "--stream", "-", *flags, "--read-timeout", "1"])


def _assert_printed(out: str, offline) -> None:
    """The JSON lines are the online detector's segments of the file's per-frame outputs."""
    record, probabilities, actionness = offline
    lines = [json.loads(line) for line in out.splitlines()]
    expected = online.segments(record.timestamps, probabilities, actionness, config=CONFIG)
    assert [line["label"] for line in lines] == [VOCABULARY.labels[e.label] for e in expected]
    for line, e in zip(lines, expected):
        assert set(line) == {"label", "start", "end", "score", "emitted_at"}
        assert (line["start"], line["end"], line["score"]) == pytest.approx((e.start, e.end, e.score), abs=1e-3)
        assert line["end"] <= line["emitted_at"] + 1e-3


def test_cli_streams_through_a_model_server_with_localize_step(setup, offline, capsys):
    from test_rest import serving

    with serving(localize.load_model(setup.model_dir)) as (_, url):
        code = main(["localize", "--stream", setup.ts, "--server", url,
                     *setup.flags, "--on", str(CONFIG.on), "--off", str(CONFIG.off),
                     "--min-length", str(CONFIG.min_length), "--read-timeout", "0.5", "--batch-size", "4"])
    assert code == 0
    captured = capsys.readouterr()
    _assert_printed(captured.out, offline)
    assert f"stream: localizing with laf/versions/1 at {url} for the whole stream" in captured.err
    assert "warning" not in captured.err


def test_a_server_without_tf_serving_s_model_status_streams_unpinned_at_once(setup, offline, monkeypatch):
    """KServe's V1 status answers {"name", "ready"}: taken for "no version loaded yet", asked again for a
    minute, then the stream refused to start. Now said at once, and the steps go to the bare name."""
    import time as clock

    from test_rest import _TFServing, serving

    class KServe(_TFServing):
        def do_GET(self):
            self._reply(200, {"name": "laf", "ready": True})

    monkeypatch.setattr(rest, "SERVER_PATIENCE", 30.0)
    with serving(localize.load_model(setup.model_dir), KServe) as (_, server):
        started = clock.monotonic()
        stepper = live.RestStepper(server, "laf", setup.model_dir)
        assert clock.monotonic() - started < 5 and stepper.model_name == "laf"
        assert "did not answer as TF Serving's model status" in stepper.pin_error
        np.testing.assert_allclose(stepper.step(offline[0].features[:5].astype(np.float32))[0], offline[1][:5],
                                   atol=1e-5)


def test_a_served_version_other_than_the_local_model_s_is_warned_of(capsys):
    from laf.commands.localize_stream import _say_served_version

    _say_served_version("laf/versions/3", "http://h:8501", "/srv/models/laf/3/")
    _say_served_version("laf/versions/3", "http://h:8501", "/srv/models/laf/2")
    _say_served_version("laf/versions/3", "http://h:8501", "/tmp/copy-of-the-model")  # no version to compare
    _say_served_version("laf/versions/x", "http://h:8501", "/srv/models/laf/2")  # refused by the server, not here
    _say_served_version("laf/labels/stable", "http://h:8501", "/srv/models/laf/2")  # a label: no number
    err = capsys.readouterr().err
    assert err.count("warning") == 1 and "the server's version is 3, --model's folder is version 2" in err


def test_a_model_server_answering_without_the_state_is_a_one_line_error(setup, capfd):
    from test_rest import _OlderServing, serving

    with serving(localize.load_model(setup.model_dir), _OlderServing) as (_, url):
        code = main(["localize", "--stream", setup.ts, "--server", url, *setup.flags, "--read-timeout", "0.5"])
    err = capfd.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "the 'localize_step' answer lacks ['state_c', 'state_r']" in err


def test_a_model_server_that_cannot_answer_now_is_asked_again(setup, offline, monkeypatch, capsys):
    """Two 503s (a version loading) are waited out, with the same step's state; one that never
    recovers fails in one line after rest.SERVER_PATIENCE; a refused request (4xx) is not retried."""
    from laf.errors import UserError
    from test_rest import Flaky, serving

    with serving(localize.load_model(setup.model_dir), Flaky, failures=2) as (httpd, server):
        stepper = live.RestStepper(server, "laf", setup.model_dir)
        x = offline[0].features[:5].astype(np.float32)
        p, _ = stepper.step(x)
        np.testing.assert_allclose(p, offline[1][:5], atol=1e-5)
        assert httpd.calls == 3 and capsys.readouterr().err.count("retrying in") == 2
        httpd.calls, httpd.failures = 0, 10 ** 6
        monkeypatch.setattr(rest, "SERVER_PATIENCE", 1.0)
        with pytest.raises(UserError, match="HTTP 503.*gave up after"):
            stepper.step(x)
        httpd.calls, httpd.failures = 0, 0
        other = live.RestStepper(server, "other", setup.model_dir)  # no status of it: not pinned, said why
        assert other.model_name == "other" and "HTTP 404: Could not find any versions of model other" in other.pin_error
        with pytest.raises(UserError, match="HTTP 404"):
            other.step(x)  # no such model: refused, not retried
        assert httpd.calls == 1
        assert live.RestStepper(server, "other/versions/1", setup.model_dir).pin_error is None  # the user's pin


def test_a_stream_keeps_the_version_it_started_with(setup, offline):
    """TF Serving moves a bare model name to each newly pushed version: a stream's steps went on with
    another model (labels, backbone, state) unsaid. Pinned at the start; once that version is unloaded,
    a one-line error says why and what to do."""
    from laf.errors import UserError
    from test_rest import serving

    x = offline[0].features[:5].astype(np.float32)
    with serving(localize.load_model(setup.model_dir)) as (httpd, server):
        httpd.version = 3
        stepper = live.RestStepper(server, "laf", setup.model_dir)
        assert stepper.model_name == "laf/versions/3"
        np.testing.assert_allclose(stepper.step(x)[0], offline[1][:5], atol=1e-5)
        httpd.version = 4  # a push: the server loads 4 and unloads 3
        assert stepper.pin_error is None
        with pytest.raises(UserError, match=r"HTTP 404: Servable not found for request: Specific\(laf, 3\): the server"
                                            r" no longer has laf/versions/3, which this stream localizes with"):
            stepper.step(x)


# --- loopback streams -------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    """Whether a socket listens on the port (read from /proc: a test connection would be the one
    client ffmpeg serves)."""
    with open("/proc/net/tcp") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    return any(r[1].endswith(f":{port:04X}") and r[3] == "0A" for r in rows)


def _serve(path: str, port: int, realtime: bool = True, wait: bool = True) -> subprocess.Popen:
    """ffmpeg listening on loopback TCP, sending ``path`` as MPEG-TS to the first client."""
    server = subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error", *(["-re"] if realtime else []),
                               "-i", path, "-c", "copy", "-f", "mpegts", f"tcp://127.0.0.1:{port}?listen=1"])
    deadline = time.monotonic() + 10
    while wait and not _listening(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    return server


class _TimedLines:
    """A stdout stand-in that notes when each line was written."""

    def __init__(self):
        self.lines = []

    def write(self, text: str) -> None:
        self.lines += [(time.monotonic(), json.loads(t)) for t in text.splitlines() if t.strip()]

    def flush(self) -> None:
        pass


@NEEDS_FFMPEG
def test_events_arrive_while_the_stream_is_still_playing(setup, offline):
    from laf.ingest.backbones import feature_fn

    record, probabilities, actionness = offline
    expected = online.segments(record.timestamps, probabilities, actionness, config=CONFIG)
    assert expected[0].end < 0.7 * SECONDS  # an action ends well before the stream does
    port = _free_port()
    stepper, features = live.LocalStepper(setup.model_dir), feature_fn(setup.backbone)
    features(np.zeros([1, 32, 32, 3], np.uint8))  # traced before the stream starts
    server = _serve(setup.ts, port)
    out = _TimedLines()
    try:
        source = LiveSource(f"tcp://127.0.0.1:{port}", SourceOptions(reconnect=False, read_timeout=5))
        started = time.monotonic()
        live.run(source, FPS, features, stepper, 32, VOCABULARY.labels, CONFIG, True, 16, out=out)
        assert server.wait(timeout=10) == 0
    finally:
        server.kill()
    closed = [(t, e) for t, e in out.lines if not e.get("partial")]
    assert [e["label"] for _, e in closed] == [VOCABULARY.labels[e.label] for e in expected]
    arrived, first = closed[0]
    playing_until = started + SECONDS
    assert arrived < playing_until - 2.0, "the first event came only when the stream ended"
    assert arrived - started < first["end"] + 5.0  # emitted within seconds of the action's end as it played
    assert any(e.get("partial") and e["start"] == first["start"] for t, e in out.lines if t < arrived)


@NEEDS_FFMPEG
def test_a_stalled_source_without_reconnect_is_a_clear_error(setup):
    port = _free_port()
    server = _serve(setup.ts, port)
    try:
        frames = LiveSource(f"tcp://127.0.0.1:{port}", SourceOptions(reconnect=False, read_timeout=1.0)).frames()
        for _, frame in zip(range(5), frames):
            assert frame.time >= 0
        server.send_signal(signal.SIGSTOP)
        began = time.monotonic()
        with pytest.raises(SourceError, match="broke .*reconnecting is off"):
            for _ in frames:
                pass
        assert time.monotonic() - began < 5.0
    finally:
        server.kill()
    with pytest.raises(SourceError, match="cannot open stream"):
        list(LiveSource(f"tcp://127.0.0.1:{_free_port()}", SourceOptions(reconnect=False, open_timeout=2)).frames())


def _clip(setup, name: str, tint) -> str:
    return vf.encode(os.path.join(setup.root, name), "libx264", vf.cfr(3.0), tint=tint, options={"g": "10"})


@NEEDS_FFMPEG
def test_reconnects_with_backoff_and_one_stream_clock(setup):
    red, blue = _clip(setup, "red.ts", (120, 0, 0)), _clip(setup, "blue.ts", (0, 0, 120))
    port = _free_port()
    source = LiveSource(f"tcp://127.0.0.1:{port}", SourceOptions(read_timeout=2, backoff=0.2, max_attempts=3))
    frames, failure = [], []

    def consume():
        try:
            for f in source.frames():
                frames.append((f.time, f.frame.to_ndarray(format="rgb24")[32, -1, 2], f.resumed))
        except SourceError as e:
            failure.append(str(e))

    consumer = threading.Thread(target=consume)
    consumer.start()  # before any server listens: the first connections are refused and retried
    time.sleep(0.5)
    for clip in (red, blue):
        assert _serve(clip, port, realtime=False, wait=False).wait(timeout=30) == 0
    consumer.join(timeout=30)
    times = np.array([t for t, _, _ in frames])
    assert len(frames) == 60 and np.all(np.diff(times) > 0)  # both clips, time never goes back
    assert source.reconnects >= 2
    blue_from = next(i for i, (_, b, _) in enumerate(frames) if b > 100)
    assert blue_from == 30 and times[blue_from] > times[blue_from - 1]
    assert [i for i, (_, _, resumed) in enumerate(frames) if resumed] == [blue_from]  # the samplers' outage cue
    assert failure and "gave up after 3 failed reconnects" in failure[0]


def _frames(times, resumed_at=None):
    import av

    from laf.serve.stream import Frame

    picture = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
    return [Frame(t, key=True, ref=True, gop=i, frame=picture, duration=0.25, resumed=t == resumed_at)
            for i, t in enumerate(times)]


def test_an_outage_is_not_filled_with_repeated_frames():
    """A reconnect after 60 s: no grid time inside the gap; the same jump without a reconnect (a
    variable-frame-rate source) is sampled as offline, from the frame shown then."""
    times = list(np.arange(0, 5, 0.25)) + list(65 + np.arange(0, 3, 0.25))
    for resumed_at, gap_samples in ((65.0, 0), (None, 119)):
        sampler, samples = OnlineSampler(FPS, 32), []
        for frame in _frames(times, resumed_at):
            samples += sampler.push(frame)
        samples += sampler.finish()
        targets = np.array([s.target for s in samples])
        assert int(((targets > 5.0) & (targets < 65.0)).sum()) == gap_samples
        assert list(targets[:10]) == list(np.arange(0, 5, 0.5)) and list(targets[-6:]) == list(65 + np.arange(0, 3, 0.5))


def test_after_an_outage_the_open_segment_closes_and_the_model_starts_afresh(setup):
    import queue

    from laf.ingest.backbones import feature_fn
    from laf.ingest.media import Sample

    rng = np.random.default_rng(0)
    samples = [Sample(i, i / FPS, i / FPS, rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
               for i in (*range(8), *range(130, 138))]  # grid times 0-3.5 s, then 65-68.5 s
    q, done = queue.Queue(), object()
    for s in (*samples, done):
        q.put(s)
    features = feature_fn(setup.backbone)
    chunks = list(live._steps(q, done, FPS, features, live.LocalStepper(setup.model_dir),
                              online.OnlineConfig(on=0.01, off=1e-9, min_length=0.0), False, 64))
    assert [len(c.timestamps) for c in chunks] == [8, 0, 8, 0]
    assert [(e.start, e.end) for e in chunks[1].events] == [(0.0, 4.0)]  # closed at the last frame's end
    fresh, _ = live.LocalStepper(setup.model_dir).step(features(np.stack([s.image for s in samples[8:]])))
    np.testing.assert_allclose(chunks[2].probabilities, fresh, atol=1e-6)


def test_a_source_that_breaks_still_gives_the_frames_decoded_before_and_closes_the_open_segment(setup):
    """The frames taken with the failure in one batch are stepped, the open segment is emitted, then
    the error is raised (before, those frames and the segment were lost)."""
    import queue

    from laf.ingest.backbones import feature_fn
    from laf.ingest.media import Sample

    rng = np.random.default_rng(0)
    samples = [Sample(i, i / FPS, i / FPS, rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)) for i in range(6)]
    q, done, broke = queue.Queue(), object(), SourceError("connection reset")
    for item in (*samples, broke):
        q.put(item)
    steps = live._steps(q, done, FPS, feature_fn(setup.backbone), live.LocalStepper(setup.model_dir),
                        online.OnlineConfig(on=0.01, off=1e-9, min_length=0.0), False, 64)
    chunks = [next(steps), next(steps)]
    assert [len(c.timestamps) for c in chunks] == [6, 0]
    assert [(e.start, e.end) for e in chunks[1].events] == [(0.0, 6 / FPS)]
    with pytest.raises(SourceError, match="connection reset"):
        next(steps)


@NEEDS_FFMPEG
def test_a_caller_that_leaves_while_the_source_is_down_stops_the_reconnecting(setup):
    """Its decode thread, waiting to reconnect to a server that is gone (never giving up by default),
    would otherwise reconnect forever after the caller left."""
    from laf.ingest.backbones import feature_fn

    port = _free_port()
    server = _serve(_clip(setup, "gone.ts", (0, 120, 0)), port, realtime=False)
    before = set(threading.enumerate())
    source = LiveSource(f"tcp://127.0.0.1:{port}", SourceOptions(read_timeout=1, backoff=0.2, max_backoff=0.5))
    chunks = live.localize_stream(source, FPS, feature_fn(setup.backbone), live.LocalStepper(setup.model_dir), 32,
                                  CONFIG, batch=1)
    assert sum(len(next(chunks).timestamps) for _ in range(4)) == 4
    [decoder] = [t for t in set(threading.enumerate()) - before if t.name == "stream-decode"]
    assert server.wait(timeout=30) == 0
    deadline = time.monotonic() + 20
    while source.reconnects < 2 and time.monotonic() < deadline:  # the clip was sent whole: now reconnecting
        time.sleep(0.05)
    assert source.reconnects >= 2
    chunks.close()
    decoder.join(timeout=5)
    assert not decoder.is_alive()


def test_a_damaged_packet_is_skipped_not_the_end_of_the_stream(tmp_path):
    """Bytes overwritten mid-file: the decoder refuses those packets. Offline the video keeps every
    sample; fed as a stream it ended at the first damaged packet, no error said (a file), or
    reconnected and lost data (a network source). Skipped, a late picture of the damaged group then
    came out behind the clock and read as a restart: 52 samples for 20 s."""
    from laf.ingest.media import Video
    from laf.serve.stream import samples

    path = vf.encode(str(tmp_path / "clean.mp4"), "libx264", vf.cfr(20.0, 10.0), options={"g": "20"},
                     container_options={"movflags": "faststart"})
    data = bytearray(open(path, "rb").read())
    start = len(data) // 2
    data[start:start + 1000] = bytes((i * 37 + 11) % 256 for i in range(1000))
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    offline = Video(str(damaged), fps=2.0, size=32)
    assert len(list(offline.samples())) == 40 and offline.damaged  # the damage is one the decoder refuses
    source = LiveSource(str(damaged), SourceOptions(read_timeout=0.5))
    got = list(samples(source, 2.0, 32))
    assert [s.index for s in got] == list(range(40)) and source.damaged > 0 and source.reconnects == 0


def test_restarting_timestamps_keep_the_sampling_grid(setup):
    red, blue = _clip(setup, "red2.ts", (120, 0, 0)), _clip(setup, "blue2.ts", (0, 0, 120))
    joined = os.path.join(setup.root, "joined.ts")
    with open(joined, "wb") as out:
        for clip in (red, blue):
            with open(clip, "rb") as f:
                out.write(f.read())  # the second clip's timestamps start again from 0
    sampler, samples = OnlineSampler(FPS, 32), []
    for frame in LiveSource(joined, SourceOptions(read_timeout=0.5)).frames():
        samples += sampler.push(frame)
    samples += sampler.finish()
    assert [s.index for s in samples] == list(range(12))  # 6 s at 2 fps
    assert np.all(np.diff([s.timestamp for s in samples]) > 0)
    assert [s.image[16, -1, 2] > 100 for s in samples] == [False] * 6 + [True] * 6


def _answering(payloads) -> int:
    """A loopback server that answers its n-th connection with ``payloads[min(n, len - 1)]`` and
    closes it; returns its port (the thread ends with the test process)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer():
        for n in itertools.count():
            client, _ = listener.accept()
            with client:
                client.sendall(payloads[min(n, len(payloads) - 1)])

    threading.Thread(target=answer, daemon=True).start()
    return listener.getsockname()[1]


def _frames_or_error(source: LiveSource) -> tuple:
    """(frames, error message or "") of reading ``source`` to its end, within 30 s."""
    got, failure = [], []

    def consume():
        try:
            got.extend(source.frames())
        except SourceError as e:
            failure.append(str(e))

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    consumer.join(timeout=30)
    assert not consumer.is_alive(), "still reading after 30 s"
    return got, (failure or [""])[0]


def _audio_ts(tmp_path) -> bytes:
    sound = vf.audio_only(str(tmp_path / "sound.m4a"))
    ts = str(tmp_path / "sound.ts")
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", sound, "-c", "copy", "-f", "mpegts", ts],
                   check=True)
    return open(ts, "rb").read()


@NEEDS_FFMPEG
def test_a_network_source_without_video_is_an_error_after_a_few_tries(tmp_path, capsys):
    """An audio stream (a wrong URL or track) was retried like a broken source, forever by default,
    printing "reconnecting" every 10 s. A few reopenings stay (a publisher may probe as audio only
    while its encoder starts)."""
    port = _answering([_audio_ts(tmp_path)])
    frames, error = _frames_or_error(LiveSource(f"tcp://127.0.0.1:{port}", SourceOptions(read_timeout=1, backoff=0.05)))
    assert not frames and error == f"stream tcp://127.0.0.1:{port} has no video track (an audio-only stream, or the" \
                                   f" wrong URL?), in {NO_VIDEO_RETRIES + 1} connections"
    assert capsys.readouterr().err.count("reconnecting") == NO_VIDEO_RETRIES


def test_a_video_on_demand_over_http_ends_at_its_end_and_is_not_played_again(tmp_path, capsys):
    """An MP4 over HTTP states its duration; its end was taken for a break and the file reopened, so
    it played again from its start, forever (its events again and again, at later stream times)."""
    clip = vf.encode(str(tmp_path / "vod.mp4"), "libx264", vf.cfr(3.0), container_options={"movflags": "faststart"})
    with open(clip, "rb") as f:
        data = f.read()
    port = _answering([b"HTTP/1.0 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: %d\r\n\r\n" % len(data) + data])
    source = LiveSource(f"http://127.0.0.1:{port}/vod.mp4", SourceOptions(read_timeout=2, backoff=0.05))
    frames, error = _frames_or_error(source)
    assert error == "" and len(frames) == 30 and source.reconnects == 0
    assert "reconnecting" not in capsys.readouterr().err


@NEEDS_FFMPEG
def test_a_live_flv_stream_whose_metadata_says_duration_0_is_reconnected_not_ended(tmp_path):
    """A live RTMP/FLV publisher (OBS, ffmpeg -f flv) writes duration 0 in its metadata: taken for a
    recording, the stream ended when the publisher dropped instead of reconnecting."""
    live_flv = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                               "testsrc2=size=96x64:rate=10:duration=3", "-c:v", "libx264", "-g", "10", "-f", "flv",
                               "-"], capture_output=True, check=True).stdout
    port = _answering([live_flv, _audio_ts(tmp_path)])
    options = SourceOptions(read_timeout=1, backoff=0.05, max_attempts=2)
    frames, error = _frames_or_error(LiveSource(f"tcp://127.0.0.1:{port}", options))
    assert len(frames) >= 25 and "gave up after 2 failed reconnects" in error  # reconnected, as a live source


def test_a_relative_file_name_with_a_colon_is_a_file_not_a_protocol(setup, tmp_path, monkeypatch):
    """FFmpeg read "cam:1.ts" as a URL of the protocol "cam": "cannot open stream"."""
    shutil.copy(setup.ts, str(tmp_path / "cam:1.ts"))
    monkeypatch.chdir(tmp_path)
    frames, error = _frames_or_error(LiveSource("cam:1.ts", SourceOptions(read_timeout=1)))
    assert error == "" and len(frames) >= SECONDS * 10 - 5


def test_a_raw_h264_stream_is_an_error_at_once_that_says_how_to_relay_it(tmp_path, capsys):
    """A camera's raw H.264 over TCP (``libcamera-vid --listen -o tcp://...``) has no container, so
    its packets carry no times: each was skipped, and the stream gave no frame and no word while data
    kept coming, then "reconnecting" forever. No connection can do better: an error, not retried."""
    raw = vf.encode(str(tmp_path / "camera.h264"), "libx264", vf.cfr(3.0))
    port = _answering([open(raw, "rb").read()])
    for source in (f"tcp://127.0.0.1:{port}", raw):
        frames, error = _frames_or_error(LiveSource(source, SourceOptions(read_timeout=1, backoff=0.05)))
        assert not frames and error.startswith(f"stream {source} is a raw h264 stream: its frames carry no times")
        assert "ffmpeg -f h264 -r RATE -i SOURCE -c copy -f mpegts - | laf localize --stream -" in error
    assert "reconnecting" not in capsys.readouterr().err


@NEEDS_FFMPEG
def test_a_music_file_with_cover_art_is_no_video(tmp_path):
    """Its album art is a one-picture "video" stream: it was decoded as the stream's one frame (0 events,
    exit status 0), as if it were a video. Offline ingestion refuses it the same way."""
    frames, error = _frames_or_error(LiveSource(vf.song_with_cover(str(tmp_path)), SourceOptions(read_timeout=1)))
    assert not frames and error.endswith("no video stream, only an attached cover picture (an audio file?)")


@NEEDS_FFMPEG
def test_connections_that_give_no_frames_count_towards_max_reconnects(setup, tmp_path):
    """A source that gave video and then answers every reconnection with no video (a camera whose
    encoder is down) is retried; none of those connections gives a frame, so reconnecting gives up
    after max_attempts instead of forever."""
    with open(setup.ts, "rb") as f:
        port = _answering([f.read(), _audio_ts(tmp_path)])
    options = SourceOptions(read_timeout=1, backoff=0.05, max_attempts=2)
    frames, error = _frames_or_error(LiveSource(f"tcp://127.0.0.1:{port}", options))
    assert len(frames) >= SECONDS * 10 - 5  # the first connection's video (10 fps), decoded whole
    assert "gave up after 2 failed reconnects" in error and "has no video" in error


def test_cli_stream_errors_are_one_line(setup, capfd):
    from test_localize import _stderr

    argv = ["localize", "--stream", f"tcp://127.0.0.1:{_free_port()}", "--no-reconnect", *setup.flags]
    assert main(argv) == 2
    err = _stderr(capfd)
    assert "laf localize: error: cannot open stream" in err and "Traceback" not in err
    assert main(["localize", "--stream", "-", setup.ts, *setup.flags]) == 2
    assert "one of the two" in _stderr(capfd)
    assert main(["localize", "--stream", setup.ts, *setup.flags, "--progress-every", "0"]) == 2
    assert "--progress-every must be > 0" in _stderr(capfd)  # not a progress line per model step
    assert main(["localize", "--stream", setup.ts, *setup.flags, "--off", "0"]) == 2
    assert "online detector needs 0 < off < on" in _stderr(capfd)  # a segment would never close


def test_a_growing_file_is_followed_until_it_stops_growing(setup):
    clip = _clip(setup, "growing_src.ts", (120, 0, 0))
    growing = os.path.join(setup.root, "growing.ts")
    with open(clip, "rb") as f:
        data = f.read()
    open(growing, "wb").close()

    last_write = []

    def write():  # a recorder appending the stream in pieces
        with open(growing, "ab") as out:
            for i in range(0, len(data), 4096):
                out.write(data[i:i + 4096])
                out.flush()
                last_write[:] = [time.monotonic()]
                time.sleep(0.05)

    writer = threading.Thread(target=write)
    writer.start()
    times = [f.time for f in LiveSource(growing, SourceOptions(read_timeout=3.0)).frames()]  # > a busy runner's stall
    ended = time.monotonic()  # before the join, which alone waits for the writer
    writer.join()
    assert len(times) == 30 and np.all(np.diff(times) > 0)  # every frame, including those written last
    assert ended > last_write[0]  # it waited for the writer's last piece


@pytest.mark.parametrize("content, message", [
    (b"", "a zero-byte file (nothing written to it within 0.5 s)"),
    (b"<html>not a video</html>", "not a readable media stream (truncated or of another type?)"),
])
def test_a_file_that_is_no_stream_is_named_as_such(tmp_path, content, message):
    path = tmp_path / "clip.mp4"
    path.write_bytes(content)
    with pytest.raises(SourceError, match=re.escape(f"cannot open stream {path}: {message}")):
        list(LiveSource(str(path), SourceOptions(read_timeout=0.5)).frames())
    with pytest.raises(SourceError, match=re.escape(f"cannot open stream {path}: {message}")):  # as a file:// URL
        list(LiveSource(f"file://{path}", SourceOptions(read_timeout=0.5)).frames())


def test_a_named_pipe_is_said_to_go_to_stdin_not_called_missing(tmp_path):
    fifo = tmp_path / "camera.fifo"
    os.mkfifo(fifo)
    with pytest.raises(SourceError, match=re.escape(f"{fifo} is not a regular file: give a named pipe or device as"
                                                    f" stdin (laf localize --stream - < {fifo})")):
        list(LiveSource(str(fifo)).frames())
    with pytest.raises(SourceError, match=re.escape(f"stream source {tmp_path} is a folder, not a video file")):
        list(LiveSource(str(tmp_path)).frames())
    with pytest.raises(SourceError, match=re.escape(f"stream source not found: {tmp_path / 'gone.ts'}")):
        list(LiveSource(f"file://{tmp_path / 'gone.ts'}").frames())


def test_a_long_wait_for_the_first_keyframe_is_said_once(tmp_path, capsys):
    """A recording cut after its keyframe: 12 s of pictures cannot decode until the next one. Frames
    came out afterwards, but while they did not nothing said why (a live source whose encoder never
    sends a keyframe stayed silent for good)."""
    import av

    whole = vf.encode(str(tmp_path / "whole.ts"), "libx264", vf.cfr(16.0, 4.0), options={"g": "48", "bf": "0", "sc_threshold": "0"})
    cut = str(tmp_path / "cut.ts")
    with av.open(whole) as source, av.open(cut, "w", format="mpegts") as out:
        stream = out.add_stream_from_template(source.streams.video[0])
        for n, packet in enumerate(p for p in source.demux(source.streams.video[0]) if p.dts is not None):
            if n:  # all but the first keyframe
                packet.stream = stream
                out.mux(packet)
    for path, said in ((whole, False), (cut, True)):
        frames = list(LiveSource(path, SourceOptions(read_timeout=0.5)).frames())
        assert len(frames) == (64 if path == whole else 16)  # 4 fps, from 12 s on once cut
        err = capsys.readouterr().err
        assert (f"stream: no keyframe in 10 s of {cut}'s pictures" in err) is said, err
        assert err.count("no keyframe") == int(said)


@NEEDS_FFMPEG
def test_stdin_that_ends_without_a_decodable_frame_is_an_error(tmp_path):
    """An MPEG-TS on stdin whose keyframe is missing (cut from the middle of a recording): every packet
    was skipped and the run ended with "ended after 0 events", exit status 0."""
    import av

    whole, cut = str(tmp_path / "whole.ts"), str(tmp_path / "cut.ts")
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=s=64x48:r=4",
                    "-t", "5", "-c:v", "libx264", "-g", "100", "-f", "mpegts", whole], check=True)
    with av.open(whole) as source, av.open(cut, "w", format="mpegts") as out:
        stream = out.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None and not packet.is_keyframe:
                packet.stream = stream
                out.mux(packet)
    code = ("from laf.serve.stream import LiveSource, SourceOptions\n"
            "print(len(list(LiveSource('-', SourceOptions(read_timeout=0.5)).frames())))")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(cut, "rb") as stdin:
        done = subprocess.run([sys.executable, "-c", code], stdin=stdin, capture_output=True, text=True, timeout=60,
                              cwd=root)
    assert done.returncode != 0 and "SourceError: stream - ended without a decodable video frame" in done.stderr


class _InterruptingQueue:
    """The decoded samples, then Ctrl-C while waiting for more (where a live stream mostly is)."""

    def __init__(self, items):
        self.items = list(items)

    def get(self):
        if not self.items:
            raise KeyboardInterrupt
        return self.items.pop(0)

    def get_nowait(self):
        import queue

        if not self.items:
            raise queue.Empty
        return self.items.pop(0)


def _open_segment_samples(count: int):
    from laf.ingest.media import Sample

    rng = np.random.default_rng(0)
    return [Sample(i, i / FPS, i / FPS, rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)) for i in range(count)]


ALWAYS_ON = online.OnlineConfig(on=0.01, off=1e-9, min_length=0.0)  # every frame in one open segment


def test_ctrl_c_while_waiting_prints_the_open_segment_before_stopping(setup):
    """A live source never ends by itself, so the stop is a signal: the action open then was lost."""
    from laf.ingest.backbones import feature_fn

    steps = live._steps(_InterruptingQueue(_open_segment_samples(6)), object(), FPS, feature_fn(setup.backbone),
                        live.LocalStepper(setup.model_dir), ALWAYS_ON, False, 64)
    try:
        chunks = [next(steps), next(steps)]
    except KeyboardInterrupt:  # as pytest's own, it would end the whole session
        pytest.fail("the interrupt went on before the open segment was given")
    assert [len(c.timestamps) for c in chunks] == [6, 0] and chunks[0].events == []
    assert [(e.start, e.end, e.partial) for e in chunks[1].events] == [(0.0, 6 / FPS, False)]
    with pytest.raises(KeyboardInterrupt):
        next(steps)


class _InterruptOnce:
    """A stdout or stderr whose first write is hit by Ctrl-C."""

    def __init__(self):
        self.text, self.interrupted = [], False

    def write(self, text):
        if not self.interrupted:
            self.interrupted = True
            raise KeyboardInterrupt
        self.text.append(text)

    def flush(self):
        pass


def _stream_of_samples(monkeypatch, count: int) -> None:
    """``live.run``'s stream: ``count`` decoded samples through the real model loop, then waiting."""
    import queue

    waiting = queue.Queue()
    for sample in _open_segment_samples(count):
        waiting.put(sample)

    def stream(source, fps, features, stepper, size, config, partial, batch):
        return live._steps(waiting, object(), fps, features, stepper, config, partial, batch)

    monkeypatch.setattr(live, "localize_stream", stream)


def test_ctrl_c_while_printing_prints_the_open_segment_before_stopping(setup, monkeypatch):
    """The interrupt lands in the caller (printing a partial line): thrown into the stream, which closes
    what it has open, printed before the stop goes on."""
    from laf.ingest.backbones import feature_fn

    _stream_of_samples(monkeypatch, 6)
    out = _InterruptOnce()
    with pytest.raises(KeyboardInterrupt):
        live.run(None, FPS, feature_fn(setup.backbone), live.LocalStepper(setup.model_dir), 32, VOCABULARY.labels,
                 ALWAYS_ON, True, 64, out=out)
    printed = [json.loads(line) for line in "".join(out.text).splitlines()]
    assert [(e["start"], e["end"], e.get("partial")) for e in printed] == [(0.0, 6 / FPS, None)]


class _ScriptedStepper:
    """A model whose actionness follows a script, one class always: segments close where it is 0."""

    def __init__(self, actionness):
        self.actionness = list(actionness)

    def reset(self):
        pass

    def step(self, features):
        taken, self.actionness = self.actionness[:len(features)], self.actionness[len(features):]
        return np.tile([[1.0, 0.0]], (len(features), 1)), np.asarray(taken, np.float64)


@pytest.mark.parametrize("where", ["printing an event", "printing the progress line"])
def test_ctrl_c_in_the_printing_loses_no_closed_event(where, monkeypatch):
    """Ctrl-C while the first of a step's two closed events was printed lost both (only the open segment
    came out); while the progress line was printed it lost the open segment."""
    import io

    _stream_of_samples(monkeypatch, 8)
    out = _InterruptOnce() if where == "printing an event" else io.StringIO()
    if where == "printing the progress line":
        monkeypatch.setattr(sys, "stderr", _InterruptOnce())
    source = type("Source", (), {"reconnects": 0})()
    with pytest.raises(KeyboardInterrupt):
        live.run(source, FPS, lambda images: np.zeros((len(images), 4), np.float32),
                 _ScriptedStepper([1, 1, 0, 1, 1, 0, 1, 1]), 32, ["a", "b"],
                 online.OnlineConfig(on=0.5, off=0.1, min_length=0.0), False, 64, out=out, progress_every=0.0)
    printed = "".join(out.text) if where == "printing an event" else out.getvalue()
    spans = [(e["start"], e["end"]) for e in map(json.loads, printed.splitlines())]
    assert spans == [(0.0, 2 / FPS), (3 / FPS, 5 / FPS), (6 / FPS, 8 / FPS)]


def test_a_stop_signal_set_to_be_ignored_stays_ignored():
    """``nohup`` ignores SIGHUP so that a stream outlives its terminal: taking it over stopped the stream."""
    from laf.commands.localize_stream import _stop_signals

    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with _stop_signals():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN)
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)


def test_sigterm_prints_the_open_segment_and_exits_143(setup, capsys, monkeypatch):
    """A service manager's stop (or a closed terminal's SIGHUP) killed the command at once: now handled
    as Ctrl-C, the open segment printed, exit 128 + 15."""
    pushed = threading.Event()
    push = online.OnlineDetector.push

    def recording_push(self, *args, **kwargs):
        found = push(self, *args, **kwargs)
        if len(args[0]):
            pushed.set()
        return found

    monkeypatch.setattr(online.OnlineDetector, "push", recording_push)
    read, write = os.pipe()
    with open(setup.ts, "rb") as f:
        data = f.read()
    threading.Thread(target=os.write, args=(write, data[:len(data) // 2]), daemon=True).start()  # then stalls

    def stop():
        if pushed.wait(120) and signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN, None):
            os.kill(os.getpid(), signal.SIGTERM)  # only once the command's handler holds it

    threading.Thread(target=stop, daemon=True).start()
    before = signal.getsignal(signal.SIGTERM)
    try:
        with _as_stdin(read):
            code = main(["localize", "--stream", "-", *setup.flags, "--read-timeout", "60", "--on", "0.01",
                         "--off", "0.000001", "--min-length", "0"])
    finally:
        os.close(write)
    captured = capsys.readouterr()
    assert code == 143 and "stream: stopped by SIGTERM" in captured.err
    assert signal.getsignal(signal.SIGTERM) == before  # restored
    [event] = [json.loads(line) for line in captured.out.splitlines()]
    assert event["start"] == 0.0 and event["end"] > 0 and "partial" not in event
