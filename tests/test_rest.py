"""TF Serving's REST predict API (``laf.serve.rest``) with the real exported SavedModel: each
signature's request body, once through JSON and the server's JSON-to-tensor conversion, gives the
direct call's outputs; the README documents exactly these bodies; ``laf localize --server`` talks
to a real HTTP server on loopback that answers as TF Serving does."""
import base64
import contextlib
import http.server
import io
import json
import os
import re
import shutil
import socket
import threading

import numpy as np
import pytest

from laf.cli import main
from laf.errors import UserError
from laf.serve import localize, rest
from schemas.records import VideoRecord
from serving_fixtures import BACKBONE_FLAGS, VOCABULARY
import tf_serving

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
SIGNATURES = ("serving_default", "frame_features", "localize")


@pytest.fixture(scope="module")
def model(served_model):
    return localize.load_model(served_model.model_dir)


@pytest.fixture(scope="module")
def inputs(served_model):
    """Each signature's named inputs for the two videos."""
    examples = served_model.examples
    records = [VideoRecord.parse(e) for e in examples]
    lengths = np.array([r.num_frames for r in records], np.int32)
    padded = np.zeros((len(records), lengths.max(), records[0].features.shape[1]), np.float32)
    for i, r in enumerate(records):
        padded[i, :r.num_frames] = r.features
    return {"serving_default": {"examples": examples}, "localize": {"examples": examples},
            "frame_features": {"frame_features": padded, "lengths": lengths}}


def _skeleton(value):
    """A JSON value's structure: object keys and list nesting, leaves by kind."""
    if isinstance(value, dict):
        return {k: _skeleton(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_skeleton(value[0])] if value else []
    return "number" if isinstance(value, (int, float)) else type(value).__name__


@pytest.mark.parametrize("signature", SIGNATURES)
def test_rest_body_gives_the_direct_call_outputs(model, inputs, signature):
    body = json.loads(json.dumps(rest.request_body(signature, inputs[signature])))  # as it travels
    if signature == "frame_features":
        assert body["inputs"]["lengths"] == inputs[signature]["lengths"].tolist()
    else:
        examples = inputs[signature]["examples"]
        assert body["inputs"]["examples"] == [{"b64": base64.b64encode(e).decode()} for e in examples]
    served = rest.parse_response(json.loads(json.dumps(tf_serving.serve(model, body))), signature)
    direct = tf_serving.call(model, signature, inputs[signature])
    assert sorted(served) == sorted(direct) and "probabilities" in served
    for name, value in direct.items():
        np.testing.assert_array_equal(served[name], value, err_msg=name)  # JSON numbers carry float32 exactly


def test_localize_refuses_times_that_decrease_or_are_not_finite(model, inputs):
    """A client's record with reversed or NaN times is a named error, not segments that end before
    they start (as localize_frames refuses them); the padding past a record's frames is not checked."""
    import dataclasses

    import tensorflow as tf

    records = [VideoRecord.parse(e) for e in inputs["localize"]["examples"]]
    shorter = min(records, key=lambda r: r.num_frames)
    assert shorter.num_frames < max(r.num_frames for r in records)  # a padded row in the batch
    assert tf_serving.call(model, "localize", {"examples": [r.serialize() for r in records]})["count"].all()
    for times, message in ((shorter.timestamps[::-1], "timestamps must not decrease"),
                           (np.full(shorter.num_frames, np.nan), "timestamps must be finite seconds")):
        bad = dataclasses.replace(shorter, timestamps=np.asarray(times, np.float32))
        batch = [bad.serialize() if r is shorter else r.serialize() for r in records]
        with pytest.raises(tf.errors.InvalidArgumentError, match=f"localize: {message}"):
            tf_serving.call(model, "localize", {"examples": batch})


@pytest.mark.parametrize("signature", ["serving_default", "localize"])
def test_a_record_with_fewer_times_than_frames_is_refused(model, inputs, signature):
    """A hand-built record one time short: outputs misaligned with their times, or an index error that
    named no cause (in a batch with longer videos: "timestamps must not decrease", from the padding)."""
    import tensorflow as tf

    examples = list(inputs["localize"]["examples"])
    short = tf.train.SequenceExample.FromString(examples[0])
    del short.feature_lists.feature_list["timestamp"].feature[-1]
    examples[0] = short.SerializeToString()
    with pytest.raises(tf.errors.InvalidArgumentError, match="examples: give one timestamp per frame of frame_features"):
        tf_serving.call(model, signature, {"examples": examples})


@pytest.mark.parametrize("lengths, message", [
    ([5], "give one length per video"),  # broadcast to every row before
    ([1000, 1], "a length beyond the frames given"),  # clipped to T before
    ([-1, 1], "lengths must be >= 0")])  # a row of zeros before
def test_frame_features_refuses_lengths_that_do_not_fit_the_batch(model, inputs, lengths, message):
    import tensorflow as tf

    batch = inputs["frame_features"]["frame_features"]
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"frame_features: {message}"):
        tf_serving.call(model, "frame_features", {"frame_features": batch, "lengths": np.array(lengths, np.int32)})


