"""Web images to model-ready RGB: safe reading/fetching and decoding by content.

Crawled "images" are often not what their names say (HTML error pages saved as .jpg,
CMYK JPEGs, 16-bit PNGs, animated GIFs, WebP, decompression bombs). So the format is
taken from the bytes, the pixel count is checked from the header before any pixel is
decoded, and each format goes to the decoder that handles it: TensorFlow's image ops for
JPEG/PNG/GIF/BMP, tensorflow-io for WebP (TF core has no WebP decoder), Pillow for what
neither handles (CMYK/YCCK JPEG, animated or transparent GIF, TIFF, ...) and as the
fallback when the fast decoder refuses a file. Every result is RGB uint8 with EXIF
orientation applied; transparency is composited over white (web images' usual backdrop).

Failures raise ``ImageError(stage, reason)`` so ingestion can turn them into rejected
records instead of crashing.
"""
from __future__ import annotations

import dataclasses
import functools
import http.client
import io
import ipaddress
import os
import re
import socket
import stat
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPException
from typing import Optional, Tuple

import numpy as np
from PIL import Image

from laf import files
from laf.ingest.rejects import machine_fault

URL_SCHEMES = ("http", "https")
# Filesystems tf.io.gfile reads (paths, not URLs): as accepted for video sources.
GFILE_SCHEMES = ("gs", "s3", "hdfs")
# Content types a server may send for an image besides image/*; decoding checks the bytes.
GENERIC_TYPES = ("", "application/octet-stream", "binary/octet-stream")
_TF_FORMATS = ("JPEG", "MPO", "PNG", "GIF", "BMP", "WEBP")
# the web's raster formats: Pillow's other parsers (EPS runs Ghostscript on the bytes) are no web image's
PILLOW_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF", "AVIF", "ICO")  # JPEG's opener gives MPO files too
_MAGIC = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
          (b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))
_EXIF_ORIENTATION = 0x0112
_TRANSPOSE = {  # EXIF orientation -> the Pillow transpose that shows the image upright
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90,
}


@dataclasses.dataclass(frozen=True)
class ImageOptions:
    """Safety limits for one image; defaults suit crawled web images."""

    max_bytes: int = 20 * 2**20         # file / download size cap
    max_pixels: int = 40_000_000        # width * height cap, checked from the header
    timeout: float = 10.0               # seconds, for the connect and for each read
    deadline: float = 60.0              # seconds for a whole fetch, retries included (cuts trickling servers)
    retries: int = 2                    # extra attempts on timeouts, resets, 429 and 5xx
    backoff: float = 0.5                # seconds before the first retry; doubles each time
    user_agent: str = "laf-image-ingest/0.1"
    allow_private_addresses: bool = False  # fetch from loopback/private/link-local hosts (own mirror)


class ImageError(Exception):
    """An input that cannot become an image; ``stage`` and ``reason`` go to rejected.jsonl."""

    def __init__(self, stage: str, reason: str, unreachable: bool = False):
        super().__init__(f"{stage}: {reason}")
        self.stage = stage
        self.reason = reason
        self.unreachable = unreachable  # no answer in time, or the server's own failure (HTTP 429, 5xx): may pass later


def _scheme(source: str) -> str:
    """The URI scheme of ``source`` ('' for a path), also of a malformed URL ("http://[::1/x")."""
    found = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", source)
    return found.group(1).lower() if found else ""


def is_url(source: str) -> bool:
    return _scheme(source) in URL_SCHEMES


def check_source(source: str) -> None:
    """Allow http(s) URLs and file paths (local or gfile); refuse ``file:``, ``ftp:``, ``data:``, ..."""
    scheme = _scheme(source)
    if scheme in URL_SCHEMES or scheme in GFILE_SCHEMES or scheme == "":
        return
    raise ImageError("validate", f"scheme {scheme!r} is not allowed: use an http(s) URL or a file path")


_HOST_NAME = re.compile(r"[a-z0-9_.-]+", re.ASCII)


def check_host(host: str) -> bool:
    """Whether ``host`` is an IP address (True) or a DNS name (False); refuse (ValueError) one that
    is neither: "10.0.0.1\\.x" resolves nowhere here, so nothing here could check it, while a proxy
    that reads "\\" as "/" would connect to 10.0.0.1."""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        return True
    except ValueError:
        if not _HOST_NAME.fullmatch(host.lower()):
            raise ValueError(f"{host!r} is no host name") from None
        return False


