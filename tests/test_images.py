"""laf.ingest.images: decoding real encoded files by content, safety caps, and URL fetching."""
from __future__ import annotations

import io
import os
import socket
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict

import numpy as np
import pytest
from PIL import Image, ImageOps

from file_tree import latin1_file
from laf.ingest import images
from laf.ingest.images import ImageError, ImageOptions
from laf.ingest.rejects import machine_fault


def pattern(height: int, width: int) -> np.ndarray:
    """A smooth, asymmetric RGB picture (survives lossy codecs; shows rotations)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack([x / width * 255, y / height * 255, np.full_like(x, 60.0)], -1)
    rgb[: height // 4, : width // 4] = (250, 20, 20)  # a red top-left corner
    return rgb.astype(np.uint8)


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG whose header declares ``width x height`` pixels over a few bytes of data."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(
            ">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b""))


def bmp32(rgb: np.ndarray) -> bytes:
    """A 32-bit BMP (BI_RGB) whose fourth byte per pixel is unused padding, left 0, as many
    writers leave it: not alpha."""
    height, width = rgb.shape[:2]
    bgrx = np.dstack([rgb[..., ::-1], np.zeros((height, width), np.uint8)])[::-1].tobytes()  # bottom row first
    return (struct.pack("<2sIHHI", b"BM", 54 + len(bgrx), 0, 0, 54)
            + struct.pack("<IiiHHIIiiII", 40, width, height, 1, 32, 0, len(bgrx), 2835, 2835, 0, 0) + bgrx)


def samples() -> Dict[str, bytes]:
    """Real encoded files of every kind a crawl returns, keyed by a descriptive name."""
    import tensorflow as tf

    rgb = pattern(48, 64)
    base = Image.fromarray(rgb)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    rgba[:, 32:, 3] = 0  # right half fully transparent
    exif = Image.Exif()
    exif[0x0112] = 6     # stored sideways: shown rotated 90 degrees clockwise
    frames = [Image.fromarray(np.full((24, 32, 3), c, np.uint8)) for c in ((200, 30, 30), (30, 200, 30))]
    gray16 = (np.linspace(0, 65535, 48 * 64).reshape(48, 64)).astype(np.uint16)
    palette = base.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    return {
        "jpeg": encode(base, "JPEG", quality=95),
        "jpeg_exif_rotated": encode(base, "JPEG", quality=95, exif=exif.tobytes()),
        "png_alpha": encode(Image.fromarray(rgba, "RGBA"), "PNG"),
        "png16_gray": encode(Image.fromarray(gray16), "PNG"),
        "png16_rgb": tf.io.encode_png(tf.constant(rgb.astype(np.uint16) * 257)).numpy(),
        "png_palette_transparent": encode(palette, "PNG", transparency=0),
        "gray_jpeg": encode(base.convert("L"), "JPEG", quality=95),
        "cmyk_jpeg": encode(base.convert("CMYK"), "JPEG", quality=95),
        "gif_animated": encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100),
        "webp": encode(base, "WEBP", lossless=True),
        "webp_animated": encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True),
        "bmp": encode(base, "BMP"),
        "bmp32": bmp32(rgb),
        "bmp_palette": encode(palette, "BMP"),
        "tiff": encode(base, "TIFF"),
        "html_as_jpg": b"<!DOCTYPE html><html><body>404 Not Found</body></html>",
        "bomb_png": png_bomb(),
        "truncated_jpeg": encode(base, "JPEG")[:300],
        "empty": b"",
    }


@pytest.fixture(scope="module")
def media() -> Dict[str, bytes]:
    return samples()


def close(a: np.ndarray, b: np.ndarray, tol: float) -> bool:
    return a.shape == b.shape and float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean()) < tol


@pytest.mark.parametrize("name", ["jpeg", "cmyk_jpeg", "webp", "bmp", "bmp32", "tiff", "png16_rgb"])
def test_color_formats_decode_to_the_original_rgb(media, name):
    out = images.decode(media[name])
    assert out.dtype == np.uint8 and out.shape == (48, 64, 3)
    assert close(out, pattern(48, 64), tol=4.0), name


def test_lossless_formats_are_exact(media):
    for name in ("webp", "bmp", "bmp32", "png16_rgb"):
        np.testing.assert_array_equal(images.decode(media[name]), pattern(48, 64), err_msg=name)


def test_a_palette_bmp_decodes_to_its_colours_not_its_indices(media):
    expected = np.asarray(Image.open(io.BytesIO(media["bmp_palette"])).convert("RGB"))
    np.testing.assert_array_equal(images.decode(media["bmp_palette"]), expected)


def test_grayscale_becomes_three_equal_channels(media):
    out = images.decode(media["gray_jpeg"])
    assert out.shape == (48, 64, 3)
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])


def test_sixteen_bit_png_keeps_the_full_range(media):
    out = images.decode(media["png16_gray"])
    assert out.shape == (48, 64, 3)
    gray16 = (np.linspace(0, 65535, 48 * 64).reshape(48, 64)).astype(np.uint16)  # the fixture's ramp
    # the high byte of each pixel: clipping to 255 (Pillow's own convert) or keeping the low byte also span 0..255
    np.testing.assert_array_equal(out[..., 0], (gray16 >> 8).astype(np.uint8))


def test_alpha_is_composited_over_white(media):
    out = images.decode(media["png_alpha"])
    assert (out[:, 32:] == 255).all()                      # transparent half -> white
    np.testing.assert_array_equal(out[:, :32], pattern(48, 64)[:, :32])
    palette = images.decode(media["png_palette_transparent"])
    assert palette.shape == (48, 64, 3) and (palette == 255).all(axis=-1).any()


def test_compositing_a_large_image_holds_blocks_not_the_whole_image_in_floats(monkeypatch):
    """A 40 MP transparent PNG took ~1.8 GB of float temporaries (~45 bytes a pixel), in each decoding thread.
    In blocks of rows, the result is the same to the bit and the memory bounded by the block."""
    import tracemalloc

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (600, 500, 4), dtype=np.uint8)
    alpha = pixels[..., 3:].astype(np.float32) / 255.0
    whole = np.round(pixels[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    monkeypatch.setattr(images, "BLEND_PIXELS", 20_000, raising=False)  # 40 rows a block: 15, the last short
    tracemalloc.start()
    try:
        out = images._flatten(pixels)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(out, whole)
    assert peak < 8 * pixels.shape[0] * pixels.shape[1], f"{peak / pixels.shape[0] / pixels.shape[1]:.1f} bytes a pixel"


def test_a_png_s_single_transparent_colour_is_white_too():
    """An RGB or grey PNG whose transparency is one colour (a tRNS chunk, what optipng makes of an
    on/off alpha): TF's decoder dropped it, so the transparent pixels kept their stored black."""
    for mode, transparent, shown in (("RGB", (0, 0, 0), (200, 30, 30)), ("L", 0, 120)):
        picture = Image.new(mode, (64, 48), transparent)
        picture.paste(shown, (0, 0, 32, 48))
        out = images.decode(encode(picture, "PNG", transparency=transparent))
        assert (out[:, 32:] == 255).all(), mode
        np.testing.assert_array_equal(out[:, :32], np.asarray(picture.convert("RGB"))[:, :32])