def test_non_finite_features_are_refused_where_they_count(model, inputs):
    """NaN features gave NaN outputs (bare NaN tokens in TF Serving's JSON, which strict parsers refuse), and
    through localize_step a NaN state that spoilt every later chunk. Padding past a video's length may hold
    anything."""
    import tensorflow as tf

    batch, lengths = (np.array(inputs["frame_features"][k]) for k in ("frame_features", "lengths"))
    short = int(np.argmin(lengths))
    padded = batch.copy()
    padded[short, lengths[short]:] = np.nan
    assert np.isfinite(tf_serving.call(model, "frame_features", {"frame_features": padded,
                                                                  "lengths": lengths})["probabilities"]).all()
    bad = batch.copy()
    bad[short, 0, 0] = np.inf
    with pytest.raises(tf.errors.InvalidArgumentError, match="frame_features: features must be finite"):
        tf_serving.call(model, "frame_features", {"frame_features": bad, "lengths": lengths})
    widths = [model.signatures["localize_step"].structured_input_signature[1][k].shape[-1] for k in ("state_r", "state_c")]
    state = {"state_r": np.zeros([1, widths[0]], np.float32), "state_c": np.zeros([1, widths[1]], np.float32)}
    assert np.isfinite(tf_serving.call(model, "localize_step", {"frame_features": batch[:1, :3], **state})["state_r"]).all()
    for name, value in (("frame_features", bad[short:short + 1, :3]),
                        ("state_r", np.full([1, widths[0]], np.nan, np.float32))):
        with pytest.raises(tf.errors.InvalidArgumentError, match=f"localize_step: {name} must be finite"):
            tf_serving.call(model, "localize_step", {"frame_features": batch[:1, :3], **state, name: value})


def test_readme_documents_the_bodies_sent(inputs):
    with open(README) as f:
        text = f.read()
    start = text.index("## Serving")
    section = text[start:text.index("\n## ", start)]
    bodies = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", section, re.S)]
    documented = {b["signature_name"]: b for b in bodies if "signature_name" in b}
    # localize_frames' body as tests/test_localize_frames.py sends it (the shape only: any bytes do)
    sent = {**inputs, "localize_frames": {"frames": [b"\xff\xd8\xff", b"\x89PNG"],
                                          "timestamps": np.array([0.0, 0.5], np.float32)}}
    assert sorted(documented) == sorted(sent)
    for name, body in documented.items():
        assert _skeleton(body) == _skeleton(rest.request_body(name, sent[name])), name


class _TFServing(http.server.BaseHTTPRequestHandler):
    """Answers ``POST /v1/models/laf[/versions/N]:predict`` and the model status ``GET /v1/models/laf``
    as TF Serving's REST API does, with the SavedModel as its one loaded version, ``server.version``
    (TF Serving's default policy unloads a version once a newer one is loaded)."""

    def do_GET(self):
        if self.path != f"/v1/models/{rest.DEFAULT_MODEL_NAME}":
            return self._reply(404, {"error": f"Could not find any versions of model {self.path.split('/')[-1]}"})
        self._reply(200, {"model_version_status": [{"version": str(self.server.version),
                                                    "state": "AVAILABLE",
                                                    "status": {"error_code": "OK", "error_message": ""}}]})

    def do_POST(self):
        found = re.fullmatch(r"/v1/models/([^/:]+)(?:/versions/(\d+))?:predict", self.path)
        if not found or found.group(1) != rest.DEFAULT_MODEL_NAME or found.group(2) not in (None, str(self.server.version)):
            name = found.group(1) if found else self.path
            wanted = f"Specific({name}, {found.group(2)})" if found and found.group(2) else f"Latest({name})"
            return self._reply(404, {"error": f"Servable not found for request: {wanted}"})
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        try:
            answer = self.answer(body)
        except Exception as e:  # noqa: BLE001 -- TF Serving answers any bad request with 400 + error
            return self._reply(400, {"error": str(e).splitlines()[0]})
        self._reply(200, answer)

    def answer(self, body: dict) -> dict:
        return tf_serving.serve(self.server.model, body)

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class _OlderServing(_TFServing):
    """A server whose model answers as an export of another version: without some outputs."""

    LACKS = {"localize": ("probabilities", "timestamps"), "localize_step": ("state_r", "state_c")}

    def answer(self, body: dict) -> dict:
        outputs = super().answer(body)["outputs"]
        lacks = self.LACKS.get(body.get("signature_name"), ())
        return {"outputs": {k: v for k, v in outputs.items() if k not in lacks}}