def normalized(url: str) -> str:
    """``url`` as a browser sends it: the host in IDNA, the path and query percent-encoded (spaces,
    non-ASCII letters), the fragment and any user info dropped. Why: crawled lists hold such URLs as displayed, and
    urllib refuses them (UnicodeEncodeError, InvalidURL) though their server has the image."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        host, port = parts.hostname, parts.port
        if not host:
            raise ValueError("no host")
        if not host.isascii():
            host = host.encode("idna").decode("ascii")
        check_host(host)
    except ValueError as e:  # UnicodeError (IDNA) is one
        raise ImageError("validate", f"malformed URL {url!r}: {e}") from None
    # no user info: an image needs no credentials, and "10.0.0.1\\@example.com" names another host to
    # a proxy or server that parses it otherwise than the host checked here
    netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port is not None else "")
    path = urllib.parse.quote(parts.path, safe="/%:@!$&'()*+,;=~")
    query = urllib.parse.quote(parts.query, safe="/%:@!$&'()*+,;=?~")
    return urllib.parse.urlunsplit((parts.scheme, netloc, path, query, ""))


def load(source: str, options: ImageOptions = ImageOptions()) -> bytes:
    """The bytes of a path (local, or remote through tf.io.gfile) or an http(s) URL, within the size cap."""
    check_source(source)
    if is_url(source):
        return fetch(source, options)
    data = _read_remote(source, options) if files.is_remote(source) else _read_local(source, options)
    if not data:
        raise ImageError("read", "empty file (0 bytes)")
    return data


def _check_size(size: int, options: ImageOptions) -> None:
    if size > options.max_bytes:
        raise ImageError("read", f"file is {size} bytes, over the cap of {options.max_bytes}")


def _read_local(source: str, options: ImageOptions) -> bytes:
    """Through the OS, not tf.io.gfile: a file name that is not UTF-8 (an old crawl's Latin-1
    ``café.jpg``, listed with a surrogate escape) is a name TF cannot take."""
    path = files.local(source)
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO without a writer would block the open
        with os.fdopen(descriptor, "rb") as f:
            info = os.fstat(descriptor)  # what was opened, not what the name points at now
            if not stat.S_ISREG(info.st_mode):  # a FIFO, or a device (/dev/zero) that never ends
                raise ImageError("read", "not a regular file")
            _check_size(info.st_size, options)
            return _capped(f, options)
    except OSError as e:
        if machine_fault(e):
            raise
        raise ImageError("read", e.strerror or str(e)) from None


def _read_remote(source: str, options: ImageOptions) -> bytes:
    import tensorflow as tf

    try:
        _check_size(tf.io.gfile.stat(source).length, options)
        with tf.io.gfile.GFile(source, "rb") as f:
            return _capped(f, options)
    except tf.errors.OpError as e:
        if machine_fault(e):  # a store down or refusing the credentials: not the image's (rejections are cached)
            raise
        raise ImageError("read", e.message) from None


def _capped(f, options: ImageOptions) -> bytes:
    """The file's bytes, however much it grew after its size was checked: at most the cap."""
    data = f.read(options.max_bytes + 1)
    if len(data) > options.max_bytes:
        raise ImageError("read", f"file holds more than the cap of {options.max_bytes} bytes")
    return data