def test_exif_orientation_is_applied(media):
    out = images.decode(media["jpeg_exif_rotated"])
    upright = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(media["jpeg_exif_rotated"]))))
    assert out.shape == (64, 48, 3) == upright.shape
    assert close(out, upright, tol=2.0)
    assert out[:10, -10:, 0].mean() > 200  # the red corner moved to the top right


def _one_tag_exif(tag: int, kind: int, value: bytes) -> bytes:
    """A little-endian TIFF block with one IFD entry: ``value`` in place, or after the IFD when longer than 4 bytes."""
    inline = value if len(value) <= 4 else struct.pack("<I", 8 + 2 + 12 + 4)
    entry = struct.pack("<HHI4s", tag, kind, len(value) // (8 if kind == 5 else 1), inline.ljust(4, b"\x00"))
    return b"II*\x00" + struct.pack("<IH", 8, 1) + entry + struct.pack("<I", 0) + (value if len(value) > 4 else b"")


@pytest.mark.parametrize("kind, value, rotated", [(2, b"x\x00", False), (7, b"\x06\x00", False),
                                                  (5, struct.pack("<II", 6, 0), False),
                                                  (5, struct.pack("<II", 6, 1), True)],
                         ids=["ascii", "undefined", "rational-6/0", "rational-6/1"])
def test_an_exif_orientation_that_is_no_whole_number_shows_the_pixels_as_stored(kind, value, rotated):
    """An Orientation tag written as text, raw bytes or 6/0 rejected the image ("decode: unexpected
    ValueError: invalid literal for int()"); it shows the pixels as stored, as a malformed EXIF block does.
    Written as the rational 6/1 it is still 6, as Pillow's exif_transpose reads it."""
    rgb = pattern(48, 64)
    out = images.decode(encode(Image.fromarray(rgb), "PNG", exif=_one_tag_exif(0x0112, kind, value)))
    np.testing.assert_array_equal(out, np.rot90(rgb, -1) if rotated else rgb)


def test_a_tiff_s_orientation_tag_is_applied():
    """A TIFF keeps Orientation among its own tags, with no EXIF block; Pillow applies it as it loads
    the TIFF, so decode must not turn it once more."""
    rgb = pattern(48, 64)
    exif = Image.Exif()
    exif[0x0112] = 6
    out = images.decode(encode(Image.fromarray(rgb), "TIFF", exif=exif))
    np.testing.assert_array_equal(out, np.rot90(rgb, -1))


@pytest.mark.parametrize("name", ["gif_animated", "webp_animated"])
def test_animated_images_give_their_first_frame(media, name):
    out = images.decode(media[name])
    assert out.shape == (24, 32, 3)
    assert close(out, np.full((24, 32, 3), (200, 30, 30), np.uint8), tol=6.0)


@pytest.mark.parametrize("name, stage, words", [
    ("html_as_jpg", "decode", "HTML"),
    ("bomb_png", "decode", "decompression-bomb"),
    ("truncated_jpeg", "decode", "JPEG with a truncated or corrupt header"),  # "JPEG" is in every JPEG's reason
    ("empty", "read", "empty"),
])
def test_bad_content_raises_a_clear_image_error(media, name, stage, words):
    with pytest.raises(ImageError) as info:
        images.decode(media[name])
    assert info.value.stage == stage and words in info.value.reason


def test_an_icon_opens_as_the_other_web_formats_do():
    icon = io.BytesIO()
    Image.fromarray(pattern(16, 16)).save(icon, "ICO", sizes=[(16, 16)])
    assert images.decode(icon.getvalue()).shape == (16, 16, 3)


@pytest.mark.parametrize("data", [b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n10 10 scale\n",
                                  b"8BPS\x00\x01" + b"\x00" * 6 + b"\x00\x03\x00\x00\x00\x0a\x00\x00\x00\x0a"
                                  b"\x00\x08\x00\x03" + b"\x00" * 16])
def test_formats_no_web_image_has_are_not_parsed(data, monkeypatch):
    """Pillow opened any format it knows: EPS bytes from the web ran Ghostscript (where installed); PSD, FITS
    and other parsers took the crawl's bytes too. Only the web's raster formats are opened."""
    from PIL import EpsImagePlugin

    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *a, **k: pytest.fail("Ghostscript ran on a web image"))
    monkeypatch.setattr(EpsImagePlugin, "has_ghostscript", lambda: True)
    with pytest.raises(ImageError) as info:
        images.decode(data)
    assert info.value.stage == "decode" and "not an image in a web format (JPEG, PNG, GIF, BMP, WEBP, TIFF" in info.value.reason