class Flaky(_TFServing):
    """Answers HTTP 503 (a version loading) to the first ``server.failures`` requests."""

    def do_POST(self):
        self.server.calls += 1
        if self.server.calls <= self.server.failures:
            self.rfile.read(int(self.headers["Content-Length"]))
            return self._reply(503, {"error": "Servable not available"})
        return super().do_POST()


class Deadline(_TFServing):
    """Answers as TF Serving does when a request outlives its --rest_api_timeout_in_ms (30 s by default)."""

    def do_POST(self):
        self.server.calls += 1
        self.rfile.read(int(self.headers["Content-Length"]))
        return self._reply(504, {"error": "Deadline Exceeded"})


@contextlib.contextmanager
def serving(model, handler=_TFServing, failures: int = 0):
    """(a loopback HTTP server answering with ``model``, its URL) while in the block; ``failures``:
    how many requests a :class:`Flaky` handler answers 503 (``httpd.calls`` counts them all)."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.model, httpd.calls, httpd.failures, httpd.version = model, 0, failures, 1
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def server(model):
    with serving(model) as (_, url):
        yield url


def test_cli_server_mode_prints_the_local_detections(served_model, model, server, capsys):
    s = served_model
    expected = localize.format_table(localize.localize_examples(model, s.examples, localize.video_ids(s.videos),
                                                                s.videos, VOCABULARY))
    labels = os.path.join(s.model_dir, "assets", "labels.json")
    assert main(["localize", "--server", server, *s.videos, *BACKBONE_FLAGS, "--labels", labels, "--top", "0"]) == 0
    printed = capsys.readouterr().out
    assert printed.strip() == expected.strip() and len(printed.splitlines()) > len(VOCABULARY)


def test_tf_serving_s_own_deadline_is_not_asked_again(model):
    """A long video outlived TF Serving's 30 s request deadline: its 504 was retried for a minute, and
    two such videos in a row ended the run as "the server is gone"."""
    with serving(model, Deadline) as (httpd, url):
        with pytest.raises(UserError, match=r"answered HTTP 504: Deadline Exceeded: the model server's deadline for one"
                                            r" request ran out; .* --rest_api_timeout_in_ms") as info:
            rest.predict_patiently(url, "localize", {"examples": [b"x"]})
    assert not isinstance(info.value, rest.ServerUnavailable) and httpd.calls == 1


def test_cli_server_mode_waits_out_a_server_that_cannot_answer_now(served_model, model, server, capsys):
    """Two 503s on a video (a version loading) are asked again, not the end of every video's work."""
    s = served_model
    labels = os.path.join(s.model_dir, "assets", "labels.json")
    argv = [*s.videos, *BACKBONE_FLAGS, "--labels", labels, "--top", "0"]
    assert main(["localize", "--server", server, *argv]) == 0
    expected = capsys.readouterr().out
    with serving(model, Flaky, failures=2) as (httpd, url):
        assert main(["localize", "--server", url, *argv]) == 0
    printed = capsys.readouterr()
    assert printed.out == expected and printed.err.count("HTTP 503: Servable not available; retrying in") == 2
    assert httpd.calls == len(s.videos) + 2