class _SafeRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to http(s): a server must not steer us to file: or ftp:. Each
    hop opens its own connection, whose address ``_Guard`` checks. A 308 (permanent, method kept,
    which CDNs send) is followed as a 307: Python 3.10's urllib knows only 301-303 and 307."""

    http_error_308 = urllib.request.HTTPRedirectHandler.http_error_302

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        fp.close()  # unread: urllib then read the redirect's body whole, unbounded (an endless one filled memory)
        code = 307 if code == 308 else code
        if not is_url(newurl):
            raise ImageError("fetch", f"redirect to {newurl!r} is not allowed (http(s) only)")
        try:
            newurl = normalized(newurl)  # as the first URL: IDNA, no user info, a host that is one
        except ImageError as e:
            raise ImageError("fetch", f"redirect to {e.reason}") from None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _refusal(address: str) -> Optional[str]:
    """Why an IP address must not be fetched from by default (a crawler in a cloud project must
    not reach its metadata server or internal services), or None for a public address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and (ip.ipv4_mapped or ip.sixtofour):  # the IPv4 address inside:
        ip = ip.ipv4_mapped or ip.sixtofour  # Python calls 6to4's 2002:a9fe:a9fe:: (169.254.169.254) global
    for kind in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if ip.is_global else "non-global"


class _Guard:
    """One fetch's connections: every address (each redirect hop, the one actually connected
    to) is checked, and at the deadline the socket is shut, so no server can hold a fetch
    longer, however slowly it sends its headers or body."""

    def __init__(self, options: ImageOptions, deadline: float):
        self.options, self.deadline = options, deadline
        self.via: Optional[Tuple[str, int]] = None  # (host, port) of the proxy the current request goes through
        self.sock: Optional[socket.socket] = None
        self._timers: list = []

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self.expired()
        return left

    def expired(self) -> ImageError:
        return ImageError("fetch", f"took longer than the deadline of {self.options.deadline:g} s", unreachable=True)

    def check_target(self, hostport: str) -> None:
        """The host a proxy will connect to: an address as it is, a name by the addresses it resolves
        to here (a name only the proxy can resolve cannot be checked here, and is left to it)."""
        host = urllib.parse.urlsplit(f"//{hostport}").hostname or hostport
        try:
            literal = check_host(host)
        except ValueError as e:
            raise ImageError("fetch", str(e)) from None
        try:
            addresses = [host] if literal else [info[4][0] for info in self.resolve(host, None)]
        except OSError:
            addresses = []
        for address in addresses:
            self.check(host, address)

    def check(self, host: str, address: str) -> None:
        kind = None if self.options.allow_private_addresses else _refusal(address)
        if kind:
            raise ImageError("fetch", f"{host} is {address}, a {kind} address: refused (allow_private_addresses"
                                      " / --allow-private-addresses for a self-hosted mirror)")

    def resolve(self, host: str, port: Optional[int]) -> list:
        """``socket.getaddrinfo`` within the deadline. Why a thread: the lookup cannot be interrupted, and
        a resolver that does not answer held a fetch for its own timeouts (5 s a try, several tries) past
        the deadline; the lookup left behind ends with the resolver's timeout."""
        found: list = []

        def look() -> None:
            try:
                found.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
            except Exception as e:  # noqa: BLE001 -- raised in the fetch's thread (an IDNA UnicodeError too)
                found.append(e)

        lookup = threading.Thread(target=look, daemon=True, name="image-fetch-dns")
        lookup.start()
        lookup.join(self.remaining())
        if not found:
            raise self.expired()
        if isinstance(found[0], Exception):
            raise found[0]
        return found[0]

    def create_connection(self, address, timeout=None, source_address=None) -> socket.socket:
        """``socket.create_connection`` connecting only to checked addresses."""
        host, port = address
        proxy = self.via == (host.lower(), int(port))  # this request's own proxy: its target was checked
        error: Optional[Exception] = None
        for family, kind, proto, _, sockaddr in self.resolve(host, port):
            if not proxy:
                self.check(host, sockaddr[0])
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(min(self.options.timeout, self.remaining()))
                if source_address:
                    sock.bind(source_address)
                sock.connect(sockaddr)
                if not proxy:
                    self.check(host, sock.getpeername()[0])
                return sock
            except OSError as e:
                sock.close()
                error = e
            except ImageError:
                sock.close()
                raise
        raise error or OSError(f"cannot resolve {host}")

    def connected(self, sock: socket.socket) -> None:
        """Watch the (possibly TLS) socket a response is read from until the deadline."""
        self.sock = sock
        timer = threading.Timer(max(0.0, self.deadline - time.monotonic()), _shut, (sock,))
        timer.daemon = True
        timer.start()
        self._timers.append(timer)

    def close(self) -> None:
        for timer in self._timers:
            timer.cancel()


