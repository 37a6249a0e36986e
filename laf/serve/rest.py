"""TF Serving's REST predict API for any of the model's signatures: the request body, the
response format, and a client.

``POST {server}/v1/models/{model_name}:predict``. Requests use the columnar format
(``{"signature_name": S, "inputs": {name: value}}``), which works for every signature whatever its
inputs' batch sizes (the row format, ``"instances"``, needs one shared 0-th dimension); the server
then answers ``{"outputs": {name: value}}`` (an object for several outputs; a single output bare,
``{"outputs": value}``: see :data:`SOLE_OUTPUT`), or ``{"error": message}`` with an HTTP error status. Binary strings (serialized
SequenceExamples, ``localize_frames``' encoded frames) travel as ``{"b64": base64}``; numbers as
(nested) lists. Needs no TensorFlow, so a thin client can use it.
"""
from __future__ import annotations

import base64
import http.client
import json
import re
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Dict, Mapping, Optional, TypeVar

import numpy as np

from laf.errors import NOT_FINITE, UserError, first_line

T = TypeVar("T")

DEFAULT_MODEL_NAME = "laf"
DEFAULT_SIGNATURE = "serving_default"


def to_json(value: Any) -> Any:
    """bytes -> ``{"b64": ...}``; arrays and sequences -> nested lists; numpy scalars -> numbers."""
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, np.ndarray) and value.dtype != object and value.dtype.kind != "S":
        return value.tolist()
    if isinstance(value, (list, tuple, np.ndarray)):
        return [to_json(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def from_json(value: Any, text: bool) -> Any:
    """The inverse for one input: ``{"b64"}`` -> bytes (and, for string tensors, text -> UTF-8)."""
    if isinstance(value, dict):
        if set(value) != {"b64"}:
            raise ValueError(f"an object in a tensor value must be {{\"b64\": ...}}, got keys {sorted(value)}")
        return base64.b64decode(value["b64"], validate=True)
    if isinstance(value, list):
        return [from_json(v, text) for v in value]
    return value.encode("utf-8") if text and isinstance(value, str) else value


def request_body(signature_name: str, inputs: Mapping[str, Any]) -> Dict[str, Any]:
    """The predict request for a signature's named inputs (bytes, sequences of bytes, arrays)."""
    return {"signature_name": signature_name, "inputs": {name: to_json(v) for name, v in inputs.items()}}


# A signature that may have a single output, and its name: TF Serving answers a single output bare,
# without its name (``frame_features`` of a net without actionness: its probabilities alone).
SOLE_OUTPUT = {"frame_features": "probabilities"}


def parse_response(body: Mapping[str, Any], signature_name: Optional[str] = None) -> Dict[str, np.ndarray]:
    """The outputs of a columnar predict response as numpy arrays (JSON numbers: int64/float64); a
    bare single output is named after ``signature_name``'s (:data:`SOLE_OUTPUT`)."""
    if not isinstance(body, dict):  # a proxy's or a health endpoint's answer: [], null, "ok"
        raise UserError(f"the model server's answer is not a JSON object: {json.dumps(body)[:200]}")
    if "error" in body:
        raise UserError(f"the model server reports: {_plain(str(body['error']))}")
    outputs = body.get("outputs")
    if isinstance(outputs, list) and signature_name in SOLE_OUTPUT:
        outputs = {SOLE_OUTPUT[signature_name]: outputs}
    if not isinstance(outputs, dict):
        raise UserError(f"the model server's answer has no named outputs (keys: {sorted(body)})")
    return {name: np.asarray(from_json(value, text=False)) for name, value in outputs.items()}


def _error_body(error: urllib.error.HTTPError) -> bytes:
    """An error answer's body, or nothing when reading it fails too (a proxy's 502 cut short): raised
    inside the handler, that failure escaped as a traceback."""
    try:
        return error.read()
    except (OSError, http.client.HTTPException):
        return b""


class ServerUnavailable(UserError):
    """The model server could not answer now (unreachable, timed out, HTTP 502/503/504 while a version
    loads or a proxy restarts): worth retrying, unlike a request it refuses (or TF Serving's own 504:
    its request deadline, which the same request meets again)."""


TRANSIENT_HTTP = (502, 503, 504)


def predict_url(server: str, model_name: str = DEFAULT_MODEL_NAME) -> str:
    if not server.startswith(("http://", "https://")):
        raise UserError(f"--server must be an http(s) URL such as http://localhost:8501, got {server!r}")
    # a bad host or port failed only at the first request, after the first video's featurizing, and
    # one without a host was retried for a minute as unreachable
    try:
        parts = urllib.parse.urlsplit(server)
        _ = parts.port  # raises on a port that is no number, or out of range
    except ValueError as e:
        raise UserError(f"--server {server!r}: {e}") from None
    if not parts.hostname or any(c.isspace() for c in server):
        raise UserError(f"--server {server!r} names no host, or holds spaces; e.g. http://localhost:8501")
    if not re.fullmatch(r"[\w.+@,-]+(/versions/\d+|/labels/[\w.-]+)?", model_name):  # TF Serving reads the path as is
        raise UserError(f"--model-name {model_name!r}: a model name such as laf (or laf/versions/3), without spaces"
                        " or URL characters")
    return f"{server.rstrip('/')}/v1/models/{model_name}:predict"


REQUEST_TIMEOUT = 300.0  # seconds one request may take: a long video's whole localize answer


def predict(server: str, signature_name: str, inputs: Mapping[str, Any], model_name: str = DEFAULT_MODEL_NAME,
            timeout: float = REQUEST_TIMEOUT) -> Dict[str, np.ndarray]:
    """POST the request to a TF Serving REST endpoint; its outputs, or a ``UserError`` saying why not."""
    url = predict_url(server, model_name)
    data = json.dumps(request_body(signature_name, inputs)).encode("utf-8")
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    return parse_response(_answer(request, url, timeout), signature_name)


def served_version(server: str, model_name: str = DEFAULT_MODEL_NAME, timeout: float = 30.0) -> int:
    """The newest version of ``model_name`` the server has available (TF Serving's model status API,
    ``GET /v1/models/NAME``): what a request to the bare name is answered by now."""
    url = predict_url(server, model_name)[:-len(":predict")]
    body = _answer(urllib.request.Request(url, method="GET"), url, timeout)
    statuses = body.get("model_version_status") if isinstance(body, dict) else None
    try:
        available = [int(v["version"]) for v in statuses if v.get("state") == "AVAILABLE"]
    except (TypeError, ValueError, KeyError, AttributeError):  # e.g. KServe's {"name": ..., "ready": true}
        raise UserError(f"{url} did not answer as TF Serving's model status: {str(body)[:200]}") from None
    if not available:
        raise ServerUnavailable(f"{url}: no version of the model is available yet ({str(statuses)[:200]})")
    return max(available)


def _answer(request: urllib.request.Request, url: str, timeout: float) -> Any:
    """The server's JSON answer to ``request``, or a ``UserError`` (:class:`ServerUnavailable` where asking
    again may help) saying why not."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read()
    except urllib.error.HTTPError as e:
        body = _error_body(e)
        if e.code == 504 and _served_error(body) is not None:  # its own deadline, not a proxy's: it would run out again
            raise UserError(f"{url} answered HTTP 504: {_error_text(body)}: the model server's deadline for one request"
                            " ran out; TF Serving's is 30 s unless started with --rest_api_timeout_in_ms (e.g."
                            " 300000 for long videos)") from None
        error = ServerUnavailable if e.code in TRANSIENT_HTTP else UserError
        raise error(f"{url} answered HTTP {e.code}: {_error_text(body)}") from None
    except (urllib.error.URLError, OSError) as e:  # refused, unknown host, timeout
        reason = getattr(e, "reason", e)
        if isinstance(reason, ssl.SSLCertVerificationError):  # no retry makes a certificate trusted (a dropped
            # handshake, ssl.SSLEOFError, is retried: a proxy restarting)
            raise UserError(f"cannot reach the model server at {url} over TLS: {reason}") from None
        if isinstance(reason, TimeoutError):  # socket.timeout too: reached, but no answer in time
            raise ServerUnavailable(f"the model server at {url} did not answer within {timeout:g} s") from None
        raise ServerUnavailable(f"cannot reach the model server at {url}: {reason}") from None
    except http.client.IncompleteRead as e:  # a proxy cut a long answer short: worth asking again
        raise ServerUnavailable(f"the model server at {url} broke off its answer: {e}") from None
    except http.client.HTTPException as e:  # no HTTP/1 answer at all, e.g. gRPC's HTTP/2 port
        raise UserError(f"{url} did not answer as a REST endpoint ({type(e).__name__}: {first_line(str(e))[:200]});"
                        " is it TF Serving's gRPC port? Its REST port is 8501 by default") from None
    try:
        return json.loads(text)
    except ValueError:
        raise UserError(f"{url} did not answer with JSON: {text[:200]!r}") from None


SERVER_PATIENCE = 60.0  # seconds a caller waits, in all, for a model server that cannot answer now


def predict_patiently(server: str, signature_name: str, inputs: Mapping[str, Any],
                      model_name: str = DEFAULT_MODEL_NAME, timeout: Optional[float] = None) -> Dict[str, np.ndarray]:
    """:func:`predict`, asked again after 0.5, 1, 2, ... s (said on stderr) while the server cannot
    answer now (:class:`ServerUnavailable`: a version loading, a proxy restarting), until
    :data:`SERVER_PATIENCE` seconds have passed, requests included; a refused request fails at once.
    ``timeout``: each request's own (a whole long video may take minutes to answer); None: what is
    left of the patience, so a live step never waits longer than that.
    Why: a 503 on one video of many, or one step of a stream, would throw away all the work before it."""
    return patiently(lambda left: predict(server, signature_name, inputs, model_name,
                                          timeout=timeout if timeout is not None else max(left, 1.0)))


def patiently(ask: Callable[[float], T]) -> T:
    """``ask(seconds of patience left)``, asked again as :func:`predict_patiently` says."""
    start, wait, tries = time.monotonic(), 0.5, 0
    while True:
        tries += 1
        try:
            return ask(SERVER_PATIENCE - (time.monotonic() - start))
        except ServerUnavailable as e:
            waited = time.monotonic() - start
            if waited + wait > SERVER_PATIENCE:
                raise ServerUnavailable(f"{e} (gave up after {tries} tries in {waited:.0f} s)" if tries > 1
                                        else str(e)) from None
            print(f"{e}; retrying in {wait:.1f} s", file=sys.stderr, flush=True)
            time.sleep(wait)
            wait = min(2 * wait, 10.0)


def _served_error(text: bytes) -> Optional[str]:
    """TF Serving's own error message (its answers are ``{"error": "..."}``), or None for another body: a
    proxy's HTML page, an empty one, or a gateway's ``{"error": {...}}``."""
    try:
        found = json.loads(text)
    except (ValueError, TypeError):
        return None
    error = found.get("error") if isinstance(found, dict) else None
    return error if isinstance(error, str) else None


def _error_text(text: bytes) -> str:
    """TF Serving's message, else the start of whatever came back."""
    error = _served_error(text)
    if error is not None:
        return _plain(error)
    return first_line(text[:200].decode("utf-8", "replace"), "(empty body)")  # a proxy's HTML page: one line


def _plain(message: str) -> str:
    """A server's error as the local path says it: one line (TF's ``[[{{node ...}}]]`` trailer
    dropped), and non-finite outputs by name."""
    return NOT_FINITE if NOT_FINITE in message else first_line(message, "(empty message)")