def test_a_local_file_whose_name_is_not_utf8_is_read(tmp_path, media):
    """Listed by the OS with a surrogate escape, a name TF's file system cannot take: read through the OS."""
    path = latin1_file(str(tmp_path), media["jpeg"])
    assert images.load(path) == media["jpeg"]
    with pytest.raises(ImageError, match="over the cap"):
        images.load(path, ImageOptions(max_bytes=10))
    with pytest.raises(ImageError) as missing:
        images.load(str(tmp_path / "gone.jpg"))
    assert missing.value.stage == "read" and "No such file" in missing.value.reason


def test_pixel_cap_is_checked_from_the_header_not_by_decoding(media):
    with pytest.raises(ImageError, match="over the cap"):
        images.decode(media["jpeg"], ImageOptions(max_pixels=48 * 64 - 1))
    assert images.open_header(png_bomb(4, 3)).size == (4, 3)


def test_prepare_resizes_to_the_backbone_input(media):
    for name in ("jpeg", "cmyk_jpeg", "gif_animated", "png16_gray"):
        out = images.prepare(media[name], 32)
        assert out.shape == (32, 32, 3) and out.dtype == np.uint8, name


def test_big_jpeg_decodes_at_reduced_scale_then_resizes():
    big = Image.fromarray(np.kron(pattern(48, 64), np.ones((20, 20, 1), np.uint8)))  # 960x1280
    out = images.prepare(encode(big, "JPEG", quality=90), 48)
    assert close(out, images.resize(pattern(48, 64), 48), tol=6.0)