def _shut(sock: socket.socket) -> None:
    """Wake a read blocked on ``sock`` (plain or TLS) from another thread: shut the descriptor."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:  # already closed
        pass


def _guarded(connection_class, guard: _Guard):
    class Guarded(connection_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._create_connection = guard.create_connection

        def connect(self):
            super().connect()
            guard.connected(self.sock)

    return Guarded


class _GuardedHTTP(urllib.request.HTTPHandler):
    def __init__(self, guard: _Guard):
        super().__init__()
        self.guard, self._connection = guard, _guarded(http.client.HTTPConnection, guard)

    def http_open(self, req):
        self.guard.via = _proxy_of(req)
        return self.do_open(self._connection, req)


class _GuardedHTTPS(urllib.request.HTTPSHandler):
    def __init__(self, guard: _Guard):
        super().__init__()
        self.guard, self._connection = guard, _guarded(http.client.HTTPSConnection, guard)

    def https_open(self, req):
        self.guard.via = _proxy_of(req)
        return self.do_open(self._connection, req, context=self._context)


def _proxy_of(req: urllib.request.Request) -> Optional[Tuple[str, int]]:
    """(host, port) of the proxy ``req`` goes through (``_GuardedProxy`` set it), else None: only that
    connection skips the address check, not any other to the same host (a no_proxy host, another port)."""
    if not (req.has_proxy() or getattr(req, "_tunnel_host", None)):
        return None
    parts = urllib.parse.urlsplit(f"//{req.host}")
    return parts.hostname, parts.port or (443 if req.type == "https" else 80)


class _GuardedProxy(urllib.request.ProxyHandler):
    """The environment's proxies (http_proxy, https_proxy, no_proxy), as urllib uses them, with the
    address check on the host the proxy is asked for: connected through a proxy, the guard sees only
    the proxy's address (on a private network, usually), which would refuse every image or let the
    metadata server through."""

    def __init__(self, guard: _Guard):
        super().__init__()
        self.guard = guard

    def proxy_open(self, req, proxy, type):
        if req.host and not urllib.request.proxy_bypass(req.host):
            self.guard.check_target(req.host)
        return super().proxy_open(req, proxy, type)


def _opener(guard: _Guard) -> urllib.request.OpenerDirector:
    # Built by hand: build_opener() would add file:, ftp: and data: handlers.
    opener = urllib.request.OpenerDirector()
    for handler in (_GuardedProxy(guard), _GuardedHTTP(guard), _GuardedHTTPS(guard),
                    urllib.request.HTTPDefaultErrorHandler(), _SafeRedirects(), urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


_RETRYABLE = (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, HTTPException)
_CHUNK = 16 * 1024  # read1 returns after one socket read: the size cap is checked as bytes arrive


def fetch(url: str, options: ImageOptions = ImageOptions()) -> bytes:
    """Download an image URL with timeouts, one deadline for all attempts, a size cap, a
    content-type check, address checks and bounded retries."""
    if not is_url(url):
        raise ImageError("validate", f"not an http(s) URL: {url}")
    url = normalized(url)
    guard = _Guard(options, time.monotonic() + options.deadline)
    try:
        for attempt in range(options.retries + 1):
            try:
                return _fetch_once(url, options, guard)
            except (ValueError, http.client.InvalidURL) as e:  # e.g. a bad redirect: never better
                if time.monotonic() >= guard.deadline:  # a read cut at the deadline
                    raise guard.expired() from None
                raise ImageError("fetch", f"{type(e).__name__}: {e}") from None
            except urllib.error.HTTPError as e:
                if e.code != 429 and e.code < 500 or attempt == options.retries:
                    raise ImageError("fetch", f"HTTP {e.code} {e.reason}", unreachable=e.code == 429 or e.code >= 500
                                     ) from None
            except _RETRYABLE as e:
                if time.monotonic() >= guard.deadline:
                    raise guard.expired() from None
                if attempt == options.retries:
                    raise ImageError("fetch", f"{type(e).__name__}: {e} (after {attempt + 1} attempts)",
                                     unreachable=True) from None
            time.sleep(min(options.backoff * 2 ** attempt, guard.remaining()))
    finally:
        guard.close()
    raise AssertionError("unreachable")


def _fetch_once(url: str, options: ImageOptions, guard: _Guard) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": options.user_agent})
    with _opener(guard).open(request, timeout=min(options.timeout, guard.remaining())) as response:
        content_type = response.headers.get_content_type() if response.headers.get("Content-Type") else ""
        if not content_type.startswith("image/") and content_type not in GENERIC_TYPES:
            raise ImageError("fetch", f"content-type {content_type!r} is not an image")
        length = response.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > options.max_bytes:
            raise ImageError("fetch", f"Content-Length {length} is over the cap of {options.max_bytes} bytes")
        chunks, total = [], 0
        while True:
            guard.sock.settimeout(min(options.timeout, guard.remaining()))
            chunk = response.read1(_CHUNK)
            if not chunk:
                break
            total += len(chunk)
            if total > options.max_bytes:
                raise ImageError("fetch", f"download is over the cap of {options.max_bytes} bytes")
            chunks.append(chunk)
        if length and length.isdigit() and total < int(length):  # the connection closed early: retried
            raise http.client.IncompleteRead(b"".join(chunks), int(length) - total)
    guard.remaining()  # a read cut short by the deadline ends like a complete one
    data = b"".join(chunks)
    if not data:
        raise ImageError("fetch", "empty response (0 bytes)")
    return data


def sniff(data: bytes) -> Optional[str]:
    """The image format named by the magic bytes, or None."""
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return fmt
    return "WEBP" if data[:4] == b"RIFF" and data[8:12] == b"WEBP" else None


def _not_an_image(data: bytes) -> ImageError:
    fmt = sniff(data)
    if fmt:
        return ImageError("decode", f"{fmt} with a truncated or corrupt header ({len(data)} bytes)")
    head = data[:64].lstrip()
    if head[:1] == b"<" or head.lower().startswith((b"{", b"[")):
        text = head[:32].decode("utf-8", "replace")
        return ImageError("decode", f"not an image: content looks like text/HTML ({text!r})")
    return ImageError("decode", f"not an image in a web format ({', '.join(_openers())}; first bytes"
                                f" {data[:8].hex()})")


@functools.lru_cache(maxsize=None)
def _openers() -> Tuple[str, ...]:
    """:data:`PILLOW_FORMATS` this Pillow can open (AVIF needs its optional codec; naming an opener
    Pillow lacks made every open fail)."""
    Image.init()
    return tuple(f for f in PILLOW_FORMATS if f in Image.OPEN)


def open_header(data: bytes, options: ImageOptions = ImageOptions()) -> Image.Image:
    """Parse only the header (Pillow opens lazily) and enforce the pixel cap before decoding."""
    if not data:
        raise ImageError("read", "empty file (0 bytes)")
    try:
        image = Image.open(io.BytesIO(data), formats=_openers())  # not EPS (Ghostscript), PSD, FITS, ...
    except Image.DecompressionBombError as e:
        raise ImageError("decode", f"over the pixel cap (decompression-bomb guard): {e}") from None
    except Exception:  # Pillow raises many types for non-images; all mean "not an image"
        raise _not_an_image(data) from None
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageError("decode", f"invalid image size {width}x{height}")
    if width * height > options.max_pixels:
        raise ImageError("decode", f"{width}x{height} = {width * height} pixels is over the cap of"
                                   f" {options.max_pixels} (decompression-bomb guard)")
    return image


def _orientation(image: Image.Image) -> int:
    """EXIF orientation from header metadata only (``getexif()`` may decode a PNG)."""
    raw = image.info.get("exif")
    if not raw:
        return 1
    exif = Image.Exif()
    try:
        exif.load(raw)
    except Exception:  # malformed EXIF: show the pixels as stored
        return 1
    try:  # a whole number, also as a rational (6/1); text, raw bytes or 6/0 are malformed too (they rejected the
        value = float(exif.get(_EXIF_ORIENTATION, 1))  # whole image as an unexpected ValueError)
    except (TypeError, ValueError):
        return 1
    return int(value) if value.is_integer() else 1


BLEND_PIXELS = 1 << 20  # pixels composited at a time: float temporaries of ~50 bytes each, not of the whole image


def _flatten(pixels: np.ndarray) -> np.ndarray:
    """[H, W, C] uint8 with C in 1..4 -> RGB; alpha composited over white, in blocks of rows (at once, a
    40 MP transparent PNG took ~1.8 GB of float temporaries, in each of the decoding threads)."""
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    channels = pixels.shape[-1]
    if channels in (2, 4):
        out = np.empty(pixels.shape[:-1] + (channels - 1,), np.uint8)
        rows = max(1, BLEND_PIXELS // max(1, pixels.shape[1]))
        for top in range(0, pixels.shape[0], rows):
            block = pixels[top:top + rows]
            alpha = block[..., -1:].astype(np.float32) / 255.0
            out[top:top + rows] = np.round(block[..., :-1].astype(np.float32) * alpha + 255.0 * (1.0 - alpha))
        pixels = out
    if pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    return np.ascontiguousarray(pixels[..., :3])


def _jpeg_ratio(width: int, height: int, target: Optional[int]) -> int:
    """Largest DCT downscale (1, 2, 4, 8) that keeps the short side >= target: decode less."""
    if not target:
        return 1
    for ratio in (8, 4, 2):
        if min(width, height) // ratio >= target:
            return ratio
    return 1


def _decode_tf(data: bytes, image: Image.Image, target: Optional[int]) -> np.ndarray:
    import tensorflow as tf

    fmt = image.format
    if fmt in ("JPEG", "MPO"):
        return tf.io.decode_jpeg(data, channels=3, ratio=_jpeg_ratio(*image.size, target)).numpy()
    if fmt == "PNG":  # 16-bit decodes natively; 8-bit comes back scaled by 257, so >> 8 is exact
        return (tf.io.decode_png(data, channels=0, dtype=tf.uint16).numpy() >> 8).astype(np.uint8)
    if fmt == "GIF":
        return tf.io.decode_gif(data).numpy()[0]
    if fmt == "BMP":  # a 32-bit BMP's fourth byte is padding (often 0) unless Pillow reads alpha
        pixels = tf.io.decode_bmp(data, channels=0).numpy()
        return pixels if image.mode == "RGBA" else pixels[..., :3]
    import tensorflow_io as tfio

    return tfio.image.decode_webp(data).numpy()


def _uses_tf(image: Image.Image) -> bool:
    if image.format not in _TF_FORMATS:
        return False
    if image.format in ("JPEG", "MPO"):
        return image.mode in ("RGB", "L")        # CMYK / YCCK need Pillow's colour conversion
    if image.format in ("GIF", "PNG"):           # TF decodes every frame and ignores transparency (a PNG's
        return not getattr(image, "is_animated", False) and "transparency" not in image.info  # single colour)
    if image.format == "BMP":                    # TF returns a palette BMP's indices as grey levels
        return image.mode in ("RGB", "RGBA")
    return not getattr(image, "is_animated", False)


def _decode_pillow(image: Image.Image) -> np.ndarray:
    image.seek(0)  # first frame of animated images
    if image.mode.startswith("I;16"):
        return (np.asarray(image, np.uint16) >> 8).astype(np.uint8)
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        return np.asarray(image.convert("RGBA"))
    return np.asarray(image.convert("RGB"))


def decode(data: bytes, options: ImageOptions = ImageOptions(), target: Optional[int] = None) -> np.ndarray:
    """Bytes -> upright RGB uint8 [H, W, 3]. ``target``: the size it will be resized to
    (lets JPEG decode at a reduced scale)."""
    image = open_header(data, options)
    orientation = _orientation(image)
    pixels = None
    if _uses_tf(image):
        try:
            pixels = _decode_tf(data, image, target)
        except Exception:  # fast decoder refused the file (e.g. animated WebP): Pillow decides
            pixels = None
    if pixels is None:
        try:
            pixels = _decode_pillow(image)
        except Exception as e:
            if machine_fault(e):  # out of memory: the machine's, not this image's
                raise
            raise ImageError("decode", f"{image.format} {image.size[0]}x{image.size[1]}: "
                                       f"{type(e).__name__}: {e}") from None
    rgb = _flatten(pixels)
    if orientation in _TRANSPOSE:
        rgb = np.asarray(Image.fromarray(rgb).transpose(_TRANSPOSE[orientation]))
    return rgb


def resize(rgb: np.ndarray, size: int) -> np.ndarray:
    """[H, W, 3] uint8 -> [size, size, 3] uint8, whole image (no crop), antialiased bilinear."""
    if rgb.shape[:2] == (size, size):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((size, size), Image.Resampling.BILINEAR))


def prepare(data: bytes, size: int, options: ImageOptions = ImageOptions()) -> np.ndarray:
    """Bytes -> the backbone input [size, size, 3] uint8."""
    return resize(decode(data, options, target=size), size)