def test_a_localize_request_may_take_a_long_video_s_time_and_a_timeout_says_so(served_model, server, inputs,
                                                                               monkeypatch, capsys):
    """The retry patience (60 s) is not one request's timeout: a long video's answer may take minutes."""
    timeouts = []
    real = rest.predict
    monkeypatch.setattr(rest, "predict", lambda *args, timeout: timeouts.append(timeout) or real(*args))
    assert main(["localize", "--server", server, served_model.videos[0], *BACKBONE_FLAGS]) == 0
    rest.predict_patiently(server, "localize", inputs["localize"])  # a live step: what is left of the patience
    assert timeouts[0] == rest.REQUEST_TIMEOUT == 300 and timeouts[1] <= rest.SERVER_PATIENCE
    monkeypatch.setattr(rest, "predict", real)
    with socket.socket() as listener:  # accepts the connection, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        silent = f"http://127.0.0.1:{listener.getsockname()[1]}"
        monkeypatch.setattr(rest, "SERVER_PATIENCE", 0.2)  # the first request alone outlasts it: not sent again
        with pytest.raises(UserError, match=r"^the model server at .* did not answer within 0.5 s$"):
            rest.predict_patiently(silent, "localize", inputs["localize"], timeout=0.5)
        monkeypatch.setattr(rest, "SERVER_PATIENCE", 2.0)
        with pytest.raises(UserError, match=r"did not answer within 0.5 s \(gave up after \d tries in \d s\)$"):
            rest.predict_patiently(silent, "localize", inputs["localize"], timeout=0.5)


def test_server_errors_are_user_errors(server, inputs):
    with pytest.raises(UserError, match=r"answered HTTP 404: Servable not found for request: Latest\(other\)"):
        rest.predict(server, "localize", inputs["localize"], model_name="other")
    wrong = {"frame_features": inputs["frame_features"]["frame_features"][..., :5], "lengths": [1, 1]}
    with pytest.raises(UserError, match=r"answered HTTP 400: \S"):  # another feature dimension
        rest.predict(server, "frame_features", wrong)
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(UserError, match="cannot reach the model server at .*refused"):
        rest.predict(closed, "localize", inputs["localize"])


@contextlib.contextmanager
def _raw_answer(answer: bytes):
    """A loopback server that reads one request and writes ``answer``'s bytes, then closes."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        connection, _ = listener.accept()
        with connection:
            request = b""
            while b"\r\n\r\n" not in request:
                request += connection.recv(1 << 16)
            head, body = request.split(b"\r\n\r\n", 1)
            length = int(re.search(rb"Content-Length: (\d+)", head, re.I).group(1))
            while len(body) < length:  # all of it: unread bytes at close would reset the connection
                body += connection.recv(1 << 16)
            connection.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        thread.join(timeout=5)
        listener.close()


def _http(status: str, body: bytes, length: int = -1) -> bytes:
    size = len(body) if length < 0 else length
    return f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n".encode() + body


HTTP2_SETTINGS = b"\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x64"  # what gRPC's port answers


@pytest.mark.parametrize("answer, error, match", [
    (HTTP2_SETTINGS, UserError, "did not answer as a REST endpoint .*gRPC port"),
    (_http("200 OK", b'{"outputs": {"a": [1]}}', length=100), rest.ServerUnavailable, "broke off its answer"),
    (_http("200 OK", b"[]"), UserError, r"answer is not a JSON object: \[\]"),
    (_http("200 OK", b"null"), UserError, "answer is not a JSON object: null"),
    (_http("400 Bad Request", json.dumps({"error": "assertion failed: [" + rest.NOT_FINITE + "]\n\t [[{{node a}}]]"})
           .encode()), UserError, re.escape(f"answered HTTP 400: {rest.NOT_FINITE}") + "$"),
    (_http("400 Bad Request", b'{"error": "Matrix size-incompatible\\n\\t [[{{node b}}]]"}'), UserError,
     "answered HTTP 400: Matrix size-incompatible$"),
    (_http("502 Bad Gateway", b"<html>\n<h1>502 Bad Gateway</h1>\n</html>"), rest.ServerUnavailable,
     "answered HTTP 502: <html>$"),  # a proxy's page: one line
    # an error page cut short: reading it failed inside the handler, a traceback (IncompleteRead)
    (_http("502 Bad Gateway", b"<html>", length=500), rest.ServerUnavailable, "answered HTTP 502"),
    # a proxy's 504 is asked again (TF Serving's own, {"error": "..."}, is not: its deadline would run out again)
    (_http("504 Gateway Time-out", b"<html>504</html>"), rest.ServerUnavailable, "answered HTTP 504: <html>504</html>$"),
    (_http("504 Gateway Timeout", b'{"error": {"code": 504, "status": "DEADLINE_EXCEEDED"}}'), rest.ServerUnavailable,
     "answered HTTP 504"),  # a gateway's JSON error object, not TF Serving's string
])
def test_answers_that_are_no_rest_answer_are_one_line_user_errors(answer, error, match):
    """Before: a traceback (http.client's BadStatusLine and IncompleteRead are no OSError; a JSON
    list or null has no keys), or TF's node trailer on more lines; a cut answer is now retried."""
    with _raw_answer(answer) as url:
        with pytest.raises(error, match=match) as info:
            rest.predict(url, "localize", {"examples": [b"x"]}, timeout=10)
    assert "\n" not in str(info.value)