def test_load_reads_paths_and_enforces_the_size_cap(tmp_path, media):
    path = tmp_path / "a.jpg"
    path.write_bytes(media["jpeg"])
    assert images.load(str(path)) == media["jpeg"]
    with pytest.raises(ImageError, match="over the cap"):
        images.load(str(path), ImageOptions(max_bytes=100))
    with pytest.raises(ImageError) as info:
        images.load(str(tmp_path / "missing.jpg"))
    assert info.value.stage == "read"
    os.mkfifo(tmp_path / "fifo.jpg")  # no writer: opening it would block the run
    for special in ("/dev/zero", str(tmp_path / "fifo.jpg")):  # no size to check: never read
        with pytest.raises(ImageError, match="^read: not a regular file$"):
            images.load(special, ImageOptions(max_bytes=100))


def test_a_remote_file_is_capped_as_read_and_a_store_outage_is_not_the_image_s_fault(media, monkeypatch):
    """A store's outage or refused credentials became a rejection, cached with the output, so the image stayed
    rejected on every rerun; a file that grew past the cap after its stat was read whole."""
    import tensorflow as tf

    path = "ram://laf-images/grown.jpg"
    tf.io.gfile.makedirs("ram://laf-images")
    if tf.io.gfile.exists(path):
        tf.io.gfile.remove(path)  # ram://'s "wb" appends
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(media["jpeg"])
    assert images._read_remote(path, ImageOptions()) == media["jpeg"]
    with pytest.raises(ImageError, match="^read: "):
        images._read_remote("ram://laf-images/missing.jpg", ImageOptions())
    stat = tf.io.gfile.stat
    monkeypatch.setattr(tf.io.gfile, "stat", lambda p: type("Stat", (), {"length": 10})())  # it grew since
    with pytest.raises(ImageError, match="file holds more than the cap of 100 bytes"):
        images._read_remote(path, ImageOptions(max_bytes=100))
    for error in (tf.errors.UnavailableError, tf.errors.UnauthenticatedError, tf.errors.ResourceExhaustedError,
                  tf.errors.DeadlineExceededError):
        assert machine_fault(error(None, None, "")), error  # so ingestion's catch-all re-raises it too
        def failing(p, error=error):
            raise error(None, None, "the store says no")
        monkeypatch.setattr(tf.io.gfile, "stat", failing)
        with pytest.raises(error):
            images._read_remote(path, ImageOptions())  # gs:// as ram://, which load() refuses
    monkeypatch.setattr(tf.io.gfile, "stat", stat)


@pytest.mark.parametrize("source", ["file:///etc/passwd", "ftp://127.0.0.1/a.jpg", "data:image/png;base64,AAAA"])
def test_only_http_urls_and_paths_are_allowed(source):
    with pytest.raises(ImageError) as info:
        images.load(source)
    assert info.value.stage == "validate"


# --- URL fetching against a local server (127.0.0.1 only) ---------------------------------