def test_a_server_answering_as_another_version_is_a_one_line_error(served_model, model, capfd):
    """A model server still serving an export without the per-frame outputs (2026-11-27) is named,
    as the same model loaded locally is, not a KeyError."""
    with serving(model, _OlderServing) as (_, url):
        code = main(["localize", "--server", url, served_model.videos[0], *BACKBONE_FLAGS])
    err = capfd.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "its localize signature lacks the output(s) ['probabilities', 'timestamps'] of this version" in err


def _copy_video(served, name: str):
    """A third video: the first one's bytes under another name."""
    path = served.root / name
    shutil.copyfile(served.videos[0], path)
    return path


class RefusesFirst(_TFServing):
    """Answers HTTP 400 to the first request (a request too large for it, say), then as TF Serving."""

    def answer(self, body: dict) -> dict:
        self.server.calls += 1
        if self.server.calls == 1:
            raise ValueError("Request is too large")
        return super().answer(body)


class RefusesThenGoes(_TFServing):
    """HTTP 400 to the first request, the second answered, then HTTP 503 to every one."""

    def do_POST(self):
        self.server.calls += 1
        if self.server.calls != 2:
            self.rfile.read(int(self.headers["Content-Length"]))
            return self._reply(400 if self.server.calls == 1 else 503, {"error": "no"})
        return super().do_POST()


class GoesAway(_TFServing):
    """Answers the first request, then HTTP 503 to every one (a server that went down)."""

    def do_POST(self):
        self.server.calls += 1
        if self.server.calls > 1:
            self.rfile.read(int(self.headers["Content-Length"]))
            return self._reply(503, {"error": "Servable not available"})
        return super().do_POST()