class Server:
    """A threaded HTTP server with canned routes; counts requests per path."""

    def __init__(self, routes):
        self.routes, self.hits = routes, {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                status, headers, body = server.routes[self.path](server.hits[self.path])
                try:
                    if status is not None:
                        self.send_response(status)
                        for key, value in headers.items():
                            self.send_header(key, value)
                        self.end_headers()
                    for piece in ([body] if isinstance(body, bytes) else body):  # an iterable trickles
                        self.wfile.write(piece)
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def image_routes(jpeg: bytes):
    def ok(_):
        return 200, {"Content-Type": "image/jpeg", "Content-Length": str(len(jpeg))}, jpeg

    def flaky(hit):
        return (503, {}, b"busy") if hit < 3 else ok(hit)

    def slow(_):
        import time

        time.sleep(1.5)
        return ok(_)

    def trickle(pieces):
        import time

        for piece in pieces:
            yield piece
            time.sleep(0.25)

    def fat_redirect(sent):
        for _ in range(64):  # 64 MiB the client never needs
            yield b"x" * 2 ** 20
            sent.append(1)

    return {
        "/to-ok-fat": lambda _: (302, {"Location": "/ok.jpg"}, fat_redirect(FAT_SENT)),
        "/trickle-body.jpg": lambda _: (200, {"Content-Type": "image/jpeg"}, trickle([jpeg[i:i + 1] for i in range(80)])),
        "/trickle-headers.jpg": lambda _: (None, {}, trickle([b"HTTP/1.0 200 OK\r\n"] + [b"X: y\r\n"] * 80)),
        "/ok.jpg": ok,
        "/octet": lambda _: (200, {"Content-Type": "application/octet-stream"}, jpeg),
        "/page.jpg": lambda _: (200, {"Content-Type": "text/html"}, b"<html>hi</html>"),
        "/flaky.jpg": flaky,
        "/missing.jpg": lambda _: (404, {}, b"no"),
        "/to-file": lambda _: (302, {"Location": "file:///etc/passwd"}, b""),
        "/to-ftp": lambda _: (302, {"Location": "ftp://127.0.0.1/a.jpg"}, b""),
        "/to-ok": lambda _: (302, {"Location": "/ok.jpg"}, b""),
        "/to-ok-308": lambda _: (308, {"Location": "/ok.jpg"}, b""),
        "/to-file-308": lambda _: (308, {"Location": "file:///etc/passwd"}, b""),
        "/slow.jpg": slow,
        "/short.jpg": lambda _: (200, {"Content-Type": "image/jpeg", "Content-Length": str(len(jpeg))}, jpeg[:20]),
        "/caf%C3%A9%20au%20lait.jpg": ok,  # as a browser sends "café au lait.jpg"
        "/to-nowhere": lambda _: (302, {"Location": "http://[::1/x.jpg"}, b""),
        "/to-backslash": lambda _: (302, {"Location": "http://10.0.0.1\\.img.invalid/a.png"}, b""),
        "http://93.184.216.34/ok.jpg": ok,  # what a proxy is asked for
    }


@pytest.fixture(scope="module")
def server(media):
    with Server(image_routes(media["jpeg"])) as s:
        yield s


FAST = ImageOptions(timeout=0.5, retries=2, backoff=0.05, allow_private_addresses=True)  # the server is local


def test_fetch_downloads_images_and_follows_http_redirects(server, media):
    assert images.load(server.url("/ok.jpg"), FAST) == media["jpeg"]
    assert images.load(server.url("/octet"), FAST) == media["jpeg"]
    assert images.load(server.url("/to-ok"), FAST) == media["jpeg"]
    assert images.load(server.url("/to-ok-308"), FAST) == media["jpeg"]  # was "HTTP 308" (Python 3.10's urllib)


FAT_SENT: list = []  # the MiB pieces of the fat redirect's body the server got out


def test_a_redirect_s_body_is_not_read(server, media):
    """urllib read a redirect's whole body, unbounded and outside max_bytes: an endless one filled memory."""
    FAT_SENT.clear()
    assert images.load(server.url("/to-ok-fat"), FAST) == media["jpeg"]
    assert len(FAT_SENT) < 16, f"{len(FAT_SENT)} MiB of the redirect's body were read"


def test_fetch_retries_a_bounded_number_of_times(server, media):
    assert images.fetch(server.url("/flaky.jpg"), FAST) == media["jpeg"]
    assert server.hits["/flaky.jpg"] == 3
    with pytest.raises(ImageError, match="HTTP 404"):
        images.fetch(server.url("/missing.jpg"), FAST)
    assert server.hits["/missing.jpg"] == 1  # client errors are not retried


def test_a_download_shorter_than_its_content_length_is_a_retried_fetch_error(server):
    """Not a decode error on the truncated bytes: the connection closed early."""
    with pytest.raises(ImageError) as info:
        images.fetch(server.url("/short.jpg"), FAST)
    assert info.value.stage == "fetch" and "IncompleteRead" in info.value.reason and server.hits["/short.jpg"] == 3


@pytest.mark.parametrize("path, options, words", [
    ("/page.jpg", FAST, "content-type 'text/html'"),
    ("/ok.jpg", ImageOptions(max_bytes=100, allow_private_addresses=True), "over the cap"),
    ("/to-file", FAST, "not allowed"),
    ("/to-file-308", FAST, "not allowed"),
    ("/to-ftp", FAST, "not allowed"),
    ("/slow.jpg", ImageOptions(timeout=0.3, retries=1, backoff=0.01, allow_private_addresses=True), "attempts"),
])
def test_fetch_rejects_bad_responses(server, path, options, words):
    with pytest.raises(ImageError) as info:
        images.fetch(server.url(path), options)
    assert info.value.stage == "fetch" and words in info.value.reason


@pytest.mark.parametrize("path", ["/trickle-body.jpg", "/trickle-headers.jpg"])
def test_a_trickling_server_is_cut_off_at_the_deadline(server, path):
    """1 byte (or header line) per 0.25 s for 20 s: every read returns within the timeout, so
    only the deadline, over all attempts, can stop it."""
    options = ImageOptions(timeout=5.0, deadline=1.0, retries=2, backoff=0.05, allow_private_addresses=True)
    started = time.monotonic()
    with pytest.raises(ImageError, match=r"took longer than the deadline of 1 s"):
        images.fetch(server.url(path), options)
    assert time.monotonic() - started < 6.0  # cut off: the server would trickle for 20 s (slack for a busy runner)


def test_a_resolver_that_does_not_answer_is_cut_off_at_the_deadline(server, monkeypatch):
    """A dead DNS server holds getaddrinfo for its own timeouts (5 s a try, several tries), which no socket
    timeout bounds: the lookup ran outside the deadline."""
    lookup = socket.getaddrinfo

    def dead_resolver(host, *args, **kwargs):
        if host == "images.example":
            time.sleep(3.0)
        return lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", dead_resolver)
    options = ImageOptions(timeout=5.0, deadline=0.5, retries=2, backoff=0.05, allow_private_addresses=True)
    started = time.monotonic()
    with pytest.raises(ImageError, match=r"took longer than the deadline of 0.5 s"):
        images.fetch("http://images.example/a.jpg", options)
    assert time.monotonic() - started < 2.0
    assert images.fetch(server.url("/ok.jpg"), options)  # a resolver that answers: as before


def test_a_lookup_error_of_another_kind_is_the_fetch_s_error_not_a_deadline(monkeypatch):
    """An empty or over-long label fails in the IDNA codec (UnicodeError, no OSError): it died in the
    lookup thread and read as "took longer than the deadline", counted as an outage."""
    def idna_refuses(host, *args, **kwargs):
        raise UnicodeError("encoding with 'idna' codec failed (UnicodeError: label empty or too long)")

    monkeypatch.setattr(socket, "getaddrinfo", idna_refuses)
    with pytest.raises(ImageError) as info:
        images.fetch("http://images.example/a.jpg", ImageOptions(deadline=5.0, retries=0))
    assert "UnicodeError" in info.value.reason and not info.value.unreachable


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_hosts_are_refused_by_default(server, host):
    url = server.url("/ok.jpg").replace("127.0.0.1", host)
    before = server.hits.get("/ok.jpg", 0)
    with pytest.raises(ImageError, match=r"is (127.0.0.1|::1), a loopback address: refused \(allow_private_addresses"):
        images.fetch(url, ImageOptions(timeout=0.5, retries=0))
    assert server.hits.get("/ok.jpg", 0) == before  # refused before any request was sent
    assert images.fetch(url, FAST)  # the opt-in, for a self-hosted mirror


@pytest.mark.parametrize("address, kind", [
    ("127.0.0.2", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"), ("10.1.2.3", "private"),
    ("192.168.0.1", "private"), ("169.254.169.254", "link-local"), ("fe80::1%eth0", "link-local"),
    ("224.0.0.1", "multicast"), ("240.0.0.1", "reserved"), ("0.0.0.0", "unspecified"), ("100.64.0.1", "non-global"),
    ("8.8.8.8", None), ("2001:4860:4860::8888", None),
    ("2002:a9fe:a9fe::", "link-local"), ("2002:7f00:1::", "loopback"), ("2002:808:808::", None),  # 6to4
])
def test_address_kinds(address, kind):
    assert images._refusal(address) == kind


def test_urls_as_displayed_are_fetched_as_a_browser_sends_them(server, media):
    """Crawled lists hold non-ASCII letters and spaces as displayed; urllib refused them."""
    assert images.fetch(server.url("/café au lait.jpg"), FAST) == media["jpeg"]
    assert images.normalized("http://bücher.example/a b.jpg?q=ä#top") == "http://xn--bcher-kva.example/a%20b.jpg?q=%C3%A4"
    for bad in ("http://[::1/x.jpg", "http:///x.jpg"):
        with pytest.raises(ImageError) as info:
            images.load(bad, FAST)
        assert info.value.stage == "validate" and "malformed URL" in info.value.reason
    with pytest.raises(ImageError, match=r"^fetch: redirect to malformed URL .*is no host name"):
        images.fetch(server.url("/to-backslash"), FAST)  # normalized as the first URL is
    before = server.hits.get("/to-nowhere", 0)
    with pytest.raises(ImageError, match="^fetch: ValueError: Invalid IPv6 URL"):  # a bad redirect: not retried
        images.fetch(server.url("/to-nowhere"), FAST)
    assert server.hits["/to-nowhere"] == before + 1


def test_through_a_proxy_the_guard_checks_the_target_not_the_proxy(server, media, monkeypatch):
    """A proxy on a private address (as corporate ones are) is the user's own: trusted for the
    requests it carries; the host it is asked for is checked, so the metadata server stays refused
    behind it too; a direct connection to the proxy's host (no_proxy, another scheme's proxy) is not
    trusted."""
    for name in ("no_proxy", "NO_PROXY", "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    strict = ImageOptions(timeout=0.5, retries=0)  # private addresses refused
    monkeypatch.setenv("http_proxy", server.url("").replace("127.0.0.1", "LOCALHOST"))  # as the user wrote it
    assert images.fetch("http://93.184.216.34/ok.jpg", strict) == media["jpeg"]
    with pytest.raises(ImageError, match="is no host name"):  # unresolvable here, so unchecked; a proxy
        images.fetch("http://10.0.0.1\\.img.invalid/a.png", strict)  # reading \\ as / would reach 10.0.0.1
    for target, kind in (("169.254.169.254", "link-local"), ("10.0.0.1", "private"), ("[fe80::1%nic]", "link-local")):
        with pytest.raises(ImageError, match=f"is {target.strip('[]')}, a {kind} address: refused"):
            images.fetch(f"http://{target}/computeMetadata/v1/", strict)
    monkeypatch.setenv("no_proxy", "127.0.0.1")  # the proxy's own host, reached directly: checked
    with pytest.raises(ImageError, match="is 127.0.0.1, a loopback address: refused"):
        images.fetch(server.url("/ok.jpg"), strict)
    monkeypatch.delenv("no_proxy")
    monkeypatch.delenv("http_proxy")
    monkeypatch.setenv("https_proxy", server.url(""))  # a proxy for https only: an http URL goes direct
    with pytest.raises(ImageError, match="is 127.0.0.1, a loopback address: refused"):
        images.fetch(server.url("/ok.jpg"), strict)
    assert images.normalized("http://10.0.0.1\\@example.com/x") == "http://example.com/x"  # no user info sent