class TimesOutOnSlow(_TFServing):
    """HTTP 503 (a proxy's timeout) to every request for the video named ``slow``, the others answered."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.rfile = io.BytesIO(body)
        videos = [base64.b64decode(b) for b in re.findall(r'"b64": "([^"]+)"', body.decode())]
        if any(b"slow" in v for v in videos):
            return self._reply(503, {"error": "upstream request timeout"})
        return super().do_POST()


def test_among_several_videos_a_refused_one_is_skipped_and_a_lost_server_keeps_the_videos_done(
        served_model, model, server, capfd, monkeypatch):
    """A request the server refuses costs its video only; a server that stops answering ends the
    requests after its patience, and the videos already localized are still printed (exit status 1)."""
    s = served_model
    labels = os.path.join(s.model_dir, "assets", "labels.json")
    argv = [*BACKBONE_FLAGS, "--labels", labels, "--top", "0"]
    alone = {}
    for video in s.videos:
        assert main(["localize", "--server", server, video, *argv]) == 0
        alone[video] = capfd.readouterr().out
    with serving(model, RefusesFirst) as (_, url):
        assert main(["localize", "--server", url, *s.videos, *argv]) == 1
    printed = capfd.readouterr()
    assert printed.out == alone[s.videos[1]]
    assert f"skipped: cannot localize {s.videos[0]}: " in printed.err
    assert "HTTP 400: Request is too large" in printed.err
    monkeypatch.setattr(rest, "SERVER_PATIENCE", 1.0)
    third, fourth = (_copy_video(s, name) for name in ("third.mp4", "fourth.mp4"))
    with serving(model, GoesAway) as (httpd, url):  # one video unanswered is skipped, two in a row end it
        assert main(["localize", "--server", url, *s.videos, str(third), str(fourth), *argv]) == 1
    printed = capfd.readouterr()
    assert printed.out == alone[s.videos[0]] and httpd.calls <= 9
    assert f"skipped: cannot localize {s.videos[1]}: " in printed.err
    assert f"skipped: {third} and the videos after it are not localized: " in printed.err
    assert "3 of 4 videos skipped" in printed.err and str(fourth) not in printed.err.replace(str(third), "")
    slow = _copy_video(s, "slow.mp4")
    with serving(model, TimesOutOnSlow) as (_, url):  # before, its timeout ended the requests for the videos after it
        assert main(["localize", "--server", url, str(slow), *s.videos, *argv]) == 1
    printed = capfd.readouterr()
    assert f"skipped: cannot localize {slow}: " in printed.err and "1 of 3 videos skipped" in printed.err
    with serving(model) as (_, url):
        assert main(["localize", "--server", url, *s.videos, *argv]) == 0
    assert printed.out == capfd.readouterr().out  # both other videos localized
    with serving(model, GoesAway, failures=0) as (httpd, url):
        httpd.calls = 1  # down from the start
        assert main(["localize", "--server", url, *s.videos, *argv]) == 2
    assert "none of the 2 videos could be localized" in capfd.readouterr().err
    with serving(model, RefusesThenGoes) as (_, url):  # refused, localized, then the server is gone
        assert main(["localize", "--server", url, *s.videos, str(third), *argv]) == 1
    printed = capfd.readouterr()
    assert printed.out == alone[s.videos[1]] and "2 of 3 videos skipped" in printed.err


def test_the_same_refusal_of_the_first_two_videos_is_the_model_s_not_theirs(served_model, server, capfd):
    """A wrong --model-name (404 for every request) is one error, not one skip per video."""
    s = served_model
    labels = os.path.join(s.model_dir, "assets", "labels.json")
    third = _copy_video(s, "third_404.mp4")
    assert main(["localize", "--server", server, "--model-name", "nosuch", *s.videos, str(third), *BACKBONE_FLAGS,
                 "--labels", labels]) == 2
    err = capfd.readouterr().err
    assert err.count("skipped: cannot localize") == 1 and "HTTP 404" in err


def test_a_model_name_with_url_characters_is_refused_and_a_version_path_kept():
    """``--model-name "my model"``: http.client refused the URL (InvalidURL), reported as "is it TF
    Serving's gRPC port?"; TF Serving reads the path unquoted, so quoting would not help."""
    with pytest.raises(UserError, match="--model-name 'my model': a model name such as laf"):
        rest.predict_url("http://h:8501/", "my model")
    assert rest.predict_url("http://h:8501/", "laf/versions/3") == "http://h:8501/v1/models/laf/versions/3:predict"


@pytest.mark.parametrize("server, words", [("http://localhost:85O1", "Port could not be cast"),
                                           ("http://", "names no host"), ("https://:8501", "names no host"),
                                           ("http://local host:8501", "holds spaces"),
                                           ("http://localhost:99999", "out of range")])
def test_a_server_url_without_a_usable_host_or_port_is_refused_before_any_request(server, words):
    """A port with a letter O was refused only at the first request, after featurizing a video, as "is it
    TF Serving's gRPC port?"; no host at all was retried for a minute as an unreachable server."""
    with pytest.raises(UserError, match=re.escape(words)):
        rest.predict_url(server)


def test_a_single_output_answered_bare_is_named(tmp_path, inputs):
    """TF Serving answers a signature of one output without its name: ``frame_features`` of a net
    without actionness (the paper's scheme) was refused as "no named outputs"."""
    from trainer import model as models
    from trainer import serving

    dim = inputs["frame_features"]["frame_features"].shape[-1]
    net = models.build("lstmp", 3, cells=8, projection=4, actionness=False)
    served = localize.load_model(serving.export(net, dim, str(tmp_path / "paper")))
    body = json.loads(json.dumps(rest.request_body("frame_features", inputs["frame_features"])))
    answer = json.loads(json.dumps(tf_serving.serve(served, body)))
    assert isinstance(answer["outputs"], list)  # bare, as TF Serving answers one output
    got = rest.parse_response(answer, "frame_features")
    direct = tf_serving.call(served, "frame_features", inputs["frame_features"])
    assert sorted(got) == sorted(direct) == ["probabilities"]
    np.testing.assert_array_equal(got["probabilities"], direct["probabilities"])
